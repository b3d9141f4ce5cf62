/*
 * listkeys.c - the one definition of how list entries are keyed and stored
 * in the lists namespace; compiled into smfcore (for smfctl) and into the
 * lists module, so that writer and reader cannot drift apart.
 */
#include "listkeys.h"
#include "idna.h"
#include "utf8.h"

#include <smf/module.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LISTKEY_VALUE_MAGIC 'L'
#define LISTKEY_META_VERSION 1
#define LISTKEY_VALUE_HEAD 12 /* magic, action, flags, pad, int64 added. */

static const char type_chars[LISTKEY_TYPES] = {'i', 's', 'd', 'h'};
static const char *const type_names[LISTKEY_TYPES] = {"ip", "sender", "domain", "helo"};

const char *listkey_type_name(listkey_type_t t)
{
    return (unsigned)t < LISTKEY_TYPES ? type_names[t] : "?";
}

const char *listkey_action_name(listkey_action_t a)
{
    return a == LISTKEY_BLOCK ? "block" : "allow";
}

int listkey_type_parse(const char *text, listkey_type_t *out)
{
    for (int t = 0; t < LISTKEY_TYPES; t++) {
        if (strcmp(text, type_names[t]) == 0) {
            *out = (listkey_type_t)t;
            return 0;
        }
    }
    return SMF_EINVAL;
}

int listkey_action_parse(const char *text, listkey_action_t *out)
{
    if (strcmp(text, "allow") == 0)
        *out = LISTKEY_ALLOW;
    else if (strcmp(text, "block") == 0)
        *out = LISTKEY_BLOCK;
    else
        return SMF_EINVAL;
    return 0;
}

int listkey_unquote(const char *src, char *dst)
{
    const char *end;

    if (src[0] != '"')
        return 0;
    for (end = src + 1; *end != '\0' && *end != '"'; end++) {
        if (*end == '\\' && end[1] != '\0')
            end++;
    }
    if (*end != '"' || end[1] != '@')
        return 0;
    for (src++; src < end; src++) {
        if (*src == '\\')
            src++;
        *dst++ = *src;
    }
    strcpy(dst, end + 1);
    return 1;
}

/*
 * An entry is written the way an operator copies an address, quotes and
 * all; the mail it must match is compared unquoted (lists_mailbox() in the
 * lists module), so the entry is kept unquoted too.
 */
int listkey_name_normalise(const char *src, char *dst, size_t dstlen)
{
    char plain[2 * LISTKEY_VALUE_MAX];
    size_t n = strlen(src);

    if (n < sizeof(plain) && listkey_unquote(src, plain))
        n = strlen(src = plain);
    if (n == 0 || n >= dstlen)
        return SMF_EINVAL;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    if (n > 1 && dst[n - 1] == '.')
        n--;
    dst[n] = '\0';
    return 0;
}

static int name_is_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s >= 0x80)
            return 0;
    }
    return 1;
}

/*
 * A host, domain or address in the one form entries are kept and looked up
 * in: normalised as above, and the host (after the last '@', past a leading
 * '.') as its A-label, so that "bücher.example", "BÜCHER.example" and
 * "xn--bcher-kva.example" are one name, for a block as for an allow. A host
 * that does not read as UTF-8 stays as it is: no entry can hold it, but its
 * parents (".example") still answer for it.
 */
int listkey_name_canon(const char *src, char *dst, size_t dstlen)
{
    char alabel[2 * LISTKEY_VALUE_MAX], *host;
    long n;

    if (listkey_name_normalise(src, dst, dstlen) < 0)
        return SMF_EINVAL;
    host = strrchr(dst, '@') != NULL ? strrchr(dst, '@') + 1 : dst;
    if (name_is_ascii(host))
        return 0;
    size_t head = (size_t)(host - dst);
    n = idna_host(host, strlen(host), alabel, sizeof(alabel));
    if (n < 0)
        return 0;
    if (head + (size_t)n >= dstlen)
        return SMF_EINVAL;
    memcpy(host, alabel, (size_t)n + 1);
    return 0;
}

/* The length of the label at s, up to the next dot or the end, or 0 when it
 * is no label: letters, digits, '_' and UTF-8, with '-' inside only. */
static size_t label_len(const unsigned char *s)
{
    size_t i = 0;

    while (s[i] != '\0' && s[i] != '.') {
        size_t n = s[i] >= 0x80 ? utf8_len(s + i, strlen((const char *)s + i))
                                : isalnum(s[i]) || s[i] == '_' || s[i] == '-';
        if (n == 0)
            return 0;
        i += n;
    }
    if (i == 0 || i > 63 || s[0] == '-' || s[i - 1] == '-')
        return 0;
    return i;
}

