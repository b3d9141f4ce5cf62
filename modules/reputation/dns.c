/*
 * dns.c - a thin layer over c-ares: start queries, poll their sockets under
 * one time budget, turn each reply into addresses or names and a status a
 * caller can judge (listed, not listed, refused, timed out).
 */
#include "dns.h"
#include "dnscache.h"

#include "cares.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* What c-ares hands back to one query's callback, or what the cache answered. */
typedef struct rep_dns_req {
    rep_dns_t *dns;
    int type;
    rep_dns_cb cb;
    void *arg;
    char name[256];
    struct rep_dns_req *next; /* In the list of cached answers not yet handed over. */
    rep_dns_answer_t ans;     /* The cached answer. */
} rep_dns_req_t;

struct rep_dns {
    ares_channel channel;
    size_t pending;
    dnscache_t *cache; /* Shared, borrowed; NULL for none. */
    /* Answers found in the cache, handed over in rep_dns_wait() in the order asked. */
    rep_dns_req_t *ready, *ready_last;
};

int rep_dns_new(const char *server, long timeout_ms, long tries, rep_dns_t **out, char *err,
                size_t errlen)
{
    rep_dns_t *dns = calloc(1, sizeof(*dns));
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

void rep_dns_set_cache(rep_dns_t *dns, dnscache_t *cache)
{
    dns->cache = cache;
}

void rep_dns_destroy(rep_dns_t **dns)
{
    if (dns == NULL || *dns == NULL)
        return;
    ares_destroy((*dns)->channel);
    for (rep_dns_req_t *r = (*dns)->ready, *next; r != NULL; r = next) {
        next = r->next;
        free(r);
    }
    free(*dns);
    *dns = NULL;
}

static rep_dns_status_t rep_dns_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return REP_DNS_OK;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
        return REP_DNS_NOTFOUND;
    case ARES_EREFUSED:
        return REP_DNS_REFUSED;
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return REP_DNS_TIMEOUT;
    default:
        return REP_DNS_FAIL;
    }
}

/* Fills the addresses of an A or AAAA reply. */
static int rep_dns_parse_addrs(const rep_dns_req_t *req, const unsigned char *abuf, int alen,
                               rep_dns_answer_t *ans)
{
    /* Room for one more than is kept tells a full reply from a longer one. */
    int n = REP_DNS_MAX_ADDRS + 1;
    if (req->type == REP_DNS_A) {
        struct ares_addrttl a[REP_DNS_MAX_ADDRS + 1];
        if (ares_parse_a_reply(abuf, alen, NULL, a, &n) != ARES_SUCCESS)
            return -1;
        ans->more = n > REP_DNS_MAX_ADDRS;
        ans->naddrs = ans->more ? REP_DNS_MAX_ADDRS : (size_t)n;
        for (size_t i = 0; i < ans->naddrs; i++)
            cares_map_v4(ans->addrs[i], &a[i].ipaddr);
        return 0;
    }
    struct ares_addr6ttl a6[REP_DNS_MAX_ADDRS + 1];
    if (ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n) != ARES_SUCCESS)
        return -1;
    ans->more = n > REP_DNS_MAX_ADDRS;
    ans->naddrs = ans->more ? REP_DNS_MAX_ADDRS : (size_t)n;
    for (size_t i = 0; i < ans->naddrs; i++)
        memcpy(ans->addrs[i], &a6[i].ip6addr, 16);
    return 0;
}

/* Adds a PTR name unless it is there already; 1 when there was no room. */
static int rep_dns_add_name(rep_dns_answer_t *ans, const char *name)
{
    for (size_t i = 0; i < ans->nnames; i++) {
        if (strcasecmp(ans->names[i], name) == 0)
            return 0;
    }
    if (ans->nnames == REP_DNS_MAX_NAMES)
        return 1;
    snprintf(ans->names[ans->nnames++], sizeof(ans->names[0]), "%s", name);
    return 0;
}

/* Fills the names of a PTR reply. c-ares gives the first name both as the
 * host's name and among its aliases: each is kept, and so asked, once. */
static int rep_dns_parse_ptr(const unsigned char *abuf, int alen, rep_dns_answer_t *ans)
{
    struct hostent *h = NULL;
    struct in_addr dummy = {0};

    if (ares_parse_ptr_reply(abuf, alen, &dummy, sizeof(dummy), AF_INET, &h) != ARES_SUCCESS)
        return -1;
    if (h->h_name != NULL)
        rep_dns_add_name(ans, h->h_name);
    for (size_t i = 0; h->h_aliases != NULL && h->h_aliases[i] != NULL; i++) {
        if (rep_dns_add_name(ans, h->h_aliases[i]))
            ans->more = 1;
    }
    ares_free_hostent(h);
    return 0;
}

