/*
 * ratelimit.h - outbound rate limits: messages and recipients per hour per
 * sender address and per authenticated user, counted in the module's
 * key-value namespace so that every worker and restart sees one count.
 */
#ifndef REP_RATELIMIT_H
#define REP_RATELIMIT_H

#include <smf/module.h>

#include <stdbool.h>
#include <stdint.h>

/* FNV-1a of the request and queue ids, never 0: the same for the scans of
 * one message (one per recipient domain), different for the next. */
uint64_t rep_request_hash(const smf_envelope_t *env);

typedef struct rep_rate_limits {
    long messages;   /* Per hour; 0 is no limit. */
    long recipients; /* Per hour; 0 is no limit. */
} rep_rate_limits_t;

/*
 * Counts this scan for `who` ("sender" or "user", and its name) and says
 * whether a limit is now exceeded: 1 with a detail in the message arena,
 * 0 under the limits, or a negative SMF_E* code. With `count` false (a
 * connection check, before the message) nothing is counted: it says
 * whether one more message would exceed a limit.
 */
int rep_rate_count(smf_msg_t *msg, const char *who, const char *name, const rep_rate_limits_t *lim,
                   int64_t now_ms, bool count, const char **detail);

/* Whether a stored rate value counts nothing any more: its hours have left
 * the sliding window, so it reads as zero (or it is not a record of this
 * layout, which reads as zero too). */
bool rep_rate_stale(const void *val, size_t vlen, int64_t now_ms);

/* Whether a stored rate record is stamped with an hour that begins more
 * than five minutes after now (a count at the turn of the hour, by a
 * worker whose clock read the new hour first, is not): it is then copied to
 * out (room for a record) stamped with the current hour, its counts this
 * hour's if it was at most a couple of hours ahead, so that they leave the
 * window an hour from now rather than an hour after the one stamped. */
bool rep_rate_ahead(const void *val, size_t vlen, int64_t now_ms, void *out, size_t *outlen);

#endif
