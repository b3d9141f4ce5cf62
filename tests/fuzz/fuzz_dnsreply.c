/*
 * fuzz_dnsreply.c - the DNS reply readers of the two modules that ask DNS,
 * over arbitrary reply bytes: auth_dns_fill() of the auth module
 * (modules/auth/adns.c), which turns a reply into TXT strings, MX hosts by
 * preference, PTR names or addresses, and rep_dns_answer_of() of the
 * reputation module (modules/reputation/dns.c), which keeps a bounded
 * number of addresses and PTR names. Both read what c-ares hands their
 * query callback, and the same bytes again from the shared DNS cache; a
 * server, or anyone who can forge its answer, chooses them. Each reply is
 * read as the answer to every type the modules ask for, as c-ares passes
 * it on (status ARES_SUCCESS), and what they keep is read whole and checked
 * against their promises. Both files are included, for their static readers.
 */
#include "../../modules/auth/adns.c"
#include "../../modules/reputation/dns.c"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void auth_reply(int type, const uint8_t *data, size_t size)
{
    auth_dns_entry_t *e = calloc(1, sizeof(*e));
    FUZZ_CHECK(e != NULL);
    e->type = type;
    int rc = auth_dns_fill(e, ARES_SUCCESS, data, (int)size);
    const auth_dns_rr_t *rr = &e->rr;
    FUZZ_CHECK(!e->pending);
    FUZZ_CHECK(rc == 0 ? rr->status == AUTH_DNS_OK || rr->status == AUTH_DNS_NODATA
                       : rr->status == AUTH_DNS_FAIL);
    FUZZ_CHECK(rr->status != AUTH_DNS_OK || rr->nstrs > 0 || rr->naddrs > 0);
    FUZZ_CHECK(type != AUTH_DNS_MX || rr->nstrs <= 64);
    FUZZ_CHECK(rr->naddrs <= 32);
    for (size_t i = 0; i < rr->nstrs; i++)
        fuzz_touch_str(rr->strs[i]);
    for (size_t i = 0; i < rr->naddrs; i++) {
        fuzz_touch(rr->addrs[i], 16);
        FUZZ_CHECK(type != AUTH_DNS_A || cares_is_v4(rr->addrs[i]));
    }
    for (size_t i = 0; i < rr->nstrs; i++)
        free(rr->strs[i]);
    free(rr->strs);
    free(rr->addrs);
    free(e);
}

static void rep_reply(int type, const uint8_t *data, size_t size)
{
    rep_dns_req_t req = {.type = type};
    rep_dns_answer_t ans;
    rep_dns_answer_of(&req, ARES_SUCCESS, data, (int)size, &ans);
    FUZZ_CHECK(ans.status == REP_DNS_OK || ans.status == REP_DNS_FAIL);
    FUZZ_CHECK(ans.naddrs <= REP_DNS_MAX_ADDRS && ans.nnames <= REP_DNS_MAX_NAMES);
    FUZZ_CHECK(!ans.more || ans.naddrs == REP_DNS_MAX_ADDRS || ans.nnames == REP_DNS_MAX_NAMES);
    for (size_t i = 0; i < ans.naddrs; i++)
        FUZZ_CHECK(type != REP_DNS_A || cares_is_v4(ans.addrs[i]));
    for (size_t i = 0; i < ans.nnames; i++)
        FUZZ_CHECK(memchr(ans.names[i], '\0', sizeof(ans.names[i])) != NULL);
    fuzz_touch(&ans, sizeof(ans));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int auth_types[] = {AUTH_DNS_TXT, AUTH_DNS_MX, AUTH_DNS_PTR, AUTH_DNS_A,
                                     AUTH_DNS_AAAA};
    static const int rep_types[] = {REP_DNS_A, REP_DNS_AAAA, REP_DNS_PTR};

    /* c-ares hands over at most a TCP reply; the cache keeps less. */
    if (size > 65535)
        return 0;
    for (size_t i = 0; i < sizeof(auth_types) / sizeof(auth_types[0]); i++)
        auth_reply(auth_types[i], data, size);
    for (size_t i = 0; i < sizeof(rep_types) / sizeof(rep_types[0]); i++)
        rep_reply(rep_types[i], data, size);
    return 0;
}
