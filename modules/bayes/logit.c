/*
 * logit.c - the logistic model's learned sets and its fit.
 *
 * Sets live in the module's store under a dense slot number, so that a fit
 * can read them all without a cursor: "set" + slot holds one distinct set
 * of tokens and how many learned spam and ham messages have exactly it,
 * "sid" + its hash finds the slot again for unlearning, "sets" counts them.
 * A set goes when no learned message has it any more; forgetting it moves
 * the last one into its slot.
 *
 * The fit is averaged stochastic gradient descent on the log-loss: a few
 * passes over the sets in a fixed pseudo-random order, the weights of the
 * later passes averaged. Naive Bayes counts every token as if it were
 * independent evidence; the fitted weights share the credit among tokens
 * that always come together, which is where the word statistics go wrong
 * on newsletters and list mail.
 */
#include "logit.h"
#include "store.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char sets_key[] = "sets";

/*
 * A set's value: hash (8), class (4: of the message that first had it),
 * token count (4), the tokens (8 each), then how many learned spam and ham
 * messages have these tokens (4 each). Records written before the counts
 * end with the tokens: they stand for one message of their class.
 */
#define SET_HEAD 16
#define SET_TAIL 8

/* A set record, read. */
typedef struct set_rec {
    const unsigned char *p; /* The record: the tokens start at p + SET_HEAD. */
    size_t count;           /* Its tokens. */
    uint32_t spam, ham;     /* Learned messages of each class that have it. */
} set_rec_t;

static int parse_set(const void *val, size_t len, set_rec_t *r)
{
    if (len < SET_HEAD)
        return SMF_EIO;
    r->p = val;
    r->count = (size_t)bayes_get_le(r->p + 12, 4);
    if (len == SET_HEAD + r->count * 8) {
        uint64_t klass = bayes_get_le(r->p + 8, 4);
        r->spam = klass == SMF_CLASS_SPAM;
        r->ham = klass == SMF_CLASS_HAM;
        return 0;
    }
    if (len != SET_HEAD + r->count * 8 + SET_TAIL)
        return SMF_EIO;
    r->spam = (uint32_t)bayes_get_le(r->p + len - SET_TAIL, 4);
    r->ham = (uint32_t)bayes_get_le(r->p + len - SET_TAIL + 4, 4);
    return 0;
}

