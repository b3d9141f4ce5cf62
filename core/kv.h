/*
 * kv.h - the modules' key-value store: one LMDB environment under
 * data_dir/kv, one named database per module.
 *
 * Shared by every thread and generation of the process. Writes are not
 * synced one by one: a crash of the process loses none (they are in the
 * kernel's cache), a crash of the machine what was not flushed yet. smfd
 * calls kv_sync() every two seconds; kv_close() flushes too.
 */
#ifndef SMF_KV_H
#define SMF_KV_H

#include "arena.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct kv kv_t;

/* The most the store holds (LMDB's map size): 4 GiB. */
#define KV_MAP_SIZE ((size_t)4 << 30)

int kv_open(const char *dir, kv_t **out, char *err, size_t errlen);
/* The same with another map size, for a test that fills a store; one already
 * larger on disk keeps its size. */
int kv_open_sized(const char *dir, size_t map_size, kv_t **out, char *err, size_t errlen);

/*
 * Batches: from kv_batch_begin() to kv_batch_commit() every kv call this
 * thread makes on this store runs in one write transaction, so that the
 * whole group takes effect at once or, after a failure or kv_batch_abort(),
 * not at all. Other writers wait meanwhile. One store per thread at a time.
 *
 * Batches nest: one begun inside another joins it, so that the core can
 * make a module's own batch part of a larger whole (a learned message and
 * its registry entry). An inner commit only ends the inner level (SMF_EIO
 * if a call has failed so far); an inner abort dooms the outer batch, whose
 * commit then writes nothing and returns SMF_EIO.
 */
int kv_batch_begin(kv_t *kv);
/* 0, SMF_EIO (a call in the batch failed: nothing was written), or
 * SMF_EINVAL (no batch of this store is open). */
int kv_batch_commit(kv_t *kv);
/* Drops the innermost open batch; true when there was one. */
bool kv_batch_abort(kv_t *kv);
/* Whether this thread's last write, or a write of its last batch, failed
 * because the store is full (KV_MAP_SIZE): nothing of it was written. */
bool kv_full(void);
/* How many batches of this store this thread has open (0: none). */
int kv_batch_depth(const kv_t *kv);
void kv_close(kv_t **kvp);
/* The folder the store was opened in, where learners keep learn.lock.
 * Owned by the store, valid until kv_close(). */
const char *kv_dir(const kv_t *kv);
/* Flushes every committed write to disk, then frees the reader slots of
 * processes that died in a read transaction (kv_open() frees them too). */
void kv_sync(kv_t *kv);

/* Opens (creating) the namespace of a module. 0 or SMF_EIO. */
int kv_namespace(kv_t *kv, const char *name, unsigned *dbi);
/* Values are copied into the arena, when they take at most `room` bytes (a
 * module's reads count against its share of the message arena).
 * 0, SMF_ENOENT, SMF_EINVAL, SMF_ENOMEM (over room) or SMF_EIO. */
int kv_get(kv_t *kv, unsigned dbi, const void *key, size_t klen, arena_t *arena, size_t room,
           const void **val, size_t *vlen);
int kv_put(kv_t *kv, unsigned dbi, const void *key, size_t klen, const void *val, size_t vlen);
int kv_del(kv_t *kv, unsigned dbi, const void *key, size_t klen);
/* The first record whose key sorts after `after` (alen bytes; alen 0 for the
 * first record), keys compared as LMDB does: bytes, then the shorter first.
 * Keys longer than 255 bytes, which kv_put refuses, are stepped over. Key
 * and value are copied into the arena when together they take at most
 * `room` bytes. 0, SMF_ENOENT (no record after it), SMF_EINVAL, SMF_ENOMEM
 * (over room) or SMF_EIO. */
int kv_next(kv_t *kv, unsigned dbi, const void *after, size_t alen, arena_t *arena, size_t room,
            const void **key, size_t *klen, const void **val, size_t *vlen);
/* Empties a namespace in one transaction; *removed gets how many records it
 * held. 0 or SMF_EIO. */
int kv_clear(kv_t *kv, unsigned dbi, size_t *removed);
/* Read-modify-write of one key inside one write transaction; see
 * smf_kv_update() for fn's contract. */
int kv_update(kv_t *kv, unsigned dbi, const void *key, size_t klen,
              int (*fn)(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen),
              void *arg);

#endif
