/*
 * backlog.c - a bounded first-in, first-out queue of received requests.
 */
#include "backlog.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void backlog_init(backlog_t *b, size_t max_count, size_t max_bytes)
{
    memset(b, 0, sizeof(*b));
    b->max_count = max_count;
    b->max_bytes = max_bytes;
    /* The ring grows as requests wait, so that a generous limit costs
     * nothing on an engine that keeps up. */
    b->cap = max_count < 16 ? max_count : 16;
    b->ring = b->cap ? xcalloc(b->cap, sizeof(*b->ring)) : NULL;
}

void backlog_entry_free(backlog_entry_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; i++)
        zmq_msg_close(&e->parts[i]);
    free(e);
}

void backlog_free(backlog_t *b)
{
    backlog_entry_t *e;
    while ((e = backlog_pop(b)) != NULL)
        backlog_entry_free(e);
    free(b->ring);
    memset(b, 0, sizeof(*b));
}

bool backlog_admits(const backlog_t *b, size_t bytes)
{
    if (b->count >= b->max_count)
        return false;
    return b->count == 0 || (b->bytes <= b->max_bytes && bytes <= b->max_bytes - b->bytes);
}

size_t backlog_size_of(const zmq_msg_t *parts, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += zmq_msg_size((zmq_msg_t *)&parts[i]);
    return sum;
}

/* Doubles the ring, unrolling it so that the oldest entry is first. */
static void grow(backlog_t *b)
{
    size_t cap = b->cap * 2 < b->max_count ? b->cap * 2 : b->max_count;
    backlog_entry_t **ring = xcalloc(cap, sizeof(*ring));
    for (size_t i = 0; i < b->count; i++)
        ring[i] = b->ring[(b->head + i) % b->cap];
    free(b->ring);
    b->ring = ring;
    b->cap = cap;
    b->head = 0;
}

void backlog_push(backlog_t *b, zmq_msg_t *parts, size_t n, size_t first, int64_t arrived_ms)
{
    if (b->count == b->cap)
        grow(b);
    backlog_entry_t *e = xmalloc(sizeof(*e) + n * sizeof(zmq_msg_t));
    e->arrived_ms = arrived_ms;
    e->bytes = backlog_size_of(parts, n);
    e->n = n;
    e->first = first;
    for (size_t i = 0; i < n; i++) {
        zmq_msg_init(&e->parts[i]);
        zmq_msg_move(&e->parts[i], &parts[i]);
    }
    b->ring[(b->head + b->count) % b->cap] = e;
    b->count++;
    b->bytes += e->bytes;
}

backlog_entry_t *backlog_pop(backlog_t *b)
{
    if (b->count == 0)
        return NULL;
    backlog_entry_t *e = b->ring[b->head];
    b->ring[b->head] = NULL;
    b->head = (b->head + 1) % b->cap;
    b->count--;
    b->bytes -= e->bytes;
    return e;
}
