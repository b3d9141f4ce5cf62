/*
 * dkim.c - a DKIM verifier over OpenSSL: canonicalizes (simple, relaxed; bare
 * LF read as CRLF), checks the body hash, then the signature over the signed
 * headers with the key from <selector>._domainkey.<domain>.
 */
#include "dkim.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DKIM_MAX_FIELDS 512

/* Most key records tried for one signature: each costs a verification. */
#define DKIM_MAX_KEYS 4

/* How far a signer's clock may be from ours, ahead (t=) or behind (x=), as
 * OpenDKIM allows by default. */
#define DKIM_CLOCK_SKEW 300

/* One header field as written: from its name to before its last line end. */
typedef struct dkim_field {
    const char *p;
    size_t len;
    size_t namelen;
} dkim_field_t;

/* What one DKIM-Signature says. */
typedef struct dkim_sigdata {
    const dkim_field_t *field;
    int ed25519;
    int relaxed_head, relaxed_body;
    long long l; /* -1: the whole body. */
    long long t; /* -1: no timestamp. */
    long long x; /* -1: never expires. */
    char h[1024];
    char i[256];
    unsigned char b[1024], bh[64];
    size_t blen, bhlen;
} dkim_sigdata_t;

struct auth_dkim {
    const char *body;
    size_t bodylen;
    size_t nfields;
    dkim_field_t fields[DKIM_MAX_FIELDS];
    size_t nsigs;
    const dkim_field_t *sigfield[AUTH_DKIM_MAX_SIGS];
    auth_dkim_sig_t sigs[AUTH_DKIM_MAX_SIGS];
};

/* A growing byte buffer for canonical text. */
typedef struct dkim_buf {
    char *p;
    size_t len, cap;
    int oom;
} dkim_buf_t;

static void buf_add(dkim_buf_t *b, const char *s, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap + n) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

const char *auth_dkim_name(auth_dkim_result_t r)
{
    static const char *const names[] = {"pass", "fail", "permerror", "temperror", "neutral"};
    return names[r];
}

/* ------------------------------------------------------------------ */
/* Reading the message                                                */
/* ------------------------------------------------------------------ */

/* Splits the header block into fields and finds the body. */
static void dkim_read_fields(auth_dkim_t *k, const char *raw, size_t len)
{
    size_t pos = 0;

    k->body = raw + len;
    while (pos < len) {
        const char *nl = memchr(raw + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - raw) : len;
        size_t next = nl != NULL ? end + 1 : len;
        size_t text_end = end > pos && raw[end - 1] == '\r' ? end - 1 : end;
        if (text_end == pos) {
            k->body = raw + next;
            break;
        }
        if ((raw[pos] == ' ' || raw[pos] == '\t') && k->nfields > 0) {
            dkim_field_t *f = &k->fields[k->nfields - 1];
            f->len = text_end - (size_t)(f->p - raw);
        } else if (k->nfields < DKIM_MAX_FIELDS) {
            const char *colon = memchr(raw + pos, ':', text_end - pos);
            dkim_field_t *f = &k->fields[k->nfields++];
            f->p = raw + pos;
            f->len = text_end - pos;
            f->namelen = colon != NULL ? (size_t)(colon - f->p) : f->len;
            while (f->namelen > 0 && isspace((unsigned char)f->p[f->namelen - 1]))
                f->namelen--;
        }
        pos = next;
    }
    k->bodylen = (size_t)(raw + len - k->body);
}

static int dkim_field_is(const dkim_field_t *f, const char *name, size_t n)
{
    return f->namelen == n && strncasecmp(f->p, name, n) == 0;
}

auth_dkim_t *auth_dkim_new(const char *raw, size_t len)
{
    auth_dkim_t *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    dkim_read_fields(k, raw, len);
    for (size_t i = 0; i < k->nfields && k->nsigs < AUTH_DKIM_MAX_SIGS; i++)
        if (dkim_field_is(&k->fields[i], "DKIM-Signature", 14))
            k->sigfield[k->nsigs++] = &k->fields[i];
    return k;
}

void auth_dkim_destroy(auth_dkim_t **k)
{
    if (k != NULL) {
        free(*k);
        *k = NULL;
    }
}

