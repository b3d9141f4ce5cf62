/*
 * quarantine.c - per-domain LMDB quarantine with group commit.
 *
 * Workers queue their items and sleep; one committer thread writes all that
 * is queued in one transaction per domain and syncs once, so each message
 * pays a share of an fsync instead of a whole one (scripts/bench measures it).
 */
#include "quarantine.h"
#include "clock.h"
#include "fsutil.h"
#include "log.h"
#include "qjournal.h"
#include "smf/module.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* A meta value is a version, the time, the raw size, then the JSON text
 * with its NUL, so that listing never touches the raw messages. */
#define META_VERSION 1u
#define META_HEADER 20
#define MIN_MAPSIZE ((size_t)64 << 10)
/* A group stays well inside LMDB's dirty-page limit per transaction. */
#define GROUP_MAX_ITEMS 4096
#define GROUP_MAX_BYTES ((size_t)256 << 20)
/* Purge commits every so many deletions to keep transactions small. */
#define PURGE_BATCH 1000
#define INVALID_NAME QUARANTINE_INVALID_DOMAIN
/* Stores the committer keeps open at most (see env_limit()). */
#define MAX_KEPT 128
/* Descriptors an open environment holds: data.mdb twice, lock.mdb once. */
#define FDS_PER_ENV 3

/*
 * An open domain environment. The list holds every open one, so that no
 * domain is ever opened twice in the process; it is closed only when no
 * caller is using it (between env_get() and env_put()), hence never in the
 * middle of a transaction.
 */
typedef struct denv {
    char name[256];
    MDB_env *env;
    MDB_dbi meta, raw;
    unsigned users;    /* Callers holding it now. */
    bool kept;         /* Kept open for the committer; else closed once unused. */
    struct denv *next; /* The list, most recently stored to first. */
} denv_t;

typedef struct request {
    const quarantine_item_t *items;
    size_t n;
    size_t bytes;
    bool failed;
    bool done;
    char *err;
    size_t errlen;
    pthread_cond_t cond;
    struct request *next;
} request_t;

/* One item of a group, sorted by domain so each domain gets one txn. */
typedef struct entry {
    char name[256];
    size_t seq;
    request_t *req;
    const quarantine_item_t *item;
} entry_t;

struct quarantine {
    char *dir;
    size_t mapsize;
    pthread_mutex_t envs_lock; /* The list; LMDB forbids opening an env twice. */
    denv_t *envs;
    size_t nkept;         /* Entries of envs that are kept. */
    pthread_mutex_t lock; /* Queue, requests' done flags, stopping, stats. */
    pthread_cond_t work;
    request_t *head, **tail;
    size_t queued;   /* Requests in the queue. */
    size_t expected; /* Callers in flight when the last group ended. */
    long window_us;
    bool stopping;
    pthread_t committer;
    quarantine_stats_t stats;
    qjournal_t *journal; /* Changes to publish, opened at the first change. */
    bool journal_tried;  /* Under envs_lock. */
};

/* ---- names ---------------------------------------------------------- */

const char *quarantine_domain_name(const char *domain, char out[256])
{
    size_t n = domain != NULL ? strlen(domain) : 0;
    bool ok = n > 0 && n < 254 && domain[0] != '.' && domain[0] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        char c = domain[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
             (c == '.' && (i == 0 || domain[i - 1] != '.'));
        out[i] = c;
    }
    if (!ok)
        return strcpy(out, INVALID_NAME);
    out[n] = '\0';
    return out;
}

