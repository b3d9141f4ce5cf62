/*
 * dnscheck.h - the reputation checks that ask DNS: block and allow lists
 * and forward-confirmed reverse DNS, all sent at once and judged together
 * when the answers are in or the time budget is spent.
 */
#ifndef REP_DNSCHECK_H
#define REP_DNSCHECK_H

#include "dns.h"
#include "dnsbl.h"

#include <smf/module.h>

#include <stdbool.h>
#include <stdint.h>

typedef struct rep_dnscheck_conf {
    const rep_zone_t *zones;
    size_t nzones;
    int fcrdns;
    double no_fcrdns_score;
    long max_url_hosts;
} rep_dnscheck_conf_t;

/* What the checks look up about one message; ip is NULL when unknown. */
typedef struct rep_dnscheck_query {
    const uint8_t *ip;
    const char *ip_text;
    const char *sender_domain; /* "" when none. */
    const char *helo;          /* A name, or "". */
} rep_dnscheck_query_t;

/*
 * Whether an IPv6 address is in NAT64's well-known prefix 64:ff9b::/96
 * (RFC 6052), through which an IPv6-only host sees its IPv4 peers: the
 * peer's IPv4 address, the last 32 bits, is then written to out, mapped.
 * out may be ip.
 */
bool rep_ip_nat64(const uint8_t ip[16], uint8_t out[16]);

/*
 * Runs the checks within budget_ms and reports symbols. Returns 0 or a
 * negative SMF_E* code.
 */
int rep_dnscheck_run(smf_msg_t *msg, rep_dns_t *dns, const rep_dnscheck_conf_t *c,
                     const rep_dnscheck_query_t *q, long budget_ms);

#endif