static uint64_t set_hash(const bayes_tokens_t *t)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < t->count; i++)
        for (size_t b = 0; b < 8; b++)
            h = (h ^ ((t->items[i] >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
    return h;
}

static void slot_key(unsigned char key[7], uint32_t slot)
{
    memcpy(key, "set", 3);
    bayes_put_le(key + 3, slot, 4);
}

static void sid_key(unsigned char key[11], uint64_t hash)
{
    memcpy(key, "sid", 3);
    bayes_put_le(key + 3, hash, 8);
}

static int get_u64(smf_msg_t *msg, const bayes_model_t *m, const char *key, uint64_t *v)
{
    const void *val;
    size_t len;
    *v = 0;
    int rc = bayes_kv_get(msg, m, key, strlen(key), &val, &len);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc == 0 && len != 8)
        return SMF_EIO;
    if (rc == 0)
        *v = bayes_get_le(val, 8);
    return rc;
}

static int put_u64(smf_msg_t *msg, const bayes_model_t *m, const char *key, uint64_t v)
{
    unsigned char buf[8];
    bayes_put_le(buf, v, 8);
    return bayes_kv_put(msg, m, key, strlen(key), buf, sizeof(buf));
}

/* The slot of a set, or SMF_ENOENT. */
static int find_slot(smf_msg_t *msg, const bayes_model_t *m, uint64_t hash, uint32_t *slot)
{
    unsigned char key[11];
    const void *val;
    size_t len;
    sid_key(key, hash);
    int rc = bayes_kv_get(msg, m, key, sizeof(key), &val, &len);
    if (rc == 0 && len != 4)
        return SMF_EIO;
    if (rc == 0)
        *slot = (uint32_t)bayes_get_le(val, 4);
    return rc;
}

static int put_slot(smf_msg_t *msg, const bayes_model_t *m, uint64_t hash, uint32_t slot)
{
    unsigned char key[11], val[4];
    sid_key(key, hash);
    bayes_put_le(val, slot, 4);
    return bayes_kv_put(msg, m, key, sizeof(key), val, sizeof(val));
}

/* Writes set `slot`: the head and tokens of r, with the counts spam and ham. */
static int put_set(smf_msg_t *msg, const bayes_model_t *m, uint32_t slot, const set_rec_t *r,
                   uint32_t spam, uint32_t ham)
{
    size_t body = SET_HEAD + r->count * 8;
    unsigned char *val = smf_msg_alloc(msg, body + SET_TAIL), key[7];
    if (val == NULL)
        return SMF_ENOMEM;
    memcpy(val, r->p, body);
    bayes_put_le(val + body, spam, 4);
    bayes_put_le(val + body + 4, ham, 4);
    slot_key(key, slot);
    return bayes_kv_put(msg, m, key, sizeof(key), val, body + SET_TAIL);
}

/* Reads set `slot`. */
static int read_set(smf_msg_t *msg, const bayes_model_t *m, uint32_t slot, set_rec_t *r)
{
    unsigned char key[7];
    const void *val;
    size_t len;
    slot_key(key, slot);
    int rc = bayes_kv_get(msg, m, key, sizeof(key), &val, &len);
    if (rc != 0)
        return rc == SMF_ENOENT ? SMF_EIO : rc;
    return parse_set(val, len, r);
}

static uint32_t *class_count(set_rec_t *r, int klass)
{
    return klass == SMF_CLASS_SPAM ? &r->spam : &r->ham;
}

int bayes_set_add(smf_msg_t *msg, const bayes_model_t *m, const bayes_tokens_t *t, int klass)
{
    uint64_t hash = set_hash(t), n;
    uint32_t slot;
    set_rec_t r;
    int rc = find_slot(msg, m, hash, &slot);
    if (rc == 0) {
        /* Another learned message has the same tokens: it counts once more. */
        if ((rc = read_set(msg, m, slot, &r)) != 0)
            return rc;
        uint32_t *c = class_count(&r, klass);
        *c += *c < UINT32_MAX;
        return put_set(msg, m, slot, &r, r.spam, r.ham);
    }
    if (rc != SMF_ENOENT)
        return rc;
    if ((rc = get_u64(msg, m, sets_key, &n)) != 0)
        return rc;
    if (n >= UINT32_MAX)
        return SMF_ELIMIT;
    size_t len = SET_HEAD + t->count * 8;
    unsigned char *val = smf_msg_alloc(msg, len);
    if (val == NULL)
        return SMF_ENOMEM;
    bayes_put_le(val, hash, 8);
    bayes_put_le(val + 8, (uint64_t)klass, 4);
    bayes_put_le(val + 12, t->count, 4);
    for (size_t i = 0; i < t->count; i++)
        bayes_put_le(val + SET_HEAD + 8 * i, t->items[i], 8);
    r = (set_rec_t){.p = val, .count = t->count};
    if ((rc = put_set(msg, m, (uint32_t)n, &r, klass == SMF_CLASS_SPAM, klass == SMF_CLASS_HAM)) ==
            0 &&
        (rc = put_slot(msg, m, hash, (uint32_t)n)) == 0)
        rc = put_u64(msg, m, sets_key, n + 1);
    return rc;
}

bool bayes_set_known(smf_msg_t *msg, const bayes_model_t *m, const bayes_tokens_t *t)
{
    uint32_t slot;
    return find_slot(msg, m, set_hash(t), &slot) == 0;
}

int bayes_set_remove(smf_msg_t *msg, const bayes_model_t *m, const bayes_tokens_t *t, int klass)
{
    uint64_t hash = set_hash(t), n;
    uint32_t slot;
    unsigned char key[7], sid[11];
    set_rec_t r;
    int rc = find_slot(msg, m, hash, &slot);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc != 0 || (rc = read_set(msg, m, slot, &r)) != 0)
        return rc;
    /* The set stays while another learned message has it. A record of the
     * first versions counts one message of its class: one of the other
     * class that shared it leaves it be. */
    uint32_t *c = class_count(&r, klass);
    *c -= *c > 0;
    if (r.spam + (uint64_t)r.ham > 0)
        return put_set(msg, m, slot, &r, r.spam, r.ham);
    if ((rc = get_u64(msg, m, sets_key, &n)) != 0)
        return rc;
    if (n == 0 || slot >= n)
        return SMF_EIO;
    uint32_t last = (uint32_t)(n - 1);
    if (slot != last) {
        /* Keep the slots dense: the last set moves into the freed one. */
        const void *val;
        size_t len;
        slot_key(key, last);
        if ((rc = bayes_kv_get(msg, m, key, sizeof(key), &val, &len)) != 0)
            return rc;
        if (len < SET_HEAD)
            return SMF_EIO;
        slot_key(key, slot);
        if ((rc = bayes_kv_put(msg, m, key, sizeof(key), val, len)) != 0 ||
            (rc = put_slot(msg, m, bayes_get_le(val, 8), slot)) != 0)
            return rc;
    }
    slot_key(key, last);
    sid_key(sid, hash);
    if ((rc = bayes_kv_del(msg, m, key, sizeof(key))) != 0 ||
        (rc = bayes_kv_del(msg, m, sid, sizeof(sid))) != 0)
        return rc;
    return put_u64(msg, m, sets_key, n - 1);
}

