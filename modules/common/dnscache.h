/*
 * dnscache.h - a bounded cache of DNS replies, shared by every worker of a
 * module instance, for the modules that ask DNS (reputation, auth): the same
 * sending addresses, link hosts, SPF includes, DKIM keys and DMARC records
 * come back all day, and each answer may be reused for as long as its TTL
 * says. Compiled into each module that needs it; not part of the SDK.
 *
 * What is kept is the reply itself: the raw bytes c-ares handed to the
 * query's callback, with the c-ares status that came with them. A module
 * parses a kept reply exactly as it parses one off the wire, so an answer
 * from the cache cannot differ from a fresh one, and one cache serves every
 * record type (A, AAAA, PTR, MX, TXT) without knowing any. Memory is bounded
 * twice, since replies run from tens of bytes (an A record) to kilobytes (a
 * DKIM key, a domain's TXT records): by a number of replies and by their
 * bytes, and a reply longer than DNSCACHE_MAX_REPLY is never kept.
 *
 * Thread rules: every call may run on any thread at once, except
 * dnscache_destroy(), which runs when no other call can.
 */
#ifndef SMF_MODULES_DNSCACHE_H
#define SMF_MODULES_DNSCACHE_H

#include <stddef.h>
#include <stdint.h>

/* How long a "no such name" without an SOA to tell is kept, in seconds. */
#define DNSCACHE_NEGATIVE_TTL_NO_SOA 60

/* The longest reply kept, in bytes: a DKIM key or a domain's TXT records fit. */
#define DNSCACHE_MAX_REPLY 16384

/*
 * The bytes of memory each answer of dns_cache_size allows: the byte budget
 * is their product. An A or PTR reply with its entry takes about 200, a TXT
 * reply from a hundred to a few thousand, so the count bounds a cache of
 * small answers and the bytes one of large answers.
 */
#define DNSCACHE_BYTES_PER_ANSWER 1024

/* The largest dns_cache_size the modules take (some 200 MB of small answers, at most
 * 1 GB of large ones), and the longest TTL option: a week, as resolvers cap it. */
#define DNSCACHE_SIZE_MAX 1000000
#define DNSCACHE_TTL_MAX 604800

typedef struct dnscache dnscache_t;

typedef struct dnscache_conf {
    size_t size;           /* Most replies kept; 0 makes no cache. */
    size_t max_bytes;      /* Most bytes all kept replies take, with their entries. */
    uint32_t max_ttl;      /* Most seconds any reply is kept. */
    uint32_t negative_ttl; /* Most seconds a "no such name" or "no such record" is kept. */
    /* The resolver the answers come from ("" for the system's): a cache of
     * another resolver's answers is not taken over at a reload. */
    char resolver[128];
} dnscache_conf_t;

/* Hits and misses so far, and what is kept, for the log. */
typedef struct dnscache_stats {
    uint64_t hits, misses, entries, bytes;
} dnscache_stats_t;

/*
 * A kept reply as dnscache_get() hands it back. buf is the caller's, to
 * release with dnscache_reply_free(); len is 0 (and buf NULL) for a negative
 * answer that came without a reply.
 */
typedef struct dnscache_reply {
    int status; /* ARES_SUCCESS, ARES_ENOTFOUND or ARES_ENODATA. */
    int len;
    unsigned char *buf;
} dnscache_reply_t;

/*
 * Checks the three options the modules share (dns_cache_size,
 * dns_cache_max_ttl, dns_cache_negative_ttl) and fills a configuration from
 * them, with the resolver's address (the dns_server option, NULL for the
 * system's). Returns 0, or -1 with a message naming the option, its range and
 * the value given in err: values that make no sense are refused, not bent.
 */
int dnscache_conf_from_options(long size, long max_ttl, long negative_ttl, const char *resolver,
                               dnscache_conf_t *out, char *err, size_t errlen);

/*
 * Makes a cache, or hands back the one the module's previous state made
 * when its configuration (resolver included) is the same: a reload keeps
 * what was learned.
 * Returns 0 with *out set (NULL when conf->size is 0: no cache, and every
 * call below accepts NULL), or -1 when out of memory.
 */
int dnscache_new(const dnscache_conf_t *conf, dnscache_t **out);

/*
 * The modules' way in: checks the options as dnscache_conf_from_options()
 * does and makes the cache with dnscache_new() (only the check when out is
 * NULL, for a state that asks no DNS). Returns 0, -1 for options that make
 * no sense or -2 out of memory, with the reason in err either way.
 */
int dnscache_open(long size, long max_ttl, long negative_ttl, const char *resolver,
                  dnscache_t **out, char *err, size_t errlen);

/* Lets go of the cache (freeing it when no state holds it any more) and
 * sets *cache to NULL. */
void dnscache_destroy(dnscache_t **cache);

/*
 * Looks up (name, type), ignoring the case of name. Returns 1 with a copy
 * of the live reply in *out, else 0 (also when the copy cannot be made: the
 * caller then asks the server as for any miss).
 */
int dnscache_get(dnscache_t *cache, const char *name, int type, dnscache_reply_t *out);

/* Frees what dnscache_get() copied out. */
void dnscache_reply_free(dnscache_reply_t *reply);

/*
 * Keeps the reply to (name, type) as c-ares handed it over, replacing what
 * was kept for it, when it says something that stays true for a while:
 * status ARES_SUCCESS for the lowest TTL of its answers, ARES_ENOTFOUND or
 * ARES_ENODATA for the negative TTL of its SOA (RFC 2308), or
 * DNSCACHE_NEGATIVE_TTL_NO_SOA without one; both within the configured
 * limits. Any other status (a timeout, SERVFAIL, a refusal) is never kept:
 * the next message asks again. The caller puts only replies it could parse.
 * The least recently used replies make room. abuf is copied.
 */
void dnscache_put(dnscache_t *cache, const char *name, int type, int status,
                  const unsigned char *abuf, int alen);

void dnscache_stats(dnscache_t *cache, dnscache_stats_t *out);

/* Writes what the cache saved ("DNS cache: N hits, ...") into buf, for the
 * log when a module's state ends, so that a site can size the cache.
 * Returns 0 when nothing was looked up (nothing worth a line). */
int dnscache_describe(dnscache_t *cache, char *buf, size_t len);

/*
 * The TTL a reply carries, from its raw bytes: the lowest TTL of the answer
 * section for a positive reply; for a negative one the SOA of the authority
 * section, the lower of its TTL and its MINIMUM field (RFC 2308). Returns 0
 * with *ttl set, or -1 when the reply holds none (or does not parse).
 */
int dnscache_reply_ttl(const unsigned char *abuf, int alen, int negative, uint32_t *ttl);

#endif
