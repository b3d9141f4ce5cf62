/*
 * test_dnscache.c - the reputation module's cache of DNS answers on its own:
 * what it keeps and for how long, which answer it drops when full, the TTLs
 * it reads from raw replies, and workers using it at once.
 */
#include "../unit/check.h"
#include "dnscache.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static rep_dnscache_t *cache_new(size_t size)
{
    rep_dnscache_conf_t conf = {.size = size, .max_ttl = 3600, .negative_ttl = 600};
    rep_dnscache_t *c = NULL;

    CHECK(rep_dnscache_new(&conf, &c) == 0 && c != NULL, "cache of %zu", size);
    return c;
}

static rep_dns_answer_t answer_a(uint8_t last)
{
    rep_dns_answer_t a;

    memset(&a, 0, sizeof(a));
    a.status = REP_DNS_OK;
    a.naddrs = 1;
    a.addrs[0][10] = a.addrs[0][11] = 0xff;
    a.addrs[0][12] = 127;
    a.addrs[0][15] = last;
    return a;
}

static void test_keeps_what_it_should(void)
{
    rep_dnscache_t *c = cache_new(10);
    rep_dns_answer_t in = answer_a(2), out;

    rep_dnscache_put(c, "2.0.0.127.Zen.Example", REP_DNS_A, &in, 60);
    CHECK(rep_dnscache_get(c, "2.0.0.127.zen.example", REP_DNS_A, &out) == 1, "case ignored");
    CHECK(out.naddrs == 1 && memcmp(out.addrs[0], in.addrs[0], 16) == 0, "the address back");
    CHECK(rep_dnscache_get(c, "2.0.0.127.zen.example", REP_DNS_AAAA, &out) == 0, "another type");

    rep_dns_answer_t ptr = {.status = REP_DNS_OK, .nnames = 2, .more = 1};
    snprintf(ptr.names[0], sizeof(ptr.names[0]), "mail.example");
    snprintf(ptr.names[1], sizeof(ptr.names[1]), "mx.example");
    rep_dnscache_put(c, "1.2.0.192.in-addr.arpa", REP_DNS_PTR, &ptr, 60);
    CHECK(rep_dnscache_get(c, "1.2.0.192.in-addr.arpa", REP_DNS_PTR, &out) == 1, "PTR kept");
    CHECK(out.nnames == 2 && out.more == 1 && strcmp(out.names[1], "mx.example") == 0,
          "PTR names back");

    /* Failures say nothing that stays true; a TTL of 0 says not to keep it. */
    rep_dns_status_t failures[] = {REP_DNS_TIMEOUT, REP_DNS_FAIL, REP_DNS_REFUSED};
    for (size_t i = 0; i < 3; i++) {
        rep_dns_answer_t f = {.status = failures[i]};
        rep_dnscache_put(c, "failed.example", REP_DNS_A, &f, 60);
        CHECK(rep_dnscache_get(c, "failed.example", REP_DNS_A, &out) == 0, "status %d kept",
              (int)failures[i]);
    }
    rep_dnscache_put(c, "zero.example", REP_DNS_A, &in, 0);
    CHECK(rep_dnscache_get(c, "zero.example", REP_DNS_A, &out) == 0, "TTL 0 kept");
    rep_dns_answer_t nx = {.status = REP_DNS_NOTFOUND};
    rep_dnscache_put(c, "nx.example", REP_DNS_A, &nx, 60);
    CHECK(rep_dnscache_get(c, "nx.example", REP_DNS_A, &out) == 1 && out.status == REP_DNS_NOTFOUND,
          "NXDOMAIN kept");
    rep_dnscache_destroy(&c);
    CHECK(c == NULL, "destroy clears the pointer");
}

