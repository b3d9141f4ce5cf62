/*
 * mbox.c - cutting an mbox file into its messages (see mbox.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* for memmem() */
#endif
#include "mbox.h"

#include <string.h>

static bool from_line(const char *p, size_t left)
{
    return left >= 5 && memcmp(p, "From ", 5) == 0;
}

bool mbox_is(const char *buf, size_t len)
{
    return from_line(buf, len);
}

bool mbox_next(mbox_t *m, const char **msg, size_t *len)
{
    if (m->off >= m->len)
        return false;
    const char *end = m->buf + m->len;
    const char *line_end = memchr(m->buf + m->off, '\n', m->len - m->off);
    const char *body = line_end ? line_end + 1 : end;
    /* Searching from one byte early finds the next "From " line even
     * right after this one, so an empty message is still cut out. */
    const char *next = memmem(body - 1, (size_t)(end - body) + 1, "\nFrom ", 6);
    const char *stop = next ? next + 1 : end;
    size_t n = (size_t)(stop - body);
    /* The blank line before the next "From " separates messages; it is not content. */
    if (next && n >= 2 && memcmp(stop - 2, "\n\n", 2) == 0)
        n -= 1;
    else if (next && n >= 4 && memcmp(stop - 4, "\r\n\r\n", 4) == 0)
        n -= 2;
    *msg = body;
    *len = n;
    m->off = (size_t)(stop - m->buf);
    return true;
}

size_t mbox_unescape(const char *src, size_t len, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && src[j] == '>')
            j++;
        if (j > i && from_line(src + j, len - j))
            i++;
        const char *nl = memchr(src + i, '\n', len - i);
        size_t line = nl ? (size_t)(nl - (src + i)) + 1 : len - i;
        memcpy(dst + o, src + i, line);
        o += line;
        i += line;
    }
    dst[o] = '\0';
    return o;
}
