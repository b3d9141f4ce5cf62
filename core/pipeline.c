/*
 * pipeline.c - running stages in policy order under the two-lane rules.
 */
#include "pipeline.h"
#include "clock.h"
#include "log.h"

#include <string.h>

typedef struct run {
    verdict_input_t in;
    bool soft_stopped;
    bool hard_stopped;
    const char *force_reason;
    const char *virus;
} run_t;

static stage_report_t *record(pipeline_result_t *out, const module_conf_t *mc, size_t index,
                              stage_status_t st, const char *detail, double ms)
{
    stage_report_t *r = &out->stages[out->nstages++];
    r->module = mc->name;
    r->index = index;
    r->status = st;
    r->detail = detail;
    r->ms = ms;
    r->replayed = false;
    return r;
}

/* Folds one stage's outcome into the run, by lane. */
static void fold(run_t *run, const module_conf_t *mc, smf_msg_t *x, const stage_outcome_t *o)
{
    if (mc->hard) {
        if (o->status == STAGE_ERROR)
            run->in.hard_error = true;
        else if (o->status == STAGE_DETECTED) {
            run->in.virus = true;
            run->virus = x->stage_virus;
            run->hard_stopped = true;
        } else if (o->status == STAGE_UNSCANNABLE)
            run->in.hard_unscannable = true;
        return;
    }
    if (o->status == STAGE_ERROR) {
        if (mc->on_error == ACTION_TEMPFAIL)
            run->in.soft_tempfail = true;
        return;
    }
    if (x->force != SOFT_NONE && run->in.force == SOFT_NONE) {
        run->in.force = x->force;
        run->force_reason = x->force_reason;
        /* A whitelist or blacklist answers the soft lane: the remaining
         * soft stages have nothing left to decide. */
        if (x->force == SOFT_ALLOW || x->force == SOFT_BLOCK)
            run->soft_stopped = true;
    }
}

static stage_outcome_t run_stage(generation_t *g, size_t worker, size_t mi, smf_msg_t *x)
{
    const module_conf_t *mc = &g->conf->modules[mi];
    const smf_module_t *d = mc->lib.desc;
    stage_outcome_t o = {STAGE_ERROR, NULL, SMF_EFAIL, 0};
    if (g->init_errors[mi] != NULL) {
        o.detail = g->init_errors[mi];
        return o;
    }
    if (smf_msg_time_left_ms(x) <= 0) {
        o.detail = "deadline passed before the stage ran";
        o.rc = SMF_ETIMEDOUT;
        return o;
    }
    void *tstate = NULL;
    if (generation_tstate(g, worker, mi, &tstate) != 0) {
        o.detail = "per-thread initialisation failed";
        return o;
    }
    size_t nsymbols = x->nsymbols, nheaders = x->nheaders;
    o = scanctx_stage(x, d, g->states[mi], tstate, g->dbis[mi]);
    /* A stage cannot be stopped mid-scan; one that overran its budget is
     * treated as timed out all the same, so that its result is not trusted
     * after the front end may have given up. A virus it found is the
     * exception: that result only holds the message back. */
    bool virus = o.status == STAGE_DETECTED && x->stage_virus != NULL;
    if (o.status != STAGE_ERROR && !virus && mc->timeout_ms > 0 && o.ms > (double)mc->timeout_ms) {
        o.status = STAGE_ERROR;
        o.rc = SMF_ETIMEDOUT;
        o.detail =
            arena_printf(x->arena, "took %.0f ms, over timeout_ms = %ld", o.ms, mc->timeout_ms);
    }
    /* So is an antivirus stage that ran past the request's deadline: the
     * stages after it did not run, and a message the deadline cut short
     * must not be accepted. */
    if (o.status != STAGE_ERROR && !virus && mc->hard && smf_msg_time_left_ms(x) <= 0) {
        o.status = STAGE_ERROR;
        o.rc = SMF_ETIMEDOUT;
        o.detail = arena_printf(x->arena, "took %.0f ms, past the request's deadline", o.ms);
    }
    if (o.status == STAGE_ERROR) {
        /* What a failed or overdue stage said is not trusted: its symbols
         * and headers go with its verdict. */
        x->nsymbols = nsymbols;
        x->nheaders = nheaders;
        log_msg(SMF_LOG_WARN, d->name, "%s: scan failed: %s", x->env->request_id,
                o.detail ? o.detail : smf_strerror(o.rc));
    }
    return o;
}

