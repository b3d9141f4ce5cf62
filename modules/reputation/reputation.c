/*
 * reputation.c - connection reputation: HELO sanity, DNS block and allow
 * lists, forward-confirmed reverse DNS, local history per address, network
 * and sender domain, and outbound rate limits. One check function each, run
 * in order by rep_scan().
 */
#include "cares.h"
#include "dnscache.h"
#include "dnscheck.h"
#include "history.h"
#include "ipnet.h"
#include "ratelimit.h"
#include "stage.h"
#include "sweep.h"

#include <smf/module.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct rep_conf {
    const char *const *local_domains;
    const char *const *trusted_networks;
    double helo_bare_ip_score;
    double helo_not_fqdn_score;
    double helo_ours_score;
    double no_rdns_score;
    const char *dns_server;
    long dns_timeout_ms;
    long dns_tries;
    long dns_budget_ms;
    long dns_cache_size;
    long dns_cache_max_ttl;
    long dns_cache_negative_ttl;
    const char *const *dnsbl;
    const char *const *dnswl;
    long max_url_hosts;
    int fcrdns;
    double no_fcrdns_score;
    int history;
    double history_half_life_hours;
    double history_min_count;
    double history_ip_weight;
    double history_net_weight;
    double history_domain_weight;
    double history_forget_count;
    long sweep_keys;
    long rate_messages_per_hour;
    long rate_recipients_per_hour;
    double rate_limit_score;
} rep_conf_t;

typedef struct rep_state {
    const rep_conf_t *conf; /* Owned by the engine until fini(). */
    smf_ipset_t trusted;
    rep_zone_t *zones; /* dnsbl then dnswl. */
    rep_dnscheck_conf_t dnscheck;
    int need_dns;
    dnscache_t *cache; /* Every worker's answers, shared; NULL when off. */
    rep_sweep_conf_t sweep;
} rep_state_t;

/* What every check needs to know about the connection. */
typedef struct rep_conn {
    const smf_envelope_t *env;
    int has_ip;
    uint8_t ip[16];
    int trusted;               /* From a trusted network or authenticated. */
    const char *helo;          /* The HELO name without its final dots. */
    const char *sender_domain; /* Lower case, "" for none. */
    const char *hist_domain;   /* The sender domain history keeps: "" for one of ours. */
} rep_conn_t;