static bool valid_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > QUARANTINE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ---- environments --------------------------------------------------- */

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Truncating a long path in a reason is fine; vsnprintf says so to gcc. */
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int env_dbis(denv_t *e, bool create)
{
    MDB_txn *txn;
    unsigned flags = create ? MDB_CREATE : 0;
    int rc = mdb_txn_begin(e->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    rc = mdb_dbi_open(txn, "meta", flags, &e->meta);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "raw", flags, &e->raw);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* The advice that goes with a store the caller may not read. */
static const char *access_hint(int err)
{
    return err == EACCES || err == EPERM ? " (run as the user smfd runs as, or as root)" : "";
}

/*
 * Whether a reader may open the store in path: 0, SMF_ENOENT when there is
 * no store there yet, or SMF_EIO with the reason in err. Only a missing
 * file (or a stray file where a domain's folder would be) means "nothing
 * quarantined": a store that cannot be looked at must not pass for empty.
 */
static int env_ready(const char *path, char *err, size_t errlen)
{
    char data[4200];
    struct stat st;
    snprintf(data, sizeof(data), "%s/data.mdb", path);
    if (stat(data, &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return SMF_ENOENT;
        errf(err, errlen, "cannot open the quarantine in %s: %s%s", path, strerror(e),
             access_hint(e));
        return SMF_EIO;
    }
    /* A reader must not open a file its creator has not yet given both
     * meta pages: LMDB would take it for a new one and write them itself. */
    return st.st_size < 2 * sysconf(_SC_PAGESIZE) ? SMF_ENOENT : 0;
}

static int env_create(quarantine_t *q, const char *name, bool create, denv_t **out, char *err,
                      size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", q->dir, name);
    if (!create) {
        int rc = env_ready(path, err, errlen);
        if (rc != 0)
            return rc;
    }
    struct stat st;
    bool fresh = create && stat(path, &st) != 0;
    if (create && fs_mkdirs(path, 0700) != 0) {
        errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return SMF_EIO;
    }
    denv_t *e = xcalloc(1, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    /* No MDB_NOSYNC: every commit is durable before it returns. */
    int rc = mdb_env_create(&e->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(e->env, 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize(e->env, q->mapsize);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(e->env, 512);
    if (rc == 0)
        rc = mdb_env_open(e->env, path, MDB_NOTLS, 0600);
    if (rc == 0) {
        int dead = 0;
        mdb_reader_check(e->env, &dead); /* Slots of killed processes. */
        rc = env_dbis(e, create);
    }
    /* A commit syncs the store's files, not the names that lead to them: a
     * new domain's folder and files are made durable before its first
     * message is, or a power cut could lose a message already answered. */
    if (rc == 0 && fresh && (fs_sync_dir(path) != 0 || fs_sync_dir(q->dir) != 0)) {
        errf(err, errlen, "cannot make the new quarantine folder %s durable: %s", path,
             strerror(errno));
        mdb_env_close(e->env);
        free(e);
        return SMF_EIO;
    }
    if (rc != 0) {
        errf(err, errlen, "cannot open the quarantine in %s: %s%s", path, mdb_strerror(rc),
             access_hint(rc));
        if (e->env != NULL)
            mdb_env_close(e->env);
        free(e);
        return rc == MDB_NOTFOUND ? SMF_ENOENT : SMF_EIO;
    }
    log_msg(SMF_LOG_DEBUG, "quarantine", "opened %s", path);
    *out = e;
    return 0;
}

/*
 * How many environments the committer keeps open: MAX_KEPT, but no more
 * than a quarter of the descriptors or of the address space (one map each)
 * the process may use, and at least one. Under envs_lock.
 */
static size_t env_limit(const quarantine_t *q)
{
    struct rlimit rl;
    size_t n = MAX_KEPT;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 4 / FDS_PER_ENV < n)
        n = (size_t)(rl.rlim_cur / 4 / FDS_PER_ENV);
    uint64_t space = sizeof(void *) >= 8 ? (uint64_t)1 << 47 : (uint64_t)3 << 30;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < space)
        space = rl.rlim_cur;
    if (space / 4 / q->mapsize < n)
        n = (size_t)(space / 4 / q->mapsize);
    return n > 0 ? n : 1;
}

/* Takes an unused environment off the list and closes it. Under envs_lock,
 * so that the domain cannot be opened again before it is closed. */
static void env_drop(quarantine_t *q, denv_t **pp)
{
    denv_t *e = *pp;
    *pp = e->next;
    if (e->kept)
        q->nkept--;
    mdb_env_close(e->env);
    log_msg(SMF_LOG_DEBUG, "quarantine", "closed %s", e->name);
    free(e);
}

/* Closes the least recently used unused kept environments until at most
 * limit are kept, or none of the rest is unused. Under envs_lock. */
static void env_trim(quarantine_t *q, size_t limit)
{
    while (q->nkept > limit) {
        denv_t **victim = NULL;
        for (denv_t **pp = &q->envs; *pp != NULL; pp = &(*pp)->next)
            if ((*pp)->kept && (*pp)->users == 0)
                victim = pp;
        if (victim == NULL)
            return; /* All in use: over the limit until they are put back. */
        env_drop(q, victim);
    }
}

/*
 * Returns the environment of a directory name, opening it (and, with
 * create, making it) when it is not open. With keep it stays open after
 * env_put() for the next store, within env_limit(); without, it is closed
 * by the last env_put() unless kept meanwhile. Every successful call must
 * be matched by one env_put(). 0, SMF_ENOENT or SMF_EIO.
 */
static int env_get(quarantine_t *q, const char *name, bool create, bool keep, denv_t **out,
                   char *err, size_t errlen)
{
    pthread_mutex_lock(&q->envs_lock);
    denv_t **pp = &q->envs;
    while (*pp != NULL && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    denv_t *e = *pp;
    int rc = 0;
    if (e == NULL) {
        if (keep)
            env_trim(q, env_limit(q) - 1); /* Room first: descriptors may be short. */
        rc = env_create(q, name, create, &e, err, errlen);
        if (rc == 0) {
            e->next = q->envs;
            q->envs = e;
        }
    } else if (keep && pp != &q->envs) {
        *pp = e->next; /* To the front: the least recently used is last. */
        e->next = q->envs;
        q->envs = e;
    }
    if (e != NULL) {
        if (keep && !e->kept) {
            e->kept = true;
            q->nkept++;
        }
        e->users++;
    }
    pthread_mutex_unlock(&q->envs_lock);
    *out = e;
    return rc;
}

/* Gives back what env_get() returned: the last user of an environment that
 * is not kept closes it; a kept one may go when more than the limit are. */
static void env_put(quarantine_t *q, denv_t *e)
{
    pthread_mutex_lock(&q->envs_lock);
    if (--e->users == 0) {
        if (e->kept) {
            env_trim(q, env_limit(q));
        } else {
            denv_t **pp = &q->envs;
            while (*pp != e)
                pp = &(*pp)->next;
            env_drop(q, pp);
        }
    }
    pthread_mutex_unlock(&q->envs_lock);
}

bool quarantine_is_domain_folder(const char *name)
{
    char norm[256];
    return strcmp(name, INVALID_NAME) == 0 ||
           (strlen(name) < 254 && strcmp(quarantine_domain_name(name, norm), name) == 0);
}

static int dir_filter(const struct dirent *d)
{
    return d->d_name[0] != '.' && quarantine_is_domain_folder(d->d_name);
}

/* Visits the environment of one domain, or of every domain under dir in
 * name order, each closed again after its visit unless the committer keeps
 * it open. fn returns 0 to go on; anything else stops and is returned. */
typedef int (*env_fn)(denv_t *e, void *arg);

static int each_env(quarantine_t *q, const char *domain, env_fn fn, void *arg)
{
    char name[256], err[1024];
    denv_t *e;
    if (domain != NULL) {
        int rc =
            env_get(q, quarantine_domain_name(domain, name), false, false, &e, err, sizeof(err));
        if (rc == SMF_EIO)
            log_msg(SMF_LOG_ERROR, "quarantine", "%s", err);
        if (rc != 0)
            return rc;
        rc = fn(e, arg);
        env_put(q, e);
        return rc;
    }
    struct dirent **list;
    int n = scandir(q->dir, &list, dir_filter, alphasort);
    if (n < 0) {
        int cause = errno;
        log_msg(SMF_LOG_ERROR, "quarantine", "cannot read the quarantine folder %s: %s%s", q->dir,
                strerror(cause), access_hint(cause));
        return SMF_EIO;
    }
    /* A domain whose store cannot be opened does not stop the others, but
     * the walk reports it at the end: a listing or purge that left a domain
     * out must not look complete. */
    int rc = 0, unread = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            int orc = env_get(q, list[i]->d_name, false, false, &e, err, sizeof(err));
            if (orc == SMF_EIO) {
                log_msg(SMF_LOG_ERROR, "quarantine", "%s", err);
                unread = SMF_EIO;
            }
            if (orc == 0) {
                rc = fn(e, arg);
                env_put(q, e);
            }
        }
        free(list[i]);
    }
    free(list);
    return rc != 0 ? rc : unread;
}

/* ---- open and close ------------------------------------------------- */

static void *committer_main(void *arg);

int quarantine_open(const char *dir, quarantine_t **out, char *err, size_t errlen)
{
    if (fs_mkdirs(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    quarantine_t *q = xcalloc(1, sizeof(*q));
    q->dir = xstrdup(dir);
    q->mapsize = QUARANTINE_DEFAULT_MAPSIZE;
    q->tail = &q->head;
    pthread_mutex_init(&q->envs_lock, NULL);
    pthread_mutex_init(&q->lock, NULL);
    q->window_us = QUARANTINE_DEFAULT_WINDOW_US;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->work, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&q->committer, NULL, committer_main, q);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the quarantine committer: %s", strerror(rc));
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->lock);
        pthread_mutex_destroy(&q->envs_lock);
        free(q->dir);
        free(q);
        return -1;
    }
    *out = q;
    return 0;
}

void quarantine_close(quarantine_t **qp)
{
    quarantine_t *q = *qp;
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->committer, NULL);
    while (q->envs != NULL)
        env_drop(q, &q->envs);
    qjournal_close(&q->journal);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->envs_lock);
    free(q->dir);
    free(q);
    *qp = NULL;
}

