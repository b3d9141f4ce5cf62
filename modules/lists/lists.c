/*
 * lists.c - the lists module: allow and block lists of client addresses,
 * senders, sender domains and HELO names, from options and from the LMDB
 * store that `smfctl list` changes live, per scope (global, domain, user).
 */
#include "authres.h"
#include "ipnet.h"
#include "listdb.h"
#include "listkv.h"
#include "rfc5322.h"
#include "stage.h"

#include <smf/module.h>

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    int store;
    const char *trusted_authserv_id;
    const char *recipient_delimiter;
} lists_conf_t;

typedef struct lists_state {
    smf_listdb_t *db;
    double allow_score, block_score;
    int store;
    const char *authserv_id; /* Owned by the engine until fini(). */
    const char *delimiter;   /* recipient_delimiter; NULL or "" for none. */
} lists_state_t;

/* One message, normalised for both sources of entries. */
typedef struct lists_query {
    smf_list_query_t opt;
    listkv_query_t kv;
    const char **unauth_detail; /* First allow entry that lacked proof. */
} lists_query_t;

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
    {"store", SMF_OPT_BOOL, "true", offsetof(lists_conf_t, store),
     "Also look entries up in the store that `smfctl list` manages."},
    {"trusted_authserv_id", SMF_OPT_STRING, NULL, offsetof(lists_conf_t, trusted_authserv_id),
     "authserv-id of the Authentication-Results our own MTA writes; authenticated allow entries "
     "need spf=pass or dkim=pass for the sender's domain there."},
    {"recipient_delimiter", SMF_OPT_STRING, NULL, offsetof(lists_conf_t, recipient_delimiter),
     "Characters that start an address extension, as the MTA's (Postfix recipient_delimiter): "
     "the blocks of user:bob@example.com also hold for bob+news@example.com."},
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
    st->store = c->store;
    st->authserv_id = c->trusted_authserv_id;
    st->delimiter = c->recipient_delimiter;
    smf_log(NULL, SMF_LOG_INFO, "options: %zu allow and %zu block entries; store: %s",
            listdb_count(st->db, SMF_LIST_ALLOW), listdb_count(st->db, SMF_LIST_BLOCK),
            st->store ? "on" : "off");
    if (st->authserv_id == NULL || st->authserv_id[0] == '\0')
        smf_log(NULL, SMF_LOG_INFO,
                "trusted_authserv_id is not set: authenticated allow entries apply only "
                "when an auth stage runs before lists");
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

/* One scope's or one recipient's outcome. */
typedef struct lists_decision {
    int verdict;        /* 0 nothing, SMF_VERDICT_ALLOW or SMF_VERDICT_BLOCK. */
    int pending;        /* Only an allow entry matched, and it wants proof. */
    const char *detail; /* In the message arena. */
} lists_decision_t;

/* Why a stored entry matched: "user:bob@example.com: block ip 192.0.2.0/24". */
static const char *lists_entry_detail(smf_msg_t *msg, const listkey_entry_t *e)
{
    return smf_msg_printf(msg, "%s: %s %s %s%s", e->scope, listkey_action_name(e->action),
                          listkey_type_name(e->type), e->value,
                          (e->flags & LISTKEY_AUTH) ? " (authenticated)" : "");
}

/* The decision of one stored scope: block wins over allow inside a scope. */
static int lists_scope(smf_msg_t *msg, const char *scope, const lists_query_t *q,
                       lists_decision_t *d)
{
    listkv_result_t r;
    int rc = listkv_lookup(msg, scope, &q->kv, &r);

    memset(d, 0, sizeof(*d));
    if (rc < 0)
        return rc;
    if (r.unauth && q->unauth_detail != NULL && *q->unauth_detail == NULL)
        *q->unauth_detail = lists_entry_detail(msg, &r.unauth_hit);
    d->pending = r.unauth && !r.block && !r.allow;
    if (r.block) {
        d->verdict = SMF_VERDICT_BLOCK;
        d->detail = lists_entry_detail(msg, &r.block_hit);
    } else if (r.allow) {
        d->verdict = SMF_VERDICT_ALLOW;
        d->detail = lists_entry_detail(msg, &r.allow_hit);
    }
    return 0;
}

