/*
 * dmarc.c - DMARC evaluation: finds the policy record at the From domain or
 * else at its organizational domain, then passes the message when SPF or
 * a DKIM signature passed for an aligned domain.
 */
#include "dmarc.h"
#include "idna.h"
#include "rfc5322.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct dmarc_record {
    int valid;
    int has_sp, has_np;
    auth_dmarc_policy_t p, sp, np;
    int adkim_strict, aspf_strict;
    int pct;
    int as_none;   /* Read as p=none: p= or sp= was unusable, rua= was not. */
    int defaulted; /* An invalid adkim=, aspf= or pct= was read as its default. */
} dmarc_record_t;

const char *auth_dmarc_policy_name(auth_dmarc_policy_t p)
{
    static const char *const names[] = {"none", "quarantine", "reject"};
    return names[p];
}

/* The domain of one mailbox ("Name <a@b>", "a@b", "\"x@y\" <a@b>"): after the
 * last '@' outside quotes of the address in angle brackets, or of the whole.
 * A domain in UTF-8 (RFC 6532 mail) is asked about as its A-label, with
 * full-width letters and full stops as the ASCII ones (core/idna.c): the
 * reader sees "ｂａｎｋ。example" as bank.example, whose policy applies. */
static int dmarc_mailbox_domain(const char *m, size_t len, char *out, size_t outlen)
{
    const char *addr = m, *end = m + len, *at = NULL;
    int quoted = 0;

    for (const char *p = m; p < end; p++) {
        if (quoted && *p == '\\' && p + 1 < end)
            p++; /* \" inside a quoted string does not end it */
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '<') {
            addr = p + 1;
            at = NULL;
        } else if (!quoted && *p == '>' && addr != m) {
            end = p;
            break;
        } else if (!quoted && *p == '@')
            at = p;
    }
    if (at == NULL || at < addr)
        return -1;
    const char *d = at + 1;
    while (d < end && isspace((unsigned char)*d))
        d++;
    size_t n = 0;
    while (d + n < end &&
           (isalnum((unsigned char)d[n]) || d[n] == '.' || d[n] == '-' || (d[n] & 0x80)))
        n++;
    const char *rest = d + n;
    while (rest < end && isspace((unsigned char)*rest))
        rest++;
    /* Anything after the domain but the end of the mailbox makes it no domain at all. */
    if (n == 0 || n >= outlen || (rest < end && *rest != ';') || idna_domain(d, n, out, outlen) < 0)
        return -1;
    /* A From domain DNS cannot be asked about ("ceo@x..bank.example", a label
     * of 64 bytes under bank.example) is none: its record look-up would fail
     * as a DNS error, a temperror any sender could choose in place of
     * bank.example's policy. */
    return strchr(out, '.') != NULL && auth_dns_name_ok(out) ? 0 : -1;
}

int auth_dmarc_from_domains(const char *value, char out[][256], size_t max, int *unreadable)
{
    size_t size = strlen(value) + 1, count = 0;
    char *clean = malloc(size);
    int quoted = 0, angle = 0;

    *unreadable = 0;
    if (clean == NULL) {
        *unreadable = 1;
        return 0;
    }
    rfc5322_strip_comments(value, clean, size, 0);
    const char *start = clean;
    for (const char *p = clean;; p++) {
        if (quoted && *p == '\\' && p[1] != '\0') {
            p++;
            continue;
        }
        if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '<')
            angle = 1;
        else if (!quoted && *p == '>')
            angle = 0;
        if (*p != '\0' && (quoted || angle || *p != ','))
            continue;
        char d[256];
        size_t len = (size_t)(p - start);
        if (strspn(start, " \t\r\n") < len) {
            if (dmarc_mailbox_domain(start, len, d, sizeof(d)) != 0)
                *unreadable = 1;
            else {
                size_t k = 0;
                while (k < count && strcmp(out[k], d) != 0)
                    k++;
                if (k == count && count < max)
                    memcpy(out[count++], d, sizeof(d));
                else if (k == count)
                    *unreadable = 1; /* One domain more than can be evaluated. */
            }
        }
        if (*p == '\0')
            break;
        start = p + 1;
    }
    free(clean);
    return (int)count;
}

void auth_dmarc_prefetch(auth_dns_t *dns, const char *from_domain)
{
    char name[300];

    snprintf(name, sizeof(name), "_dmarc.%s", from_domain);
    auth_dns_prefetch(dns, name, AUTH_DNS_TXT);
}

