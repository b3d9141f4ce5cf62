/*
 * stats.h - what the engine has done since it started: messages per
 * action, each stage's outcomes and time, and the health problems modules
 * reported. Shared by all worker threads; read by the STATS request.
 */
#ifndef SMF_STATS_H
#define SMF_STATS_H

#include "action.h"
#include "pipeline.h"
#include "scanctx.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Counts one message's final action and its time in the engine. */
void stats_message(action_t action, double ms);
/* Counts the outcomes of a pipeline run's stages, under one lock. */
void stats_stages(const stage_report_t *stages, size_t n);
/*
 * Counts a health problem. Returns true when it should be logged and
 * published now: the first time, and then at most once a minute. *count
 * is how often it was reported so far.
 */
bool stats_health(const char *module, const char *problem, int64_t now_ms, uint64_t *count);
/* Records how many requests wait for a worker now (and the peak). */
void stats_queue(size_t waiting);
/* Counts a request refused because the backlog is full. Returns true when
 * it should be logged: the first time, then at most once a minute. */
bool stats_busy_refusal(void);
/* Everything, as the STATS reply's JSON object (new reference). */
json_t *stats_json(void);

#endif
