/*
 * spf.c - an SPF evaluator (RFC 7208): parses a record whole before using
 * it, expands macros, and counts DNS-querying terms (limit 10) and void
 * look-ups (limit 2) so that a hostile record cannot make us loop. A FAIL
 * reached through a record's own term carries the explanation its exp=
 * modifier points to.
 */
#include "spf.h"
#include "cares.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SPF_MAX_LOOKUPS 10
#define SPF_MAX_VOID 2
#define SPF_MAX_MX 10
#define SPF_MAX_PTR 10 /* PTR names looked at, hence address look-ups per ptr term (4.6.4). */

typedef enum spf_kind {
    SPF_ALL,
    SPF_IP4,
    SPF_IP6,
    SPF_A,
    SPF_MX,
    SPF_PTR,
    SPF_INCLUDE,
    SPF_EXISTS
} spf_kind_t;

typedef struct spf_term {
    spf_kind_t kind;
    char qualifier;
    int cidr4, cidr6;
    uint8_t addr[16];
    const char *spec; /* The domain-spec as written, macros unexpanded; "" for none. */
    const char *text; /* The term as written, for the explanation. */
} spf_term_t;

/*
 * A parsed record. Its strings point into buf, which holds the record twice:
 * one copy keeps each term as written, the other is cut up by the parser.
 * The terms are as many as the record has, which its DNS answer bounds.
 */
typedef struct spf_record {
    char *buf;
    size_t nterms;
    spf_term_t *terms;
    const char *redirect; /* The redirect= domain-spec, or NULL. */
    const char *exp;      /* The exp= domain-spec, or NULL. */
} spf_record_t;

/* One check: the identity, DNS, and the counters shared by includes. */
typedef struct spf_ctx {
    auth_dns_t *dns;
    const auth_spf_query_t *q;
    int v4;
    int lookups;
    int voids;
    char *why;
    size_t whylen;
} spf_ctx_t;

static auth_spf_result_t spf_check_host(spf_ctx_t *c, const char *domain, int explain);

const char *auth_spf_name(auth_spf_result_t r)
{
    static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
                                        "softfail", "temperror", "permerror"};
    return names[r];
}

const char *auth_spf_domain(const char *sender)
{
    const char *at = strrchr(sender, '@');

    return at != NULL ? at + 1 : sender;
}

/* Sets the explanation unless a deeper level already gave one. */
static auth_spf_result_t spf_why(spf_ctx_t *c, auth_spf_result_t r, const char *fmt,
                                 const char *arg)
{
    if (c->why[0] == '\0')
        snprintf(c->why, c->whylen, fmt, arg);
    return r;
}

/*
 * A look-up for SPF. A macro can expand the sender's local part or HELO
 * into a name no query can carry ("a..b.example", a label of 70 bytes):
 * such a name does not exist (RFC 7208 4.8 gives no error for it). Asked
 * anyway, the resolver's refusal would read as a DNS failure, and a
 * temperror that any sender can cause with its MAIL FROM would turn the
 * fail of a record using %{l} into a DMARC temperror instead of its policy.
 */
static const auth_dns_rr_t *spf_dns_get(const spf_ctx_t *c, const char *name, int type)
{
    static const auth_dns_rr_t nxdomain = {.status = AUTH_DNS_NXDOMAIN};

    return auth_dns_name_ok(name) ? auth_dns_get(c->dns, name, type) : &nxdomain;
}

/* ------------------------------------------------------------------ */
/* Validated client names (sections 5.5 and 7.3)                      */
/* ------------------------------------------------------------------ */

/*
 * The client's PTR names, at most SPF_MAX_PTR of them; NULL when there are
 * none. A failed PTR look-up is no error for SPF (5.5): it only leaves the
 * client without names.
 */
static char *const *spf_ptr_names(const spf_ctx_t *c, size_t *n)
{
    char rev[AUTH_DNS_REVERSE_LEN];
    const auth_dns_rr_t *rr;

    auth_dns_reverse_name(c->q->ip, rev, sizeof(rev));
    rr = spf_dns_get(c, rev, AUTH_DNS_PTR);
    *n = rr->status == AUTH_DNS_OK ? rr->nstrs : 0;
    if (*n > SPF_MAX_PTR)
        *n = SPF_MAX_PTR;
    return *n > 0 ? rr->strs : NULL;
}

