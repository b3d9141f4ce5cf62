/*
 * auth.c - the auth module: SPF for the envelope sender, DKIM for every
 * signature and DMARC for the From domain, each reported as a scored
 * symbol and together as an Authentication-Results header.
 */
#include "adns.h"
#include "dkim.h"
#include "dmarc.h"
#include "dnscache.h"
#include "idna.h"
#include "psl.h"
#include "rfc5322.h"
#include "spf.h"

#include <smf/module.h>

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct auth_conf {
    const char *authserv_id;
    const char *dns_server;
    long dns_timeout_ms;
    long dns_tries;
    long dns_budget_ms;
    long dns_cache_size;
    long dns_cache_max_ttl;
    long dns_cache_negative_ttl;
    const char *public_suffix_list;
    int spf, dkim, dmarc;
    int skip_authenticated;
    int dmarc_reject;
    double spf_scores[7]; /* In auth_spf_result_t order. */
    double dkim_pass_score, dkim_fail_score, dkim_permerror_score, dkim_temperror_score,
        dkim_neutral_score;
    double dkim_none_score;
    double dmarc_pass_score, dmarc_fail_score, dmarc_quarantine_score, dmarc_reject_score;
    double from_unreadable_score;
} auth_conf_t;

typedef struct auth_state {
    const auth_conf_t *conf;
    auth_psl_t *psl;
    dnscache_t *cache; /* Every worker's DNS replies, shared; NULL when off. */
} auth_state_t;

#define SPF_SCORE(r, def, what)                                                                    \
    {                                                                                              \
        "spf_" #r "_score", SMF_OPT_FLOAT, def,                                                    \
            offsetof(auth_conf_t, spf_scores) + AUTH_SPF_##what * sizeof(double),                  \
            "Score of AUTH_SPF_" #what "."                                                         \
    }

