/*
 * adns.h - the auth module's DNS client: c-ares queries for TXT, MX, PTR, A
 * and AAAA records, a per-message cache of the answers, and blocking look-ups
 * that never wait past the message's DNS deadline. One client per thread;
 * the clients may share one cache of replies (modules/common/dnscache.h).
 */
#ifndef AUTH_ADNS_H
#define AUTH_ADNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct auth_dns auth_dns_t;

typedef enum auth_dns_status {
    AUTH_DNS_OK = 0,       /* At least one record below. */
    AUTH_DNS_NXDOMAIN = 1, /* The name does not exist. */
    AUTH_DNS_NODATA = 2,   /* The name exists without records of that type. */
    AUTH_DNS_TIMEOUT = 3,  /* No answer before the deadline. */
    AUTH_DNS_FAIL = 4      /* SERVFAIL, REFUSED, a malformed answer. */
} auth_dns_status_t;

enum { AUTH_DNS_A = 1, AUTH_DNS_PTR = 12, AUTH_DNS_MX = 15, AUTH_DNS_TXT = 16, AUTH_DNS_AAAA = 28 };

/* The answer to one query. For MX, strs holds the hosts by preference. */
typedef struct auth_dns_rr {
    auth_dns_status_t status;
    size_t nstrs;
    char **strs; /* TXT records (strings of one record joined), MX hosts or PTR names. */
    size_t naddrs;
    uint8_t (*addrs)[16]; /* A answers IPv4-mapped, AAAA as is. */
} auth_dns_rr_t;

/* server is "addr:port" or NULL for the system resolver. 0 or -1 with err. */
int auth_dns_new(const char *server, long timeout_ms, long tries, auth_dns_t **out, char *err,
                 size_t errlen);
void auth_dns_destroy(auth_dns_t **dns);

/*
 * Lets the client answer from a cache shared with the other workers' clients
 * and keep there what the server answers, for the next messages. cache is
 * borrowed: it must outlive the client. NULL (the default) asks the server
 * for every message; within a message each question is asked once either way.
 */
struct dnscache;
void auth_dns_set_cache(auth_dns_t *dns, struct dnscache *cache);

/* Starts a message: empties the per-message cache and sets the deadline budget_ms from now. */
void auth_dns_begin(auth_dns_t *dns, long budget_ms);

/* Ends a message: cancels what is still open and frees the cache. */
void auth_dns_end(auth_dns_t *dns);

/* Starts a query whose answer a later auth_dns_get() will want. */
void auth_dns_prefetch(auth_dns_t *dns, const char *name, int type);

/* The answer, from the cache or by waiting for it until the deadline. Never NULL. */
const auth_dns_rr_t *auth_dns_get(auth_dns_t *dns, const char *name, int type);

/* Whether DNS can be asked for a name at all: labels of 1 to 63 bytes, 253
 * in all, a final dot allowed. A name that fails this would fail its look-up
 * as a DNS error: a temperror the sender could choose. */
int auth_dns_name_ok(const char *name);

/* Whether the deadline has passed. */
int auth_dns_expired(const auth_dns_t *dns);

/*
 * The name whose PTR records name an address (IPv4-mapped or IPv6):
 * "4.3.2.1.in-addr.arpa" or the 32 reversed nibbles under "ip6.arpa".
 * len of at least AUTH_DNS_REVERSE_LEN is always enough.
 */
#define AUTH_DNS_REVERSE_LEN 80
void auth_dns_reverse_name(const uint8_t ip[16], char *out, size_t len);

#endif
