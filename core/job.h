/*
 * job.h - one request, from its frames to its reply: validation, parsing,
 * a pipeline run per recipient policy, the merge across domains,
 * quarantine, the reply JSON, the events and the log line.
 *
 * A job runs on one worker thread and touches no socket: the worker hands
 * it frames and sends what it returns.
 */
#ifndef SMF_JOB_H
#define SMF_JOB_H

#include "generation.h"
#include "protocol.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct quarantine quarantine_t;

typedef struct job_event {
    char *topic;
    char *json;
} job_event_t;

typedef struct job_result {
    const char *kind; /* "VERDICT", "PONG" or "ERROR". */
    char *request_id; /* Echoed; "" when the request had none. */
    char *json;       /* The reply body. */
    job_event_t *events;
    size_t nevents;
} job_result_t;

typedef struct job_ctx {
    generation_t *gen;
    size_t worker;
    quarantine_t *quarantine; /* NULL: quarantine disabled (tests). */
    int64_t arrived_ms;       /* Wall time the transport received the request. */
    double queued_ms;         /* How long it waited for this worker. */
} job_ctx_t;

void job_run(const job_ctx_t *ctx, const frame_t *frames, size_t nframes, job_result_t *out);
void job_result_free(job_result_t *r);
/* The STATS reply, for a generation and its worker count; in_flight, the
 * requests being scanned, is left out when negative (only the transport
 * knows it). */
void job_stats(unsigned long generation, size_t nworkers, const char *rid, long in_flight,
               job_result_t *out);

#endif
