/*
 * fuzz_dmarc.c - DMARC evaluation (modules/auth/dmarc.c) whole, with the
 * policy records in the input. A sender chooses the From domains, so it
 * chooses the TXT records found at _dmarc.<domain> and at the
 * organizational domain, which the Public Suffix List rules of
 * modules/auth/psl.c find from any name; it also chooses the domain SPF
 * checked and the signing domains of DKIM. The records enter through the
 * auth module's DNS client (modules/auth/adns.c, included here under
 * fuzz_dns.h), as in fuzz_spfdns.c.
 *
 * The input, one a line: the value of the From field; what SPF found, as
 * its result and domain ("pass example.com"); the DKIM signatures, as
 * domain:result words ("example.com:pass sub.example.org:fail"); then the
 * answer lines of fuzz_dns.h. As the module does, every From domain's
 * record is asked for first (prefetched), then each domain is evaluated,
 * which asks for the organizational domain's record when its own has none.
 * The list of public suffixes is the small one below, with wildcards,
 * exceptions and an internationalized rule.
 *
 * Checks: the outcome stays within its types, a pass has an aligned
 * passing identity behind it, and the organizational domain of a name is
 * one of its parent names (or itself) whatever the name, also when written
 * with a final dot, which names the same domain.
 */
#include "fuzz_dns.h"

#include "../../modules/auth/adns.c"
#include "../../modules/auth/dkim.c"

#include "dmarc.h"
#include "psl.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char psl_rules[] = "// The rules of fuzz_dmarc.c\n"
                                "com\nnet\norg\nuk\nco.uk\nck\n*.ck\n!www.ck\njp\n"
                                "kawasaki.jp\n*.kawasaki.jp\n!city.kawasaki.jp\n"
                                "cn\n\xe5\x85\xac\xe5\x8f\xb8.cn\nio\ngithub.io\n";

static auth_dns_t *dns;
static auth_psl_t *psl;

static void setup(void)
{
    char err[200], path[] = "/tmp/fuzz_dmarc_psl.XXXXXX";
    int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, psl_rules, sizeof(psl_rules) - 1) == (ssize_t)sizeof(psl_rules) - 1);
    close(fd);
    int rc = auth_psl_load(path, &psl, err, sizeof(err));
    unlink(path);
    if (rc != 0 || auth_dns_new("127.0.0.1:53", 1000, 1, &dns, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_dmarc: %s\n", err);
        abort();
    }
}

/* Whether parent is name or one of its parent domains. */
static int is_parent(const char *parent, const char *name)
{
    size_t n = strlen(name), p = strlen(parent);
    return p <= n && strcmp(name + n - p, parent) == 0 && (p == n || name[n - p - 1] == '.');
}

static void drop_final_dots(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '.')
        s[--n] = '\0';
}

/* The organizational domain of a name (lower case, as the module hands it
 * over) is one of its parents, and the same whether the name is written
 * with a final dot or without (final dots in what comes back aside). */
static void check_org(const char *name)
{
    char plain[300], dotted[300], org[256], org_dotted[256];
    size_t n = 0;
    for (; name[n] != '\0' && n + 2 < sizeof(plain); n++)
        plain[n] = (char)tolower((unsigned char)name[n]);
    plain[n] = '\0';
    drop_final_dots(plain);
    n = strlen(plain);
    if (n == 0 || n > 253)
        return;
    memcpy(dotted, plain, n);
    memcpy(dotted + n, ".", 2);
    auth_psl_org_domain(psl, plain, org, sizeof(org));
    auth_psl_org_domain(psl, dotted, org_dotted, sizeof(org_dotted));
    drop_final_dots(org);
    drop_final_dots(org_dotted);
    FUZZ_CHECK(is_parent(org, plain));
    if (strcmp(org, org_dotted) != 0) {
        fprintf(stderr, "organizational domain of %s: %s, of %s: %s\n", plain, org, dotted,
                org_dotted);
        FUZZ_CHECK(strcmp(org, org_dotted) == 0);
    }
}

static auth_spf_result_t spf_result(const char *word, size_t n)
{
    for (int r = AUTH_SPF_NONE; r <= AUTH_SPF_PERMERROR; r++)
        if (strlen(auth_spf_name((auth_spf_result_t)r)) == n &&
            strncmp(auth_spf_name((auth_spf_result_t)r), word, n) == 0)
            return (auth_spf_result_t)r;
    return AUTH_SPF_NONE;
}