double bayes_logit_sigmoid(double z)
{
    z = z > 30 ? 30 : z < -30 ? -30 : z;
    return 1 / (1 + exp(-z));
}

double bayes_logit_ln_odds(double p)
{
    p = p < 1e-6 ? 1e-6 : p > 1 - 1e-6 ? 1 - 1e-6 : p;
    return log(p / (1 - p));
}

/* ---- the fit ---------------------------------------------------------- */

/* Every distinct token of the sets, numbered, with its weights. */
typedef struct vocab {
    uint64_t *tokens; /* By number. */
    uint32_t *slots;  /* Open addressing: number + 1; 0 is free. */
    size_t mask, count, cap;
} vocab_t;

/* The fit's examples: one per learned message, those with the same tokens
 * sharing one array of token numbers. */
typedef struct fit_data {
    size_t n;
    uint32_t **idx;        /* Per example, its tokens' numbers. */
    unsigned char *shared; /* Per example, 1 when idx is the previous example's. */
    uint32_t *len;
    int *spam;
    vocab_t v;
    double *offset;        /* Residual fit: per example, the base model's z; else NULL. */
    unsigned char *frozen; /* Residual fit: per token, 1 when its weight stays 0. */
} fit_data_t;

static int vocab_init(vocab_t *v, size_t expect)
{
    size_t slots = 1024;
    while (slots < expect * 2)
        slots *= 2;
    v->slots = calloc(slots, sizeof(uint32_t));
    v->tokens = malloc(expect * sizeof(uint64_t));
    v->mask = slots - 1;
    v->count = 0;
    v->cap = expect;
    return v->slots != NULL && v->tokens != NULL ? 0 : SMF_ENOMEM;
}

/* The token's number, added when new. The table is sized for every token
 * of every set, so it never fills. */
static uint32_t vocab_add(vocab_t *v, uint64_t token)
{
    size_t i = (size_t)token & v->mask;
    while (v->slots[i] != 0) {
        if (v->tokens[v->slots[i] - 1] == token)
            return v->slots[i] - 1;
        i = (i + 1) & v->mask;
    }
    v->tokens[v->count] = token;
    v->slots[i] = (uint32_t)++v->count;
    return (uint32_t)(v->count - 1);
}

static void fit_free(fit_data_t *d)
{
    for (size_t i = 0; d->idx != NULL && i < d->n; i++)
        if (d->shared == NULL || !d->shared[i])
            free(d->idx[i]);
    free(d->idx);
    free(d->shared);
    free(d->len);
    free(d->spam);
    free(d->v.tokens);
    free(d->v.slots);
    free(d->offset);
    free(d->frozen);
}

/* Reads set `slot` into d as examples k, k + 1, ... (one per learned
 * message that has it), numbering its tokens; *k moves past them. */