static int dmarc_policy(const char *v, auth_dmarc_policy_t *p)
{
    if (strcasecmp(v, "none") == 0)
        *p = AUTH_DMARC_P_NONE;
    else if (strcasecmp(v, "quarantine") == 0)
        *p = AUTH_DMARC_P_QUARANTINE;
    else if (strcasecmp(v, "reject") == 0)
        *p = AUTH_DMARC_P_REJECT;
    else
        return -1;
    return 0;
}

/* What the tags of one record said, beyond the values kept in the record. */
typedef struct dmarc_seen {
    int has_p;
    int bad_policy; /* p= missing or invalid, or sp= invalid (6.6.3, step 6). */
    int bad_other;  /* adkim=, aspf= or pct= with an invalid value: its default holds. */
    int rua_ok;     /* rua= holds at least one syntactically valid URI. */
} dmarc_seen_t;

/*
 * Whether one element of rua= is a URI as RFC 3986 writes one: a scheme
 * (a letter, then letters, digits, '+', '-', '.'), ':', and at least one
 * character that a URI may hold. A size limit ("!10m") may follow (6.4).
 */
static int dmarc_uri_ok(const char *u, size_t n)
{
    size_t i = 0;

    if (n == 0 || !isalpha((unsigned char)u[0]))
        return 0;
    while (i < n && (isalnum((unsigned char)u[i]) || strchr("+-.", u[i]) != NULL))
        i++;
    if (i == n || u[i] != ':' || i + 1 == n)
        return 0;
    for (i++; i < n; i++)
        if (!isgraph((unsigned char)u[i]) || strchr("<>\"{}|\\^`", u[i]) != NULL)
            return 0;
    return 1;
}

/* Whether a rua= list ("mailto:a@example.com,mailto:b@example.net") has a valid URI. */
static int dmarc_rua_ok(const char *v)
{
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, ",");
        if (dmarc_uri_ok(p, n))
            return 1;
        p += n;
        if (*p == '\0')
            return 0;
    }
}

/*
 * One tag=value of a record; unknown tags are ignored as the RFC asks. Tag
 * names and keywords are ABNF strings (6.4), which match in any case:
 * "P=Reject; ADKIM=S" says what "p=reject; adkim=s" says.
 */
static void dmarc_tag(dmarc_record_t *r, const char *tag, const char *v, dmarc_seen_t *seen)
{
    char *end;

    if (strcasecmp(tag, "p") == 0) {
        seen->has_p = 1;
        seen->bad_policy |= dmarc_policy(v, &r->p) < 0;
    } else if (strcasecmp(tag, "sp") == 0) {
        r->has_sp = 1;
        seen->bad_policy |= dmarc_policy(v, &r->sp) < 0;
    } else if (strcasecmp(tag, "np") == 0) {
        /* RFC 9091 is an extension: a bad np= is ignored, as by a receiver
         * that does not know the tag, rather than spoiling the record. */
        r->has_np = dmarc_policy(v, &r->np) == 0;
    } else if (strcasecmp(tag, "rua") == 0) {
        seen->rua_ok |= dmarc_rua_ok(v);
    } else if (strcasecmp(tag, "adkim") == 0 || strcasecmp(tag, "aspf") == 0) {
        int *strict = strcasecmp(tag, "adkim") == 0 ? &r->adkim_strict : &r->aspf_strict;
        if (strcasecmp(v, "s") != 0 && strcasecmp(v, "r") != 0) {
            seen->bad_other = 1;
            *strict = 0;
        } else
            *strict = tolower((unsigned char)v[0]) == 's';
    } else if (strcasecmp(tag, "pct") == 0) {
        long pct = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || pct < 0 || pct > 100) {
            seen->bad_other = 1;
            r->pct = 100;
        } else {
            r->pct = (int)pct;
        }
    }
}

/*
 * Parses "v=DMARC1; p=reject; ..." (6.3); v must come first. A record whose
 * p= is missing or invalid, or whose sp= is invalid, is still used when its
 * rua= holds a valid URI: as a record of "v=DMARC1; p=none" alone (6.6.3,
 * step 6), so that its owner gets the reports that show the mistake. An
 * invalid adkim=, aspf= or pct= gives way to its default (relaxed, 100),
 * as 6.3 asks: "pct=100%" must not cost a domain its p=reject.
 */
