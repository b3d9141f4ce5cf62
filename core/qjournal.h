/*
 * qjournal.h - the quarantine's journal of changes, for the events smfd
 * publishes about them.
 *
 * Entries are released, deleted and purged by smfctl (another process) as
 * well as by smfd, but only smfd holds the PUB socket. Whoever changes an
 * entry therefore records the change here, in one small LMDB environment
 * beside the domains' stores (<quarantine_dir>/.events), and smfd publishes
 * and removes the records at its next tick. A change made while smfd is
 * down is published when it starts; the record's time says when it happened.
 *
 * Records are written after the change itself commits, in a transaction of
 * their own: a crash between the two loses the event, never invents one.
 * Events are for dashboards and collectors, as the PUB socket's are.
 */
#ifndef SMF_QJOURNAL_H
#define SMF_QJOURNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct qjournal qjournal_t;

/* Opens (creating) the journal under the quarantine folder dir. 0, or -1
 * with the reason in err. */
int qjournal_open(const char *dir, qjournal_t **out, char *err, size_t errlen);
void qjournal_close(qjournal_t **j);

/*
 * Records that n entries ids[] of domain (its folder name) became `type`
 * ("released", "deleted", "purged", ...) at time_ms, in one transaction.
 * A journal that cannot take them (full while smfd is down, say) loses
 * them with a warning: the change itself is already made. j may be NULL.
 */
void qjournal_add(qjournal_t *j, const char *domain, const char *const *ids, size_t n,
                  const char *type, int64_t time_ms);

/* Called once per record by qjournal_drain(): the event's topic
 * ("quarantine.<domain>") and JSON text, borrowed for the call. */
typedef void (*qjournal_fn)(const char *topic, const char *json, void *arg);

/*
 * Hands the oldest records, at most max of them, to fn and removes them.
 * Returns how many, or -1 when the journal could not be read (logged).
 */
long qjournal_drain(qjournal_t *j, size_t max, qjournal_fn fn, void *arg);

#endif