int quarantine_set_mapsize(quarantine_t *q, size_t bytes)
{
    if (bytes < MIN_MAPSIZE)
        return SMF_EINVAL;
    pthread_mutex_lock(&q->envs_lock);
    q->mapsize = bytes;
    pthread_mutex_unlock(&q->envs_lock);
    return 0;
}

int quarantine_set_window(quarantine_t *q, long usec)
{
    if (usec < 0 || usec > 100000)
        return SMF_EINVAL;
    pthread_mutex_lock(&q->lock);
    q->window_us = usec;
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void quarantine_stats(quarantine_t *q, quarantine_stats_t *out)
{
    pthread_mutex_lock(&q->lock);
    *out = q->stats;
    pthread_mutex_unlock(&q->lock);
}

/* ---- the committer -------------------------------------------------- */

static void fail_request(request_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first reason: it is the one that explains the others. */
static void fail_request(request_t *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
}

static const char *why(int rc, char *buf, size_t len, size_t mapsize)
{
    if (rc == MDB_MAP_FULL)
        snprintf(buf, len, "the store is full (map size %zu KiB); purge it or raise the map size",
                 mapsize >> 10);
    else if (rc == MDB_KEYEXIST)
        snprintf(buf, len, "this id is already stored");
    else
        snprintf(buf, len, "%s", mdb_strerror(rc));
    return buf;
}

static int put_item(denv_t *e, MDB_txn *txn, const quarantine_item_t *it)
{
    size_t jlen = strlen(it->meta_json) + 1;
    MDB_val k = {strlen(it->id), (void *)it->id};
    MDB_val v = {META_HEADER + jlen, NULL};
    int rc = mdb_put(txn, e->meta, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc != 0)
        return rc;
    uint32_t ver = META_VERSION;
    uint64_t rlen = it->raw_len;
    char *p = v.mv_data;
    memcpy(p, &ver, 4);
    memcpy(p + 4, &it->time_ms, 8);
    memcpy(p + 12, &rlen, 8);
    memcpy(p + META_HEADER, it->meta_json, jlen);
    MDB_val r = {it->raw_len, NULL};
    rc = mdb_put(txn, e->raw, &k, &r, MDB_RESERVE);
    if (rc == 0 && it->raw_len > 0)
        memcpy(r.mv_data, it->raw, it->raw_len);
    return rc;
}

static int put_all(denv_t *e, MDB_txn *txn, const entry_t *ents, size_t n, size_t *bad)
{
    for (size_t k = 0; k < n; k++) {
        int rc = put_item(e, txn, ents[k].item);
        if (rc != 0) {
            *bad = k;
            return rc;
        }
    }
    return 0;
}

/* Puts one request's entries in a child transaction, so that a request
 * that does not fit (one oversized message) fails alone. Returns non-zero
 * only when the parent transaction itself is in trouble. */
static int put_nested(denv_t *e, MDB_txn *txn, const entry_t *ents, size_t n, size_t mapsize)
{
    MDB_txn *child;
    size_t bad = 0;
    char buf[200];
    int rc = mdb_txn_begin(e->env, txn, 0, &child);
    if (rc != 0)
        return rc;
    rc = put_all(e, child, ents, n, &bad);
    rc = rc == 0 ? mdb_txn_commit(child) : (mdb_txn_abort(child), rc);
    if (rc != 0)
        fail_request(ents[0].req, "cannot store %s in the quarantine of %s: %s", ents[bad].item->id,
                     e->name, why(rc, buf, sizeof(buf), mapsize));
    return 0;
}

/* Writes one domain's entries in one transaction and commits it durably.
 * The fast way puts everything in the transaction itself; when a put
 * fails it returns with *put_failed so the caller can retry nested. */
static int write_run(denv_t *e, const entry_t *run, size_t n, bool nested, size_t mapsize,
                     bool *put_failed)
{
    MDB_txn *txn;
    size_t bad;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    for (size_t i = 0, j; i < n; i = j) {
        request_t *r = run[i].req;
        for (j = i; j < n && run[j].req == r; j++)
            ;
        if (r->failed)
            continue; /* It failed in another domain; its sender will retry. */
        if (nested)
            rc = put_nested(e, txn, run + i, j - i, mapsize);
        else if ((rc = put_all(e, txn, run + i, j - i, &bad)) != 0)
            *put_failed = true;
        if (rc != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
    }
    return mdb_txn_commit(txn);
}

static void commit_run(quarantine_t *q, const entry_t *run, size_t n)
{
    denv_t *e;
    char err[512], buf[200];
    int rc = env_get(q, run[0].name, true, true, &e, err, sizeof(err));
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info(e->env, &info);
        bool put_failed = false;
        rc = write_run(e, run, n, false, info.me_mapsize, &put_failed);
        if (rc != 0 && put_failed)
            rc = write_run(e, run, n, true, info.me_mapsize, &put_failed);
        if (rc != 0)
            snprintf(err, sizeof(err), "cannot store in the quarantine of %s: %s", e->name,
                     why(rc, buf, sizeof(buf), info.me_mapsize));
        env_put(q, e);
    }
    if (rc == 0)
        return;
    log_msg(SMF_LOG_WARN, "quarantine", "%s", err);
    for (size_t i = 0; i < n; i++)
        fail_request(run[i].req, "%s", err);
}

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Writes a group: one transaction, hence one durable commit, per domain. */
static void commit_group(quarantine_t *q, request_t *group)
{
    size_t n = 0;
    for (request_t *r = group; r != NULL; r = r->next)
        n += r->n;
    entry_t *ents = xmalloc(n * sizeof(*ents));
    size_t k = 0;
    for (request_t *r = group; r != NULL; r = r->next)
        for (size_t i = 0; i < r->n; i++, k++) {
            quarantine_domain_name(r->items[i].domain, ents[k].name);
            ents[k].seq = k;
            ents[k].req = r;
            ents[k].item = &r->items[i];
        }
    qsort(ents, n, sizeof(*ents), entry_cmp);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && strcmp(ents[j].name, ents[i].name) == 0; j++)
            ;
        commit_run(q, ents + i, j - i);
    }
    free(ents);
}

