/*
 * rfc5322.c - header fields as written, and comments out of structured
 * field values.
 */
#include "rfc5322.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Where the value of a field called name starts when the line at h[i..len)
 * is one, else NULL: the name, blanks, then ':'. */
static const char *field_value(const char *h, size_t i, size_t len, const char *name)
{
    size_t k = strlen(name), j = i + k;
    if (len - i <= k || strncasecmp(h + i, name, k) != 0)
        return NULL;
    while (j < len && (h[j] == ' ' || h[j] == '\t'))
        j++;
    return j < len && h[j] == ':' ? h + j + 1 : NULL;
}

char *rfc5322_raw_field(const char *h, size_t len, const char *name, size_t n)
{
    const char *v = NULL, *end = h + len;
    for (size_t i = 0; i < len && v == NULL; i++) {
        /* Only at the start of a line that is no continuation. */
        if ((i > 0 && h[i - 1] != '\n') || h[i] == ' ' || h[i] == '\t')
            continue;
        const char *at = field_value(h, i, len, name);
        if (at != NULL && n-- == 0)
            v = at;
    }
    if (v == NULL)
        return NULL;
    char *out = malloc((size_t)(end - v) + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (const char *p = v; p < end; p++) {
        /* The field ends at a line break not followed by a blank. */
        if (*p == '\n' && (p + 1 == end || (p[1] != ' ' && p[1] != '\t')))
            break;
        if (*p == '\r' || *p == '\n' || *p == '\0' || (o == 0 && (*p == ' ' || *p == '\t')))
            continue;
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}
