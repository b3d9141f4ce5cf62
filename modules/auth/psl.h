/*
 * psl.h - organizational domains (RFC 7489 3.2) from the Public Suffix
 * List, for DMARC's relaxed alignment.
 */
#ifndef AUTH_PSL_H
#define AUTH_PSL_H

#include <stddef.h>

typedef struct auth_psl auth_psl_t;

/*
 * Loads a list in the publicsuffix.org format. An empty path gives an
 * empty list: then every name's organizational domain is its last two
 * labels. 0, or -1 with a reason in err.
 */
int auth_psl_load(const char *path, auth_psl_t **out, char *err, size_t errlen);
void auth_psl_destroy(auth_psl_t **psl);

/* The organizational domain of a lower-case name, into out. */
void auth_psl_org_domain(const auth_psl_t *psl, const char *domain, char *out, size_t outlen);

#endif