/* Whether a PTR name leads back to the client: its A or AAAA records hold the address. */
static int spf_ptr_validated(const spf_ctx_t *c, const char *name)
{
    const auth_dns_rr_t *rr = spf_dns_get(c, name, c->v4 ? AUTH_DNS_A : AUTH_DNS_AAAA);

    /* A name whose look-up fails is skipped, not an error (5.5). */
    if (rr->status != AUTH_DNS_OK)
        return 0;
    for (size_t i = 0; i < rr->naddrs; i++)
        if (memcmp(rr->addrs[i], c->q->ip, 16) == 0)
            return 1;
    return 0;
}

/*
 * The %{p} macro (7.3): a validated name in domain if there is one, else any
 * validated name, else "unknown". Names outside domain are validated only
 * when no name in it is.
 */
static void spf_validated_name(const spf_ctx_t *c, const char *domain, char *buf, size_t len)
{
    size_t n;
    char *const *names = spf_ptr_names(c, &n);

    for (int anywhere = 0; anywhere <= 1; anywhere++)
        for (size_t i = 0; i < n; i++) {
            if (!anywhere && !cares_in_domain(names[i], domain))
                continue;
            if (spf_ptr_validated(c, names[i])) {
                snprintf(buf, len, "%s", names[i]);
                return;
            }
        }
    snprintf(buf, len, "unknown");
}

/* ------------------------------------------------------------------ */
/* Macros (section 7)                                                 */
/* ------------------------------------------------------------------ */

/*
 * The value of one macro letter, written into buf. explain allows the
 * letters only an explanation may use: c, r and t.
 */
static int spf_macro_value(const spf_ctx_t *c, const char *domain, char letter, int explain,
                           char *buf, size_t len)
{
    const char *s = c->q->sender, *at = strrchr(s, '@');
    const uint8_t *ip = c->q->ip;

    switch (tolower((unsigned char)letter)) {
    case 's':
        snprintf(buf, len, "%s", s);
        return 0;
    case 'l':
        snprintf(buf, len, "%.*s", at != NULL ? (int)(at - s) : 0, s);
        return 0;
    case 'o':
        snprintf(buf, len, "%s", auth_spf_domain(s));
        return 0;
    case 'd':
        snprintf(buf, len, "%s", domain);
        return 0;
    case 'h':
        snprintf(buf, len, "%s", c->q->helo);
        return 0;
    case 'v':
        snprintf(buf, len, "%s", c->v4 ? "in-addr" : "ip6");
        return 0;
    case 'p':
        spf_validated_name(c, domain, buf, len);
        return 0;
    case 'i':
        if (c->v4) {
            snprintf(buf, len, "%u.%u.%u.%u", ip[12], ip[13], ip[14], ip[15]);
        } else {
            static const char hex[] = "0123456789abcdef";
            size_t n = 0;
            for (int i = 0; i < 16 && n + 4 < len; i++) {
                buf[n++] = hex[ip[i] >> 4];
                buf[n++] = '.';
                buf[n++] = hex[ip[i] & 15];
                buf[n++] = '.';
            }
            buf[n > 0 ? n - 1 : 0] = '\0';
        }
        return 0;
    case 'c':
        /* The address as people write it, where %{i} spells out every IPv6 nibble. */
        if (!explain || len < INET6_ADDRSTRLEN)
            return -1;
        if (c->v4)
            inet_ntop(AF_INET, ip + 12, buf, (socklen_t)len);
        else
            inet_ntop(AF_INET6, ip, buf, (socklen_t)len);
        return 0;
    case 'r':
        /* The module knows no name of the host it runs on; the RFC's fallback. */
        if (!explain)
            return -1;
        snprintf(buf, len, "unknown");
        return 0;
    case 't':
        if (!explain)
            return -1;
        snprintf(buf, len, "%lld", (long long)time(NULL));
        return 0;
    default:
        return -1;
    }
}

/* Applies a macro's transformers: keep the rightmost `keep` parts, maybe reversed. */
static void spf_transform(char *value, int keep, int reverse, const char *delims, char *out,
                          size_t outlen)
{
    char *parts[128];
    size_t n = 0, o = 0;

    for (char *p = value, *start = value;; p++) {
        if (*p == '\0' || strchr(delims, *p) != NULL) {
            int end = *p == '\0';
            *p = '\0';
            if (n < 128)
                parts[n++] = start;
            start = p + 1;
            if (end)
                break;
        }
    }
    if (reverse)
        for (size_t i = 0; i < n / 2; i++) {
            char *t = parts[i];
            parts[i] = parts[n - 1 - i];
            parts[n - 1 - i] = t;
        }
    size_t first = keep > 0 && (size_t)keep < n ? n - (size_t)keep : 0;
    out[0] = '\0';
    for (size_t i = first; i < n; i++)
        o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, "%s%s", i > first ? "." : "",
                              parts[i]);
}

