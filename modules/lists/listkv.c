/*
 * listkv.c - per-message lookups in the LMDB lists. Every lookup is an
 * exact key read: the scope's summary first (absent: nothing to do), then
 * one read per prefix length that exists and per domain suffix.
 */
#include "listkv.h"

#include <stdio.h>
#include <string.h>

/* Reads one entry key; 1 and e filled on a hit, 0 on a miss, or an error. */
static int listkv_get(smf_msg_t *msg, const uint8_t *key, size_t klen, listkey_entry_t *e)
{
    const void *val;
    size_t vlen;
    int rc;

    if (klen == 0)
        return 0;
    rc = smf_kv_get(msg, key, klen, &val, &vlen);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    return listkey_value_decode(val, vlen, e) == 0 ? 1 : 0;
}

/* Files a hit under block, allow, or allow-without-proof; the first of each wins. */
static void listkv_note(listkv_result_t *res, listkey_entry_t *e, const char *scope,
                        const listkv_query_t *q)
{
    snprintf(e->scope, sizeof(e->scope), "%s", scope);
    if (e->action == LISTKEY_BLOCK) {
        if (!res->block)
            res->block_hit = *e;
        res->block = 1;
    } else if ((e->flags & LISTKEY_AUTH) && e->type != LISTKEY_IP &&
               !(e->type == LISTKEY_SENDER ? q->sender_authenticated : q->authenticated)) {
        /* The client's address is the connection itself: an ip entry needs no
         * proof, whatever flag it was stored with (export writes none). */
        if (!res->unauth)
            res->unauth_hit = *e;
        res->unauth = 1;
    } else {
        if (!res->allow)
            res->allow_hit = *e;
        res->allow = 1;
    }
}

/* Longest prefix first, so that the most specific network names the hit. */
static int listkv_ip(smf_msg_t *msg, const char *scope, const listkey_meta_t *m,
                     const listkv_query_t *q, listkv_result_t *res)
{
    uint8_t key[LISTKEY_MAX];
    listkey_entry_t e;

    for (int plen = 128; plen >= 0 && q->has_ip; plen--) {
        if (m->plens[plen] == 0)
            continue;
        int rc = listkv_get(msg, key, listkey_ip_key(scope, q->ip, (unsigned)plen, key), &e);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            e.type = LISTKEY_IP;
            listkv_note(res, &e, scope, q);
        }
    }
    return 0;
}

/* Sender addresses match exactly. */
static int listkv_sender(smf_msg_t *msg, const char *scope, const listkv_query_t *q,
                         listkv_result_t *res)
{
    uint8_t key[LISTKEY_MAX];
    listkey_entry_t e;
    int rc = listkv_get(msg, key, listkey_name_key(scope, LISTKEY_SENDER, q->sender, key), &e);

    if (rc == 1) {
        e.type = LISTKEY_SENDER;
        listkv_note(res, &e, scope, q);
    }
    return rc < 0 ? rc : 0;
}

/* The name itself, then ".parent" for every parent: a.b.c, .b.c, .c. */
static int listkv_name(smf_msg_t *msg, const char *scope, listkey_type_t type, const char *name,
                       const listkv_query_t *q, listkv_result_t *res)
{
    uint8_t key[LISTKEY_MAX];
    listkey_entry_t e;
    int rc = listkv_get(msg, key, listkey_name_key(scope, type, name, key), &e);

    for (const char *p = strchr(name, '.'); rc >= 0; p = strchr(p + 1, '.')) {
        if (rc == 1) {
            e.type = type;
            listkv_note(res, &e, scope, q);
        }
        if (p == NULL)
            break;
        rc = listkv_get(msg, key, listkey_name_key(scope, type, p, key), &e);
    }
    return rc < 0 ? rc : 0;
}

int listkv_lookup(smf_msg_t *msg, const char *scope, const listkv_query_t *q, listkv_result_t *res)
{
    uint8_t key[LISTKEY_MAX];
    const void *val;
    size_t vlen, klen = listkey_meta_key(scope, key);
    listkey_meta_t m;
    int rc;

    memset(res, 0, sizeof(*res));
    if (klen == 0)
        return 0;
    rc = smf_kv_get(msg, key, klen, &val, &vlen);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    listkey_meta_decode(val, vlen, &m);
    if (m.types[LISTKEY_IP] > 0 && (rc = listkv_ip(msg, scope, &m, q, res)) < 0)
        return rc;
    if (m.types[LISTKEY_SENDER] > 0 && q->sender[0] != '\0' &&
        (rc = listkv_sender(msg, scope, q, res)) < 0)
        return rc;
    if (m.types[LISTKEY_DOMAIN] > 0 && q->domain[0] != '\0' &&
        (rc = listkv_name(msg, scope, LISTKEY_DOMAIN, q->domain, q, res)) < 0)
        return rc;
    if (m.types[LISTKEY_HELO] > 0 && q->helo[0] != '\0' &&
        (rc = listkv_name(msg, scope, LISTKEY_HELO, q->helo, q, res)) < 0)
        return rc;
    return 0;
}
