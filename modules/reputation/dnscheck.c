/*
 * dnscheck.c - sends every DNS list query and the reverse lookup of the
 * client at once, then turns the answers into symbols: listed zones, zones
 * that refuse our resolver (a health problem, score 0), timeouts, and a
 * client whose name does not lead back to its address.
 */
#include "dnscheck.h"
#include "cares.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_QUERIES 256

/* The outcome of one zone. */
typedef struct zone_result {
    const char *listed;  /* "name -> 127.0.0.2", first hit. */
    const char *refused; /* Why we think the zone refuses us. */
    const char *timeout; /* A query that got no answer. */
} zone_result_t;

/* Forward-confirmed reverse DNS, step by step. */
typedef struct fcrdns_state {
    int started, ptr_status, forward_pending, confirmed, timeout;
    char first_name[256];
} fcrdns_state_t;

typedef struct check_ctx {
    smf_msg_t *msg;
    rep_dns_t *dns;
    const rep_dnscheck_conf_t *conf;
    const rep_dnscheck_query_t *q;
    zone_result_t *zones;
    fcrdns_state_t fc;
    size_t nqueries;
    char (*asked)[256];        /* Names already asked, to ask each once. */
    size_t skipped;            /* Distinct names dropped at MAX_QUERIES. */
    const char *skipped_first; /* The first name dropped. */
    uint64_t *skipped_seen;    /* Hashes of the names dropped, open addressing. */
    size_t skipped_cap;        /* Slots in skipped_seen, a power of two. */
} check_ctx_t;

/* The argument of one zone query's callback. */
typedef struct zone_query {
    check_ctx_t *ctx;
    size_t zone;
} zone_query_t;

static void zone_answer(void *arg, const char *name, const rep_dns_answer_t *ans)
{
    zone_query_t *zq = arg;
    check_ctx_t *ctx = zq->ctx;
    zone_result_t *r = &ctx->zones[zq->zone];
    const rep_zone_t *z = &ctx->conf->zones[zq->zone];

    if (ans->status == REP_DNS_REFUSED && r->refused == NULL)
        r->refused = smf_msg_printf(ctx->msg, "%s: REFUSED", name);
    if ((ans->status == REP_DNS_TIMEOUT || ans->status == REP_DNS_FAIL) && r->timeout == NULL)
        r->timeout = smf_msg_printf(ctx->msg, "%s: %s", name,
                                    ans->status == REP_DNS_TIMEOUT ? "timeout" : "SERVFAIL");
    for (size_t i = 0; ans->status == REP_DNS_OK && i < ans->naddrs; i++) {
        const uint8_t *a = ans->addrs[i] + 12;
        uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
        if (rep_zone_refusal(z, v) && r->refused == NULL)
            r->refused =
                smf_msg_printf(ctx->msg, "%s -> %u.%u.%u.%u", name, a[0], a[1], a[2], a[3]);
        else if (rep_zone_listed(z, v) && r->listed == NULL)
            r->listed = smf_msg_printf(ctx->msg, "%s -> %u.%u.%u.%u", name, a[0], a[1], a[2], a[3]);
    }
}

/* A name's hash for the set of names dropped, case folded as DNS names
 * compare; never 0, which marks a free slot. */
static uint64_t name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = name; *p != '\0'; p++)
        h = (h ^ (unsigned char)tolower((unsigned char)*p)) * 1099511628211ULL;
    return h | 1;
}

/* Adds h to the set of names dropped; false when it was there already. The
 * set lives in the message arena and doubles when half full. */
