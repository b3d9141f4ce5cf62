/*
 * dnscache.c - DNS replies kept for their TTL: a hash table to find one and
 * a list in order of use to drop the least recently used when full (of
 * replies or of bytes), both under one mutex, so a lookup or an insert costs
 * the same at any size.
 */
#include "dnscache.h"
#include "cares.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One kept reply. Its bytes, then its key, follow it in data. */
typedef struct entry {
    struct entry *hnext;       /* Next in the same hash bucket, or in a list to free. */
    struct entry *prev, *next; /* The list in order of use, newest first. */
    uint64_t hash;
    long expires_ms; /* On the monotonic clock. */
    int type;
    int status; /* The c-ares status the reply came with. */
    int len;
    size_t cost;      /* The bytes it counts against the budget. */
    const char *name; /* The key, in lower case. */
    unsigned char data[];
} entry_t;

struct dnscache {
    /*
     * One lock for the whole cache: it is held for a probe and a copy of a
     * reply, far less than a query's round trip, and a single list in order
     * of use keeps eviction exact.
     */
    pthread_mutex_t lock;
    dnscache_conf_t conf;
    entry_t **buckets;
    size_t mask; /* Buckets minus one; their number is a power of two. */
    size_t count, bytes;
    entry_t *newest, *oldest;
    uint64_t hits, misses;
    unsigned refs; /* States holding it; under shared_lock. */
};

/*
 * The cache the module's latest state made. A reload makes a new state
 * while the old one still scans; with the same options it takes this cache
 * over instead of starting cold (smfd reloads whenever the virus database
 * changes, which is hourly on many hosts). Each module's copy of this file
 * has its own.
 */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static dnscache_t *shared;

int dnscache_conf_from_options(long size, long max_ttl, long negative_ttl, const char *resolver,
                               dnscache_conf_t *out, char *err, size_t errlen)
{
    /* Whole, so that two configurations compare byte by byte. */
    memset(out, 0, sizeof(*out));
    if (size < 0 || size > DNSCACHE_SIZE_MAX) {
        snprintf(err, errlen, "dns_cache_size must be 0 (no cache) to %d, not %ld",
                 DNSCACHE_SIZE_MAX, size);
        return -1;
    }
    if (max_ttl <= 0 || max_ttl > DNSCACHE_TTL_MAX) {
        snprintf(err, errlen, "dns_cache_max_ttl must be 1 to %d seconds, not %ld",
                 DNSCACHE_TTL_MAX, max_ttl);
        return -1;
    }
    if (negative_ttl < 0 || negative_ttl > DNSCACHE_TTL_MAX) {
        snprintf(err, errlen, "dns_cache_negative_ttl must be 0 (none kept) to %d seconds, not %ld",
                 DNSCACHE_TTL_MAX, negative_ttl);
        return -1;
    }
    out->size = (size_t)size;
    out->max_bytes = (size_t)size * DNSCACHE_BYTES_PER_ANSWER;
    out->max_ttl = (uint32_t)max_ttl;
    out->negative_ttl = (uint32_t)negative_ttl;
    snprintf(out->resolver, sizeof(out->resolver), "%s", resolver != NULL ? resolver : "");
    return 0;
}

