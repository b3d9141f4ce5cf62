/*
 * refit.c - a module's fit() on an empty message: the call needs the
 * module's store and an arena, not a message, but the SDK reaches the
 * store through one.
 */
#include "refit.h"

#include "arena.h"
#include "clock.h"
#include "message.h"
#include "scanctx.h"

#include <stdint.h>

int refit_possible(const generation_t *g, size_t m)
{
    const module_conf_t *mc = &g->conf->modules[m];
    return mc->enabled && mc->lib.desc->learn != NULL && mc->lib.desc->fit != NULL;
}

bool refit_switched_off(const generation_t *g, size_t m)
{
    bool logistic;
    return config_module_bool(&g->conf->modules[m], "logistic", &logistic) && !logistic;
}

int refit_module(generation_t *g, size_t m, void *tstate, const char *domain, double *ms)
{
    const module_conf_t *mc = &g->conf->modules[m];
    arena_t *arena = arena_new(16384);
    message_t *msg;
    message_parse(arena, "\r\n", 2, &g->conf->limits, &msg);
    static const char *const rcpt[] = {"postmaster"};
    smf_envelope_t env = {.request_id = "refit",
                          .queue_id = "",
                          .client_ip = "",
                          .client_name = "",
                          .helo = "",
                          .sender = "",
                          .auth_user = "",
                          .rcpt_count = 1,
                          .rcpt = rcpt};
    smf_msg_t x;
    /* A refit reads every learned message: no deadline and no arena limit
     * of its own, beyond what the machine has. */
    scanctx_init(&x, arena, msg, &env, domain, clock_wall_ms() + 86400000.0, SIZE_MAX, g->kv);
    double t0 = clock_mono_ms();
    int rc = scanctx_fit(&x, mc->lib.desc, g->states[m], tstate, g->dbis[m]);
    *ms = clock_mono_ms() - t0;
    arena_destroy(&arena);
    return rc;
}
