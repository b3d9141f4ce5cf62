/*
 * store.h - the bayes module's counts in its key-value namespace: one
 * record per token (8-byte hash key) and one record of totals, with a
 * per-thread cache in front for scans.
 */
#ifndef BAYES_STORE_H
#define BAYES_STORE_H

#include <smf/module.h>

#include <stddef.h>
#include <stdint.h>

/* Messages learned per class, a counter that changes with every learn and
 * fit, and how many messages the last fit of the logistic model read (0:
 * no weights yet), so that a scan learns all of it from one record. */
typedef struct bayes_totals {
    uint64_t spam, ham;
    uint64_t version;
    uint64_t fitted;
    uint64_t residual; /* 1: the weights correct the global model's (a young domain's). */
} bayes_totals_t;

/* How often a token was seen in learned spam and in learned ham, and its
 * weight in the logistic model (0 until a refit gives it one). */
typedef struct bayes_counts {
    uint32_t spam, ham;
    float weight;
} bayes_counts_t;

/*
 * Which model records belong to: the global one, whose keys have no prefix
 * (as in stores of the first versions), or one recipient domain's, whose
 * keys start with '@' and an 8-byte hash of the domain.
 */
typedef struct bayes_model {
    unsigned char prefix[9];
    size_t len;
    uint64_t id; /* 0 for the global model. */
} bayes_model_t;

/* The model of `domain`; "" or NULL gives the global model. */
void bayes_model_for(bayes_model_t *m, const char *domain);

/* smf_kv_get/put/del on the model's key `key` (at most 200 bytes). */
int bayes_kv_get(smf_msg_t *msg, const bayes_model_t *m, const void *key, size_t klen,
                 const void **val, size_t *vlen);
int bayes_kv_put(smf_msg_t *msg, const bayes_model_t *m, const void *key, size_t klen,
                 const void *val, size_t vlen);
int bayes_kv_del(smf_msg_t *msg, const bayes_model_t *m, const void *key, size_t klen);

/* Little-endian integers of n bytes, the store's encoding. */
void bayes_put_le(unsigned char *p, uint64_t v, size_t n);
uint64_t bayes_get_le(const unsigned char *p, size_t n);

/* Ends a batch opened with smf_kv_begin(): commits it when rc is 0, else
 * drops it. Returns rc, or what the commit returned. */
int bayes_batch_end(smf_msg_t *msg, int rc);

/* The totals; all zero when nothing was learned. 0 or a negative SMF_E* code. */
int bayes_totals_get(smf_msg_t *msg, const bayes_model_t *m, bayes_totals_t *t);
int bayes_totals_put(smf_msg_t *msg, const bayes_model_t *m, const bayes_totals_t *t);
/* The totals' version as stored, which every learn and fit moves on in the
 * transaction of its change; 0 while the model has no totals yet. 0 or a
 * negative SMF_E* code. */
int bayes_totals_version(smf_msg_t *msg, const bayes_model_t *m, uint64_t *version);

/* A token's counts straight from the store; zeros when it is absent. */
int bayes_counts_get(smf_msg_t *msg, const bayes_model_t *m, uint64_t token, bayes_counts_t *c);
/* Stores a token's counts and weight; deletes the record when all are zero. */
int bayes_counts_put(smf_msg_t *msg, const bayes_model_t *m, uint64_t token,
                     const bayes_counts_t *c);

/*
 * A direct-mapped cache of token counts for one thread. Entries are valid
 * for one store version only: a learn anywhere changes the version and so
 * retires every entry at once, without touching them.
 */
typedef struct bayes_cache bayes_cache_t;

/* A cache of about `entries` entries (rounded up to a power of two); NULL when 0. */
bayes_cache_t *bayes_cache_new(size_t entries);
void bayes_cache_free(bayes_cache_t *c);
/* Makes the cache serve version `version` of model m, forgetting other entries. */
void bayes_cache_use(bayes_cache_t *c, const bayes_model_t *m, uint64_t version);
/* Counts through the cache (c may be NULL: straight from the store). */
int bayes_cache_get(bayes_cache_t *c, smf_msg_t *msg, const bayes_model_t *m, uint64_t token,
                    bayes_counts_t *out);

#endif