static const smf_option_t rep_options[] = {
    {"local_domains", SMF_OPT_LIST, NULL, offsetof(rep_conf_t, local_domains),
     "Our own domains: an outside client claiming one (or a subdomain) in HELO is forging; a "
     "sender domain among them keeps no history."},
    {"trusted_networks", SMF_OPT_LIST, "{127.0.0.0/8, \"::1\"}",
     offsetof(rep_conf_t, trusted_networks),
     "Client networks (CIDR) exempt from the checks, such as our own relays."},
    {"helo_bare_ip_score", SMF_OPT_FLOAT, "1.5", offsetof(rep_conf_t, helo_bare_ip_score),
     "Score of REP_HELO_BARE_IP."},
    {"helo_not_fqdn_score", SMF_OPT_FLOAT, "1.5", offsetof(rep_conf_t, helo_not_fqdn_score),
     "Score of REP_HELO_NOT_FQDN."},
    {"helo_ours_score", SMF_OPT_FLOAT, "4", offsetof(rep_conf_t, helo_ours_score),
     "Score of REP_HELO_OURS."},
    {"no_rdns_score", SMF_OPT_FLOAT, "1", offsetof(rep_conf_t, no_rdns_score),
     "Score of REP_NO_RDNS."},
    {"dns_server", SMF_OPT_STRING, NULL, offsetof(rep_conf_t, dns_server),
     "Resolver as address:port ([::1]:53 for IPv6); default the system's (/etc/resolv.conf)."},
    {"dns_timeout_ms", SMF_OPT_INT, "1500", offsetof(rep_conf_t, dns_timeout_ms),
     "Milliseconds to wait for one answer before a retry."},
    {"dns_tries", SMF_OPT_INT, "2", offsetof(rep_conf_t, dns_tries),
     "Times a query is sent before it counts as timed out."},
    {"dns_budget_ms", SMF_OPT_INT, "5000", offsetof(rep_conf_t, dns_budget_ms),
     "Most milliseconds all DNS checks of a message may take; never past its deadline."},
    {"dns_cache_size", SMF_OPT_INT, "10000", offsetof(rep_conf_t, dns_cache_size),
     "DNS answers kept in memory for their TTL, shared by all workers; 0 keeps none."},
    {"dns_cache_max_ttl", SMF_OPT_INT, "3600", offsetof(rep_conf_t, dns_cache_max_ttl),
     "Most seconds a DNS answer is kept, whatever its TTL."},
    {"dns_cache_negative_ttl", SMF_OPT_INT, "900", offsetof(rep_conf_t, dns_cache_negative_ttl),
     "Most seconds a \"no such name\" or \"no such record\" answer is kept; 0 keeps none."},
    {"dnsbl", SMF_OPT_LIST, NULL, offsetof(rep_conf_t, dnsbl),
     "DNS block lists, \"ZONE:QUERY:CODES:SCORE\" (see the README)."},
    {"dnswl", SMF_OPT_LIST, NULL, offsetof(rep_conf_t, dnswl),
     "DNS allow lists, same format, usually with a negative SCORE (ip queries only)."},
    {"max_url_hosts", SMF_OPT_INT, "10", offsetof(rep_conf_t, max_url_hosts),
     "URL hosts per message looked up in url zones."},
    {"fcrdns", SMF_OPT_BOOL, "false", offsetof(rep_conf_t, fcrdns),
     "Check that the client's PTR name resolves back to its address."},
    {"no_fcrdns_score", SMF_OPT_FLOAT, "1.5", offsetof(rep_conf_t, no_fcrdns_score),
     "Score of REP_NO_FCRDNS."},
    {"history", SMF_OPT_BOOL, "true", offsetof(rep_conf_t, history),
     "Keep and use local ham/spam history per address, network and sender domain."},
    {"history_half_life_hours", SMF_OPT_FLOAT, "168", offsetof(rep_conf_t, history_half_life_hours),
     "Hours after which history counts halve."},
    {"history_min_count", SMF_OPT_FLOAT, "3", offsetof(rep_conf_t, history_min_count),
     "Observations (after decay) needed before history scores."},
    {"history_ip_weight", SMF_OPT_FLOAT, "2", offsetof(rep_conf_t, history_ip_weight),
     "Score of REP_HISTORY_IP for an all-spam address (its negative for all-ham)."},
    {"history_net_weight", SMF_OPT_FLOAT, "1", offsetof(rep_conf_t, history_net_weight),
     "Same for the address's /24 or /64 (REP_HISTORY_NET)."},
    {"history_domain_weight", SMF_OPT_FLOAT, "1", offsetof(rep_conf_t, history_domain_weight),
     "Same for the sender domain (REP_HISTORY_DOMAIN)."},
    {"history_forget_count", SMF_OPT_FLOAT, "0.1", offsetof(rep_conf_t, history_forget_count),
     "Decayed observations below which a history record is deleted (more than 0)."},
    {"sweep_keys", SMF_OPT_INT, "256", offsetof(rep_conf_t, sweep_keys),
     "Stored records examined per second for stale ones to delete (0 to 100000); 0 keeps every "
     "record."},
    {"rate_messages_per_hour", SMF_OPT_INT, "0", offsetof(rep_conf_t, rate_messages_per_hour),
     "Outbound messages per hour per sender and per authenticated user; 0 is no limit."},
    {"rate_recipients_per_hour", SMF_OPT_INT, "0", offsetof(rep_conf_t, rate_recipients_per_hour),
     "Outbound recipients per hour per sender and per authenticated user; 0 is no limit."},
    {"rate_limit_score", SMF_OPT_FLOAT, "10", offsetof(rep_conf_t, rate_limit_score),
     "Score of REP_RATE_LIMIT."},
    SMF_OPTIONS_END};

