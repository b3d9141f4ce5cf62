/*
 * idna.c - host names of other scripts in their ASCII form (A-labels), so
 * that a URL's host has one spelling for the stages that look it up.
 */
#include "idna.h"
#include "punycode.h"
#include "textfold.h"
#include "utf8.h"

#include <string.h>

/* Code points of one label at most; a DNS label holds 63 bytes. */
#define IDNA_LABEL_MAX 256

/* Latin-1 and Latin Extended-A: upper and lower case pair up by an offset
 * of 0x20, or as neighbours whose even (or odd) member is the capital. */
static unsigned lower_latin(unsigned cp)
{
    if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
        return cp + 0x20;
    if (cp == 0x130) /* Capital I with dot: its simple lower case is plain 'i'. */
        return 'i';
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177))
        return cp | 1;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e))
        return cp + (cp & 1);
    if (cp == 0x178)
        return 0xff;
    return cp;
}

static unsigned lower_greek(unsigned cp)
{
    if ((cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2))
        return cp + 0x20;
    if (cp == 0x386)
        return 0x3ac;
    if (cp >= 0x388 && cp <= 0x38a)
        return cp + 0x25;
    if (cp == 0x38c)
        return 0x3cc;
    if (cp == 0x38e || cp == 0x38f)
        return cp + 0x3f;
    return cp;
}

static unsigned lower_cyrillic(unsigned cp)
{
    if (cp >= 0x410 && cp <= 0x42f)
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 0x50;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48a && cp <= 0x4bf) ||
        (cp >= 0x4d0 && cp <= 0x52f))
        return cp | 1;
    if (cp == 0x4c0)
        return 0x4cf;
    if (cp >= 0x4c1 && cp <= 0x4ce)
        return cp + (cp & 1);
    return cp;
}

unsigned idna_lower(unsigned cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp < 0x180)
        return lower_latin(cp);
    if (cp >= 0x370 && cp < 0x400)
        return lower_greek(cp);
    if (cp >= 0x400 && cp < 0x530)
        return lower_cyrillic(cp);
    return cp;
}

/* A letter, digit or '-' in another width or style as its ASCII one, as
 * UTS 46 maps it and browsers go there: "ｐａｙｐａｌ" is paypal. */
static unsigned host_char(unsigned cp)
{
    char c = cp >= 0x80 ? textfold_ascii(cp) : 0;
    return c != 0 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-')
               ? (unsigned)c
               : cp;
}

/* The length of the label separator at s[0..n): '.' or a full stop that
 * browsers read as one (textfold_label_dot()), else 0. */
static size_t label_dot(const unsigned char *s, size_t n)
{
    unsigned cp;
    if (s[0] == '.')
        return 1;
    size_t k = s[0] >= 0x80 ? utf8_get(s, n, &cp) : 0;
    return k > 0 && textfold_label_dot(cp) ? k : 0;
}

/* Appends the ASCII form of one label; -1 when it does not fit or does not
 * read as UTF-8. */
static int put_label(const unsigned char *s, size_t n, char *out, size_t outlen, size_t *len)
{
    unsigned cp[IDNA_LABEL_MAX];
    size_t count = 0, ascii = 1;
    for (size_t i = 0; i < n;) {
        /* Full before reading: the reader writes the code point it reads. */
        if (count == IDNA_LABEL_MAX)
            return -1;
        size_t k = utf8_get(s + i, n - i, &cp[count]);
        if (k == 0)
            return -1;
        cp[count] = host_char(cp[count]);
        ascii &= cp[count] < 0x80;
        cp[count] = idna_lower(cp[count]);
        count++;
        i += k;
    }
    if (ascii) {
        if (*len + count >= outlen)
            return -1;
        for (size_t i = 0; i < count; i++)
            out[(*len)++] = (char)cp[i];
        return 0;
    }
    if (*len + 4 >= outlen)
        return -1;
    memcpy(out + *len, "xn--", 4);
    long w = punycode_encode(cp, count, out + *len + 4, outlen - *len - 4);
    if (w < 0)
        return -1;
    *len += 4 + (size_t)w;
    return 0;
}

long idna_host(const char *host, size_t n, char *out, size_t outlen)
{
    const unsigned char *s = (const unsigned char *)host;
    size_t len = 0;
    if (outlen == 0)
        return -1;
    for (size_t start = 0; start <= n;) {
        size_t end = start, dot = 0;
        while (end < n && (dot = label_dot(s + end, n - end)) == 0)
            end++;
        if (put_label(s + start, end - start, out, outlen, &len) < 0)
            return -1;
        if (end == n)
            break;
        if (len + 1 >= outlen)
            return -1;
        out[len++] = '.';
        start = end + dot;
    }
    out[len] = '\0';
    return (long)len;
}

long idna_domain(const char *name, size_t n, char *out, size_t outlen)
{
    if (n > 1 && name[n - 1] == '.')
        n--;
    return idna_host(name, n, out, outlen);
}