size_t auth_dkim_count(const auth_dkim_t *k)
{
    return k->nsigs;
}

const auth_dkim_sig_t *auth_dkim_sig(const auth_dkim_t *k, size_t i)
{
    return i < k->nsigs ? &k->sigs[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Tag lists (3.2)                                                    */
/* ------------------------------------------------------------------ */

/* Calls fn for each tag=value with blanks trimmed; stops at fn's nonzero result. */
static int dkim_tags(const char *p, size_t len, int (*fn)(void *, const char *, const char *),
                     void *arg)
{
    char tag[32], val[4096];

    for (size_t pos = 0; pos < len;) {
        const char *semi = memchr(p + pos, ';', len - pos);
        size_t end = semi != NULL ? (size_t)(semi - p) : len, t = 0, v = 0;
        const char *eq = memchr(p + pos, '=', end - pos);
        if (eq == NULL) {
            for (size_t j = pos; j < end; j++)
                if (!isspace((unsigned char)p[j]))
                    return -1; /* Text without '=' is not a tag. */
            pos = end + 1;
            continue;
        }
        for (const char *c = p + pos; c < eq; c++)
            if (!isspace((unsigned char)*c) && t + 1 < sizeof(tag))
                tag[t++] = *c;
        tag[t] = '\0';
        /* Values keep inner blanks only where they mean something (none of ours do). */
        for (const char *c = eq + 1; c < p + end; c++)
            if (!isspace((unsigned char)*c) && v + 1 < sizeof(val))
                val[v++] = *c;
        val[v] = '\0';
        if (t == 0)
            return -1;
        int rc = fn(arg, tag, val);
        if (rc != 0)
            return rc;
        pos = end + 1;
    }
    return 0;
}

/* Strict base64 with blanks already removed; returns the length or -1. */
static long dkim_b64(const char *s, unsigned char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t n = 0;

    for (; *s != '\0' && *s != '='; s++) {
        const char *c = strchr(alphabet, *s);
        if (c == NULL)
            return -1;
        acc = (acc << 6) | (unsigned)(c - alphabet);
        if ((bits += 6) >= 8) {
            bits -= 8;
            if (n == outlen)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    while (*s == '=')
        s++;
    return *s == '\0' ? (long)n : -1;
}

typedef struct dkim_parse {
    dkim_sigdata_t *sd;
    auth_dkim_sig_t *out;
    unsigned seen;
    const char *err;
} dkim_parse_t;

static int dkim_sig_canon(dkim_parse_t *ps, const char *v)
{
    char head[16] = "", body[16] = "simple";
    const char *slash = strchr(v, '/');

    snprintf(head, sizeof(head), "%.*s", slash != NULL ? (int)(slash - v) : (int)strlen(v), v);
    if (slash != NULL)
        snprintf(body, sizeof(body), "%s", slash + 1);
    if ((strcmp(head, "simple") != 0 && strcmp(head, "relaxed") != 0) ||
        (strcmp(body, "simple") != 0 && strcmp(body, "relaxed") != 0)) {
        ps->err = "unknown canonicalization";
        return -1;
    }
    ps->sd->relaxed_head = strcmp(head, "relaxed") == 0;
    ps->sd->relaxed_body = strcmp(body, "relaxed") == 0;
    return 0;
}

static int dkim_sig_number(dkim_parse_t *ps, const char *v, long long *out)
{
    char *end;

    *out = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || *out < 0) {
        ps->err = "bad number";
        return -1;
    }
    return 0;
}

/* One tag of a DKIM-Signature. */
/*
 * Copies tag value v into dst of size bytes. A value that does not fit is
 * refused rather than cut: a shortened d= or h= would verify the signature
 * against another domain or another list of fields.
 */
static bool dkim_copy(char *dst, size_t size, const char *v)
{
    size_t n = strlen(v);
    if (n >= size)
        return false;
    memcpy(dst, v, n + 1);
    return true;
}

static int dkim_sig_tag(void *arg, const char *tag, const char *v)
{
    static const char *const known[] = {"v", "a", "b", "bh", "c", "d", "h",
                                        "i", "l", "q", "s",  "t", "x"};
    dkim_parse_t *ps = arg;
    dkim_sigdata_t *sd = ps->sd;
    long b;

    /* A tag twice makes the signature invalid (3.2). */
    for (unsigned k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        if (strcmp(tag, known[k]) != 0)
            continue;
        if (ps->seen & (1u << k)) {
            ps->err = "duplicate tag";
            return -1;
        }
        ps->seen |= 1u << k;
    }
    if (strcmp(tag, "v") == 0 && strcmp(v, "1") != 0)
        ps->err = "unknown version";
    else if (strcmp(tag, "a") == 0 && strcmp(v, "rsa-sha256") != 0 &&
             strcmp(v, "ed25519-sha256") != 0)
        ps->err = strcmp(v, "rsa-sha1") == 0 ? "rsa-sha1 is not accepted" : "unknown algorithm";
    else if (strcmp(tag, "b") == 0 && (b = dkim_b64(v, sd->b, sizeof(sd->b))) <= 0)
        ps->err = "bad b=";
    else if (strcmp(tag, "bh") == 0 && (b = dkim_b64(v, sd->bh, sizeof(sd->bh))) <= 0)
        ps->err = "bad bh=";
    else if (strcmp(tag, "c") == 0)
        return dkim_sig_canon(ps, v);
    else if (strcmp(tag, "l") == 0)
        return dkim_sig_number(ps, v, &sd->l);
    else if (strcmp(tag, "t") == 0)
        return dkim_sig_number(ps, v, &sd->t);
    else if (strcmp(tag, "x") == 0)
        return dkim_sig_number(ps, v, &sd->x);
    else if (strcmp(tag, "q") == 0 && strstr(v, "dns/txt") == NULL)
        ps->err = "unknown query method";
    if (ps->err != NULL)
        return -1;
    if (strcmp(tag, "a") == 0)
        sd->ed25519 = v[0] == 'e';
    else if (strcmp(tag, "b") == 0)
        sd->blen = (size_t)dkim_b64(v, sd->b, sizeof(sd->b));
    else if (strcmp(tag, "bh") == 0)
        sd->bhlen = (size_t)dkim_b64(v, sd->bh, sizeof(sd->bh));
    else if ((strcmp(tag, "d") == 0 && !dkim_copy(ps->out->d, sizeof(ps->out->d), v)) ||
             (strcmp(tag, "s") == 0 && !dkim_copy(ps->out->s, sizeof(ps->out->s), v)) ||
             (strcmp(tag, "h") == 0 && !dkim_copy(sd->h, sizeof(sd->h), v)) ||
             (strcmp(tag, "i") == 0 && !dkim_copy(sd->i, sizeof(sd->i), v))) {
        ps->err = "tag value too long";
        return -1;
    }
    return 0;
}

/* Whether the name list of h= holds `name`. */
static int dkim_h_has(const char *h, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = h; *p != '\0';) {
        size_t len = strcspn(p, ":");
        if (len == n && strncasecmp(p, name, n) == 0)
            return 1;
        p += len + (p[len] == ':');
    }
    return 0;
}

/* Whether sub is domain or below it. */
static int dkim_in_domain(const char *sub, const char *domain)
{
    size_t s = strlen(sub), d = strlen(domain);

    if (s < d || strcasecmp(sub + s - d, domain) != 0)
        return 0;
    return s == d || sub[s - d - 1] == '.';
}

/* d= and s= only, to start the key look-ups early. */
static int dkim_peek_tag(void *arg, const char *tag, const char *v)
{
    auth_dkim_sig_t *s = arg;

    /* A value too long is left empty here; the full parse refuses it. */
    if (strcmp(tag, "d") == 0 && !dkim_copy(s->d, sizeof(s->d), v))
        s->d[0] = '\0';
    else if (strcmp(tag, "s") == 0 && !dkim_copy(s->s, sizeof(s->s), v))
        s->s[0] = '\0';
    return 0;
}

/* Parses and checks one signature field; the reason for failure goes to out->why. */
static int dkim_sig_parse(const dkim_field_t *f, dkim_sigdata_t *sd, auth_dkim_sig_t *out)
{
    dkim_parse_t ps = {.sd = sd, .out = out};
    /* The name must end in a colon on the field's first line: a line that is
     * only "DKIM-Signature" has no value to read, and the search for one
     * must not run past the field. */
    const char *colon = memchr(f->p, ':', f->len);

    memset(sd, 0, sizeof(*sd));
    sd->field = f;
    sd->l = sd->t = sd->x = -1;
    if (colon == NULL) {
        snprintf(out->why, sizeof(out->why), "the field has no ':'");
        return -1;
    }
    const char *value = colon + 1;
    if (dkim_tags(value, f->len - (size_t)(value - f->p), dkim_sig_tag, &ps) != 0) {
        snprintf(out->why, sizeof(out->why), "%s", ps.err != NULL ? ps.err : "bad tag list");
        /* The parse stops at the bad tag (a=rsa-sha1 comes before d= and s=
         * in most signatures): the results still name the signer. */
        out->d[0] = out->s[0] = '\0';
        (void)dkim_tags(value, f->len - (size_t)(value - f->p), dkim_peek_tag, out);
        for (char *c = out->d; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        return -1;
    }
    for (char *c = out->d; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    if (out->d[0] == '\0' || out->s[0] == '\0' || sd->h[0] == '\0' || sd->blen == 0 ||
        sd->bhlen == 0 || !(ps.seen & 1u) || !(ps.seen & 2u))
        snprintf(out->why, sizeof(out->why), "a required tag is missing");
    else if (!dkim_h_has(sd->h, "from"))
        snprintf(out->why, sizeof(out->why), "h= does not sign From");
    else if (sd->i[0] != '\0' &&
             !dkim_in_domain(strchr(sd->i, '@') ? strchr(sd->i, '@') + 1 : "", out->d))
        snprintf(out->why, sizeof(out->why), "i= is outside d=");
    else
        return 0;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Canonicalization (3.4)                                             */
/* ------------------------------------------------------------------ */

/* Relaxed header canonicalization of text (name, colon, value, folds). */
static void dkim_canon_relaxed(dkim_buf_t *b, const char *p, size_t len, size_t namelen)
{
    int blank = 0;
    size_t i = 0;

    for (; i < namelen; i++) {
        char c = (char)tolower((unsigned char)p[i]);
        buf_add(b, &c, 1);
    }
    while (i < len && p[i] != ':')
        i++;
    buf_add(b, ":", 1);
    i++;
    while (i < len && isspace((unsigned char)p[i]))
        i++;
    for (; i < len; i++) {
        if (p[i] == '\r' || p[i] == '\n')
            continue;
        if (p[i] == ' ' || p[i] == '\t') {
            blank = 1;
            continue;
        }
        if (blank)
            buf_add(b, " ", 1);
        blank = 0;
        buf_add(b, p + i, 1);
    }
}

/* Simple header canonicalization: as written, with every line end CRLF. */
static void dkim_canon_simple(dkim_buf_t *b, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\r')
            continue;
        if (p[i] == '\n')
            buf_add(b, "\r", 1);
        buf_add(b, p + i, 1);
    }
}

static void dkim_canon_header(dkim_buf_t *b, const char *p, size_t len, size_t namelen, int relaxed)
{
    if (relaxed)
        dkim_canon_relaxed(b, p, len, namelen);
    else
        dkim_canon_simple(b, p, len);
}

/* One body line in relaxed form: blank runs become one space, none at the end. */
static void dkim_body_line_relaxed(dkim_buf_t *b, const char *p, size_t len)
{
    int blank = 0;

    for (size_t i = 0; i < len; i++) {
        if (p[i] == ' ' || p[i] == '\t') {
            blank = 1;
            continue;
        }
        if (blank)
            buf_add(b, " ", 1);
        blank = 0;
        buf_add(b, p + i, 1);
    }
}

/* The canonical body: empty lines at the end dropped, lines ending CRLF. */
static void dkim_canon_body(dkim_buf_t *b, const char *body, size_t len, int relaxed)
{
    size_t pending = 0, pos = 0;

    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - body) : len;
        size_t text_end = end > pos && body[end - 1] == '\r' ? end - 1 : end;
        dkim_buf_t line = {0};
        if (relaxed)
            dkim_body_line_relaxed(&line, body + pos, text_end - pos);
        else
            buf_add(&line, body + pos, text_end - pos);
        if (line.len == 0 && !line.oom) {
            pending++;
        } else {
            for (; pending > 0; pending--)
                buf_add(b, "\r\n", 2);
            buf_add(b, line.p, line.len);
            buf_add(b, "\r\n", 2);
            b->oom |= line.oom;
        }
        free(line.p);
        pos = nl != NULL ? end + 1 : len;
    }
    if (!relaxed && b->len == 0)
        buf_add(b, "\r\n", 2);
}

/* The signature field with the value of b= taken out, for the header hash. */
static void dkim_strip_b(const dkim_field_t *f, char *out, size_t *outlen)
{
    const char *p = f->p, *end = f->p + f->len, *c = memchr(p, ':', f->len);
    size_t n = 0;

    c = c != NULL ? c + 1 : end;
    memcpy(out, p, (size_t)(c - p));
    n = (size_t)(c - p);
    while (c < end) {
        const char *tag = c, *semi = memchr(c, ';', (size_t)(end - c));
        const char *stop = semi != NULL ? semi : end;
        while (tag < stop && isspace((unsigned char)*tag))
            tag++;
        const char *eq = memchr(tag, '=', (size_t)(stop - tag));
        const char *name_end = eq != NULL ? eq : stop;
        while (name_end > tag && isspace((unsigned char)name_end[-1]))
            name_end--;
        int is_b = eq != NULL && name_end - tag == 1 && *tag == 'b';
        const char *copy_end = is_b ? eq + 1 : stop;
        memcpy(out + n, c, (size_t)(copy_end - c));
        n += (size_t)(copy_end - c);
        if (semi != NULL)
            out[n++] = ';';
        c = semi != NULL ? semi + 1 : end;
    }
    *outlen = n;
}

/* The data the signature covers: the h= fields, then the signature without b=. */
static void dkim_header_data(const auth_dkim_t *k, const dkim_sigdata_t *sd, dkim_buf_t *b)
{
    char used[DKIM_MAX_FIELDS] = {0};
    char *stripped;
    size_t slen;

    for (const char *p = sd->h; *p != '\0';) {
        size_t n = strcspn(p, ":");
        /* Fields of the same name are taken from the bottom up (5.4.2). */
        for (size_t i = k->nfields; i-- > 0;) {
            if (used[i] || !dkim_field_is(&k->fields[i], p, n))
                continue;
            used[i] = 1;
            dkim_canon_header(b, k->fields[i].p, k->fields[i].len, k->fields[i].namelen,
                              sd->relaxed_head);
            buf_add(b, "\r\n", 2);
            break;
        }
        p += n + (p[n] == ':');
    }
    if ((stripped = malloc(sd->field->len + 1)) == NULL) {
        b->oom = 1;
        return;
    }
    dkim_strip_b(sd->field, stripped, &slen);
    dkim_canon_header(b, stripped, slen, sd->field->namelen, sd->relaxed_head);
    free(stripped);
}

/* ------------------------------------------------------------------ */
/* Keys (3.6.1) and verification                                      */
/* ------------------------------------------------------------------ */

typedef struct dkim_key {
    int ed25519;
    int strict;  /* t=s: i= must be in d= itself. */
    int testing; /* t=y: the domain is testing DKIM. */
    unsigned char p[2048];
    long plen;
    const char *err;
} dkim_key_t;

/* Whether a colon-separated list of flags ("y:s") holds the one-letter flag. */
static int dkim_has_flag(const char *v, char flag)
{
    for (const char *p = v; *p != '\0'; p++) {
        int start = p == v || p[-1] == ':';
        int end = p[1] == '\0' || p[1] == ':';
        if (start && end && *p == flag)
            return 1;
    }
    return 0;
}

static int dkim_key_tag(void *arg, const char *tag, const char *v)
{
    dkim_key_t *key = arg;

    if (strcmp(tag, "v") == 0 && strcmp(v, "DKIM1") != 0)
        key->err = "key record of unknown version";
    else if (strcmp(tag, "k") == 0 && strcmp(v, "rsa") != 0 && strcmp(v, "ed25519") != 0)
        key->err = "unknown key type";
    else if (strcmp(tag, "h") == 0 && strstr(v, "sha256") == NULL)
        key->err = "key does not allow sha256";
    /* A record for other services than mail is to be ignored (3.6.1): no key. */
    else if (strcmp(tag, "s") == 0 && !dkim_h_has(v, "email") && !dkim_h_has(v, "*"))
        key->err = "key is not for email (s=)";
    else if (strcmp(tag, "p") == 0 && v[0] == '\0')
        key->err = "key revoked";
    else if (strcmp(tag, "p") == 0 && (key->plen = dkim_b64(v, key->p, sizeof(key->p))) <= 0)
        key->err = "bad key data";
    if (strcmp(tag, "k") == 0)
        key->ed25519 = strcmp(v, "ed25519") == 0;
    /* t= holds flags separated by ':', each a single letter (3.6.1). */
    if (strcmp(tag, "t") == 0) {
        key->strict = dkim_has_flag(v, 's');
        key->testing = dkim_has_flag(v, 'y');
    }
    return key->err != NULL ? -1 : 0;
}

static void dkim_key_name(const auth_dkim_sig_t *s, char *out, size_t len)
{
    snprintf(out, len, "%s._domainkey.%s", s->s, s->d);
}

/* Makes an OpenSSL key of the record's data; NULL with a reason. */
static EVP_PKEY *dkim_pkey(const dkim_key_t *key, const char **why)
{
    const unsigned char *der = key->p;
    EVP_PKEY *pk;

    if (key->ed25519) {
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key->p, (size_t)key->plen);
    } else {
        pk = d2i_PUBKEY(NULL, &der, key->plen);
        if (pk == NULL) {
            der = key->p;
            pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &der, key->plen);
        }
        if (pk != NULL && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
        /* RFC 8301: keys under 1024 bits are not to be trusted. */
        if (pk != NULL && EVP_PKEY_get_bits(pk) < 1024) {
            EVP_PKEY_free(pk);
            *why = "RSA key shorter than 1024 bits";
            return NULL;
        }
    }
    if (pk == NULL)
        *why = "unreadable key";
    return pk;
}

/* Verifies the signature over data; 1 valid, 0 not. */
static int dkim_check_sig(EVP_PKEY *pk, const dkim_sigdata_t *sd, const dkim_buf_t *data)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char hash[32];
    int ok = 0;

    if (ctx == NULL)
        return 0;
    if (sd->ed25519) {
        /* Ed25519 signs the SHA-256 of the header data (RFC 8463). */
        EVP_Digest(data->p, data->len, hash, NULL, EVP_sha256(), NULL);
        ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, sd->b, sd->blen, hash, sizeof(hash)) == 1;
    } else {
        ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, sd->b, sd->blen, (const unsigned char *)data->p, data->len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    return ok;
}