/* Takes what is queued, up to the group limits (at least one request). */
static request_t *take_group(quarantine_t *q)
{
    request_t *group = q->head, *last = group;
    size_t items = last->n, bytes = last->bytes;
    q->queued--;
    while (last->next != NULL && items + last->next->n <= GROUP_MAX_ITEMS &&
           bytes + last->next->bytes <= GROUP_MAX_BYTES) {
        last = last->next;
        items += last->n;
        bytes += last->bytes;
        q->queued--;
    }
    q->head = last->next;
    if (q->head == NULL)
        q->tail = &q->head;
    last->next = NULL;
    return group;
}

/* Wakes the callers of a group; q->lock is held, so none of them can
 * return (and free its request) before the loop is done with it. */
static void finish_group(quarantine_t *q, request_t *group)
{
    q->stats.groups++;
    q->expected = q->queued;
    for (request_t *r = group, *next; r != NULL; r = next) {
        next = r->next;
        q->expected++;
        if (r->failed)
            q->stats.failed += r->n;
        else
            q->stats.items += r->n;
        r->done = true;
        pthread_cond_signal(&r->cond);
    }
}

/* The callers just woken are likely to come back at once when load is
 * high; waiting a little for as many callers as were in flight last time
 * lets them share the next sync instead of splitting into two half-groups
 * that alternate. A lone caller never waits: it is all that was expected. */
