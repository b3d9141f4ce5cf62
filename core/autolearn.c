/*
 * autolearn.c - the decision to autolearn a message and the teaching
 * itself, through the same registry as smfctl learn.
 */
#include "autolearn.h"
#include "learnreg.h"
#include "refit.h"
#include "log.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Messages autolearned by this process, and how many of them the last refit saw. */
static atomic_ulong taught, refitted;

/*
 * Teaching checks the registry, then lets each module read and rewrite its
 * counts, then records the message: separate transactions. Two learners
 * interleaving would teach a message twice or lose an increment, so they
 * take turns: the workers among themselves by `turn`, smfd and smfctl by
 * learn.lock. smfd's own refit holds learn.lock for the process (`refitting`,
 * read under `turn`), and the workers go on teaching meanwhile: a fit only
 * reads counts afresh and writes weights, so what they teach reaches the
 * weights at the next refit.
 */
static pthread_mutex_t turn = PTHREAD_MUTEX_INITIALIZER;
static bool refitting;
static atomic_bool paused;

/* learn.lock taken without waiting: its descriptor, -1 when another
 * process holds it, -2 when it cannot be opened (said once). Closing the
 * descriptor releases it. */
static int learn_lock_try(const generation_t *g)
{
    static atomic_bool warned;
    char *path;
    int fd = learnreg_lock_open(g->kv, &path);
    if (fd < 0 && !atomic_exchange(&warned, true))
        log_warn("%s: %s; nothing is autolearned or refitted until it can be opened", path,
                 strerror(errno));
    g_free(path);
    if (fd < 0)
        return -2;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Says once when autolearning stops for an smfctl run and once when it resumes. */
static void note_pause(bool now)
{
    if (atomic_exchange(&paused, now) == now)
        return;
    if (now)
        log_info("autolearning paused: smfctl is learning (learn.lock is held)");
    else
        log_info("autolearning resumed");
}

unsigned long autolearn_taught(void)
{
    return atomic_load(&taught);
}

/* A classifier: a content stage that learns. */
static bool learner(const generation_t *g, size_t m)
{
    const module_conf_t *mc = &g->conf->modules[m];
    return mc->enabled && mc->lib.desc->learn != NULL && mc->lib.desc->kind == SMF_KIND_CONTENT &&
           g->init_errors[m] == NULL;
}

static bool by_learner(const generation_t *g, const char *module)
{
    for (size_t m = 0; m < g->conf->nmodules; m++)
        if (learner(g, m) && strcmp(g->conf->modules[m].name, module) == 0)
            return true;
    return false;
}

/* The score without the classifiers' own points, so that they do not
 * teach themselves what they already believe. */
static double outside_score(const generation_t *g, const pipeline_result_t *r)
{
    double s = 0;
    for (size_t i = 0; i < r->nsymbols; i++)
        if (r->symbols[i].module == NULL || !by_learner(g, r->symbols[i].module))
            s += r->symbols[i].score;
    return s;
}

/*
 * Whether a stage failed (an error, or over its timeout) or was skipped on
 * this message. With on_error = accept the verdict stands without a failed
 * stage, but the score lacks whatever it would have added: a spam whose
 * rules timed out would look like ham. A stage is skipped when an allow or
 * block list entry decided: the content was never judged, and a spammer
 * who forges an allowed sender would teach the classifier his words as ham.
 */
static bool a_stage_missing(const pipeline_result_t *r)
{
    for (size_t i = 0; i < r->nstages; i++)
        if (r->stages[i].status == STAGE_ERROR || r->stages[i].status == STAGE_SKIPPED)
            return true;
    return false;
}

static int decide(const generation_t *g, const pipeline_result_t *r, action_t action,
                  const char *virus, double *score)
{
    const config_t *c = g->conf;
    /* Viruses, uncertain and deferred mail, anything the hard lane could
     * not vouch for and any verdict a failed or skipped stage left
     * incomplete teach nothing. */
    if (virus != NULL || r->verdict.hard != ACTION_ACCEPT || action == ACTION_ADD_HEADER ||
        action == ACTION_TEMPFAIL || a_stage_missing(r))
        return 0;
    *score = outside_score(g, r);
    if (action >= ACTION_QUARANTINE && *score >= c->autolearn_spam_score)
        return SMF_CLASS_SPAM;
    if (action == ACTION_ACCEPT && *score <= c->autolearn_ham_score)
        return SMF_CLASS_HAM;
    return 0;
}

/* Why the store failed a write: a full one says so, since that needs room made. */
static const char *store_error(int rc)
{
    return kv_full() ? "the key-value store is full (smfctl unlearn makes room)" : smf_strerror(rc);
}

/* Teaches every learning module; the names of those that took it, or NULL
 * when one failed (the caller's transaction then writes nothing). */
static json_t *teach(generation_t *g, size_t worker, pipeline_result_t *r, int klass)
{
    json_t *mods = json_array();
    /* Autolearning is site-wide: the classifiers see no domain, whichever
     * recipient domain's policy ran last on this context. */
    const char *domain = r->ctx->domain;
    r->ctx->domain = "";
    for (size_t m = 0; m < g->conf->nmodules && mods != NULL; m++) {
        void *tstate;
        if (!learner(g, m) || generation_tstate(g, worker, m, &tstate) != 0)
            continue;
        const smf_module_t *d = g->conf->modules[m].lib.desc;
        int rc = scanctx_learn(r->ctx, d, g->states[m], tstate, g->dbis[m], klass, 1);
        if (rc != 0) {
            log_msg(SMF_LOG_WARN, d->name, "%s: autolearn failed: %s", r->ctx->env->request_id,
                    store_error(rc));
            json_decref(mods);
            mods = NULL;
        } else {
            json_array_append_new(mods, json_string(d->name));
        }
    }
    r->ctx->domain = domain;
    return mods;
}

/* Teaches the message as klass unless the registry knows it, in one store
 * transaction with its registry entry; under both locks. */
static int teach_once(generation_t *g, size_t worker, pipeline_result_t *r, int klass, double score,
                      const char *id)
{
    unsigned char key[LEARNREG_KEY_LEN];
    if (kv_batch_begin(g->kv) != 0) {
        log_warn("%s: autolearn skipped: cannot open a store transaction", id);
        return 0;
    }
    json_t *known = NULL;
    /* Known, unlearned by an operator, or not known for sure: an
     * operator's choice must stand. */
    if (learnreg_find(g->kv, g->learnreg, r->ctx->m->raw, r->ctx->m->raw_len, key, r->ctx->arena,
                      &known) != 0 ||
        known != NULL) {
        json_decref(known);
        kv_batch_abort(g->kv);
        return 0;
    }
    json_t *mods = teach(g, worker, r, klass);
    int learned = json_array_size(mods) > 0 ? klass : 0;
    if (learned &&
        learnreg_put(g->kv, g->learnreg, key, klass, NULL, LEARNREG_AUTOLEARN, id, mods) != 0) {
        log_warn("%s: autolearn as %s not written: the registry could not record it", id,
                 learnreg_class_name(klass));
        learned = 0;
    }
    json_decref(mods);
    if (!learned)
        kv_batch_abort(g->kv);
    else if (kv_batch_commit(g->kv) != 0) {
        log_warn("%s: autolearn as %s not written: %s", id, learnreg_class_name(klass),
                 kv_full() ? store_error(SMF_EIO) : "the store refused it");
        learned = 0;
    }
    if (learned) {
        atomic_fetch_add(&taught, 1);
        log_info("%s: autolearned as %s (score %.2f without the classifiers' own points)", id,
                 learnreg_class_name(klass), score);
    }
    return learned;
}

int autolearn_consider(generation_t *g, size_t worker, pipeline_result_t *r, action_t action,
                       const char *virus, const char *id)
{
    double score = 0;
    int klass;
    if (!g->conf->autolearn || g->kv == NULL || (klass = decide(g, r, action, virus, &score)) == 0)
        return 0;
    pthread_mutex_lock(&turn);
    int learned = 0;
    if (refitting) {
        learned = teach_once(g, worker, r, klass, score, id);
    } else {
        int fd = learn_lock_try(g);
        if (fd != -2)
            note_pause(fd == -1);
        if (fd >= 0) {
            learned = teach_once(g, worker, r, klass, score, id);
            close(fd);
        }
    }
    pthread_mutex_unlock(&turn);
    return learned;
}

/* Refits one module on this thread, with a tstate of its own for the call;
 * what its fit() returned. */
static int refit_one(generation_t *g, size_t m, unsigned long since)
{
    const smf_module_t *d = g->conf->modules[m].lib.desc;
    void *tstate = NULL;
    double ms = 0;
    int rc = d->thread_init != NULL ? d->thread_init(g->states[m], &tstate) : 0;
    if (rc == 0)
        rc = refit_module(g, m, tstate, "", &ms);
    if (d->thread_fini != NULL && tstate != NULL)
        d->thread_fini(g->states[m], tstate);
    if (rc != 0)
        log_msg(SMF_LOG_WARN, d->name, "refit after autolearning failed: %s", smf_strerror(rc));
    else
        log_msg(SMF_LOG_INFO, d->name,
                "refitted in %.1f s, %lu message(s) autolearned since the last refit", ms / 1000.0,
                since);
    return rc;
}

void autolearn_refit(generation_t *g)
{
    unsigned long now = atomic_load(&taught), before = atomic_load(&refitted);
    if (now == before || g->kv == NULL)
        return;
    /* smfctl learn refits itself when it is done: wait for the next round. */
    pthread_mutex_lock(&turn);
    int fd = learn_lock_try(g);
    refitting = fd >= 0;
    pthread_mutex_unlock(&turn);
    if (fd < 0)
        return;
    bool failed = false;
    for (size_t m = 0; m < g->conf->nmodules; m++)
        if (learner(g, m) && refit_possible(g, m) && !refit_switched_off(g, m))
            failed |= refit_one(g, m, now - before) != 0;
    /* A failed refit (a store error) is tried again at the next interval,
     * not only once something more is autolearned: the weights would
     * otherwise miss what was taught until then, however long that is. */
    if (!failed)
        atomic_store(&refitted, now);
    pthread_mutex_lock(&turn);
    refitting = false;
    close(fd);
    pthread_mutex_unlock(&turn);
}
