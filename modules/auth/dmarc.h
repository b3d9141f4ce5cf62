/*
 * dmarc.h - DMARC (RFC 7489): the From domain's policy record, and whether
 * a passing SPF or DKIM identity is aligned with the From domain.
 */
#ifndef AUTH_DMARC_H
#define AUTH_DMARC_H

#include "adns.h"
#include "dkim.h"
#include "psl.h"
#include "spf.h"

#include <stddef.h>

typedef enum auth_dmarc_result {
    AUTH_DMARC_RES_NONE = 0, /* No record: DMARC does not apply. */
    AUTH_DMARC_RES_PASS,
    AUTH_DMARC_RES_FAIL,
    AUTH_DMARC_RES_TEMPERROR
} auth_dmarc_result_t;

typedef enum auth_dmarc_policy {
    AUTH_DMARC_P_NONE = 0,
    AUTH_DMARC_P_QUARANTINE,
    AUTH_DMARC_P_REJECT
} auth_dmarc_policy_t;

/* What SPF and DKIM found, for alignment. */
typedef struct auth_dmarc_input {
    const char *from_domain; /* Lower case. */
    auth_spf_result_t spf;
    const char *spf_domain;  /* The identity SPF checked. */
    const auth_dkim_t *dkim; /* Verified signatures, or NULL. */
} auth_dmarc_input_t;

typedef struct auth_dmarc_outcome {
    auth_dmarc_result_t result;
    auth_dmarc_policy_t policy; /* p=, sp= or np=, whichever applies to the From domain. */
    int pct;
    char record_domain[256]; /* Where the record was found. */
    char why[200];
} auth_dmarc_outcome_t;

/* Most From domains a message is evaluated for. */
#define AUTH_DMARC_MAX_FROM 4

/*
 * The distinct domains of the mailboxes in a From header value ("Name
 * <a@b>", "a@b, c@d", comments and quoted display names read as such),
 * lower case, at most max of them; returns how many. *unreadable is set
 * when a mailbox has no readable domain, or there are more than max.
 */
int auth_dmarc_from_domains(const char *value, char out[][256], size_t max, int *unreadable);

/* Starts the record look-up early. */
void auth_dmarc_prefetch(auth_dns_t *dns, const char *from_domain);

void auth_dmarc_check(auth_dns_t *dns, const auth_psl_t *psl, const auth_dmarc_input_t *in,
                      auth_dmarc_outcome_t *out);

const char *auth_dmarc_policy_name(auth_dmarc_policy_t p);

#endif
