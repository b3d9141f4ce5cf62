/*
 * watch.h - notices that files smfd depends on have changed (a signature
 * database directory that freshclam updates), by polling a fingerprint of
 * each path, so that the daemon can reload as on SIGHUP.
 *
 * Threads: a watch_t belongs to one thread.
 */
#ifndef SMF_WATCH_H
#define SMF_WATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct watch watch_t;

/* Watches paths (copied); their state now is the baseline. A path may be
 * missing: its appearance is a change. Never NULL. */
watch_t *watch_new(const char *const *paths, size_t n);

/* Frees w and nulls *wp; NULL is fine. */
void watch_destroy(watch_t **wp);

/* True when w watches exactly these paths, in this order. */
bool watch_same(const watch_t *w, const char *const *paths, size_t n);

/*
 * Looks at every path once. Returns the first path whose fingerprint
 * differs from the baseline and was the same at the previous poll (so a
 * database still being written is not picked up half-way); that state
 * becomes its baseline. NULL when nothing has settled into a change. The
 * string lives as long as w.
 */
const char *watch_poll(watch_t *w);

/* The fingerprint of one path: a directory covers its own entry and each
 * entry in it (name, size, times, inode), not recursively. 0 when missing. */
unsigned long long watch_fingerprint(const char *path);

#endif
