/*
 * dnsbl.c - parses DNS list specifications ("zen.example:ip:127.0.0.2-
 * 127.0.0.11:3") and decides whether an answer means listed, not listed,
 * or that the list refuses to answer us.
 */
#include "dnsbl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether a zone is a DNS name every query can be asked under: labels of
 * 1 to 63 letters, digits, '-' and '_' between single dots, at least two,
 * a final dot allowed. Any other (".zen.example", "zen..example") makes
 * every query a malformed name, which fails without being asked: the list
 * would never list anyone, and every message would show a failed lookup. */
static int zone_name_ok(const char *zone)
{
    size_t label = 0, labels = 0;

    for (const char *p = zone; *p != '\0'; p++) {
        if (*p == '.') {
            if (label == 0)
                return 0;
            labels++;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return labels + (label > 0) >= 2;
}

/* Copies the next ':'-separated field of *p into out; -1 when missing or too long. */
static int zone_field(const char **p, char *out, size_t outlen)
{
    const char *s = *p, *colon;
    size_t n;

    if (s == NULL)
        return -1;
    colon = strchr(s, ':');
    n = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (n == 0 || n >= outlen)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = colon != NULL ? colon + 1 : NULL;
    return 0;
}

static int zone_queries(char *text, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"ip", REP_Q_IP},   {"sender", REP_Q_SENDER}, {"helo", REP_Q_HELO},
        {"url", REP_Q_URL}, {"url_ip", REP_Q_URL_IP},
    };
    char *save = NULL;

    *out = 0;
    for (char *w = strtok_r(text, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < sizeof(names) / sizeof(names[0]) && strcmp(w, names[i].name) != 0)
            i++;
        if (i == sizeof(names) / sizeof(names[0]))
            return -1;
        *out |= names[i].bit;
    }
    return *out != 0 ? 0 : -1;
}

static int zone_addr(const char *text, uint32_t *out)
{
    struct in_addr a;

    if (inet_pton(AF_INET, text, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

/* One code: an address, a range "a-b", or a mask "&N". */
static int zone_code(char *w, rep_code_t *c)
{
    char *dash = strchr(w, '-'), *end;

    memset(c, 0, sizeof(*c));
    if (w[0] == '&') {
        unsigned long m = strtoul(w + 1, &end, 0);
        if (*end != '\0' || m == 0 || m > 0xffffffffUL)
            return -1;
        c->mask = (uint32_t)m;
        return 0;
    }
    if (dash != NULL)
        *dash = '\0';
    if (zone_addr(w, &c->lo) < 0 || zone_addr(dash != NULL ? dash + 1 : w, &c->hi) < 0)
        return -1;
    return c->lo <= c->hi ? 0 : -1;
}

static int zone_codes(char *text, rep_zone_t *z)
{
    char *save = NULL;

    if (strcmp(text, "any") == 0) {
        z->codes[0] = (rep_code_t){0x7f000000u, 0x7fffffffu, 0};
        z->ncodes = 1;
        return 0;
    }
    for (char *w = strtok_r(text, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
        if (z->ncodes == REP_MAX_CODES || zone_code(w, &z->codes[z->ncodes]) < 0)
            return -1;
        z->ncodes++;
    }
    return z->ncodes > 0 ? 0 : -1;
}

/* A score, a finite number: strtod reads "nan" and "inf" too, and the
 * engine would refuse such a score on every listed message. */
static int zone_score(const char *text, double *out)
{
    char *end;

    *out = strtod(text, &end);
    return *end == '\0' && isfinite(*out) ? 0 : -1;
}

/* PREFIX_ZONE_NAME in upper case, anything else than letters and digits as '_'. */
static void zone_symbol(char *out, size_t outlen, const char *prefix, const char *zone)
{
    int n = snprintf(out, outlen, "%s_", prefix);

    for (const char *p = zone; *p != '\0' && n >= 0 && (size_t)n + 1 < outlen; p++)
        out[n++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    out[n] = '\0';
}

int rep_zone_parse(const char *spec, const char *prefix, rep_zone_t *z, const char **why)
{
    char queries[64], codes[512], score[32];
    const char *p = spec;
    char blocked_prefix[64];

    memset(z, 0, sizeof(*z));
    if (zone_field(&p, z->zone, sizeof(z->zone)) < 0 || !zone_name_ok(z->zone)) {
        *why = "expected ZONE:QUERY:CODES:SCORE with a dotted zone of labels of 1 to 63 letters, "
               "digits, '-' and '_'";
        return -1;
    }
    if (zone_field(&p, queries, sizeof(queries)) < 0 || zone_queries(queries, &z->queries) < 0) {
        *why = "QUERY must be ip, sender, helo or url, joined by ','";
        return -1;
    }
    if (zone_field(&p, codes, sizeof(codes)) < 0 || zone_codes(codes, z) < 0) {
        *why = "CODES must be any, or addresses, ranges a-b and masks &N joined by ','";
        return -1;
    }
    if (zone_field(&p, score, sizeof(score)) < 0 || p != NULL || zone_score(score, &z->score) < 0) {
        *why = "SCORE must be a finite number, and nothing may follow it";
        return -1;
    }
    /* Only the client's address is not the sender's to choose: a bonus for a
     * sender domain, HELO name or link would be every spammer's, who need
     * only write one the list holds (a HELO of mail.google.com, a link to
     * a well-known site). */
    if (z->score < 0 && (z->queries & ~REP_Q_IP) != 0) {
        *why = "a negative SCORE is for ip queries only: a sender domain, HELO name or link is "
               "whatever the sender writes";
        return -1;
    }
    zone_symbol(z->symbol, sizeof(z->symbol), prefix, z->zone);
    snprintf(blocked_prefix, sizeof(blocked_prefix), "%s_BLOCKED", prefix);
    zone_symbol(z->blocked, sizeof(z->blocked), blocked_prefix, z->zone);
    return 0;
}

/* Whether the zone's codes name this one address by itself (not in a
 * range or a mask): the operator then knows the list uses it for a listing. */
static int names_exactly(const rep_zone_t *z, uint32_t answer)
{
    for (size_t i = 0; i < z->ncodes; i++)
        if (z->codes[i].mask == 0 && z->codes[i].lo == answer && z->codes[i].hi == answer)
            return 1;
    return 0;
}

int rep_zone_refusal(const rep_zone_t *z, uint32_t answer)
{
    if ((answer & 0xffffff00u) == 0x7fffff00u)
        return 1;
    /* URIBL and SURBL answer 127.0.0.1, dnswl.org 127.0.0.255, to a resolver
     * they refuse: under "any" or a range, every name or client would count
     * as listed (a bonus from an allow list), whatever it is. */
    return (answer == 0x7f000001u || answer == 0x7f0000ffu) && !names_exactly(z, answer);
}

int rep_zone_listed(const rep_zone_t *z, uint32_t answer)
{
    /* Only loopback answers are list answers; anything else is a hijacking resolver. */
    if ((answer >> 24) != 127 || rep_zone_refusal(z, answer))
        return 0;
    for (size_t i = 0; i < z->ncodes; i++) {
        const rep_code_t *c = &z->codes[i];
        if (c->mask != 0 ? (answer & c->mask) != 0 : (answer >= c->lo && answer <= c->hi))
            return 1;
    }
    return 0;
}