static void linger(quarantine_t *q)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += q->window_us * 1000;
    until.tv_sec += until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    while (q->queued < q->expected && !q->stopping)
        if (pthread_cond_timedwait(&q->work, &q->lock, &until) == ETIMEDOUT)
            break;
}

/* Whatever is queued while a group syncs goes into the next group, so the
 * sync itself is the main window; linger() only adds a short one. */
static void *committer_main(void *arg)
{
    quarantine_t *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->work, &q->lock);
        if (q->head == NULL)
            break;
        if (q->window_us > 0)
            linger(q);
        request_t *group = take_group(q);
        pthread_mutex_unlock(&q->lock);
        commit_group(q, group);
        pthread_mutex_lock(&q->lock);
        finish_group(q, group);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- store ------------------------------------------------------------ */

static int check_items(const quarantine_item_t *items, size_t n, size_t *bytes, char *err,
                       size_t errlen)
{
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const quarantine_item_t *it = &items[i];
        const char *m = it->meta_json;
        while (m != NULL && (*m == ' ' || *m == '\t' || *m == '\r' || *m == '\n'))
            m++;
        if (!valid_id(it->id))
            snprintf(err, errlen, "item %zu: the id is not 1-%d of [A-Za-z0-9._-]", i,
                     QUARANTINE_ID_MAX);
        else if (m == NULL || *m != '{')
            snprintf(err, errlen, "item %zu (%s): the metadata is not a JSON object", i, it->id);
        else if (it->raw == NULL && it->raw_len > 0)
            snprintf(err, errlen, "item %zu (%s): no raw message", i, it->id);
        else {
            *bytes += it->raw_len;
            continue;
        }
        return -1;
    }
    return 0;
}

int quarantine_store(quarantine_t *q, const quarantine_item_t *items, size_t n, char *err,
                     size_t errlen)
{
    request_t r = {.items = items, .n = n, .err = err, .errlen = errlen};
    if (n == 0)
        return 0;
    if (check_items(items, n, &r.bytes, err, errlen) != 0)
        return -1;
    pthread_cond_init(&r.cond, NULL);
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        snprintf(err, errlen, "the quarantine is closing");
        r.failed = r.done = true;
    } else {
        *q->tail = &r;
        q->tail = &r.next;
        q->queued++;
        pthread_cond_signal(&q->work);
    }
    while (!r.done)
        pthread_cond_wait(&r.cond, &q->lock);
    pthread_mutex_unlock(&q->lock);
    pthread_cond_destroy(&r.cond);
    return r.failed ? -1 : 0;
}

