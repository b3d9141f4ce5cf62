/*
 * spf.h - SPF (RFC 7208): whether the client address may send mail for the
 * envelope sender's domain, evaluated over the module's DNS client.
 */
#ifndef AUTH_SPF_H
#define AUTH_SPF_H

#include "adns.h"

#include <stddef.h>
#include <stdint.h>

typedef enum auth_spf_result {
    AUTH_SPF_NONE = 0,
    AUTH_SPF_NEUTRAL,
    AUTH_SPF_PASS,
    AUTH_SPF_FAIL,
    AUTH_SPF_SOFTFAIL,
    AUTH_SPF_TEMPERROR,
    AUTH_SPF_PERMERROR
} auth_spf_result_t;

/* The identity checked: <sender> from <ip>, which said HELO <helo>. */
typedef struct auth_spf_query {
    uint8_t ip[16];     /* IPv4-mapped or IPv6. */
    const char *sender; /* local@domain; postmaster@helo for the null sender. */
    const char *helo;
} auth_spf_query_t;

/* The SPF domain to check first: the part of sender after its last '@'. */
const char *auth_spf_domain(const char *sender);

/* check_host() for the sender's domain; why gets a short explanation. */
auth_spf_result_t auth_spf_check(auth_dns_t *dns, const auth_spf_query_t *q, char *why,
                                 size_t whylen);

/* "pass", "fail", ... as in Received-SPF and Authentication-Results. */
const char *auth_spf_name(auth_spf_result_t r);

#endif
