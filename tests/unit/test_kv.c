/*
 * test_kv.c - the modules' key-value store: get/put/del, walks in key order,
 * and kv_update's promise that concurrent read-modify-writes lose nothing.
 */
#include "check.h"
#include "kv.h"
#include "smf/module.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 500

static kv_t *kv;
static unsigned dbi;

static int add_one(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen)
{
    int64_t n = 0;
    if (old != NULL && oldlen == sizeof(n))
        memcpy(&n, old, sizeof(n));
    n += *(int64_t *)arg;
    memcpy(out, &n, sizeof(n));
    *outlen = sizeof(n);
    return 0;
}

static void *worker(void *unused)
{
    int64_t one = 1;
    for (int i = 0; i < ROUNDS; i++)
        if (kv_update(kv, dbi, "counter", 7, add_one, &one) != 0)
            return (void *)1;
    return NULL;
}

static int delete_it(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen)
{
    return SMF_ENOENT;
}

static int too_big(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen)
{
    *outlen = SMF_KV_UPDATE_MAX + 1;
    return 0;
}

static int refuse(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen)
{
    return SMF_EFAIL;
}

static int64_t counter(arena_t *a)
{
    const void *v;
    size_t len;
    int64_t n = -1;
    if (kv_get(kv, dbi, "counter", 7, a, SIZE_MAX, &v, &len) == 0 && len == sizeof(n))
        memcpy(&n, v, sizeof(n));
    return n;
}

static bool present(arena_t *a, const char *key)
{
    const void *v;
    size_t len;
    return kv_get(kv, dbi, key, strlen(key), a, SIZE_MAX, &v, &len) == 0;
}

/* The key after `after` in namespace db, as a string, or "" at the end. */
static const char *next_key(unsigned db, const char *after, arena_t *a)
{
    const void *k, *v;
    size_t klen, vlen;
    int rc = kv_next(kv, db, after, strlen(after), a, SIZE_MAX, &k, &klen, &v, &vlen);
    if (rc != 0)
        return rc == SMF_ENOENT ? "" : "(error)";
    char *s = arena_alloc(a, klen + 1);
    memcpy(s, k, klen);
    s[klen] = '\0';
    return s;
}

/* A walk visits every key once, in byte order, resumes after a key that is
 * gone, sees its own batch, and never leaves its namespace. */
static void test_walk(arena_t *a)
{
    unsigned db, other;
    CHECK(kv_namespace(kv, "walk", &db) == 0 && kv_namespace(kv, "walk2", &other) == 0,
          "walk namespaces");
    const char *keys[] = {"b", "ab", "c", "a"};
    for (size_t i = 0; i < 4; i++)
        kv_put(kv, db, keys[i], strlen(keys[i]), keys[i], strlen(keys[i]));
    kv_put(kv, other, "aa", 2, "x", 1);
    char seen[64] = "";
    int steps = 0;
    /* Bounded, so that a walk stuck on one key fails instead of hanging. */
    for (const char *k = next_key(db, "", a); k[0] != '\0' && steps++ < 8; k = next_key(db, k, a))
        snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s,", k);
    CHECK(strcmp(seen, "a,ab,b,c,") == 0, "walk order: %s", seen);
    CHECK(strcmp(next_key(db, "aa", a), "ab") == 0, "a walk resumes after an absent key");
    CHECK(strcmp(next_key(db, "c", a), "") == 0, "the last key has no next");
    kv_del(kv, db, "ab", 2);
    CHECK(strcmp(next_key(db, "ab", a), "b") == 0, "a walk resumes after a deleted key");
    const void *k, *v;
    size_t klen, vlen;
    CHECK(kv_next(kv, db, "", 0, a, SIZE_MAX, &k, &klen, &v, &vlen) == 0 && vlen == 1 &&
              memcmp(v, "a", 1) == 0,
          "the value comes with the key");
    /* Copies that would take more than the room given are not made. */
    CHECK(kv_next(kv, db, "", 0, a, 1, &k, &klen, &v, &vlen) == SMF_ENOMEM,
          "a key and value of 2 bytes do not fit in 1");
    CHECK(kv_next(kv, db, "", 0, a, 2, &k, &klen, &v, &vlen) == 0 && klen + vlen == 2,
          "a key and value of 2 bytes fit in 2");
    CHECK(kv_get(kv, db, "a", 1, a, 0, &v, &vlen) == SMF_ENOMEM, "a value of 1 byte in 0");
    CHECK(kv_get(kv, db, "a", 1, a, 1, &v, &vlen) == 0 && vlen == 1, "a value of 1 byte in 1");
    char big[256] = {0};
    CHECK(kv_next(kv, db, big, sizeof(big), a, SIZE_MAX, &k, &klen, &v, &vlen) == SMF_EINVAL,
          "a key longer than 255 bytes refused");
    CHECK(kv_batch_begin(kv) == 0, "begin");
    kv_put(kv, db, "bb", 2, "z", 1);
    CHECK(strcmp(next_key(db, "b", a), "bb") == 0, "a walk in a batch sees its writes");
    CHECK(strcmp(next_key(db, "c", a), "") == 0, "end of the walk in a batch");
    CHECK(kv_batch_commit(kv) == 0, "reaching the end does not doom the batch");
}

