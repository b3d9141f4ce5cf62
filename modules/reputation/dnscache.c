/*
 * dnscache.c - DNS answers kept for their TTL: a hash table to find one and
 * a list in order of use to drop the least recently used when full, both
 * under one mutex, so a lookup or an insert costs the same at any size.
 */
#include "dnscache.h"
#include "cares.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One kept answer. Its addresses, its names and its key follow it in data. */
typedef struct entry {
    struct entry *hnext;       /* Next in the same hash bucket. */
    struct entry *prev, *next; /* The list in order of use, newest first. */
    uint64_t hash;
    long expires_ms; /* On the monotonic clock. */
    int type;
    rep_dns_status_t status;
    int more;
    size_t naddrs, nnames;
    const char *name; /* The key, in lower case. */
    unsigned char data[];
} entry_t;

struct rep_dnscache {
    /*
     * One lock for the whole cache: it is held for a probe and a copy of a
     * few hundred bytes, far less than a query's round trip, and a single
     * list in order of use keeps eviction exact.
     */
    pthread_mutex_t lock;
    rep_dnscache_conf_t conf;
    entry_t **buckets;
    size_t mask; /* Buckets minus one; their number is a power of two. */
    size_t count;
    entry_t *newest, *oldest;
    uint64_t hits, misses;
};

int rep_dnscache_new(const rep_dnscache_conf_t *conf, rep_dnscache_t **out)
{
    rep_dnscache_t *c;
    size_t nb = 16;

    *out = NULL;
    if (conf->size == 0)
        return 0;
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
    *out = c;
    return 0;
}

void rep_dnscache_destroy(rep_dnscache_t **cache)
{
    rep_dnscache_t *c = cache != NULL ? *cache : NULL;

    if (c == NULL)
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

static entry_t **bucket_of(rep_dnscache_t *c, uint64_t hash)
{
    return &c->buckets[hash & c->mask];
}

/* Unlinks e from the list in order of use. */
static void lru_unlink(rep_dnscache_t *c, entry_t *e)
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

static void lru_push(rep_dnscache_t *c, entry_t *e)
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
static entry_t **find_slot(rep_dnscache_t *c, const char *name, int type, uint64_t hash)
{
    entry_t **slot = bucket_of(c, hash);

    while (*slot != NULL && !((*slot)->hash == hash && (*slot)->type == type &&
                              strcasecmp((*slot)->name, name) == 0))
        slot = &(*slot)->hnext;
    return slot;
}

/* Takes e out of the table and the list; the caller frees it, outside the lock. */
static void remove_entry(rep_dnscache_t *c, entry_t *e)
{
    entry_t **slot = bucket_of(c, e->hash);

    while (*slot != e)
        slot = &(*slot)->hnext;
    *slot = e->hnext;
    lru_unlink(c, e);
    c->count--;
}

static void entry_copy_out(const entry_t *e, rep_dns_answer_t *ans)
{
    const unsigned char *p = e->data;

    memset(ans, 0, sizeof(*ans));
    ans->status = e->status;
    ans->more = e->more;
    ans->naddrs = e->naddrs;
    memcpy(ans->addrs, p, e->naddrs * 16);
    p += e->naddrs * 16;
    ans->nnames = e->nnames;
    for (size_t i = 0; i < e->nnames; i++) {
        size_t n = strlen((const char *)p);
        memcpy(ans->names[i], p, n + 1);
        p += n + 1;
    }
}

int rep_dnscache_get(rep_dnscache_t *c, const char *name, int type, rep_dns_answer_t *ans)
{
    uint64_t hash = key_hash(name, type);
    entry_t *stale = NULL;
    int hit = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    entry_t *e = *find_slot(c, name, type, hash);
    if (e != NULL && e->expires_ms <= cares_now_ms()) {
        remove_entry(c, e);
        stale = e;
    } else if (e != NULL) {
        lru_unlink(c, e);
        lru_push(c, e);
        entry_copy_out(e, ans);
        hit = 1;
    }
    if (hit)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    free(stale);
    return hit;
}

/* An entry holding ans, built before the lock is taken. */
static entry_t *entry_new(const char *name, int type, const rep_dns_answer_t *ans, uint64_t hash)
{
    size_t len = ans->naddrs * 16 + strlen(name) + 1;

    for (size_t i = 0; i < ans->nnames; i++)
        len += strlen(ans->names[i]) + 1;
    entry_t *e = calloc(1, sizeof(*e) + len);
    if (e == NULL)
        return NULL;
    e->hash = hash;
    e->type = type;
    e->status = ans->status;
    e->more = ans->more;
    e->naddrs = ans->naddrs;
    e->nnames = ans->nnames;
    unsigned char *p = e->data;
    memcpy(p, ans->addrs, ans->naddrs * 16);
    p += ans->naddrs * 16;
    for (size_t i = 0; i < ans->nnames; i++) {
        size_t n = strlen(ans->names[i]) + 1;
        memcpy(p, ans->names[i], n);
        p += n;
    }
    e->name = (const char *)p;
    for (size_t i = 0; name[i] != '\0'; i++)
        *p++ = (unsigned char)tolower((unsigned char)name[i]);
    *p = '\0';
    return e;
}

/* The seconds an answer may be kept: its TTL within the configured limits. */
static uint32_t keep_seconds(const rep_dnscache_t *c, const rep_dns_answer_t *ans, uint32_t ttl)
{
    if (ans->status == REP_DNS_NOTFOUND && ttl > c->conf.negative_ttl)
        ttl = c->conf.negative_ttl;
    return ttl < c->conf.max_ttl ? ttl : c->conf.max_ttl;
}

void rep_dnscache_put(rep_dnscache_t *c, const char *name, int type, const rep_dns_answer_t *ans,
                      uint32_t ttl)
{
    entry_t *old = NULL, *evicted = NULL, *e;
    uint64_t hash = key_hash(name, type);

    if (c == NULL || (ans->status != REP_DNS_OK && ans->status != REP_DNS_NOTFOUND))
        return;
    if ((ttl = keep_seconds(c, ans, ttl)) == 0 || (e = entry_new(name, type, ans, hash)) == NULL)
        return;
    e->expires_ms = cares_now_ms() + (long)ttl * 1000;
    pthread_mutex_lock(&c->lock);
    /* Two workers may have asked the same question at once: the later answer stays. */
    if ((old = *find_slot(c, name, type, hash)) != NULL)
        remove_entry(c, old);
    if (c->count >= c->conf.size && (evicted = c->oldest) != NULL)
        remove_entry(c, evicted);
    entry_t **slot = bucket_of(c, hash);
    e->hnext = *slot;
    *slot = e;
    lru_push(c, e);
    c->count++;
    pthread_mutex_unlock(&c->lock);
    free(old);
    free(evicted);
}

void rep_dnscache_stats(rep_dnscache_t *c, rep_dnscache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    out->hits = c->hits;
    out->misses = c->misses;
    out->entries = c->count;
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

int rep_dnscache_reply_ttl(const unsigned char *abuf, int alen, int negative, uint32_t *ttl)
{
    if (abuf == NULL || alen < 12)
        return -1;
    return section_ttl(abuf, alen, negative ? 1 : 0, ttl);
}
