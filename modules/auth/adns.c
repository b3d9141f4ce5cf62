/*
 * adns.c - c-ares queries in the design of the reputation module's client,
 * with TXT, MX and PTR answers and a per-message cache: SPF, DKIM and DMARC start
 * their first queries together, then wait for answers one at a time. Below
 * the per-message cache, a cache shared by every worker keeps the replies for
 * their TTL, for the next messages from the same senders.
 */
#include "adns.h"

#include "cares.h"
#include "dnscache.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One cached query: its answer, or pending until c-ares calls back. */
typedef struct auth_dns_entry {
    struct auth_dns_entry *next;
    auth_dns_t *dns;
    int type;
    int pending;
    char name[256];
    auth_dns_rr_t rr;
} auth_dns_entry_t;

struct auth_dns {
    ares_channel channel;
    auth_dns_entry_t *cache; /* This message's queries. */
    dnscache_t *shared;      /* Every worker's replies, borrowed; NULL for none. */
    long deadline;
};

int auth_dns_new(const char *server, long timeout_ms, long tries, auth_dns_t **out, char *err,
                 size_t errlen)
{
    auth_dns_t *dns = calloc(1, sizeof(*dns));
    if (dns == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cares_open(&dns->channel, server, timeout_ms, tries, err, errlen) != 0) {
        free(dns);
        return -1;
    }
    *out = dns;
    return 0;
}

void auth_dns_set_cache(auth_dns_t *dns, dnscache_t *cache)
{
    dns->shared = cache;
}

void auth_dns_destroy(auth_dns_t **dns)
{
    if (dns == NULL || *dns == NULL)
        return;
    auth_dns_end(*dns);
    ares_destroy((*dns)->channel);
    free(*dns);
    *dns = NULL;
}

static auth_dns_status_t auth_dns_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return AUTH_DNS_OK;
    case ARES_ENOTFOUND:
        return AUTH_DNS_NXDOMAIN;
    case ARES_ENODATA:
        return AUTH_DNS_NODATA;
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return AUTH_DNS_TIMEOUT;
    default:
        return AUTH_DNS_FAIL;
    }
}

/*
 * Copies a TXT string with each NUL byte as DEL (0x7f). Kept, a NUL would
 * end the C string there, and the next string of the record would be
 * joined to what came before it ("+a", NUL, then "ll" read as "+all");
 * DEL is no character SPF, DKIM or DMARC syntax allows, so a record with
 * one reads as the syntax error it is.
 */
static void auth_dns_copy_txt(char *dst, const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = s[i] != '\0' ? (char)s[i] : '\x7f';
    dst[len] = '\0';
}

static int auth_dns_add_str(auth_dns_rr_t *rr, const char *s, size_t len)
{
    char **strs = realloc(rr->strs, (rr->nstrs + 1) * sizeof(*strs));
    char *copy = malloc(len + 1);

    if (strs != NULL)
        rr->strs = strs;
    if (strs == NULL || copy == NULL) {
        free(copy);
        return -1;
    }
    auth_dns_copy_txt(copy, (const unsigned char *)s, len);
    rr->strs[rr->nstrs++] = copy;
    return 0;
}

/* Appends to the last TXT record: one record may hold several strings. */
static int auth_dns_append_str(auth_dns_rr_t *rr, const unsigned char *s, size_t len)
{
    char *last = rr->strs[rr->nstrs - 1];
    size_t old = strlen(last);
    char *grown = realloc(last, old + len + 1);

    if (grown == NULL)
        return -1;
    auth_dns_copy_txt(grown + old, s, len);
    rr->strs[rr->nstrs - 1] = grown;
    return 0;
}

static int auth_dns_parse_txt(const unsigned char *abuf, int alen, auth_dns_rr_t *rr)
{
    struct ares_txt_ext *txt = NULL;
    int rc = 0;

    if (ares_parse_txt_reply_ext(abuf, alen, &txt) != ARES_SUCCESS)
        return -1;
    for (struct ares_txt_ext *t = txt; t != NULL && rc == 0; t = t->next) {
        if (t->record_start || rr->nstrs == 0)
            rc = auth_dns_add_str(rr, (const char *)t->txt, t->length);
        else
            rc = auth_dns_append_str(rr, t->txt, t->length);
    }
    ares_free_data(txt);
    return rc;
}