static void test_full_cache_drops_the_least_recently_used(void)
{
    rep_dnscache_t *c = cache_new(3);
    rep_dns_answer_t a = answer_a(2), out;
    rep_dnscache_stats_t st;

    rep_dnscache_put(c, "a.example", REP_DNS_A, &a, 60);
    rep_dnscache_put(c, "b.example", REP_DNS_A, &a, 60);
    rep_dnscache_put(c, "c.example", REP_DNS_A, &a, 60);
    rep_dnscache_get(c, "a.example", REP_DNS_A, &out); /* a is now the newest. */
    rep_dnscache_put(c, "d.example", REP_DNS_A, &a, 60);
    CHECK(rep_dnscache_get(c, "b.example", REP_DNS_A, &out) == 0, "b dropped");
    CHECK(rep_dnscache_get(c, "a.example", REP_DNS_A, &out) == 1, "a kept");
    CHECK(rep_dnscache_get(c, "c.example", REP_DNS_A, &out) == 1, "c kept");
    /* A second answer for the same question replaces the first, and takes no more room. */
    rep_dns_answer_t other = answer_a(9);
    rep_dnscache_put(c, "c.example", REP_DNS_A, &other, 60);
    CHECK(rep_dnscache_get(c, "c.example", REP_DNS_A, &out) == 1 && out.addrs[0][15] == 9,
          "replaced");
    rep_dnscache_stats(c, &st);
    CHECK(st.entries == 3 && st.hits == 4 && st.misses == 1, "stats %llu %llu %llu",
          (unsigned long long)st.entries, (unsigned long long)st.hits,
          (unsigned long long)st.misses);
    rep_dnscache_destroy(&c);

    rep_dnscache_conf_t off = {.size = 0, .max_ttl = 60};
    CHECK(rep_dnscache_new(&off, &c) == 0 && c == NULL, "size 0 is no cache");
    rep_dnscache_put(c, "a.example", REP_DNS_A, &a, 60);
    CHECK(rep_dnscache_get(c, "a.example", REP_DNS_A, &out) == 0, "no cache keeps nothing");
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
    CHECK(rep_dnscache_reply_ttl(buf, (int)n, 0, &ttl) == 0 && ttl == 120, "lowest TTL %u", ttl);
    CHECK(rep_dnscache_reply_ttl(buf, (int)n - 5, 0, &ttl) < 0, "cut short");

    /* NXDOMAIN with the zone's SOA: TTL 3600, MINIMUM 30; the lower counts. */
    static const unsigned char soa[] = {
        0xc0, 14,  0,    6,    0,  1, 0,    0,    0x0e, 0x10, 0, 29, /* example. SOA, rdlength 29 */
        2,    'n', 's',  0xc0, 14, 1, 'h',  0xc0, 14,                /* mname, rname */
        0,    0,   0,    1,    0,  0, 0x0e, 0x10, 0,    0,    2, 0x58, /* serial, refresh, retry */
        0,    1,   0x51, 0x80, 0,  0, 0,    30,                        /* expire, minimum */
    };
    n = reply(buf, 0, 1, soa, sizeof(soa));
    CHECK(rep_dnscache_reply_ttl(buf, (int)n, 1, &ttl) == 0 && ttl == 30, "SOA minimum %u", ttl);
    n = reply(buf, 0, 0, soa, 0);
    CHECK(rep_dnscache_reply_ttl(buf, (int)n, 1, &ttl) < 0, "no SOA, no TTL");
    CHECK(rep_dnscache_reply_ttl(NULL, 0, 0, &ttl) < 0, "no reply");
}

enum { WORKERS = 4, ROUNDS = 20000, NAMES = 300 };

typedef struct worker {
    rep_dnscache_t *cache;
    int id, wrong;
} worker_t;

/* Each worker asks and answers the same names as the others; an answer read back must
 * be the one its name was given, whoever put it there. */
static void *worker_run(void *arg)
{
    worker_t *w = arg;
    char name[64];
    rep_dns_answer_t out;

    for (int i = 0; i < ROUNDS; i++) {
        int k = (i * 7 + w->id * 13) % NAMES;
        snprintf(name, sizeof(name), "%d.zen.example", k);
        if (rep_dnscache_get(w->cache, name, REP_DNS_A, &out)) {
            w->wrong += out.naddrs != 1 || out.addrs[0][15] != (uint8_t)k;
        } else {
            rep_dns_answer_t a = answer_a((uint8_t)k);
            rep_dnscache_put(w->cache, name, REP_DNS_A, &a, 60);
        }
    }
    return NULL;
}

static void test_workers_at_once(void)
{
    rep_dnscache_t *c = cache_new(100);
    pthread_t t[WORKERS];
    worker_t w[WORKERS];
    rep_dnscache_stats_t st;
    int wrong = 0;

    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker_t){.cache = c, .id = i};
        pthread_create(&t[i], NULL, worker_run, &w[i]);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        wrong += w[i].wrong;
    }
    rep_dnscache_stats(c, &st);
    CHECK(wrong == 0, "%d wrong answers", wrong);
    CHECK(st.hits + st.misses == (uint64_t)WORKERS * ROUNDS && st.entries <= 100,
          "stats %llu + %llu, %llu kept", (unsigned long long)st.hits,
          (unsigned long long)st.misses, (unsigned long long)st.entries);
    rep_dnscache_destroy(&c);
}

int main(void)
{
    test_keeps_what_it_should();
    test_full_cache_drops_the_least_recently_used();
    test_reply_ttls();
    test_workers_at_once();
    return check_done();
}
