/*
 * fuzz_html.c - the HTML text extractor (core/html.c) over arbitrary bytes.
 * Every text/html part of a mail goes through html_to_text_urls(): tags,
 * comments, entities (named and numeric, in text and in attribute values),
 * <style> and <script> skipped, and href, src and action values handed to
 * the URL set. The text it returns is read whole and must be as long as it
 * says, NUL-terminated.
 */
#include "fuzz_common.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_t *arena = arena_new(size * 2 + 4096);
    url_set_t urls;
    url_set_init(&urls, arena, MESSAGE_MAX_URLS);
    size_t len = (size_t)-1;

    char *text = html_to_text_urls(arena, (const char *)data, size, &len, &urls);
    FUZZ_CHECK(text != NULL && len != (size_t)-1);
    FUZZ_CHECK(text[len] == '\0');
    fuzz_touch(text, len);
    for (size_t i = 0; i < urls.count; i++)
        FUZZ_CHECK(fuzz_touch_str(urls.items[i]) > 0);
    /* Without a URL set, as for a part whose links are not wanted. */
    size_t len2;
    char *text2 = html_to_text(arena, (const char *)data, size, &len2);
    FUZZ_CHECK(text2 != NULL && len2 == len && memcmp(text, text2, len) == 0);
    arena_destroy(&arena);
    return 0;
}
