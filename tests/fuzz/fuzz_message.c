/*
 * fuzz_message.c - the MIME message parser (core/message.c) over arbitrary
 * bytes. Every request's raw mail goes through message_parse() before any
 * stage runs, so any byte string an SMTP client sends reaches it. Then the
 * model is read whole as the stages read it: headers, parts and their
 * decoded data, the text, the URLs, and header look-ups, and the promises
 * of message.h are checked (parts in depth-first order, the text
 * NUL-terminated, parsing never failing).
 */
#include "fuzz_common.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        message_init();
        ready = 1;
    }
    message_limits_t lim;
    message_limits_default(&lim);
    arena_t *arena = arena_new(size * 2 + 4096);
    message_t *m = NULL;

    FUZZ_CHECK(message_parse(arena, (const char *)data, size, &lim, &m) == 0);
    FUZZ_CHECK(m != NULL);
    FUZZ_CHECK(m->header_len <= size);
    for (size_t i = 0; i < m->header_count; i++) {
        fuzz_touch_str(m->headers[i].name);
        fuzz_touch_str(m->headers[i].value);
    }
    FUZZ_CHECK(m->part_count >= 1 && m->part_count <= lim.max_parts);
    for (size_t i = 0; i < m->part_count; i++) {
        const smf_part_t *p = &m->parts[i];
        FUZZ_CHECK(p->index == i);
        FUZZ_CHECK(i == 0 ? p->parent == -1 : (p->parent >= 0 && (size_t)p->parent < i));
        FUZZ_CHECK(p->depth <= lim.max_depth + 1);
        fuzz_touch_str(p->content_type);
        fuzz_touch_str(p->filename);
        fuzz_touch_str(p->other_filename);
        fuzz_touch_str(p->charset);
        fuzz_touch(p->data, p->size);
    }
    fuzz_touch_str(m->subject);
    fuzz_touch_str(m->from);
    for (size_t i = 0; m->to != NULL && m->to[i] != NULL; i++)
        fuzz_touch_str(m->to[i]);
    FUZZ_CHECK(m->text != NULL && m->text[m->text_len] == '\0');
    fuzz_touch(m->text, m->text_len);
    FUZZ_CHECK(m->url_count <= MESSAGE_MAX_URLS);
    for (size_t i = 0; i < m->url_count; i++)
        FUZZ_CHECK(fuzz_touch_str(m->urls[i]) > 0);
    fuzz_touch_str(m->truncated);
    fuzz_touch_str(message_header(m, "Content-Type", 0));
    fuzz_touch_str(message_header(m, "received", 1));
    arena_destroy(&arena);
    return 0;
}
