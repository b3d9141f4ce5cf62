/*
 * lists.c - the lists module: allow and block lists of client addresses,
 * senders, sender domains and HELO names. Blocking wins over allowing.
 * Entries come from options for now; matching lives in listdb.c.
 */
#include "ipnet.h"
#include "listdb.h"

#include <smf/module.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct lists_conf {
    const char *const *allow_ips;
    const char *const *block_ips;
    const char *const *allow_senders;
    const char *const *block_senders;
    const char *const *allow_domains;
    const char *const *block_domains;
    const char *const *block_helos;
    double allow_score;
    double block_score;
} lists_conf_t;

typedef struct lists_state {
    smf_listdb_t *db;
    double allow_score, block_score;
} lists_state_t;

static const smf_option_t lists_options[] = {
    {"allow_ips", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, allow_ips),
     "Client addresses or CIDR networks (IPv4, IPv6) to allow."},
    {"block_ips", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, block_ips),
     "Client addresses or CIDR networks (IPv4, IPv6) to block."},
    {"allow_senders", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, allow_senders),
     "Envelope sender addresses to allow (exact, case-insensitive)."},
    {"block_senders", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, block_senders),
     "Envelope sender addresses to block (exact, case-insensitive)."},
    {"allow_domains", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, allow_domains),
     "Sender domains to allow; \".example.com\" matches its subdomains."},
    {"block_domains", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, block_domains),
     "Sender domains to block; \".example.com\" matches its subdomains."},
    {"block_helos", SMF_OPT_LIST, NULL, offsetof(lists_conf_t, block_helos),
     "HELO names to block; \".example.com\" matches its subdomains."},
    {"allow_score", SMF_OPT_FLOAT, "-20", offsetof(lists_conf_t, allow_score),
     "Score of LIST_ALLOW."},
    {"block_score", SMF_OPT_FLOAT, "20", offsetof(lists_conf_t, block_score),
     "Score of LIST_BLOCK."},
    SMF_OPTIONS_END};

/* Which option feeds which list. HELO names are never allowed: anyone can claim one. */
static const struct {
    const char *option;
    size_t offset;
    smf_list_side_t side;
    smf_list_kind_t kind;
} lists_sources[] = {
    {"allow_ips", offsetof(lists_conf_t, allow_ips), SMF_LIST_ALLOW, SMF_LIST_IP},
    {"block_ips", offsetof(lists_conf_t, block_ips), SMF_LIST_BLOCK, SMF_LIST_IP},
    {"allow_senders", offsetof(lists_conf_t, allow_senders), SMF_LIST_ALLOW, SMF_LIST_SENDER},
    {"block_senders", offsetof(lists_conf_t, block_senders), SMF_LIST_BLOCK, SMF_LIST_SENDER},
    {"allow_domains", offsetof(lists_conf_t, allow_domains), SMF_LIST_ALLOW, SMF_LIST_DOMAIN},
    {"block_domains", offsetof(lists_conf_t, block_domains), SMF_LIST_BLOCK, SMF_LIST_DOMAIN},
    {"block_helos", offsetof(lists_conf_t, block_helos), SMF_LIST_BLOCK, SMF_LIST_HELO},
};

/* Loads one option's entries; explains the first bad one. */
static int lists_load_option(smf_init_t *init, smf_listdb_t *db, const lists_conf_t *conf,
                             size_t src)
{
    const char *const *entries =
        *(const char *const *const *)((const char *)conf + lists_sources[src].offset);

    for (size_t i = 0; entries != NULL && entries[i] != NULL; i++) {
        int rc = listdb_add(db, lists_sources[src].side, lists_sources[src].kind, entries[i]);
        if (rc == SMF_EINVAL) {
            smf_init_fail(init, "%s: invalid entry '%s'", lists_sources[src].option, entries[i]);
            return rc;
        }
        if (rc < 0) {
            smf_init_fail(init, "%s: %s", lists_sources[src].option, smf_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int lists_init(smf_init_t *init, const void *conf, void **state)
{
    const lists_conf_t *c = conf;
    lists_state_t *st = calloc(1, sizeof(*st));
    int rc = SMF_ENOMEM;

    if (st == NULL || (st->db = listdb_new()) == NULL) {
        smf_init_fail(init, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(lists_sources) / sizeof(lists_sources[0]); i++) {
        if ((rc = lists_load_option(init, st->db, c, i)) < 0)
            goto fail;
    }
    if ((rc = listdb_freeze(st->db)) < 0) {
        smf_init_fail(init, "out of memory");
        goto fail;
    }
    st->allow_score = c->allow_score;
    st->block_score = c->block_score;
    smf_log(NULL, SMF_LOG_INFO, "%zu allow and %zu block entries",
            listdb_count(st->db, SMF_LIST_ALLOW), listdb_count(st->db, SMF_LIST_BLOCK));
    *state = st;
    return 0;
fail:
    if (st != NULL)
        listdb_destroy(&st->db);
    free(st);
    return rc;
}

static void lists_fini(void *state)
{
    lists_state_t *st = state;

    if (st != NULL)
        listdb_destroy(&st->db);
    free(st);
}

/* Reports one hit as a symbol and a forced verdict. */
static int lists_report(smf_msg_t *msg, smf_list_side_t side, const smf_list_hit_t *hit,
                        double score)
{
    char detail[600];
    int rc;

    snprintf(detail, sizeof(detail), "%s_%s: %s", side == SMF_LIST_BLOCK ? "block" : "allow",
             listdb_kind_name(hit->kind), hit->entry);
    rc = smf_msg_add_symbol(msg, side == SMF_LIST_BLOCK ? "LIST_BLOCK" : "LIST_ALLOW", score,
                            detail);
    if (rc < 0)
        return rc;
    return smf_msg_set_verdict(msg, side == SMF_LIST_BLOCK ? SMF_VERDICT_BLOCK : SMF_VERDICT_ALLOW,
                               detail);
}

static int lists_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const lists_state_t *st = state;
    const smf_envelope_t *env = smf_msg_envelope(msg);
    smf_list_query_t q = {0};
    smf_list_hit_t hit;

    q.has_ip = env->client_ip[0] != '\0' && smf_ip_parse(env->client_ip, q.ip) == 0;
    q.sender = env->sender;
    q.helo = env->helo;

    /* Block first: a blocked entry must not be rescued by an allowed one. */
    if (listdb_match(st->db, SMF_LIST_BLOCK, &q, &hit))
        return lists_report(msg, SMF_LIST_BLOCK, &hit, st->block_score);
    if (listdb_match(st->db, SMF_LIST_ALLOW, &q, &hit))
        return lists_report(msg, SMF_LIST_ALLOW, &hit, st->allow_score);
    return 0;
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "lists",
    .version = "0.1.0",
    .description = "Allow and block lists: client IPs, senders, sender domains, HELO names",
    .kind = SMF_KIND_LIST,
    .options = lists_options,
    .conf_size = sizeof(lists_conf_t),
    .init = lists_init,
    .fini = lists_fini,
    .scan = lists_scan,
};