/*
 * A host or domain name as DNS can hold it: labels of 1 to 63 bytes,
 * separated by single dots, none starting or ending with '-', 253 bytes
 * in all. '_' is taken (some hosts say it in HELO) and so is UTF-8, the
 * form of an internationalised name in SMTPUTF8 mail.
 */
int listkey_name_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (strlen(s) > 253)
        return 0;
    for (;;) {
        size_t n = label_len(p);
        if (n == 0)
            return 0;
        if (p[n] == '\0')
            return 1;
        p += n + 1;
    }
}

/* local@domain: the domain a name, the local part anything printable but
 * blanks and angle brackets (senders do not all keep to RFC 5321's). */
int listkey_address_valid(const char *s)
{
    const char *at = strrchr(s, '@');

    if (at == NULL || at == s || !listkey_name_valid(at + 1))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)at; p++) {
        size_t n = *p >= 0x80 ? utf8_len(p, (size_t)((const unsigned char *)at - p))
                              : isgraph(*p) && *p != '<' && *p != '>';
        if (n == 0)
            return 0;
        p += n - 1;
    }
    return 1;
}

/* Writes the scope text with its domain (which starts at domain) as its
 * A-label; SMF_EINVAL when the result is no name DNS can hold or does not
 * fit whole. */
static int scope_with_alabel(const char *text, const char *domain, char *out, size_t outlen)
{
    char alabel[LISTKEY_SCOPE_MAX];
    long n = idna_host(domain, strlen(domain), alabel, sizeof(alabel));
    size_t head = (size_t)(domain - text);

    if (n < 0 || !listkey_name_valid(alabel) || head + (size_t)n >= outlen)
        return SMF_EINVAL;
    memcpy(out, text, head);
    memcpy(out + head, alabel, (size_t)n + 1);
    return 0;
}

int listkey_scope_parse(const char *text, char *out, size_t outlen)
{
    char norm[LISTKEY_SCOPE_MAX], plain[LISTKEY_SCOPE_MAX];

    if (strcmp(text, "global") == 0) {
        snprintf(out, outlen, "global");
        return 0;
    }
    if (strncmp(text, "user:", 5) == 0 && strlen(text) < sizeof(plain) &&
        listkey_unquote(text + 5, plain + 5)) {
        memcpy(plain, "user:", 5);
        text = plain;
    }
    if (listkey_name_normalise(text, norm, sizeof(norm)) < 0)
        return SMF_EINVAL;
    /* The engine names a recipient domain in another script by its A-label:
     * "domain:bücher.example" and "user:joe@bücher.example" are kept with
     * it, so that they match mail to the domain however it is spelled. */
    if (strncmp(norm, "domain:", 7) == 0 && listkey_name_valid(norm + 7))
        return scope_with_alabel(norm, norm + 7, out, outlen);
    if (strncmp(norm, "user:", 5) == 0 && listkey_address_valid(norm + 5))
        return scope_with_alabel(norm, strrchr(norm, '@') + 1, out, outlen);
    return SMF_EINVAL;
}

static void ip_mask(uint8_t ip[16], unsigned plen)
{
    for (unsigned bit = plen; bit < 128; bit++)
        ip[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

int listkey_ip_parse(const char *text, uint8_t ip[16], unsigned *plen)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    struct in_addr a4;
    unsigned max, v = 0;

    if (len == 0 || len >= sizeof(addr))
        return SMF_EINVAL;
    memcpy(addr, text, len);
    addr[len] = '\0';
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        memcpy(ip, mapped, 12);
        memcpy(ip + 12, &a4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, addr, ip) == 1) {
        max = 128;
    } else {
        return SMF_EINVAL;
    }
    if (slash == NULL) {
        v = max;
    } else {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3)
            return SMF_EINVAL;
        for (; *p != '\0'; p++) {
            if (!isdigit((unsigned char)*p))
                return SMF_EINVAL;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > max)
            return SMF_EINVAL;
    }
    /* An IPv4 prefix counts from bit 96 of the mapped form. */
    *plen = max == 32 ? v + 96 : v;
    ip_mask(ip, *plen);
    return 0;
}

/* Writes the canonical text of an IP entry: the masked address and its prefix. */
static void ip_format(const uint8_t ip[16], unsigned plen, char *out, size_t outlen)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char a[INET6_ADDRSTRLEN];

    if (plen >= 96 && memcmp(ip, mapped, 12) == 0) {
        inet_ntop(AF_INET, ip + 12, a, sizeof(a));
        if (plen == 128)
            snprintf(out, outlen, "%s", a);
        else
            snprintf(out, outlen, "%s/%u", a, plen - 96);
        return;
    }
    inet_ntop(AF_INET6, ip, a, sizeof(a));
    if (plen == 128)
        snprintf(out, outlen, "%s", a);
    else
        snprintf(out, outlen, "%s/%u", a, plen);
}

