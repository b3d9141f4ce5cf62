/*
 * generation.c - module states of one configuration and their lifetime.
 */
#include "generation.h"
#include "learnreg.h"
#include "log.h"
#include "scanctx.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct smf_init {
    const char *module;
    const char *data_dir;
    const char *config_dir;
    char err[1024];
};

void smf_init_fail(smf_init_t *init, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(init->err, sizeof(init->err), fmt, ap);
    va_end(ap);
}

const char *smf_init_data_dir(const smf_init_t *init)
{
    return init->data_dir;
}

const char *smf_init_config_dir(const smf_init_t *init)
{
    return init->config_dir;
}

static void finish_modules(generation_t *g)
{
    config_t *c = g->conf;
    for (size_t m = 0; m < g->ninit; m++) {
        const smf_module_t *d = c->modules[m].lib.desc;
        for (size_t w = 0; w < g->nworkers; w++) {
            size_t slot = w * c->nmodules + m;
            if (g->tready[slot] == 1 && d->thread_fini != NULL)
                d->thread_fini(g->states[m], g->tstates[slot]);
        }
        scanctx_set_module(d->name);
        if (g->states[m] != NULL && d->fini != NULL)
            d->fini(g->states[m]);
        scanctx_set_module(NULL);
        free(g->init_errors[m]);
    }
}

static void destroy(generation_t *g)
{
    finish_modules(g);
    config_free(&g->conf);
    free(g->states);
    free(g->init_errors);
    free(g->dbis);
    free(g->tstates);
    free(g->tready);
    free(g);
}

static int init_module(generation_t *g, size_t m, char *err, size_t errlen)
{
    module_conf_t *mc = &g->conf->modules[m];
    const smf_module_t *d = mc->lib.desc;
    if (g->kv != NULL && kv_namespace(g->kv, d->name, &g->dbis[m]) != 0) {
        snprintf(err, errlen, "module %s: cannot open its key-value namespace", d->name);
        return -1;
    }
    if (!mc->enabled || d->init == NULL)
        return 0;
    smf_init_t ctx = {.module = d->name, .data_dir = g->conf->data_dir, .config_dir = g->conf->dir};
    scanctx_set_module(d->name);
    int rc = d->init(&ctx, mc->conf, &g->states[m]);
    scanctx_set_module(NULL);
    if (rc == 0)
        return 0;
    const char *why = ctx.err[0] ? ctx.err : smf_strerror(rc);
    if (mc->hard) {
        /* Fail closed: the generation is kept with the error, so that its
         * scans give tempfail. Whether it is used at all is the caller's
         * choice (a reload keeps a ready generation instead), and so is
         * the loud log line that says so. */
        g->init_errors[m] = xstrdup(why);
        g->states[m] = NULL;
        return 0;
    }
    snprintf(err, errlen, "module %s: init failed: %s", d->name, why);
    return -1;
}

int generation_new(config_t *conf, kv_t *kv, unsigned long id, size_t nworkers, generation_t **out,
                   char *err, size_t errlen)
{
    generation_t *g = xcalloc(1, sizeof(*g));
    size_t n = conf->nmodules ? conf->nmodules : 1;
    atomic_init(&g->refs, 1);
    g->id = id;
    g->conf = conf;
    g->kv = kv;
    g->nworkers = nworkers ? nworkers : 1;
    g->states = xcalloc(n, sizeof(void *));
    g->init_errors = xcalloc(n, sizeof(char *));
    g->dbis = xcalloc(n, sizeof(unsigned));
    g->tstates = xcalloc(n * g->nworkers, sizeof(void *));
    g->tready = xcalloc(n * g->nworkers, 1);
    if (kv != NULL && kv_namespace(kv, LEARNREG_NAMESPACE, &g->learnreg) != 0) {
        snprintf(err, errlen, "cannot open the learning registry in the key-value store");
        destroy(g);
        *out = NULL;
        return -1;
    }
    for (size_t m = 0; m < conf->nmodules; m++) {
        if (init_module(g, m, err, errlen) != 0) {
            destroy(g);
            *out = NULL;
            return -1;
        }
        g->ninit = m + 1;
    }
    *out = g;
    return 0;
}

int generation_not_ready(const generation_t *g, const char **why)
{
    for (size_t m = 0; m < g->conf->nmodules; m++)
        if (g->conf->modules[m].hard && g->init_errors[m] != NULL) {
            *why = g->init_errors[m];
            return (int)m;
        }
    return -1;
}

void generation_hold(generation_t *g)
{
    atomic_fetch_add(&g->refs, 1);
}

void generation_release(generation_t **gp)
{
    generation_t *g = *gp;
    *gp = NULL;
    if (g != NULL && atomic_fetch_sub(&g->refs, 1) == 1)
        destroy(g);
}

int generation_tstate(generation_t *g, size_t worker, size_t m, void **tstate)
{
    size_t slot = worker * g->conf->nmodules + m;
    if (g->tready[slot] == 0) {
        const smf_module_t *d = g->conf->modules[m].lib.desc;
        int rc = 0;
        scanctx_set_module(d->name);
        if (d->thread_init != NULL)
            rc = d->thread_init(g->states[m], &g->tstates[slot]);
        scanctx_set_module(NULL);
        g->tready[slot] = rc == 0 ? 1 : -1;
        if (rc != 0)
            log_msg(SMF_LOG_ERROR, d->name, "thread_init failed: %s", smf_strerror(rc));
    }
    *tstate = g->tstates[slot];
    return g->tready[slot] == 1 ? 0 : SMF_EFAIL;
}
