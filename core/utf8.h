/*
 * utf8.h - reading and writing one code point as UTF-8, for the decoders
 * that build text (charset conversion, HTML entities) and for URL hosts.
 */
#ifndef SMF_UTF8_H
#define SMF_UTF8_H

#include <stddef.h>

/* Writes cp at o (room for 4 bytes) and returns the bytes written. */
static inline size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (a byte >= 0x80), or 0. */
static inline size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* No overlong forms... */
        hi = c == 0xed ? 0x9f : 0xbf; /* ...and no surrogates. */
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

/* Reads the valid UTF-8 sequence at s into *cp and returns its length, or
 * returns 0 for a byte that starts none (overlong forms and surrogates
 * included): a host name must not hide a byte behind a second spelling. */
static inline size_t utf8_get(const unsigned char *s, size_t n, unsigned *cp)
{
    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t k = utf8_len(s, n);
    if (k == 0)
        return 0;
    unsigned v = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++)
        v = v << 6 | (s[i] & 0x3f);
    *cp = v;
    return k;
}

#endif