/* ---- the read side ------------------------------------------------- */

typedef struct meta {
    int64_t time_ms;
    uint64_t raw_len;
    const char *json; /* NUL-terminated, inside the LMDB value. */
} meta_t;

static int meta_decode(const MDB_val *v, meta_t *m)
{
    const char *p = v->mv_data;
    uint32_t ver;
    if (v->mv_size <= META_HEADER || p[v->mv_size - 1] != '\0')
        return -1;
    memcpy(&ver, p, 4);
    memcpy(&m->time_ms, p + 4, 8);
    memcpy(&m->raw_len, p + 12, 8);
    m->json = p + META_HEADER;
    return ver == META_VERSION ? 0 : -1;
}

static MDB_val id_key(const char *id)
{
    return (MDB_val){strlen(id), (void *)id};
}

typedef struct list_ctx {
    int64_t since_ms;
    quarantine_list_fn fn;
    void *arg;
} list_ctx_t;

static int list_env(denv_t *e, void *arg)
{
    list_ctx_t *c = arg;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    char id[QUARANTINE_ID_MAX + 1];
    if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
        return SMF_EIO;
    if (mdb_cursor_open(txn, e->meta, &cur) != 0) {
        mdb_txn_abort(txn);
        return SMF_EIO;
    }
    int rc = 0, mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; mrc == 0 && rc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        meta_t m;
        if (k.mv_size > QUARANTINE_ID_MAX || meta_decode(&v, &m) != 0) {
            log_msg(SMF_LOG_WARN, "quarantine", "%s: skipping a damaged entry", e->name);
            continue;
        }
        if (m.time_ms < c->since_ms)
            continue;
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';
        rc = c->fn(e->name, id, m.time_ms, (size_t)m.raw_len, m.json, c->arg);
    }
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = SMF_EIO;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int quarantine_list(quarantine_t *q, const char *domain, int64_t since_ms, quarantine_list_fn fn,
                    void *arg)
{
    list_ctx_t c = {since_ms, fn, arg};
    return each_env(q, domain, list_env, &c);
}

typedef struct get_ctx {
    const char *id;
    char **meta_json, **raw, **domain;
    size_t *raw_len;
} get_ctx_t;

/* 1 when found (outputs set), 0 when absent, SMF_EIO. */
static int get_env(denv_t *e, void *arg)
{
    get_ctx_t *c = arg;
    MDB_txn *txn;
    MDB_val k = id_key(c->id), v, r;
    meta_t m;
    if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
        return SMF_EIO;
    int rc = mdb_get(txn, e->meta, &k, &v);
    if (rc == 0)
        rc = mdb_get(txn, e->raw, &k, &r);
    if (rc == 0 && (meta_decode(&v, &m) != 0 || m.raw_len != r.mv_size))
        rc = MDB_CORRUPTED;
    if (rc == 0) {
        if (c->meta_json != NULL)
            *c->meta_json = xstrdup(m.json);
        if (c->raw != NULL) {
            *c->raw = xmalloc(r.mv_size + 1);
            memcpy(*c->raw, r.mv_data, r.mv_size);
            (*c->raw)[r.mv_size] = '\0';
        }
        if (c->raw_len != NULL)
            *c->raw_len = r.mv_size;
        if (c->domain != NULL)
            *c->domain = xstrdup(e->name);
    }
    mdb_txn_abort(txn);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : SMF_EIO;
}

int quarantine_get(quarantine_t *q, const char *domain, const char *id, char **meta_json,
                   char **raw, size_t *raw_len, char **domain_out)
{
    get_ctx_t c = {id, meta_json, raw, domain_out, raw_len};
    if (meta_json != NULL)
        *meta_json = NULL;
    if (raw != NULL)
        *raw = NULL;
    if (raw_len != NULL)
        *raw_len = 0;
    if (domain_out != NULL)
        *domain_out = NULL;
    if (!valid_id(id))
        return SMF_EINVAL;
    int rc = each_env(q, domain, get_env, &c);
    return rc == 1 ? 0 : rc == 0 ? SMF_ENOENT : rc;
}

typedef struct time_ctx {
    const char *id;
    int64_t *time_ms;
} time_ctx_t;

/* 1 when found (*time_ms set), 0 when absent, SMF_EIO: the metadata only. */
static int time_env(denv_t *e, void *arg)
{
    time_ctx_t *c = arg;
    MDB_txn *txn;
    MDB_val k = id_key(c->id), v;
    meta_t m;
    if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
        return SMF_EIO;
    int rc = mdb_get(txn, e->meta, &k, &v);
    if (rc == 0 && meta_decode(&v, &m) != 0)
        rc = MDB_CORRUPTED;
    if (rc == 0)
        *c->time_ms = m.time_ms;
    mdb_txn_abort(txn);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : SMF_EIO;
}