int listkey_value_parse(listkey_entry_t *e, const char *text)
{
    char norm[LISTKEY_VALUE_MAX];

    if (e->type == LISTKEY_IP) {
        if (listkey_ip_parse(text, e->ip, &e->plen) < 0)
            return SMF_EINVAL;
        ip_format(e->ip, e->plen, e->value, sizeof(e->value));
        return 0;
    }
    if (listkey_name_canon(text, norm, sizeof(norm)) < 0)
        return SMF_EINVAL;
    if (e->type == LISTKEY_SENDER ? !listkey_address_valid(norm)
                                  : !listkey_name_valid(norm[0] == '.' ? norm + 1 : norm))
        return SMF_EINVAL;
    snprintf(e->value, sizeof(e->value), "%s", norm);
    return 0;
}

int listkey_auth_default(listkey_type_t t, listkey_action_t a)
{
    /* Anyone can write any envelope sender: allowing one needs proof. */
    return a == LISTKEY_ALLOW && (t == LISTKEY_SENDER || t == LISTKEY_DOMAIN);
}

int listkey_entry_check(const listkey_entry_t *e, const char **why)
{
    if (e->type == LISTKEY_HELO && e->action == LISTKEY_ALLOW) {
        *why = "HELO names cannot be allowed: any client can claim any name";
        return SMF_EINVAL;
    }
    return 0;
}

/* SCOPE \t T \t, the start of every entry key of that scope and type. */
static size_t key_head(const char *scope, char t, uint8_t *out)
{
    size_t n = strlen(scope);

    if (n + 3 > LISTKEY_MAX)
        return 0;
    memcpy(out, scope, n);
    out[n] = '\t';
    out[n + 1] = (uint8_t)t;
    out[n + 2] = '\t';
    return n + 3;
}

size_t listkey_ip_key(const char *scope, const uint8_t ip[16], unsigned plen, uint8_t *out)
{
    size_t n = key_head(scope, type_chars[LISTKEY_IP], out);
    size_t bytes = (plen + 7) / 8;

    if (n == 0 || n + 1 + bytes > LISTKEY_MAX)
        return 0;
    out[n] = (uint8_t)plen;
    memcpy(out + n + 1, ip, bytes);
    /* The caller's address may carry host bits: clear them in the key. */
    if (plen % 8 != 0)
        out[n + bytes] &= (uint8_t)(0xffu << (8 - plen % 8));
    return n + 1 + bytes;
}

size_t listkey_name_key(const char *scope, listkey_type_t t, const char *name, uint8_t *out)
{
    size_t n = key_head(scope, type_chars[t], out), len = strlen(name);

    if (n == 0 || n + len > LISTKEY_MAX)
        return 0;
    memcpy(out + n, name, len);
    return n + len;
}

size_t listkey_key(const listkey_entry_t *e, uint8_t *out)
{
    if (e->type == LISTKEY_IP)
        return listkey_ip_key(e->scope, e->ip, e->plen, out);
    return listkey_name_key(e->scope, e->type, e->value, out);
}

size_t listkey_meta_key(const char *scope, uint8_t *out)
{
    size_t n = strlen(scope);

    if (n + 2 > LISTKEY_MAX)
        return 0;
    memcpy(out, scope, n);
    out[n] = '\t';
    out[n + 1] = '#';
    return n + 2;
}

int listkey_key_decode(const void *key, size_t len, listkey_entry_t *e)
{
    const char *k = key;
    const char *tab = memchr(k, '\t', len);
    size_t n = tab != NULL ? (size_t)(tab - k) : 0;

    if (tab == NULL || n == 0 || n >= sizeof(e->scope) || n + 1 >= len)
        return -1;
    memcpy(e->scope, k, n);
    e->scope[n] = '\0';
    if (k[n + 1] == '#')
        return 0;
    for (int t = 0; t < LISTKEY_TYPES; t++) {
        if (k[n + 1] == type_chars[t] && n + 2 < len && k[n + 2] == '\t') {
            e->type = (listkey_type_t)t;
            return 1;
        }
    }
    return -1;
}

size_t listkey_value_encode(const listkey_entry_t *e, uint8_t *out, size_t outlen)
{
    size_t n = strlen(e->value);

    if (LISTKEY_VALUE_HEAD + n > outlen)
        return 0;
    out[0] = LISTKEY_VALUE_MAGIC;
    out[1] = (uint8_t)e->action;
    out[2] = (uint8_t)e->flags;
    out[3] = 0;
    memcpy(out + 4, &e->added, 8);
    memcpy(out + LISTKEY_VALUE_HEAD, e->value, n);
    return LISTKEY_VALUE_HEAD + n;
}

