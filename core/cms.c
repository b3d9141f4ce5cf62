/*
 * cms.c - the content a CMS/PKCS #7 SignedData (RFC 5652) carries in
 * itself: the "opaque" form of an S/MIME signed message, and signed files
 * (report.pdf.p7m). Mail clients show that content whether or not the
 * signature verifies, so the parser reads it out for the scanners. A
 * bounded BER reader: definite and indefinite lengths, OCTET STRINGs made
 * of pieces, nothing else of ASN.1.
 */
#include "cms.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* BER nesting followed at most, and pieces of a constructed OCTET STRING
 * joined at most: far more than any signer writes. */
#define BER_DEPTH_MAX 16
#define BER_PIECES_MAX 100000

/* One BER element: its tag byte, and its contents [c, c + len); for an
 * indefinite length, len reaches to the end of the enclosing bytes. */
typedef struct ber {
    unsigned char tag;
    bool indefinite;
    const unsigned char *c;
    size_t len;
} ber_t;

/* Reads the element at s[0..n) into e; returns the bytes its header takes,
 * or 0 when it is not one (high tag numbers, lengths past the data). */
static size_t ber_header(const unsigned char *s, size_t n, ber_t *e)
{
    if (n < 2 || (s[0] & 0x1f) == 0x1f)
        return 0;
    e->tag = s[0];
    size_t h = 2, len = s[1];
    e->indefinite = s[1] == 0x80;
    if (e->indefinite) {
        if (!(s[0] & 0x20))
            return 0;
        len = n - h;
    } else if (s[1] & 0x80) {
        size_t k = s[1] & 0x7f;
        if (k > sizeof(size_t) || k > n - 2)
            return 0;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | s[2 + i];
        h += k;
    }
    if (len > n - h)
        return 0;
    e->c = s + h;
    e->len = len;
    return h;
}

/* The bytes the element at s[0..n) takes, its end-of-contents octets
 * included when its length is indefinite; 0 when it cannot be read. */
static size_t ber_size(const unsigned char *s, size_t n, unsigned depth)
{
    ber_t e;
    size_t h = ber_header(s, n, &e);
    if (h == 0)
        return 0;
    if (!e.indefinite)
        return h + e.len;
    if (depth >= BER_DEPTH_MAX)
        return 0;
    size_t off = h;
    while (off + 2 <= n && !(s[off] == 0 && s[off + 1] == 0)) {
        size_t k = ber_size(s + off, n - off, depth + 1);
        if (k == 0)
            return 0;
        off += k;
    }
    return off + 2 <= n ? off + 2 : 0;
}

/* Moves *s, *n past the element there and reads it into e, which must
 * have tag `tag`. */
static bool ber_take(const unsigned char **s, size_t *n, unsigned char tag, ber_t *e)
{
    size_t size = ber_size(*s, *n, 0);
    if (size == 0 || ber_header(*s, *n, e) == 0 || e->tag != tag)
        return false;
    if (e->indefinite)
        e->len = size - (size_t)(e->c - *s) - 2;
    *s += size;
    *n -= size;
    return true;
}

/* A growing buffer of the content's bytes. */
typedef struct cms_buf {
    unsigned char *p;
    size_t len, cap;
} cms_buf_t;

static void cms_put(cms_buf_t *b, const unsigned char *s, size_t n)
{
    /* An empty piece adds nothing, and the buffer may not exist yet. */
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Appends the bytes of an OCTET STRING, primitive or made of pieces. */
static bool ber_octets(const ber_t *e, cms_buf_t *out, unsigned depth, size_t *pieces)
{
    if (e->tag == 0x04) {
        cms_put(out, e->c, e->len);
        return ++*pieces <= BER_PIECES_MAX;
    }
    if (e->tag != 0x24 || depth >= BER_DEPTH_MAX)
        return false;
    const unsigned char *s = e->c;
    size_t n = e->len;
    while (n > 0) {
        ber_t piece;
        if (!ber_take(&s, &n, s[0] == 0x24 ? 0x24 : 0x04, &piece) ||
            !ber_octets(&piece, out, depth + 1, pieces))
            return false;
    }
    return true;
}

/*
 * ContentInfo
 * { signedData, [0] SignedData { version, digestAlgorithms,
 * encapContentInfo { type, [0] OCTET STRING } ... } }. False when der is
 * none or carries no content (a detached signature, encrypted data).
 */
static bool signed_data_content(const unsigned char *der, size_t n, cms_buf_t *out)
{
    static const unsigned char signed_data_oid[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                    0x0d, 0x01, 0x07, 0x02};
    ber_t info, oid, wrap, sd, skip, encap, content;
    const unsigned char *s = der;
    if (!ber_take(&s, &n, 0x30, &info))
        return false;
    s = info.c;
    n = info.len;
    if (!ber_take(&s, &n, 0x06, &oid) || oid.len != sizeof(signed_data_oid) ||
        memcmp(oid.c, signed_data_oid, oid.len) != 0 || !ber_take(&s, &n, 0xa0, &wrap))
        return false;
    s = wrap.c;
    n = wrap.len;
    if (!ber_take(&s, &n, 0x30, &sd))
        return false;
    s = sd.c;
    n = sd.len;
    if (!ber_take(&s, &n, 0x02, &skip) || !ber_take(&s, &n, 0x31, &skip) ||
        !ber_take(&s, &n, 0x30, &encap))
        return false;
    s = encap.c;
    n = encap.len;
    if (!ber_take(&s, &n, 0x06, &skip) || n == 0 || !ber_take(&s, &n, 0xa0, &wrap))
        return false;
    s = wrap.c;
    n = wrap.len;
    size_t pieces = 0;
    return n > 0 && ber_take(&s, &n, s[0], &content) && ber_octets(&content, out, 0, &pieces);
}

unsigned char *cms_signed_content(const unsigned char *der, size_t n, size_t *len)
{
    cms_buf_t out = {0};
    *len = 0;
    if (n == 0 || der[0] != 0x30 || !signed_data_content(der, n, &out)) {
        free(out.p);
        return NULL;
    }
    *len = out.len;
    return out.p != NULL ? out.p : xmalloc(1);
}
