/*
 * reputation.c - connection reputation from what the client told us: HELO
 * sanity and reverse DNS. DNSBL, SPF and DKIM checks will join it here, one
 * check function each, run in order by reputation_scan().
 */
#include "ipnet.h"

#include <smf/module.h>

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct rep_conf {
    const char *const *local_domains;
    const char *const *trusted_networks;
    double helo_bare_ip_score;
    double helo_not_fqdn_score;
    double helo_ours_score;
    double no_rdns_score;
} rep_conf_t;

typedef struct rep_state {
    const rep_conf_t *conf; /* Owned by the engine until fini(). */
    smf_ipset_t trusted;
} rep_state_t;

/* What every check needs to know about the connection. */
typedef struct rep_conn {
    const smf_envelope_t *env;
    int has_ip;
    uint8_t ip[16];
    int trusted; /* From a trusted network or authenticated. */
} rep_conn_t;

static const smf_option_t rep_options[] = {
    {"local_domains", SMF_OPT_LIST, NULL, offsetof(rep_conf_t, local_domains),
     "Our own domains: an outside client claiming one (or a subdomain) in HELO is forging."},
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
    SMF_OPTIONS_END};

static int rep_init(smf_init_t *init, const void *conf, void **state)
{
    const rep_conf_t *c = conf;
    rep_state_t *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    st->conf = c;
    for (size_t i = 0; c->trusted_networks != NULL && c->trusted_networks[i] != NULL; i++) {
        int rc = smf_ipset_add(&st->trusted, c->trusted_networks[i]);
        if (rc < 0) {
            smf_init_fail(init, "trusted_networks: invalid entry '%s'", c->trusted_networks[i]);
            smf_ipset_free(&st->trusted);
            free(st);
            return rc;
        }
    }
    for (size_t i = 0; c->local_domains != NULL && c->local_domains[i] != NULL; i++) {
        if (c->local_domains[i][0] == '\0' || strchr(c->local_domains[i], '.') == NULL) {
            smf_init_fail(init, "local_domains: invalid entry '%s'", c->local_domains[i]);
            smf_ipset_free(&st->trusted);
            free(st);
            return SMF_EINVAL;
        }
    }
    *state = st;
    return 0;
}

static void rep_fini(void *state)
{
    rep_state_t *st = state;

    if (st != NULL)
        smf_ipset_free(&st->trusted);
    free(st);
}

/* Whether name equals domain or is one of its subdomains, ignoring case and a final dot. */
static int rep_in_domain(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (d > 0 && domain[d - 1] == '.')
        d--;
    if (d == 0 || n < d || strncasecmp(name + n - d, domain, d) != 0)
        return 0;
    return n == d || name[n - d - 1] == '.';
}

/* HELO checks. A bare IP is not also reported as "not a FQDN". */
static int rep_check_helo(smf_msg_t *msg, const rep_state_t *st, const rep_conn_t *conn)
{
    const char *helo = conn->env->helo;
    uint8_t addr[16];

    if (helo[0] == '\0')
        return 0;
    if (smf_ip_parse(helo, addr) == 0)
        return smf_msg_add_symbol(msg, "REP_HELO_BARE_IP", st->conf->helo_bare_ip_score, helo);
    if (strchr(helo, '.') == NULL) {
        int rc = smf_msg_add_symbol(msg, "REP_HELO_NOT_FQDN", st->conf->helo_not_fqdn_score, helo);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; st->conf->local_domains != NULL && st->conf->local_domains[i] != NULL; i++) {
        if (rep_in_domain(helo, st->conf->local_domains[i]))
            return smf_msg_add_symbol(msg, "REP_HELO_OURS", st->conf->helo_ours_score, helo);
    }
    return 0;
}

/* The MTA writes "unknown" when the client's address has no (confirmed) PTR name. */
static int rep_check_rdns(smf_msg_t *msg, const rep_state_t *st, const rep_conn_t *conn)
{
    const char *name = conn->env->client_name;

    if (!conn->has_ip)
        return 0;
    if (name[0] == '\0' || strcasecmp(name, "unknown") == 0)
        return smf_msg_add_symbol(msg, "REP_NO_RDNS", st->conf->no_rdns_score,
                                  conn->env->client_ip);
    return 0;
}

static int rep_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const rep_state_t *st = state;
    rep_conn_t conn = {0};
    int rc;

    conn.env = smf_msg_envelope(msg);
    conn.has_ip = conn.env->client_ip[0] != '\0' && smf_ip_parse(conn.env->client_ip, conn.ip) == 0;
    conn.trusted = conn.env->auth_user[0] != '\0' ||
                   (conn.has_ip && smf_ipset_find(&st->trusted, conn.ip) >= 0);

    /* Our own relays and users may say what they like: only strangers are judged. */
    if (conn.trusted)
        return 0;
    if ((rc = rep_check_helo(msg, st, &conn)) < 0)
        return rc;
    return rep_check_rdns(msg, st, &conn);
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "reputation",
    .version = "0.1.0",
    .description = "Connection reputation: HELO sanity and reverse DNS",
    .kind = SMF_KIND_REPUTATION,
    .options = rep_options,
    .conf_size = sizeof(rep_conf_t),
    .init = rep_init,
    .fini = rep_fini,
    .scan = rep_scan,
};
