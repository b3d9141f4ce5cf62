/*
 * reader.c - the text the rules read as its reader sees it.
 */
#include "reader.h"

#include "lookalike.h"

#include <stdlib.h>
#include <string.h>

const char *pat_reader_view(char **buf, size_t *cap, const char *data, size_t *len)
{
    size_t n = *len, i = smf_lookalike_first(data, n);
    if (i == n)
        return NULL;
    if (*cap < n) {
        char *b = realloc(*buf, n);
        if (b == NULL)
            return NULL;
        *buf = b;
        *cap = n;
    }
    unsigned found = 0;
    size_t o = smf_lookalike_view(data, n, i, *buf, &found);
    /* Only letters of other scripts in words of their own: nothing changed. */
    if (o == n && memcmp(*buf, data, n) == 0)
        return NULL;
    *len = o;
    return *buf;
}
