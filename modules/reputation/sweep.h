/*
 * sweep.h - forgets what the module's store no longer needs: history whose
 * decayed counts are negligible and rate counts whose window has passed. A
 * few hundred keys per second at most, walked from a cursor kept in the
 * store, so that no message waits long and the walk survives restarts.
 */
#ifndef REP_SWEEP_H
#define REP_SWEEP_H

#include <smf/module.h>

#include <stddef.h>
#include <stdint.h>

typedef struct rep_sweep_conf {
    double half_life_ms; /* History half-life; 0 or less keeps history records. */
    double forget_count; /* History records with fewer decayed observations go. */
    long keys;           /* Keys examined per step; 0 or less: no sweep. */
} rep_sweep_conf_t;

/* Most keys one step may examine: a step runs inside a message's verdict(). */
#define REP_SWEEP_KEYS_MAX 100000

/* Least milliseconds between two steps of one process. */
#define REP_SWEEP_INTERVAL_MS 1000

/*
 * Runs one step of the sweep when none ran in this process for
 * REP_SWEEP_INTERVAL_MS: reads up to c->keys keys after the saved cursor,
 * then, in one write transaction (one per 256 records to change), deletes
 * the stale ones, stamps now those stamped later than now, and saves where
 * it stopped (the start again, at the end of the store). *removed gets how
 * many went. Returns 0 (also when no step was due) or a negative SMF_E* code.
 */
int rep_sweep_step(smf_msg_t *msg, const rep_sweep_conf_t *c, int64_t now_ms, size_t *removed);

#endif
