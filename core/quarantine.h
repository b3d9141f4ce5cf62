/*
 * quarantine.h - the per-domain quarantine store: one LMDB environment per
 * recipient domain under quarantine_dir/<domain>/, written by the daemon's
 * workers through one group-committing thread, read by the operator tool.
 *
 * Threads: every call may be made from any thread, concurrently. Processes:
 * the daemon and the operator tool may open the same directory at the same
 * time (LMDB's lock file serialises writers); one process must not hold two
 * handles on the same directory at once.
 *
 * Errors: quarantine_open() and quarantine_store() return 0 or -1 and write
 * a reason into err; the other calls return 0 or a negative SMF_E* code.
 */
#ifndef SMF_QUARANTINE_H
#define SMF_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct quarantine quarantine_t;

/* Map size of environments created or opened from now on, unless set. */
#define QUARANTINE_DEFAULT_MAPSIZE ((size_t)16 << 30)
/* Longest wait for more callers before a group is written (see below). */
#define QUARANTINE_DEFAULT_WINDOW_US 1000L
/* Longest id accepted; ids are [A-Za-z0-9._-]. */
#define QUARANTINE_ID_MAX 128

/*
 * Opens the quarantine rooted at dir (created when missing) and starts the
 * committer thread. 0, or -1 with a reason in err.
 *
 * A domain's environment is opened when first needed; open, it holds 3
 * descriptors and a map of the map size. The committer keeps the ones it
 * stored into open for the next store: at most 128, nor more than a quarter
 * of RLIMIT_NOFILE (3 each) or of the address space (RLIMIT_AS, one map
 * each) allow, closing the least recently used one that no transaction is
 * using. The other calls close what they opened when done, so that a walk
 * over every domain holds one at a time.
 */
int quarantine_open(const char *dir, quarantine_t **out, char *err, size_t errlen);

/*
 * Waits for every queued store to be committed, stops the committer,
 * closes the environments and nulls *qp. Stores must have returned (no
 * worker may still be inside quarantine_store()).
 */
void quarantine_close(quarantine_t **qp);

/*
 * Sets the map size (the most an environment may hold) of environments
 * opened after this call; an existing environment never shrinks below its
 * data. Call it right after quarantine_open(). 0 or SMF_EINVAL (< 64 KiB).
 */
int quarantine_set_mapsize(quarantine_t *q, size_t bytes);

/*
 * Sets the group window: when fewer callers are queued than were in flight
 * after the previous group, the committer waits up to usec microseconds for
 * the rest before writing, so that they share one sync. 0 writes at once.
 * A lone caller never waits. 0 or SMF_EINVAL (above 100 ms).
 */
int quarantine_set_window(quarantine_t *q, long usec);

/* The folder of the recipient domains that cannot name one. */
#define QUARANTINE_INVALID_DOMAIN "_invalid_"

/* Maps a recipient domain to its directory name: lower-cased when it is
 * [a-z0-9.-]+ without "..", a leading dot or a leading dash, else
 * QUARANTINE_INVALID_DOMAIN. out needs 256 bytes. Returns out. */
const char *quarantine_domain_name(const char *domain, char out[256]);

/*
 * Whether a folder in quarantine_dir is a domain's store: a name
 * quarantine_domain_name() gives back unchanged, or the one that holds
 * invalid domains. Other folders (lost+found at the root of a file system)
 * belong to no domain and must not be read as one.
 */
bool quarantine_is_domain_folder(const char *name);

/* One copy of a message for one recipient domain. Everything is borrowed
 * for the duration of quarantine_store() only. */
typedef struct quarantine_item {
    const char *domain;    /* Recipient domain this copy is for. */
    const char *id;        /* Sortable, e.g. hex time-ms + counter; unique per domain. */
    int64_t time_ms;       /* Wall time of quarantining; purge and list use it. */
    const char *meta_json; /* A JSON object: envelope, direction, reason, action... */
    const char *raw;       /* The raw message, stored byte-identical. */
    size_t raw_len;
} quarantine_item_t;

