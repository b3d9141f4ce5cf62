/*
 * dns.h - the reputation module's asynchronous DNS client (c-ares): many
 * queries in flight at once, answered or given up by one deadline. One
 * client per worker thread; a client is not thread-safe.
 */
#ifndef REP_DNS_H
#define REP_DNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct rep_dns rep_dns_t;

typedef enum rep_dns_status {
    REP_DNS_OK = 0,       /* Answers below. */
    REP_DNS_NOTFOUND = 1, /* NXDOMAIN or no record of that type: not listed. */
    REP_DNS_REFUSED = 2,  /* The server refused us (a blocked or rate-limited resolver). */
    REP_DNS_TIMEOUT = 3,  /* No answer before the per-query timeout or the deadline. */
    REP_DNS_FAIL = 4      /* SERVFAIL, a malformed answer, anything else. */
} rep_dns_status_t;

enum { REP_DNS_A = 1, REP_DNS_AAAA = 28, REP_DNS_PTR = 12 };

#define REP_DNS_MAX_ADDRS 32
#define REP_DNS_MAX_NAMES 8

typedef struct rep_dns_answer {
    rep_dns_status_t status;
    int more; /* The reply held more addresses or names than are kept below. */
    size_t naddrs;
    uint8_t addrs[REP_DNS_MAX_ADDRS][16]; /* A answers IPv4-mapped, AAAA as is. */
    size_t nnames;
    char names[REP_DNS_MAX_NAMES][256]; /* PTR answers. */
} rep_dns_answer_t;

/* Called once per query, from inside rep_dns_wait(); may start more queries. */
typedef void (*rep_dns_cb)(void *arg, const char *name, const rep_dns_answer_t *ans);

/*
 * Makes a client. server is "addr:port" ("[::1]:53" for IPv6) or NULL for
 * the system resolver. Returns 0 or -1 with a reason in err.
 */
int rep_dns_new(const char *server, long timeout_ms, long tries, rep_dns_t **out, char *err,
                size_t errlen);
void rep_dns_destroy(rep_dns_t **dns);

/*
 * Lets the client answer from a cache shared with other clients (see
 * dnscache.h) and keep what the server answers there. cache is borrowed: it
 * must outlive the client. NULL (the default) asks the server every time.
 * Cached answers, too, reach their callbacks inside rep_dns_wait().
 */
struct dnscache;
void rep_dns_set_cache(rep_dns_t *dns, struct dnscache *cache);

/* Starts a query; cb runs later with the answer. 0 or -1. */
int rep_dns_query(rep_dns_t *dns, const char *name, int type, rep_dns_cb cb, void *arg);

/*
 * Runs the queries until all are answered or budget_ms has passed; queries
 * still open then are cancelled and answered REP_DNS_TIMEOUT.
 */
void rep_dns_wait(rep_dns_t *dns, long budget_ms);

/* The reverse name of an address: d.c.b.a or nibbles for IPv6, without a zone. */
void rep_dns_reverse(const uint8_t ip[16], char *out, size_t outlen);

#endif