int listkey_value_decode(const void *val, size_t len, listkey_entry_t *e)
{
    const uint8_t *v = val;
    size_t n = len - LISTKEY_VALUE_HEAD;

    if (len < LISTKEY_VALUE_HEAD || v[0] != LISTKEY_VALUE_MAGIC || v[1] > LISTKEY_BLOCK ||
        n >= sizeof(e->value))
        return SMF_EINVAL;
    e->action = (listkey_action_t)v[1];
    e->flags = v[2];
    memcpy(&e->added, v + 4, 8);
    memcpy(e->value, v + LISTKEY_VALUE_HEAD, n);
    e->value[n] = '\0';
    return 0;
}

void listkey_meta_decode(const void *val, size_t len, listkey_meta_t *m)
{
    memset(m, 0, sizeof(*m));
    if (val != NULL && len == sizeof(*m))
        memcpy(m, val, sizeof(*m));
    if (m->version != LISTKEY_META_VERSION)
        memset(m, 0, sizeof(*m));
    m->version = LISTKEY_META_VERSION;
}

/* Adds delta to a counter without wrapping below zero. */
static void count_add(uint32_t *c, int delta)
{
    if (delta < 0 && *c < (uint32_t)-delta)
        *c = 0;
    else
        *c += (uint32_t)delta;
}

void listkey_meta_count(listkey_meta_t *m, const listkey_entry_t *e, int delta)
{
    count_add(&m->types[e->type], delta);
    if (e->type == LISTKEY_IP && e->plen <= 128)
        count_add(&m->plens[e->plen], delta);
}

/* Splits the next blank-separated word off *p; NULL at the end. */
static char *next_word(char **p)
{
    char *s = *p, *w;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NULL;
    w = s;
    while (*s != '\0' && *s != ' ' && *s != '\t')
        s++;
    if (*s != '\0')
        *s++ = '\0';
    *p = s;
    return w;
}

/* Fills scope, type and action from the first three words of a full line. */
static int line_head(char **words, listkey_entry_t *e, const char **why)
{
    if (listkey_scope_parse(words[0], e->scope, sizeof(e->scope)) < 0) {
        *why = "bad scope (global, domain:D or user:ADDR)";
        return SMF_EINVAL;
    }
    if (listkey_type_parse(words[1], &e->type) < 0) {
        *why = "bad type (ip, sender, domain or helo)";
        return SMF_EINVAL;
    }
    if (listkey_action_parse(words[2], &e->action) < 0) {
        *why = "bad action (allow or block)";
        return SMF_EINVAL;
    }
    e->flags = listkey_auth_default(e->type, e->action) ? LISTKEY_AUTH : 0;
    return 0;
}

int listkey_line_parse(const char *line, const listkey_entry_t *defaults, listkey_entry_t *e,
                       const char **why)
{
    char buf[1024], *p = buf, *words[6];
    size_t n = 0;

    if (strlen(line) >= sizeof(buf)) {
        *why = "line too long";
        return SMF_EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", line);
    buf[strcspn(buf, "\r\n")] = '\0';
    while (n < 6 && (words[n] = next_word(&p)) != NULL)
        n++;
    if (n == 0 || words[0][0] == '#')
        return 0;
    memset(e, 0, sizeof(*e));
    if (n == 1 && defaults != NULL) {
        *e = *defaults;
    } else if (n == 4 || n == 5) {
        if (line_head(words, e, why) < 0)
            return SMF_EINVAL;
        if (n == 5 && strcmp(words[4], "auth") == 0) {
            e->flags |= LISTKEY_AUTH;
        } else if (n == 5 && strcmp(words[4], "noauth") == 0) {
            e->flags &= ~(unsigned)LISTKEY_AUTH;
        } else if (n == 5) {
            *why = "the fifth word must be auth or noauth";
            return SMF_EINVAL;
        }
    } else {
        *why = "expected SCOPE TYPE ACTION VALUE [auth|noauth]";
        return SMF_EINVAL;
    }
    if (listkey_value_parse(e, words[n == 1 ? 0 : 3]) < 0) {
        *why = "bad value for its type";
        return SMF_EINVAL;
    }
    if (listkey_entry_check(e, why) < 0)
        return SMF_EINVAL;
    return 1;
}

int listkey_line_format(const listkey_entry_t *e, char *buf, size_t len)
{
    int auth_matters = e->action == LISTKEY_ALLOW && e->type != LISTKEY_IP;

    return snprintf(buf, len, "%s %s %s %s%s", e->scope, listkey_type_name(e->type),
                    listkey_action_name(e->action), e->value,
                    !auth_matters               ? ""
                    : (e->flags & LISTKEY_AUTH) ? " auth"
                                                : " noauth");
}