static const smf_option_t auth_options[] = {
    {"authserv_id", SMF_OPT_STRING, "smf", offsetof(auth_conf_t, authserv_id),
     "authserv-id of the Authentication-Results header added; empty adds none."},
    {"dns_server", SMF_OPT_STRING, NULL, offsetof(auth_conf_t, dns_server),
     "DNS server as addr:port; unset uses the system resolver."},
    {"dns_timeout_ms", SMF_OPT_INT, "1500", offsetof(auth_conf_t, dns_timeout_ms),
     "Timeout of one DNS try."},
    {"dns_tries", SMF_OPT_INT, "2", offsetof(auth_conf_t, dns_tries), "DNS tries per query."},
    {"dns_budget_ms", SMF_OPT_INT, "4000", offsetof(auth_conf_t, dns_budget_ms),
     "Longest time all DNS of one message may take (also bounded by the message's deadline)."},
    {"dns_cache_size", SMF_OPT_INT, "10000", offsetof(auth_conf_t, dns_cache_size),
     "DNS answers kept in memory for their TTL, shared by all workers; 0 keeps none."},
    {"dns_cache_max_ttl", SMF_OPT_INT, "3600", offsetof(auth_conf_t, dns_cache_max_ttl),
     "Most seconds a DNS answer is kept, whatever its TTL."},
    {"dns_cache_negative_ttl", SMF_OPT_INT, "900", offsetof(auth_conf_t, dns_cache_negative_ttl),
     "Most seconds a \"no such name\" or \"no such record\" answer is kept; 0 keeps none."},
    {"public_suffix_list", SMF_OPT_STRING, "/usr/share/publicsuffix/public_suffix_list.dat",
     offsetof(auth_conf_t, public_suffix_list),
     "Public Suffix List for DMARC organizational domains; empty uses the last two labels."},
    {"spf", SMF_OPT_BOOL, "true", offsetof(auth_conf_t, spf), "Check SPF."},
    {"dkim", SMF_OPT_BOOL, "true", offsetof(auth_conf_t, dkim), "Verify DKIM signatures."},
    {"dmarc", SMF_OPT_BOOL, "true", offsetof(auth_conf_t, dmarc), "Check DMARC."},
    {"skip_authenticated", SMF_OPT_BOOL, "true", offsetof(auth_conf_t, skip_authenticated),
     "Skip mail from SMTP-authenticated users and outbound mail."},
    {"dmarc_reject", SMF_OPT_BOOL, "false", offsetof(auth_conf_t, dmarc_reject),
     "Block (the policy's block_action) mail failing DMARC with p=reject."},
    SPF_SCORE(pass, "-1", PASS),
    SPF_SCORE(fail, "3", FAIL),
    SPF_SCORE(softfail, "1", SOFTFAIL),
    SPF_SCORE(neutral, "0", NEUTRAL),
    SPF_SCORE(none, "0", NONE),
    SPF_SCORE(temperror, "0", TEMPERROR),
    SPF_SCORE(permerror, "0.5", PERMERROR),
    {"dkim_pass_score", SMF_OPT_FLOAT, "-1", offsetof(auth_conf_t, dkim_pass_score),
     "Score of AUTH_DKIM_PASS."},
    {"dkim_fail_score", SMF_OPT_FLOAT, "2", offsetof(auth_conf_t, dkim_fail_score),
     "Score of AUTH_DKIM_FAIL."},
    {"dkim_permerror_score", SMF_OPT_FLOAT, "0.5", offsetof(auth_conf_t, dkim_permerror_score),
     "Score of AUTH_DKIM_PERMERROR."},
    {"dkim_temperror_score", SMF_OPT_FLOAT, "0", offsetof(auth_conf_t, dkim_temperror_score),
     "Score of AUTH_DKIM_TEMPERROR."},
    {"dkim_neutral_score", SMF_OPT_FLOAT, "0", offsetof(auth_conf_t, dkim_neutral_score),
     "Score of AUTH_DKIM_NEUTRAL: no pass, under a key in testing mode (t=y)."},
    {"dkim_none_score", SMF_OPT_FLOAT, "0", offsetof(auth_conf_t, dkim_none_score),
     "Score of AUTH_DKIM_NONE."},
    {"dmarc_pass_score", SMF_OPT_FLOAT, "-1", offsetof(auth_conf_t, dmarc_pass_score),
     "Score of AUTH_DMARC_PASS."},
    {"dmarc_fail_score", SMF_OPT_FLOAT, "1", offsetof(auth_conf_t, dmarc_fail_score),
     "Score of AUTH_DMARC_FAIL when the policy is none."},
    {"dmarc_quarantine_score", SMF_OPT_FLOAT, "4", offsetof(auth_conf_t, dmarc_quarantine_score),
     "Score of AUTH_DMARC_FAIL when the policy is quarantine."},
    {"dmarc_reject_score", SMF_OPT_FLOAT, "6", offsetof(auth_conf_t, dmarc_reject_score),
     "Score of AUTH_DMARC_FAIL when the policy is reject."},
    {"from_unreadable_score", SMF_OPT_FLOAT, "6", offsetof(auth_conf_t, from_unreadable_score),
     "Score of AUTH_FROM_UNREADABLE: a From mailbox DMARC cannot evaluate."},
    SMF_OPTIONS_END};

/* What one scan learns, for the symbols and the header. */
typedef struct auth_scan {
    smf_msg_t *msg;
    const auth_state_t *st;
    auth_dns_t *dns;
    const smf_envelope_t *env;
    char sender[600];
    const char *spf_domain;
    auth_spf_result_t spf;
    int spf_done;
    auth_dkim_t *dkim;
    char from_domain[256];                       /* The one DMARC's result is for ("" for none). */
    char from_domains[AUTH_DMARC_MAX_FROM][256]; /* Every author domain. */
    size_t nfrom;
    int from_unreadable; /* A From mailbox without a readable domain, or too many. */
    auth_dmarc_outcome_t dmarc;
    int dmarc_done;
} auth_scan_t;

static void auth_fini(void *state)
{
    auth_state_t *st = state;
    char line[128];

    if (st != NULL) {
        /* Say what the cache saved so far (a reload may keep it). */
        if (dnscache_describe(st->cache, line, sizeof(line)))
            smf_log(NULL, SMF_LOG_INFO, "%s", line);
        dnscache_destroy(&st->cache);
        auth_psl_destroy(&st->psl);
    }
    free(st);
}