static auth_dkim_result_t dkim_fail(auth_dkim_sig_t *s, auth_dkim_result_t r, const char *why)
{
    snprintf(s->why, sizeof(s->why), "%s", why);
    return r;
}

/* Whether a key name can be asked at all: labels of 1 to 63 bytes, 253 in
 * all. One that cannot is the signature's fault (permerror), not DNS's. */
static int dkim_name_valid(const char *name)
{
    size_t total = strlen(name), label = 0;

    if (total == 0 || total > 253)
        return 0;
    for (const char *c = name; *c != '\0'; c++) {
        if (*c != '.') {
            if (++label > 63)
                return 0;
            continue;
        }
        if (label == 0)
            return 0;
        label = 0;
    }
    return label > 0;
}

/* Fetches the key records. AUTH_DKIM_RES_PASS when there is at least one. */
static auth_dkim_result_t dkim_get_keys(auth_dns_t *dns, auth_dkim_sig_t *s,
                                        const auth_dns_rr_t **rr)
{
    char name[400];

    dkim_key_name(s, name, sizeof(name));
    if (!dkim_name_valid(name))
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "s= and d= make no valid DNS name");
    *rr = auth_dns_get(dns, name, AUTH_DNS_TXT);
    if ((*rr)->status == AUTH_DNS_TIMEOUT || (*rr)->status == AUTH_DNS_FAIL)
        return dkim_fail(s, AUTH_DKIM_RES_TEMPERROR, "DNS error fetching the key");
    if ((*rr)->status != AUTH_DNS_OK || (*rr)->nstrs == 0)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "no key");
    return AUTH_DKIM_RES_PASS;
}

