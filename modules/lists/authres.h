/*
 * authres.h - whether a trusted verifier's Authentication-Results header
 * says SPF or DKIM passed for a domain.
 */
#ifndef SMF_AUTHRES_H
#define SMF_AUTHRES_H

typedef struct smf_msg smf_msg_t;

/*
 * 1 when SPF passed with smtp.mailfrom in `domain`, or DKIM passed with
 * header.d equal to `domain` or a parent of it, as told either by the auth
 * stage of this scan (its note "auth.results") or by an
 * Authentication-Results field whose authserv-id is authserv_id; else 0.
 * A NULL or empty authserv_id trusts no header.
 */
int authres_passed(smf_msg_t *msg, const char *authserv_id, const char *domain);

#endif