/* The option lists, seen as part of the global scope. */
static void lists_options_decision(smf_msg_t *msg, const lists_state_t *st, const lists_query_t *q,
                                   lists_decision_t *d)
{
    smf_list_hit_t hit;

    memset(d, 0, sizeof(*d));
    if (listdb_match(st->db, SMF_LIST_BLOCK, &q->opt, &hit)) {
        d->verdict = SMF_VERDICT_BLOCK;
        d->detail = smf_msg_printf(msg, "block_%s: %s", listdb_kind_name(hit.kind), hit.entry);
    } else if (listdb_match(st->db, SMF_LIST_ALLOW, &q->opt, &hit)) {
        d->verdict = SMF_VERDICT_ALLOW;
        d->detail = smf_msg_printf(msg, "allow_%s: %s", listdb_kind_name(hit.kind), hit.entry);
    }
}

/* Global scope: options and store together, block winning. */
static int lists_global(smf_msg_t *msg, const lists_state_t *st, const lists_query_t *q,
                        lists_decision_t *d)
{
    lists_decision_t stored = {0};
    int rc;

    lists_options_decision(msg, st, q, d);
    if (st->store && d->verdict != SMF_VERDICT_BLOCK &&
        (rc = lists_scope(msg, "global", q, &stored)) < 0)
        return rc;
    if (stored.verdict == SMF_VERDICT_BLOCK || (d->verdict == 0 && stored.verdict != 0))
        *d = stored;
    return 0;
}

/*
 * An address as the mailbox it names, the way RFC 5321 compares them: a
 * source route ("@relay:joe@example.com") is ignored, as servers must, and a
 * quoted local part is its unquoted form ("\"joe\"@example.com" is
 * joe@example.com). Otherwise a sender could dodge a block entry by writing
 * its own address another way that the MTA delivers, and SPF checks, the same.
 */
static const char *lists_mailbox(smf_msg_t *msg, const char *addr)
{
    const char *p = addr;
    char *out;

    if (p[0] == '@') {
        /* The route's domains may be address literals holding ':'. */
        for (int bracket = 0; *p != '\0' && (bracket || *p != ':'); p++)
            bracket = *p == '[' ? 1 : *p == ']' ? 0 : bracket;
        if (*p != ':')
            return addr;
        p++;
    }
    if (p[0] != '"' || (out = smf_msg_alloc(msg, strlen(p) + 1)) == NULL)
        return p;
    return listkey_unquote(p, out) ? out : p;
}

/*
 * The value of the message's first From field as written, unfolded, in the
 * message's memory; NULL when there is none. As written: smf_msg_header()
 * decodes RFC 2047, and an encoded word ("=?utf-8?q?boss=40partner.example?=")
 * in a display name would decode to what reads as the address.
 */
static const char *lists_raw_from(smf_msg_t *msg)
{
    size_t len;
    const char *h = smf_msg_raw_headers(msg, &len);
    char *field = rfc5322_raw_field(h, len, "From", 0);
    char *out = field != NULL ? smf_msg_alloc(msg, strlen(field) + 1) : NULL;

    if (out != NULL)
        strcpy(out, field);
    free(field);
    return out;
}

/*
 * The one mailbox of the message's one From field, or NULL when it has not
 * exactly one: no field or two, a group, a list of mailboxes, an unclosed
 * angle bracket or quoted string. A display name, even one that looks like
 * an address, is not the mailbox.
 */
static const char *lists_from_mailbox(smf_msg_t *msg)
{
    /* A second From field (the engine's index counts it) makes no one mailbox. */
    const char *raw = smf_msg_header(msg, "From", 1) == NULL ? lists_raw_from(msg) : NULL;
    char *value, *start, *end, *lt = NULL, *gt = NULL;
    int quoted = 0;

    if (raw == NULL || (value = smf_msg_alloc(msg, strlen(raw) + 1)) == NULL)
        return NULL;
    rfc5322_strip_comments(raw, value, strlen(raw) + 1, 0);
    for (char *p = value; *p != '\0'; p++) {
        if (quoted && *p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && (*p == ',' || *p == ';' || (*p == '<' && lt != NULL) ||
                             (*p == '>' && (lt == NULL || gt != NULL)) ||
                             (*p == ':' && (lt == NULL || gt != NULL))))
            return NULL;
        else if (!quoted && *p == '<')
            lt = p;
        else if (!quoted && *p == '>')
            gt = p;
    }
    if (quoted || (lt != NULL && gt == NULL))
        return NULL;
    /* Nothing but blanks after the angle brackets: "<a@b> c@d" is not one mailbox. */
    for (const char *p = gt != NULL ? gt + 1 : ""; *p != '\0'; p++) {
        if (!isspace((unsigned char)*p))
            return NULL;
    }
    start = lt != NULL ? lt + 1 : value;
    end = lt != NULL ? gt : value + strlen(value);
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return lists_mailbox(msg, start);
}

