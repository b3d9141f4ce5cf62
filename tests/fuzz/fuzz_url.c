/*
 * fuzz_url.c - the URL scanner (core/url.c): url_scan_text() over the input
 * as message text, and url_add_link() over each of its lines as an href
 * value, into one set as a message fills it. Both see text a sender
 * chooses: hosts of any script go through IDNA and Punycode (core/idna.c,
 * where a host label of 300 characters once overflowed a buffer), percent
 * escapes are decoded, and the set de-duplicates. Then every URL kept is
 * read whole and checked to be a non-empty string, within the set's cap.
 */
#include "fuzz_common.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    arena_t *arena = arena_new(size * 2 + 4096);
    url_set_t urls;
    /* A small cap, so that reaching it is among what gets tried. */
    url_set_init(&urls, arena, 64);

    url_scan_text(&urls, text, size);
    for (size_t start = 0; start < size;) {
        const char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : size;
        int added = url_add_link(&urls, text + start, end - start);
        FUZZ_CHECK(added == 0 || added == 1);
        start = end + 1;
    }
    FUZZ_CHECK(urls.count <= 64);
    for (size_t i = 0; i < urls.count; i++)
        FUZZ_CHECK(fuzz_touch_str(urls.items[i]) > 0);
    arena_destroy(&arena);
    return 0;
}