/* The answer of a reply, off the wire or from the cache: the same parse for both. */
static void rep_dns_answer_of(const rep_dns_req_t *req, int status, const unsigned char *abuf,
                              int alen, rep_dns_answer_t *ans)
{
    memset(ans, 0, sizeof(*ans));
    ans->status = rep_dns_status(status);
    if (ans->status == REP_DNS_OK) {
        int rc = req->type == REP_DNS_PTR ? rep_dns_parse_ptr(abuf, alen, ans)
                                          : rep_dns_parse_addrs(req, abuf, alen, ans);
        if (rc < 0)
            ans->status = REP_DNS_FAIL;
    }
}

static void rep_dns_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    rep_dns_req_t *req = arg;
    rep_dns_answer_t ans;

    (void)timeouts;
    rep_dns_answer_of(req, status, abuf, alen, &ans);
    /* The cache keeps what stays true for a while (records, "no such name"),
     * never a timeout, a SERVFAIL or a refusal: the next message asks again. */
    if (ans.status == REP_DNS_OK || ans.status == REP_DNS_NOTFOUND)
        dnscache_put(req->dns->cache, req->name, req->type, status, abuf, alen);
    req->dns->pending--;
    req->cb(req->arg, req->name, &ans);
    free(req);
}

/* Fills req's answer from the cache: 1 when it held one, else 0. */
static int rep_dns_cached(rep_dns_t *dns, rep_dns_req_t *req)
{
    dnscache_reply_t reply;

    if (!dnscache_get(dns->cache, req->name, req->type, &reply))
        return 0;
    rep_dns_answer_of(req, reply.status, reply.buf, reply.len, &req->ans);
    dnscache_reply_free(&reply);
    return 1;
}

int rep_dns_query(rep_dns_t *dns, const char *name, int type, rep_dns_cb cb, void *arg)
{
    rep_dns_req_t *req = calloc(1, sizeof(*req));

    if (req == NULL || strlen(name) >= sizeof(req->name)) {
        free(req);
        return -1;
    }
    req->dns = dns;
    req->type = type;
    req->cb = cb;
    req->arg = arg;
    snprintf(req->name, sizeof(req->name), "%s", name);
    dns->pending++;
    /* A cached answer waits for rep_dns_wait(), where callers expect answers. */
    if (rep_dns_cached(dns, req)) {
        if (dns->ready_last != NULL)
            dns->ready_last->next = req;
        else
            dns->ready = req;
        dns->ready_last = req;
        return 0;
    }
    ares_query(dns->channel, name, 1 /* IN */, type, rep_dns_done, req);
    return 0;
}

/* Hands over the cached answers; their callbacks may ask more, cached or not. */
static void rep_dns_hand_over(rep_dns_t *dns)
{
    while (dns->ready != NULL) {
        rep_dns_req_t *req = dns->ready;
        dns->ready = req->next;
        if (dns->ready == NULL)
            dns->ready_last = NULL;
        dns->pending--;
        req->cb(req->arg, req->name, &req->ans);
        free(req);
    }
}

void rep_dns_wait(rep_dns_t *dns, long budget_ms)
{
    long deadline = cares_now_ms() + (budget_ms > 0 ? budget_ms : 0);

    for (rep_dns_hand_over(dns); dns->pending > 0; rep_dns_hand_over(dns)) {
        long left = deadline - cares_now_ms();
        if (left <= 0)
            break;
        cares_poll(dns->channel, left);
    }
    /* Whatever is still open is answered REP_DNS_TIMEOUT through ares_cancel;
     * answers from the cache cost no time and are handed over all the same. */
    for (int i = 0; i < 4 && dns->pending > 0; i++) {
        rep_dns_hand_over(dns);
        ares_cancel(dns->channel);
    }
    rep_dns_hand_over(dns);
}

void rep_dns_reverse(const uint8_t ip[16], char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    if (cares_is_v4(ip)) {
        snprintf(out, outlen, "%u.%u.%u.%u", ip[15], ip[14], ip[13], ip[12]);
        return;
    }
    for (int i = 15; i >= 0 && n + 4 < outlen; i--) {
        out[n++] = hex[ip[i] & 0x0f];
        out[n++] = '.';
        out[n++] = hex[ip[i] >> 4];
        out[n++] = '.';
    }
    out[n > 0 ? n - 1 : 0] = '\0';
}
