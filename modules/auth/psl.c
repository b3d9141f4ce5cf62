/*
 * psl.c - the Public Suffix List as a sorted array of rules (plain,
 * "*." wildcards and "!" exceptions) and the longest-match search that
 * turns a name into its organizational domain.
 */
#include "psl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_psl {
    char **rules;
    size_t n, cap;
};

static int psl_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int psl_add(auth_psl_t *psl, const char *rule)
{
    if (psl->n == psl->cap) {
        size_t cap = psl->cap ? psl->cap * 2 : 1024;
        char **r = realloc(psl->rules, cap * sizeof(*r));
        if (r == NULL)
            return -1;
        psl->rules = r;
        psl->cap = cap;
    }
    if ((psl->rules[psl->n] = strdup(rule)) == NULL)
        return -1;
    psl->n++;
    return 0;
}

/* ---- IDN rules: the list writes them in Unicode, mail in "xn--" form ---- */

/* Decodes the UTF-8 of s[0..n) into cp; the number of code points, or -1. */
static int psl_utf8(const unsigned char *s, size_t n, unsigned *cp, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n; k++) {
        unsigned c = s[i], len = c < 0x80         ? 1
                                 : (c >> 5) == 6  ? 2
                                 : (c >> 4) == 14 ? 3
                                 : (c >> 3) == 30 ? 4
                                                  : 0;
        if (len == 0 || i + len > n || k == max)
            return -1;
        c = len == 1 ? c : c & (0xff >> (len + 1));
        for (unsigned j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return -1;
            c = c << 6 | (s[i + j] & 0x3f);
        }
        cp[k] = c;
        i += len;
    }
    return (int)k;
}

static unsigned psl_adapt(unsigned delta, unsigned points, int first)
{
    unsigned k = 0;
    delta = first ? delta / 700 : delta / 2;
    delta += delta / points;
    while (delta > ((36 - 1) * 26) / 2) {
        delta /= 36 - 1;
        k += 36;
    }
    return k + (36 * delta) / (delta + 38);
}

/* RFC 3492 Punycode of one label's code points, after "xn--"; -1 when it does not fit. */
static int psl_punycode(const unsigned *cp, size_t n, char *out, size_t outlen)
{
    size_t o = 0, b = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 >= outlen)                                                                       \
            return -1;                                                                             \
        out[o++] = (char)(ch);                                                                     \
    } while (0)
    for (const char *x = "xn--"; *x; x++)
        PUT(*x);
    for (size_t i = 0; i < n; i++)
        if (cp[i] < 0x80) {
            PUT(cp[i]);
            b++;
        }
    if (b > 0)
        PUT('-');
    unsigned cur = 128, delta = 0, bias = 72;
    for (size_t h = b; h < n;) {
        unsigned m = 0xffffffffu;
        for (size_t i = 0; i < n; i++)
            if (cp[i] >= cur && cp[i] < m)
                m = cp[i];
        delta += (m - cur) * (unsigned)(h + 1);
        cur = m;
        for (size_t i = 0; i < n; i++) {
            if (cp[i] < cur)
                delta++;
            if (cp[i] != cur)
                continue;
            unsigned q = delta;
            for (unsigned k = 36;; k += 36) {
                unsigned t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
                if (q < t)
                    break;
                unsigned d = t + (q - t) % (36 - t);
                PUT(d < 26 ? 'a' + d : '0' + d - 26);
                q = (q - t) / (36 - t);
            }
            PUT(q < 26 ? 'a' + q : '0' + q - 26);
            bias = psl_adapt(delta, (unsigned)(h + 1), h == b);
            delta = 0;
            h++;
        }
        delta++;
        cur++;
    }
#undef PUT
    out[o] = '\0';
    return 0;
}

/*
 * The rule with each non-ASCII label in its "xn--" form, as mail names it
 * ("公司.cn" -> "xn--55qx5d.cn"); 1 when it differs, 0 when the rule is
 * ASCII already, -1 when it cannot be converted.
 */
static int psl_ascii_rule(const char *rule, char *out, size_t outlen)
{
    size_t o = 0;
    int changed = 0;
    for (const char *p = rule; *p != '\0';) {
        size_t n = strcspn(p, ".");
        unsigned cp[64];
        char label[256];
        int k = psl_utf8((const unsigned char *)p, n, cp, 64);
        int ascii = k == (int)n;
        if (k < 0 || (!ascii && psl_punycode(cp, (size_t)k, label, sizeof(label)) != 0))
            return -1;
        const char *piece = ascii ? p : label;
        size_t len = ascii ? n : strlen(label);
        if (o + len + 2 > outlen)
            return -1;
        memcpy(out + o, piece, len);
        o += len;
        changed |= !ascii;
        p += n;
        if (*p == '.') {
            out[o++] = '.';
            p++;
        }
    }
    out[o] = '\0';
    return changed;
}

