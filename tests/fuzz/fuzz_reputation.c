/*
 * fuzz_reputation.c - the reputation module's scan (modules/reputation)
 * over what a stranger sends it: the client address and the name the MTA
 * found for it, the HELO name, the envelope sender, the URLs of the message
 * and every DNS answer its checks get. A sender's own DNS answers for the
 * PTR name of its address and that name's addresses (FCrDNS), and a block
 * list's answers are only as good as the resolver in between, which the
 * module must not trust beyond 127.0.0.0/8. The answers enter through the
 * c-ares callback of the module's DNS client (modules/reputation/dns.c,
 * included here under fuzz_dns.h), so its reply parsers, its cache of
 * answers and its deadline are the module's.
 *
 * The input, one a line: the client address, its reverse-DNS name as the
 * MTA saw it, the HELO name, the MAIL FROM address; then message text up to
 * a line "--", whose URLs the engine's URL scanner finds (as text, and each
 * line as a link's href); then the answer lines of fuzz_dns.h, given to the
 * questions in the order they are sent: each zone's about the client
 * address, the sender domain, the HELO name and the URL hosts, then the
 * client's PTR, then the addresses of its names.
 *
 * The module runs with the block and allow lists of its README and FCrDNS
 * on, as the engine runs a stage (scanctx_stage), twice: the second scan
 * is answered from the shared cache where the first one's answers were
 * kept and by name from the same lines, and must report the same symbols.
 * Checks: every question answered or cancelled when the scan returns, no
 * more questions than the zones and the URL cap allow, no list symbol
 * with points unless some answer was a list's (127.0.0.0/8), and no
 * REP_NO_FCRDNS when a PTR name's addresses hold the client's.
 */
#include "fuzz_dns.h"

#include "../../modules/reputation/dns.c"
#include "../../modules/reputation/reputation.c"

#include "clock.h"
#include "message.h"
#include "scanctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const dnsbl[] = {"zen.example:ip:127.0.0.2-127.0.0.11:3",
                                    "dbl.example:sender,helo,url:127.0.1.2-127.0.1.99:2.5",
                                    "multi.example:url,url_ip:&0x08:4", NULL};
static const char *const dnswl[] = {"list.dnswl.example:ip:127.0.0.0-127.0.255.255:-2", NULL};
static const char *const local_domains[] = {"example.org", NULL};
static const char *const trusted[] = {"127.0.0.0/8", "::1", NULL};

/* The zones above and the URL cap: the questions one scan may send. */
#define ZONES 4
#define MAX_URL_HOSTS 10
#define MAX_QUESTIONS (ZONES * (3 + MAX_URL_HOSTS) + 1 + REP_DNS_MAX_NAMES)

static rep_conf_t conf = {.local_domains = local_domains,
                          .trusted_networks = trusted,
                          .helo_bare_ip_score = 1.5,
                          .helo_not_fqdn_score = 1.5,
                          .helo_ours_score = 4,
                          .no_rdns_score = 1,
                          .dns_server = "127.0.0.1:53",
                          .dns_timeout_ms = 1500,
                          .dns_tries = 2,
                          .dns_budget_ms = 5000,
                          .dns_cache_size = 100,
                          .dns_cache_max_ttl = 3600,
                          .dns_cache_negative_ttl = 900,
                          .dnsbl = dnsbl,
                          .dnswl = dnswl,
                          .max_url_hosts = MAX_URL_HOSTS,
                          .fcrdns = 1,
                          .no_fcrdns_score = 1.5,
                          .history = 0,
                          .history_forget_count = 0.1,
                          .rate_limit_score = 10};

static rep_state_t *state;
static void *tstate;

/* The module as the engine starts it; init() reports nothing but failures,
 * which this configuration does not have, so it gets no init context. */
static void setup(void)
{
    void *st = NULL;
    if (rep_init(NULL, &conf, &st) != 0 || rep_thread_init(st, &tstate) != 0) {
        fprintf(stderr, "fuzz_reputation: cannot set the module up\n");
        abort();
    }
    state = st;
}

/* Whether an answer line holds an address a list answers with (127/8). */
static int has_list_answer(const char *p, const char *end)
{
    for (const char *s = p; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *stop = nl != NULL ? nl : end;
        for (const char *w = s; w + 4 <= stop; w++)
            if (memcmp(w, "127.", 4) == 0)
                return 1;
        s = stop + 1;
    }
    return 0;
}

/* Whether a forward look-up of the client's PTR names (an A or AAAA
 * question asked after the PTR one) was answered with its address. */