/* Reads one key record. AUTH_DKIM_RES_PASS when the key is usable. */
static auth_dkim_result_t dkim_read_key(const char *text, auth_dkim_sig_t *s, dkim_key_t *key)
{
    memset(key, 0, sizeof(*key));
    if (dkim_tags(text, strlen(text), dkim_key_tag, key) != 0 || key->plen <= 0)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR,
                         key->err != NULL ? key->err : "bad key record");
    return AUTH_DKIM_RES_PASS;
}

/* The body hash, compared with bh=. */
static auth_dkim_result_t dkim_check_body(const auth_dkim_t *k, const dkim_sigdata_t *sd,
                                          auth_dkim_sig_t *s)
{
    dkim_buf_t body = {0};
    unsigned char hash[32];
    size_t n, whole;

    dkim_canon_body(&body, k->body, k->bodylen, sd->relaxed_body);
    n = whole = body.len;
    if (sd->l >= 0 && (unsigned long long)sd->l > n) {
        free(body.p);
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "l= is longer than the body");
    }
    if (sd->l >= 0)
        n = (size_t)sd->l;
    EVP_Digest(body.p != NULL ? body.p : "", n, hash, NULL, EVP_sha256(), NULL);
    free(body.p);
    if (body.oom)
        return dkim_fail(s, AUTH_DKIM_RES_TEMPERROR, "out of memory");
    if (sd->bhlen != sizeof(hash) || memcmp(hash, sd->bh, sizeof(hash)) != 0)
        return dkim_fail(s, AUTH_DKIM_RES_FAIL, "body hash mismatch");
    /* Whoever relayed the message may have added what follows l= (RFC 6376,
     * 8.2): the pass stands, but says how much of the body it does not cover. */
    if (n < whole)
        snprintf(s->why, sizeof(s->why), "l= leaves %zu bytes of the body unsigned", whole - n);
    return AUTH_DKIM_RES_PASS;
}

