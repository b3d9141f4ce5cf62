/*
 * reader.c - the text the rules read as its reader sees it.
 */
#include "reader.h"

#include "lookalike.h"

#include <stdlib.h>

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
    /* The view differs from the text: smf_lookalike_first() found a change. */
    unsigned found = 0;
    *len = smf_lookalike_view(data, n, i, *buf, &found);
    return *buf;
}
