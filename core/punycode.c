/*
 * punycode.c - the Punycode encoder of RFC 3492 (section 6.3), for URL
 * hosts written in other scripts: DNS lists and list entries hold such
 * names only in their ASCII form ("xn--" and this encoding).
 */
#include "punycode.h"

#include <limits.h>

/* The parameters RFC 3492 section 5 fixes for IDNA. */
enum {
    PC_BASE = 36,
    PC_TMIN = 1,
    PC_TMAX = 26,
    PC_SKEW = 38,
    PC_DAMP = 700,
    PC_INITIAL_BIAS = 72,
    PC_INITIAL_N = 0x80,
};

/* The digit d (0..35) as a lower-case letter or a figure. */
static char digit(unsigned d)
{
    return (char)(d < 26 ? 'a' + d : '0' + d - 26);
}

/* The bias for the next code point, after one whose delta was `delta`
 * (section 6.1), so that small deltas get few digits. */
static unsigned adapt(unsigned delta, unsigned points, int first)
{
    delta = first ? delta / PC_DAMP : delta / 2;
    delta += delta / points;
    unsigned k = 0;
    while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
        delta /= PC_BASE - PC_TMIN;
        k += PC_BASE;
    }
    return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

/* The threshold of the digit at position k for a given bias. */
static unsigned threshold(unsigned k, unsigned bias)
{
    if (k <= bias)
        return PC_TMIN;
    if (k >= bias + PC_TMAX)
        return PC_TMAX;
    return k - bias;
}

/* Writes delta as a generalised variable-length integer; -1 when out is
 * full. */
static int put_delta(unsigned delta, unsigned bias, char *out, size_t outlen, size_t *len)
{
    unsigned q = delta;
    for (unsigned k = PC_BASE;; k += PC_BASE) {
        unsigned t = threshold(k, bias);
        if (*len + 1 >= outlen)
            return -1;
        if (q < t) {
            out[(*len)++] = digit(q);
            return 0;
        }
        out[(*len)++] = digit(t + (q - t) % (PC_BASE - t));
        q = (q - t) / (PC_BASE - t);
    }
}

/* The smallest code point at cp[0..n) that is at least m, or UINT_MAX. */
static unsigned next_point(const unsigned *cp, size_t n, unsigned m)
{
    unsigned best = UINT_MAX;
    for (size_t i = 0; i < n; i++)
        if (cp[i] >= m && cp[i] < best)
            best = cp[i];
    return best;
}

long punycode_encode(const unsigned *cp, size_t n, char *out, size_t outlen)
{
    size_t len = 0;
    if (outlen == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (cp[i] >= PC_INITIAL_N)
            continue;
        if (len + 1 >= outlen)
            return -1;
        out[len++] = (char)cp[i];
    }
    size_t basic = len, done = len;
    if (basic > 0) {
        if (len + 1 >= outlen)
            return -1;
        out[len++] = '-';
    }
    unsigned code = PC_INITIAL_N, delta = 0, bias = PC_INITIAL_BIAS;
    while (done < n) {
        unsigned m = next_point(cp, n, code);
        /* Every delta must fit: the label is refused rather than mis-encoded. */
        if (m - code > (UINT_MAX - delta) / (done + 1))
            return -1;
        delta += (m - code) * (unsigned)(done + 1);
        code = m;
        for (size_t i = 0; i < n; i++) {
            if (cp[i] < code && ++delta == 0)
                return -1;
            if (cp[i] != code)
                continue;
            if (put_delta(delta, bias, out, outlen, &len) < 0)
                return -1;
            bias = adapt(delta, (unsigned)done + 1, done == basic);
            delta = 0;
            done++;
        }
        delta++;
        code++;
    }
    out[len] = '\0';
    return (long)len;
}