static void dmarc_parse(const char *text, dmarc_record_t *r)
{
    char *buf, *save = NULL;
    int first = 1;
    dmarc_seen_t seen = {0};

    memset(r, 0, sizeof(*r));
    r->pct = 100;
    /* The whole record: a pct= or sp= after long report addresses counts. */
    if ((buf = strdup(text)) == NULL)
        return;
    for (char *t = strtok_r(buf, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
        char tag[32] = "", val[512] = "";
        if (sscanf(t, " %31[^= \t] = %511[^ \t]", tag, val) < 1)
            continue;
        if (first) {
            if (strcasecmp(tag, "v") != 0 || strcmp(val, "DMARC1") != 0)
                break;
            first = 0;
            continue;
        }
        dmarc_tag(r, tag, val, &seen);
    }
    free(buf);
    if (first)
        return;
    seen.bad_policy |= !seen.has_p;
    if (!seen.bad_policy) {
        r->valid = 1;
        r->defaulted = seen.bad_other;
    } else if (seen.rua_ok) {
        memset(r, 0, sizeof(*r));
        r->pct = 100;
        r->valid = r->as_none = 1;
    }
}

/*
 * Whether a TXT record is a DMARC record: it starts with the version tag,
 * "v" *WSP "=" *WSP "DMARC1" (6.4), so "v = DMARC1; p=reject" is one. The
 * tag name may be in any case; "DMARC1" is written in hex in the ABNF, so
 * only as is. A blank, ';' or the end must follow: "v=DMARC10" is another
 * version, and "v=DMARC1" alone is a record without a p=, an invalid one.
 */
static int dmarc_is_record(const char *s)
{
    if (*s != 'v' && *s != 'V')
        return 0;
    s++;
    s += strspn(s, " \t");
    if (*s++ != '=')
        return 0;
    s += strspn(s, " \t");
    return strncmp(s, "DMARC1", 6) == 0 &&
           (s[6] == ';' || s[6] == ' ' || s[6] == '\t' || s[6] == '\0');
}

/* What dmarc_fetch() found at one name. */
enum {
    DMARC_DNS_ERROR = -1,
    DMARC_NONE = 0,
    DMARC_FOUND = 1,
    DMARC_SEVERAL = 2,
    DMARC_INVALID = 3
};

/*
 * Fetches the record of one name. Several "v=DMARC1" records, or one that
 * does not parse (no valid p=), are not "no record": they end the policy
 * discovery (RFC 7489, 6.6.3, steps 4 and 5), and the organizational domain
 * is not asked.
 */
static int dmarc_fetch(auth_dns_t *dns, const char *domain, dmarc_record_t *r)
{
    char name[300];
    const auth_dns_rr_t *rr;
    size_t found = 0;

    snprintf(name, sizeof(name), "_dmarc.%s", domain);
    rr = auth_dns_get(dns, name, AUTH_DNS_TXT);
    if (rr->status == AUTH_DNS_TIMEOUT || rr->status == AUTH_DNS_FAIL)
        return DMARC_DNS_ERROR;
    for (size_t i = 0; i < rr->nstrs; i++) {
        if (dmarc_is_record(rr->strs[i])) {
            dmarc_parse(rr->strs[i], r);
            found++;
        }
    }
    return found == 0  ? DMARC_NONE
           : found > 1 ? DMARC_SEVERAL
           : r->valid  ? DMARC_FOUND
                       : DMARC_INVALID;
}

/*
 * Whether a domain does not exist for DMARC (RFC 9091, 2.7): NXDOMAIN or
 * NODATA for its A, AAAA and MX records alike. A DNS error leaves it
 * existing: what cannot be known does not earn the stricter np= policy,
 * nor the milder one.
 */
static int dmarc_nonexistent(auth_dns_t *dns, const char *domain)
{
    static const int types[] = {AUTH_DNS_A, AUTH_DNS_AAAA, AUTH_DNS_MX};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        auth_dns_prefetch(dns, domain, types[i]);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        auth_dns_status_t st = auth_dns_get(dns, domain, types[i])->status;
        if (st != AUTH_DNS_NXDOMAIN && st != AUTH_DNS_NODATA)
            return 0;
    }
    return 1;
}

/*
 * The policy for the From domain. A record of its own gives p=. One found at
 * the organizational domain gives np= (RFC 9091) when the From domain does
 * not exist, else sp=, else p=; *np says whether np= was applied. The DNS
 * is asked only when np= would change the answer.
 */
static auth_dmarc_policy_t dmarc_applied(auth_dns_t *dns, const dmarc_record_t *r,
                                         const char *from_domain, const char *record_domain,
                                         int *np)
{
    auth_dmarc_policy_t sub = r->has_sp ? r->sp : r->p;

    *np = 0;
    if (strcmp(record_domain, from_domain) == 0)
        return r->p;
    if (r->has_np && r->np != sub && dmarc_nonexistent(dns, from_domain)) {
        *np = 1;
        return r->np;
    }
    return sub;
}