/* Reads "domain:result ..." into the signatures of k. */
static void read_sigs(auth_dkim_t *k, char *line)
{
    char *save = NULL;
    for (char *w = strtok_r(line, " ", &save); w != NULL && k->nsigs < AUTH_DKIM_MAX_SIGS;
         w = strtok_r(NULL, " ", &save)) {
        auth_dkim_sig_t *s = &k->sigs[k->nsigs++];
        char *colon = strrchr(w, ':');
        memset(s, 0, sizeof(*s));
        s->result = AUTH_DKIM_RES_PERMERROR;
        if (colon != NULL) {
            *colon = '\0';
            for (int r = AUTH_DKIM_RES_PASS; r <= AUTH_DKIM_RES_NEUTRAL; r++)
                if (strcmp(colon + 1, auth_dkim_name((auth_dkim_result_t)r)) == 0)
                    s->result = (auth_dkim_result_t)r;
        }
        /* The verifier keeps d= in lower case, "" when unreadable. */
        snprintf(s->d, sizeof(s->d), "%s", w);
        for (char *c = s->d; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        check_org(s->d);
    }
}

/* Whether a pass has a passing identity aligned with the From domain
 * (relaxed: the same organizational domain) behind it. */
static int has_aligned_pass(const auth_dmarc_input_t *in)
{
    char a[256], b[256];
    auth_psl_org_domain(psl, in->from_domain, b, sizeof(b));
    if (in->spf == AUTH_SPF_PASS) {
        char lower[256];
        snprintf(lower, sizeof(lower), "%s", in->spf_domain);
        for (char *c = lower; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        auth_psl_org_domain(psl, lower, a, sizeof(a));
        if (strcmp(a, b) == 0)
            return 1;
    }
    for (size_t i = 0; i < auth_dkim_count(in->dkim); i++) {
        const auth_dkim_sig_t *s = auth_dkim_sig(in->dkim, i);
        auth_psl_org_domain(psl, s->d, a, sizeof(a));
        if (s->result == AUTH_DKIM_RES_PASS && strcmp(a, b) == 0)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char from[2048], spf[512], sigs[2048], out[AUTH_DMARC_MAX_FROM][256];
    if (psl == NULL)
        setup();
    const char *p = (const char *)data, *end = p + size;
    fuzz_next_line(&p, end, from, sizeof(from));
    fuzz_next_line(&p, end, spf, sizeof(spf));
    fuzz_next_line(&p, end, sigs, sizeof(sigs));

    size_t word = strcspn(spf, " ");
    const char *spf_domain = spf[word] == ' ' ? spf + word + 1 : "";
    auth_dkim_t *k = auth_dkim_new("", 0);
    FUZZ_CHECK(k != NULL);
    read_sigs(k, sigs);
    check_org(spf_domain);

    int unreadable = 0;
    int n = auth_dmarc_from_domains(from, out, AUTH_DMARC_MAX_FROM, &unreadable);
    FUZZ_CHECK(n >= 0 && n <= AUTH_DMARC_MAX_FROM);

    fuzz_dns_reset(p, (size_t)(end - p));
    auth_dns_begin(dns, 5000);
    for (int i = 0; i < n; i++)
        auth_dmarc_prefetch(dns, out[i]);
    for (int i = 0; i < n; i++) {
        auth_dmarc_input_t in = {.from_domain = out[i],
                                 .spf = spf_result(spf, word),
                                 .spf_domain = spf_domain,
                                 .dkim = k};
        auth_dmarc_outcome_t o;
        check_org(out[i]);
        auth_dmarc_check(dns, psl, &in, &o);
        FUZZ_CHECK(o.result <= AUTH_DMARC_RES_TEMPERROR);
        FUZZ_CHECK(o.policy <= AUTH_DMARC_P_REJECT);
        FUZZ_CHECK(o.pct >= 0 && o.pct <= 100);
        FUZZ_CHECK(memchr(o.record_domain, '\0', sizeof(o.record_domain)) != NULL);
        FUZZ_CHECK(memchr(o.why, '\0', sizeof(o.why)) != NULL);
        FUZZ_CHECK(o.result != AUTH_DMARC_RES_PASS || has_aligned_pass(&in));
        fuzz_touch_str(auth_dmarc_policy_name(o.policy));
        fuzz_touch_str(o.why);
        if (getenv("FUZZ_DNS_TRACE") != NULL)
            fprintf(stderr, "dmarc %s: result %d policy %s pct %d at %s: %s\n", out[i], o.result,
                    auth_dmarc_policy_name(o.policy), o.pct, o.record_domain, o.why);
    }
    auth_dns_end(dns);
    FUZZ_CHECK(fuzz_dns_idle());
    auth_dkim_destroy(&k);
    return 0;
}
