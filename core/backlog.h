/*
 * backlog.h - the requests that wait for a free worker.
 *
 * The transport reads every request as it arrives and stamps it with the
 * time, so that a request's timeout counts from when the engine received
 * it, not from when a worker became free. The backlog is bounded by a
 * count and by the bytes it holds: past either, the transport answers
 * "busy" at once instead of letting front ends wait on a queue nobody
 * measures.
 */
#ifndef SMF_BACKLOG_H
#define SMF_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/* One received request: the ROUTER parts (client identity first), where
 * the request's own frames start, and when it arrived (wall clock, ms). */
typedef struct backlog_entry {
    int64_t arrived_ms;
    size_t bytes; /* Sum of the parts' sizes. */
    size_t n, first;
    zmq_msg_t parts[];
} backlog_entry_t;

typedef struct backlog {
    backlog_entry_t **ring;
    size_t cap, head, count;
    size_t bytes;
    size_t max_count, max_bytes;
} backlog_t;

/* An empty backlog holding at most max_count requests and max_bytes bytes;
 * max_count 0 means no request ever waits. */
void backlog_init(backlog_t *b, size_t max_count, size_t max_bytes);
/* Frees the entries still held (closing their parts) and the ring. */
void backlog_free(backlog_t *b);
/* Whether a request of `bytes` may wait. One request always fits into an
 * empty backlog (when max_count > 0), however large, so that the byte
 * limit never refuses a message max_message_size allows. */
bool backlog_admits(const backlog_t *b, size_t bytes);
/* Sum of the sizes of n parts. */
size_t backlog_size_of(const zmq_msg_t *parts, size_t n);
/* Moves n parts into a new entry at the tail (the caller's parts are left
 * empty). Call only after backlog_admits() said yes. */
void backlog_push(backlog_t *b, zmq_msg_t *parts, size_t n, size_t first, int64_t arrived_ms);
/* The oldest entry, removed from the backlog (the caller closes its parts
 * and frees it with backlog_entry_free()), or NULL when empty. */
backlog_entry_t *backlog_pop(backlog_t *b);
void backlog_entry_free(backlog_entry_t *e);

#endif