/* Strict: the same name. Relaxed: the same organizational domain. */
static int dmarc_aligned(const auth_psl_t *psl, const char *id, const char *from, int strict)
{
    char a[256], b[256];

    if (strcasecmp(id, from) == 0)
        return 1;
    if (strict)
        return 0;
    snprintf(a, sizeof(a), "%s", id);
    for (char *c = a; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    auth_psl_org_domain(psl, a, b, sizeof(b));
    auth_psl_org_domain(psl, from, a, sizeof(a));
    return strcmp(a, b) == 0;
}

/* Looks at SPF, then at each signature; fills the outcome's result and why. */
static void dmarc_evaluate(const auth_psl_t *psl, const auth_dmarc_input_t *in,
                           const dmarc_record_t *r, auth_dmarc_outcome_t *out)
{
    /* Only a DNS failure that could have hidden an aligned pass makes the
     * result temperror: an SPF temperror for an unrelated envelope domain
     * (one the sender chose for its broken DNS) must not soften a fail. */
    int temp = in->spf == AUTH_SPF_TEMPERROR && in->spf_domain != NULL &&
               dmarc_aligned(psl, in->spf_domain, in->from_domain, r->aspf_strict);

    if (in->spf == AUTH_SPF_PASS &&
        dmarc_aligned(psl, in->spf_domain, in->from_domain, r->aspf_strict)) {
        out->result = AUTH_DMARC_RES_PASS;
        snprintf(out->why, sizeof(out->why), "SPF pass aligned (%.150s)", in->spf_domain);
        return;
    }
    for (size_t i = 0; in->dkim != NULL && i < auth_dkim_count(in->dkim); i++) {
        const auth_dkim_sig_t *s = auth_dkim_sig(in->dkim, i);
        if (s->d[0] == '\0' || !dmarc_aligned(psl, s->d, in->from_domain, r->adkim_strict))
            continue;
        if (s->result == AUTH_DKIM_RES_PASS) {
            out->result = AUTH_DMARC_RES_PASS;
            snprintf(out->why, sizeof(out->why), "DKIM pass aligned (d=%.150s)", s->d);
            return;
        }
        temp |= s->result == AUTH_DKIM_RES_TEMPERROR;
    }
    /* A DNS failure could hide a pass: say so rather than fail the sender. */
    out->result = temp ? AUTH_DMARC_RES_TEMPERROR : AUTH_DMARC_RES_FAIL;
    snprintf(out->why, sizeof(out->why), "%s",
             temp ? "DNS error while checking SPF or DKIM" : "no aligned SPF or DKIM pass");
}

void auth_dmarc_check(auth_dns_t *dns, const auth_psl_t *psl, const auth_dmarc_input_t *in,
                      auth_dmarc_outcome_t *out)
{
    dmarc_record_t r;
    char org[256];
    int found, np;

    memset(out, 0, sizeof(*out));
    snprintf(out->record_domain, sizeof(out->record_domain), "%s", in->from_domain);
    found = dmarc_fetch(dns, in->from_domain, &r);
    auth_psl_org_domain(psl, in->from_domain, org, sizeof(org));
    if (found == DMARC_NONE && strcmp(org, in->from_domain) != 0) {
        snprintf(out->record_domain, sizeof(out->record_domain), "%s", org);
        found = dmarc_fetch(dns, org, &r);
    }
    if (found == DMARC_DNS_ERROR) {
        out->result = AUTH_DMARC_RES_TEMPERROR;
        snprintf(out->why, sizeof(out->why), "DNS error fetching the DMARC record");
        return;
    }
    if (found == DMARC_SEVERAL || found == DMARC_INVALID) {
        snprintf(out->why, sizeof(out->why), "%s DMARC record at %.150s",
                 found == DMARC_SEVERAL ? "more than one" : "an invalid", out->record_domain);
        return;
    }
    if (found == DMARC_NONE) {
        snprintf(out->why, sizeof(out->why), "no DMARC record for %.150s", in->from_domain);
        return;
    }
    /* sp= (or np=) governs subdomains that have no record of their own. */
    out->policy = dmarc_applied(dns, &r, in->from_domain, out->record_domain, &np);
    out->pct = r.pct;
    dmarc_evaluate(psl, in, &r, out);
    if (np) {
        size_t n = strlen(out->why);
        snprintf(out->why + n, sizeof(out->why) - n, "%s",
                 " (np=: the domain has no A, AAAA or MX records)");
    }
    if (r.defaulted) {
        size_t n = strlen(out->why);
        snprintf(out->why + n, sizeof(out->why) - n, "%s",
                 " (an invalid adkim=, aspf= or pct= read as its default)");
    }
    if (r.as_none) {
        size_t n = strlen(out->why);
        snprintf(out->why + n, sizeof(out->why) - n, "%s",
                 " (no valid p= or sp=: read as p=none, the record has rua=)");
    }
}