static int auth_dns_by_priority(const void *a, const void *b)
{
    const struct ares_mx_reply *x = *(const struct ares_mx_reply *const *)a;
    const struct ares_mx_reply *y = *(const struct ares_mx_reply *const *)b;

    return (int)x->priority - (int)y->priority;
}

static int auth_dns_parse_mx(const unsigned char *abuf, int alen, auth_dns_rr_t *rr)
{
    struct ares_mx_reply *mx = NULL, *sorted[64];
    size_t n = 0;
    int rc = 0;

    if (ares_parse_mx_reply(abuf, alen, &mx) != ARES_SUCCESS)
        return -1;
    for (struct ares_mx_reply *m = mx; m != NULL && n < 64; m = m->next)
        sorted[n++] = m;
    qsort(sorted, n, sizeof(sorted[0]), auth_dns_by_priority);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = auth_dns_add_str(rr, sorted[i]->host, strlen(sorted[i]->host));
    ares_free_data(mx);
    return rc;
}

static int auth_dns_parse_ptr(const unsigned char *abuf, int alen, auth_dns_rr_t *rr)
{
    struct hostent *host = NULL;
    /* Without an address to copy into the hostent, c-ares only collects the names. */
    int rc = ares_parse_ptr_reply(abuf, alen, NULL, 0, AF_INET, &host);

    if (rc == ARES_ENODATA)
        return 0; /* Only CNAMEs or other types: no names, hence NODATA. */
    if (rc != ARES_SUCCESS)
        return -1;
    rc = 0;
    /* Every PTR name of the answer is among the aliases, the first one too. */
    for (char **a = host->h_aliases; a != NULL && *a != NULL && rc == 0; a++)
        rc = auth_dns_add_str(rr, *a, strlen(*a));
    ares_free_hostent(host);
    return rc;
}

static int auth_dns_parse_addrs(int type, const unsigned char *abuf, int alen, auth_dns_rr_t *rr)
{
    struct ares_addrttl a[32];
    struct ares_addr6ttl a6[32];
    int n = 32;

    if (type == AUTH_DNS_A) {
        if (ares_parse_a_reply(abuf, alen, NULL, a, &n) != ARES_SUCCESS)
            return -1;
    } else if (ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n) != ARES_SUCCESS) {
        return -1;
    }
    if (n > 0 && (rr->addrs = calloc((size_t)n, 16)) == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        if (type == AUTH_DNS_A) {
            cares_map_v4(rr->addrs[i], &a[i].ipaddr);
        } else {
            memcpy(rr->addrs[i], &a6[i].ip6addr, 16);
        }
    }
    rr->naddrs = (size_t)n;
    return 0;
}

/* Fills an entry's answer from a reply, off the wire or from the shared cache: the same
 * parse for both. Returns -1 when the reply does not parse, else 0. */
static int auth_dns_fill(auth_dns_entry_t *e, int status, const unsigned char *abuf, int alen)
{
    int rc = 0;

    e->pending = 0;
    e->rr.status = auth_dns_status(status);
    if (e->rr.status != AUTH_DNS_OK)
        return 0;
    if (e->type == AUTH_DNS_TXT)
        rc = auth_dns_parse_txt(abuf, alen, &e->rr);
    else if (e->type == AUTH_DNS_MX)
        rc = auth_dns_parse_mx(abuf, alen, &e->rr);
    else if (e->type == AUTH_DNS_PTR)
        rc = auth_dns_parse_ptr(abuf, alen, &e->rr);
    else
        rc = auth_dns_parse_addrs(e->type, abuf, alen, &e->rr);
    if (rc < 0)
        e->rr.status = AUTH_DNS_FAIL;
    else if (e->rr.nstrs == 0 && e->rr.naddrs == 0)
        e->rr.status = AUTH_DNS_NODATA;
    return rc;
}