/* Parses the dnsbl and dnswl options into st->zones. */
static int rep_init_zones(smf_init_t *init, rep_state_t *st, const rep_conf_t *c)
{
    const char *const *lists[2] = {c->dnsbl, c->dnswl};
    static const char *const names[2] = {"dnsbl", "dnswl"};
    size_t n = 0;
    const char *why;

    for (int l = 0; l < 2; l++)
        for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++)
            n++;
    if ((st->zones = calloc(n + 1, sizeof(*st->zones))) == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
            rep_zone_t *z = &st->zones[st->dnscheck.nzones];
            if (rep_zone_parse(lists[l][i], l == 0 ? "REP_DNSBL" : "REP_DNSWL", z, &why) < 0) {
                smf_init_fail(init, "%s: invalid entry '%s': %s", names[l], lists[l][i], why);
                return SMF_EINVAL;
            }
            st->dnscheck.nzones++;
        }
    }
    st->dnscheck.zones = st->zones;
    return 0;
}

/* The shared DNS cache; options that make no sense are refused, not bent. */
static int rep_init_cache(smf_init_t *init, rep_state_t *st, const rep_conf_t *c)
{
    char err[200];
    /* Options are checked even when no check asks DNS: a typo waits for no one. */
    int rc = dnscache_open(c->dns_cache_size, c->dns_cache_max_ttl, c->dns_cache_negative_ttl,
                           c->dns_server, st->need_dns ? &st->cache : NULL, err, sizeof(err));
    if (rc != 0)
        smf_init_fail(init, "%s", err);
    return rc == 0 ? 0 : rc == -1 ? SMF_EINVAL : SMF_ENOMEM;
}

/* Checks what cannot wait for the first message: the resolver address. */
static int rep_init_dns(smf_init_t *init, rep_state_t *st, const rep_conf_t *c)
{
    char err[300];
    rep_dns_t *probe;

    st->dnscheck.fcrdns = c->fcrdns;
    st->dnscheck.no_fcrdns_score = c->no_fcrdns_score;
    st->dnscheck.max_url_hosts = c->max_url_hosts;
    st->need_dns = c->fcrdns || st->dnscheck.nzones > 0;
    if (c->dns_timeout_ms <= 0 || c->dns_tries <= 0 || c->dns_budget_ms <= 0) {
        smf_init_fail(init, "dns_timeout_ms, dns_tries and dns_budget_ms must be positive");
        return SMF_EINVAL;
    }
    if (!st->need_dns)
        return 0;
    if (rep_dns_new(c->dns_server, c->dns_timeout_ms, c->dns_tries, &probe, err, sizeof(err)) < 0) {
        smf_init_fail(init, "%s", err);
        return SMF_EINVAL;
    }
    rep_dns_destroy(&probe);
    return 0;
}

/* A half-life of 0 or less would keep every count for ever, which no
 * operator means: it is refused rather than read as "never forget". */
static int rep_init_history(smf_init_t *init, rep_state_t *st, const rep_conf_t *c)
{
    bool half_life_ok = c->history_half_life_hours > 0 && isfinite(c->history_half_life_hours);

    if (c->history && !half_life_ok) {
        smf_init_fail(init, "history_half_life_hours must be a positive number of hours, not %g",
                      c->history_half_life_hours);
        return SMF_EINVAL;
    }
    /* A forget count of 0 would keep every record for ever, the growth the
     * sweep exists to stop: sweep_keys = 0 is the way to keep them. One at
     * or above history_min_count would delete records that still score,
     * and a badness ratio is whole at any count, so a tiny residue of spam
     * would score in full until then. */
    if (!(c->history_forget_count > 0 && isfinite(c->history_forget_count)) ||
        (c->history && c->history_forget_count >= c->history_min_count)) {
        smf_init_fail(init,
                      "history_forget_count must be more than 0 and below history_min_count "
                      "(%g), not %g",
                      c->history_min_count, c->history_forget_count);
        return SMF_EINVAL;
    }
    /* Each step runs inside a message's verdict(): a whole store's walk
     * there would stall that worker. */
    if (c->sweep_keys < 0 || c->sweep_keys > REP_SWEEP_KEYS_MAX) {
        smf_init_fail(init, "sweep_keys must be 0 to %d, not %ld", REP_SWEEP_KEYS_MAX,
                      c->sweep_keys);
        return SMF_EINVAL;
    }
    /* With history off and no valid half-life, history records cannot be
     * aged: the sweep leaves them and prunes rate counts only. */
    st->sweep.half_life_ms = half_life_ok ? c->history_half_life_hours * 3600000.0 : 0;
    st->sweep.forget_count = c->history_forget_count;
    st->sweep.keys = c->sweep_keys;
    return 0;
}

