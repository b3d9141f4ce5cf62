/*
 * store.c - token counts and totals in the module's key-value namespace,
 * encoded little-endian so that a store moves between machines, and the
 * per-thread cache that keeps scans off the store for common tokens.
 */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Token keys are 8 bytes; this one is not, so it can never collide. */
static const char totals_key[] = "totals";

/* Model keys are the model's prefix and the record's own key. */
#define KEY_MAX 200

void bayes_put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t bayes_get_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t domain_hash(const char *d)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *d; d++)
        h = (h ^ (unsigned char)(*d >= 'A' && *d <= 'Z' ? *d + 32 : *d)) * 0x100000001b3ULL;
    return h ? h : 1;
}

void bayes_model_for(bayes_model_t *m, const char *domain)
{
    memset(m, 0, sizeof(*m));
    if (domain == NULL || *domain == '\0')
        return;
    m->id = domain_hash(domain);
    m->prefix[0] = '@';
    bayes_put_le(m->prefix + 1, m->id, 8);
    m->len = 9;
}

/* The model's prefix and key in buf; its length, or 0 when too long. */
static size_t model_key(const bayes_model_t *m, const void *key, size_t klen,
                        unsigned char buf[KEY_MAX + 16])
{
    if (klen > KEY_MAX)
        return 0;
    memcpy(buf, m->prefix, m->len);
    memcpy(buf + m->len, key, klen);
    return m->len + klen;
}

int bayes_kv_get(smf_msg_t *msg, const bayes_model_t *m, const void *key, size_t klen,
                 const void **val, size_t *vlen)
{
    unsigned char buf[KEY_MAX + 16];
    size_t n = model_key(m, key, klen, buf);
    return n == 0 ? SMF_EINVAL : smf_kv_get(msg, buf, n, val, vlen);
}

int bayes_kv_put(smf_msg_t *msg, const bayes_model_t *m, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    unsigned char buf[KEY_MAX + 16];
    size_t n = model_key(m, key, klen, buf);
    return n == 0 ? SMF_EINVAL : smf_kv_put(msg, buf, n, val, vlen);
}

int bayes_kv_del(smf_msg_t *msg, const bayes_model_t *m, const void *key, size_t klen)
{
    unsigned char buf[KEY_MAX + 16];
    size_t n = model_key(m, key, klen, buf);
    return n == 0 ? SMF_EINVAL : smf_kv_del(msg, buf, n);
}

int bayes_batch_end(smf_msg_t *msg, int rc)
{
    if (rc != 0) {
        smf_kv_abort(msg);
        return rc;
    }
    return smf_kv_commit(msg);
}

int bayes_totals_get(smf_msg_t *msg, const bayes_model_t *m, bayes_totals_t *t)
{
    const void *val;
    size_t len;
    memset(t, 0, sizeof(*t));
    int rc = bayes_kv_get(msg, m, totals_key, sizeof(totals_key) - 1, &val, &len);
    if (rc == SMF_ENOENT) {
        /* A model starts its versions at the clock's microseconds, so that one
         * emptied and taught again (smfctl unlearn --all) never repeats a
         * version a scan cache still holds counts of. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t->version = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        return 0;
    }
    if (rc != 0)
        return rc;
    /* Stores of the first versions have no fitted count or residual flag. */
    if (len != 24 && len != 32 && len != 40)
        return SMF_EIO;
    t->spam = bayes_get_le(val, 8);
    t->ham = bayes_get_le((const unsigned char *)val + 8, 8);
    t->version = bayes_get_le((const unsigned char *)val + 16, 8);
    if (len >= 32)
        t->fitted = bayes_get_le((const unsigned char *)val + 24, 8);
    if (len >= 40)
        t->residual = bayes_get_le((const unsigned char *)val + 32, 8);
    return 0;
}

int bayes_totals_version(smf_msg_t *msg, const bayes_model_t *m, uint64_t *version)
{
    const void *val;
    size_t len;
    bayes_totals_t t;
    *version = 0;
    /* Not bayes_totals_get() alone: without a record it makes up a new
     * version at every call. */
    int rc = bayes_kv_get(msg, m, totals_key, sizeof(totals_key) - 1, &val, &len);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc == 0 && (rc = bayes_totals_get(msg, m, &t)) == 0)
        *version = t.version;
    return rc;
}

