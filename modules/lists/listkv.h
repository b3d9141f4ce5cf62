/*
 * listkv.h - looking a message up in the lists kept in the module's
 * key-value namespace (written by `smfctl list`), one scope at a time.
 */
#ifndef SMF_LISTKV_H
#define SMF_LISTKV_H

#include "listkeys.h"

#include <smf/module.h>

#include <stdint.h>

/* What a message offers for matching, normalised once per scan. */
typedef struct listkv_query {
    int has_ip;
    uint8_t ip[16];
    const char *sender; /* Lower case, "" for the null sender. */
    const char *domain; /* The sender's domain, lower case, or "". */
    const char *helo;   /* Lower case, or "". */
    int authenticated;  /* SPF or DKIM passed for the sender's domain. */
    /* Proof of the sender itself, for sender entries: SPF passed for its
     * domain, or DKIM did and the From field is the sender (lists.c). */
    int sender_authenticated;
} listkv_query_t;

/* What one scope says: the first block and allow hits, and an allow that lacked proof. */
typedef struct listkv_result {
    int block, allow, unauth;
    listkey_entry_t block_hit, allow_hit, unauth_hit;
} listkv_result_t;

/*
 * Looks q up in one scope ("global", "domain:D", "user:ADDR"). Fills *res
 * (zeroed first). Returns 0 or a negative SMF_E* code from the store.
 */
int listkv_lookup(smf_msg_t *msg, const char *scope, const listkv_query_t *q, listkv_result_t *res);

#endif
