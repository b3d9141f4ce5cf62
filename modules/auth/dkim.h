/*
 * dkim.h - DKIM signature verification (RFC 6376, with RFC 8301 and 8463:
 * rsa-sha256 and ed25519-sha256), keys fetched over the module's DNS client.
 */
#ifndef AUTH_DKIM_H
#define AUTH_DKIM_H

#include "adns.h"

#include <stddef.h>
#include <time.h>

/* At most this many signatures of one message are verified; later ones are ignored. */
#define AUTH_DKIM_MAX_SIGS 8

typedef enum auth_dkim_result {
    AUTH_DKIM_RES_PASS = 0,
    AUTH_DKIM_RES_FAIL,      /* The body or the signature does not verify. */
    AUTH_DKIM_RES_PERMERROR, /* A broken signature or key, no key, an expired signature. */
    AUTH_DKIM_RES_TEMPERROR, /* The key could not be fetched in time. */
    AUTH_DKIM_RES_NEUTRAL    /* It did not verify, but the key says t=y (testing). */
} auth_dkim_result_t;

typedef struct auth_dkim_sig {
    auth_dkim_result_t result;
    char d[256];   /* The signing domain (lower case), or "" when unreadable. */
    char s[64];    /* The selector. */
    char why[160]; /* Why it did not pass, what a pass leaves unsigned, or "". */
} auth_dkim_sig_t;

typedef struct auth_dkim auth_dkim_t;

/* Reads the signatures of a raw message; NULL when out of memory. */
auth_dkim_t *auth_dkim_new(const char *raw, size_t len);
void auth_dkim_destroy(auth_dkim_t **dkim);

/* Starts the key look-ups, so that they run alongside SPF's. */
void auth_dkim_prefetch(auth_dkim_t *dkim, auth_dns_t *dns);

/* Verifies every signature; then count and sig() give the results. */
void auth_dkim_verify(auth_dkim_t *dkim, auth_dns_t *dns, time_t now);
size_t auth_dkim_count(const auth_dkim_t *dkim);
const auth_dkim_sig_t *auth_dkim_sig(const auth_dkim_t *dkim, size_t i);

const char *auth_dkim_name(auth_dkim_result_t r);

#endif