/* Checks the signature against the key that was fetched for it. */
static auth_dkim_result_t dkim_verify_key(const auth_dkim_t *k, auth_dkim_sig_t *s,
                                          const dkim_sigdata_t *sd, const dkim_key_t *key)
{
    dkim_buf_t data = {0};
    const char *why = NULL;
    auth_dkim_result_t r;
    EVP_PKEY *pk;

    if (key->ed25519 != sd->ed25519)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "key type does not match a=");
    if (key->strict && sd->i[0] != '\0' && strcasecmp(strchr(sd->i, '@') + 1, s->d) != 0)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "key has t=s but i= is a subdomain");
    if ((r = dkim_check_body(k, sd, s)) != AUTH_DKIM_RES_PASS)
        return r;
    if ((pk = dkim_pkey(key, &why)) == NULL)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, why);
    dkim_header_data(k, sd, &data);
    r = data.oom                        ? dkim_fail(s, AUTH_DKIM_RES_TEMPERROR, "out of memory")
        : dkim_check_sig(pk, sd, &data) ? AUTH_DKIM_RES_PASS
                                        : dkim_fail(s, AUTH_DKIM_RES_FAIL, "signature mismatch");
    EVP_PKEY_free(pk);
    free(data.p);
    return r;
}

/*
 * RFC 6376, 3.6.1: mail signed with a key in testing mode (t=y) must not be
 * treated differently from unsigned mail, "even should the signature fail
 * to verify". Its failures become neutral (scored as no signature would be
 * and never a DMARC pass); a signature that verifies still passes.
 */
