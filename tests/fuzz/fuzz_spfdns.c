/*
 * fuzz_spfdns.c - SPF evaluation (modules/auth/spf.c) whole, with the DNS
 * answers in the input. A sender chooses the domain of MAIL FROM, so it
 * chooses every TXT record check_host() reads (includes and redirects to
 * names it owns, as deep as the limits let it), and the A, AAAA, MX and PTR
 * records its mechanisms and the p macro look at; the client address and
 * the HELO name are the client's too. The answers enter where a server's
 * do, through the c-ares callback of the auth module's DNS client
 * (modules/auth/adns.c, included here under fuzz_dns.h), so the reply
 * parsers, the per-message cache and the deadline are those of the module.
 *
 * The input: the client address (IPv4 or IPv6; 192.0.2.1 when it reads as
 * neither), the MAIL FROM address and the HELO name, one a line, then the
 * answer lines of fuzz_dns.h, given to the questions in the order they are
 * asked: the sender domain's TXT first. The sender becomes the SPF identity
 * as the module makes it (postmaster@HELO for the null sender).
 *
 * The check runs twice, as for two messages from the same sender: the
 * second one is answered from the shared cache (modules/common/dnscache.c)
 * where the first one's replies were kept, and by name from the same lines
 * for what the cache does not keep; both must come to the same result.
 * Each one must also stay within the questions RFC 7208 lets a record ask,
 * and a pass must have something to stand on: the client's address in an
 * answer, or a term that matches without it.
 */
#include "fuzz_dns.h"

#include "../../modules/auth/adns.c"

#include "spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The most questions one check may ask: the sender domain's TXT; 10
 * DNS-querying terms and redirects (4.6.4), each one question but mx and
 * ptr, which ask one more for each of at most 10 hosts or names (11 each);
 * the PTR of the client and its 10 names that the p macro validates; and
 * the TXT of the explanation. Each name is asked once a message.
 */
#define SPF_MAX_QUESTIONS (1 + 10 * 11 + 11 + 1)

static auth_dns_t *dns;

/* Whether the answers of the check just run hold something a pass can
 * stand on: the client's address in an A or AAAA answer, or a record with
 * a term that matches without it (all, ip4, ip6, exists, or a prefix
 * length that takes in other addresses). */
static int pass_possible(const uint8_t ip[16])
{
    static const char *const terms[] = {"all", "ip4", "ip6", "exists", "/"};
    for (size_t i = 0; i < fuzz_dns.nasked; i++) {
        long line = fuzz_dns.asked[i].line;
        if (fuzz_dns_line_has_addr(line, ip))
            return 1;
        if (line < 0 || fuzz_dns.asked[i].type != AUTH_DNS_TXT)
            continue;
        char *text = fuzz_strndup(fuzz_dns.lines[line], fuzz_dns.lens[line]);
        int found = 0;
        /* A NUL inside the answer would end the search before a later string. */
        for (size_t k = 0; k < fuzz_dns.lens[line]; k++)
            if (text[k] == '\0')
                text[k] = ' ';
        for (size_t t = 0; t < sizeof(terms) / sizeof(terms[0]); t++)
            found |= strcasestr(text, terms[t]) != NULL;
        free(text);
        if (found)
            return 1;
    }
    return 0;
}

static auth_spf_result_t check(const auth_spf_query_t *q, char *why, size_t whylen)
{
    auth_dns_begin(dns, 5000);
    auth_spf_result_t r = auth_spf_check(dns, q, why, whylen);
    auth_dns_end(dns);
    FUZZ_CHECK(fuzz_dns_idle());
    FUZZ_CHECK(r <= AUTH_SPF_PERMERROR);
    FUZZ_CHECK(memchr(why, '\0', whylen) != NULL);
    fuzz_touch_str(auth_spf_name(r));
    fuzz_touch_str(why);
    if (getenv("FUZZ_DNS_TRACE") != NULL)
        fprintf(stderr, "spf: %s (%s)\n", auth_spf_name(r), why);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[200], addr[64], sender[1024], helo[512], identity[1100];
    if (dns == NULL && auth_dns_new("127.0.0.1:53", 1000, 1, &dns, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_spfdns: %s\n", err);
        abort();
    }
    dnscache_t *cache = NULL;
    FUZZ_CHECK(dnscache_open(100, 3600, 900, "fuzz", &cache, err, sizeof(err)) == 0);
    auth_dns_set_cache(dns, cache);

    const char *p = (const char *)data, *end = p + size;
    fuzz_next_line(&p, end, addr, sizeof(addr));
    fuzz_next_line(&p, end, sender, sizeof(sender));
    fuzz_next_line(&p, end, helo, sizeof(helo));
    auth_spf_query_t q = {.sender = identity, .helo = helo};
    if (inet_pton(AF_INET, addr, q.ip + 12) == 1)
        q.ip[10] = q.ip[11] = 0xff;
    else if (inet_pton(AF_INET6, addr, q.ip) != 1)
        memcpy(q.ip, (const uint8_t[16]){[10] = 0xff, [11] = 0xff, 192, 0, 2, 1}, 16);
    /* The identity as the module makes it (auth.c, auth_spf_identity()). */
    if (sender[0] == '\0')
        snprintf(identity, sizeof(identity), "postmaster@%s", helo);
    else if (strchr(sender, '@') == NULL)
        snprintf(identity, sizeof(identity), "postmaster@%s", sender);
    else
        snprintf(identity, sizeof(identity), "%s", sender);

    char why[1200], why2[1200];
    fuzz_dns_reset(p, (size_t)(end - p));
    auth_spf_result_t r = check(&q, why, sizeof(why));
    FUZZ_CHECK(fuzz_dns.nasked <= SPF_MAX_QUESTIONS);
    FUZZ_CHECK(r != AUTH_SPF_PASS || pass_possible(q.ip));
    fuzz_dns_replay();
    auth_spf_result_t again = check(&q, why2, sizeof(why2));
    /* A kept reply answers as the server did (dnscache.h). */
    if (fuzz_dns.unmatched == 0 && r != again) {
        fprintf(stderr, "first check: %s (%s)\nsecond check: %s (%s)\n", auth_spf_name(r), why,
                auth_spf_name(again), why2);
        FUZZ_CHECK(r == again);
    }
    auth_dns_set_cache(dns, NULL);
    dnscache_destroy(&cache);
    return 0;
}