static int rep_init_lists(smf_init_t *init, rep_state_t *st, const rep_conf_t *c)
{
    for (size_t i = 0; c->trusted_networks != NULL && c->trusted_networks[i] != NULL; i++) {
        int rc = smf_ipset_add(&st->trusted, c->trusted_networks[i]);
        if (rc < 0) {
            smf_init_fail(init, "trusted_networks: invalid entry '%s'", c->trusted_networks[i]);
            return rc;
        }
    }
    for (size_t i = 0; c->local_domains != NULL && c->local_domains[i] != NULL; i++) {
        if (c->local_domains[i][0] == '\0' || strchr(c->local_domains[i], '.') == NULL) {
            smf_init_fail(init, "local_domains: invalid entry '%s'", c->local_domains[i]);
            return SMF_EINVAL;
        }
    }
    return 0;
}

static void rep_fini(void *state)
{
    rep_state_t *st = state;
    char line[128];

    if (st != NULL) {
        /* Say what the cache saved so far (a reload may keep it). */
        if (dnscache_describe(st->cache, line, sizeof(line)))
            smf_log(NULL, SMF_LOG_INFO, "%s", line);
        dnscache_destroy(&st->cache);
        smf_ipset_free(&st->trusted);
        free(st->zones);
    }
    free(st);
}