/* A batch takes effect whole or not at all, and reads inside it see it. */
static void test_batches(arena_t *a)
{
    CHECK(kv_batch_begin(kv) == 0 && kv_batch_depth(kv) == 1, "begin");
    kv_put(kv, dbi, "b1", 2, "x", 1);
    kv_put(kv, dbi, "b2", 2, "y", 1);
    CHECK(present(a, "b1"), "a read in the batch sees its write");
    CHECK(kv_batch_abort(kv), "abort");
    CHECK(!present(a, "b1") && !present(a, "b2"), "an aborted batch wrote nothing");
    kv_batch_begin(kv);
    kv_put(kv, dbi, "b1", 2, "x", 1);
    kv_put(kv, dbi, "b2", 2, "y", 1);
    CHECK(kv_batch_commit(kv) == 0 && present(a, "b1") && present(a, "b2"), "commit");
    kv_batch_begin(kv);
    kv_del(kv, dbi, "b1", 2);
    CHECK(kv_put(kv, 9999, "b3", 2, "z", 1) == SMF_EIO, "a failing call in a batch");
    CHECK(kv_batch_commit(kv) == SMF_EIO, "a batch with a failed call does not commit");
    CHECK(present(a, "b1") && !present(a, "b3"), "nothing of the failed batch was written");
    CHECK(!kv_batch_abort(kv) && kv_batch_depth(kv) == 0, "no batch left open");
}

/* A batch begun inside another joins it: the outermost one decides. */
static void test_nested_batches(arena_t *a)
{
    kv_batch_begin(kv);
    CHECK(kv_batch_begin(kv) == 0 && kv_batch_depth(kv) == 2, "a nested begin joins");
    kv_put(kv, dbi, "n1", 2, "x", 1);
    CHECK(kv_batch_commit(kv) == 0 && kv_batch_depth(kv) == 1, "an inner commit ends its level");
    CHECK(kv_batch_abort(kv) && !present(a, "n1"),
          "an outer abort drops what an inner batch committed");
    kv_batch_begin(kv);
    kv_put(kv, dbi, "n1", 2, "x", 1);
    kv_batch_begin(kv);
    kv_put(kv, dbi, "n2", 2, "y", 1);
    CHECK(kv_batch_abort(kv) && kv_batch_depth(kv) == 1, "an inner abort ends its level");
    kv_put(kv, dbi, "n3", 2, "z", 1);
    CHECK(kv_batch_commit(kv) == SMF_EIO, "an inner abort dooms the outer batch");
    CHECK(!present(a, "n1") && !present(a, "n2") && !present(a, "n3"),
          "a doomed batch writes nothing, before or after the inner one");
    kv_batch_begin(kv);
    kv_batch_begin(kv);
    kv_put(kv, dbi, "n1", 2, "x", 1);
    kv_batch_commit(kv);
    kv_put(kv, dbi, "n2", 2, "y", 1);
    CHECK(kv_batch_commit(kv) == 0 && present(a, "n1") && present(a, "n2"),
          "the outer commit writes both levels");
    CHECK(kv_batch_commit(kv) == SMF_EINVAL, "a commit with no batch open");
}