/*
 * Whether the sender itself is proven, for sender entries. SPF checks the
 * envelope sender's domain. DKIM signs the From field, not the envelope: a
 * signature of the sender's domain speaks for the sender only when From is
 * that sender, or anyone with a mailbox at a large provider could send mail
 * the provider signed for them under another of its users' addresses.
 */
static int lists_sender_proven(smf_msg_t *msg, const char *sender, int passed)
{
    char from[LISTKEY_VALUE_MAX];
    const char *mailbox;

    if (passed & AUTHRES_SPF)
        return 1;
    if (!(passed & AUTHRES_DKIM) || sender[0] == '\0' ||
        (mailbox = lists_from_mailbox(msg)) == NULL)
        return 0;
    return listkey_name_canon(mailbox, from, sizeof(from)) == 0 && strcmp(from, sender) == 0;
}

/* Normalises the envelope once: lower case, the sender's domain, its proof. */
static void lists_query_fill(smf_msg_t *msg, const lists_state_t *st, lists_query_t *q)
{
    const smf_envelope_t *env = smf_msg_envelope(msg);
    char *sender = smf_msg_alloc(msg, LISTKEY_VALUE_MAX), *helo = smf_msg_alloc(msg, 256);
    char *domain = smf_msg_alloc(msg, LISTKEY_VALUE_MAX);
    const char *at, *mailbox = lists_mailbox(msg, env->sender);

    q->opt.has_ip = env->client_ip[0] != '\0' && smf_ip_parse(env->client_ip, q->opt.ip) == 0;
    q->opt.sender = mailbox;
    q->opt.helo = env->helo;
    q->kv.has_ip = q->opt.has_ip;
    memcpy(q->kv.ip, q->opt.ip, 16);
    q->kv.sender = q->kv.domain = q->kv.helo = "";
    if (sender != NULL && listkey_name_canon(mailbox, sender, LISTKEY_VALUE_MAX) == 0 &&
        (at = strrchr(sender, '@')) != NULL) {
        q->kv.sender = sender;
        q->kv.domain = at + 1;
    } else if (domain != NULL && (at = strrchr(mailbox, '@')) != NULL &&
               listkey_name_canon(at + 1, domain, LISTKEY_VALUE_MAX) == 0) {
        /* A sender too long for a list entry still has its domain's entries
         * to answer to: a long local part must not step round a block. */
        q->kv.domain = domain;
    }
    if (helo != NULL && listkey_name_canon(env->helo, helo, 256) == 0)
        q->kv.helo = helo;
    int passed = authres_passed(msg, st->authserv_id, q->kv.domain);
    q->kv.authenticated = passed != 0;
    q->kv.sender_authenticated = lists_sender_proven(msg, q->kv.sender, passed);
}

/*
 * The most specific scope with something to say decides, scopes given
 * narrowest first. A connection check comes before the message, so before
 * any proof of the sender: an allow entry that waits for that proof in a
 * narrower scope leaves the recipient undecided there, rather than letting
 * a wider scope's block refuse mail that the scan may yet allow.
 */
static void lists_pick(const lists_decision_t *const *scopes, size_t n, int connect,
                       lists_decision_t *d)
{
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < n; i++) {
        if (scopes[i]->verdict != 0) {
            *d = *scopes[i];
            return;
        }
        if (connect && scopes[i]->pending)
            return;
    }
}

/* One user scope's decision. An address too long for a scope has none:
 * cut, it could name another's. */
static int lists_user(smf_msg_t *msg, const char *addr, const lists_query_t *q, lists_decision_t *d)
{
    char text[LISTKEY_SCOPE_MAX], scope[LISTKEY_SCOPE_MAX];

    memset(d, 0, sizeof(*d));
    if ((size_t)snprintf(text, sizeof(text), "user:%s", addr) < sizeof(text) &&
        listkey_scope_parse(text, scope, sizeof(scope)) == 0)
        return lists_scope(msg, scope, q, d);
    return 0;
}

/* The address without its extension ("bob+news@example.com" is bob@example.com
 * when '+' is a delimiter), as the MTA delivers it; NULL when it has none. */
static const char *lists_untagged(smf_msg_t *msg, const char *addr, const char *delimiter)
{
    const char *at = strrchr(addr, '@');
    size_t cut = strcspn(addr, delimiter != NULL ? delimiter : "");
    char *out;

    if (delimiter == NULL || delimiter[0] == '\0' || at == NULL || cut == 0 || addr + cut >= at ||
        (out = smf_msg_alloc(msg, strlen(addr) + 1)) == NULL)
        return NULL;
    memcpy(out, addr, cut);
    strcpy(out + cut, at);
    return out;
}