/* Appends value URL-encoded (upper-case macro letters ask for it). */
static void spf_urlencode(const char *value, char *out, size_t outlen)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)value; *p != '\0' && o + 4 < outlen; p++) {
        if (isalnum(*p) || strchr("-._~", *p) != NULL)
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

/* Expands one %{...} at p (after "%{"); returns the position after '}' or NULL. */
static const char *spf_expand_macro(const spf_ctx_t *c, const char *domain, const char *p,
                                    int explain, char *out, size_t outlen)
{
    char letter = *p++, value[1024], part[1024], delims[16] = "";
    int keep = 0, reverse = 0;
    size_t nd = 0;

    if (spf_macro_value(c, domain, letter, explain, value, sizeof(value)) < 0)
        return NULL;
    /* Digits past 128 are read on, not added up: the record is refused
     * either way, and a long run of them would overflow keep. */
    while (isdigit((unsigned char)*p)) {
        if (keep <= 128)
            keep = keep * 10 + (*p - '0');
        p++;
    }
    if (keep > 128 || (keep == 0 && isdigit((unsigned char)p[-1])))
        return NULL;
    if (*p == 'r' || *p == 'R') {
        reverse = 1;
        p++;
    }
    while (*p != '\0' && strchr(".-+,/_=", *p) != NULL && nd + 1 < sizeof(delims))
        delims[nd++] = *p++;
    if (*p != '}')
        return NULL;
    spf_transform(value, keep, reverse, nd > 0 ? delims : ".", part, sizeof(part));
    if (isupper((unsigned char)letter))
        spf_urlencode(part, out, outlen);
    else
        snprintf(out, outlen, "%s", part);
    return p + 1;
}

/*
 * Expands a domain-spec into a name to look up, or with explain an
 * explain-string (6.2) into the text of an explanation: that one may use the
 * macros c, r and t and spaces, but no other characters outside printable
 * ASCII, and it keeps its whole length. 0, or -1 on a syntax error.
 */
static int spf_expand(const spf_ctx_t *c, const char *domain, const char *spec, int explain,
                      char *out, size_t outlen)
{
    char buf[2048], piece[1100];
    size_t o = 0;

    /* An empty spec (an explanation's TXT record may be "") expands to "". */
    buf[0] = '\0';
    for (const char *p = spec; *p != '\0';) {
        piece[0] = *p;
        piece[1] = '\0';
        if (explain && (*p < 0x20 || *p > 0x7e)) {
            return -1;
        } else if (*p != '%') {
            p++;
        } else if (p[1] == '%' || p[1] == '_' || p[1] == '-') {
            snprintf(piece, sizeof(piece), "%s", p[1] == '%' ? "%" : p[1] == '_' ? " " : "%20");
            p += 2;
        } else if (p[1] == '{') {
            if ((p = spf_expand_macro(c, domain, p + 2, explain, piece, sizeof(piece))) == NULL)
                return -1;
        } else {
            return -1;
        }
        /* Once full, the rest is still read for its syntax but not written:
         * buf + o would point past the array. */
        if (o < sizeof(buf))
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", piece);
    }
    if (o >= sizeof(buf))
        return -1;
    /* Longer than a domain name may be: drop labels from the left (4.8). */
    const char *name = buf;
    while (!explain && strlen(name) > 253 && strchr(name, '.') != NULL)
        name = strchr(name, '.') + 1;
    /* Cut short, a name or an explanation would say something else. */
    size_t n = strlen(name);
    if (n >= outlen)
        return -1;
    memcpy(out, name, n + 1);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing (section 4.6)                                              */
/* ------------------------------------------------------------------ */

static int spf_cidr(const char *s, int max)
{
    char *end;
    long v;

    if (!isdigit((unsigned char)*s) || (s[0] == '0' && s[1] != '\0'))
        return -1;
    v = strtol(s, &end, 10);
    return *end == '\0' && v <= max ? (int)v : -1;
}

/* Splits "spec/24//64" into its spec and prefix lengths; the spec may hold macros. */
static int spf_parse_dual_cidr(char *arg, spf_term_t *t)
{
    char *slash = NULL, *v6;
    int depth = 0;

    for (char *p = arg; *p != '\0' && slash == NULL; p++) {
        if (p[0] == '%' && p[1] == '{')
            depth = 1;
        else if (*p == '}')
            depth = 0;
        else if (*p == '/' && !depth)
            slash = p;
    }
    t->cidr4 = 32;
    t->cidr6 = 128;
    if (slash == NULL)
        return 0;
    *slash = '\0';
    /* What follows is "/24", "/24//64" or "//64". */
    if ((v6 = strstr(slash + 1, "//")) != NULL || slash[1] == '/') {
        if (v6 == NULL)
            v6 = slash;
        if ((t->cidr6 = spf_cidr(v6 + 2, 128)) < 0)
            return -1;
        *v6 = '\0';
        if (v6 == slash)
            return 0;
    }
    return (t->cidr4 = spf_cidr(slash + 1, 32)) < 0 ? -1 : 0;
}

static int spf_parse_ip(const char *arg, spf_term_t *t)
{
    char addr[64];
    const char *slash = strchr(arg, '/');
    size_t n = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
    int v4 = t->kind == SPF_IP4;

    if (n >= sizeof(addr))
        return -1;
    memcpy(addr, arg, n);
    addr[n] = '\0';
    memset(t->addr, 0, 16);
    if (v4) {
        t->addr[10] = t->addr[11] = 0xff;
        if (inet_pton(AF_INET, addr, t->addr + 12) != 1)
            return -1;
        t->cidr4 = slash != NULL ? spf_cidr(slash + 1, 32) : 32;
        return t->cidr4;
    }
    if (inet_pton(AF_INET6, addr, t->addr) != 1)
        return -1;
    t->cidr6 = slash != NULL ? spf_cidr(slash + 1, 128) : 128;
    return t->cidr6;
}

/*
 * Whether a domain-spec ends as RFC 7208 (7.1) wants: in a macro, or in "."
 * and a toplabel, with maybe a final dot. A toplabel is letters, digits and
 * inner hyphens, not all digits: "a:192.0.2.1" is a syntax error (a
 * permerror), not the name of a host that does not exist.
 */
static int spf_valid_end(const char *spec, size_t n)
{
    if (n > 0 && spec[n - 1] == '.')
        n--;
    if (n >= 2 && spec[n - 2] == '%' && strchr("%_-", spec[n - 1]) != NULL)
        return 1;
    if (n > 0 && spec[n - 1] == '}')
        return memchr(spec, '{', n) != NULL;
    size_t start = n;
    int alpha = 0, hyphen = 0;
    while (start > 0 && spec[start - 1] != '.') {
        char c = spec[--start];
        if (!isalnum((unsigned char)c) && c != '-')
            return 0;
        alpha |= isalpha((unsigned char)c) != 0;
        hyphen |= c == '-';
    }
    if (start == 0 || start == n || spec[start] == '-' || spec[n - 1] == '-')
        return 0;
    return alpha || hyphen;
}

/*
 * Whether s is a macro-string (7.1): visible characters, each '%' starting
 * "%%", "%_", "%-" or "%{" letter [digits] ["r"] *delimiter "}". The digits
 * name 1 to 128 parts. The letters c, r and t belong to explanations only
 * (7.3): in a domain-spec, or a modifier's value, they are a syntax error.
 */
static int spf_valid_macros(const char *s)
{
    while (*s != '\0') {
        if (!isgraph((unsigned char)*s))
            return 0;
        if (*s++ != '%')
            continue;
        if (*s != '\0' && strchr("%_-", *s) != NULL) {
            s++;
            continue;
        }
        if (*s++ != '{' || *s == '\0' || strchr("slodiphvSLODIPHV", *s++) == NULL)
            return 0;
        if (isdigit((unsigned char)*s)) {
            long keep = 0;
            while (isdigit((unsigned char)*s) && keep <= 128)
                keep = keep * 10 + (*s++ - '0');
            if (keep == 0 || keep > 128)
                return 0;
        }
        if (*s == 'r' || *s == 'R')
            s++;
        while (*s != '\0' && strchr(".-+,/_=", *s) != NULL)
            s++;
        if (*s++ != '}')
            return 0;
    }
    return 1;
}

/* A domain-spec: printable, a name's length at most, valid macros and a valid end. */
static int spf_valid_spec(const char *spec)
{
    size_t n = strlen(spec);

    if (n == 0 || n > 253)
        return 0;
    return spf_valid_macros(spec) && spf_valid_end(spec, n);
}

/*
 * One mechanism, after its qualifier, cut up in place: the domain-spec ends
 * where a CIDR length starts. 0 or -1 on a syntax error.
 */
static int spf_parse_mechanism(char *s, spf_term_t *t)
{
    static const struct {
        const char *name;
        spf_kind_t kind;
        int arg; /* 0 none, 1 optional, 2 required */
    } mechs[] = {{"all", SPF_ALL, 0},         {"ip4", SPF_IP4, 2},
                 {"ip6", SPF_IP6, 2},         {"a", SPF_A, 1},
                 {"mx", SPF_MX, 1},           {"ptr", SPF_PTR, 1},
                 {"include", SPF_INCLUDE, 2}, {"exists", SPF_EXISTS, 2}};
    size_t n = strcspn(s, ":/");

    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
        if (strlen(mechs[i].name) != n || strncasecmp(s, mechs[i].name, n) != 0)
            continue;
        t->kind = mechs[i].kind;
        if (s[n] == ':' && mechs[i].arg == 0)
            return -1;
        if (s[n] == '/' && t->kind != SPF_A && t->kind != SPF_MX)
            return -1;
        if (s[n] != ':' && mechs[i].arg == 2)
            return -1;
        char *arg = s[n] == ':' ? s + n + 1 : s + n;
        if (t->kind == SPF_IP4 || t->kind == SPF_IP6)
            return spf_parse_ip(arg, t) < 0 ? -1 : 0;
        if ((t->kind == SPF_A || t->kind == SPF_MX) && spf_parse_dual_cidr(arg, t) < 0)
            return -1;
        if (s[n] == ':' && !spf_valid_spec(arg))
            return -1;
        t->spec = arg;
        return 0;
    }
    return -1;
}

/*
 * A modifier "name=value": redirect and exp are kept, unknown ones are
 * ignored (6) once their value is read as a macro-string (A): "foo=%abc" is
 * a syntax error. exp= wants a domain-spec as redirect= does, so "exp=" and
 * "exp=-all" are syntax errors too; only what goes wrong when the
 * explanation is fetched and expanded leaves it out (6.2).
 */
static int spf_parse_modifier(const char *s, spf_record_t *rec)
{
    const char *eq = strchr(s, '=');
    size_t n = (size_t)(eq - s);

    if (n == 8 && strncasecmp(s, "redirect", 8) == 0) {
        if (rec->redirect != NULL || !spf_valid_spec(eq + 1))
            return -1;
        rec->redirect = eq + 1;
    } else if (n == 3 && strncasecmp(s, "exp", 3) == 0) {
        if (rec->exp != NULL || !spf_valid_spec(eq + 1))
            return -1;
        rec->exp = eq + 1;
    } else if (!spf_valid_macros(eq + 1)) {
        return -1;
    }
    return 0;
}

/* Whether a term is a modifier: a name of [A-Za-z][A-Za-z0-9-_.]* then '='. */
static int spf_is_modifier(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return 0;
    while (isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.')
        s++;
    return *s == '=';
}

static void spf_free_record(spf_record_t *rec)
{
    free(rec->buf);
    free(rec->terms);
    memset(rec, 0, sizeof(*rec));
}

/*
 * Parses the whole record first: any syntax error makes it a permerror (4.6).
 * 0, -1 on a syntax error (the term in bad), -2 when out of memory; the
 * record is to be freed with spf_free_record() in every case.
 */
static int spf_parse(const char *text, spf_record_t *rec, char *bad, size_t badlen)
{
    size_t len = strlen(text + 6), ntok = 0;
    char *shown, *work;

    memset(rec, 0, sizeof(*rec));
    bad[0] = '\0';
    if ((rec->buf = malloc(2 * (len + 1))) == NULL)
        return -2;
    shown = rec->buf;
    work = rec->buf + len + 1;
    memcpy(shown, text + 6, len + 1);
    /* Terms are separated by spaces: cut both copies there and count the terms. */
    for (size_t i = 0; i < len; i++)
        if (shown[i] == ' ')
            shown[i] = '\0';
        else if (i == 0 || shown[i - 1] == '\0')
            ntok++;
    memcpy(work, shown, len + 1);
    if (ntok > 0 && (rec->terms = calloc(ntok, sizeof(*rec->terms))) == NULL)
        return -2;
    for (size_t i = 0; i < len; i += strlen(shown + i) + 1) {
        char *tok = work + i;
        if (*tok == '\0')
            continue;
        snprintf(bad, badlen, "%s", shown + i);
        if (spf_is_modifier(tok)) {
            if (spf_parse_modifier(tok, rec) < 0)
                return -1;
            continue;
        }
        spf_term_t *t = &rec->terms[rec->nterms++];
        t->text = shown + i;
        t->qualifier = strchr("+-~?", *tok) != NULL ? *tok++ : '+';
        if (spf_parse_mechanism(tok, t) < 0)
            return -1;
    }
    bad[0] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ */
/* Evaluation (section 5)                                             */
/* ------------------------------------------------------------------ */

static int spf_prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)bytes) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* Whether the client is in addr/cidr, for mapped IPv4 or IPv6 alike. */
static int spf_ip_match(const spf_ctx_t *c, const uint8_t addr[16], const spf_term_t *t)
{
    if (cares_is_v4(addr) != c->v4)
        return 0;
    /* An ip6 term says nothing of an IPv4 client, even one written as
     * ::ffff:a.b.c.d (its prefix would be read against cidr4, unset). */
    if (t->kind == SPF_IP6 && c->v4)
        return 0;
    return spf_prefix_match(c->q->ip, addr, c->v4 ? 96 + t->cidr4 : t->cidr6);
}

/* Counts a DNS-querying term; -1 once past the limit. */
static int spf_count_lookup(spf_ctx_t *c)
{
    return ++c->lookups > SPF_MAX_LOOKUPS ? -1 : 0;
}

/* Judges a look-up's status: 0 answers, 1 void, -1 temperror, -2 too many voids. */
static int spf_dns_status(spf_ctx_t *c, const auth_dns_rr_t *rr)
{
    if (rr->status == AUTH_DNS_OK)
        return 0;
    if (rr->status == AUTH_DNS_TIMEOUT || rr->status == AUTH_DNS_FAIL)
        return -1;
    return ++c->voids > SPF_MAX_VOID ? -2 : 1;
}

/* Match codes: 1 match, 0 none, or a negative auth_spf_result_t for an error. */
#define SPF_ERR(r) (-(int)(r))

static int spf_dns_error(spf_ctx_t *c, int st, const char *name)
{
    if (st == -1) {
        spf_why(c, AUTH_SPF_TEMPERROR, "DNS error looking up %s", name);
        return SPF_ERR(AUTH_SPF_TEMPERROR);
    }
    spf_why(c, AUTH_SPF_PERMERROR, "too many void lookups (at %s)", name);
    return SPF_ERR(AUTH_SPF_PERMERROR);
}

/* The a mechanism, also used for each host of mx. */
static int spf_match_host(spf_ctx_t *c, const char *name, const spf_term_t *t, int count_void)
{
    const auth_dns_rr_t *rr = spf_dns_get(c, name, c->v4 ? AUTH_DNS_A : AUTH_DNS_AAAA);
    int st;

    if (!count_void && (rr->status == AUTH_DNS_NXDOMAIN || rr->status == AUTH_DNS_NODATA))
        return 0;
    if ((st = spf_dns_status(c, rr)) < 0)
        return spf_dns_error(c, st, name);
    for (size_t i = 0; i < rr->naddrs; i++)
        if (spf_ip_match(c, rr->addrs[i], t))
            return 1;
    return 0;
}

static int spf_match_mx(spf_ctx_t *c, const char *name, const spf_term_t *t)
{
    const auth_dns_rr_t *rr = spf_dns_get(c, name, AUTH_DNS_MX);
    int st;

    if ((st = spf_dns_status(c, rr)) < 0)
        return spf_dns_error(c, st, name);
    if (rr->nstrs > SPF_MAX_MX) {
        spf_why(c, AUTH_SPF_PERMERROR, "more than 10 MX hosts for %s", name);
        return SPF_ERR(AUTH_SPF_PERMERROR);
    }
    for (size_t i = 0; i < rr->nstrs; i++) {
        int m = spf_match_host(c, rr->strs[i], t, 0);
        if (m != 0)
            return m;
    }
    return 0;
}

static int spf_match_include(spf_ctx_t *c, const char *name)
{
    /* The included record's exp= never explains the including one's result (6.2). */
    auth_spf_result_t r = spf_check_host(c, name, 0);

    switch (r) {
    case AUTH_SPF_PASS:
        return 1;
    case AUTH_SPF_TEMPERROR:
        return SPF_ERR(AUTH_SPF_TEMPERROR);
    case AUTH_SPF_PERMERROR:
    case AUTH_SPF_NONE:
        spf_why(c, AUTH_SPF_PERMERROR, "include:%s has no valid SPF record", name);
        return SPF_ERR(AUTH_SPF_PERMERROR);
    default:
        /* The included domain's own fail or neutral only means "no match" here. */
        c->why[0] = '\0';
        return 0;
    }
}

static int spf_match_exists(spf_ctx_t *c, const char *name)
{
    const auth_dns_rr_t *rr = spf_dns_get(c, name, AUTH_DNS_A);
    int st = spf_dns_status(c, rr);

    return st < 0 ? spf_dns_error(c, st, name) : st == 0;
}

/*
 * The ptr mechanism (5.5): whether a validated name of the client is target
 * or one of its subdomains. Only names of the first SPF_MAX_PTR within
 * target need validating. Failed look-ups only mean no match.
 */
static int spf_match_ptr(spf_ctx_t *c, const char *target)
{
    size_t n;
    char *const *names = spf_ptr_names(c, &n);

    for (size_t i = 0; i < n; i++)
        if (cares_in_domain(names[i], target) && spf_ptr_validated(c, names[i]))
            return 1;
    return 0;
}

/* One term against the client. */
static int spf_match(spf_ctx_t *c, const char *domain, const spf_term_t *t)
{
    char name[300];

    if (t->kind == SPF_ALL)
        return 1;
    if (t->kind == SPF_IP4 || t->kind == SPF_IP6)
        return spf_ip_match(c, t->addr, t);
    if (spf_count_lookup(c) < 0) {
        spf_why(c, AUTH_SPF_PERMERROR, "more than 10 DNS lookups (at %s)", t->text);
        return SPF_ERR(AUTH_SPF_PERMERROR);
    }
    /* Without a domain-spec the term names the current domain as it is
     * (RFC 7208 5.3): a '%' in it is a character, not a macro. */
    if (t->spec == NULL || t->spec[0] == '\0') {
        if ((size_t)snprintf(name, sizeof(name), "%s", domain) >= sizeof(name)) {
            spf_why(c, AUTH_SPF_PERMERROR, "domain too long at %s", t->text);
            return SPF_ERR(AUTH_SPF_PERMERROR);
        }
    } else if (spf_expand(c, domain, t->spec, 0, name, sizeof(name)) < 0) {
        spf_why(c, AUTH_SPF_PERMERROR, "bad macro in %s", t->text);
        return SPF_ERR(AUTH_SPF_PERMERROR);
    }
    switch (t->kind) {
    case SPF_A:
        return spf_match_host(c, name, t, 1);
    case SPF_MX:
        return spf_match_mx(c, name, t);
    case SPF_INCLUDE:
        return spf_match_include(c, name);
    case SPF_EXISTS:
        return spf_match_exists(c, name);
    case SPF_PTR:
        return spf_match_ptr(c, name);
    default:
        return 0;
    }
}

static auth_spf_result_t spf_qualified(char q)
{
    return q == '-'   ? AUTH_SPF_FAIL
           : q == '~' ? AUTH_SPF_SOFTFAIL
           : q == '?' ? AUTH_SPF_NEUTRAL
                      : AUTH_SPF_PASS;
}

/* Finds the one "v=spf1" record of a domain. */
static auth_spf_result_t spf_fetch(spf_ctx_t *c, const char *domain, const char **text)
{
    const auth_dns_rr_t *rr = spf_dns_get(c, domain, AUTH_DNS_TXT);
    size_t found = 0;

    if (rr->status == AUTH_DNS_TIMEOUT || rr->status == AUTH_DNS_FAIL)
        return spf_why(c, AUTH_SPF_TEMPERROR, "DNS error looking up TXT %s", domain);
    for (size_t i = 0; i < rr->nstrs; i++) {
        const char *s = rr->strs[i];
        if (strncasecmp(s, "v=spf1", 6) == 0 && (s[6] == ' ' || s[6] == '\0')) {
            *text = s;
            found++;
        }
    }
    if (found > 1)
        return spf_why(c, AUTH_SPF_PERMERROR, "%s has more than one SPF record", domain);
    if (found == 0)
        return spf_why(c, AUTH_SPF_NONE, "%s has no SPF record", domain);
    return AUTH_SPF_PASS;
}

/*
 * Appends the explanation of a FAIL (6.2) to the result's text: the one TXT
 * record at the expanded exp= domain, expanded as an explain-string. Its
 * look-up does not count towards the limits; any problem with it only means
 * no explanation.
 */
static void spf_explain(spf_ctx_t *c, const char *domain, const char *exp)
{
    char name[300], text[1024];
    const auth_dns_rr_t *rr;
    size_t n = strlen(c->why);

    if (exp == NULL || exp[0] == '\0' || spf_expand(c, domain, exp, 0, name, sizeof(name)) < 0 ||
        name[0] == '\0')
        return;
    rr = spf_dns_get(c, name, AUTH_DNS_TXT);
    if (rr->status != AUTH_DNS_OK || rr->nstrs != 1 ||
        spf_expand(c, domain, rr->strs[0], 1, text, sizeof(text)) < 0)
        return;
    if (n < c->whylen)
        snprintf(c->why + n, c->whylen - n, "; explanation: %s", text);
}

/*
 * check_host() (4): the result of domain's record for the client. explain
 * says whether a FAIL gets the record's exp= explanation: not inside an
 * include, whose result the including record only reads as match or not.
 */
static auth_spf_result_t spf_check_host(spf_ctx_t *c, const char *domain, int explain)
{
    spf_record_t rec;
    const char *text = NULL;
    char bad[300];
    auth_spf_result_t r = spf_fetch(c, domain, &text);
    int rc;

    if (r != AUTH_SPF_PASS)
        return r;
    if ((rc = spf_parse(text, &rec, bad, sizeof(bad))) < 0) {
        spf_free_record(&rec);
        if (rc == -2)
            return spf_why(c, AUTH_SPF_TEMPERROR, "out of memory at %s", domain);
        return spf_why(c, AUTH_SPF_PERMERROR, "syntax error at '%s'", bad);
    }
    r = AUTH_SPF_NEUTRAL;
    for (size_t i = 0; i < rec.nterms; i++) {
        const spf_term_t *t = &rec.terms[i];
        int m = spf_match(c, domain, t);
        if (m < 0 || m == 1) {
            r = m < 0 ? (auth_spf_result_t)-m : spf_qualified(t->qualifier);
            if (m == 1 && t->kind != SPF_INCLUDE) {
                char at[600];
                snprintf(at, sizeof(at), "%s matched in %s", t->text, domain);
                spf_why(c, r, "%s", at);
            }
            if (m == 1 && r == AUTH_SPF_FAIL && explain)
                spf_explain(c, domain, rec.exp);
            spf_free_record(&rec);
            return r;
        }
    }
    if (rec.redirect != NULL) {
        char name[300];
        if (spf_count_lookup(c) < 0)
            r = spf_why(c, AUTH_SPF_PERMERROR, "more than 10 DNS lookups (at redirect=%s)",
                        rec.redirect);
        else if (spf_expand(c, domain, rec.redirect, 0, name, sizeof(name)) < 0)
            r = spf_why(c, AUTH_SPF_PERMERROR, "bad macro in redirect=%s", rec.redirect);
        /* The target's own exp= explains its result; this record's does not (6.2). */
        else if ((r = spf_check_host(c, name, explain)) == AUTH_SPF_NONE)
            r = AUTH_SPF_PERMERROR;
    } else {
        spf_why(c, r, "no mechanism matched in %s", domain);
    }
    spf_free_record(&rec);
    return r;
}

/* A name we may look up: dotted, labels of 1-63 characters. */
static int spf_valid_domain(const char *d)
{
    size_t label = 0, n = strlen(d);

    if (n == 0 || n > 253 || strchr(d, '.') == NULL)
        return 0;
    for (const char *p = d;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63)
                return *p == '\0' && label == 0 && p > d; /* A final dot is fine. */
            if (*p == '\0')
                return 1;
            label = 0;
        } else if (!isgraph((unsigned char)*p)) {
            return 0;
        } else {
            label++;
        }
    }
}

auth_spf_result_t auth_spf_check(auth_dns_t *dns, const auth_spf_query_t *q, char *why,
                                 size_t whylen)
{
    spf_ctx_t c = {.dns = dns, .q = q, .v4 = cares_is_v4(q->ip), .why = why, .whylen = whylen};
    const char *domain = auth_spf_domain(q->sender);

    why[0] = '\0';
    if (!spf_valid_domain(domain)) {
        snprintf(why, whylen, "'%s' is not a domain name", domain);
        return AUTH_SPF_NONE;
    }
    return spf_check_host(&c, domain, 1);
}