static int rep_init(smf_init_t *init, const void *conf, void **state)
{
    const rep_conf_t *c = conf;
    rep_state_t *st = calloc(1, sizeof(*st));
    int rc;

    if (st == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    st->conf = c;
    if ((rc = rep_init_history(init, st, c)) < 0 || (rc = rep_init_lists(init, st, c)) < 0 ||
        (rc = rep_init_zones(init, st, c)) < 0 || (rc = rep_init_dns(init, st, c)) < 0 ||
        (rc = rep_init_cache(init, st, c)) < 0) {
        rep_fini(st);
        return rc;
    }
    *state = st;
    return 0;
}

/* One DNS client per worker thread: c-ares channels are not thread-safe. */
static int rep_thread_init(void *state, void **tstate)
{
    const rep_state_t *st = state;
    rep_dns_t *dns = NULL;
    char err[300];

    *tstate = NULL;
    if (!st->need_dns)
        return 0;
    if (rep_dns_new(st->conf->dns_server, st->conf->dns_timeout_ms, st->conf->dns_tries, &dns, err,
                    sizeof(err)) < 0) {
        smf_log(NULL, SMF_LOG_ERROR, "%s", err);
        return SMF_EFAIL;
    }
    rep_dns_set_cache(dns, st->cache);
    *tstate = dns;
    return 0;
}

static void rep_thread_fini(void *state, void *tstate)
{
    rep_dns_t *dns = tstate;

    rep_dns_destroy(&dns);
}

/* A copy of a name without its final dots, or the name itself when it has
 * none (or no memory is left): "localhost." is the name "localhost", and
 * must be judged as it, with no dot, neither taken for a FQDN nor asked of a
 * domain list. */
static const char *rep_name_trim(smf_msg_t *msg, const char *name)
{
    size_t n = strlen(name);

    while (n > 0 && name[n - 1] == '.')
        n--;
    if (name[n] == '\0')
        return name;
    const char *s = smf_msg_printf(msg, "%.*s", (int)n, name);
    return s != NULL ? s : name;
}

/* HELO checks, of the name without its final dots ("localhost." has no dot,
 * "192.0.2.1." is an address); the details quote it as sent. A bare IP is
 * not also reported as "not a FQDN". */
static int rep_check_helo(smf_msg_t *msg, const rep_state_t *st, rep_conn_t *conn)
{
    const char *sent = conn->env->helo;
    uint8_t addr[16];

    if (sent[0] == '\0')
        return 0;
    if (smf_ip_parse(conn->helo, addr) == 0)
        return smf_msg_add_symbol(msg, "REP_HELO_BARE_IP", st->conf->helo_bare_ip_score, sent);
    if (strchr(conn->helo, '.') == NULL) {
        int rc = smf_msg_add_symbol(msg, "REP_HELO_NOT_FQDN", st->conf->helo_not_fqdn_score, sent);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; st->conf->local_domains != NULL && st->conf->local_domains[i] != NULL; i++) {
        if (cares_in_domain(conn->helo, st->conf->local_domains[i]))
            return smf_msg_add_symbol(msg, "REP_HELO_OURS", st->conf->helo_ours_score, sent);
    }
    return 0;
}

/* The MTA writes "unknown" when the client's address has no (confirmed) PTR name. */
static int rep_check_rdns(smf_msg_t *msg, const rep_state_t *st, rep_conn_t *conn)
{
    const char *name = conn->env->client_name;

    if (!conn->has_ip)
        return 0;
    if (name[0] == '\0' || strcasecmp(name, "unknown") == 0)
        return smf_msg_add_symbol(msg, "REP_NO_RDNS", st->conf->no_rdns_score,
                                  conn->env->client_ip);
    return 0;
}

static int64_t rep_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* DNS lists and FCrDNS, within the DNS budget and the message's deadline. */
static int rep_check_dns(smf_msg_t *msg, const rep_state_t *st, rep_dns_t *dns, rep_conn_t *conn)
{
    rep_dnscheck_query_t q = {.ip = conn->has_ip ? conn->ip : NULL,
                              .ip_text = conn->env->client_ip,
                              .sender_domain = conn->sender_domain,
                              .helo = ""};
    uint8_t addr[16];
    /* Keep a little of the deadline for the stages after this one. */
    long budget = smf_msg_time_left_ms(msg) - 50;

    if (!st->need_dns || dns == NULL)
        return 0;
    if (budget > st->conf->dns_budget_ms)
        budget = st->conf->dns_budget_ms;
    if (budget <= 0)
        return SMF_ETIMEDOUT;
    if (strchr(conn->helo, '.') != NULL && smf_ip_parse(conn->helo, addr) != 0)
        q.helo = conn->helo;
    return rep_dnscheck_run(msg, dns, &st->dnscheck, &q, budget);
}

/* History symbols: points from -weight (all ham) to +weight (all spam). */
static int rep_check_history(smf_msg_t *msg, const rep_state_t *st, const rep_hist_keys_t *k,
                             int64_t now)
{
    static const char *const names[3] = {"REP_HISTORY_IP", "REP_HISTORY_NET", "REP_HISTORY_DOMAIN"};
    const double weights[3] = {st->conf->history_ip_weight, st->conf->history_net_weight,
                               st->conf->history_domain_weight};
    double half_life = st->conf->history_half_life_hours * 3600000.0;
    rep_hist_t h;
    int rc;

    for (int kind = 0; kind < 3; kind++) {
        if ((rc = rep_hist_get(msg, k, (rep_hist_kind_t)kind, half_life, now, &h)) < 0)
            return rc;
        double bad = rep_hist_badness(&h, st->conf->history_min_count);
        if (bad == 0 || weights[kind] == 0)
            continue;
        rc = smf_msg_add_symbol(msg, names[kind], weights[kind] * bad,
                                smf_msg_printf(msg, "%s: ham %.1f spam %.1f virus %.1f",
                                               k->label[kind], h.count[REP_HIST_HAM],
                                               h.count[REP_HIST_SPAM], h.count[REP_HIST_VIRUS]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A sender address or user name in lower case, the form its count is kept
 * under: "Alice@Example.com" and "alice@example.com" reach the same
 * mailbox, and most login back ends (LDAP, SQL, Active Directory) take
 * "Alice" for "alice". A sender or user must not pass the limit by
 * changing the case of its address or of the name it logs in with. */
static const char *rep_rate_name(smf_msg_t *msg, const char *name)
{
    char *s = smf_msg_printf(msg, "%s", name);

    if (s == NULL)
        return name;
    for (char *p = s; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

/*
 * The name the sender count keeps a message under. The null sender (<>:
 * bounces, auto-replies) is nobody's address, and every MTA must take it
 * whatever else it refuses: uncounted, it would let any client send
 * without a sender limit. It counts per client address, "<> from
 * 192.0.2.1", the one thing that tells its senders apart; with no address
 * known, all of it counts as "<>".
 */
static const char *rep_rate_sender(smf_msg_t *msg, const rep_conn_t *conn)
{
    char text[INET6_ADDRSTRLEN];

    if (conn->env->sender[0] != '\0')
        return rep_rate_name(msg, conn->env->sender);
    if (!conn->has_ip)
        return "<>";
    if (cares_is_v4(conn->ip))
        inet_ntop(AF_INET, conn->ip + 12, text, sizeof(text));
    else
        inet_ntop(AF_INET6, conn->ip, text, sizeof(text));
    const char *name = smf_msg_printf(msg, "<> from %s", text);
    return name != NULL ? name : "<>";
}

/* Outbound limits per sender address and per authenticated user. */
static int rep_check_rate(smf_msg_t *msg, const rep_state_t *st, const rep_conn_t *conn)
{
    rep_rate_limits_t lim = {st->conf->rate_messages_per_hour, st->conf->rate_recipients_per_hour};
    const char *by_sender = NULL, *by_user = NULL;
    int64_t now = rep_now_ms();
    int rc, rc2;

    if (conn->env->direction != SMF_DIR_OUTBOUND || (lim.messages <= 0 && lim.recipients <= 0))
        return 0;
    bool count = !stage_is_connect_check(msg);
    if ((rc = rep_rate_count(msg, "sender", rep_rate_sender(msg, conn), &lim, now, count,
                             &by_sender)) < 0 ||
        (rc2 = rep_rate_count(msg, "user", rep_rate_name(msg, conn->env->auth_user), &lim, now,
                              count, &by_user)) < 0)
        return rc < 0 ? rc : rc2;
    if (rc == 1 || rc2 == 1)
        return smf_msg_add_symbol(msg, "REP_RATE_LIMIT", st->conf->rate_limit_score,
                                  rc == 1 ? by_sender : by_user);
    return 0;
}

/* Lower-cased sender domain without its final dots ("x@Example.COM." is
 * example.com, its history and lists' one), or "". */
static const char *rep_sender_domain(smf_msg_t *msg, const char *sender)
{
    const char *at = strrchr(sender, '@');
    size_t n = at != NULL ? strlen(at + 1) : 0;
    char *d;

    while (n > 0 && at[n] == '.')
        n--;
    if (n == 0 || (d = smf_msg_printf(msg, "%.*s", (int)n, at + 1)) == NULL)
        return "";
    for (char *p = d; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* Whether a domain is one of local_domains or below one. */
static bool rep_is_ours(const rep_state_t *st, const char *domain)
{
    for (size_t i = 0; st->conf->local_domains != NULL && st->conf->local_domains[i] != NULL; i++)
        if (cares_in_domain(domain, st->conf->local_domains[i]))
            return true;
    return false;
}

static void rep_conn_fill(smf_msg_t *msg, const rep_state_t *st, rep_conn_t *conn)
{
    conn->env = smf_msg_envelope(msg);
    conn->has_ip =
        conn->env->client_ip[0] != '\0' && smf_ip_parse(conn->env->client_ip, conn->ip) == 0;
    /* A peer seen through NAT64 is the IPv4 host it stands for: trusted,
     * judged, asked about and remembered (its /24, not every such peer in
     * one /64) as that host. */
    if (conn->has_ip)
        rep_ip_nat64(conn->ip, conn->ip);
    conn->trusted = conn->env->auth_user[0] != '\0' ||
                    (conn->has_ip && smf_ipset_find(&st->trusted, conn->ip) >= 0);
    conn->helo = rep_name_trim(msg, conn->env->helo);
    conn->sender_domain = rep_sender_domain(msg, conn->env->sender);
    /* Anyone can claim our own domains as sender: mail that does says
     * nothing about who sent it. History of them, built from the site's
     * own mail, would lend a forger its good name. */
    conn->hist_domain = rep_is_ours(st, conn->sender_domain) ? "" : conn->sender_domain;
}

static int rep_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const rep_state_t *st = state;
    rep_conn_t conn = {0};
    rep_hist_keys_t keys;
    int64_t now = rep_now_ms();
    int rc;

    rep_conn_fill(msg, st, &conn);
    if ((rc = rep_check_rate(msg, st, &conn)) < 0)
        return rc;
    /* Our own relays and users may say what they like: only strangers are judged. */
    if (conn.trusted)
        return 0;
    if ((rc = rep_check_helo(msg, st, &conn)) < 0 || (rc = rep_check_rdns(msg, st, &conn)) < 0 ||
        (rc = rep_check_dns(msg, st, tstate, &conn)) < 0)
        return rc;
    if (!st->conf->history)
        return 0;
    rep_hist_keys(conn.has_ip ? conn.ip : NULL, conn.hist_domain, &keys);
    /* The history grows from final verdicts, in rep_verdict(). */
    return rep_check_history(msg, st, &keys, now);
}

/* Which history a final verdict feeds: a virus, spam the engine held or
 * refused, or ham it delivered unmarked. Marked, deferred mail says nothing
 * certain and is left out. */
static int rep_final_class(const smf_final_t *final)
{
    if (final->virus != NULL)
        return REP_HIST_VIRUS;
    if (final->action == SMF_ACTION_QUARANTINE || final->action == SMF_ACTION_REJECT)
        return REP_HIST_SPAM;
    if (final->action == SMF_ACTION_ACCEPT)
        return REP_HIST_HAM;
    return -1;
}

/* Every message heard of pays for a little pruning, so that the store
 * shrinks at the pace it grows; most messages find no step due. */
static void rep_sweep(smf_msg_t *msg, const rep_state_t *st)
{
    size_t removed;

    if (rep_sweep_step(msg, &st->sweep, rep_now_ms(), &removed) < 0)
        smf_log(msg, SMF_LOG_WARN, "cannot prune stale records from the reputation store");
    else if (removed > 0)
        smf_log(msg, SMF_LOG_DEBUG, "deleted %zu stale history and rate records", removed);
}

/* The message's final verdict (ABI 1.2) moves the history of its client. */
static void rep_verdict(smf_msg_t *msg, void *state, void *tstate, const smf_final_t *final)
{
    const rep_state_t *st = state;
    rep_conn_t conn = {0};
    rep_hist_keys_t keys;
    int cls = rep_final_class(final);
    rep_sweep(msg, st);
    if (!st->conf->history || cls < 0)
        return;
    /* The engine tells each recipient domain's scan of a message in turn, on
     * this thread: the message counts once. */
    static _Thread_local uint64_t last_request;
    uint64_t request = rep_request_hash(smf_msg_envelope(msg));
    if (request == last_request)
        return;
    last_request = request;
    rep_conn_fill(msg, st, &conn);
    /* Our own relays and users are never judged, so their mail builds no
     * history; nor does mail from no known client, whose every record is
     * kept per address or network. */
    if (conn.trusted || !conn.has_ip)
        return;
    rep_hist_keys(conn.has_ip ? conn.ip : NULL, conn.hist_domain, &keys);
    if (rep_hist_add(msg, &keys, (rep_hist_class_t)cls, 1,
                     st->conf->history_half_life_hours * 3600000.0, rep_now_ms()) != 0)
        smf_log(msg, SMF_LOG_WARN, "cannot update the reputation history");
}

/* An operator's classification (smfctl learn) moves the history of the
 * message's client, when the envelope names one (smfctl learn names none). */
static int rep_learn(smf_msg_t *msg, void *state, void *tstate, int klass, int delta)
{
    const rep_state_t *st = state;
    rep_conn_t conn = {0};
    rep_hist_keys_t keys;

    rep_conn_fill(msg, st, &conn);
    if (!st->conf->history || !conn.has_ip)
        return 0;
    rep_hist_keys(conn.has_ip ? conn.ip : NULL, conn.hist_domain, &keys);
    return rep_hist_add(msg, &keys, klass == SMF_CLASS_SPAM ? REP_HIST_SPAM : REP_HIST_HAM, delta,
                        st->conf->history_half_life_hours * 3600000.0, rep_now_ms());
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "reputation",
    .version = "0.2.0",
    .description = "Connection reputation: HELO, DNS lists, FCrDNS, history, rate limits",
    .kind = SMF_KIND_REPUTATION,
    .options = rep_options,
    .conf_size = sizeof(rep_conf_t),
    .init = rep_init,
    .fini = rep_fini,
    .thread_init = rep_thread_init,
    .thread_fini = rep_thread_fini,
    .scan = rep_scan,
    .learn = rep_learn,
    .verdict = rep_verdict,
};