/*
 * A recipient's own entries, then its domain's, then the global ones. The
 * recipient is the mailbox, as for the sender ("\"bob\"@example.com" reaches
 * bob), and an address with an extension answers first to its own entries,
 * then to the blocks of the address it is delivered to.
 */
static int lists_recipient(smf_msg_t *msg, const lists_state_t *st, const char *rcpt,
                           const lists_query_t *q, const lists_decision_t *domain,
                           const lists_decision_t *global, int connect, lists_decision_t *d)
{
    const char *mailbox = lists_mailbox(msg, rcpt), *untagged;
    lists_decision_t user = {0}, base = {0};
    int rc;

    if ((rc = lists_user(msg, mailbox, q, &user)) < 0)
        return rc;
    if ((untagged = lists_untagged(msg, mailbox, st->delimiter)) != NULL &&
        (rc = lists_user(msg, untagged, q, &base)) < 0)
        return rc;
    /* Only its blocks: "bob-smith" may be a mailbox of its own, not bob's. */
    if (base.verdict != SMF_VERDICT_BLOCK)
        memset(&base, 0, sizeof(base));
    const lists_decision_t *scopes[] = {&user, &base, domain, global};
    lists_pick(scopes, 4, connect, d);
    return 0;
}

/* Forces the verdict every recipient agrees on; reports disagreement instead. */
static int lists_apply(smf_msg_t *msg, const lists_state_t *st, const lists_decision_t *per,
                       size_t n, const char *unauth)
{
    size_t agree = 0;

    for (size_t i = 0; i < n; i++)
        agree += per[i].verdict == per[0].verdict;
    if (agree != n) {
        for (size_t i = 0; i < n; i++) {
            if (per[i].verdict != 0)
                return smf_msg_add_symbol(
                    msg, "LIST_MIXED", 0,
                    smf_msg_printf(msg, "recipients disagree, e.g. %s", per[i].detail));
        }
    }
    if (agree == n && per[0].verdict != 0) {
        int block = per[0].verdict == SMF_VERDICT_BLOCK;
        int rc = smf_msg_add_symbol(msg, block ? "LIST_BLOCK" : "LIST_ALLOW",
                                    block ? st->block_score : st->allow_score, per[0].detail);
        if (rc < 0)
            return rc;
        if (!block)
            unauth = NULL;
        if ((rc = smf_msg_set_verdict(msg, (smf_verdict_t)per[0].verdict, per[0].detail)) < 0)
            return rc;
    }
    if (unauth != NULL)
        return smf_msg_add_symbol(msg, "LIST_ALLOW_UNAUTH", 0, unauth);
    return 0;
}

static int lists_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const lists_state_t *st = state;
    const smf_envelope_t *env = smf_msg_envelope(msg);
    const char *unauth = NULL;
    lists_query_t q = {.unauth_detail = &unauth};
    lists_decision_t global, domain = {0};
    lists_decision_t *per = smf_msg_alloc(msg, (env->rcpt_count + 1) * sizeof(*per));
    char text[LISTKEY_SCOPE_MAX], scope[LISTKEY_SCOPE_MAX];
    size_t n = env->rcpt_count > 0 ? env->rcpt_count : 1;
    int connect = stage_is_connect_check(msg), rc;

    if (per == NULL)
        return SMF_ENOMEM;
    lists_query_fill(msg, st, &q);
    if ((rc = lists_global(msg, st, &q, &global)) < 0)
        return rc;
    if (st->store &&
        (size_t)snprintf(text, sizeof(text), "domain:%s", smf_msg_domain(msg)) < sizeof(text) &&
        listkey_scope_parse(text, scope, sizeof(scope)) == 0 &&
        (rc = lists_scope(msg, scope, &q, &domain)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const lists_decision_t *scopes[] = {&domain, &global};

        if (!st->store || env->rcpt_count == 0)
            lists_pick(scopes, 2, connect, &per[i]);
        else if ((rc = lists_recipient(msg, st, env->rcpt[i], &q, &domain, &global, connect,
                                       &per[i])) < 0)
            return rc;
    }
    return lists_apply(msg, st, per, n, unauth);
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "lists",
    .version = "0.2.0",
    .description = "Allow and block lists: client IPs, senders, sender domains, HELO names",
    .kind = SMF_KIND_LIST,
    .options = lists_options,
    .conf_size = sizeof(lists_conf_t),
    .init = lists_init,
    .fini = lists_fini,
    .scan = lists_scan,
};