static bool skipped_add(check_ctx_t *ctx, uint64_t h)
{
    if (2 * (ctx->skipped + 1) > ctx->skipped_cap) {
        size_t cap = ctx->skipped_cap ? 2 * ctx->skipped_cap : 256;
        uint64_t *t = smf_msg_alloc(ctx->msg, cap * sizeof(*t));
        if (t == NULL)
            return true; /* Counted, if perhaps twice: the report still says so. */
        memset(t, 0, cap * sizeof(*t));
        for (size_t i = 0; i < ctx->skipped_cap; i++) {
            size_t j = ctx->skipped_seen[i] & (cap - 1);
            while (ctx->skipped_seen[i] != 0 && t[j] != 0)
                j = (j + 1) & (cap - 1);
            t[j] = ctx->skipped_seen[i];
        }
        ctx->skipped_seen = t;
        ctx->skipped_cap = cap;
    }
    size_t j = h & (ctx->skipped_cap - 1);
    for (; ctx->skipped_seen[j] != 0; j = (j + 1) & (ctx->skipped_cap - 1))
        if (ctx->skipped_seen[j] == h)
            return false;
    ctx->skipped_seen[j] = h;
    return true;
}

/* Asks NAME.ZONE once per scan. */
/* Queues one query; false when the name was asked already (or cannot be).
 * Past MAX_QUERIES a name is counted as dropped instead, once, and true
 * still says it was new: the caller's max_url_hosts counts the names a
 * message needed, asked or not. A name's final dots ("mail.example." in a
 * HELO) are dropped: they would make an empty label, a query that fails
 * instead of being asked. */
static bool zone_ask(check_ctx_t *ctx, size_t zone, const char *name)
{
    char full[256];
    zone_query_t *zq;
    int n = (int)strnlen(name, sizeof(full));

    while (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || snprintf(full, sizeof(full), "%.*s.%s", n, name, ctx->conf->zones[zone].zone) >=
                      (int)sizeof(full))
        return false;
    for (size_t i = 0; i < ctx->nqueries; i++) {
        if (strcasecmp(ctx->asked[i], full) == 0)
            return false;
    }
    if (ctx->nqueries == MAX_QUERIES) {
        /* Counted, so that the report says which lists went unasked. */
        if (!skipped_add(ctx, name_hash(full)))
            return false;
        if (ctx->skipped++ == 0)
            ctx->skipped_first = smf_msg_printf(ctx->msg, "%s", full);
        return true;
    }
    if ((zq = smf_msg_alloc(ctx->msg, sizeof(*zq))) == NULL)
        return false;
    zq->ctx = ctx;
    zq->zone = zone;
    snprintf(ctx->asked[ctx->nqueries++], 256, "%s", full);
    rep_dns_query(ctx->dns, full, REP_DNS_A, zone_answer, zq);
    return true;
}

/*
 * Asks a domain list about a name and about the registered domain it may
 * sit under: its last three labels and its last two ("www.spammer.example"
 * is also asked as "spammer.example", "a.spam.co.example" as
 * "spam.co.example" and "co.example"). URIBL and SURBL hold registered
 * domains only and answer "no such name" for any name below one, so a
 * spammer's links to fresh subdomains would otherwise all pass. Whether
 * any of these names was new is returned, for max_url_hosts: a host too
 * long to ask under the zone is still asked as its parents, and were it
 * not counted, links to such hosts under ever new domains would ask
 * without end and use up MAX_QUERIES before the next zones ask anything.
 */