static auth_dkim_result_t dkim_testing(auth_dkim_sig_t *s, auth_dkim_result_t r)
{
    size_t n = strlen(s->why);

    if (r != AUTH_DKIM_RES_FAIL && r != AUTH_DKIM_RES_PERMERROR)
        return r;
    snprintf(s->why + n, sizeof(s->why) - n, "%s", " (key in testing mode, t=y)");
    return AUTH_DKIM_RES_NEUTRAL;
}

/*
 * Verifies the signature with each of the first DKIM_MAX_KEYS key records
 * (RFC 6376, 3.6.2.2: their order is unspecified, and a verifier may cycle
 * through them) until one passes. When none does, the outcome is that of
 * the last usable key, or, without one, the last record's error: a record
 * that cannot be read, or a key for another service, does not hide one
 * that verifies or fails.
 */
static auth_dkim_result_t dkim_verify_keys(auth_dkim_t *k, auth_dkim_sig_t *s,
                                           const dkim_sigdata_t *sd, const auth_dns_rr_t *rr)
{
    auth_dkim_result_t best = AUTH_DKIM_RES_PERMERROR;
    char why[sizeof(s->why)] = "";
    int usable = 0;

    for (size_t j = 0; j < rr->nstrs && j < DKIM_MAX_KEYS; j++) {
        dkim_key_t key;
        s->why[0] = '\0'; /* A pass says what it leaves unsigned, not an earlier key's failure. */
        auth_dkim_result_t r = dkim_read_key(rr->strs[j], s, &key);
        if (r == AUTH_DKIM_RES_PASS) {
            r = dkim_verify_key(k, s, sd, &key);
            r = key.testing ? dkim_testing(s, r) : r;
            if (r == AUTH_DKIM_RES_PASS || r == AUTH_DKIM_RES_TEMPERROR)
                return r;
            usable = 1;
        } else if (usable) {
            continue;
        }
        best = r;
        memcpy(why, s->why, sizeof(why));
    }
    memcpy(s->why, why, sizeof(why));
    return best;
}

