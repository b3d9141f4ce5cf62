/*
 * engine.h - what the daemon's threads share: the ZeroMQ context, the
 * current generation, the stores. Threads share nothing else; they talk
 * over inproc sockets, and only the transport thread touches the
 * endpoints that front ends see.
 */
#ifndef SMF_ENGINE_H
#define SMF_ENGINE_H

#include "generation.h"
#include "curve.h"
#include "kv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct quarantine quarantine_t;

#define ENGINE_BACKEND "inproc://smf-backend"
#define ENGINE_CONTROL "inproc://smf-control"

typedef struct engine {
    void *zctx;
    pthread_mutex_t lock; /* Guards `current` only. */
    generation_t *current;
    kv_t *kv;
    quarantine_t *quarantine;
    size_t nworkers;
    const char *listen;
    const char *publish;
    /* `user` at start, "" when smfd runs as started; it changes only at restart. */
    const char *user;
    size_t max_message_size;
    size_t max_queued, max_queued_size; /* The transport's backlog, fixed at start. */
    curve_conf_t curve;                 /* The endpoints' CURVE keys, fixed at start. */
    atomic_bool stopping;               /* Tells the ZAP thread to end. */
} engine_t;

/* A held reference to the current generation; release it when done. */
generation_t *engine_current(engine_t *e);
/* The current generation's id and worker count, without holding it: a
 * thread that must never run a generation's teardown (the transport) reads
 * them this way. */
void engine_current_id(engine_t *e, unsigned long *id, size_t *nworkers);
/* Makes g current (the engine takes the caller's reference) and drops the
 * engine's reference to the previous one. */
void engine_swap(engine_t *e, generation_t *g);

/* The ZAP handler (CURVE allow-list): bind before the endpoints, then run
 * zap_main on a thread of its own until `stopping` is set. */
int zap_bind(engine_t *e);
void *zap_main(void *arg);

/* Worker thread entry; arg is a worker_arg_t. */
typedef struct worker_arg {
    engine_t *engine;
    size_t index;
} worker_arg_t;
void *worker_main(void *arg);

/* Transport thread entry; arg is the engine. Binds the endpoints, then
 * routes until told to stop over ENGINE_CONTROL and every worker is idle. */
void *transport_main(void *arg);
/* Binds the front-end endpoints before threads start, so that a bad
 * endpoint is a start-up error. 0 or -1 with err set. */
int transport_bind(engine_t *e, char *err, size_t errlen);

#endif