static bool zone_ask_domain(check_ctx_t *ctx, size_t zone, const char *name)
{
    bool fresh = zone_ask(ctx, zone, name);
    size_t n = strlen(name);
    int labels = 0;

    while (n > 0 && name[n - 1] == '.')
        n--;
    for (size_t i = n; i > 0 && labels < 3; i--) {
        if (name[i - 1] != '.')
            continue;
        /* name + i holds the name's last `labels` labels, fewer than the
         * name has: a parent, asked when it has two or three. */
        if (++labels >= 2 && zone_ask(ctx, zone, name + i))
            fresh = true;
    }
    return fresh;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Whether p[0..n) is an IPv6 literal in brackets ("[2001:db8::1]"); its
 * address in ip. */
static bool url_v6_literal(const char *p, size_t n, uint8_t ip[16])
{
    char inner[INET6_ADDRSTRLEN + 16];

    if (n < 3 || p[0] != '[' || p[n - 1] != ']' || n - 2 >= sizeof(inner))
        return false;
    memcpy(inner, p + 1, n - 2);
    inner[n - 2] = '\0';
    return inet_pton(AF_INET6, inner, ip) == 1;
}

/*
 * The host of a URL ("http://user@Host:8080/x" -> "host"), or "" for none.
 * As a browser reads it: the user info ends at the last '@' before the
 * path, a backslash ends the host as '/' does, "%65vil.example" is
 * "evil.example", and the dots at the end of a name ("evil.example.") do
 * not count. An IPv6 literal comes back in its brackets ("[2001:db8::1]").
 * A host with bytes no DNS name holds comes back as "".
 */
static void url_host(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://"), *end;
    size_t n = 0;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += 3;
    end = p + strcspn(p, "/?#\\");
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            p = q + 1;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        uint8_t ip[16];
        n = close != NULL ? (size_t)(close - p) + 1 : 0;
        if (n == 0 || n >= outlen || !url_v6_literal(p, n, ip))
            return;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)tolower((unsigned char)p[i]);
        out[n] = '\0';
        return;
    }
    end = p + strcspn(p, ":/?#\\");
    /* Built aside and copied only when whole: out holds a host or "". */
    char name[256];
    for (; p < end; p++) {
        int c = (unsigned char)*p;
        if (c == '%' && end - p >= 3 && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
            c = hex_value(p[1]) << 4 | hex_value(p[2]);
            p += 2;
        }
        if (n + 1 >= sizeof(name) || n + 1 >= outlen || c == 0 ||
            !(isalnum(c) || c == '.' || c == '-' || c == '_'))
            return;
        name[n++] = (char)tolower(c);
    }
    while (n > 0 && name[n - 1] == '.')
        n--;
    memcpy(out, name, n);
    out[n] = '\0';
}

/* Whether a host is an IP address: an IPv4 one in any form a browser reads
 * as one ("192.0.2.1", "3221225985", "0xc0.0.2.1"), or an IPv6 literal in
 * brackets; its 16-byte form (IPv4 mapped) in ip. */
static bool url_host_ip(const char *host, uint8_t ip[16])
{
    struct in_addr a;
    size_t n = strlen(host);

    if (host[0] == '[')
        return url_v6_literal(host, n, ip);
    if (host[0] == '\0' || strspn(host, "0123456789.xabcdef") != n || inet_aton(host, &a) == 0)
        return false;
    cares_map_v4(ip, &a.s_addr);
    return true;
}

/* Whether a host is only digits and dots: an address, or a broken one,
 * never a name a domain list could hold. */
static bool url_host_numeric(const char *host)
{
    return strspn(host, "0123456789.") == strlen(host);
}

bool rep_ip_nat64(const uint8_t ip[16], uint8_t out[16])
{
    static const uint8_t prefix[12] = {0x00, 0x64, 0xff, 0x9b};
    uint8_t v4[4];

    if (memcmp(ip, prefix, sizeof(prefix)) != 0)
        return false;
    /* Copied aside first: out may be ip. */
    memcpy(v4, ip + 12, 4);
    cares_map_v4(out, v4);
    return true;
}

/* Whether ip is a 6to4 address (2002::/16, RFC 3056): its /48 is the
 * network of whoever holds the IPv4 address in bits 16 to 47, written to
 * out, mapped. */
static bool ip_6to4(const uint8_t ip[16], uint8_t out[16])
{
    uint8_t v4[4];

    if (ip[0] != 0x20 || ip[1] != 0x02)
        return false;
    memcpy(v4, ip + 2, 4);
    cares_map_v4(out, v4);
    return true;
}