/* The DNS cache every worker shares; options that make no sense are refused, not bent. */
static int auth_init_cache(smf_init_t *init, auth_state_t *st, const auth_conf_t *c)
{
    char err[200];
    int rc = dnscache_open(c->dns_cache_size, c->dns_cache_max_ttl, c->dns_cache_negative_ttl,
                           c->dns_server, &st->cache, err, sizeof(err));
    if (rc != 0)
        smf_init_fail(init, "%s", err);
    return rc == 0 ? 0 : rc == -1 ? SMF_EINVAL : SMF_ENOMEM;
}

static int auth_init(smf_init_t *init, const void *conf, void **state)
{
    const auth_conf_t *c = conf;
    auth_state_t *st = calloc(1, sizeof(*st));
    auth_dns_t *probe;
    char err[300];
    int rc;

    if (st == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    st->conf = c;
    if (c->dns_timeout_ms <= 0 || c->dns_tries <= 0 || c->dns_budget_ms <= 0) {
        smf_init_fail(init, "dns_timeout_ms, dns_tries and dns_budget_ms must be positive");
        auth_fini(st);
        return SMF_EINVAL;
    }
    if ((rc = auth_init_cache(init, st, c)) < 0) {
        auth_fini(st);
        return rc;
    }
    /* Check the resolver address now rather than at the first message. */
    if (auth_dns_new(c->dns_server, c->dns_timeout_ms, c->dns_tries, &probe, err, sizeof(err)) <
            0 ||
        auth_psl_load(c->public_suffix_list, &st->psl, err, sizeof(err)) < 0) {
        smf_init_fail(init, "%s", err);
        auth_fini(st);
        return SMF_EINVAL;
    }
    auth_dns_destroy(&probe);
    *state = st;
    return 0;
}

/* One DNS client per worker thread: c-ares channels are not thread-safe. */
static int auth_thread_init(void *state, void **tstate)
{
    const auth_state_t *st = state;
    auth_dns_t *dns = NULL;
    char err[300];

    if (auth_dns_new(st->conf->dns_server, st->conf->dns_timeout_ms, st->conf->dns_tries, &dns, err,
                     sizeof(err)) < 0) {
        smf_log(NULL, SMF_LOG_ERROR, "%s", err);
        return SMF_EFAIL;
    }
    auth_dns_set_cache(dns, st->cache);
    *tstate = dns;
    return 0;
}

static void auth_thread_fini(void *state, void *tstate)
{
    auth_dns_t *dns = tstate;

    (void)state;
    auth_dns_destroy(&dns);
}

/* ------------------------------------------------------------------ */
/* The three checks                                                   */
/* ------------------------------------------------------------------ */

/* Writes the domain of s->sender in UTF-8 (an SMTPUTF8 sender) as its
 * A-label, where its SPF record is published (RFC 8616, 4); a domain that
 * is no UTF-8 stays as it is and finds no record. */
static void auth_sender_alabel(auth_scan_t *s)
{
    char *at = strrchr(s->sender, '@'), alabel[256];
    size_t head = at != NULL ? (size_t)(at + 1 - s->sender) : 0;
    long n;
    int utf8 = 0;

    for (const char *p = at != NULL ? at + 1 : ""; *p != '\0'; p++)
        utf8 |= (*p & 0x80) != 0;
    if (!utf8 || (n = idna_host(at + 1, strlen(at + 1), alabel, sizeof(alabel))) < 0 ||
        head + (size_t)n >= sizeof(s->sender))
        return;
    memcpy(at + 1, alabel, (size_t)n + 1);
}

/* The SPF identity: MAIL FROM, or postmaster@HELO for the null sender (2.4). */
static void auth_spf_identity(auth_scan_t *s)
{
    const char *sender = s->env->sender;

    if (sender[0] == '\0')
        snprintf(s->sender, sizeof(s->sender), "postmaster@%s", s->env->helo);
    else if (strchr(sender, '@') == NULL)
        snprintf(s->sender, sizeof(s->sender), "postmaster@%s", sender);
    else
        snprintf(s->sender, sizeof(s->sender), "%s", sender);
    auth_sender_alabel(s);
    s->spf_domain = auth_spf_domain(s->sender);
}

static int auth_parse_ip(const char *text, uint8_t ip[16])
{
    memset(ip, 0, 16);
    if (inet_pton(AF_INET, text, ip + 12) == 1) {
        ip[10] = ip[11] = 0xff;
        return 0;
    }
    return inet_pton(AF_INET6, text, ip) == 1 ? 0 : -1;
}

static int auth_check_spf(auth_scan_t *s)
{
    static const char *const names[] = {
        "AUTH_SPF_NONE",     "AUTH_SPF_NEUTRAL",   "AUTH_SPF_PASS",     "AUTH_SPF_FAIL",
        "AUTH_SPF_SOFTFAIL", "AUTH_SPF_TEMPERROR", "AUTH_SPF_PERMERROR"};
    auth_spf_query_t q = {.sender = s->sender, .helo = s->env->helo};
    /* Room for the matched term and an exp= explanation, which may be long. */
    char why[1200];

    if (auth_parse_ip(s->env->client_ip, q.ip) < 0) {
        s->spf = AUTH_SPF_NONE;
        snprintf(why, sizeof(why), "no client address");
    } else {
        s->spf = auth_spf_check(s->dns, &q, why, sizeof(why));
    }
    s->spf_done = 1;
    return smf_msg_add_symbol(
        s->msg, names[s->spf], s->st->conf->spf_scores[s->spf],
        smf_msg_printf(s->msg, "%s from %s: %s", s->spf_domain, s->env->client_ip, why));
}

/* Appends "d=x s=y: why" of every signature with result r; NULL when none. */
static char *auth_dkim_detail(auth_scan_t *s, auth_dkim_result_t r)
{
    char *out = NULL;

    for (size_t i = 0; i < auth_dkim_count(s->dkim); i++) {
        const auth_dkim_sig_t *sig = auth_dkim_sig(s->dkim, i);
        if (sig->result != r)
            continue;
        out = smf_msg_printf(s->msg, "%s%sd=%s s=%s%s%s", out != NULL ? out : "",
                             out != NULL ? "; " : "", sig->d[0] ? sig->d : "?",
                             sig->s[0] ? sig->s : "?", sig->why[0] ? ": " : "", sig->why);
    }
    return out;
}

static int auth_check_dkim(auth_scan_t *s)
{
    static const char *const names[] = {"AUTH_DKIM_PASS", "AUTH_DKIM_FAIL", "AUTH_DKIM_PERMERROR",
                                        "AUTH_DKIM_TEMPERROR", "AUTH_DKIM_NEUTRAL"};
    const auth_conf_t *c = s->st->conf;
    const double scores[] = {c->dkim_pass_score, c->dkim_fail_score, c->dkim_permerror_score,
                             c->dkim_temperror_score, c->dkim_neutral_score};
    int rc;

    /* With dkim off, DMARC still needs the signatures: verified, not scored. */
    if (!c->dkim) {
        auth_dkim_verify(s->dkim, s->dns, time(NULL));
        return 0;
    }
    if (auth_dkim_count(s->dkim) == 0)
        return smf_msg_add_symbol(s->msg, "AUTH_DKIM_NONE", c->dkim_none_score,
                                  "no DKIM-Signature");
    auth_dkim_verify(s->dkim, s->dns, time(NULL));
    for (int r = AUTH_DKIM_RES_PASS; r <= AUTH_DKIM_RES_NEUTRAL; r++) {
        char *detail = auth_dkim_detail(s, (auth_dkim_result_t)r);
        if (detail != NULL && (rc = smf_msg_add_symbol(s->msg, names[r], scores[r], detail)) < 0)
            return rc;
    }
    return 0;
}

/* pct= (6.6.4): a failure outside the sampled share gets the next milder policy. */
static auth_dmarc_policy_t auth_dmarc_sampled(auth_scan_t *s, auth_dmarc_policy_t p)
{
    const char *id = smf_msg_header(s->msg, "Message-ID", 0);
    uint32_t h = 2166136261u;

    if (s->dmarc.pct >= 100 || p == AUTH_DMARC_P_NONE)
        return p;
    /* Sampled by Message-ID rather than at random, so a retried message gets the same answer. */
    for (const char *c = id != NULL ? id : ""; *c != '\0'; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h % 100 < (uint32_t)s->dmarc.pct ? p : (auth_dmarc_policy_t)(p - 1);
}

static int auth_dmarc_failed(auth_scan_t *s)
{
    const auth_conf_t *c = s->st->conf;
    auth_dmarc_policy_t p = auth_dmarc_sampled(s, s->dmarc.policy);
    const double scores[] = {c->dmarc_fail_score, c->dmarc_quarantine_score, c->dmarc_reject_score};
    char *detail = smf_msg_printf(
        s->msg, "%s: policy %s%s (record at %s): %s", s->from_domain, auth_dmarc_policy_name(p),
        p != s->dmarc.policy ? " (outside pct=)" : "", s->dmarc.record_domain, s->dmarc.why);
    int rc = smf_msg_add_symbol(s->msg, "AUTH_DMARC_FAIL", scores[p], detail);

    if (rc == 0 && p == AUTH_DMARC_P_REJECT && c->dmarc_reject)
        rc = smf_msg_set_verdict(
            s->msg, SMF_VERDICT_BLOCK,
            smf_msg_printf(s->msg, "DMARC policy of %s is reject", s->dmarc.record_domain));
    return rc;
}

/* How bad a DMARC outcome is: a fail under the strictest policy first. */
static int auth_dmarc_rank(const auth_dmarc_outcome_t *o)
{
    switch (o->result) {
    case AUTH_DMARC_RES_FAIL:
        return 10 + (int)o->policy;
    case AUTH_DMARC_RES_TEMPERROR:
        return 5;
    case AUTH_DMARC_RES_PASS:
        return 0;
    default:
        return 1;
    }
}

/*
 * Evaluates every author domain and keeps the worst outcome (RFC 7489,
 * 6.6.1): "From: ceo@bank.example, x@evil.example", or two From fields,
 * must not let the evil domain's pass stand for the bank's p=reject.
 */
static int auth_check_dmarc(auth_scan_t *s)
{
    const auth_conf_t *c = s->st->conf;

    for (size_t i = 0; i < s->nfrom; i++) {
        auth_dmarc_input_t in = {.from_domain = s->from_domains[i],
                                 .spf = s->spf_done ? s->spf : AUTH_SPF_NONE,
                                 .spf_domain = s->spf_domain,
                                 .dkim = s->dkim};
        auth_dmarc_outcome_t o;
        auth_dmarc_check(s->dns, s->st->psl, &in, &o);
        if (i == 0 || auth_dmarc_rank(&o) > auth_dmarc_rank(&s->dmarc)) {
            s->dmarc = o;
            snprintf(s->from_domain, sizeof(s->from_domain), "%s", s->from_domains[i]);
        }
    }
    s->dmarc_done = 1;
    switch (s->dmarc.result) {
    case AUTH_DMARC_RES_PASS:
        return smf_msg_add_symbol(s->msg, "AUTH_DMARC_PASS", c->dmarc_pass_score,
                                  smf_msg_printf(s->msg, "%s: policy %s: %s", s->from_domain,
                                                 auth_dmarc_policy_name(s->dmarc.policy),
                                                 s->dmarc.why));
    case AUTH_DMARC_RES_FAIL:
        return auth_dmarc_failed(s);
    case AUTH_DMARC_RES_TEMPERROR:
        return smf_msg_add_symbol(s->msg, "AUTH_DMARC_TEMPERROR", 0,
                                  smf_msg_printf(s->msg, "%s: %s", s->from_domain, s->dmarc.why));
    default:
        return smf_msg_add_symbol(s->msg, "AUTH_DMARC_NONE", 0, s->dmarc.why);
    }
}

/* ------------------------------------------------------------------ */
/* Authentication-Results (RFC 8601)                                  */
/* ------------------------------------------------------------------ */

/*
 * A property value as Authentication-Results may carry it bare: letters,
 * digits and the atext punctuation, '@' and '.'. Anything else (a quoted
 * local part holding "; dkim=pass ...", a blank, a parenthesis) would let
 * the sender write results of its own into the header and into the note
 * the lists stage trusts: then only the domain after the last '@' is
 * written (RFC 8601 allows it), or "unknown".
 */
static const char *auth_ar_value(auth_scan_t *s, const char *v)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789!#$%&'*+-/=?^_`{|}~.@";
    if (v[0] != '\0' && v[strspn(v, safe)] == '\0')
        return v;
    const char *at = strrchr(v, '@');
    if (at != NULL && at[1] != '\0' && at[1 + strspn(at + 1, safe)] == '\0' &&
        strchr(at + 1, '@') == NULL)
        return smf_msg_printf(s->msg, "%s", at + 1);
    return "unknown";
}

static char *auth_ar_dkim(auth_scan_t *s, char *ar)
{
    if (s->dkim == NULL)
        return ar;
    if (auth_dkim_count(s->dkim) == 0)
        return smf_msg_printf(s->msg, "%s; dkim=none", ar);
    for (size_t i = 0; i < auth_dkim_count(s->dkim) && ar != NULL; i++) {
        const auth_dkim_sig_t *sig = auth_dkim_sig(s->dkim, i);
        ar = smf_msg_printf(s->msg, "%s; dkim=%s header.d=%s header.s=%s", ar,
                            auth_dkim_name(sig->result), auth_ar_value(s, sig->d),
                            auth_ar_value(s, sig->s));
    }
    return ar;
}

/*
 * The results go two ways: as an Authentication-Results header on the
 * delivered message (when authserv_id is set), and as the note
 * "auth.results" (the same resinfo list, without the authserv-id) for the
 * stages after this one in the same scan, such as the lists stage.
 */
static int auth_add_header(auth_scan_t *s)
{
    static const char *const dmarc[] = {"none", "pass", "fail", "temperror"};
    const char *id = s->st->conf->authserv_id;
    char *ar;

    ar = smf_msg_printf(s->msg, "%s", "");
    if (ar != NULL && s->spf_done)
        ar = smf_msg_printf(s->msg, "%s; spf=%s %s=%s", ar, auth_spf_name(s->spf),
                            s->env->sender[0] != '\0' ? "smtp.mailfrom" : "smtp.helo",
                            auth_ar_value(s, s->env->sender[0] != '\0' ? s->sender : s->env->helo));
    if (ar != NULL)
        ar = auth_ar_dkim(s, ar);
    if (ar != NULL && s->dmarc_done)
        ar = smf_msg_printf(s->msg, "%s; dmarc=%s header.from=%s", ar, dmarc[s->dmarc.result],
                            auth_ar_value(s, s->from_domain));
    if (ar == NULL)
        return SMF_ENOMEM;
    /* ar starts with "; " before the first result, or is empty. */
    if (ar[0] != '\0' && smf_msg_set_note(s->msg, "auth.results", ar + 2) != 0)
        return SMF_ENOMEM;
    if (id == NULL || id[0] == '\0')
        return 0;
    /* Headers under this authserv-id already in the message are not ours:
     * the lists stage reads this to leave them out (docs/lists.md). */
    if (smf_msg_set_note(s->msg, "auth.authserv_id", id) != 0)
        return SMF_ENOMEM;
    char *header = smf_msg_printf(s->msg, "%s%s", id, ar);
    return header != NULL ? smf_msg_add_header(s->msg, "Authentication-Results", header)
                          : SMF_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Scan                                                               */
/* ------------------------------------------------------------------ */

/* Starts every query known up front, so that they run in parallel. */
static void auth_prefetch(auth_scan_t *s)
{
    const auth_conf_t *c = s->st->conf;

    if (c->spf)
        auth_dns_prefetch(s->dns, s->spf_domain, AUTH_DNS_TXT);
    if (s->dkim != NULL)
        auth_dkim_prefetch(s->dkim, s->dns);
    for (size_t i = 0; c->dmarc && i < s->nfrom; i++)
        auth_dmarc_prefetch(s->dns, s->from_domains[i]);
}

/*
 * Adds the author domains of one From value to those DMARC evaluates. The
 * value as written gives the mailboxes a mail client shows (an encoded word
 * in a display name may decode to '<', ',' or '@': "=?utf-8?q?=3Cceo=40
 * evil.example=3E?= <ceo@bank.example>" decoded reads as evil.example's
 * mailbox, and bank.example's policy would never be asked); the decoded
 * value adds what a client that decodes first may show (an address sent as
 * an encoded word), without making the From unreadable: display names with
 * a comma decode to what parses as a second, broken mailbox.
 */
static void auth_add_from(auth_scan_t *s, const char *value, int as_written)
{
    char d[AUTH_DMARC_MAX_FROM][256];
    int unreadable;
    int n = auth_dmarc_from_domains(value, d, AUTH_DMARC_MAX_FROM, &unreadable);
    if (as_written)
        s->from_unreadable |= unreadable;
    for (int k = 0; k < n; k++) {
        size_t j = 0;
        while (j < s->nfrom && strcmp(s->from_domains[j], d[k]) != 0)
            j++;
        if (j == s->nfrom && s->nfrom < AUTH_DMARC_MAX_FROM)
            memcpy(s->from_domains[s->nfrom++], d[k], sizeof(d[k]));
        else if (j == s->nfrom)
            s->from_unreadable = 1;
    }
}

static int auth_run(auth_scan_t *s)
{
    const auth_conf_t *c = s->st->conf;
    const char *from;
    int rc = 0;

    auth_spf_identity(s);
    if (c->dkim || c->dmarc) {
        size_t len;
        const char *raw = smf_msg_raw(s->msg, &len);
        if ((s->dkim = auth_dkim_new(raw, len)) == NULL)
            return SMF_ENOMEM;
    }
    /* Every From field (RFC 5322 allows one; a second is no way round DMARC). */
    size_t hlen;
    const char *headers = smf_msg_raw_headers(s->msg, &hlen);
    for (size_t i = 0; (from = smf_msg_header(s->msg, "From", i)) != NULL; i++) {
        char *raw = rfc5322_raw_field(headers, hlen, "From", i);
        if (raw == NULL)
            return SMF_ENOMEM;
        auth_add_from(s, raw, 1);
        free(raw);
        auth_add_from(s, from, 0);
    }
    snprintf(s->from_domain, sizeof(s->from_domain), "%s", s->nfrom > 0 ? s->from_domains[0] : "");
    auth_prefetch(s);
    if (c->spf)
        rc = auth_check_spf(s);
    if (rc == 0 && s->dkim != NULL)
        rc = auth_check_dkim(s);
    if (rc == 0 && c->dmarc && s->from_domain[0] != '\0')
        rc = auth_check_dmarc(s);
    else if (rc == 0 && c->dmarc)
        rc = smf_msg_add_symbol(s->msg, "AUTH_DMARC_NONE", 0, "no usable From address");
    /* An author DMARC could not read may be the one whose policy says reject:
     * what cannot be checked must not pass for checked. */
    if (rc == 0 && c->dmarc && s->from_unreadable)
        rc = smf_msg_add_symbol(s->msg, "AUTH_FROM_UNREADABLE", c->from_unreadable_score,
                                s->nfrom == AUTH_DMARC_MAX_FROM
                                    ? "more author domains than DMARC evaluates, or one unreadable"
                                    : "a From mailbox without a readable domain");
    if (rc == 0)
        rc = auth_add_header(s);
    return rc;
}

static int auth_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const auth_state_t *st = state;
    auth_scan_t s = {.msg = msg, .st = st, .dns = tstate, .env = smf_msg_envelope(msg)};
    /* Keep a little of the deadline for the stages after this one. */
    long budget = smf_msg_time_left_ms(msg) - 50;
    int rc;

    if (st->conf->skip_authenticated &&
        (s.env->auth_user[0] != '\0' || s.env->direction == SMF_DIR_OUTBOUND))
        return 0;
    if (budget > st->conf->dns_budget_ms)
        budget = st->conf->dns_budget_ms;
    if (budget <= 0)
        return SMF_ETIMEDOUT;
    auth_dns_begin(s.dns, budget);
    rc = auth_run(&s);
    auth_dns_end(s.dns);
    auth_dkim_destroy(&s.dkim);
    return rc;
}

/* SPF, DKIM and DMARC judge the sender and the message, whoever receives
 * it: one check serves every recipient domain of a message (a DKIM body
 * hash of a large message is computed once). */
static const char *auth_scope(smf_msg_t *msg, void *state, void *tstate)
{
    (void)msg, (void)state, (void)tstate;
    return "";
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "auth",
    .version = "1.0.0",
    .description = "Sender authentication: SPF, DKIM and DMARC, with Authentication-Results",
    .kind = SMF_KIND_REPUTATION,
    .options = auth_options,
    .conf_size = sizeof(auth_conf_t),
    .init = auth_init,
    .fini = auth_fini,
    .thread_init = auth_thread_init,
    .thread_fini = auth_thread_fini,
    .scan = auth_scan,
    .scope = auth_scope,
};
