/*
 * flowed.c - format=flowed text unwrapped as RFC 3676, section 4, reads it.
 */
#include "flowed.h"

#include <stdbool.h>
#include <string.h>

/* One line's parts: its quote marks end at body (after one stuffed space),
 * its text at end (the LF or the end of the text). */
typedef struct fline {
    size_t start, body, end;
    size_t depth;
} fline_t;

static fline_t line_at(const char *s, size_t n, size_t i)
{
    fline_t l = {.start = i};
    const char *nl = memchr(s + i, '\n', n - i);
    l.end = nl != NULL ? (size_t)(nl - s) : n;
    size_t q = i;
    while (q < l.end && s[q] == '>')
        q++;
    l.depth = q - i;
    l.body = q < l.end && s[q] == ' ' ? q + 1 : q;
    return l;
}

/* A soft break: the line's text ends in a space and is not "-- ". */
static bool soft_break(const char *s, const fline_t *l)
{
    size_t len = l->end - l->body;
    if (len == 0 || s[l->end - 1] != ' ')
        return false;
    return !(len == 3 && memcmp(s + l->body, "-- ", 3) == 0);
}

size_t flowed_unwrap(char *s, size_t n, int delsp)
{
    size_t i = 0, o = 0, depth = 0;
    bool joining = false;
    while (i < n) {
        fline_t l = line_at(s, n, i);
        /* Read before the line moves down over where it was. */
        bool more = l.end < n, soft = more && soft_break(s, &l);
        /* A paragraph ends where the quote depth changes (RFC 3676 4.5). */
        if (joining && l.depth != depth) {
            s[o++] = '\n';
            joining = false;
        }
        /* A paragraph's first line keeps its quote marks and the blank after
         * them, as readers show them; only an unquoted line's stuffing goes. */
        if (!joining && l.depth > 0) {
            memmove(s + o, s + l.start, l.body - l.start);
            o += l.body - l.start;
        }
        memmove(s + o, s + l.body, l.end - l.body);
        o += l.end - l.body;
        if (soft) {
            o -= delsp != 0;
            joining = true;
            depth = l.depth;
        } else {
            if (more)
                s[o++] = '\n';
            joining = false;
        }
        i = l.end + 1;
    }
    return o;
}