int quarantine_time(quarantine_t *q, const char *domain, const char *id, int64_t *time_ms)
{
    time_ctx_t c = {id, time_ms};
    *time_ms = 0;
    if (!valid_id(id))
        return SMF_EINVAL;
    int rc = each_env(q, domain, time_env, &c);
    return rc == 1 ? 0 : rc == 0 ? SMF_ENOENT : rc;
}

/* ---- changes by the operator --------------------------------------- */

/*
 * The journal of changes, opened when first needed: a reader that only
 * lists or shows entries (and may not write the quarantine folder) never
 * touches it. Without it the quarantine still works; its changes are not
 * published, which the log says once.
 */
static qjournal_t *journal(quarantine_t *q)
{
    pthread_mutex_lock(&q->envs_lock);
    if (!q->journal_tried) {
        char err[4200];
        q->journal_tried = true;
        if (qjournal_open(q->dir, &q->journal, err, sizeof(err)) != 0)
            log_msg(SMF_LOG_WARN, "quarantine", "%s; releases and deletions will not be published",
                    err);
    }
    pthread_mutex_unlock(&q->envs_lock);
    return q->journal;
}

typedef struct change_ctx {
    qjournal_t *journal;
    const char *id;
    const char *state;      /* NULL: delete, unless add is set. */
    const char *const *add; /* Recipients the message was delivered to. */
    size_t nadd;
    size_t changed;
} change_ctx_t;

/* Adds each of add to o's "delivered_to" array, once; -1 for an address
 * that is not UTF-8, which JSON cannot hold. */
static int add_delivered(json_t *o, const char *const *add, size_t n)
{
    json_t *list = json_object_get(o, "delivered_to");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(o, "delivered_to", list);
    }
    for (size_t i = 0; i < n; i++) {
        size_t j;
        json_t *v;
        bool there = false;
        json_array_foreach(list, j, v) there |=
            json_is_string(v) && strcmp(json_string_value(v), add[i]) == 0;
        if (!there && json_array_append_new(list, json_string(add[i])) != 0)
            return -1;
    }
    return 0;
}

/* Rewrites the meta value with "state" and "state_time_ms" set, or with
 * recipients added to "delivered_to". */
static int put_state(denv_t *e, MDB_txn *txn, MDB_val *k, const MDB_val *old, const change_ctx_t *c)
{
    meta_t m;
    if (meta_decode(old, &m) != 0)
        return MDB_CORRUPTED;
    json_t *o = json_loads(m.json, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return MDB_CORRUPTED;
    }
    if (c->state != NULL) {
        json_object_set_new(o, "state", json_string(c->state));
        json_object_set_new(o, "state_time_ms", json_integer(clock_wall_ms()));
    }
    if (c->add != NULL && add_delivered(o, c->add, c->nadd) != 0) {
        json_decref(o);
        return MDB_BAD_VALSIZE;
    }
    /* 15 digits print back what the writer's shorter reals said. */
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (s == NULL)
        xalloc_die("json_dumps");
    size_t jlen = strlen(s) + 1;
    MDB_val v = {META_HEADER + jlen, NULL};
    int rc = mdb_put(txn, e->meta, k, &v, MDB_RESERVE);
    if (rc == 0) {
        uint32_t ver = META_VERSION;
        memcpy(v.mv_data, &ver, 4);
        memcpy((char *)v.mv_data + 4, &m.time_ms, 8);
        memcpy((char *)v.mv_data + 12, &m.raw_len, 8);
        memcpy((char *)v.mv_data + META_HEADER, s, jlen);
    }
    free(s);
    return rc;
}

