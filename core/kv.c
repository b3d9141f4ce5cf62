/*
 * kv.c - module namespaces in one LMDB environment.
 *
 * Each call is its own short transaction: modules write rarely and read
 * often, and LMDB readers never block writers.
 */
#include "kv.h"
#include "fsutil.h"
#include "smf/module.h"
#include "xalloc.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct kv {
    MDB_env *env;
    pthread_mutex_t dbi_lock; /* mdb_dbi_open must not race itself. */
};

/*
 * A process that died inside a read transaction (an `smfctl list show | head`
 * killed by SIGPIPE, a crash) keeps its reader slot, and LMDB frees no page
 * that slot's snapshot may still see until someone clears it: the store
 * would grow with every write until it is full.
 */
static void clear_stale_readers(kv_t *kv)
{
    int dead = 0;
    mdb_reader_check(kv->env, &dead);
}

int kv_open(const char *dir, kv_t **out, char *err, size_t errlen)
{
    return kv_open_sized(dir, KV_MAP_SIZE, out, err, errlen);
}

int kv_open_sized(const char *dir, size_t map_size, kv_t **out, char *err, size_t errlen)
{
    if (fs_mkdirs(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    kv_t *kv = xcalloc(1, sizeof(*kv));
    int rc = mdb_env_create(&kv->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(kv->env, 256);
    if (rc == 0)
        rc = mdb_env_set_mapsize(kv->env, map_size);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(kv->env, 512);
    if (rc == 0)
        rc = mdb_env_open(kv->env, dir, MDB_NOTLS | MDB_NOSYNC, 0600);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the key-value store in %s: %s", dir, mdb_strerror(rc));
        if (kv->env)
            mdb_env_close(kv->env);
        free(kv);
        return -1;
    }
    pthread_mutex_init(&kv->dbi_lock, NULL);
    clear_stale_readers(kv);
    *out = kv;
    return 0;
}

const char *kv_dir(const kv_t *kv)
{
    const char *path = NULL;
    return mdb_env_get_path(kv->env, &path) == 0 && path != NULL ? path : ".";
}

void kv_sync(kv_t *kv)
{
    if (kv == NULL)
        return;
    mdb_env_sync(kv->env, 1);
    clear_stale_readers(kv);
}

void kv_close(kv_t **kvp)
{
    kv_t *kv = *kvp;
    if (kv == NULL)
        return;
    mdb_env_sync(kv->env, 1);
    mdb_env_close(kv->env);
    pthread_mutex_destroy(&kv->dbi_lock);
    free(kv);
    *kvp = NULL;
}

int kv_namespace(kv_t *kv, const char *name, unsigned *dbi)
{
    MDB_txn *txn;
    pthread_mutex_lock(&kv->dbi_lock);
    int rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    }
    pthread_mutex_unlock(&kv->dbi_lock);
    return rc == 0 ? 0 : SMF_EIO;
}

/* A batch is this thread's open write transaction: kv calls on the same
 * store join it instead of committing on their own (LMDB write
 * transactions belong to one thread anyway). A batch begun inside another
 * joins it too: the outermost commit decides for all of them. */
static __thread MDB_txn *batch_txn;
static __thread kv_t *batch_kv;
static __thread int batch_failed;
static __thread int batch_depth;

/* Whether this thread's last write, or a write of its last batch, failed
 * because the store reached its map size: the caller can then say so
 * instead of a bare "storage error", and stop trying. */
static __thread bool store_full;

static int note_full(int rc)
{
    if (rc == MDB_MAP_FULL)
        store_full = true;
    return rc;
}

bool kv_full(void)
{
    return store_full;
}

int kv_batch_begin(kv_t *kv)
{
    if (batch_depth > 0) {
        if (batch_kv != kv)
            return SMF_EINVAL;
        batch_depth++;
        return 0;
    }
    store_full = false;
    if (mdb_txn_begin(kv->env, NULL, 0, &batch_txn) != 0) {
        batch_txn = NULL;
        return SMF_EIO;
    }
    batch_kv = kv;
    batch_failed = 0;
    batch_depth = 1;
    return 0;
}

int kv_batch_commit(kv_t *kv)
{
    if (batch_depth == 0 || batch_kv != kv)
        return SMF_EINVAL;
    if (--batch_depth > 0)
        return batch_failed ? SMF_EIO : 0;
    int rc = batch_failed ? (mdb_txn_abort(batch_txn), -1) : note_full(mdb_txn_commit(batch_txn));
    batch_txn = NULL;
    batch_kv = NULL;
    return rc == 0 ? 0 : SMF_EIO;
}

bool kv_batch_abort(kv_t *kv)
{
    if (batch_depth == 0 || batch_kv != kv)
        return false;
    if (--batch_depth > 0) {
        /* The outer batch would otherwise commit half of what its caller meant. */
        batch_failed = 1;
        return true;
    }
    mdb_txn_abort(batch_txn);
    batch_txn = NULL;
    batch_kv = NULL;
    return true;
}

int kv_batch_depth(const kv_t *kv)
{
    return batch_kv == kv ? batch_depth : 0;
}

/* The transaction a call runs in: the thread's batch, or one of its own. */
static int txn_open(kv_t *kv, unsigned flags, MDB_txn **txn)
{
    if (batch_txn != NULL && batch_kv == kv) {
        *txn = batch_txn;
        return 0;
    }
    if (!(flags & MDB_RDONLY))
        store_full = false;
    return mdb_txn_begin(kv->env, NULL, flags, txn) == 0 ? 0 : SMF_EIO;
}

/* Ends a call's transaction: its own one is committed (rc == 0) or
 * aborted; a batch stays open, and a failure dooms it. */
static int txn_close(kv_t *kv, MDB_txn *txn, int rc, bool write)
{
    note_full(rc);
    if (txn == batch_txn && batch_kv == kv) {
        if (rc != 0 && rc != MDB_NOTFOUND)
            batch_failed = 1;
        return rc;
    }
    if (rc == 0 && write)
        return note_full(mdb_txn_commit(txn));
    mdb_txn_abort(txn);
    return rc;
}

static int check_key(size_t klen)
{
    return klen == 0 || klen > 255 ? SMF_EINVAL : 0;
}

int kv_get(kv_t *kv, unsigned dbi, const void *key, size_t klen, arena_t *arena, size_t room,
           const void **val, size_t *vlen)
{
    MDB_txn *txn;
    if (check_key(klen) != 0)
        return SMF_EINVAL;
    if (txn_open(kv, MDB_RDONLY, &txn) != 0)
        return SMF_EIO;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    bool fits = rc != 0 || v.mv_size <= room;
    if (rc == 0 && fits) {
        *val = arena_memdup(arena, v.mv_data, v.mv_size);
        *vlen = v.mv_size;
    }
    rc = txn_close(kv, txn, rc, false);
    if (rc == 0 && !fits)
        return SMF_ENOMEM;
    return rc == 0 ? 0 : rc == MDB_NOTFOUND ? SMF_ENOENT : SMF_EIO;
}

/* Positions a cursor on the first record after `after`. SET_RANGE finds the
 * first key at or after it; an exact match is the caller's last key, which
 * it has seen, so the walk steps past it. A key longer than the 255 bytes
 * kv_put takes (LMDB takes up to 511: another tool wrote it) is stepped
 * over too: the caller could neither read nor delete it, nor resume after
 * it, and a walk handed one would stop there for good. */
static int cursor_after(MDB_cursor *cur, const void *after, size_t alen, MDB_val *k, MDB_val *v)
{
    int rc;
    if (alen == 0) {
        rc = mdb_cursor_get(cur, k, v, MDB_FIRST);
    } else {
        k->mv_size = alen;
        k->mv_data = (void *)after;
        rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
        if (rc == 0 && k->mv_size == alen && memcmp(k->mv_data, after, alen) == 0)
            rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    }
    while (rc == 0 && check_key(k->mv_size) != 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

int kv_next(kv_t *kv, unsigned dbi, const void *after, size_t alen, arena_t *arena, size_t room,
            const void **key, size_t *klen, const void **val, size_t *vlen)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    if (alen > 255 || (alen > 0 && after == NULL))
        return SMF_EINVAL;
    if (txn_open(kv, MDB_RDONLY, &txn) != 0)
        return SMF_EIO;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc == 0) {
        rc = cursor_after(cur, after, alen, &k, &v);
        mdb_cursor_close(cur);
    }
    int out = rc == 0 ? 0 : rc == MDB_NOTFOUND ? SMF_ENOENT : SMF_EIO;
    if (rc == 0 && (k.mv_size > room || v.mv_size > room - k.mv_size))
        out = SMF_ENOMEM;
    else if (rc == 0) {
        *key = arena_memdup(arena, k.mv_data, k.mv_size);
        *val = arena_memdup(arena, v.mv_data, v.mv_size);
        *klen = k.mv_size;
        *vlen = v.mv_size;
    }
    /* Nothing found is no failure: it must not doom the thread's batch. */
    txn_close(kv, txn, rc == MDB_NOTFOUND ? 0 : rc, false);
    return out;
}

int kv_put(kv_t *kv, unsigned dbi, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_txn *txn;
    if (check_key(klen) != 0)
        return SMF_EINVAL;
    if (txn_open(kv, 0, &txn) != 0)
        return SMF_EIO;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = txn_close(kv, txn, mdb_put(txn, dbi, &k, &v, 0), true);
    return rc == 0 ? 0 : SMF_EIO;
}

int kv_clear(kv_t *kv, unsigned dbi, size_t *removed)
{
    MDB_txn *txn;
    MDB_stat st;
    *removed = 0;
    if (txn_open(kv, 0, &txn) != 0)
        return SMF_EIO;
    int rc = mdb_stat(txn, dbi, &st);
    if (rc == 0)
        rc = mdb_drop(txn, dbi, 0);
    if ((rc = txn_close(kv, txn, rc, true)) != 0)
        return SMF_EIO;
    *removed = st.ms_entries;
    return 0;
}

int kv_del(kv_t *kv, unsigned dbi, const void *key, size_t klen)
{
    MDB_txn *txn;
    if (check_key(klen) != 0)
        return SMF_EINVAL;
    if (txn_open(kv, 0, &txn) != 0)
        return SMF_EIO;
    MDB_val k = {klen, (void *)key};
    int rc = txn_close(kv, txn, mdb_del(txn, dbi, &k, NULL), true);
    return rc == 0 ? 0 : rc == MDB_NOTFOUND ? SMF_ENOENT : SMF_EIO;
}

int kv_update(kv_t *kv, unsigned dbi, const void *key, size_t klen,
              int (*fn)(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen),
              void *arg)
{
    MDB_txn *txn;
    if (check_key(klen) != 0 || fn == NULL)
        return SMF_EINVAL;
    if (txn_open(kv, 0, &txn) != 0)
        return SMF_EIO;
    MDB_val k = {klen, (void *)key}, v;
    int found = mdb_get(txn, dbi, &k, &v);
    if (found != 0 && found != MDB_NOTFOUND)
        return txn_close(kv, txn, found, false), SMF_EIO;
    /* LMDB's write lock is held from here to the commit: fn's change cannot
     * interleave with another writer's. */
    unsigned char out[SMF_KV_UPDATE_MAX];
    size_t outlen = 0;
    int rc = fn(arg, found == 0 ? v.mv_data : NULL, found == 0 ? v.mv_size : 0, out, &outlen);
    if (rc == 0 && outlen > sizeof(out))
        rc = SMF_ELIMIT;
    int mrc = 0;
    if (rc == 0) {
        MDB_val nv = {outlen, out};
        mrc = mdb_put(txn, dbi, &k, &nv, 0);
    } else if (rc == SMF_ENOENT && found == 0) {
        mrc = mdb_del(txn, dbi, &k, NULL);
    }
    if (rc != 0 && rc != SMF_ENOENT) {
        /* The module's own refusal: nothing was written, a batch goes on. */
        if (txn != batch_txn)
            mdb_txn_abort(txn);
        return rc;
    }
    mrc = txn_close(kv, txn, mrc, true);
    return mrc == 0 ? rc : SMF_EIO;
}
