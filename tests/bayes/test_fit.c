/*
 * test_fit.c - the bayes module's refit while another writer learns, as
 * smfd's workers autolearn during its refit. Built from the module's
 * sources over the engine's store, with smf_kv_get wrapped so that a learn
 * commits between two of the fit's reads, exactly where a test asks.
 */
#include "../unit/check.h"

#include "arena.h"
#include "kv.h"
#include "scanctx.h"

#include "logit.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static kv_t *kv;
static unsigned dbi;
/* The other writer's context, and how many learns it still commits: one
 * each time the fit reads set 1 outside a batch (a writer cannot commit
 * while a batch is open; it waits). */
static smf_msg_t *other;
static int injections, injected;

static uint64_t set0[] = {11, 12, 13}, set1[] = {21, 22, 23}, set2[] = {31, 32};

/* Learns a message with these tokens as the module does: counts, set and
 * totals in one batch, the totals' version moved on. */
static int learn(smf_msg_t *x, uint64_t *items, size_t n, int klass)
{
    bayes_tokens_t t = {.items = items, .count = n};
    bayes_model_t m;
    bayes_totals_t tot;
    bayes_model_for(&m, "");
    int rc = smf_kv_begin(x);
    if (rc != 0)
        return rc;
    rc = bayes_totals_get(x, &m, &tot);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bayes_counts_t c;
        if ((rc = bayes_counts_get(x, &m, items[i], &c)) == 0) {
            c.spam += klass == SMF_CLASS_SPAM;
            c.ham += klass == SMF_CLASS_HAM;
            rc = bayes_counts_put(x, &m, items[i], &c);
        }
    }
    if (rc == 0)
        rc = bayes_set_add(x, &m, &t, klass);
    if (rc == 0) {
        tot.spam += klass == SMF_CLASS_SPAM;
        tot.ham += klass == SMF_CLASS_HAM;
        tot.version++;
        rc = bayes_totals_put(x, &m, &tot);
    }
    return bayes_batch_end(x, rc);
}

int __real_smf_kv_get(smf_msg_t *msg, const void *key, size_t klen, const void **val, size_t *vlen);
int __wrap_smf_kv_get(smf_msg_t *msg, const void *key, size_t klen, const void **val, size_t *vlen);

int __wrap_smf_kv_get(smf_msg_t *msg, const void *key, size_t klen, const void **val, size_t *vlen)
{
    static const unsigned char slot1[7] = {'s', 'e', 't', 1, 0, 0, 0};
    if (msg != other && injections > 0 && klen == sizeof(slot1) &&
        memcmp(key, slot1, sizeof(slot1)) == 0 && kv_batch_depth(kv) == 0) {
        /* Another message with set 0's tokens, learned as ham: set 0 now
         * stands for one message more than the fit may have counted. */
        injections--;
        injected += learn(other, set0, 3, SMF_CLASS_HAM) == 0;
    }
    return __real_smf_kv_get(msg, key, klen, val, vlen);
}

static smf_msg_t *context(void)
{
    smf_msg_t *x = calloc(1, sizeof(*x));
    scanctx_init(x, arena_new(16384), NULL, NULL, "", 0, SIZE_MAX, kv);
    x->dbi = dbi;
    return x;
}

static void release(smf_msg_t *x)
{
    arena_destroy(&x->arena);
    free(x);
}

/* A fresh store with three learned messages, one per set. */
static smf_msg_t *fresh(const char *name)
{
    smf_msg_t *x = context();
    kv_namespace(kv, name, &dbi);
    x->dbi = other->dbi = dbi;
    CHECK(learn(x, set0, 3, SMF_CLASS_SPAM) == 0 && learn(x, set1, 3, SMF_CLASS_HAM) == 0 &&
              learn(x, set2, 2, SMF_CLASS_HAM) == 0,
          "%s: learning the sets failed", name);
    return x;
}

static int fit(smf_msg_t *x, size_t *n, bayes_totals_t *tot)
{
    bayes_fit_params_t p = {.epochs = 2, .rate = 0.1, .runs = 1};
    bayes_model_t m;
    bayes_model_for(&m, "");
    int rc = bayes_fit(x, &m, &p, n);
    if (bayes_totals_get(x, &m, tot) != 0)
        CHECK(0, "the totals do not read after the fit");
    return rc;
}

int main(void)
{
    char dir[] = "/tmp/smf-test-fit.XXXXXX", err[256];
    if (mkdtemp(dir) == NULL || kv_open(dir, &kv, err, sizeof(err)) != 0) {
        fprintf(stderr, "kv: %s\n", err);
        return 1;
    }
    other = context();
    size_t n = 0;
    bayes_totals_t tot;

    /* Nobody else learning: the three messages. */
    smf_msg_t *x = fresh("quiet");
    CHECK(fit(x, &n, &tot) == 0 && n == 3 && tot.fitted == 3, "quiet store: fitted %zu", n);

    release(x);

    /* One learn between the fit's reads: the fit reads again and fits the
     * store as it is after it, rather than fail (or fit half of it). */
    x = fresh("one");
    injections = 1, injected = 0;
    int rc = fit(x, &n, &tot);
    CHECK(injected == 1, "the other writer learned %d messages, want 1", injected);
    CHECK(rc == 0, "a learn during the fit failed it: %s", smf_strerror(rc));
    CHECK(n == 4 && tot.fitted == 4 && tot.spam + tot.ham == 4,
          "fitted %zu messages (totals %llu), the store has %llu", n,
          (unsigned long long)tot.fitted, (unsigned long long)(tot.spam + tot.ham));

    release(x);

    /* A writer that learns between every two reads: the last try reads in
     * a batch, which it waits for, and the fit still sees one state. */
    x = fresh("busy");
    injections = 1000, injected = 0;
    rc = fit(x, &n, &tot);
    CHECK(injected > 1, "the other writer learned %d messages", injected);
    CHECK(rc == 0, "learning throughout the fit failed it: %s", smf_strerror(rc));
    CHECK(n == tot.spam + tot.ham && n == 3 + (size_t)injected,
          "fitted %zu messages, the store has %llu (%d learned during the fit)", n,
          (unsigned long long)(tot.spam + tot.ham), injected);
    injections = 0;
    release(x);
    release(other);

    kv_close(&kv);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