static int load_set(smf_msg_t *msg, const bayes_model_t *m, fit_data_t *d, uint32_t slot, size_t *k)
{
    set_rec_t r;
    int rc = read_set(msg, m, slot, &r);
    if (rc != 0)
        return rc;
    uint64_t copies = (uint64_t)r.spam + r.ham;
    if (copies == 0)
        return 0;
    if (*k + copies > d->n)
        return SMF_EIO;
    uint32_t *idx = malloc((r.count + 1) * sizeof(uint32_t));
    if (idx == NULL)
        return SMF_ENOMEM;
    for (size_t i = 0; i < r.count; i++)
        idx[i] = vocab_add(&d->v, bayes_get_le(r.p + SET_HEAD + 8 * i, 8));
    for (uint64_t c = 0; c < copies; c++, ++*k) {
        d->idx[*k] = idx;
        d->shared[*k] = c > 0;
        d->len[*k] = (uint32_t)r.count;
        d->spam[*k] = c < r.spam;
    }
    return 0;
}

/* Tokens in all sets together, an upper bound of the distinct ones, and
 * the learned messages that have them. */
static int count_tokens(smf_msg_t *msg, const bayes_model_t *m, size_t n, size_t *total,
                        size_t *examples)
{
    *total = *examples = 0;
    for (uint32_t s = 0; s < n; s++) {
        set_rec_t r;
        int rc = read_set(msg, m, s, &r);
        if (rc != 0)
            return rc;
        *total += r.count;
        *examples += (size_t)r.spam + r.ham;
    }
    return 0;
}

static int load(smf_msg_t *msg, const bayes_model_t *m, fit_data_t *d)
{
    uint64_t n;
    size_t total, examples;
    int rc = get_u64(msg, m, sets_key, &n);
    if (rc != 0 || (rc = count_tokens(msg, m, (size_t)n, &total, &examples)) != 0)
        return rc;
    d->n = examples;
    d->idx = calloc(d->n + 1, sizeof(*d->idx));
    d->shared = calloc(d->n + 1, 1);
    d->len = calloc(d->n + 1, sizeof(*d->len));
    d->spam = calloc(d->n + 1, sizeof(*d->spam));
    if (d->idx == NULL || d->shared == NULL || d->len == NULL || d->spam == NULL ||
        vocab_init(&d->v, total + 1) != 0)
        return SMF_ENOMEM;
    size_t k = 0;
    for (uint32_t s = 0; rc == 0 && s < n; s++)
        rc = load_set(msg, m, d, s, &k);
    d->n = k;
    return rc;
}

/* Loads tried before the last one, which reads inside a batch. */
#define LOAD_TRIES 3

/*
 * Reads every set as one state of the store. Outside a batch each read is
 * a transaction of its own, and smfd's workers go on learning during its
 * refit: a message whose tokens are those of a kept set, learned between
 * the count and the load, makes the load find more messages than it
 * counted (a failed refit), and a load may mix sets of two moments. Every
 * learn moves the totals' version on in the transaction that changes the
 * sets, so a load that sees the same version before and after read one
 * state. While learning goes on that fast, the last try reads inside a
 * batch, which other writers wait for: one read of the sets, not the fit.
 */
static int load_consistent(smf_msg_t *msg, const bayes_model_t *m, fit_data_t *d)
{
    for (int tries = 1;; tries++) {
        bool batch = tries > LOAD_TRIES;
        uint64_t before, after;
        int begun = batch ? smf_kv_begin(msg) : 0;
        int rc = begun;
        if (rc == 0 && (rc = bayes_totals_version(msg, m, &before)) == 0)
            rc = load(msg, m, d);
        if (batch) {
            /* Only the batch begun here is ended: a failed begin opened none. */
            if (begun == 0)
                smf_kv_abort(msg);
            return rc;
        }
        int again = bayes_totals_version(msg, m, &after);
        if (again != 0)
            return rc != 0 ? rc : again;
        if (after == before)
            return rc;
        fit_free(d);
        *d = (fit_data_t){0};
    }
}

/* xorshift64*: a fixed sequence, so that a refit of the same sets is the same. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dULL;
}

static void shuffle(uint32_t *order, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_random(rng) % i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* One gradient step of the log-loss on set s. */
static void step(const fit_data_t *d, double *w, size_t s, double rate)
{
    const uint32_t *x = d->idx[s];
    double z = d->offset != NULL ? d->offset[s] : 0;
    for (uint32_t i = 0; i < d->len[s]; i++)
        z += w[x[i]];
    double g = rate * ((d->spam[s] ? 1.0 : 0.0) - bayes_logit_sigmoid(z));
    for (uint32_t i = 0; i < d->len[s]; i++)
        if (d->frozen == NULL || !d->frozen[x[i]])
            w[x[i]] += g;
}