/* How many scopes of one stage a message keeps results for. */
#define MEMO_SCOPES_MAX 64

/*
 * The kept result a stage should give this run, or where to keep the one it
 * is about to find; NULL when the stage scans for this run alone. An
 * antivirus stage's result depends on the message alone, so a message with
 * recipients in several domains is scanned for viruses once; another stage
 * is scanned once per scope it names (ABI 1.4 scope(): "" for a stage
 * whose result no recipient domain changes).
 */
static stage_memo_t *memo_for(generation_t *g, size_t worker, size_t mi, smf_msg_t *x,
                              stage_memo_t *memos)
{
    const module_conf_t *mc = &g->conf->modules[mi];
    void *tstate;
    if (memos == NULL)
        return NULL;
    if (mc->hard)
        return &memos[mi];
    if (mc->lib.desc->scope == NULL || g->init_errors[mi] != NULL ||
        generation_tstate(g, worker, mi, &tstate) != 0)
        return NULL;
    const char *scope = scanctx_scope(x, mc->lib.desc, g->states[mi], tstate, g->dbis[mi]);
    if (scope == NULL)
        return NULL;
    stage_memo_t *m = &memos[mi];
    size_t kept = 0;
    if (m->scope != NULL) {
        while (strcmp(m->scope, scope) != 0) {
            /* A stage whose scopes keep differing shares nothing: past a few
             * dozen, a new one is scanned without being kept, so that ten
             * thousand domains cost no search of ten thousand scopes each. */
            if (++kept == MEMO_SCOPES_MAX)
                return NULL;
            if (m->next == NULL) {
                m = m->next = arena_calloc(x->arena, 1, sizeof(*m));
                break;
            }
            m = m->next;
        }
        if (m->scope != NULL)
            return m;
    }
    m->scope = arena_strdup(x->arena, scope);
    return m;
}

/* Runs a stage, or gives the outcome an earlier run of it over the same
 * message found under the same scope. */
static stage_outcome_t run_or_replay(generation_t *g, size_t worker, size_t mi, smf_msg_t *x,
                                     stage_memo_t *memos, bool *replayed)
{
    const module_conf_t *mc = &g->conf->modules[mi];
    stage_memo_t *memo = memo_for(g, worker, mi, x, memos);

    *replayed = memo != NULL && memo->kept;
    if (*replayed)
        return scanctx_memo_replay(x, mc->lib.desc, memo);
    size_t sym0 = x->nsymbols, hdr0 = x->nheaders;
    stage_outcome_t o = run_stage(g, worker, mi, x);
    if (memo != NULL)
        scanctx_memo_keep(x, sym0, hdr0, &o, memo);
    return o;
}

stage_memo_t *pipeline_memos(const generation_t *g, arena_t *arena)
{
    return arena_calloc(arena, g->conf->nmodules ? g->conf->nmodules : 1, sizeof(stage_memo_t));
}

static double sum_scores(const smf_msg_t *x)
{
    double s = 0;
    for (size_t i = 0; i < x->nsymbols; i++)
        s += x->symbols[i].score;
    return s;
}

static bool connect_kind(const module_conf_t *mc)
{
    smf_kind_t k = mc->lib.desc->kind;
    return k == SMF_KIND_LIST || k == SMF_KIND_REPUTATION;
}

static void run_stages(generation_t *g, size_t worker, const policy_t *pol, smf_direction_t dir,
                       const message_t *m, const smf_envelope_t *env, const char *domain,
                       arena_t *arena, int64_t deadline_ms, bool connect, stage_memo_t *memos,
                       pipeline_result_t *out);

