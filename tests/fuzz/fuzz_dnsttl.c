/*
 * fuzz_dnsttl.c - the DNS reply reader of the shared DNS cache
 * (modules/common/dnscache.c) over arbitrary bytes. The reputation and auth
 * stages put every reply a DNS server sends into the cache, which reads its
 * TTLs from the raw bytes itself (names with compression pointers, record
 * lengths, the SOA of a negative reply): a hostile or broken server, or
 * anyone who can spoof one, chooses those bytes. dnscache_reply_ttl() runs
 * as for a positive and a negative answer; then the reply goes into a small
 * cache as an answer and as "no such name", and what comes back out must be
 * the bytes put in.
 */
#include "dnscache.h"
#include "fuzz_common.h"

#include <ares.h>
#include <limits.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INT_MAX)
        return 0;
    uint32_t ttl;
    for (int negative = 0; negative <= 1; negative++) {
        int rc = dnscache_reply_ttl(data, (int)size, negative, &ttl);
        FUZZ_CHECK(rc == 0 || rc == -1);
    }

    /* A cache of this input's replies only: what comes out was put in here. */
    dnscache_t *cache = NULL;
    dnscache_conf_t conf = {.size = 4, .max_bytes = 1 << 20, .max_ttl = 3600, .negative_ttl = 600};
    FUZZ_CHECK(dnscache_new(&conf, &cache) == 0 && cache != NULL);
    static const int statuses[] = {ARES_SUCCESS, ARES_ENOTFOUND, ARES_ENODATA};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "fuzz%zu.example", i);
        dnscache_put(cache, name, 16, statuses[i], data, (int)size);
        name[0] = 'F';
        dnscache_reply_t r;
        if (dnscache_get(cache, name, 16, &r)) {
            FUZZ_CHECK(r.status == statuses[i]);
            FUZZ_CHECK(r.len == 0 || ((size_t)r.len == size && memcmp(r.buf, data, size) == 0));
            dnscache_reply_free(&r);
        }
    }
    dnscache_destroy(&cache);
    return 0;
}
