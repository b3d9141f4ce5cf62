/*
 * sweep.c - deletes the module's records that no longer move any score:
 * history decayed to next to nothing and rate counts out of their window;
 * and stamps now the records stamped later, so that they age from now.
 * Without it the store keeps every address and sender it ever saw.
 */
#include "sweep.h"
#include "history.h"
#include "ratelimit.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

/* Where the walk stands, kept in the store so that a restart resumes it.
 * "s" sorts after the "h" and "r" records, so the walk meets it last. */
#define CURSOR_KEY "s\tcursor"

/* When this process may run its next step: one thread claims each step,
 * and the others pay one atomic read per message. */
static _Atomic int64_t next_step_at;

/* A step is due once the interval has passed, and also when the next one
 * lies further ahead than an interval: the wall clock was set back (or
 * read once far ahead), and waiting for it to catch up would stop the
 * sweep for as long as it was off, years for a clock once set to 2038. */
static bool sweep_due(int64_t now)
{
    int64_t at = atomic_load(&next_step_at);

    if (now < at && at - now <= REP_SWEEP_INTERVAL_MS)
        return false;
    return atomic_compare_exchange_strong(&next_step_at, &at, now + REP_SWEEP_INTERVAL_MS);
}

/* Most records one write transaction changes: other writers wait for it,
 * so a step with more to change commits every this many. */
#define SWEEP_BATCH 256

/* One record the walk found to change, to be checked again under the lock. */
typedef struct sweep_item {
    const rep_sweep_conf_t *c;
    int64_t now;
    const char *key;
    size_t klen;
} sweep_item_t;

static bool sweep_stale(const sweep_item_t *it, const void *val, size_t vlen)
{
    if (it->klen > 2 && memcmp(it->key, "h\t", 2) == 0)
        return it->c->half_life_ms > 0 &&
               rep_hist_stale(val, vlen, it->c->half_life_ms, it->now, it->c->forget_count);
    if (it->klen > 2 && memcmp(it->key, "r\t", 2) == 0)
        return rep_rate_stale(val, vlen, it->now);
    return false;
}

/* Whether a record is stamped later than now; out gets it stamped now. A
 * record from a clock that ran fast would otherwise neither decay nor
 * leave its window until that time came. */
static bool sweep_ahead(const sweep_item_t *it, const void *val, size_t vlen, void *out,
                        size_t *outlen)
{
    if (it->klen > 2 && memcmp(it->key, "h\t", 2) == 0)
        return it->c->half_life_ms > 0 && rep_hist_ahead(val, vlen, it->now, out, outlen);
    if (it->klen > 2 && memcmp(it->key, "r\t", 2) == 0)
        return rep_rate_ahead(val, vlen, it->now, out, outlen);
    return false;
}

/* Whether the walk has anything to do with a record: delete it or stamp it now. */
static bool sweep_wanted(const sweep_item_t *it, const void *val, size_t vlen)
{
    unsigned char out[SMF_KV_UPDATE_MAX];
    size_t outlen;

    return sweep_stale(it, val, vlen) || sweep_ahead(it, val, vlen, out, &outlen);
}

/* Deletes the record if it is still stale, or stamps it now if it is still
 * ahead: a scan may have counted into it between the walk's read and this
 * write. SMF_EFAIL leaves it as it is. */
static int sweep_fix(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen)
{
    if (old == NULL)
        return SMF_EFAIL;
    if (sweep_stale(arg, old, oldlen))
        return SMF_ENOENT;
    return sweep_ahead(arg, old, oldlen, out, outlen) ? 0 : SMF_EFAIL;
}

/*
 * Changes the records the walk found, then saves where it stopped (an
 * empty cursor starts the next round), all in one write transaction: a
 * step costs the store one commit, not one per record. *removed grows by
 * the records deleted, once the transaction is committed.
 */
static int sweep_apply(smf_msg_t *msg, const sweep_item_t *items, size_t n, const void *cursor,
                       size_t clen, size_t *removed)
{
    size_t gone = 0;
    int rc = smf_kv_begin(msg);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = smf_kv_update(msg, items[i].key, items[i].klen, sweep_fix, (void *)&items[i]);
        if (rc == SMF_ENOENT)
            gone++;
        else if (rc < 0 && rc != SMF_EFAIL) {
            smf_kv_abort(msg);
            return rc;
        }
    }
    rc = smf_kv_put(msg, CURSOR_KEY, strlen(CURSOR_KEY), clen > 0 ? cursor : "", clen);
    if (rc < 0) {
        smf_kv_abort(msg);
        return rc;
    }
    if ((rc = smf_kv_commit(msg)) < 0)
        return rc;
    *removed += gone;
    return 0;
}

int rep_sweep_step(smf_msg_t *msg, const rep_sweep_conf_t *c, int64_t now_ms, size_t *removed)
{
    const void *cursor = NULL, *key, *val;
    size_t clen = 0, klen, vlen, n = 0;
    sweep_item_t *items;
    int rc;

    *removed = 0;
    if (c->keys <= 0 || !sweep_due(now_ms))
        return 0;
    rc = smf_kv_get(msg, CURSOR_KEY, strlen(CURSOR_KEY), &cursor, &clen);
    if (rc == SMF_ENOENT || clen > 255)
        clen = 0;
    else if (rc < 0)
        return rc;
    if ((items = smf_msg_alloc(msg, SWEEP_BATCH * sizeof(*items))) == NULL)
        return SMF_ENOMEM;
    /* The walk reads; only what it found is written, under the lock. */
    for (long i = 0; i < c->keys; i++) {
        rc = smf_kv_next(msg, cursor, clen, &key, &klen, &val, &vlen);
        if (rc == SMF_ENOENT)
            return sweep_apply(msg, items, n, NULL, 0, removed);
        if (rc < 0)
            return rc;
        sweep_item_t it = {c, now_ms, key, klen};
        if (sweep_wanted(&it, val, vlen))
            items[n++] = it;
        cursor = key;
        clen = klen;
        /* A full batch is committed with the cursor at its last record: a
         * later batch that fails leaves the walk to go on from there. */
        if (n == SWEEP_BATCH) {
            if ((rc = sweep_apply(msg, items, n, cursor, clen, removed)) < 0)
                return rc;
            n = 0;
        }
    }
    return sweep_apply(msg, items, n, cursor, clen, removed);
}
