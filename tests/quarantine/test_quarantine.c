/*
 * test_quarantine.c - the quarantine store: concurrent group-committed
 * stores, a full map, delete/mark/purge, survival of a killed writer, more
 * domains than the process may hold open at once, and the store's
 * throughput with 1, 4 and 16 threads (printed, not asserted).
 */
#include "clock.h"
#include "quarantine.h"
#include "smf/module.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static char workdir[1024];

/*
 * The directories fsync() was called on, by path: this program's fsync()
 * comes before the C library's, records directories and passes every call
 * on. The committer thread calls it too, hence the lock.
 */
static pthread_mutex_t synced_lock = PTHREAD_MUTEX_INITIALIZER;
static char synced[64][PATH_MAX];
static size_t nsynced;

int fsync(int fd)
{
    static int (*real)(int);
    struct stat st;
    char link[64], path[PATH_MAX];
    ssize_t n;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
        (n = readlink(link, path, sizeof(path) - 1)) > 0) {
        path[n] = '\0';
        pthread_mutex_lock(&synced_lock);
        if (nsynced < sizeof(synced) / sizeof(synced[0]))
            snprintf(synced[nsynced++], PATH_MAX, "%s", path);
        pthread_mutex_unlock(&synced_lock);
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

static bool was_synced(const char *dir)
{
    char want[PATH_MAX];
    bool found = false;
    if (realpath(dir, want) == NULL)
        return false;
    pthread_mutex_lock(&synced_lock);
    for (size_t i = 0; i < nsynced && !found; i++)
        found = strcmp(synced[i], want) == 0;
    pthread_mutex_unlock(&synced_lock);
    return found;
}

/* ---- utilities ------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fresh_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", workdir, name);
    nftw(out, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Deterministic bytes of every value, NULs and CR/LF included, so that
 * "byte-identical" means something. */
static char *make_raw(uint32_t seed, size_t len)
{
    char *p = malloc(len + 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (char)(x >> 24);
    }
    return p;
}

static bool same_raw(uint32_t seed, size_t len, const char *raw, size_t raw_len)
{
    if (raw == NULL || raw_len != len)
        return false;
    char *want = make_raw(seed, len);
    bool same = memcmp(want, raw, len) == 0;
    free(want);
    return same;
}

static void make_meta(char *out, size_t len, uint32_t seed, const char *domain)
{
    snprintf(out, len,
             "{\"n\":%u,\"recipients\":[\"u%u@%s\"],\"direction\":\"inbound\","
             "\"reason\":\"virus Eicar-Test-Signature\",\"score\":7.25,\"state\":\"quarantined\"}",
             seed, seed, domain);
}

static quarantine_t *open_q(const char *dir)
{
    quarantine_t *q = NULL;
    char err[256];
    if (quarantine_open(dir, &q, err, sizeof(err)) != 0) {
        fprintf(stderr, "FAIL: quarantine_open(%s): %s\n", dir, err);
        exit(1);
    }
    return q;
}

/* ---- concurrent stores ---------------------------------------------- */

#define CT_THREADS 4
#define CT_CALLS 400
#define CT_ITEMS 2000 /* Every 4th call stores copies for two domains. */

static const char *const ct_domains[3] = {"alpha.example", "Beta.Example", "gamma.example"};
static const char *const ct_dirs[3] = {"alpha.example", "beta.example", "gamma.example"};

typedef struct expect {
    int dom;
    char id[40];
    uint32_t seed;
    size_t len;
    int seen;
} expect_t;

static expect_t ct_items[CT_ITEMS];
static size_t ct_first[CT_THREADS][CT_CALLS], ct_count[CT_THREADS][CT_CALLS];
static pthread_barrier_t ct_start;

static void ct_plan(void)
{
    size_t k = 0;
    for (int t = 0; t < CT_THREADS; t++)
        for (int c = 0; c < CT_CALLS; c++) {
            ct_first[t][c] = k;
            ct_count[t][c] = c % 4 == 0 ? 2 : 1;
            for (size_t j = 0; j < ct_count[t][c]; j++, k++) {
                expect_t *e = &ct_items[k];
                e->dom = (int)((t + c + j) % 3);
                /* Copies of one message share its id, as the engine does. */
                snprintf(e->id, sizeof(e->id), "%012llx%02x%04x", 0x18f00000000ULL, t, c);
                e->seed = (uint32_t)k + 1;
                e->len = 1 + (e->seed * 7919u) % 9000;
            }
        }
}

typedef struct worker {
    quarantine_t *q;
    int t;
    int failed;
} worker_t;

static void *ct_worker(void *arg)
{
    worker_t *w = arg;
    quarantine_item_t items[2];
    char metas[2][256], err[256];
    pthread_barrier_wait(&ct_start);
    for (int c = 0; c < CT_CALLS; c++) {
        size_t n = ct_count[w->t][c];
        char *raws[2];
        for (size_t j = 0; j < n; j++) {
            const expect_t *e = &ct_items[ct_first[w->t][c] + j];
            raws[j] = make_raw(e->seed, e->len);
            make_meta(metas[j], sizeof(metas[j]), e->seed, ct_dirs[e->dom]);
            items[j] = (quarantine_item_t){ct_domains[e->dom], e->id,   1000 + (int64_t)e->seed,
                                           metas[j],           raws[j], e->len};
        }
        if (quarantine_store(w->q, items, n, err, sizeof(err)) != 0) {
            fprintf(stderr, "store failed: %s\n", err);
            w->failed++;
        }
        for (size_t j = 0; j < n; j++)
            free(raws[j]);
    }
    return NULL;
}

static expect_t *ct_find(const char *domain, const char *id)
{
    for (size_t k = 0; k < CT_ITEMS; k++)
        if (strcmp(ct_items[k].id, id) == 0 && strcmp(ct_dirs[ct_items[k].dom], domain) == 0)
            return &ct_items[k];
    return NULL;
}

typedef struct ct_list {
    const char *only; /* Domain asked for, or NULL. */
    size_t count, bad;
} ct_list_t;

static int ct_list_cb(const char *domain, const char *id, int64_t time_ms, size_t raw_len,
                      const char *meta_json, void *arg)
{
    ct_list_t *l = arg;
    char meta[256];
    expect_t *e = ct_find(domain, id);
    l->count++;
    if (e != NULL)
        make_meta(meta, sizeof(meta), e->seed, domain);
    if (e == NULL || (l->only != NULL && strcmp(domain, l->only) != 0) ||
        time_ms != 1000 + (int64_t)e->seed || raw_len != e->len || strcmp(meta, meta_json) != 0) {
        fprintf(stderr, "unexpected entry %s/%s\n", domain, id);
        l->bad++;
        return 0;
    }
    if (l->only == NULL)
        e->seen++;
    return 0;
}

/* Every item lists once, under its own domain only, and reads back. */
static void ct_verify(quarantine_t *q, const char *when)
{
    ct_list_t all = {NULL, 0, 0};
    for (size_t k = 0; k < CT_ITEMS; k++)
        ct_items[k].seen = 0;
    CHECK(quarantine_list(q, NULL, 0, ct_list_cb, &all) == 0, "%s", when);
    CHECK(all.count == CT_ITEMS && all.bad == 0, "%s: listed %zu, %zu wrong", when, all.count,
          all.bad);
    size_t unseen = 0;
    for (size_t k = 0; k < CT_ITEMS; k++)
        unseen += ct_items[k].seen != 1;
    CHECK(unseen == 0, "%s: %zu items not listed exactly once", when, unseen);

    for (int d = 0; d < 3; d++) {
        size_t want = 0;
        for (size_t k = 0; k < CT_ITEMS; k++)
            want += ct_items[k].dom == d;
        ct_list_t one = {ct_dirs[d], 0, 0};
        /* Asked for in its original case: the store lower-cases it too. */
        CHECK(quarantine_list(q, ct_domains[d], 0, ct_list_cb, &one) == 0, "%s", when);
        CHECK(one.count == want && one.bad == 0, "%s: %s lists %zu of %zu, %zu wrong", when,
              ct_dirs[d], one.count, want, one.bad);
    }

    size_t wrong = 0;
    for (size_t k = 0; k < CT_ITEMS; k++) {
        const expect_t *e = &ct_items[k];
        char *meta, *raw, *dom, want[256];
        size_t len;
        int rc = quarantine_get(q, ct_domains[e->dom], e->id, &meta, &raw, &len, &dom);
        make_meta(want, sizeof(want), e->seed, ct_dirs[e->dom]);
        if (rc != 0 || !same_raw(e->seed, e->len, raw, len) || strcmp(meta, want) != 0 ||
            strcmp(dom, ct_dirs[e->dom]) != 0 || raw[len] != '\0')
            wrong++;
        if (rc == 0) {
            free(meta);
            free(raw);
            free(dom);
        }
    }
    CHECK(wrong == 0, "%s: %zu items do not read back byte-identical", when, wrong);
}

static void test_concurrent(void)
{
    char dir[1200];
    fresh_dir(dir, sizeof(dir), "concurrent");
    ct_plan();
    quarantine_t *q = open_q(dir);
    pthread_t th[CT_THREADS];
    worker_t w[CT_THREADS];
    pthread_barrier_init(&ct_start, NULL, CT_THREADS);
    for (int t = 0; t < CT_THREADS; t++) {
        w[t] = (worker_t){q, t, 0};
        pthread_create(&th[t], NULL, ct_worker, &w[t]);
    }
    int failed = 0;
    for (int t = 0; t < CT_THREADS; t++) {
        pthread_join(th[t], NULL);
        failed += w[t].failed;
    }
    pthread_barrier_destroy(&ct_start);
    CHECK(failed == 0, "%d stores failed", failed);

    quarantine_stats_t st;
    quarantine_stats(q, &st);
    CHECK(st.items == CT_ITEMS && st.failed == 0, "stats: %llu stored, %llu failed",
          (unsigned long long)st.items, (unsigned long long)st.failed);
    /* One commit per call would make as many groups as calls. */
    CHECK(st.groups < CT_THREADS * CT_CALLS, "%llu groups for %d calls: nothing was grouped",
          (unsigned long long)st.groups, CT_THREADS * CT_CALLS);
    printf("concurrent: %d items from %d threads in %llu group commits\n", CT_ITEMS, CT_THREADS,
           (unsigned long long)st.groups);

    ct_verify(q, "after the stores");
    char *dom = NULL;
    CHECK(quarantine_get(q, NULL, ct_items[1].id, NULL, NULL, NULL, &dom) == 0 && dom != NULL,
          "a get without domain finds the copy");
    free(dom);
    quarantine_close(&q);
    CHECK(q == NULL, "close nulls the handle");

    q = open_q(dir);
    ct_verify(q, "after reopening");
    quarantine_close(&q);

    char path[1300];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/Beta.Example", dir);
    CHECK(stat(path, &sb) != 0, "no directory in the recipient's case");
    snprintf(path, sizeof(path), "%s/beta.example/data.mdb", dir);
    CHECK(stat(path, &sb) == 0, "the domain's environment is in its lower-cased directory");
}

/* ---- domains, ids and refusals -------------------------------------- */

static void test_names_and_refusals(void)
{
    static const struct {
        const char *in, *out;
    } names[] = {
        {"Example.COM", "example.com"},
        {"mail-1.example.org", "mail-1.example.org"},
        {"../etc", "_invalid_"},
        {"a..b", "_invalid_"},
        {".hidden", "_invalid_"},
        {"-x.example", "_invalid_"},
        {"a/b", "_invalid_"},
        {"", "_invalid_"},
        {NULL, "_invalid_"},
        {"ex ample.com", "_invalid_"},
        {"_invalid_", "_invalid_"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CHECK(strcmp(quarantine_domain_name(names[i].in, buf), names[i].out) == 0,
              "\"%s\" maps to %s, not %s", names[i].in ? names[i].in : "(null)", buf, names[i].out);

    char dir[1200], err[256] = "";
    fresh_dir(dir, sizeof(dir), "names");
    quarantine_t *q = open_q(dir);
    char *raw = make_raw(7, 3000);
    quarantine_item_t it = {"../../escape", "0001", 5, "{\"a\":1}", raw, 3000};
    CHECK(quarantine_store(q, &it, 1, err, sizeof(err)) == 0, "%s", err);
    char path[1300];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/_invalid_/data.mdb", dir);
    CHECK(stat(path, &sb) == 0, "a bad domain is stored under _invalid_");
    snprintf(path, sizeof(path), "%s/../escape", dir);
    CHECK(stat(path, &sb) != 0, "a bad domain never leaves the quarantine directory");
    char *got = NULL, *dom = NULL;
    size_t len = 0;
    CHECK(quarantine_get(q, "../../escape", "0001", NULL, &got, &len, &dom) == 0 &&
              same_raw(7, 3000, got, len) && strcmp(dom, "_invalid_") == 0,
          "found again under the same bad name");
    free(got);
    free(dom);

    /* An id that exists is refused, and the first copy stays as it was. */
    char *other = make_raw(8, 100);
    quarantine_item_t dup = {"x.example", "0001", 5, "{}", other, 100};
    CHECK(quarantine_store(q, &dup, 1, err, sizeof(err)) == 0, "%s", err);
    dup.raw_len = 50;
    err[0] = '\0';
    CHECK(quarantine_store(q, &dup, 1, err, sizeof(err)) == -1 && strstr(err, "already") != NULL,
          "a duplicate id is refused: \"%s\"", err);
    CHECK(quarantine_get(q, "x.example", "0001", NULL, &got, &len, NULL) == 0 &&
              same_raw(8, 100, got, len),
          "the first copy is untouched");
    free(got);

    static const quarantine_item_t bad[] = {
        {"x.example", "a/b", 1, "{}", "x", 1}, {"x.example", "", 1, "{}", "x", 1},
        {"x.example", NULL, 1, "{}", "x", 1},  {"x.example", "ok1", 1, "[1]", "x", 1},
        {"x.example", "ok2", 1, NULL, "x", 1}, {"x.example", "ok3", 1, "{}", NULL, 5},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK(quarantine_store(q, &bad[i], 1, err, sizeof(err)) == -1 && err[0] != '\0',
              "bad item %zu is refused with a reason", i);
    }
    CHECK(quarantine_get(q, "nowhere.example", "0001", NULL, NULL, NULL, NULL) == SMF_ENOENT,
          "an unknown domain is ENOENT");
    CHECK(quarantine_get(q, NULL, "0002", NULL, NULL, NULL, NULL) == SMF_ENOENT,
          "an unknown id is ENOENT");
    CHECK(quarantine_get(q, NULL, "../x", NULL, NULL, NULL, NULL) == SMF_EINVAL, "a bad id");
    snprintf(path, sizeof(path), "%s/nowhere.example", dir);
    CHECK(stat(path, &sb) != 0, "reading does not create environments");
    CHECK(quarantine_set_mapsize(q, 1024) == SMF_EINVAL, "a map below 64 KiB is refused");
    CHECK(quarantine_set_window(q, -1) == SMF_EINVAL &&
              quarantine_set_window(q, 200000) == SMF_EINVAL,
          "a window out of range is refused");
    free(raw);
    free(other);
    quarantine_close(&q);
}

/* ---- a full map ----------------------------------------------------- */

static int count_cb(const char *domain, const char *id, int64_t time_ms, size_t raw_len,
                    const char *meta_json, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

static void test_map_full(void)
{
    char dir[1200], err[256], id[16];
    fresh_dir(dir, sizeof(dir), "full");
    quarantine_t *q = open_q(dir);
    CHECK(quarantine_set_mapsize(q, 64 << 10) == 0, "64 KiB map");
    for (uint32_t i = 0; i < 5; i++) {
        char *raw = make_raw(100 + i, 300);
        snprintf(id, sizeof(id), "small%u", i);
        quarantine_item_t it = {"full.example", id, i, "{\"small\":true}", raw, 300};
        CHECK(quarantine_store(q, &it, 1, err, sizeof(err)) == 0, "small item: %s", err);
        free(raw);
    }
    char *big = make_raw(1, 200 << 10);
    quarantine_item_t it = {"full.example", "big", 9, "{}", big, 200 << 10};
    err[0] = '\0';
    int rc = quarantine_store(q, &it, 1, err, sizeof(err));
    CHECK(rc == -1, "a message larger than the map is not stored");
    CHECK(strstr(err, "full") != NULL && strstr(err, "full.example") != NULL,
          "the reason says which store is full: \"%s\"", err);
    printf("map full: %s\n", err);
    free(big);

    for (uint32_t i = 0; i < 5; i++) {
        char *raw = NULL;
        size_t len = 0;
        snprintf(id, sizeof(id), "small%u", i);
        CHECK(quarantine_get(q, "full.example", id, NULL, &raw, &len, NULL) == 0 &&
                  same_raw(100 + i, 300, raw, len),
              "%s survives the failed store", id);
        free(raw);
    }
    CHECK(quarantine_get(q, "full.example", "big", NULL, NULL, NULL, NULL) == SMF_ENOENT,
          "no half-stored entry");
    char *raw = make_raw(200, 300);
    quarantine_item_t after = {"full.example", "after", 10, "{}", raw, 300};
    CHECK(quarantine_store(q, &after, 1, err, sizeof(err)) == 0, "the store still works: %s", err);
    free(raw);
    quarantine_close(&q);

    /* After a restart too: nothing was lost. */
    q = open_q(dir);
    size_t n = 0;
    CHECK(quarantine_list(q, "full.example", 0, count_cb, &n) == 0 && n == 6, "%zu entries", n);
    quarantine_close(&q);
}

/* Several callers at once, one of them too big for the map: only that one
 * fails, whether or not the others landed in the same group. */
typedef struct big_arg {
    quarantine_t *q;
    int t, round;
    pthread_barrier_t *bar;
    int rc;
} big_arg_t;

static void *big_worker(void *arg)
{
    big_arg_t *a = arg;
    char id[32], err[256];
    size_t len = a->t == 0 ? (size_t)2 << 20 : 200;
    char *raw = make_raw((uint32_t)(a->round * 100 + a->t), len);
    snprintf(id, sizeof(id), "r%02dt%d", a->round, a->t);
    quarantine_item_t it = {"mixed.example", id, 1, "{}", raw, len};
    pthread_barrier_wait(a->bar);
    a->rc = quarantine_store(a->q, &it, 1, err, sizeof(err));
    free(raw);
    return NULL;
}

static void test_oversized_alone(void)
{
    char dir[1200];
    fresh_dir(dir, sizeof(dir), "mixed");
    quarantine_t *q = open_q(dir);
    quarantine_set_mapsize(q, 1 << 20);
    int wrong = 0;
    for (int round = 0; round < 10; round++) {
        pthread_t th[6];
        big_arg_t a[6];
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, 6);
        for (int t = 0; t < 6; t++) {
            a[t] = (big_arg_t){q, t, round, &bar, 0};
            pthread_create(&th[t], NULL, big_worker, &a[t]);
        }
        for (int t = 0; t < 6; t++) {
            pthread_join(th[t], NULL);
            wrong += (a[t].rc != 0) != (t == 0);
        }
        pthread_barrier_destroy(&bar);
    }
    CHECK(wrong == 0, "%d stores had the wrong outcome", wrong);
    quarantine_stats_t st;
    quarantine_stats(q, &st);
    printf("oversized among others: 60 stores in %llu group commits, only the big ones failed\n",
           (unsigned long long)st.groups);
    size_t n = 0;
    quarantine_list(q, NULL, 0, count_cb, &n);
    CHECK(n == 50, "%zu of 50 small items stored", n);
    quarantine_close(&q);
}

/* ---- delete, mark, purge -------------------------------------------- */

static void store_simple(quarantine_t *q, const char *domain, const char *id, int64_t t,
                         uint32_t seed)
{
    char err[256], meta[256];
    char *raw = make_raw(seed, 500);
    make_meta(meta, sizeof(meta), seed, domain);
    quarantine_item_t it = {domain, id, t, meta, raw, 500};
    CHECK(quarantine_store(q, &it, 1, err, sizeof(err)) == 0, "%s", err);
    free(raw);
}

/* The journal's records as "topic type id" lines, in order. */
typedef struct events {
    char text[4096];
    size_t n;
} events_t;

static void event_cb(const char *topic, const char *json, void *arg)
{
    events_t *ev = arg;
    json_t *o = json_loads(json, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *id = json_string_value(json_object_get(o, "id"));
    bool timed = json_integer_value(json_object_get(o, "time")) > 0;
    size_t used = strlen(ev->text);
    snprintf(ev->text + used, sizeof(ev->text) - used, "%s %s %s%s\n", topic, type ? type : "?",
             id ? id : "?", timed ? "" : " (no time)");
    ev->n++;
    json_decref(o);
}

static void test_delete_mark(void)
{
    char dir[1200];
    fresh_dir(dir, sizeof(dir), "delete");
    quarantine_t *q = open_q(dir);
    store_simple(q, "a.example", "01", 1, 1);
    store_simple(q, "a.example", "02", 2, 2);
    store_simple(q, "b.example", "02", 2, 3);
    store_simple(q, "b.example", "03", 3, 4);

    /* Storing and reading leave the journal of changes alone (a reader may
     * not be allowed to write it); the first change makes it. */
    char events[1300];
    struct stat st;
    snprintf(events, sizeof(events), "%s/.events", dir);
    CHECK(quarantine_get(q, "a.example", "01", NULL, NULL, NULL, NULL) == 0, "get");
    CHECK(stat(events, &st) != 0, "no journal before a change");
    CHECK(quarantine_delete(q, "a.example", "01") == 0, "delete");
    CHECK(stat(events, &st) == 0, "the journal after a change");
    CHECK(quarantine_delete(q, "a.example", "01") == SMF_ENOENT, "a second delete");
    CHECK(quarantine_get(q, "a.example", "01", NULL, NULL, NULL, NULL) == SMF_ENOENT, "gone");
    CHECK(quarantine_delete(q, "a.example", "03") == SMF_ENOENT, "other domain's id");
    CHECK(quarantine_delete(q, NULL, "02") == 0, "delete every copy");
    CHECK(quarantine_get(q, NULL, "02", NULL, NULL, NULL, NULL) == SMF_ENOENT, "both gone");
    char *raw = NULL;
    size_t len;
    CHECK(quarantine_get(q, NULL, "03", NULL, &raw, &len, NULL) == 0 && same_raw(4, 500, raw, len),
          "the rest stays");
    free(raw);

    char *meta = NULL;
    CHECK(quarantine_mark(q, "b.example", "03", "released") == 0, "mark");
    CHECK(quarantine_mark(q, "b.example", "04", "released") == SMF_ENOENT, "mark unknown");
    CHECK(quarantine_mark(q, "b.example", "03", "") == SMF_EINVAL, "empty state");
    CHECK(quarantine_get(q, "b.example", "03", &meta, &raw, &len, NULL) == 0, "get marked");
    json_t *o = meta ? json_loads(meta, 0, NULL) : NULL;
    CHECK(o != NULL && strcmp(json_string_value(json_object_get(o, "state")), "released") == 0,
          "state is released: %s", meta ? meta : "");
    CHECK(o != NULL && json_integer_value(json_object_get(o, "n")) == 4 &&
              json_real_value(json_object_get(o, "score")) == 7.25 &&
              json_integer_value(json_object_get(o, "state_time_ms")) > 0,
          "the other members are kept: %s", meta ? meta : "");
    CHECK(same_raw(4, 500, raw, len), "the message is untouched by a mark");
    json_decref(o);
    free(meta);
    free(raw);

    /* Recipients the message went to are kept, each once, and the state with them. */
    const char *got[] = {"a@b.example", "b@b.example"};
    CHECK(quarantine_mark_delivered(q, "b.example", "03", got, 2) == 0, "delivered to two");
    CHECK(quarantine_mark_delivered(q, "b.example", "03", got + 1, 1) == 0, "one again");
    CHECK(quarantine_mark_delivered(q, "b.example", "04", got, 2) == SMF_ENOENT, "unknown id");
    CHECK(quarantine_mark_delivered(q, "b.example", "03", got, 0) == SMF_EINVAL, "nobody");
    meta = NULL;
    CHECK(quarantine_get(q, "b.example", "03", &meta, NULL, NULL, NULL) == 0, "get delivered");
    o = meta ? json_loads(meta, 0, NULL) : NULL;
    json_t *to = json_object_get(o, "delivered_to");
    CHECK(json_array_size(to) == 2 &&
              strcmp(json_string_value(json_array_get(to, 0)), got[0]) == 0 &&
              strcmp(json_string_value(json_array_get(to, 1)), got[1]) == 0,
          "delivered_to: %s", meta ? meta : "");
    CHECK(o != NULL && strcmp(json_string_value(json_object_get(o, "state")), "released") == 0,
          "the state is kept: %s", meta ? meta : "");
    json_decref(o);
    free(meta);

    /* Each change that happened is journaled for smfd to publish, once. */
    events_t ev = {"", 0};
    CHECK(quarantine_events(q, 100, event_cb, &ev) == 4, "four changes: %s", ev.text);
    CHECK(strcmp(ev.text, "quarantine.a.example deleted 01\n"
                          "quarantine.a.example deleted 02\n"
                          "quarantine.b.example deleted 02\n"
                          "quarantine.b.example released 03\n") == 0,
          "journal:\n%s", ev.text);
    ev = (events_t){"", 0};
    CHECK(quarantine_events(q, 100, event_cb, &ev) == 0, "drained: %s", ev.text);
    quarantine_close(&q);
}

/*
 * A domain's store that cannot even be looked at (its data.mdb a symlink
 * loop here, since root passes every permission check; unreadable folders
 * too when not root) fails the walk instead of passing for an empty store.
 * Only a missing store means "nothing quarantined".
 */
static void test_unreadable_store(void)
{
    char dir[1200], path[1300];
    fresh_dir(dir, sizeof(dir), "unreadable");
    quarantine_t *q = open_q(dir);
    store_simple(q, "ok.example", "01", 1, 1);
    snprintf(path, sizeof(path), "%s/loop.example", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/loop.example/data.mdb", dir);
    CHECK(symlink("data.mdb", path) == 0, "symlink %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/empty.example", dir);
    mkdir(path, 0700);

    size_t n = 0;
    CHECK(quarantine_list(q, NULL, 0, count_cb, &n) == SMF_EIO, "an unreadable store fails");
    CHECK(n == 1, "the readable store is still listed: %zu", n);
    CHECK(quarantine_list(q, "loop.example", 0, count_cb, &n) == SMF_EIO, "named, it fails too");
    CHECK(quarantine_get(q, NULL, "02", NULL, NULL, NULL, NULL) == SMF_EIO, "get says so");
    size_t removed = 0;
    CHECK(quarantine_purge(q, INT64_MAX, &removed) == SMF_EIO && removed == 1,
          "purge does the others and fails: %zu", removed);
    CHECK(quarantine_list(q, "empty.example", 0, count_cb, &n) == SMF_ENOENT,
          "a folder without a store is nothing quarantined");
    CHECK(quarantine_list(q, "none.example", 0, count_cb, &n) == SMF_ENOENT, "so is no folder");
    quarantine_close(&q);

    if (geteuid() == 0)
        return; /* Permissions do not stop root. */
    fresh_dir(dir, sizeof(dir), "unreadable");
    q = open_q(dir);
    store_simple(q, "locked.example", "01", 1, 1);
    quarantine_close(&q);
    snprintf(path, sizeof(path), "%s/locked.example", dir);
    chmod(path, 0);
    q = open_q(dir);
    CHECK(quarantine_list(q, NULL, 0, count_cb, &n) == SMF_EIO, "a locked folder fails");
    chmod(path, 0700);
    chmod(dir, 0);
    CHECK(quarantine_list(q, NULL, 0, count_cb, &n) == SMF_EIO, "a locked quarantine fails");
    chmod(dir, 0700);
    quarantine_close(&q);
}

static int time_cb(const char *domain, const char *id, int64_t time_ms, size_t raw_len,
                   const char *meta_json, void *arg)
{
    int64_t *min = arg;
    if (time_ms < *min)
        *min = time_ms;
    return 0;
}

static int stop_cb(const char *domain, const char *id, int64_t time_ms, size_t raw_len,
                   const char *meta_json, void *arg)
{
    return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_purge(void)
{
    char dir[1200], err[256];
    fresh_dir(dir, sizeof(dir), "purge");
    quarantine_t *q = open_q(dir);
    /* More than one purge batch, old and new entries interleaved. */
    enum { N = 2600 };
    quarantine_item_t *items = calloc(N, sizeof(*items));
    char(*ids)[32] = calloc(N, 32);
    size_t old_a = 0;
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 32, "%08x", i);
        bool old = (i * 7) % 3 == 0;
        const char *dom = i % 5 == 0 ? "b.example" : "a.example";
        items[i] = (quarantine_item_t){dom, ids[i], old ? 1000 + i : 100000 + i, "{}", "raw", 3};
        old_a += old;
    }
    CHECK(quarantine_store(q, items, N, err, sizeof(err)) == 0, "%s", err);

    size_t n = 0;
    CHECK(quarantine_list(q, NULL, 100000, count_cb, &n) == 0 && n == N - old_a,
          "since filters by time: %zu", n);
    int calls = 0;
    CHECK(quarantine_list(q, NULL, 0, stop_cb, &calls) == 42 && calls == 3,
          "a callback stops the listing");

    size_t removed = 0;
    CHECK(quarantine_purge(q, 100000, &removed) == 0, "purge");
    CHECK(removed == old_a, "removed %zu of %zu", removed, old_a);
    int64_t min = INT64_MAX;
    n = 0;
    quarantine_list(q, NULL, 0, count_cb, &n);
    quarantine_list(q, NULL, 0, time_cb, &min);
    CHECK(n == N - old_a && min >= 100000, "%zu left, oldest %lld", n, (long long)min);
    size_t missing = 0;
    for (int i = 0; i < N; i++) {
        bool old = (i * 7) % 3 == 0;
        int rc = quarantine_get(q, items[i].domain, ids[i], NULL, NULL, NULL, NULL);
        missing += old ? rc != SMF_ENOENT : rc != 0;
    }
    CHECK(missing == 0, "%zu entries in the wrong state after purge", missing);
    CHECK(quarantine_purge(q, 100000, &removed) == 0 && removed == 0, "nothing more to purge");
    /* Every purged entry is journaled, taken a bounded number at a time. */
    events_t ev = {"", 0};
    long got = 0, k;
    while ((k = quarantine_events(q, 7, event_cb, &ev)) > 0) {
        got += k;
        ev.text[0] = '\0';
    }
    CHECK(got == (long)old_a && k == 0, "%ld purge events for %zu purged", got, old_a);
    quarantine_close(&q);
    free(items);
    free(ids);
}

/* ---- a writer killed with SIGKILL ------------------------------------ */

#define CR_THREADS 4
#define CR_PER 25

typedef struct crash_arg {
    quarantine_t *q;
    int t;
    int ack_fd; /* -1: store CR_PER items; else store until killed. */
} crash_arg_t;

static void crash_item(int n, char *id, size_t idlen, char **raw, size_t *len)
{
    snprintf(id, idlen, "c%06d", n);
    *len = 5000 + (size_t)(n % 200);
    *raw = make_raw(5000 + (uint32_t)n, *len);
}

static void *crash_worker(void *arg)
{
    crash_arg_t *a = arg;
    char id[32], err[256];
    for (int i = 0; a->ack_fd >= 0 || i < CR_PER; i++) {
        int n = a->t * 100000 + i;
        char *raw;
        size_t len;
        crash_item(n, id, sizeof(id), &raw, &len);
        quarantine_item_t it = {"crash.example", id, n, "{}", raw, len};
        if (quarantine_store(a->q, &it, 1, err, sizeof(err)) != 0)
            _exit(3);
        free(raw);
        /* Acknowledged only once durable, as the engine replies. */
        if (a->ack_fd >= 0 && write(a->ack_fd, &n, sizeof(n)) != sizeof(n))
            _exit(4);
    }
    return NULL;
}

static void crash_child(const char *dir, int ack_fd)
{
    quarantine_t *q = open_q(dir);
    pthread_t th[CR_THREADS];
    crash_arg_t a[CR_THREADS];
    for (int t = 0; t < CR_THREADS; t++) {
        a[t] = (crash_arg_t){q, t, ack_fd};
        pthread_create(&th[t], NULL, crash_worker, &a[t]);
    }
    for (int t = 0; t < CR_THREADS; t++)
        pthread_join(th[t], NULL);
    raise(SIGKILL);
    _exit(5);
}

static size_t crash_missing(quarantine_t *q, const int *ns, size_t count)
{
    size_t missing = 0;
    for (size_t i = 0; i < count; i++) {
        char id[32], *raw, *got = NULL;
        size_t len, glen = 0;
        crash_item(ns[i], id, sizeof(id), &raw, &len);
        if (quarantine_get(q, "crash.example", id, NULL, &got, &glen, NULL) != 0 || glen != len ||
            memcmp(got, raw, len) != 0)
            missing++;
        free(raw);
        free(got);
    }
    return missing;
}

static void test_crash_after_return(void)
{
    char dir[1200];
    fresh_dir(dir, sizeof(dir), "crash");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        crash_child(dir, -1);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child killed itself (%d)",
          status);
    int ns[CR_THREADS * CR_PER];
    for (int t = 0; t < CR_THREADS; t++)
        for (int i = 0; i < CR_PER; i++)
            ns[t * CR_PER + i] = t * 100000 + i;
    quarantine_t *q = open_q(dir);
    size_t n = 0;
    quarantine_list(q, NULL, 0, count_cb, &n);
    size_t missing = crash_missing(q, ns, CR_THREADS * CR_PER);
    CHECK(n == 100 && missing == 0, "after kill -9: %zu listed, %zu of 100 missing or altered", n,
          missing);
    quarantine_close(&q);
}

/* Killed from outside while stores are in flight: every acknowledged
 * store is there, and the environment is usable again. */
static void test_crash_midstream(void)
{
    char dir[1200], err[256];
    int fds[2];
    fresh_dir(dir, sizeof(dir), "crash2");
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        crash_child(dir, fds[1]);
    }
    close(fds[1]);
    int *acked = malloc(1000000 * sizeof(int));
    size_t count = 0;
    ssize_t r;
    while ((r = read(fds[0], &acked[count], sizeof(int))) == sizeof(int)) {
        if (++count == 300)
            kill(pid, SIGKILL);
        if (count == 1000000)
            break;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "killed (%d)", status);
    quarantine_t *q = open_q(dir);
    size_t listed = 0;
    quarantine_list(q, NULL, 0, count_cb, &listed);
    size_t missing = crash_missing(q, acked, count);
    CHECK(count >= 300 && missing == 0 && listed >= count,
          "%zu acknowledged, %zu missing, %zu listed", count, missing, listed);
    printf("kill -9 during stores: %zu acknowledged, %zu on disk, none missing\n", count, listed);
    char *raw = make_raw(1, 100);
    quarantine_item_t it = {"crash.example", "after", 1, "{}", raw, 100};
    CHECK(quarantine_store(q, &it, 1, err, sizeof(err)) == 0, "stores after a crash: %s", err);
    free(raw);
    free(acked);
    quarantine_close(&q);
}

/* ---- the operator's process beside the daemon's --------------------- */

#define OP_N 300

static void op_item(int i, char *id, size_t idlen, char **raw, size_t *len)
{
    snprintf(id, idlen, "op%05d", i);
    *len = 1000 + (size_t)i * 13;
    *raw = make_raw(9000 + (uint32_t)i, *len);
}

/* The operator's side: waits until every item can be read back, deleting
 * the first one on the way, while the other process is still storing. */
static int op_child(const char *dir)
{
    quarantine_t *q = open_q(dir);
    bool deleted = false;
    for (int tries = 0; tries < 3000; tries++) {
        size_t n = 0;
        quarantine_list(q, "ops.example", 0, count_cb, &n);
        if (!deleted && n > 0)
            deleted = quarantine_delete(q, "ops.example", "op00000") == 0;
        if (deleted && n == OP_N - 1)
            break;
        usleep(10000);
    }
    int wrong = !deleted;
    for (int i = 1; i < OP_N; i++) {
        char id[32], *raw, *got = NULL;
        size_t len, glen = 0;
        op_item(i, id, sizeof(id), &raw, &len);
        wrong += quarantine_get(q, "ops.example", id, NULL, &got, &glen, NULL) != 0 ||
                 glen != len || memcmp(got, raw, len) != 0;
        free(raw);
        free(got);
    }
    quarantine_close(&q);
    return wrong == 0 ? 0 : 1;
}

static void test_two_processes(void)
{
    char dir[1200], err[256];
    fresh_dir(dir, sizeof(dir), "twoproc");
    mkdir(dir, 0700);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(op_child(dir));
    quarantine_t *q = open_q(dir);
    for (int i = 0; i < OP_N; i++) {
        char id[32], *raw;
        size_t len;
        op_item(i, id, sizeof(id), &raw, &len);
        quarantine_item_t it = {"ops.example", id, i, "{}", raw, len};
        CHECK(quarantine_store(q, &it, 1, err, sizeof(err)) == 0, "%s", err);
        free(raw);
        if (i % 50 == 0)
            usleep(20000); /* Leaves the reader time to start in the middle. */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the other process read every item and deleted one (%d)", status);
    CHECK(quarantine_get(q, "ops.example", "op00000", NULL, NULL, NULL, NULL) == SMF_ENOENT,
          "its delete is seen here");
    size_t n = 0;
    quarantine_list(q, NULL, 0, count_cb, &n);
    CHECK(n == OP_N - 1, "%zu entries", n);
    quarantine_close(&q);
}

/* ---- more domains than descriptors --------------------------------- */

/* Descriptors this process has open; INT_MAX when none is left to look. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = -1; /* The directory's own. */
    if (d == NULL)
        return errno == EMFILE ? INT_MAX : -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 2; /* "." and "..". */
}

/* The address space this process has mapped, in GiB; -1 when unknown. */
static double mapped_gib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmSize: %lf kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib < 0 ? -1 : kib / (1 << 20);
}

/*
 * Each open domain store holds 3 descriptors and one map (16 GiB by
 * default): stores into more domains than a low RLIMIT_NOFILE could hold at
 * once all succeed, as do walks over all of them, with the descriptors and
 * the address space bounded.
 */
#define MD_LIMIT 64                /* RLIMIT_NOFILE: room for about 20 stores at once. */
#define MD_KEPT (MD_LIMIT / 4 / 3) /* Stores kept open: a quarter of the descriptors. */
#define MD_ONE_CALL 40
#define MD_DOMAINS 80

static int md_most;           /* Most descriptors seen open. */
static double md_most_mapped; /* Most address space seen mapped. */

static void md_note(void)
{
    int n = open_fds();
    double gib = mapped_gib();
    md_most = n > md_most ? n : md_most;
    md_most_mapped = gib > md_most_mapped ? gib : md_most_mapped;
}

/* Counts entries, and looks in the middle of a walk. */
static int md_count_cb(const char *domain, const char *id, int64_t time_ms, size_t raw_len,
                       const char *meta_json, void *arg)
{
    md_note();
    return count_cb(domain, id, time_ms, raw_len, meta_json, arg);
}

/* A new domain's folder and files are durable before its first store
 * returns: the commit syncs the files, the folder's entries need their own. */
static void test_new_domain_folder_is_synced(void)
{
    char dir[1200], sub[1300], err[256] = "";
    fresh_dir(dir, sizeof(dir), "dirsync");
    quarantine_t *q = open_q(dir);
    char *raw = make_raw(11, 500);
    quarantine_item_t it = {"fresh.example", "0001", 5, "{\"a\":1}", raw, 500};
    pthread_mutex_lock(&synced_lock);
    nsynced = 0;
    pthread_mutex_unlock(&synced_lock);
    CHECK(quarantine_store(q, &it, 1, err, sizeof(err)) == 0, "%s", err);
    snprintf(sub, sizeof(sub), "%s/fresh.example", dir);
    CHECK(was_synced(sub), "the new folder %s was not synced", sub);
    CHECK(was_synced(dir), "the quarantine folder %s was not synced for its new entry", dir);
    quarantine_close(&q);
    free(raw);
}

static void test_many_domains(void)
{
    char dir[1200], err[256], names[MD_DOMAINS][64];
    struct rlimit saved, low;
    fresh_dir(dir, sizeof(dir), "many");
    int before = open_fds();
    double mapped_before = mapped_gib();
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0 || before < 0 || before > MD_LIMIT / 4) {
        printf("many domains: skipped (%d descriptors open already)\n", before);
        return;
    }
    low = saved;
    low.rlim_cur = MD_LIMIT;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit: %s", strerror(errno));
    double t0 = clock_mono_ms();
    quarantine_t *q = open_q(dir);
    md_most = 0;
    md_most_mapped = 0;
    md_note();

    /* One message for recipients in 40 domains: one call, one group. */
    quarantine_item_t items[MD_ONE_CALL];
    for (int i = 0; i < MD_DOMAINS; i++)
        snprintf(names[i], sizeof(names[i]), "d%d.many.example", i);
    for (int i = 0; i < MD_ONE_CALL; i++)
        items[i] = (quarantine_item_t){names[i], "one-call", 1000, "{\"n\":1}", "raw", 3};
    err[0] = '\0';
    CHECK(quarantine_store(q, items, MD_ONE_CALL, err, sizeof(err)) == 0,
          "one call for %d domains: %s", MD_ONE_CALL, err);
    md_note();
    /* Then one call per domain, each to a domain not open yet. */
    size_t failed = 0;
    for (int i = MD_ONE_CALL; i < MD_DOMAINS; i++) {
        quarantine_item_t it = {names[i], "per-domain", 2000, "{\"n\":2}", "raw", 3};
        if (quarantine_store(q, &it, 1, err, sizeof(err)) != 0 && failed++ == 0)
            fprintf(stderr, "store into %s: %s\n", names[i], err);
        md_note();
    }
    CHECK(failed == 0, "%zu of %d stores into new domains failed", failed,
          MD_DOMAINS - MD_ONE_CALL);

    /* Walks over every domain: list, get and mark without a domain, purge. */
    size_t listed = 0;
    CHECK(quarantine_list(q, NULL, 0, md_count_cb, &listed) == 0 && listed == MD_DOMAINS,
          "listed %zu of %d", listed, MD_DOMAINS);
    char *dom = NULL;
    CHECK(quarantine_get(q, NULL, "per-domain", NULL, NULL, NULL, &dom) == 0 && dom != NULL &&
              strcmp(dom, names[MD_ONE_CALL]) == 0,
          "get without a domain finds the first copy: %s", dom ? dom : "(none)");
    free(dom);
    CHECK(quarantine_mark(q, NULL, "one-call", "released") == 0, "mark every copy");
    size_t removed = 0;
    CHECK(quarantine_purge(q, 1500, &removed) == 0 && removed == MD_ONE_CALL,
          "purge went through every store: %zu of %d", removed, MD_ONE_CALL);
    md_note();
    listed = 0;
    CHECK(quarantine_list(q, NULL, 0, md_count_cb, &listed) == 0 &&
              listed == MD_DOMAINS - MD_ONE_CALL,
          "%zu left after the purge", listed);

    /* Stores kept for the committer, one store being walked, the journal;
     * the maps of the kept and the walked stores, and 1 GiB to spare. */
    CHECK(md_most <= before + 3 * (MD_KEPT + 2), "%d descriptors open at most, %d before", md_most,
          before);
    double room = (MD_KEPT + 1) * (double)(QUARANTINE_DEFAULT_MAPSIZE >> 30) + 1;
    CHECK(mapped_before < 0 || md_most_mapped - mapped_before <= room,
          "%.0f GiB more mapped at most, expected %.0f GiB", md_most_mapped - mapped_before, room);
    printf("many domains: %d stores under RLIMIT_NOFILE %d, at most %d descriptors open and "
           "%.0f GiB more mapped, in %.1f s\n",
           MD_DOMAINS, MD_LIMIT, md_most, md_most_mapped - mapped_before,
           (clock_mono_ms() - t0) / 1000);
    quarantine_close(&q);
    CHECK(open_fds() == before, "%d descriptors after close, %d before", open_fds(), before);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0, "restoring RLIMIT_NOFILE: %s", strerror(errno));
}