void pipeline_run(generation_t *g, size_t worker, const policy_t *pol, smf_direction_t dir,
                  const message_t *m, const smf_envelope_t *env, const char *domain, arena_t *arena,
                  int64_t deadline_ms, stage_memo_t *memos, pipeline_result_t *out)
{
    run_stages(g, worker, pol, dir, m, env, domain, arena, deadline_ms, false, memos, out);
}

void pipeline_run_connect(generation_t *g, size_t worker, const policy_t *pol, smf_direction_t dir,
                          const message_t *empty, const smf_envelope_t *env, const char *domain,
                          arena_t *arena, int64_t deadline_ms, pipeline_result_t *out)
{
    run_stages(g, worker, pol, dir, empty, env, domain, arena, deadline_ms, true, NULL, out);
}

static void run_stages(generation_t *g, size_t worker, const policy_t *pol, smf_direction_t dir,
                       const message_t *m, const smf_envelope_t *env, const char *domain,
                       arena_t *arena, int64_t deadline_ms, bool connect, stage_memo_t *memos,
                       pipeline_result_t *out)
{
    const policy_dir_t *pd = &pol->dir[dir];
    /* The context lives in the arena: pipeline_notify() uses it again after
     * the verdict, and it dies with the request. */
    smf_msg_t *ctx = arena_alloc(arena, sizeof(*ctx));
    scanctx_init(ctx, arena, m, env, domain, deadline_ms, g->conf->arena_limit, g->kv);
    /* Tells stages apart a check before the message from a message that is empty. */
    if (connect)
        scanctx_note(ctx, "smfd.stage", "connect");
    /* The URL checks saw only the first URLs: said in the reasons, as a
     * cap on parts is, but without a score, since many links are no sign
     * of spam by themselves. */
    else if (m->urls_capped != NULL)
        scanctx_engine_symbol(ctx, "MSG_URL_LIMIT", 0, m->urls_capped);
    memset(out, 0, sizeof(*out));
    out->ctx = ctx;
    out->domain = domain;
    out->direction = dir;
    out->policy = pd;
    out->stages = arena_calloc(arena, pd->nstages ? pd->nstages : 1, sizeof(stage_report_t));
    run_t run = {0};
    for (size_t i = 0; i < pd->nstages; i++) {
        size_t mi = pd->stages[i];
        const module_conf_t *mc = &g->conf->modules[mi];
        if (connect && !connect_kind(mc))
            continue;
        if (run.hard_stopped || (run.soft_stopped && !mc->hard)) {
            record(out, mc, mi, STAGE_SKIPPED,
                   run.hard_stopped ? "virus found" : "whitelisted or blacklisted", 0);
            continue;
        }
        bool replayed;
        stage_outcome_t o = run_or_replay(g, worker, mi, ctx, memos, &replayed);
        if (o.status == STAGE_UNSCANNABLE && mc->hard)
            scanctx_engine_symbol(ctx, "AV_UNSCANNABLE", 0, o.detail);
        if (o.status == STAGE_ERROR && mc->hard)
            scanctx_engine_symbol(ctx, "AV_ERROR", 0, o.detail);
        record(out, mc, mi, o.status, o.detail, o.ms)->replayed = replayed;
        fold(&run, mc, ctx, &o);
    }
    run.in.score = sum_scores(ctx);
    out->verdict = verdict_merge(&run.in, &pd->rules);
    out->score = run.in.score;
    out->virus = run.virus;
    out->force_reason = run.force_reason;
    out->symbols = ctx->symbols;
    out->nsymbols = ctx->nsymbols;
    out->headers = ctx->headers;
    out->nheaders = ctx->nheaders;
}

void pipeline_notify(generation_t *g, size_t worker, pipeline_result_t *r, const smf_final_t *final)
{
    for (size_t i = 0; i < r->nstages; i++) {
        const stage_report_t *st = &r->stages[i];
        const smf_module_t *d = g->conf->modules[st->index].lib.desc;
        void *tstate;
        if (st->status == STAGE_SKIPPED || d->verdict == NULL ||
            g->init_errors[st->index] != NULL ||
            generation_tstate(g, worker, st->index, &tstate) != 0)
            continue;
        scanctx_verdict(r->ctx, d, g->states[st->index], tstate, g->dbis[st->index], final);
    }
}