/* The rule of one line: its first word, lower case; "" for comments. */
static void psl_line_rule(char *line)
{
    size_t n = 0;

    if (line[0] == '/' && line[1] == '/') {
        line[0] = '\0';
        return;
    }
    while (line[n] != '\0' && !isspace((unsigned char)line[n])) {
        line[n] = (char)tolower((unsigned char)line[n]);
        n++;
    }
    line[n] = '\0';
}

int auth_psl_load(const char *path, auth_psl_t **out, char *err, size_t errlen)
{
    auth_psl_t *psl = calloc(1, sizeof(*psl));
    char line[512];
    FILE *f;

    if (psl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = psl;
    if (path == NULL || path[0] == '\0')
        return 0;
    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        auth_psl_destroy(out);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char ascii[512];
        psl_line_rule(line);
        /* An IDN rule is kept in both forms; a name in mail is in the ASCII one. */
        size_t skip = line[0] == '!' ? 1 : (line[0] == '*' && line[1] == '.') ? 2 : 0;
        int idn =
            line[0] != '\0' ? psl_ascii_rule(line + skip, ascii + skip, sizeof(ascii) - skip) : 0;
        memcpy(ascii, line, skip);
        if ((line[0] != '\0' && psl_add(psl, line) < 0) || (idn == 1 && psl_add(psl, ascii) < 0)) {
            fclose(f);
            snprintf(err, errlen, "out of memory reading %s", path);
            auth_psl_destroy(out);
            return -1;
        }
    }
    fclose(f);
    qsort(psl->rules, psl->n, sizeof(*psl->rules), psl_cmp);
    return 0;
}

void auth_psl_destroy(auth_psl_t **psl)
{
    if (psl == NULL || *psl == NULL)
        return;
    for (size_t i = 0; i < (*psl)->n; i++)
        free((*psl)->rules[i]);
    free((*psl)->rules);
    free(*psl);
    *psl = NULL;
}

static int psl_has(const auth_psl_t *psl, const char *prefix, const char *name, size_t len)
{
    char key[300];
    const char *k = key;

    snprintf(key, sizeof(key), "%s%.*s", prefix, (int)len, name);
    return psl->n > 0 && bsearch(&k, psl->rules, psl->n, sizeof(*psl->rules), psl_cmp) != NULL;
}

/* Where the public suffix of domain[0..len) starts. */
static const char *psl_suffix(const auth_psl_t *psl, const char *domain, size_t len)
{
    const char *end = domain + len, *last = memrchr(domain, '.', len);

    /* Left to right: the first rule to match is the longest one. */
    for (const char *cand = domain; cand != NULL;) {
        const char *parent = memchr(cand, '.', (size_t)(end - cand));
        if (psl_has(psl, "!", cand, (size_t)(end - cand)))
            return parent != NULL ? parent + 1 : cand;
        if (psl_has(psl, "", cand, (size_t)(end - cand)) ||
            (parent != NULL && psl_has(psl, "*.", parent + 1, (size_t)(end - parent - 1))))
            return cand;
        cand = parent != NULL ? parent + 1 : NULL;
    }
    /* The default rule "*": the last label is public. */
    return last != NULL ? last + 1 : domain;
}

void auth_psl_org_domain(const auth_psl_t *psl, const char *domain, char *out, size_t outlen)
{
    size_t len = strlen(domain);

    /*
     * Final dots are left out, here and in what comes back: one names the
     * same domain ("example.com." is example.com), more name none. Read as
     * an empty last label, a final dot made "com." the organizational
     * domain of every name under com, and DMARC's relaxed alignment then
     * took an SPF or DKIM pass for evil.com. as one for mail From
     * victim.com.. (whose domain the From reader gives as "victim.com.").
     */
    while (len > 0 && domain[len - 1] == '.')
        len--;
    const char *suffix = psl_suffix(psl, domain, len), *org = domain;

    /* One label more than the public suffix. */
    for (const char *p = domain; p < suffix; p++)
        if (*p == '.' && p + 1 < suffix)
            org = p + 1;
    if (suffix == domain)
        org = domain;
    snprintf(out, outlen, "%.*s", (int)(domain + len - org), org);
}
