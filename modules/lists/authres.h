/*
 * authres.h - whether a trusted verifier's Authentication-Results header
 * says SPF or DKIM passed for a domain.
 */
#ifndef SMF_AUTHRES_H
#define SMF_AUTHRES_H

typedef struct smf_msg smf_msg_t;

/*
 * 1 when an Authentication-Results field whose authserv-id is authserv_id
 * has spf=pass with smtp.mailfrom in `domain`, or dkim=pass with header.d
 * equal to `domain` or a parent of it; else 0. A NULL or empty authserv_id
 * never passes.
 */
int authres_passed(smf_msg_t *msg, const char *authserv_id, const char *domain);

#endif
