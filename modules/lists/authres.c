/*
 * authres.c - reads Authentication-Results (RFC 8601) written by a trusted
 * verifier to learn whether SPF or DKIM passed for the sender's domain,
 * which authenticated allow entries need before they apply.
 */
#include "authres.h"
#include "listkeys.h"
#include "rfc5322.h"

#include <smf/module.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Longest results value read; a longer one is cut, which can only lose a pass. */
#define AUTHRES_MAX 4096

/* Copies the next token delimited by blanks or ';' into out; NULL at the end. */
static const char *authres_token(const char *p, char *out, size_t outlen)
{
    size_t n = 0;

    while (*p != '\0' && isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == ';')
        return NULL;
    while (*p != '\0' && *p != ';' && !isspace((unsigned char)*p)) {
        if (n + 1 < outlen)
            out[n++] = *p;
        p++;
    }
    out[n] = '\0';
    return p;
}

/* Whether a domain is the sender's domain or a parent of it (relaxed alignment). */
static int authres_aligned(const char *d, const char *sender_domain)
{
    size_t n = strlen(d), s = strlen(sender_domain);

    if (n == 0 || strchr(d, '.') == NULL || s < n)
        return 0;
    if (strcasecmp(sender_domain + s - n, d) != 0)
        return 0;
    return s == n || sender_domain[s - n - 1] == '.';
}

/*
 * The domain a result names, in the form the sender's domain is compared in
 * (lower case, a name in another script as its A-label): a verifier may write
 * "header.d=xn--bcher-kva.example" for mail from "bücher.example", or the
 * UTF-8 name for mail that wrote its A-label. "" when it has none.
 */
static const char *authres_domain(const char *text, char *out, size_t outlen)
{
    return listkey_name_canon(text, out, outlen) == 0 ? out : "";
}

/* One resinfo ("spf=pass smtp.mailfrom=a@b"): AUTHRES_SPF or AUTHRES_DKIM when it
 * proves the domain, else 0. */
static int authres_resinfo(const char *p, const char *domain)
{
    char tok[300], d[LISTKEY_VALUE_MAX];
    int spf = 0, dkim = 0;

    if ((p = authres_token(p, tok, sizeof(tok))) == NULL)
        return 0;
    if (strcasecmp(tok, "spf=pass") == 0)
        spf = 1;
    else if (strcasecmp(tok, "dkim=pass") == 0)
        dkim = 1;
    else
        return 0;
    while ((p = authres_token(p, tok, sizeof(tok))) != NULL) {
        if (spf && strncasecmp(tok, "smtp.mailfrom=", 14) == 0) {
            const char *v = strrchr(tok + 14, '@');
            /* SPF checks the envelope domain itself: no parent counts. */
            if (strcmp(authres_domain(v != NULL ? v + 1 : tok + 14, d, sizeof(d)), domain) == 0)
                return AUTHRES_SPF;
        }
        if (dkim && strncasecmp(tok, "header.d=", 9) == 0 &&
            authres_aligned(authres_domain(tok + 9, d, sizeof(d)), domain))
            return AUTHRES_DKIM;
    }
    return 0;
}

/* One header value: "authserv-id [version]; resinfo; resinfo". What its results prove. */
static int authres_header(const char *raw, const char *authserv_id, const char *domain)
{
    char id[256], value[AUTHRES_MAX];
    /* Comments read as comments (OpenDKIM's "(2048-bit key; unprotected)"), and a
     * quoted local part holding "; spf=pass ..." makes no result of its own. */
    rfc5322_strip_comments(raw, value, sizeof(value), RFC5322_MASK_QUOTED);
    const char *p = authres_token(value, id, sizeof(id));
    int found = 0;

    if (p == NULL || strcasecmp(id, authserv_id) != 0)
        return 0;
    for (p = strchr(p, ';'); p != NULL; p = strchr(p + 1, ';'))
        found |= authres_resinfo(p + 1, domain);
    return found;
}

/* The auth stage's own results in this scan (its note "auth.results":
 * resinfo separated by ';'), when it ran before this stage. */
static int authres_note(smf_msg_t *msg, const char *domain)
{
    const char *note = smf_msg_note(msg, "auth.results");
    char value[AUTHRES_MAX];
    int found = 0;

    if (note == NULL)
        return 0;
    rfc5322_strip_comments(note, value, sizeof(value), RFC5322_MASK_QUOTED);
    for (const char *p = value; p != NULL; p = strchr(p, ';')) {
        if (*p == ';')
            p++;
        found |= authres_resinfo(p, domain);
    }
    return found;
}

int authres_passed(smf_msg_t *msg, const char *authserv_id, const char *domain)
{
    const char *v;
    int found;

    if (domain[0] == '\0')
        return 0;
    found = authres_note(msg, domain);
    if (authserv_id == NULL || authserv_id[0] == '\0')
        return found;
    /* The auth stage of this scan writes its results under its own
     * authserv-id, and only into the delivered copy: one already in the
     * message under that name is the sender's forgery (or an earlier pass's,
     * which this pass's own results replace), whatever trusted_authserv_id
     * says. */
    const char *own = smf_msg_note(msg, "auth.authserv_id");
    if (own != NULL && strcasecmp(own, authserv_id) == 0)
        return found;
    for (size_t i = 0; (v = smf_msg_header(msg, "Authentication-Results", i)) != NULL; i++)
        found |= authres_header(v, authserv_id, domain);
    return found;
}