static int count_line(const char *line, void *n)
{
    (void)line;
    ++*(int *)n;
    return 0;
}

/*
 * Reader slots in use (mdb_reader_list prints a header line first), counted
 * in a child: a second environment on the same files in this process would
 * take the file locks for its own and reset the reader table.
 */
static int readers(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        MDB_env *env;
        int n = 0;
        if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 256) == 0 &&
            mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0600) == 0)
            mdb_reader_list(env, count_line, &n);
        _exit(n);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) - 1 : -1;
}

/* A process that dies in a read transaction leaves its slot taken; the next
 * kv_open() or kv_sync() frees it, so that its snapshot pins no pages. */
static void test_stale_readers(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 256) == 0 &&
            mdb_env_open(env, dir, MDB_NOTLS, 0600) == 0 &&
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0)
            _exit(0); /* Dies holding the transaction. */
        _exit(1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader did not start");
    CHECK(readers(dir) == 1, "the dead reader's slot: %d in use", readers(dir));
    kv_sync(kv);
    CHECK(readers(dir) == 0, "kv_sync left %d stale reader(s)", readers(dir));
}

/* A store that fills says so: the batch that did not fit writes nothing,
 * kv_full() tells why, and the next write that fits clears it. */
static void test_full(const char *dir, arena_t *a)
{
    char err[256];
    kv_t *small = NULL;
    unsigned db;
    if (kv_open_sized(dir, (size_t)1 << 20, &small, err, sizeof(err)) != 0 ||
        kv_namespace(small, "test", &db) != 0) {
        CHECK(false, "a small store: %s", err);
        return;
    }
    static char big[64 * 1024];
    int rc = kv_batch_begin(small);
    char key[16];
    for (int i = 0; rc == 0 && i < 64; i++) {
        snprintf(key, sizeof(key), "big%d", i);
        rc = kv_put(small, db, key, strlen(key), big, sizeof(big));
    }
    CHECK(rc == SMF_EIO && kv_full(), "a full store: rc %d, kv_full() %d", rc, kv_full());
    CHECK(kv_batch_commit(small) == SMF_EIO && kv_full(), "the full batch committed");
    const void *v;
    size_t len;
    CHECK(kv_get(small, db, "big0", 4, a, SIZE_MAX, &v, &len) == SMF_ENOENT,
          "part of a full batch stayed");
    CHECK(kv_full(), "a read cleared kv_full()");
    CHECK(kv_put(small, db, "small", 5, "x", 1) == 0 && !kv_full(),
          "a write that fits still says the store is full");
    kv_close(&small);
}

int main(void)
{
    char dir[] = "/tmp/smf-test-kv.XXXXXX", err[256];
    if (mkdtemp(dir) == NULL || kv_open(dir, &kv, err, sizeof(err)) != 0 ||
        kv_namespace(kv, "test", &dbi) != 0) {
        fprintf(stderr, "kv: %s\n", err);
        return 1;
    }
    arena_t *a = arena_new(4096);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        failed += rc != NULL;
    }
    CHECK(failed == 0, "%d workers saw an update fail", failed);
    CHECK(counter(a) == THREADS * ROUNDS, "counter %lld, want %d: an update was lost",
          (long long)counter(a), THREADS * ROUNDS);
    CHECK(kv_update(kv, dbi, "counter", 7, refuse, NULL) == SMF_EFAIL &&
              counter(a) == THREADS * ROUNDS,
          "a refusing update changed the value");
    CHECK(kv_update(kv, dbi, "counter", 7, too_big, NULL) == SMF_ELIMIT, "oversized value");
    CHECK(kv_update(kv, dbi, "counter", 7, delete_it, NULL) == SMF_ENOENT && counter(a) == -1,
          "delete through update");
    CHECK(kv_update(kv, dbi, "", 0, add_one, NULL) == SMF_EINVAL, "empty key refused");
    test_batches(a);
    test_walk(a);
    test_nested_batches(a);
    test_stale_readers(dir);
    char full_dir[] = "/tmp/smf-test-kv-full.XXXXXX";
    if (mkdtemp(full_dir) != NULL)
        test_full(full_dir, a);
    arena_destroy(&a);
    kv_close(&kv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, full_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_done();
}
