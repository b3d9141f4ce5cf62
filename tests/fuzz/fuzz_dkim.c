/*
 * fuzz_dkim.c - the DKIM verifier of the auth module (modules/auth/dkim.c)
 * over an arbitrary message, without DNS. A sender writes the message, its
 * DKIM-Signature fields and, by choosing the signing domain, the key record
 * DNS serves for it. The verifier's parsers are internal, so this file
 * includes dkim.c to reach them: each DKIM-Signature field is parsed (tag
 * list, base64 of b= and bh=, h=, l=, i=); a parsed one has its body
 * canonicalized and hashed and its signed header fields gathered; and the
 * value of the message's first "X-Key-Record:" field stands for the key
 * record a DNS TXT reply would bring, parsed as a key and, when it reads,
 * used to check each signature as auth_dkim_verify() does. The public
 * From-domain reader of DMARC (dmarc.c) also runs over each From field.
 */
#include "../../modules/auth/dkim.c"

#include "../../modules/auth/dmarc.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_key(const dkim_field_t *f, dkim_key_t *key)
{
    const char *value = memchr(f->p, ':', f->len);
    memset(key, 0, sizeof(*key));
    if (value == NULL) {
        key->err = "no value";
        return;
    }
    value++;
    if (dkim_tags(value, f->len - (size_t)(value - f->p), dkim_key_tag, key) == 0 &&
        key->err == NULL && key->plen <= 0)
        key->err = "no p=";
}

static void from_domains(const dkim_field_t *f)
{
    const char *value = memchr(f->p, ':', f->len);
    if (value == NULL)
        return;
    value++;
    char *text = fuzz_strndup(value, f->len - (size_t)(value - f->p));
    FUZZ_CHECK(text != NULL);
    char out[AUTH_DMARC_MAX_FROM][256];
    int unreadable = 0;
    int n = auth_dmarc_from_domains(text, out, AUTH_DMARC_MAX_FROM, &unreadable);
    FUZZ_CHECK(n >= 0 && n <= AUTH_DMARC_MAX_FROM);
    for (int i = 0; i < n; i++)
        FUZZ_CHECK(memchr(out[i], '\0', sizeof(out[i])) != NULL);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    auth_dkim_t *k = auth_dkim_new((const char *)data, size);
    FUZZ_CHECK(k != NULL);
    FUZZ_CHECK(k->body >= (const char *)data && k->bodylen <= size);

    dkim_key_t key;
    int have_key = 0;
    for (size_t i = 0; i < k->nfields; i++) {
        const dkim_field_t *f = &k->fields[i];
        FUZZ_CHECK(f->p >= (const char *)data && f->len <= size && f->namelen <= f->len);
        fuzz_touch(f->p, f->len);
        if (!have_key && dkim_field_is(f, "X-Key-Record", 12)) {
            read_key(f, &key);
            have_key = key.err == NULL;
        }
        if (dkim_field_is(f, "From", 4))
            from_domains(f);
    }
    EVP_PKEY *pk = NULL;
    if (have_key) {
        const char *why = NULL;
        pk = dkim_pkey(&key, &why);
        FUZZ_CHECK(pk != NULL || why != NULL);
    }
    FUZZ_CHECK(auth_dkim_count(k) <= AUTH_DKIM_MAX_SIGS);
    for (size_t i = 0; i < k->nsigs; i++) {
        auth_dkim_sig_t *s = &k->sigs[i];
        dkim_sigdata_t sd;
        memset(s, 0, sizeof(*s));
        if (dkim_sig_parse(k->sigfield[i], &sd, s) < 0) {
            FUZZ_CHECK(s->why[0] != '\0');
            continue;
        }
        FUZZ_CHECK(s->d[0] != '\0' && s->s[0] != '\0');
        if (have_key) {
            auth_dkim_result_t r = dkim_verify_key(k, s, &sd, &key);
            FUZZ_CHECK(r <= AUTH_DKIM_RES_NEUTRAL);
        } else {
            (void)dkim_check_body(k, &sd, s);
            dkim_buf_t hdrs = {0};
            dkim_header_data(k, &sd, &hdrs);
            fuzz_touch(hdrs.p, hdrs.len);
            free(hdrs.p);
        }
        fuzz_touch_str(s->why);
    }
    EVP_PKEY_free(pk);
    auth_dkim_destroy(&k);
    return 0;
}
