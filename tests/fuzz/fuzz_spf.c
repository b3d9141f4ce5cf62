/*
 * fuzz_spf.c - the SPF record parser and macro expander of the auth module
 * (modules/auth/spf.c), without DNS. A domain's owner writes its SPF record
 * and the sender chooses the domain, so any text can come back for it; the
 * sender's address and HELO name, which macros copy into names, are the
 * client's too. The parser is internal to spf.c, so this file includes it.
 * The input is three lines: the record after "v=spf1 ", the sender, the
 * HELO name. The record is parsed; each domain-spec of a parsed one, and
 * its redirect= and exp= values, are expanded as a name to look up and as
 * an explanation, for an IPv4 and an IPv6 client (the p macro, which needs
 * DNS, is left out). An empty domain-spec is expanded too: an explanation's
 * TXT record, which spf.c expands as well, may be empty.
 */
#include "../../modules/auth/spf.c"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of the input, copied and NUL-terminated; NULL at the end. */
static char *next_line(const uint8_t **p, const uint8_t *end)
{
    if (*p > end)
        return NULL;
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl != NULL ? nl : end;
    char *line = fuzz_strndup(*p, (size_t)(stop - *p));
    *p = stop + 1;
    return line;
}

static int uses_p(const char *spec)
{
    for (const char *s = spec; (s = strstr(s, "%{")) != NULL; s += 2)
        if (s[2] == 'p' || s[2] == 'P')
            return 1;
    return 0;
}

/* Fills the stack below the caller with bytes that are not NUL, so that a
 * buffer the expander reads without having written it reads as a string
 * that never ends (which ASan or the checks below then see) rather than as
 * whatever an earlier call happened to leave there. */
static __attribute__((noinline)) void dirty_stack(void)
{
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = 'x';
}

static void expand(const spf_ctx_t *c, const char *spec)
{
    char out[1100];
    if (spec == NULL || uses_p(spec))
        return;
    for (int explain = 0; explain <= 1; explain++) {
        out[0] = '\0';
        dirty_stack();
        if (spf_expand(c, "example.com", spec, explain, out, sizeof(out)) != 0)
            continue;
        FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
        /* A name longer than DNS allows loses labels from the left until it
         * fits (RFC 7208, 4.8); one without a dot left cannot. */
        FUZZ_CHECK(explain || strlen(out) <= 253 || strchr(out, '.') == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *body = next_line(&p, end);
    char *sender = next_line(&p, end);
    char *helo = next_line(&p, end);
    FUZZ_CHECK(body != NULL);
    size_t n = strlen(body);
    char *record = malloc(n + 8);
    FUZZ_CHECK(record != NULL);
    memcpy(record, "v=spf1 ", 7);
    memcpy(record + 7, body, n + 1);

    spf_record_t rec;
    char bad[256];
    int rc = spf_parse(record, &rec, bad, sizeof(bad));
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        for (int v4 = 0; v4 <= 1; v4++) {
            auth_spf_query_t q = {.sender = sender != NULL ? sender : "user@example.com",
                                  .helo = helo != NULL ? helo : "mail.example.com"};
            static const uint8_t addr6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
            static const uint8_t addr4[16] = {[10] = 0xff, [11] = 0xff, 192, 0, 2, 1};
            memcpy(q.ip, v4 ? addr4 : addr6, 16);
            char why[256] = "";
            spf_ctx_t c = {.dns = NULL, .q = &q, .v4 = v4, .why = why, .whylen = sizeof(why)};
            for (size_t i = 0; i < rec.nterms; i++) {
                fuzz_touch_str(rec.terms[i].text);
                expand(&c, rec.terms[i].spec);
            }
            expand(&c, rec.redirect);
            expand(&c, rec.exp);
        }
    } else {
        fuzz_touch_str(bad);
    }
    spf_free_record(&rec);
    free(record);
    free(body);
    free(sender);
    free(helo);
    return 0;
}