static int forward_confirmed(const char *client)
{
    uint8_t ip[16];
    int type = 0;
    if (smf_ip_parse(client, ip) != 0)
        return 0;
    for (size_t i = 0; i < fuzz_dns.nasked; i++) {
        if (fuzz_dns.asked[i].type == REP_DNS_PTR)
            type = cares_is_v4(ip) ? REP_DNS_A : REP_DNS_AAAA;
        else if (type != 0 && fuzz_dns.asked[i].type == type &&
                 fuzz_dns_line_has_addr(fuzz_dns.asked[i].line, ip))
            return 1;
    }
    return 0;
}

/* One scan; its symbols' points added up in *total, their number returned. */
static size_t scan(const message_t *m, const smf_envelope_t *env, int listed_ok, double *total)
{
    arena_t *arena = arena_new(4096);
    smf_msg_t x;
    scanctx_init(&x, arena, m, env, "example.org", clock_wall_ms() + 60000, 64 << 20, NULL);
    stage_outcome_t o = scanctx_stage(&x, &smf_module, state, tstate, 0);
    FUZZ_CHECK(fuzz_dns_idle());
    FUZZ_CHECK(o.rc == 0);
    *total = 0;
    for (size_t i = 0; i < x.nsymbols; i++) {
        const char *name = x.symbols[i].name;
        fuzz_touch_str(name);
        fuzz_touch_str(x.symbols[i].detail);
        if (getenv("FUZZ_DNS_TRACE") != NULL)
            fprintf(stderr, "symbol %s %g: %s\n", name, x.symbols[i].score,
                    x.symbols[i].detail != NULL ? x.symbols[i].detail : "");
        /* A resolver that answers for a list with anything else lists no one. */
        if (!listed_ok &&
            (strncmp(name, "REP_DNSBL_", 10) == 0 || strncmp(name, "REP_DNSWL_", 10) == 0))
            FUZZ_CHECK(x.symbols[i].score == 0);
        /* A name that leads back is enough, whatever the others did. */
        if (strcmp(name, "REP_NO_FCRDNS") == 0)
            FUZZ_CHECK(!forward_confirmed(env->client_ip));
        *total += x.symbols[i].score;
    }
    size_t n = x.nsymbols;
    arena_destroy(&arena);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ip[64], name[256], helo[512], sender[512], line[1024];
    if (state == NULL)
        setup();
    /* A cache of its own for each input: what one input's answers leave
     * must not answer the next. */
    char err[200];
    dnscache_destroy(&state->cache);
    FUZZ_CHECK(dnscache_open(conf.dns_cache_size, conf.dns_cache_max_ttl,
                             conf.dns_cache_negative_ttl, conf.dns_server, &state->cache, err,
                             sizeof(err)) == 0);
    rep_dns_set_cache(tstate, state->cache);

    const char *p = (const char *)data, *end = p + size;
    fuzz_next_line(&p, end, ip, sizeof(ip));
    fuzz_next_line(&p, end, name, sizeof(name));
    fuzz_next_line(&p, end, helo, sizeof(helo));
    fuzz_next_line(&p, end, sender, sizeof(sender));

    arena_t *arena = arena_new(4096);
    url_set_t urls;
    url_set_init(&urls, arena, 64);
    while (p < end) {
        const char *start = p;
        fuzz_next_line(&p, end, line, sizeof(line));
        if (strcmp(line, "--") == 0)
            break;
        url_scan_text(&urls, start, strlen(line));
        url_add_link(&urls, line, strlen(line));
    }
    static const char *const to[] = {"user@example.org", NULL};
    message_t m = {.raw = "",
                   .subject = "",
                   .from = sender,
                   .to = (const char **)to,
                   .text = "",
                   .urls = urls.items,
                   .url_count = urls.count};
    static const char *const rcpt[] = {"user@example.org"};
    smf_envelope_t env = {.request_id = "fuzz",
                          .queue_id = "",
                          .client_ip = ip,
                          .client_name = name,
                          .helo = helo,
                          .sender = sender,
                          .auth_user = "",
                          .direction = SMF_DIR_INBOUND,
                          .rcpt = rcpt,
                          .rcpt_count = 1};

    int listed_ok = has_list_answer(p, end);
    double total, again_total;
    fuzz_dns_reset(p, (size_t)(end - p));
    size_t n = scan(&m, &env, listed_ok, &total);
    FUZZ_CHECK(fuzz_dns.nasked <= MAX_QUESTIONS);
    fuzz_dns_replay();
    size_t again = scan(&m, &env, listed_ok, &again_total);
    /* A kept answer reads as the server's did (dnscache.h). */
    FUZZ_CHECK(fuzz_dns.unmatched > 0 || (again == n && again_total == total));
    arena_destroy(&arena);
    return 0;
}
