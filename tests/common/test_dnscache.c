/*
 * test_dnscache.c - the modules' shared cache of DNS replies on its own:
 * what it keeps and for how long, which reply it drops when full of replies
 * or of bytes, the TTLs it reads from raw replies, the options it refuses,
 * and workers using it at once.
 */
#include "../unit/check.h"
#include "dnscache.h"

#include <ares.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { TYPE_A = 1, TYPE_TXT = 16, TYPE_AAAA = 28 };

static dnscache_t *cache_new(size_t size, size_t max_bytes)
{
    dnscache_conf_t conf = {
        .size = size, .max_bytes = max_bytes, .max_ttl = 3600, .negative_ttl = 600};
    dnscache_t *c = NULL;

    CHECK(dnscache_new(&conf, &c) == 0 && c != NULL, "cache of %zu", size);
    return c;
}

/* A reply: header, the question "a.example" A, then the records in rrs. */
static size_t reply(unsigned char *buf, unsigned an, unsigned ns, const unsigned char *rrs,
                    size_t rrlen)
{
    static const unsigned char q[] = {1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
    unsigned char head[12] = {
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, (unsigned char)an, 0, (unsigned char)ns, 0, 0};

    memcpy(buf, head, 12);
    memcpy(buf + 12, q, sizeof(q));
    memcpy(buf + 12 + sizeof(q), rrs, rrlen);
    return 12 + sizeof(q) + rrlen;
}

/* One A record 127.0.0.last with the given TTL, by a pointer to the question's name. */
static size_t reply_a(unsigned char *buf, uint8_t last, uint16_t ttl)
{
    const unsigned char rr[] = {
        0xc0, 12, 0,   1, 0, 1,   0, 0, (unsigned char)(ttl >> 8), (unsigned char)ttl,
        0,    4,  127, 0, 0, last};
    return reply(buf, 1, 0, rr, sizeof(rr));
}

/* One TXT record of rdlen bytes (a DKIM key, say), TTL 300. */
static size_t reply_txt(unsigned char *buf, uint16_t rdlen)
{
    unsigned char rr[12 + 4096] = {
        0xc0, 12, 0, 16, 0, 1, 0, 0, 1, 44, (unsigned char)(rdlen >> 8), (unsigned char)rdlen};

    memset(rr + 12, 'k', rdlen);
    return reply(buf, 1, 0, rr, 12 + (size_t)rdlen);
}

/* Whether (name, type) is kept, and with the bytes of want when given. */
static int kept(dnscache_t *c, const char *name, int type, const unsigned char *want, size_t len)
{
    dnscache_reply_t r;

    if (!dnscache_get(c, name, type, &r))
        return 0;
    int same = want == NULL || ((size_t)r.len == len && memcmp(r.buf, want, len) == 0);
    dnscache_reply_free(&r);
    return same ? 1 : -1;
}

static void test_keeps_what_it_should(void)
{
    dnscache_t *c = cache_new(10, 1 << 20);
    unsigned char a[512], txt[4200];
    size_t alen = reply_a(a, 2, 60), tlen = reply_txt(txt, 2000);
    dnscache_reply_t r;

    dnscache_put(c, "2.0.0.127.Zen.Example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    CHECK(kept(c, "2.0.0.127.zen.example", TYPE_A, a, alen) == 1, "case ignored, bytes back");
    CHECK(kept(c, "2.0.0.127.zen.example", TYPE_AAAA, NULL, 0) == 0, "another type");
    CHECK(dnscache_get(c, "2.0.0.127.zen.example", TYPE_A, &r) == 1 && r.status == ARES_SUCCESS,
          "status back");
    dnscache_reply_free(&r);
    CHECK(r.buf == NULL, "free clears the copy");
    /* A DKIM key's reply of 2 KB is kept whole. */
    dnscache_put(c, "sel._domainkey.example", TYPE_TXT, ARES_SUCCESS, txt, (int)tlen);
    CHECK(kept(c, "sel._domainkey.example", TYPE_TXT, txt, tlen) == 1, "TXT kept");

    /* Failures say nothing that stays true; a TTL of 0 says not to keep it. */
    int failures[] = {ARES_ETIMEOUT, ARES_ESERVFAIL, ARES_EREFUSED, ARES_ECANCELLED};
    for (size_t i = 0; i < 4; i++) {
        dnscache_put(c, "failed.example", TYPE_A, failures[i], a, (int)alen);
        CHECK(kept(c, "failed.example", TYPE_A, NULL, 0) == 0, "status %d kept", failures[i]);
    }
    alen = reply_a(a, 2, 0);
    dnscache_put(c, "zero.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    CHECK(kept(c, "zero.example", TYPE_A, NULL, 0) == 0, "TTL 0 kept");
    /* A positive reply without answers carries no TTL. */
    size_t elen = reply(a, 0, 0, a, 0);
    dnscache_put(c, "empty.example", TYPE_A, ARES_SUCCESS, a, (int)elen);
    CHECK(kept(c, "empty.example", TYPE_A, NULL, 0) == 0, "no TTL kept");
    /* "No such name" and "no such record" without an SOA are kept a short while. */
    dnscache_put(c, "nx.example", TYPE_A, ARES_ENOTFOUND, a, (int)elen);
    CHECK(dnscache_get(c, "nx.example", TYPE_A, &r) == 1 && r.status == ARES_ENOTFOUND,
          "NXDOMAIN kept");
    dnscache_reply_free(&r);
    dnscache_put(c, "nodata.example", TYPE_TXT, ARES_ENODATA, NULL, 0);
    CHECK(dnscache_get(c, "nodata.example", TYPE_TXT, &r) == 1 && r.status == ARES_ENODATA &&
              r.len == 0 && r.buf == NULL,
          "NODATA without a reply kept");
    /* Longer than any reply kept: asked every time. */
    static unsigned char huge[DNSCACHE_MAX_REPLY + 1];
    memcpy(huge, txt, tlen);
    dnscache_put(c, "huge.example", TYPE_TXT, ARES_SUCCESS, huge, (int)sizeof(huge));
    CHECK(kept(c, "huge.example", TYPE_TXT, NULL, 0) == 0, "oversized reply kept");
    dnscache_destroy(&c);
    CHECK(c == NULL, "destroy clears the pointer");

    /* dns_cache_negative_ttl 0 keeps no negative answer, positive ones still. */
    dnscache_conf_t conf = {.size = 10, .max_bytes = 1 << 20, .max_ttl = 60, .negative_ttl = 0};
    CHECK(dnscache_new(&conf, &c) == 0, "cache");
    dnscache_put(c, "nx.example", TYPE_A, ARES_ENOTFOUND, a, (int)elen);
    CHECK(kept(c, "nx.example", TYPE_A, NULL, 0) == 0, "negative kept with negative_ttl 0");
    alen = reply_a(a, 2, 60);
    dnscache_put(c, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    CHECK(kept(c, "a.example", TYPE_A, NULL, 0) == 1, "positive kept with negative_ttl 0");
    dnscache_destroy(&c);
}

static void test_full_cache_drops_the_least_recently_used(void)
{
    dnscache_t *c = cache_new(3, 1 << 20);
    unsigned char a[512], other[512];
    size_t alen = reply_a(a, 2, 60), olen = reply_a(other, 9, 60);
    dnscache_stats_t st;

    dnscache_put(c, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    dnscache_put(c, "b.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    dnscache_put(c, "c.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    kept(c, "a.example", TYPE_A, NULL, 0); /* a is now the newest. */
    dnscache_put(c, "d.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    CHECK(kept(c, "b.example", TYPE_A, NULL, 0) == 0, "b dropped");
    CHECK(kept(c, "a.example", TYPE_A, NULL, 0) == 1, "a kept");
    CHECK(kept(c, "c.example", TYPE_A, NULL, 0) == 1, "c kept");
    /* A second answer for the same question replaces the first, and takes no more room. */
    dnscache_put(c, "c.example", TYPE_A, ARES_SUCCESS, other, (int)olen);
    CHECK(kept(c, "c.example", TYPE_A, other, olen) == 1, "replaced");
    dnscache_stats(c, &st);
    CHECK(st.entries == 3 && st.hits == 4 && st.misses == 1 && st.bytes > 0, "stats %llu %llu %llu",
          (unsigned long long)st.entries, (unsigned long long)st.hits,
          (unsigned long long)st.misses);
    char line[128];
    CHECK(dnscache_describe(c, line, sizeof(line)) == 1 &&
              strcmp(line, "DNS cache: 4 hits, 1 misses, 3 answers kept") == 0,
          "summary: %s", line);
    dnscache_destroy(&c);
    CHECK(dnscache_describe(c, line, sizeof(line)) == 0, "no cache, nothing to say");

    dnscache_conf_t off = {.size = 0, .max_ttl = 60};
    CHECK(dnscache_new(&off, &c) == 0 && c == NULL, "size 0 is no cache");
    dnscache_put(c, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    CHECK(kept(c, "a.example", TYPE_A, NULL, 0) == 0, "no cache keeps nothing");
}

/* A reload makes the module's new state while the old one still scans: with
 * the same options it takes the old state's cache over, warm; with others it
 * starts its own. */
static void test_reload_keeps_the_cache(void)
{
    unsigned char a[512];
    size_t alen = reply_a(a, 2, 60);
    dnscache_t *old = cache_new(100, 1 << 20);
    dnscache_put(old, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    dnscache_t *renewed = cache_new(100, 1 << 20);
    CHECK(kept(renewed, "a.example", TYPE_A, a, alen) == 1, "the new state finds the answer");
    dnscache_destroy(&old);
    CHECK(old == NULL && kept(renewed, "a.example", TYPE_A, a, alen) == 1,
          "the old state's end leaves the cache to the new one");
    dnscache_t *other = cache_new(200, 1 << 20);
    CHECK(other != renewed && kept(other, "a.example", TYPE_A, NULL, 0) == 0,
          "other options: a cache of its own");
    dnscache_destroy(&renewed);
    dnscache_t *again = cache_new(100, 1 << 20);
    CHECK(kept(again, "a.example", TYPE_A, NULL, 0) == 0,
          "no state held it any more: it was freed, the next one is new");
    /* Another resolver's answers are not taken over (a refusal of a public
     * resolver must not outlive the switch to a local one). */
    dnscache_conf_t system, local;
    char err[200];
    CHECK(dnscache_conf_from_options(100, 3600, 600, NULL, &system, err, sizeof(err)) == 0 &&
              dnscache_conf_from_options(100, 3600, 600, "127.0.0.1:53", &local, err,
                                         sizeof(err)) == 0,
          "%s", err);
    dnscache_t *first = NULL, *same = NULL, *moved = NULL;
    dnscache_new(&system, &first);
    dnscache_put(first, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    dnscache_new(&system, &same);
    CHECK(kept(same, "a.example", TYPE_A, a, alen) == 1, "the same resolver: kept");
    dnscache_new(&local, &moved);
    CHECK(moved != NULL && kept(moved, "a.example", TYPE_A, NULL, 0) == 0,
          "another resolver: a cache of its own");
    dnscache_destroy(&first);
    dnscache_destroy(&same);
    dnscache_t *local_c = moved;
    dnscache_destroy(&local_c);
    dnscache_destroy(&again);
    dnscache_destroy(&other);
}

static void test_byte_budget(void)
{
    /* Room for 100 replies, but only some 5 KB: two 2 KB keys fit, a third drops the oldest. */
    dnscache_t *c = cache_new(100, 5000);
    unsigned char txt[4200], a[512];
    size_t tlen = reply_txt(txt, 2000), alen = reply_a(a, 2, 60);
    dnscache_stats_t st;

    dnscache_put(c, "k1.example", TYPE_TXT, ARES_SUCCESS, txt, (int)tlen);
    dnscache_put(c, "k2.example", TYPE_TXT, ARES_SUCCESS, txt, (int)tlen);
    dnscache_put(c, "k3.example", TYPE_TXT, ARES_SUCCESS, txt, (int)tlen);
    CHECK(kept(c, "k1.example", TYPE_TXT, NULL, 0) == 0, "k1 dropped for bytes");
    CHECK(kept(c, "k2.example", TYPE_TXT, NULL, 0) == 1, "k2 kept");
    CHECK(kept(c, "k3.example", TYPE_TXT, NULL, 0) == 1, "k3 kept");
    dnscache_stats(c, &st);
    CHECK(st.entries == 2 && st.bytes <= 5000, "%llu kept in %llu bytes",
          (unsigned long long)st.entries, (unsigned long long)st.bytes);
    /* Small replies still fit beside them. */
    dnscache_put(c, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    CHECK(kept(c, "a.example", TYPE_A, NULL, 0) == 1, "small reply kept");
    dnscache_destroy(&c);

    /* A reply larger than the whole budget is not kept, and empties nothing. */
    c = cache_new(100, 1000);
    dnscache_put(c, "a.example", TYPE_A, ARES_SUCCESS, a, (int)alen);
    dnscache_put(c, "k1.example", TYPE_TXT, ARES_SUCCESS, txt, (int)tlen);
    CHECK(kept(c, "k1.example", TYPE_TXT, NULL, 0) == 0, "over the budget kept");
    CHECK(kept(c, "a.example", TYPE_A, NULL, 0) == 1, "the others stay");
    dnscache_destroy(&c);
}

static void test_options(void)
{
    dnscache_conf_t conf;
    char err[200];
    dnscache_t *opened = NULL;

    /* The modules' way in: the same checks, and the cache, or the check only. */
    CHECK(dnscache_open(-1, 3600, 900, NULL, &opened, err, sizeof(err)) == -1 && opened == NULL &&
              strstr(err, "dns_cache_size") != NULL,
          "open refuses a bad size: %s", err);
    CHECK(dnscache_open(10, 3600, 900, NULL, NULL, err, sizeof(err)) == 0, "a check alone");
    CHECK(dnscache_open(10, 3600, 900, NULL, &opened, err, sizeof(err)) == 0 && opened != NULL,
          "open makes the cache");
    dnscache_destroy(&opened);

    CHECK(dnscache_conf_from_options(10000, 3600, 900, NULL, &conf, err, sizeof(err)) == 0 &&
              conf.size == 10000 && conf.max_bytes == 10000 * (size_t)DNSCACHE_BYTES_PER_ANSWER &&
              conf.max_ttl == 3600 && conf.negative_ttl == 900,
          "defaults");
    CHECK(dnscache_conf_from_options(0, 1, 0, NULL, &conf, err, sizeof(err)) == 0 && conf.size == 0,
          "no cache");
    CHECK(dnscache_conf_from_options(-1, 3600, 900, NULL, &conf, err, sizeof(err)) < 0 &&
              strcmp(err, "dns_cache_size must be 0 (no cache) to 1000000, not -1") == 0,
          "%s", err);
    CHECK(dnscache_conf_from_options(2000000, 3600, 900, NULL, &conf, err, sizeof(err)) < 0 &&
              strstr(err, "not 2000000") != NULL,
          "%s", err);
    CHECK(dnscache_conf_from_options(10, 0, 900, NULL, &conf, err, sizeof(err)) < 0 &&
              strcmp(err, "dns_cache_max_ttl must be 1 to 604800 seconds, not 0") == 0,
          "%s", err);
    CHECK(dnscache_conf_from_options(10, 3600, 604801, NULL, &conf, err, sizeof(err)) < 0 &&
              strcmp(err, "dns_cache_negative_ttl must be 0 (none kept) to 604800 seconds, "
                          "not 604801") == 0,
          "%s", err);
}

static void test_reply_ttls(void)
{
    unsigned char buf[512];
    uint32_t ttl = 0;
    /* Two A records by a pointer to the question's name, TTLs 300 and 120. */
    static const unsigned char two_a[] = {
        0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44,  0, 4, 127, 0, 0, 2,
        0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 127, 0, 0, 3,
    };
    size_t n = reply(buf, 2, 0, two_a, sizeof(two_a));
    CHECK(dnscache_reply_ttl(buf, (int)n, 0, &ttl) == 0 && ttl == 120, "lowest TTL %u", ttl);
    CHECK(dnscache_reply_ttl(buf, (int)n - 5, 0, &ttl) < 0, "cut short");

    /* NXDOMAIN with the zone's SOA: TTL 3600, MINIMUM 30; the lower counts. */
    static const unsigned char soa[] = {
        0xc0, 14,  0,    6,    0,  1, 0,    0,    0x0e, 0x10, 0, 29, /* example. SOA, rdlength 29 */
        2,    'n', 's',  0xc0, 14, 1, 'h',  0xc0, 14,                /* mname, rname */
        0,    0,   0,    1,    0,  0, 0x0e, 0x10, 0,    0,    2, 0x58, /* serial, refresh, retry */
        0,    1,   0x51, 0x80, 0,  0, 0,    30,                        /* expire, minimum */
    };
    n = reply(buf, 0, 1, soa, sizeof(soa));
    CHECK(dnscache_reply_ttl(buf, (int)n, 1, &ttl) == 0 && ttl == 30, "SOA minimum %u", ttl);
    n = reply(buf, 0, 0, soa, 0);
    CHECK(dnscache_reply_ttl(buf, (int)n, 1, &ttl) < 0, "no SOA, no TTL");
    CHECK(dnscache_reply_ttl(NULL, 0, 0, &ttl) < 0, "no reply");
}

enum { WORKERS = 4, ROUNDS = 20000, NAMES = 300 };

typedef struct worker {
    dnscache_t *cache;
    int id, wrong;
} worker_t;

/* Each worker asks and answers the same names as the others; a reply read back must
 * be the one its name was given, whoever put it there. */
static void *worker_run(void *arg)
{
    worker_t *w = arg;
    char name[64];
    unsigned char a[512];
    dnscache_reply_t r;

    for (int i = 0; i < ROUNDS; i++) {
        int k = (i * 7 + w->id * 13) % NAMES;
        size_t alen = reply_a(a, (uint8_t)k, 60);
        snprintf(name, sizeof(name), "%d.zen.example", k);
        if (dnscache_get(w->cache, name, TYPE_A, &r)) {
            w->wrong += (size_t)r.len != alen || memcmp(r.buf, a, alen) != 0;
            dnscache_reply_free(&r);
        } else {
            dnscache_put(w->cache, name, TYPE_A, ARES_SUCCESS, a, (int)alen);
        }
    }
    return NULL;
}

static void test_workers_at_once(void)
{
    dnscache_t *c = cache_new(100, 1 << 20);
    pthread_t t[WORKERS];
    worker_t w[WORKERS];
    dnscache_stats_t st;
    int wrong = 0;

    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker_t){.cache = c, .id = i};
        pthread_create(&t[i], NULL, worker_run, &w[i]);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        wrong += w[i].wrong;
    }
    dnscache_stats(c, &st);
    CHECK(wrong == 0, "%d wrong answers", wrong);
    CHECK(st.hits + st.misses == (uint64_t)WORKERS * ROUNDS && st.entries <= 100,
          "stats %llu + %llu, %llu kept", (unsigned long long)st.hits,
          (unsigned long long)st.misses, (unsigned long long)st.entries);
    dnscache_destroy(&c);
}

int main(void)
{
    test_keeps_what_it_should();
    test_full_cache_drops_the_least_recently_used();
    test_byte_budget();
    test_reload_keeps_the_cache();
    test_options();
    test_reply_ttls();
    test_workers_at_once();
    return check_done();
}