/* What the word statistics say of set s, from the pooled token probabilities f. */
static double set_words(const fit_data_t *d, const bayes_params_t *bp, const double *f, size_t s,
                        double *clues)
{
    size_t n = 0;
    for (uint32_t i = 0; i < d->len[s]; i++)
        if (bayes_is_clue(bp, f[d->idx[s][i]]))
            clues[n++] = f[d->idx[s][i]];
    return bayes_combine(bp, clues, n);
}

/* Per token: the base model's weight, whether it is frozen, and its
 * probability under the pooled counts of the base model and this one. */
static int residual_tokens(smf_msg_t *msg, const bayes_model_t *m, fit_data_t *d,
                           const bayes_fit_params_t *p, double *base_w, double *f)
{
    bayes_totals_t bt, mt;
    int rc = bayes_totals_get(msg, p->base, &bt);
    if (rc == 0)
        rc = bayes_totals_get(msg, m, &mt);
    for (size_t i = 0; rc == 0 && i < d->v.count; i++) {
        bayes_counts_t c, own;
        if ((rc = bayes_counts_get(msg, p->base, d->v.tokens[i], &c)) != 0 ||
            (rc = bayes_counts_get(msg, m, d->v.tokens[i], &own)) != 0)
            break;
        base_w[i] = c.weight;
        d->frozen[i] = (uint64_t)c.spam + c.ham >= p->rare;
        f[i] = bayes_token_prob(p->words, c.spam + own.spam, c.ham + own.ham, bt.spam + mt.spam,
                                bt.ham + mt.ham);
    }
    return rc;
}

/*
 * Readies a residual fit: each set's score as a scan would give it without
 * this model's weights (the base model's weights plus the pooled word
 * statistics; word pairs count there too, as the sets do not mark them),
 * and which tokens the base model knows well enough to keep out of the
 * correction. A domain that taught only ham must not shift the words all
 * mail shares; what it can correct is what the site has hardly seen (a
 * newsletter's sender, its links, its own wording).
 */
static int residual_init(smf_msg_t *msg, const bayes_model_t *m, fit_data_t *d,
                         const bayes_fit_params_t *p)
{
    size_t longest = 0;
    for (size_t s = 0; s < d->n; s++)
        longest = d->len[s] > longest ? d->len[s] : longest;
    double *base_w = calloc(d->v.count + 1, sizeof(double));
    double *f = calloc(d->v.count + 1, sizeof(double));
    double *clues = calloc(longest + 1, sizeof(double));
    d->offset = calloc(d->n + 1, sizeof(double));
    d->frozen = calloc(d->v.count + 1, 1);
    int rc = base_w && f && clues && d->offset && d->frozen ? 0 : SMF_ENOMEM;
    if (rc == 0)
        rc = residual_tokens(msg, m, d, p, base_w, f);
    for (size_t s = 0; rc == 0 && s < d->n; s++) {
        for (uint32_t i = 0; i < d->len[s]; i++)
            d->offset[s] += base_w[d->idx[s][i]];
        d->offset[s] += p->word_weight * bayes_logit_ln_odds(set_words(d, p->words, f, s, clues));
    }
    free(base_w);
    free(f);
    free(clues);
    return rc;
}

/*
 * Adds to avg the weights of one run, averaged over the second half of its
 * passes and divided by the number of runs. Each run starts from zero and
 * takes its own fixed order, from seed.
 */
static int train(const fit_data_t *d, const bayes_fit_params_t *p, uint64_t seed, double *avg)
{
    size_t nv = d->v.count;
    double *w = calloc(2 * (nv + 1), sizeof(double));
    uint32_t *order = malloc((d->n + 1) * sizeof(uint32_t));
    if (w == NULL || order == NULL) {
        free(w);
        free(order);
        return SMF_ENOMEM;
    }
    for (size_t s = 0; s < d->n; s++)
        order[s] = (uint32_t)s;
    uint64_t rng = seed;
    long averaged = 0;
    double *sum = w + nv + 1;
    for (long e = 0; e < p->epochs; e++) {
        shuffle(order, d->n, &rng);
        for (size_t k = 0; k < d->n; k++)
            step(d, w, order[k], p->rate);
        /* Early passes are far from the optimum; averaging the later ones
         * steadies weights that single steps keep pushing about. */
        if (e >= p->epochs / 2) {
            for (size_t i = 0; i < nv; i++)
                sum[i] += w[i];
            averaged++;
        }
    }
    for (size_t i = 0; i < nv; i++)
        avg[i] += sum[i] / (double)averaged / (double)p->runs;
    free(w);
    free(order);
    return 0;
}