static void auth_dns_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    auth_dns_entry_t *e = arg;

    (void)timeouts;
    /* The shared cache keeps records and "no such name" for their TTL, never a timeout, a
     * SERVFAIL or a refusal: SPF and DMARC temperrors are asked again by the next message. */
    if (auth_dns_fill(e, status, abuf, alen) == 0)
        dnscache_put(e->dns->shared, e->name, e->type, status, abuf, alen);
}

/* Answers an entry from the shared cache: 1 when it held the reply, else 0. */
static int auth_dns_cached(auth_dns_t *dns, auth_dns_entry_t *e)
{
    dnscache_reply_t reply;

    if (!dnscache_get(dns->shared, e->name, e->type, &reply))
        return 0;
    auth_dns_fill(e, reply.status, reply.buf, reply.len);
    dnscache_reply_free(&reply);
    return 1;
}

static auth_dns_entry_t *auth_dns_find(auth_dns_t *dns, const char *name, int type)
{
    for (auth_dns_entry_t *e = dns->cache; e != NULL; e = e->next)
        if (e->type == type && strcasecmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* The cache entry for a query, started now if it is new; NULL when out of memory. */
static auth_dns_entry_t *auth_dns_start(auth_dns_t *dns, const char *name, int type)
{
    auth_dns_entry_t *e = auth_dns_find(dns, name, type);

    if (e != NULL)
        return e;
    if (strlen(name) >= sizeof(e->name) || (e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->dns = dns;
    e->type = type;
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->next = dns->cache;
    dns->cache = e;
    /* A kept reply costs no time: it answers even past the deadline. */
    if (auth_dns_cached(dns, e))
        return e;
    if (auth_dns_expired(dns)) {
        e->rr.status = AUTH_DNS_TIMEOUT;
        return e;
    }
    e->pending = 1;
    ares_query(dns->channel, name, 1 /* IN */, type, auth_dns_done, e);
    return e;
}

void auth_dns_begin(auth_dns_t *dns, long budget_ms)
{
    auth_dns_end(dns);
    dns->deadline = cares_now_ms() + (budget_ms > 0 ? budget_ms : 0);
}

int auth_dns_expired(const auth_dns_t *dns)
{
    return cares_now_ms() >= dns->deadline;
}

void auth_dns_end(auth_dns_t *dns)
{
    auth_dns_entry_t *e, *next;

    /* Cancelled queries call back into their entries, so free those after. */
    ares_cancel(dns->channel);
    for (e = dns->cache; e != NULL; e = next) {
        next = e->next;
        for (size_t i = 0; i < e->rr.nstrs; i++)
            free(e->rr.strs[i]);
        free(e->rr.strs);
        free(e->rr.addrs);
        free(e);
    }
    dns->cache = NULL;
}

void auth_dns_prefetch(auth_dns_t *dns, const char *name, int type)
{
    (void)auth_dns_start(dns, name, type);
}

const auth_dns_rr_t *auth_dns_get(auth_dns_t *dns, const char *name, int type)
{
    static const auth_dns_rr_t failed = {.status = AUTH_DNS_FAIL};
    auth_dns_entry_t *e = auth_dns_start(dns, name, type);

    if (e == NULL)
        return &failed;
    while (e->pending) {
        long left = dns->deadline - cares_now_ms();
        if (left <= 0) {
            /* Out of time: the answers still open become timeouts. */
            ares_cancel(dns->channel);
            break;
        }
        cares_poll(dns->channel, left);
    }
    if (e->pending) {
        e->pending = 0;
        e->rr.status = AUTH_DNS_TIMEOUT;
    }
    return &e->rr;
}

void auth_dns_reverse_name(const uint8_t ip[16], char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    if (cares_is_v4(ip)) {
        snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", ip[15], ip[14], ip[13], ip[12]);
        return;
    }
    for (int i = 15; i >= 0 && n + 4 < len; i--) {
        out[n++] = hex[ip[i] & 15];
        out[n++] = '.';
        out[n++] = hex[ip[i] >> 4];
        out[n++] = '.';
    }
    snprintf(out + n, len - n, "ip6.arpa");
}

int auth_dns_name_ok(const char *name)
{
    size_t label = 0, n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] != '.') {
            if (++label > 63)
                return 0;
        } else if (label == 0) {
            return 0;
        } else {
            label = 0;
        }
    }
    return label > 0;
}
