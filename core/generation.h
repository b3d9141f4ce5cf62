/*
 * generation.h - one loaded configuration with its module states.
 *
 * Workers take a reference per message, so a reload can swap in a new
 * generation while messages in flight finish on the old one; the old one
 * is freed (modules' fini, thread_fini) when its last reference goes.
 * Per-thread module state is made lazily by each worker on its first scan
 * with the generation, in a slot that only that worker touches.
 */
#ifndef SMF_GENERATION_H
#define SMF_GENERATION_H

#include "config.h"
#include "kv.h"

#include <stdatomic.h>
#include <stddef.h>

typedef struct generation {
    atomic_int refs;
    unsigned long id;
    config_t *conf;
    kv_t *kv;           /* Borrowed: the process-wide store. */
    size_t ninit;       /* Modules whose init() ran, so fini() is owed. */
    unsigned learnreg;  /* The learning registry's namespace, when kv is open. */
    void **states;      /* Per module. */
    char **init_errors; /* Per module: NULL, or why its init failed. */
    unsigned *dbis;     /* Per module: its key-value namespace. */
    size_t nworkers;
    void **tstates;      /* [worker * nmodules + module]. */
    signed char *tready; /* 0 not made, 1 made, -1 thread_init failed. */
} generation_t;

/*
 * Initialises every enabled module of `conf` (taking ownership of conf,
 * even on failure). A content, list or reputation module whose init fails
 * fails the whole generation (-1, reason in err); an antivirus module whose
 * init fails is kept with its error, so that its scans fail closed.
 */
int generation_new(config_t *conf, kv_t *kv, unsigned long id, size_t nworkers, generation_t **out,
                   char *err, size_t errlen);
/* The first antivirus stage of g whose init failed (its index, *why its
 * error), or -1 when every antivirus stage is ready. */
int generation_not_ready(const generation_t *g, const char **why);
void generation_hold(generation_t *g);
/* Drops a reference and nulls *gp; the last one frees the generation. */
void generation_release(generation_t **gp);
/* The worker's per-thread state for module m: 0, or a negative SMF_E* code. */
int generation_tstate(generation_t *g, size_t worker, size_t m, void **tstate);

#endif