/*
 * Addresses no DNS list holds: this network, private networks, loopback,
 * link-local, shared (CGN), multicast and reserved, the IETF protocol
 * assignments (192.0.0.0/24), benchmarking and documentation networks,
 * whether a link's host or the client: the special-purpose ones IANA marks
 * as not globally reachable. Asking about them gains nothing, tells the
 * list's operator about our own network, and 127.0.0.2 is the test entry
 * every list answers as listed. For IPv6: ::/8 (unspecified, loopback, the
 * old IPv4-compatible form and other reserved ones), discard-only
 * 100::/64, benchmarking 2001:2::/48, documentation 2001:db8::/32, unique
 * local fc00::/7, link-local fe80::/10, the old site-local fec0::/10 and
 * multicast ff00::/8. An IPv4-mapped address counts as its IPv4 address;
 * so does a NAT64 or 6to4 one, the caller's to unwrap (ip_list_form).
 */
static bool ip_private(const uint8_t ip[16])
{
    const uint8_t *a = ip + 12;

    if (!cares_is_v4(ip))
        return ip[0] == 0 || (ip[0] & 0xfe) == 0xfc || (ip[0] == 0xfe && ip[1] >= 0x80) ||
               ip[0] == 0xff || (ip[0] == 0x01 && memcmp(ip + 1, "\0\0\0\0\0\0\0", 7) == 0) ||
               (ip[0] == 0x20 && ip[1] == 0x01 && ip[2] == 0x0d && ip[3] == 0xb8) ||
               (ip[0] == 0x20 && ip[1] == 0x01 && ip[2] == 0x00 && ip[3] == 0x02 && ip[4] == 0 &&
                ip[5] == 0);
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 || (a[0] == 169 && a[1] == 254) ||
           (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
           (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
           (a[0] == 192 && a[1] == 0 && a[2] == 2) || (a[0] == 198 && (a[1] & 0xfe) == 18) ||
           (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113);
}

/*
 * The address a list is asked about for ip, and judged private by: the
 * IPv4 address a NAT64 or 6to4 one carries, otherwise ip itself. Behind
 * NAT64 the IPv4 address is the peer; a 6to4 network is its IPv4 holder's,
 * whom the lists know by that address (a spam-sending host listed by its
 * IPv4 address would otherwise go unlisted through 6to4, which lists of
 * IPv6 addresses do not cover), and one of a private IPv4 address is no
 * address of the Internet at all.
 */
static void ip_list_form(const uint8_t ip[16], uint8_t out[16])
{
    if (!rep_ip_nat64(ip, out) && !ip_6to4(ip, out) && out != ip)
        memcpy(out, ip, 16);
}

/* Asks a zone about each distinct URL host (url) or URL address (url_ip). */
static void zone_ask_urls(check_ctx_t *ctx, size_t zone, unsigned what)
{
    char host[256], rev[80];
    uint8_t ip[16];
    size_t asked = 0;

    for (size_t i = 0; i < smf_msg_url_count(ctx->msg); i++) {
        if ((long)asked >= ctx->conf->max_url_hosts)
            break;
        url_host(smf_msg_url(ctx->msg, i), host, sizeof(host));
        const char *name = NULL;
        if (url_host_ip(host, ip)) {
            ip_list_form(ip, ip);
            if ((what & REP_Q_URL_IP) && !ip_private(ip)) {
                rep_dns_reverse(ip, rev, sizeof(rev));
                name = rev;
            }
        } else if ((what & REP_Q_URL) && strchr(host, '.') != NULL && !url_host_numeric(host)) {
            /* A name needs a dot to be worth a question. */
            name = host;
        }
        /* Only distinct hosts count: repeating one link must not use up the budget. */
        if (name == NULL)
            continue;
        if (name == host ? zone_ask_domain(ctx, zone, name) : zone_ask(ctx, zone, name))
            asked++;
    }
}

/*
 * Whether a sender domain or HELO name is worth asking a domain list: a
 * name with a dot, of letters, digits, '-', '_' and dots only, judged
 * without its final dots ("localhost." is "localhost", a name of no dot,
 * and would otherwise be asked as it). An address ("x@[192.0.2.1]",
 * "x@192.0.2.1", a HELO "192.0.2.1.") is no name such a list holds, and
 * some lists answer a query for one with a code of their own that a wide
 * CODES range would read as listed.
 */
static bool domain_askable(const char *name)
{
    size_t n = strlen(name);

    while (n > 0 && name[n - 1] == '.')
        n--;
    if (memchr(name, '.', n) == NULL || strspn(name, "0123456789.") >= n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)name[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static void zones_ask(check_ctx_t *ctx)
{
    char rev[80];
    uint8_t ip[16];
    bool ask_ip = false;
    bool ask_sender = domain_askable(ctx->q->sender_domain);
    bool ask_helo = domain_askable(ctx->q->helo);

    /* A client on a private or loopback address is not asked about. */
    if (ctx->q->ip != NULL) {
        ip_list_form(ctx->q->ip, ip);
        ask_ip = !ip_private(ip);
    }
    if (ask_ip)
        rep_dns_reverse(ip, rev, sizeof(rev));
    for (size_t z = 0; z < ctx->conf->nzones; z++) {
        unsigned what = ctx->conf->zones[z].queries;
        if ((what & REP_Q_IP) && ask_ip)
            zone_ask(ctx, z, rev);
        if ((what & REP_Q_SENDER) && ask_sender)
            zone_ask_domain(ctx, z, ctx->q->sender_domain);
        if ((what & REP_Q_HELO) && ask_helo)
            zone_ask_domain(ctx, z, ctx->q->helo);
        if (what & (REP_Q_URL | REP_Q_URL_IP))
            zone_ask_urls(ctx, z, what);
    }
}

static void fcrdns_forward(void *arg, const char *name, const rep_dns_answer_t *ans)
{
    check_ctx_t *ctx = arg;

    ctx->fc.forward_pending--;
    /* A lookup that failed (a timeout, SERVFAIL, REFUSED) says nothing about
     * the client: it must not read as "does not lead back". */
    if (ans->status != REP_DNS_OK && ans->status != REP_DNS_NOTFOUND)
        ctx->fc.timeout = 1;
    /* Addresses past those kept could be the client's: not knowing is no penalty. */
    if (ans->status == REP_DNS_OK && ans->more)
        ctx->fc.timeout = 1;
    for (size_t i = 0; ans->status == REP_DNS_OK && i < ans->naddrs; i++)
        ctx->fc.confirmed |= memcmp(ans->addrs[i], ctx->q->ip, 16) == 0;
}

/* The PTR names are in: ask each for the client's address family. */
static void fcrdns_ptr(void *arg, const char *name, const rep_dns_answer_t *ans)
{
    check_ctx_t *ctx = arg;
    int type = cares_is_v4(ctx->q->ip) ? REP_DNS_A : REP_DNS_AAAA;

    ctx->fc.ptr_status = ans->status;
    if (ans->status != REP_DNS_OK)
        return;
    /* A name past those kept could lead back: not knowing is no penalty. */
    if (ans->more)
        ctx->fc.timeout = 1;
    snprintf(ctx->fc.first_name, sizeof(ctx->fc.first_name), "%s", ans->names[0]);
    for (size_t i = 0; i < ans->nnames; i++) {
        if (rep_dns_query(ctx->dns, ans->names[i], type, fcrdns_forward, ctx) == 0)
            ctx->fc.forward_pending++;
    }
}

static void fcrdns_ask(check_ctx_t *ctx)
{
    char rev[80], name[100];

    if (!ctx->conf->fcrdns || ctx->q->ip == NULL)
        return;
    rep_dns_reverse(ctx->q->ip, rev, sizeof(rev));
    snprintf(name, sizeof(name), "%s.%s", rev,
             cares_is_v4(ctx->q->ip) ? "in-addr.arpa" : "ip6.arpa");
    ctx->fc.started = rep_dns_query(ctx->dns, name, REP_DNS_PTR, fcrdns_ptr, ctx) == 0;
}

/* Symbols of one zone; refusals are health problems, never points. */
static int zone_report(check_ctx_t *ctx, size_t z)
{
    const rep_zone_t *zone = &ctx->conf->zones[z];
    const zone_result_t *r = &ctx->zones[z];
    int rc = 0;

    if (r->refused != NULL) {
        /* The engine logs it once a minute, counts it and publishes it. */
        smf_health(ctx->msg, smf_msg_printf(ctx->msg,
                                            "DNS list %s refuses our resolver: its answers "
                                            "are not used",
                                            zone->zone));
        rc = smf_msg_add_symbol(ctx->msg, zone->blocked, 0, r->refused);
    }
    if (rc == 0 && r->listed != NULL && r->refused == NULL)
        rc = smf_msg_add_symbol(ctx->msg, zone->symbol, zone->score, r->listed);
    if (rc == 0 && r->timeout != NULL)
        rc = smf_msg_add_symbol(ctx->msg, "REP_DNS_TIMEOUT", 0, r->timeout);
    return rc;
}

/* A message that needs more than MAX_QUERIES names (many URL hosts times
 * many zones) is only partly checked: the report says so rather than
 * passing it as if every list had been asked. */
static int skipped_report(check_ctx_t *ctx)
{
    if (ctx->skipped == 0)
        return 0;
    return smf_msg_add_symbol(ctx->msg, "REP_DNS_SKIPPED", 0,
                              smf_msg_printf(ctx->msg,
                                             "%zu queries past the limit of %d per message, "
                                             "from %s on",
                                             ctx->skipped, MAX_QUERIES,
                                             ctx->skipped_first ? ctx->skipped_first : "?"));
}

static int fcrdns_report(check_ctx_t *ctx)
{
    const char *why = NULL;

    /* One name that leads back is enough, whatever the others' lookups did. */
    if (!ctx->fc.started || (ctx->fc.ptr_status == REP_DNS_OK && ctx->fc.confirmed))
        return 0;
    if ((ctx->fc.ptr_status != REP_DNS_OK && ctx->fc.ptr_status != REP_DNS_NOTFOUND) ||
        ctx->fc.timeout)
        return smf_msg_add_symbol(
            ctx->msg, "REP_DNS_TIMEOUT", 0,
            smf_msg_printf(ctx->msg, "reverse DNS of %s: no usable answer", ctx->q->ip_text));
    if (ctx->fc.ptr_status == REP_DNS_NOTFOUND)
        why = smf_msg_printf(ctx->msg, "%s has no PTR name", ctx->q->ip_text);
    else if (ctx->fc.ptr_status == REP_DNS_OK && !ctx->fc.confirmed)
        why = smf_msg_printf(ctx->msg, "%s -> %s, which does not lead back", ctx->q->ip_text,
                             ctx->fc.first_name);
    if (why == NULL)
        return 0;
    return smf_msg_add_symbol(ctx->msg, "REP_NO_FCRDNS", ctx->conf->no_fcrdns_score, why);
}

int rep_dnscheck_run(smf_msg_t *msg, rep_dns_t *dns, const rep_dnscheck_conf_t *c,
                     const rep_dnscheck_query_t *q, long budget_ms)
{
    check_ctx_t ctx = {.msg = msg, .dns = dns, .conf = c, .q = q};
    int rc = 0;

    ctx.zones = smf_msg_alloc(msg, (c->nzones + 1) * sizeof(*ctx.zones));
    ctx.asked = smf_msg_alloc(msg, MAX_QUERIES * sizeof(*ctx.asked));
    if (ctx.zones == NULL || ctx.asked == NULL)
        return SMF_ENOMEM;
    memset(ctx.zones, 0, (c->nzones + 1) * sizeof(*ctx.zones));
    zones_ask(&ctx);
    fcrdns_ask(&ctx);
    rep_dns_wait(dns, budget_ms);
    for (size_t z = 0; z < c->nzones && rc == 0; z++)
        rc = zone_report(&ctx, z);
    if (rc == 0)
        rc = skipped_report(&ctx);
    return rc == 0 ? fcrdns_report(&ctx) : rc;
}
