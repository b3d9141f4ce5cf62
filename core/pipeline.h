/*
 * pipeline.h - one run of a policy's stages over a message, and its
 * verdict.
 *
 * Stages run in policy order. A virus ends the run. A forced soft verdict
 * (whitelist, blacklist) skips the remaining soft stages but never an
 * antivirus stage. A stage that fails is judged by its on_error setting;
 * an antivirus stage that fails, times out, or did not start gives
 * tempfail.
 */
#ifndef SMF_PIPELINE_H
#define SMF_PIPELINE_H

#include "generation.h"
#include "scanctx.h"
#include "verdict.h"

typedef struct stage_report {
    const char *module;
    size_t index; /* The module's index in the configuration. */
    stage_status_t status;
    const char *detail;
    double ms;
    bool replayed; /* The outcome of this stage's run for another recipient domain. */
} stage_report_t;

typedef struct pipeline_result {
    const char *domain;
    smf_direction_t direction;
    const policy_dir_t *policy;
    verdict_t verdict;
    double score;
    const char *virus;
    symbol_t *symbols;
    size_t nsymbols;
    added_header_t *headers;
    size_t nheaders;
    stage_report_t *stages;
    size_t nstages;
    const char *force_reason;
    smf_msg_t *ctx; /* The run's context, kept for pipeline_notify(). */
} pipeline_result_t;

/*
 * Room for what each antivirus stage finds in one message, and each stage
 * with a scope under each scope it names, shared by the runs of its
 * recipient domains so that each such stage scans it once (per scope).
 * From the request's arena, which every run over the message uses.
 */
stage_memo_t *pipeline_memos(const generation_t *g, arena_t *arena);

/*
 * Runs the stages of `pol` for `dir` over message m on worker `worker`,
 * allocating from arena; fills *out. memos (from pipeline_memos(), or NULL)
 * carries the outcomes of antivirus stages, and of stages that name a scope,
 * from one run over m to the next.
 */
void pipeline_run(generation_t *g, size_t worker, const policy_t *pol, smf_direction_t dir,
                  const message_t *m, const smf_envelope_t *env, const char *domain, arena_t *arena,
                  int64_t deadline_ms, stage_memo_t *memos, pipeline_result_t *out);

/*
 * Tells every stage that ran in this result the message's final verdict
 * (modules with a verdict() callback), on the worker that ran them.
 */
void pipeline_notify(generation_t *g, size_t worker, pipeline_result_t *r,
                     const smf_final_t *final);

/*
 * The connection stage: only list and reputation stages run, in policy
 * order, over an empty message, so that a front end can refuse a client
 * before it sends anything.
 */
void pipeline_run_connect(generation_t *g, size_t worker, const policy_t *pol, smf_direction_t dir,
                          const message_t *empty, const smf_envelope_t *env, const char *domain,
                          arena_t *arena, int64_t deadline_ms, pipeline_result_t *out);

#endif