static int change_env(denv_t *e, void *arg)
{
    change_ctx_t *c = arg;
    MDB_txn *txn;
    MDB_val k = id_key(c->id), v;
    if (mdb_txn_begin(e->env, NULL, 0, &txn) != 0)
        return SMF_EIO;
    int rc = mdb_get(txn, e->meta, &k, &v);
    if (rc == 0 && (c->state != NULL || c->add != NULL))
        rc = put_state(e, txn, &k, &v, c);
    else if (rc == 0) {
        rc = mdb_del(txn, e->meta, &k, NULL);
        if (rc == 0 && (rc = mdb_del(txn, e->raw, &k, NULL)) == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? 0 : SMF_EIO;
    }
    if (mdb_txn_commit(txn) != 0)
        return SMF_EIO;
    c->changed++;
    /* A delivery to some recipients changes no state: nothing to publish. */
    if (c->add == NULL)
        qjournal_add(c->journal, e->name, &c->id, 1, c->state != NULL ? c->state : "deleted",
                     clock_wall_ms());
    return 0;
}

int quarantine_delete(quarantine_t *q, const char *domain, const char *id)
{
    change_ctx_t c = {journal(q), id, NULL, NULL, 0, 0};
    if (!valid_id(id))
        return SMF_EINVAL;
    int rc = each_env(q, domain, change_env, &c);
    return rc != 0 ? rc : c.changed > 0 ? 0 : SMF_ENOENT;
}

int quarantine_mark(quarantine_t *q, const char *domain, const char *id, const char *state)
{
    change_ctx_t c = {journal(q), id, state, NULL, 0, 0};
    json_t *probe = state != NULL ? json_string(state) : NULL;
    if (!valid_id(id) || probe == NULL || state[0] == '\0' || strlen(state) > 64) {
        json_decref(probe);
        return SMF_EINVAL;
    }
    json_decref(probe);
    int rc = each_env(q, domain, change_env, &c);
    return rc != 0 ? rc : c.changed > 0 ? 0 : SMF_ENOENT;
}

int quarantine_mark_delivered(quarantine_t *q, const char *domain, const char *id,
                              const char *const *rcpt, size_t n)
{
    change_ctx_t c = {NULL, id, NULL, rcpt, n, 0};
    if (!valid_id(id) || rcpt == NULL || n == 0)
        return SMF_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (rcpt[i] == NULL)
            return SMF_EINVAL;
    int rc = each_env(q, domain, change_env, &c);
    return rc != 0 ? rc : c.changed > 0 ? 0 : SMF_ENOENT;
}

typedef struct purge_ctx {
    qjournal_t *journal;
    int64_t older_than_ms;
    size_t removed;
    int rc;
    char (*ids)[QUARANTINE_ID_MAX + 1]; /* The batch's, for the journal. */
} purge_ctx_t;

/* Deletes up to PURGE_BATCH old entries from the key *last onwards (all
 * when *lastlen is 0) in one transaction; *more when it stopped early. */
static int purge_batch(denv_t *e, purge_ctx_t *c, char *last, size_t *lastlen, bool *more)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k = {*lastlen, last}, v;
    size_t n = 0;
    if (mdb_txn_begin(e->env, NULL, 0, &txn) != 0)
        return SMF_EIO;
    int rc = mdb_cursor_open(txn, e->meta, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, *lastlen > 0 ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0 && n < PURGE_BATCH) {
        meta_t m;
        /* No id is longer: such a key is damage, and `last` could not hold it. */
        if (k.mv_size > QUARANTINE_ID_MAX) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        memcpy(last, k.mv_data, *lastlen = k.mv_size);
        if (meta_decode(&v, &m) != 0 || m.time_ms >= c->older_than_ms) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        rc = mdb_cursor_del(cur, 0);
        memcpy(c->ids[n], last, *lastlen);
        c->ids[n][*lastlen] = '\0';
        k = (MDB_val){*lastlen, last};
        if (rc == 0 && (rc = mdb_del(txn, e->raw, &k, NULL)) == MDB_NOTFOUND)
            rc = 0;
        n++;
        /* Re-seek past the deleted key instead of trusting the cursor. */
        if (rc == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    *more = rc == 0;
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (cur != NULL)
        mdb_cursor_close(cur);
    rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    if (rc == 0) {
        c->removed += n;
        const char *ids[PURGE_BATCH];
        for (size_t i = 0; i < n; i++)
            ids[i] = c->ids[i];
        qjournal_add(c->journal, e->name, ids, n, "purged", clock_wall_ms());
    }
    return rc == 0 ? 0 : SMF_EIO;
}

static int purge_env(denv_t *e, void *arg)
{
    purge_ctx_t *c = arg;
    char last[QUARANTINE_ID_MAX + 1];
    size_t lastlen = 0;
    bool more = true;
    while (more) {
        if (purge_batch(e, c, last, &lastlen, &more) != 0) {
            log_msg(SMF_LOG_WARN, "quarantine", "%s: purge failed", e->name);
            c->rc = SMF_EIO;
            break;
        }
    }
    return 0; /* Other domains are still purged. */
}

int quarantine_purge(quarantine_t *q, int64_t older_than_ms, size_t *removed)
{
    purge_ctx_t c = {journal(q), older_than_ms, 0, 0, xcalloc(PURGE_BATCH, QUARANTINE_ID_MAX + 1)};
    int rc = each_env(q, NULL, purge_env, &c);
    free(c.ids);
    if (removed != NULL)
        *removed = c.removed;
    return rc != 0 ? rc : c.rc;
}

long quarantine_events(quarantine_t *q, size_t max, quarantine_event_fn fn, void *arg)
{
    return qjournal_drain(journal(q), max, fn, arg);
}
