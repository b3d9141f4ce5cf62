/*
 * jsontext.c - text from outside as JSON strings that are never refused.
 * One spelling for bytes that are not UTF-8, so that a verdict, an event
 * and a quarantine record show the same name the same way.
 */
#include "jsontext.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid sequence at p (n bytes left), 0 for a byte that
 * starts none. NUL is ASCII but cannot stand in a C string read back. */
static size_t valid_at(const unsigned char *p, size_t n)
{
    if (*p == 0)
        return 0;
    return *p < 0x80 ? 1 : utf8_len(p, n);
}

static bool all_valid(const unsigned char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = valid_at(p + i, n - i)) == 0)
            return false;
    return true;
}

json_t *jsontext_newn(const char *s, size_t n)
{
    if (s == NULL)
        return json_null();
    const unsigned char *p = (const unsigned char *)s;
    if (all_valid(p, n))
        return json_stringn(s, n);
    /* Each refused byte takes four characters. */
    char *out = malloc(4 * n + 1), *o = out;
    if (out == NULL)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n;) {
        size_t k = valid_at(p + i, n - i);
        if (k == 0) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[p[i] >> 4];
            *o++ = hex[p[i] & 15];
            i++;
            continue;
        }
        memcpy(o, p + i, k);
        o += k;
        i += k;
    }
    json_t *j = json_stringn(out, (size_t)(o - out));
    free(out);
    return j;
}

json_t *jsontext_new(const char *s)
{
    return jsontext_newn(s, s ? strlen(s) : 0);
}

bool jsontext_has_escape(const char *s)
{
    /* Only NUL and bytes from 0x80 up are ever escaped. */
    for (const char *e = s ? strstr(s, "\\x") : NULL; e != NULL; e = strstr(e + 1, "\\x")) {
        const char *h = e + 2;
        if (h[0] == '\0')
            return false;
        bool hi = (h[0] >= '8' && h[0] <= '9') || (h[0] >= 'a' && h[0] <= 'f');
        bool lo = (h[1] >= '0' && h[1] <= '9') || (h[1] >= 'a' && h[1] <= 'f');
        if ((hi && lo) || (h[0] == '0' && h[1] == '0'))
            return true;
    }
    return false;
}
