/*
 * dnscache.h - a bounded cache of DNS answers, shared by every worker of a
 * module instance: the same sending addresses and link hosts come back all
 * day, and each answer may be reused for as long as its TTL says.
 *
 * Thread rules: every call may run on any thread at once, except
 * rep_dnscache_destroy(), which runs when no other call can.
 */
#ifndef REP_DNSCACHE_H
#define REP_DNSCACHE_H

#include "dns.h"

#include <stddef.h>
#include <stdint.h>

/* How long a "no such name" without an SOA to tell is kept, in seconds. */
#define REP_DNSCACHE_NEGATIVE_TTL_NO_SOA 60

typedef struct rep_dnscache rep_dnscache_t;

typedef struct rep_dnscache_conf {
    size_t size;           /* Most answers kept; 0 makes no cache. */
    uint32_t max_ttl;      /* Most seconds any answer is kept. */
    uint32_t negative_ttl; /* Most seconds a "no such name" or "no such record" is kept. */
} rep_dnscache_conf_t;

/* Hits and misses so far, for the log. */
typedef struct rep_dnscache_stats {
    uint64_t hits, misses, entries;
} rep_dnscache_stats_t;

/*
 * Makes a cache. Returns 0 with *out set (NULL when conf->size is 0: no
 * cache, and every call below accepts NULL), or -1 when out of memory.
 */
int rep_dnscache_new(const rep_dnscache_conf_t *conf, rep_dnscache_t **out);
void rep_dnscache_destroy(rep_dnscache_t **cache);

/*
 * Looks up (name, type), ignoring the case of name. Returns 1 with the
 * answer copied into *ans when a live one is kept, else 0.
 */
int rep_dnscache_get(rep_dnscache_t *cache, const char *name, int type, rep_dns_answer_t *ans);

/*
 * Keeps an answer for ttl seconds (capped by the configured limits),
 * replacing what was kept for (name, type). Only REP_DNS_OK and
 * REP_DNS_NOTFOUND answers are kept: a timeout, a SERVFAIL or a refusal
 * says nothing that stays true. The least recently used answer makes room.
 */
void rep_dnscache_put(rep_dnscache_t *cache, const char *name, int type,
                      const rep_dns_answer_t *ans, uint32_t ttl);

void rep_dnscache_stats(rep_dnscache_t *cache, rep_dnscache_stats_t *out);

/*
 * The TTL a reply carries, from its raw bytes: the lowest TTL of the answer
 * section for a positive reply; for a negative one the SOA of the authority
 * section, the lower of its TTL and its MINIMUM field (RFC 2308). Returns 0
 * with *ttl set, or -1 when the reply holds none (or does not parse).
 */
int rep_dnscache_reply_ttl(const unsigned char *abuf, int alen, int negative, uint32_t *ttl);

#endif