int bayes_totals_put(smf_msg_t *msg, const bayes_model_t *m, const bayes_totals_t *t)
{
    unsigned char buf[40];
    bayes_put_le(buf, t->spam, 8);
    bayes_put_le(buf + 8, t->ham, 8);
    bayes_put_le(buf + 16, t->version, 8);
    bayes_put_le(buf + 24, t->fitted, 8);
    bayes_put_le(buf + 32, t->residual, 8);
    return bayes_kv_put(msg, m, totals_key, sizeof(totals_key) - 1, buf, sizeof(buf));
}

/* A float's bits, so that a weight is stored the same on every machine. */
static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

int bayes_counts_get(smf_msg_t *msg, const bayes_model_t *m, uint64_t token, bayes_counts_t *c)
{
    unsigned char key[8];
    const void *val;
    size_t len;
    bayes_put_le(key, token, 8);
    *c = (bayes_counts_t){0};
    int rc = bayes_kv_get(msg, m, key, sizeof(key), &val, &len);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    /* Records written before the logistic model have no weight. */
    if (len != 8 && len != 12)
        return SMF_EIO;
    c->spam = (uint32_t)bayes_get_le(val, 4);
    c->ham = (uint32_t)bayes_get_le((const unsigned char *)val + 4, 4);
    if (len == 12)
        c->weight = bits_float((uint32_t)bayes_get_le((const unsigned char *)val + 8, 4));
    /* A weight that is not a number (written by a fit that went wrong) would
     * make every sum it enters NaN: it reads as no weight, until a refit. */
    if (!isfinite(c->weight))
        c->weight = 0;
    return 0;
}

int bayes_counts_put(smf_msg_t *msg, const bayes_model_t *m, uint64_t token,
                     const bayes_counts_t *c)
{
    unsigned char key[8], val[12];
    bayes_put_le(key, token, 8);
    if (c->spam == 0 && c->ham == 0 && c->weight == 0) {
        int rc = bayes_kv_del(msg, m, key, sizeof(key));
        return rc == SMF_ENOENT ? 0 : rc;
    }
    bayes_put_le(val, c->spam, 4);
    bayes_put_le(val + 4, c->ham, 4);
    bayes_put_le(val + 8, float_bits(c->weight), 4);
    return bayes_kv_put(msg, m, key, sizeof(key), val, sizeof(val));
}

typedef struct cache_entry {
    uint64_t token;
    uint32_t spam, ham;
    float weight;
    uint32_t epoch;
} cache_entry_t;

struct bayes_cache {
    cache_entry_t *entries;
    size_t mask;
    uint32_t epoch; /* Entries of another epoch are stale. */
    uint64_t model, version;
};

bayes_cache_t *bayes_cache_new(size_t entries)
{
    if (entries == 0)
        return NULL;
    size_t n = 1024;
    while (n < entries)
        n *= 2;
    bayes_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->entries = calloc(n, sizeof(cache_entry_t))) == NULL) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->epoch = 1;
    return c;
}

void bayes_cache_free(bayes_cache_t *c)
{
    if (c != NULL)
        free(c->entries);
    free(c);
}

void bayes_cache_use(bayes_cache_t *c, const bayes_model_t *m, uint64_t version)
{
    if (c == NULL || (c->version == version && c->model == m->id))
        return;
    c->version = version;
    c->model = m->id;
    /* Epoch 0 never matches, so a wrap clears the table once instead. */
    if (++c->epoch == 0) {
        memset(c->entries, 0, (c->mask + 1) * sizeof(cache_entry_t));
        c->epoch = 1;
    }
}

int bayes_cache_get(bayes_cache_t *c, smf_msg_t *msg, const bayes_model_t *m, uint64_t token,
                    bayes_counts_t *out)
{
    if (c == NULL)
        return bayes_counts_get(msg, m, token, out);
    cache_entry_t *e = &c->entries[(size_t)token & c->mask];
    if (e->epoch == c->epoch && e->token == token) {
        *out = (bayes_counts_t){e->spam, e->ham, e->weight};
        return 0;
    }
    int rc = bayes_counts_get(msg, m, token, out);
    if (rc == 0)
        *e = (cache_entry_t){token, out->spam, out->ham, out->weight, c->epoch};
    return rc;
}