/* ---- throughput ----------------------------------------------------- */

typedef struct bench_arg {
    quarantine_t *q;
    int t, n;
    const char *raw;
} bench_arg_t;

static void *bench_worker(void *arg)
{
    bench_arg_t *a = arg;
    char id[32], err[256];
    for (int i = 0; i < a->n; i++) {
        snprintf(id, sizeof(id), "%02x%08x", a->t, i);
        quarantine_item_t it = {"bench.example", id, i, "{\"reason\":\"bench\"}", a->raw, 5120};
        if (quarantine_store(a->q, &it, 1, err, sizeof(err)) != 0) {
            fprintf(stderr, "bench store: %s\n", err);
            break;
        }
    }
    return NULL;
}

static void bench(int threads, int total, long window_us)
{
    char dir[1200], name[32];
    snprintf(name, sizeof(name), "bench%d", threads);
    fresh_dir(dir, sizeof(dir), name);
    quarantine_t *q = open_q(dir);
    quarantine_set_window(q, window_us);
    char *raw = make_raw(42, 5120);
    pthread_t th[64];
    bench_arg_t a[64];
    double t0 = clock_mono_ms();
    for (int t = 0; t < threads; t++) {
        a[t] = (bench_arg_t){q, t, total / threads, raw};
        pthread_create(&th[t], NULL, bench_worker, &a[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    double ms = clock_mono_ms() - t0;
    quarantine_stats_t st;
    quarantine_stats(q, &st);
    printf("throughput: %2d thread(s), 5 KB, window %4ld us: %6.0f items/s (%llu items, %llu "
           "group commits, %.1f per group)\n",
           threads, window_us, (double)st.items * 1000.0 / ms, (unsigned long long)st.items,
           (unsigned long long)st.groups, st.groups ? (double)st.items / (double)st.groups : 0.0);
    free(raw);
    quarantine_close(&q);
    fresh_dir(dir, sizeof(dir), name);
}

int main(int argc, char **argv)
{
    snprintf(workdir, sizeof(workdir), "%s", argc > 1 ? argv[1] : "quarantine-test-work");
    mkdir(workdir, 0700);
    setvbuf(stdout, NULL, _IOLBF, 0);

    test_names_and_refusals();
    test_concurrent();
    test_map_full();
    test_oversized_alone();
    test_delete_mark();
    test_unreadable_store();
    test_purge();
    test_crash_after_return();
    test_crash_midstream();
    test_two_processes();
    test_many_domains();
    test_new_domain_folder_is_synced();
    bench(1, 1000, QUARANTINE_DEFAULT_WINDOW_US);
    bench(4, 4000, QUARANTINE_DEFAULT_WINDOW_US);
    bench(4, 4000, 0);
    bench(16, 8000, QUARANTINE_DEFAULT_WINDOW_US);

    if (failures > 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all quarantine checks passed\n");
    return 0;
}