/* Token records rewritten per write transaction of a refit. */
#define STORE_BATCH 16384

/*
 * Writes the weights of tokens [from, to) into their records, in one batch,
 * and moves the version on with them: the scan caches drop the weights
 * they hold as soon as any new one is in, so that a refit that fails in a
 * later batch does not leave them serving old weights beside new ones.
 */
static int store_batch(smf_msg_t *msg, const bayes_model_t *m, const fit_data_t *d,
                       const double *avg, size_t from, size_t to)
{
    bayes_totals_t tot;
    int rc = smf_kv_begin(msg);
    if (rc != 0)
        return rc;
    if ((rc = bayes_totals_get(msg, m, &tot)) == 0) {
        tot.version++;
        rc = bayes_totals_put(msg, m, &tot);
    }
    for (size_t i = from; rc == 0 && i < to; i++) {
        bayes_counts_t c;
        if ((rc = bayes_counts_get(msg, m, d->v.tokens[i], &c)) == 0) {
            /* A weight that is not a finite float is never stored: it would
             * make the score of every message holding the token NaN. */
            float w = (float)avg[i];
            c.weight = isfinite(w) ? w : 0;
            rc = bayes_counts_put(msg, m, d->v.tokens[i], &c);
        }
    }
    return bayes_batch_end(msg, rc);
}

/*
 * Writes every fitted weight into its token's record. Other writers (a
 * learn, smfd's history) wait for the store's write lock, so the weights
 * go in batches rather than in one transaction that would hold it for
 * the whole write. Meanwhile a scan may read some new weights and some
 * old ones: two fits of nearly the same mail, either of them sound. Each
 * batch reads the counts afresh, so a learn in between loses nothing, and
 * changes the version, so that no cache keeps what it replaced.
 */
static int store(smf_msg_t *msg, const bayes_model_t *m, const fit_data_t *d, const double *avg)
{
    bool residual = d->offset != NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->v.count; i += STORE_BATCH)
        rc = store_batch(msg, m, d, avg, i,
                         i + STORE_BATCH < d->v.count ? i + STORE_BATCH : d->v.count);
    if (rc != 0)
        return rc;
    /* The fit is complete: the totals say so, under a new version again. */
    bayes_totals_t tot;
    if ((rc = smf_kv_begin(msg)) != 0)
        return rc;
    if ((rc = bayes_totals_get(msg, m, &tot)) == 0) {
        tot.version++;
        tot.fitted = d->n;
        tot.residual = residual;
        rc = bayes_totals_put(msg, m, &tot);
    }
    return bayes_batch_end(msg, rc);
}

int bayes_fit(smf_msg_t *msg, const bayes_model_t *m, const bayes_fit_params_t *p, size_t *nsets)
{
    fit_data_t d = {0};
    double *avg = NULL;
    int rc = load_consistent(msg, m, &d);
    if (rc == 0 && (avg = calloc(d.v.count + 1, sizeof(double))) == NULL)
        rc = SMF_ENOMEM;
    if (rc == 0 && p->base != NULL)
        rc = residual_init(msg, m, &d, p);
    /* One order of the sets is luck: which few newsletters end up above
     * the spam tail moved with it (recall at 0.1% false positives from 89%
     * to 96% over twelve orders). The mean of a few runs' weights is one
     * weight vector again, so a scan costs the same, and it barely moves. */
    for (long r = 0; rc == 0 && d.n > 0 && r < p->runs; r++)
        rc = train(&d, p, 0x9e3779b97f4a7c15ULL * (uint64_t)(r + 1), avg);
    if (rc == 0)
        rc = store(msg, m, &d, avg);
    *nsets = d.n;
    free(avg);
    fit_free(&d);
    return rc;
}