int dnscache_new(const dnscache_conf_t *conf, dnscache_t **out)
{
    dnscache_t *c;
    size_t nb = 16;

    *out = NULL;
    if (conf->size == 0)
        return 0;
    pthread_mutex_lock(&shared_lock);
    if (shared != NULL && memcmp(&shared->conf, conf, sizeof(*conf)) == 0) {
        shared->refs++;
        *out = shared;
        pthread_mutex_unlock(&shared_lock);
        return 0;
    }
    pthread_mutex_unlock(&shared_lock);
    while (nb < conf->size)
        nb *= 2;
    if ((c = calloc(1, sizeof(*c))) == NULL ||
        (c->buckets = calloc(nb, sizeof(entry_t *))) == NULL) {
        free(c);
        return -1;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->conf = *conf;
    c->mask = nb - 1;
    c->refs = 1;
    pthread_mutex_lock(&shared_lock);
    shared = c; /* Options changed: the next state with these takes this one. */
    pthread_mutex_unlock(&shared_lock);
    *out = c;
    return 0;
}

int dnscache_open(long size, long max_ttl, long negative_ttl, const char *resolver,
                  dnscache_t **out, char *err, size_t errlen)
{
    dnscache_conf_t conf;
    if (dnscache_conf_from_options(size, max_ttl, negative_ttl, resolver, &conf, err, errlen) < 0)
        return -1;
    if (out != NULL && dnscache_new(&conf, out) < 0) {
        snprintf(err, errlen, "out of memory for the DNS cache");
        return -2;
    }
    return 0;
}

void dnscache_destroy(dnscache_t **cache)
{
    dnscache_t *c = cache != NULL ? *cache : NULL;

    if (c == NULL)
        return;
    *cache = NULL;
    pthread_mutex_lock(&shared_lock);
    bool last = --c->refs == 0;
    if (last && shared == c)
        shared = NULL;
    pthread_mutex_unlock(&shared_lock);
    if (!last)
        return;
    for (entry_t *e = c->newest, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
    *cache = NULL;
}

/* FNV-1a over the lower-cased name, then the type: DNS names ignore case. */
static uint64_t key_hash(const char *name, int type)
{
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        h = (h ^ (uint64_t)tolower(*p)) * 1099511628211ULL;
    return (h ^ (uint64_t)type) * 1099511628211ULL;
}

static entry_t **bucket_of(dnscache_t *c, uint64_t hash)
{
    return &c->buckets[hash & c->mask];
}

/* Unlinks e from the list in order of use. */
static void lru_unlink(dnscache_t *c, entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->newest = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->oldest = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(dnscache_t *c, entry_t *e)
{
    e->prev = NULL;
    e->next = c->newest;
    if (c->newest != NULL)
        c->newest->prev = e;
    c->newest = e;
    if (c->oldest == NULL)
        c->oldest = e;
}

/* The slot that points at (name, type), or at the NULL ending its bucket. */
static entry_t **find_slot(dnscache_t *c, const char *name, int type, uint64_t hash)
{
    entry_t **slot = bucket_of(c, hash);

    while (*slot != NULL && !((*slot)->hash == hash && (*slot)->type == type &&
                              strcasecmp((*slot)->name, name) == 0))
        slot = &(*slot)->hnext;
    return slot;
}

/* Takes e out of the table and the list and onto *freed, which the caller
 * frees outside the lock. */
static void remove_entry(dnscache_t *c, entry_t *e, entry_t **freed)
{
    entry_t **slot = bucket_of(c, e->hash);

    while (*slot != e)
        slot = &(*slot)->hnext;
    *slot = e->hnext;
    lru_unlink(c, e);
    c->count--;
    c->bytes -= e->cost;
    e->hnext = *freed;
    *freed = e;
}

static void free_list(entry_t *e)
{
    for (entry_t *next; e != NULL; e = next) {
        next = e->hnext;
        free(e);
    }
}

/* Copies e's reply out; -1 when out of memory. */
static int entry_copy_out(const entry_t *e, dnscache_reply_t *out)
{
    out->status = e->status;
    out->len = e->len;
    out->buf = NULL;
    if (e->len == 0)
        return 0;
    if ((out->buf = malloc((size_t)e->len)) == NULL)
        return -1;
    memcpy(out->buf, e->data, (size_t)e->len);
    return 0;
}

int dnscache_get(dnscache_t *c, const char *name, int type, dnscache_reply_t *out)
{
    uint64_t hash = key_hash(name, type);
    entry_t *stale = NULL;
    int hit = 0;

    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    entry_t *e = *find_slot(c, name, type, hash);
    if (e != NULL && e->expires_ms <= cares_now_ms()) {
        remove_entry(c, e, &stale);
    } else if (e != NULL && entry_copy_out(e, out) == 0) {
        lru_unlink(c, e);
        lru_push(c, e);
        hit = 1;
    }
    if (hit)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    free_list(stale);
    return hit;
}

void dnscache_reply_free(dnscache_reply_t *reply)
{
    free(reply->buf);
    reply->buf = NULL;
    reply->len = 0;
}

/* An entry holding the reply, built before the lock is taken. */
static entry_t *entry_new(const char *name, int type, int status, const unsigned char *abuf,
                          int alen, uint64_t hash)
{
    size_t namelen = strlen(name), size = sizeof(entry_t) + (size_t)alen + namelen + 1;
    entry_t *e = calloc(1, size);

    if (e == NULL)
        return NULL;
    e->hash = hash;
    e->type = type;
    e->status = status;
    e->len = alen;
    e->cost = size;
    if (alen > 0)
        memcpy(e->data, abuf, (size_t)alen);
    char *key = (char *)e->data + alen;
    for (size_t i = 0; i < namelen; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[namelen] = '\0';
    e->name = key;
    return e;
}

/*
 * The seconds a reply may be kept: its TTL within the configured limits, 0
 * for one that says nothing lasting. A negative answer without an SOA is
 * kept a short while: the next message would most likely get it again.
 */
static uint32_t keep_seconds(const dnscache_t *c, int status, const unsigned char *abuf, int alen)
{
    int negative = status == ARES_ENOTFOUND || status == ARES_ENODATA;
    uint32_t ttl;

    if (status != ARES_SUCCESS && !negative)
        return 0;
    if (dnscache_reply_ttl(abuf, alen, negative, &ttl) < 0) {
        if (!negative)
            return 0;
        ttl = DNSCACHE_NEGATIVE_TTL_NO_SOA;
    }
    if (negative && ttl > c->conf.negative_ttl)
        ttl = c->conf.negative_ttl;
    return ttl < c->conf.max_ttl ? ttl : c->conf.max_ttl;
}

/* Drops the least recently used replies until one of cost more fits. */
static void make_room(dnscache_t *c, size_t cost, entry_t **freed)
{
    while (c->oldest != NULL && (c->count >= c->conf.size || c->bytes + cost > c->conf.max_bytes))
        remove_entry(c, c->oldest, freed);
}

void dnscache_put(dnscache_t *c, const char *name, int type, int status, const unsigned char *abuf,
                  int alen)
{
    entry_t *freed = NULL, *old, *e;
    uint64_t hash = key_hash(name, type);
    uint32_t ttl;

    if (c == NULL || alen < 0 || alen > DNSCACHE_MAX_REPLY || (abuf == NULL && alen > 0))
        return;
    if ((ttl = keep_seconds(c, status, abuf, alen)) == 0 ||
        (e = entry_new(name, type, status, abuf, alen, hash)) == NULL)
        return;
    /* A reply larger than the whole budget would empty the cache for itself. */
    if (e->cost > c->conf.max_bytes) {
        free(e);
        return;
    }
    e->expires_ms = cares_now_ms() + (long)ttl * 1000;
    pthread_mutex_lock(&c->lock);
    /* Two workers may have asked the same question at once: the later answer stays. */
    if ((old = *find_slot(c, name, type, hash)) != NULL)
        remove_entry(c, old, &freed);
    make_room(c, e->cost, &freed);
    entry_t **slot = bucket_of(c, hash);
    e->hnext = *slot;
    *slot = e;
    lru_push(c, e);
    c->count++;
    c->bytes += e->cost;
    pthread_mutex_unlock(&c->lock);
    free_list(freed);
}

int dnscache_describe(dnscache_t *c, char *buf, size_t len)
{
    dnscache_stats_t cs;
    dnscache_stats(c, &cs);
    if (cs.hits + cs.misses == 0)
        return 0;
    snprintf(buf, len, "DNS cache: %llu hits, %llu misses, %llu answers kept",
             (unsigned long long)cs.hits, (unsigned long long)cs.misses,
             (unsigned long long)cs.entries);
    return 1;
}

void dnscache_stats(dnscache_t *c, dnscache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    out->hits = c->hits;
    out->misses = c->misses;
    out->entries = c->count;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}

/* ---- TTLs of a raw reply ------------------------------------------- */

/* The offset past the name at off, or -1 when it runs past the reply. */
static int skip_name(const unsigned char *buf, int len, int off)
{
    while (off < len) {
        unsigned n = buf[off];
        if ((n & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : -1; /* A pointer ends the name. */
        if (n == 0)
            return off + 1;
        off += 1 + (int)n;
    }
    return -1;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/*
 * Walks the resource records of the answer (section 0) or authority
 * (section 1) section and takes the lowest TTL among those that count:
 * every answer record, or the SOA of the authority section.
 */
static int section_ttl(const unsigned char *buf, int len, int section, uint32_t *ttl)
{
    unsigned qd = get16(buf + 4), an = get16(buf + 6), ns = get16(buf + 8);
    int off = 12, found = 0;

    for (unsigned i = 0; i < qd; i++) {
        if ((off = skip_name(buf, len, off)) < 0 || off + 4 > len)
            return -1;
        off += 4;
    }
    for (unsigned i = 0; i < an + (section == 1 ? ns : 0); i++) {
        if ((off = skip_name(buf, len, off)) < 0 || off + 10 > len)
            return -1;
        unsigned type = get16(buf + off), rdlen = get16(buf + off + 8);
        uint32_t t = get32(buf + off + 4);
        off += 10;
        if (off + (int)rdlen > len)
            return -1;
        /* An SOA's rdata ends with its MINIMUM field, the negative TTL's upper bound. */
        if (section == 1 && i >= an && type == 6 && rdlen >= 20) {
            uint32_t min = get32(buf + off + rdlen - 4);
            t = t < min ? t : min;
        } else if (section == 1) {
            off += (int)rdlen;
            continue;
        }
        /* TTLs with the top bit set are read as 0 (RFC 2181 8). */
        if (t > 0x7fffffff)
            t = 0;
        *ttl = found && *ttl < t ? *ttl : t;
        found = 1;
        off += (int)rdlen;
    }
    return found ? 0 : -1;
}

int dnscache_reply_ttl(const unsigned char *abuf, int alen, int negative, uint32_t *ttl)
{
    if (abuf == NULL || alen < 12)
        return -1;
    return section_ttl(abuf, alen, negative ? 1 : 0, ttl);
}
