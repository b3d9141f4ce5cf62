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

/* Whether p[0..left) starts with a header field's name and colon ("Subject:"). */
static bool field_line(const char *p, size_t left)
{
    size_t i = 0;
    while (i < left && (unsigned char)p[i] > ' ' && (unsigned char)p[i] <= '~' && p[i] != ':')
        i++;
    if (i == 0)
        return false;
    while (i < left && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i < left && p[i] == ':';
}

/*
 * Whether the "From " line at p (before end) separates two messages: the
 * line after it starts the next one's header, or is the separator of an
 * empty message. A writer that does not quote the "From " lines of the
 * bodies (mboxcl2, a file put together by hand) leaves lines such as "From
 * the desk of..." in a message, which would otherwise cut it in two.
 */
static bool separator(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return false;
    size_t left = (size_t)(end - (nl + 1));
    return from_line(nl + 1, left) || field_line(nl + 1, left);
}

bool mbox_is(const char *buf, size_t len)
{
    return from_line(buf, len);
}

/*
 * The length of the message body[0..n) without the blank line that ends
 * it. Writers put one after every message, the last one too (mutt,
 * Python's mailbox, local delivery agents): it is the separator's, and
 * the message kept in a file of its own lacks it.
 */
static size_t without_blank_line(const char *body, size_t n)
{
    if (n >= 2 && memcmp(body + n - 2, "\n\n", 2) == 0)
        return n - 1;
    if (n >= 4 && memcmp(body + n - 4, "\r\n\r\n", 4) == 0)
        return n - 2;
    return n;
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
    const char *next, *from = body - 1;
    while ((next = memmem(from, (size_t)(end - from), "\nFrom ", 6)) != NULL &&
           !separator(next + 1, end))
        from = next + 1;
    const char *stop = next ? next + 1 : end;
    *msg = body;
    *len = without_blank_line(body, (size_t)(stop - body));
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
