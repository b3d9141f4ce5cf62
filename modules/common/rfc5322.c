/*
 * rfc5322.c - comments out of structured header field values.
 */
#include "rfc5322.h"

#include <ctype.h>

void rfc5322_strip_comments(const char *in, char *out, size_t outlen, int flags)
{
    size_t n = 0;
    int depth = 0, quoted = 0;

    if (outlen == 0)
        return;
    for (const char *p = in; *p != '\0' && n + 1 < outlen; p++) {
        if (depth > 0) {
            /* Inside a comment: a quoted pair cannot close or open one. */
            if (*p == '\\' && p[1] != '\0')
                p++;
            else
                depth += (*p == '(') - (*p == ')');
            if (depth == 0)
                out[n++] = ' ';
            continue;
        }
        if (!quoted && *p == '(') {
            depth = 1;
            continue;
        }
        char c = *p;
        if (quoted && c == '\\' && p[1] != '\0') {
            out[n++] = c; /* The pair stays whole: \" does not end the string. */
            c = *++p;
            if (n + 1 >= outlen)
                break;
        } else if (c == '"') {
            quoted = !quoted;
        }
        if (quoted && (flags & RFC5322_MASK_QUOTED) && (c == ';' || isspace((unsigned char)c)))
            c = '_';
        out[n++] = c;
    }
    out[n] = '\0';
}