/*
 * Stores n items and returns only once all of them are durable (committed
 * with fsync). Items from all calling threads that are queued while the
 * previous commit runs are written in one transaction per domain and made
 * durable together, so concurrent callers share the cost of the sync.
 *
 * Returns 0, or -1 with a reason in err when any item was not stored (bad
 * argument, id already present in its domain, map or disk full, I/O
 * error); the caller should then answer tempfail so the sender keeps the
 * mail. On failure, items of this call for other domains may have been
 * stored; items of other calls are not affected.
 */
int quarantine_store(quarantine_t *q, const quarantine_item_t *items, size_t n, char *err,
                     size_t errlen);

/* Called once per entry by quarantine_list(); the strings are borrowed for
 * the call only. A non-zero return stops the listing and is returned. */
typedef int (*quarantine_list_fn)(const char *domain, const char *id, int64_t time_ms,
                                  size_t raw_len, const char *meta_json, void *arg);

/*
 * Lists the entries of one domain (NULL: every domain found under dir, in
 * name order) whose time_ms >= since_ms, in id order. The callback must not
 * write to the quarantine. 0, SMF_ENOENT (no such domain), SMF_EIO, or the
 * callback's non-zero return.
 */
int quarantine_list(quarantine_t *q, const char *domain, int64_t since_ms, quarantine_list_fn fn,
                    void *arg);

/*
 * Reads one entry; domain NULL searches every domain and takes the first
 * in name order. Outputs are malloc'ed copies the caller frees; any output
 * pointer may be NULL when not wanted; *meta_json and *raw end with a NUL
 * that raw_len does not count. 0, SMF_ENOENT, SMF_EINVAL or SMF_EIO.
 */
int quarantine_get(quarantine_t *q, const char *domain, const char *id, char **meta_json,
                   char **raw, size_t *raw_len, char **domain_out);

/* When an entry was stored (Unix ms), read by its id from the metadata
 * alone; domain NULL takes the first domain holding it, in name order.
 * 0, SMF_ENOENT, SMF_EINVAL or SMF_EIO; *time_ms is 0 unless found. */
int quarantine_time(quarantine_t *q, const char *domain, const char *id, int64_t *time_ms);

/* Deletes an entry; domain NULL deletes it from every domain holding it.
 * Durable on return. 0, SMF_ENOENT, SMF_EINVAL or SMF_EIO. */
int quarantine_delete(quarantine_t *q, const char *domain, const char *id);

/*
 * Records a state change ("released", ...) in the entry's metadata: sets
 * its "state" and "state_time_ms" members. Domain NULL marks every copy.
 * 0, SMF_ENOENT, SMF_EINVAL, or SMF_EIO (also when the stored metadata is
 * not a JSON object).
 */
int quarantine_mark(quarantine_t *q, const char *domain, const char *id, const char *state);

/*
 * Records that the message went to these n recipients of the entry while
 * it stays held for the others: adds each (once) to its metadata's
 * "delivered_to" array, so that a release sends it to the others only. The
 * state is left as it is, and nothing is journaled. Domain NULL records it
 * in every copy. 0, SMF_ENOENT, SMF_EINVAL, or SMF_EIO.
 */
int quarantine_mark_delivered(quarantine_t *q, const char *domain, const char *id,
                              const char *const *rcpt, size_t n);

/* Deletes every entry of every domain with time_ms < older_than_ms and
 * counts them in *removed (may be NULL). 0 or SMF_EIO. */
int quarantine_purge(quarantine_t *q, int64_t older_than_ms, size_t *removed);

/* Called once per change recorded in the journal by quarantine_events(),
 * with its topic and JSON text, borrowed for the call. */
typedef void (*quarantine_event_fn)(const char *topic, const char *json, void *arg);

/*
 * Hands the oldest recorded changes (releases, deletions, purges, by any
 * process), at most max of them, to fn and forgets them: smfd publishes
 * them. Returns how many, or -1 when the journal could not be read.
 */
long quarantine_events(quarantine_t *q, size_t max, quarantine_event_fn fn, void *arg);

/* Counters since open, for metrics and tests. */
typedef struct quarantine_stats {
    uint64_t groups; /* Durable group commits made by the committer. */
    uint64_t items;  /* Items stored. */
    uint64_t failed; /* Items of stores that failed in the committer. */
} quarantine_stats_t;

void quarantine_stats(quarantine_t *q, quarantine_stats_t *out);

#endif
