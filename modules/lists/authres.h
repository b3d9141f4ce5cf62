/*
 * authres.h - whether a trusted verifier's Authentication-Results header
 * says SPF or DKIM passed for a domain.
 */
#ifndef SMF_AUTHRES_H
#define SMF_AUTHRES_H

typedef struct smf_msg smf_msg_t;

/* What authres_passed() found; a sum of these. */
#define AUTHRES_SPF 1  /* SPF passed with smtp.mailfrom in the domain. */
#define AUTHRES_DKIM 2 /* DKIM passed with header.d the domain or a parent. */

/*
 * Which of SPF and DKIM passed for `domain`, as told either by the auth
 * stage of this scan (its note "auth.results") or by an
 * Authentication-Results field whose authserv-id is authserv_id: a sum of
 * AUTHRES_SPF and AUTHRES_DKIM, 0 for neither. A NULL or empty authserv_id
 * trusts no header.
 */
int authres_passed(smf_msg_t *msg, const char *authserv_id, const char *domain);

#endif
