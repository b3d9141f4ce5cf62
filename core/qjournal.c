/*
 * qjournal.c - the quarantine's journal of changes (see qjournal.h).
 *
 * A record's key is the time of the change, the writer's process id and a
 * counter, all big-endian, so that records sort by time and two writers
 * never collide; its value is the topic and the event's JSON, each with
 * its NUL.
 */
#include "qjournal.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Room for a million records or so: the map is sparse on disk. */
#define JOURNAL_MAPSIZE ((size_t)256 << 20)
#define KEY_SIZE 16

struct qjournal {
    MDB_env *env;
    MDB_dbi dbi;
    atomic_uint counter;
    atomic_bool warned; /* A full or failing journal is told once. */
};

int qjournal_open(const char *dir, qjournal_t **out, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/.events", dir);
    if (fs_mkdirs(path, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    /* quarantine_dir belongs to the user smfd runs as, who may have put links
     * there; smfctl opens the journal too, and may have been started as root. */
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    if (fs_refuse_links(path, files, 2) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open the quarantine's event journal in %s: %s%s", path,
                 strerror(e), e == ELOOP ? " (a symbolic link there is not followed)" : "");
        return -1;
    }
    qjournal_t *j = xcalloc(1, sizeof(*j));
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&j->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(j->env, JOURNAL_MAPSIZE);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(j->env, 64);
    if (rc == 0)
        rc = mdb_env_open(j->env, path, MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(j->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &j->dbi);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot open the quarantine's event journal in %s: %s", path,
                 mdb_strerror(rc));
        if (txn != NULL)
            mdb_txn_abort(txn);
        mdb_env_close(j->env);
        free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void qjournal_close(qjournal_t **jp)
{
    if (*jp == NULL)
        return;
    mdb_env_close((*jp)->env);
    free(*jp);
    *jp = NULL;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

/* The record of one change: "quarantine.<domain>", NUL, the JSON, NUL. */
static char *record(const char *domain, const char *id, const char *type, int64_t time_ms,
                    size_t *len)
{
    json_t *o = json_pack("{s:i, s:s, s:I, s:s, s:s}", "schema", 1, "type", type, "time",
                          (json_int_t)time_ms, "domain", domain, "id", id);
    char *js = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (js == NULL)
        return NULL;
    size_t tlen = strlen("quarantine.") + strlen(domain) + 1, jlen = strlen(js) + 1;
    char *r = xmalloc(tlen + jlen);
    snprintf(r, tlen, "quarantine.%s", domain);
    memcpy(r + tlen, js, jlen);
    free(js);
    *len = tlen + jlen;
    return r;
}

static int put_one(qjournal_t *j, MDB_txn *txn, const char *domain, const char *id,
                   const char *type, int64_t time_ms)
{
    unsigned char key[KEY_SIZE];
    put_be(key, (uint64_t)time_ms, 8);
    put_be(key + 8, (uint64_t)getpid(), 4);
    put_be(key + 12, atomic_fetch_add(&j->counter, 1), 4);
    size_t len;
    char *r = record(domain, id, type, time_ms, &len);
    if (r == NULL)
        return EINVAL; /* Not UTF-8: names are checked before, so never seen. */
    MDB_val k = {KEY_SIZE, key}, v = {len, r};
    int rc = mdb_put(txn, j->dbi, &k, &v, 0);
    free(r);
    return rc;
}

void qjournal_add(qjournal_t *j, const char *domain, const char *const *ids, size_t n,
                  const char *type, int64_t time_ms)
{
    if (j == NULL || n == 0)
        return;
    MDB_txn *txn;
    int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = put_one(j, txn, domain, ids[i], type, time_ms);
    rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    if (rc != 0 && !atomic_exchange(&j->warned, true))
        log_msg(SMF_LOG_WARN, "quarantine",
                "cannot record %zu %s event(s) in the event journal (%s): they will not be "
                "published; is smfd running to publish and clear it?",
                n, type, mdb_strerror(rc));
}

long qjournal_drain(qjournal_t *j, size_t max, qjournal_fn fn, void *arg)
{
    if (j == NULL)
        return 0;
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    long n = 0;
    int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, j->dbi, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0 && (size_t)n < max) {
        const char *topic = v.mv_data;
        size_t tlen = strnlen(topic, v.mv_size);
        /* A record is two strings; anything else is damage, dropped unread. */
        if (tlen + 1 < v.mv_size && ((const char *)v.mv_data)[v.mv_size - 1] == '\0')
            fn(topic, topic + tlen + 1, arg);
        rc = mdb_cursor_del(cur, 0);
        n++;
        if (rc == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
    if (rc != 0) {
        log_msg(SMF_LOG_WARN, "quarantine", "cannot read the event journal: %s", mdb_strerror(rc));
        return -1;
    }
    return n;
}