static auth_dkim_result_t dkim_verify_one(auth_dkim_t *k, auth_dns_t *dns, size_t i, time_t now)
{
    auth_dkim_sig_t *s = &k->sigs[i];
    dkim_sigdata_t sd;
    const auth_dns_rr_t *rr = NULL;
    auth_dkim_result_t r;

    if (dkim_sig_parse(k->sigfield[i], &sd, s) < 0)
        return AUTH_DKIM_RES_PERMERROR;
    /* The signer's clock may be behind ours as it may be ahead (t=). */
    if (sd.x >= 0 && sd.x < (long long)now - DKIM_CLOCK_SKEW)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "signature expired");
    /* x= must be greater than t= (3.5): a signature that expires when it
     * is made, or before, is broken. */
    if (sd.t >= 0 && sd.x >= 0 && sd.x <= sd.t)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "x= is not after t=");
    /* A signature made in the future may be ignored (3.5). Clocks differ:
     * up to DKIM_CLOCK_SKEW seconds ahead is taken for the signer's. */
    if (sd.t > (long long)now + DKIM_CLOCK_SKEW)
        return dkim_fail(s, AUTH_DKIM_RES_PERMERROR, "t= is in the future");
    if ((r = dkim_get_keys(dns, s, &rr)) != AUTH_DKIM_RES_PASS)
        return r;
    return dkim_verify_keys(k, s, &sd, rr);
}

void auth_dkim_prefetch(auth_dkim_t *k, auth_dns_t *dns)
{
    char name[400];

    for (size_t i = 0; i < k->nsigs; i++) {
        auth_dkim_sig_t s = {0};
        const dkim_field_t *f = k->sigfield[i];
        const char *value = memchr(f->p, ':', f->len);
        if (value == NULL)
            continue;
        value++;
        (void)dkim_tags(value, f->len - (size_t)(value - f->p), dkim_peek_tag, &s);
        if (s.d[0] == '\0' || s.s[0] == '\0')
            continue;
        dkim_key_name(&s, name, sizeof(name));
        auth_dns_prefetch(dns, name, AUTH_DNS_TXT);
    }
}

void auth_dkim_verify(auth_dkim_t *k, auth_dns_t *dns, time_t now)
{
    for (size_t i = 0; i < k->nsigs; i++) {
        memset(&k->sigs[i], 0, sizeof(k->sigs[i]));
        k->sigs[i].result = dkim_verify_one(k, dns, i, now);
    }
}
