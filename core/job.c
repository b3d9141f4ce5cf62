/*
 * job.c - turning one scan request into its verdict.
 */
#include "job.h"
#include "autolearn.h"
#include "clock.h"
#include "jsontext.h"
#include "log.h"
#include "message.h"
#include "pipeline.h"
#include "quarantine.h"
#include "stats.h"
#include "xalloc.h"

#include <glib.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- ids ---------------------------------------------------------- */

/* Sortable: milliseconds since the epoch, then a process-wide counter. */
static void make_id(char *buf, size_t len)
{
    static atomic_uint counter;
    unsigned n = atomic_fetch_add(&counter, 1);
    snprintf(buf, len, "%012llx%08x", (unsigned long long)clock_wall_ms(), n);
}

/* ---- recipients by domain ----------------------------------------- */

typedef struct group {
    const char *domain;
    const char **rcpt;
    size_t *index; /* Where each of rcpt is in the request's recipients. */
    size_t n;
    smf_envelope_t env;
    pipeline_result_t result;
} group_t;

/*
 * One group per recipient domain, in the order the domains first appear.
 * Counted first and then filled, with a hash of the domains seen, so that
 * ten thousand recipients in as many domains cost linear time and memory
 * (a recipient array per group sized for every recipient would not).
 */
static size_t group_recipients(arena_t *a, const smf_envelope_t *env, group_t **out)
{
    group_t *g = arena_calloc(a, env->rcpt_count, sizeof(group_t));
    size_t *which = arena_calloc(a, env->rcpt_count ? env->rcpt_count : 1, sizeof(size_t));
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    size_t ng = 0;
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const char *d = protocol_rcpt_domain(a, env->rcpt[i]);
        gpointer k;
        if (!g_hash_table_lookup_extended(seen, d, NULL, &k)) {
            k = GSIZE_TO_POINTER(ng);
            g[ng++].domain = d;
            g_hash_table_insert(seen, (gpointer)d, k);
        }
        which[i] = GPOINTER_TO_SIZE(k);
        g[which[i]].n++;
    }
    g_hash_table_destroy(seen);
    for (size_t k = 0; k < ng; k++) {
        g[k].rcpt = arena_calloc(a, g[k].n + 1, sizeof(char *));
        g[k].index = arena_calloc(a, g[k].n, sizeof(size_t));
        g[k].n = 0;
    }
    for (size_t i = 0; i < env->rcpt_count; i++) {
        group_t *w = &g[which[i]];
        w->index[w->n] = i;
        w->rcpt[w->n++] = env->rcpt[i];
    }
    for (size_t k = 0; k < ng; k++) {
        g[k].env = *env;
        g[k].env.rcpt = g[k].rcpt;
        g[k].env.rcpt_count = g[k].n;
    }
    *out = g;
    return ng;
}

/* ---- JSON pieces -------------------------------------------------- */

static json_t *symbols_json(const pipeline_result_t *r, bool details)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->nsymbols; i++) {
        const symbol_t *s = &r->symbols[i];
        json_t *o = json_pack("{s:o, s:f, s:s}", "name", jsontext_new(s->name), "score", s->score,
                              "module", s->module ? s->module : "");
        if (details && s->detail != NULL)
            json_object_set_new(o, "detail", jsontext_new(s->detail));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *stages_json(const pipeline_result_t *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->nstages; i++) {
        const stage_report_t *s = &r->stages[i];
        json_t *o = json_pack("{s:s, s:s, s:f}", "module", s->module, "status",
                              stage_status_name(s->status), "ms", s->ms);
        if (s->detail != NULL && *s->detail)
            json_object_set_new(o, "detail", jsontext_new(s->detail));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *string_array(const char *const *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, jsontext_new(v[i]));
    return arr;
}

/* ---- the verdict -------------------------------------------------- */

typedef struct outcome {
    action_t action;
    double score;
    const char *virus;
    group_t *decider; /* The group whose verdict is the final one. */
    const char *quarantine_id;
    bool store_failed;
    /* Split (protocol_request_t.split): the message goes to the domains
     * whose policies deliver, and only the recipients of those that
     * quarantine are dropped, dropped[0..ndropped) as request indexes. */
    bool split;
    size_t *dropped, ndropped;
    double queued_ms; /* How long the request waited for a worker. */
} outcome_t;

/* Whether a group's policy delivers the message (with or without headers). */
static bool delivers(const group_t *g)
{
    return g->result.verdict.action <= ACTION_ADD_HEADER;
}

/* What happened to one group's recipients: the outcome's action, or, when
 * the message was split, quarantine for a group that does not deliver. */
static action_t final_action(const outcome_t *o, const group_t *g)
{
    return o->split && !delivers(g) ? ACTION_QUARANTINE : o->action;
}

static void smtp_reply(const outcome_t *o, json_t *reply)
{
    int code = 250;
    const char *dsn = "2.0.0", *text = "Ok";
    char buf[512];
    const pipeline_result_t *r = o->decider ? &o->decider->result : NULL;
    if (o->action == ACTION_TEMPFAIL) {
        code = 451;
        dsn = "4.7.1";
        text = o->store_failed ? "Cannot store the message right now, try again later"
               : r && r->verdict.hard == ACTION_TEMPFAIL
                   ? "Virus scanning is unavailable, try again later"
                   : "Temporary failure, try again later";
    } else if (o->action == ACTION_REJECT) {
        code = 550;
        dsn = "5.7.1";
        if (o->virus != NULL) {
            snprintf(buf, sizeof(buf), "Message contains a virus (%s)", o->virus);
            text = buf;
        } else if (r && r->verdict.soft == ACTION_REJECT && r->force_reason && *r->force_reason) {
            snprintf(buf, sizeof(buf), "Message refused: %s", r->force_reason);
            text = buf;
        } else {
            text = r && r->policy->reject_text ? r->policy->reject_text : "Message rejected";
        }
    }
    /* The text is cut to 512 bytes, maybe inside a character, and a module's
     * reason may not be UTF-8 at all; JSON would refuse it and the reply go
     * out without its smtp object. */
    char *text8 = g_utf8_make_valid(text, -1);
    json_object_set_new(reply, "smtp",
                        json_pack("{s:i, s:s, s:s}", "code", code, "dsn", dsn, "text", text8));
    g_free(text8);
}

static json_t *headers_json(const outcome_t *o)
{
    json_t *arr = json_array();
    if (o->action > ACTION_ADD_HEADER || o->decider == NULL)
        return arr;
    const pipeline_result_t *r = &o->decider->result;
    char status[128];
    snprintf(status, sizeof(status), "%s, score=%.2f",
             o->action == ACTION_ADD_HEADER ? "spam" : "clean", o->score);
    json_array_append_new(arr, json_pack("{s:s, s:s}", "name", "X-SMF-Status", "value", status));
    if (o->action == ACTION_ADD_HEADER)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", "X-Spam-Flag", "value", "YES"));
    for (size_t i = 0; i < r->nheaders; i++)
        json_array_append_new(arr, json_pack("{s:o, s:o}", "name", jsontext_new(r->headers[i].name),
                                             "value", jsontext_new(r->headers[i].value)));
    return arr;
}

static json_t *verdict_object(const char *id, const char *request_id, const outcome_t *o,
                              const group_t *g, size_t ng, double elapsed)
{
    const pipeline_result_t *r = &o->decider->result;
    json_t *reply =
        json_pack("{s:i, s:s, s:s, s:s, s:f}", "schema", PROTOCOL_SCHEMA, "request_id", request_id,
                  "id", id, "action", action_name(o->action), "score", o->score);
    json_object_set_new(reply, "virus", jsontext_new(o->virus));
    json_object_set_new(reply, "quarantine_id",
                        o->quarantine_id ? json_string(o->quarantine_id) : json_null());
    if (o->split) {
        json_t *dropped = json_array();
        for (size_t i = 0; i < o->ndropped; i++)
            json_array_append_new(dropped, json_integer((json_int_t)o->dropped[i]));
        json_object_set_new(reply, "quarantined_recipients", dropped);
    }
    smtp_reply(o, reply);
    json_object_set_new(reply, "symbols", symbols_json(r, true));
    json_object_set_new(reply, "headers", headers_json(o));
    json_object_set_new(reply, "stages", stages_json(r));
    json_t *domains = json_array();
    for (size_t k = 0; k < ng; k++)
        json_array_append_new(domains,
                              json_pack("{s:o, s:s, s:f}", "domain", jsontext_new(g[k].domain),
                                        "action", action_name(g[k].result.verdict.action), "score",
                                        g[k].result.score));
    json_object_set_new(reply, "domains", domains);
    json_object_set_new(reply, "elapsed_ms", json_real(elapsed));
    json_object_set_new(reply, "queued_ms", json_real(o->queued_ms));
    return reply;
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    return s;
}

static char *verdict_json(const char *id, const char *request_id, const outcome_t *o,
                          const group_t *g, size_t ng, double elapsed)
{
    return dump(verdict_object(id, request_id, o, g, ng, elapsed));
}

static void add_event(job_result_t *out, char *topic, json_t *body)
{
    out->events = xrealloc(out->events, (out->nevents + 1) * sizeof(job_event_t));
    out->events[out->nevents].topic = topic;
    out->events[out->nevents].json = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    out->nevents++;
    json_decref(body);
}

static void verdict_events(job_result_t *out, const char *id, const smf_envelope_t *env,
                           const group_t *g, size_t ng, const outcome_t *o)
{
    const char *dir = env->direction == SMF_DIR_OUTBOUND ? "outbound" : "inbound";
    for (size_t k = 0; k < ng; k++) {
        const pipeline_result_t *r = &g[k].result;
        char topic[320];
        snprintf(topic, sizeof(topic), "verdict.%s.%s", dir, g[k].domain);
        json_t *ev = json_pack(
            "{s:i, s:s, s:I, s:s, s:o, s:s, s:o, s:s, s:f, s:o, s:o}", "schema", PROTOCOL_SCHEMA,
            "type", "verdict", "time", (json_int_t)clock_wall_ms(), "id", id, "request_id",
            jsontext_new(env->request_id), "direction", dir, "domain", jsontext_new(g[k].domain),
            "action", action_name(final_action(o, &g[k])), "score", r->score, "client_ip",
            jsontext_new(env->client_ip), "sender", jsontext_new(env->sender));
        json_object_set_new(ev, "domain_action", json_string(action_name(r->verdict.action)));
        json_object_set_new(ev, "virus", jsontext_new(r->virus));
        bool stored = o->quarantine_id && (!o->split || !delivers(&g[k]));
        json_object_set_new(ev, "quarantine_id",
                            stored ? json_string(o->quarantine_id) : json_null());
        json_object_set_new(ev, "recipients", string_array(g[k].rcpt, g[k].n));
        json_object_set_new(ev, "symbols", symbols_json(r, false));
        add_event(out, xstrdup(topic), ev);
    }
}

/* ---- statistics and health ---------------------------------------- */

/* Counts a pipeline run's stages, and turns the health problems its stages
 * reported into a log line and an event, at most once a minute each. */
static void count_run(const pipeline_result_t *r, job_result_t *out)
{
    stats_stages(r->stages, r->nstages);
    int64_t now = clock_wall_ms();
    for (const struct health_report *h = r->ctx->health; h != NULL; h = h->next) {
        uint64_t count;
        if (!stats_health(h->module, h->problem, now, &count))
            continue;
        log_msg(SMF_LOG_WARN, h->module, "health: %s (reported %llu time(s))", h->problem,
                (unsigned long long)count);
        char topic[96];
        snprintf(topic, sizeof(topic), "health.%s", h->module);
        add_event(out, xstrdup(topic),
                  json_pack("{s:i, s:s, s:I, s:o, s:o, s:I}", "schema", PROTOCOL_SCHEMA, "type",
                            "health", "time", (json_int_t)now, "module", jsontext_new(h->module),
                            "problem", jsontext_new(h->problem), "count", (json_int_t)count));
    }
}

/* ---- quarantine --------------------------------------------------- */

static char *quarantine_meta(const group_t *g, const outcome_t *o, const char *reason)
{
    const smf_envelope_t *env = &g->env;
    /* Each text is made by jsontext_new(): one that json_pack() refused
     * would lose the whole record, and the message with it. */
    json_t *m = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:f}", "request_id",
        jsontext_new(env->request_id), "queue_id", jsontext_new(env->queue_id), "client_ip",
        jsontext_new(env->client_ip), "helo", jsontext_new(env->helo), "sender",
        jsontext_new(env->sender), "auth_user", jsontext_new(env->auth_user), "direction",
        env->direction == SMF_DIR_OUTBOUND ? "outbound" : "inbound", "domain",
        jsontext_new(g->domain), "reason", jsontext_new(reason), "score", g->result.score);
    json_object_set_new(m, "recipients", string_array(g->rcpt, g->n));
    json_object_set_new(m, "virus", jsontext_new(o->virus));
    json_object_set_new(m, "symbols", symbols_json(&g->result, true));
    json_object_set_new(m, "state", json_string("quarantined"));
    char *s = json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(m);
    return s;
}

static const char *reason_text(arena_t *a, const group_t *g, const outcome_t *o)
{
    if (o->virus)
        return arena_printf(a, "virus %s", o->virus);
    const pipeline_result_t *r = &g->result;
    /* "score 17.40: ...", or what decided before the score: "spam, score ...". */
    char *s = strcmp(r->verdict.why, "score") == 0
                  ? arena_printf(a, "score %.2f", r->score)
                  : arena_printf(a, "%s, score %.2f", r->verdict.why, r->score);
    for (size_t i = 0; i < r->nsymbols && i < 5; i++)
        s = arena_printf(a, "%s%s%s", s, i ? " " : ": ", r->symbols[i].name);
    return s;
}

/*
 * The groups as the quarantine keeps them: one per folder. Recipient domains
 * that cannot name a folder all go to the one for invalid domains, and an id
 * is stored once per folder, so such groups share one copy that holds all
 * their recipients. Folders are found by hash and each shared copy's
 * recipients are gathered in one array, sized first: ten thousand invalid
 * domains cost linear time and memory. Returns how many groups out holds
 * (room for ng).
 */
static size_t folder_groups(arena_t *a, const group_t *g, size_t ng, group_t *out)
{
    char(*names)[256] = arena_calloc(a, ng, 256);
    size_t *folder = arena_calloc(a, ng, sizeof(size_t));
    size_t *merged = arena_calloc(a, ng, sizeof(size_t));
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    size_t n = 0;
    for (size_t k = 0; k < ng; k++) {
        quarantine_domain_name(g[k].domain, names[k]);
        gpointer v;
        if (g_hash_table_lookup_extended(seen, names[k], NULL, &v)) {
            folder[k] = GPOINTER_TO_SIZE(v);
            out[folder[k]].n += g[k].n;
        } else {
            folder[k] = n;
            out[n++] = g[k];
            g_hash_table_insert(seen, names[k], GSIZE_TO_POINTER(folder[k]));
        }
        merged[folder[k]]++;
    }
    g_hash_table_destroy(seen);
    size_t *filled = arena_calloc(a, n ? n : 1, sizeof(size_t));
    for (size_t j = 0; j < n; j++) {
        if (merged[j] < 2)
            continue;
        out[j].rcpt = arena_calloc(a, out[j].n + 1, sizeof(char *));
        out[j].env.rcpt = out[j].rcpt;
        out[j].env.rcpt_count = out[j].n;
    }
    for (size_t k = 0; k < ng; k++) {
        size_t j = folder[k];
        if (merged[j] < 2)
            continue;
        memcpy(out[j].rcpt + filled[j], g[k].rcpt, g[k].n * sizeof(char *));
        filled[j] += g[k].n;
    }
    return n;
}

/* Stores one copy per recipient domain, each with only its recipients,
 * and returns only after the copies are durable. */
static int store(const job_ctx_t *ctx, arena_t *a, const message_t *m, const char *id,
                 const group_t *groups, size_t ngroups, outcome_t *o, job_result_t *out)
{
    group_t *g = arena_calloc(a, ngroups, sizeof(*g));
    size_t ng = folder_groups(a, groups, ngroups, g);
    quarantine_item_t *items = arena_calloc(a, ng, sizeof(*items));
    char **metas = arena_calloc(a, ng, sizeof(char *));
    int64_t now = clock_wall_ms();
    for (size_t k = 0; k < ng; k++) {
        metas[k] = quarantine_meta(&g[k], o, reason_text(a, &g[k], o));
        items[k] = (quarantine_item_t){g[k].domain, id, now, metas[k], m->raw, m->raw_len};
    }
    char err[256] = "";
    int rc = quarantine_store(ctx->quarantine, items, ng, err, sizeof(err));
    for (size_t k = 0; k < ng; k++) {
        if (rc == 0) {
            /* Named by its folder, as the events of later changes to the copy
             * are: a copy of invalid domains is _invalid_'s. */
            char folder[256], topic[300];
            quarantine_domain_name(g[k].domain, folder);
            snprintf(topic, sizeof(topic), "quarantine.%s", folder);
            json_t *ev = json_loads(metas[k], 0, NULL);
            json_object_set_new(ev, "domain", json_string(folder));
            json_object_set_new(ev, "schema", json_integer(PROTOCOL_SCHEMA));
            json_object_set_new(ev, "type", json_string("stored"));
            json_object_set_new(ev, "id", json_string(id));
            json_object_set_new(ev, "time", json_integer(now));
            json_object_set_new(ev, "size", json_integer((json_int_t)m->raw_len));
            json_object_del(ev, "symbols");
            add_event(out, xstrdup(topic), ev);
        }
        free(metas[k]);
    }
    if (rc != 0)
        log_error("%s: quarantine store failed, answering tempfail: %s", id, err);
    return rc;
}

/* ---- the job ------------------------------------------------------ */

static void error_reply(job_result_t *out, const char *rid, const char *code, const char *why)
{
    out->kind = "ERROR";
    out->request_id = xstrdup(rid ? rid : "");
    out->json = protocol_error_json(out->request_id, code, why);
    log_warn("request %s refused: %s: %s", out->request_id[0] ? out->request_id : "(no id)", code,
             why);
}

static bool frame_is(const frame_t *f, const char *s)
{
    return f->size == strlen(s) && memcmp(f->data, s, f->size) == 0;
}

static void pong(const job_ctx_t *ctx, const char *rid, job_result_t *out)
{
    json_t *o = json_pack("{s:i, s:s, s:I, s:I}", "schema", PROTOCOL_SCHEMA, "version", SMF_VERSION,
                          "generation", (json_int_t)ctx->gen->id, "workers",
                          (json_int_t)ctx->gen->nworkers);
    out->kind = "PONG";
    out->request_id = xstrdup(rid);
    out->json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
}

void job_stats(unsigned long generation, size_t nworkers, const char *rid, long in_flight,
               job_result_t *out)
{
    memset(out, 0, sizeof(*out));
    json_t *o = stats_json();
    json_object_set_new(o, "version", json_string(SMF_VERSION));
    json_object_set_new(o, "generation", json_integer((json_int_t)generation));
    json_object_set_new(o, "workers", json_integer((json_int_t)nworkers));
    if (in_flight >= 0)
        json_object_set_new(json_object_get(o, "queue"), "in_flight",
                            json_integer((json_int_t)in_flight));
    out->kind = "STATS";
    out->request_id = xstrdup(rid);
    out->json = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
}

static void log_line(const char *id, const smf_envelope_t *env, const outcome_t *o, double elapsed)
{
    char syms[512] = "";
    const pipeline_result_t *r = o->decider ? &o->decider->result : NULL;
    for (size_t i = 0; r != NULL && i < r->nsymbols && strlen(syms) < 400; i++)
        snprintf(syms + strlen(syms), sizeof(syms) - strlen(syms), "%s%s(%.2f)", i ? "," : "",
                 r->symbols[i].name, r->symbols[i].score);
    char rcpts[512] = "";
    for (size_t i = 0; i < env->rcpt_count && strlen(rcpts) < 400; i++)
        snprintf(rcpts + strlen(rcpts), sizeof(rcpts) - strlen(rcpts), "%s%s", i ? "," : "",
                 env->rcpt[i]);
    char split[96] = "";
    if (o->split)
        snprintf(split, sizeof(split), " quarantine=%s dropped=%zu", o->quarantine_id, o->ndropped);
    log_info("%s: request=%s client=%s from=<%s> to=<%s> action=%s score=%.2f%s%s%s "
             "symbols=[%s] ms=%.2f queued_ms=%.0f",
             id, env->request_id, env->client_ip[0] ? env->client_ip : "-", env->sender, rcpts,
             action_name(o->action), o->score, o->virus ? " virus=" : "", o->virus ? o->virus : "",
             split, syms, elapsed, o->queued_ms);
}

static void expired(const job_ctx_t *ctx, const char *id, const smf_envelope_t *env,
                    job_result_t *out, double elapsed)
{
    group_t g = {.domain = "", .env = *env};
    symbol_t s = {"SMF_DEADLINE_EXPIRED", 0, "smfd",
                  "the request's deadline passed before it was scanned"};
    g.result.symbols = &s;
    g.result.nsymbols = 1;
    g.result.verdict.action = ACTION_TEMPFAIL;
    g.result.verdict.why = "deadline";
    outcome_t o = {.action = ACTION_TEMPFAIL, .decider = &g, .queued_ms = ctx->queued_ms};
    out->kind = "VERDICT";
    out->json = verdict_json(id, env->request_id, &o, &g, 0, elapsed);
    log_line(id, env, &o, elapsed);
}

/* Adds one group to an outcome over recipient domains: the most severe
 * action, the highest score, the first virus. */
static void merge_group(outcome_t *o, group_t *g)
{
    const pipeline_result_t *r = &g->result;
    bool first = o->decider == NULL;
    if (first || r->verdict.action > o->action ||
        (r->verdict.action == o->action && r->score > o->score)) {
        o->action = r->verdict.action;
        o->decider = g;
    }
    if (first || r->score > o->score)
        o->score = r->score;
    if (r->virus && !o->virus)
        o->virus = r->virus;
}

static void merge_groups(outcome_t *o, group_t *g, size_t ng)
{
    for (size_t k = 0; k < ng; k++)
        merge_group(o, &g[k]);
}

/*
 * A quarantine the front end can split: the domains whose policies deliver
 * get the message, with the verdict of the most severe among them, and the
 * others' recipients are dropped, their copies kept. *o becomes what the
 * front end is told; *q the groups to store, *nq how many. False, with
 * nothing changed, when every domain quarantines, or when the antivirus
 * lane did not pass the message for some domain (a virus, content it
 * could not scan): that judges the message, not a domain's taste, and no
 * policy delivers it; this only keeps it that way.
 */
static bool split_quarantine(arena_t *a, group_t *g, size_t ng, outcome_t *o, group_t **q,
                             size_t *nq)
{
    outcome_t d = {.queued_ms = o->queued_ms};
    group_t *kept = arena_calloc(a, ng, sizeof(*kept));
    size_t nk = 0, ndropped = 0;
    for (size_t k = 0; k < ng; k++) {
        if (o->virus != NULL || g[k].result.verdict.hard != ACTION_ACCEPT)
            return false;
        if (delivers(&g[k])) {
            merge_group(&d, &g[k]);
        } else {
            kept[nk++] = g[k];
            ndropped += g[k].n;
        }
    }
    if (d.decider == NULL)
        return false;
    d.split = true;
    d.dropped = arena_calloc(a, ndropped, sizeof(size_t));
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < kept[k].n; i++)
            d.dropped[d.ndropped++] = kept[k].index[i];
    *o = d;
    *q = kept;
    *nq = nk;
    return true;
}

/*
 * Stores a message some domain quarantines, and says so in *reply (a copy
 * of *o): as a split when the request allows it, else for every domain.
 * A store that fails makes both tempfail: nothing is delivered that the
 * quarantine should have kept.
 */
static void quarantine(const job_ctx_t *ctx, arena_t *a, const message_t *m, const char *id,
                       bool can_split, group_t *g, size_t ng, outcome_t *o, outcome_t *reply,
                       job_result_t *out)
{
    group_t *kept = g;
    size_t nk = ng;
    *reply = *o;
    if (can_split)
        split_quarantine(a, g, ng, reply, &kept, &nk);
    if (store(ctx, a, m, id, kept, nk, o, out) == 0) {
        o->quarantine_id = reply->quarantine_id = id;
        return;
    }
    o->action = ACTION_TEMPFAIL;
    o->store_failed = true;
    *reply = *o;
}

static void scan(const job_ctx_t *ctx, arena_t *a, const smf_envelope_t *env,
                 const protocol_request_t *req, const frame_t *raw, job_result_t *out, double t0)
{
    const config_t *c = ctx->gen->conf;
    char id[32];
    make_id(id, sizeof(id));
    int64_t deadline = req->deadline_ms;
    /* At the deadline itself no time is left: every stage would find it
     * passed (smf_msg_time_left_ms() is 0), so nothing is scanned. */
    if (clock_wall_ms() >= deadline) {
        expired(ctx, id, env, out, clock_mono_ms() - t0);
        return;
    }
    message_t *m;
    message_parse(a, raw->data, raw->size, &c->limits, &m);
    group_t *g;
    size_t ng = group_recipients(a, env, &g);
    /* Only a second recipient domain has a use for the first one's scan. */
    stage_memo_t *memos = ng > 1 ? pipeline_memos(ctx->gen, a) : NULL;
    for (size_t k = 0; k < ng; k++)
        pipeline_run(ctx->gen, ctx->worker, config_policy(c, g[k].domain), env->direction, m,
                     &g[k].env, g[k].domain, a, deadline, memos, &g[k].result);
    /* o is the message's outcome over all domains, which autolearn judges;
     * reply what the front end is told (they differ when it is split). */
    outcome_t o = {.queued_ms = ctx->queued_ms};
    merge_groups(&o, g, ng);
    outcome_t reply = o;
    out->kind = "VERDICT";
    if (o.action == ACTION_QUARANTINE && ctx->quarantine != NULL)
        quarantine(ctx, a, m, id, req->split, g, ng, &o, &reply, out);
    for (size_t k = 0; k < ng; k++) {
        smf_final_t final = {(int)final_action(&reply, &g[k]), g[k].result.score, reply.virus};
        pipeline_notify(ctx->gen, ctx->worker, &g[k].result, &final);
        count_run(&g[k].result, out);
    }
    if (o.decider != NULL)
        autolearn_consider(ctx->gen, ctx->worker, &o.decider->result, o.action, o.virus, id);
    double elapsed = clock_mono_ms() - t0;
    stats_message(o.action, elapsed);
    out->json = verdict_json(id, env->request_id, &reply, g, ng, elapsed);
    verdict_events(out, id, env, g, ng, &reply);
    log_line(id, env, &reply, elapsed);
}

/*
 * The connection stage: list and reputation stages over an empty message.
 * Only reject and tempfail are final here; anything milder means "go on",
 * since the message itself has not been seen.
 */
static void connect_check(const job_ctx_t *ctx, arena_t *a, const smf_envelope_t *env,
                          int64_t deadline, job_result_t *out, double t0)
{
    const config_t *c = ctx->gen->conf;
    char id[32];
    make_id(id, sizeof(id));
    /* As for a scan: an answer past the deadline is useless, and one from
     * stages that all timed out at once would say accept; at the deadline
     * itself they would all time out. */
    if (clock_wall_ms() >= deadline) {
        expired(ctx, id, env, out, clock_mono_ms() - t0);
        return;
    }
    message_t *empty;
    message_parse(a, "", 0, &c->limits, &empty);
    group_t one = {.domain = "", .env = *env}, *g = &one;
    size_t ng = env->rcpt_count > 0 ? group_recipients(a, env, &g) : 1;
    for (size_t k = 0; k < ng; k++)
        pipeline_run_connect(ctx->gen, ctx->worker, config_policy(c, g[k].domain), env->direction,
                             empty, &g[k].env, g[k].domain, a, deadline, &g[k].result);
    outcome_t o = {.queued_ms = ctx->queued_ms};
    merge_groups(&o, g, ng);
    if (o.action < ACTION_TEMPFAIL)
        o.action = ACTION_ACCEPT;
    /* A stage's health problems count here as at a scan: a DNS list that
     * refuses the resolver says so first at the connection stage. */
    for (size_t k = 0; k < ng; k++)
        count_run(&g[k].result, out);
    double elapsed = clock_mono_ms() - t0;
    json_t *reply = verdict_object(id, env->request_id, &o, g, ng, elapsed);
    json_object_set_new(reply, "stage", json_string("connect"));
    out->kind = "VERDICT";
    out->json = dump(reply);
    log_line(id, env, &o, elapsed);
}

/* SCAN and CONNECT: frame count, size, envelope, deadline, then the work. */
static void request(const job_ctx_t *ctx, arena_t *a, const char *rid, const frame_t *f, size_t nf,
                    bool is_scan, job_result_t *out, double t0)
{
    const config_t *c = ctx->gen->conf;
    smf_envelope_t env;
    protocol_request_t req;
    const char *why = NULL;
    if (nf != (is_scan ? 5u : 4u))
        error_reply(out, rid, PERR_FRAMES, "SCAN takes 5 frames, CONNECT 4, PING and STATS 3");
    else if (is_scan && f[4].size > c->limits.max_size)
        error_reply(out, rid, PERR_TOO_LARGE, "the message is larger than max_message_size");
    else if (protocol_parse_envelope(a, &f[3], rid, is_scan, &env, &req, ctx->arrived_ms, &why) !=
             0)
        error_reply(out, rid, PERR_ENVELOPE, why);
    else {
        out->request_id = xstrdup(rid);
        if (req.deadline_ms == 0)
            req.deadline_ms = ctx->arrived_ms + c->default_timeout_ms;
        if (is_scan)
            scan(ctx, a, &env, &req, &f[4], out, t0);
        else
            connect_check(ctx, a, &env, req.deadline_ms, out, t0);
    }
}

void job_run(const job_ctx_t *ctx, const frame_t *f, size_t nf, job_result_t *out)
{
    double t0 = clock_mono_ms();
    memset(out, 0, sizeof(*out));
    arena_t *a = arena_new(16384);
    const char *rid = nf >= 3 ? protocol_request_id(a, &f[2]) : NULL;
    if (nf < 3)
        error_reply(out, "", PERR_FRAMES, "a request has at least 3 frames: version, command, id");
    else if (!frame_is(&f[0], PROTOCOL_VERSION))
        error_reply(out, rid, PERR_VERSION, "frame 0 must be SMF/1");
    else if (rid == NULL)
        error_reply(out, "", PERR_FRAMES, "the request id must be 1 to 128 printable bytes");
    else if (frame_is(&f[1], "PING") && nf == 3)
        pong(ctx, rid, out);
    else if (frame_is(&f[1], "STATS") && nf == 3)
        job_stats(ctx->gen->id, ctx->gen->nworkers, rid, -1, out);
    else if (frame_is(&f[1], "PING") || frame_is(&f[1], "STATS"))
        error_reply(out, rid, PERR_FRAMES, "SCAN takes 5 frames, CONNECT 4, PING and STATS 3");
    else if (frame_is(&f[1], "SCAN") || frame_is(&f[1], "CONNECT"))
        request(ctx, a, rid, f, nf, frame_is(&f[1], "SCAN"), out, t0);
    else
        error_reply(out, rid, PERR_COMMAND, "frame 1 must be SCAN, CONNECT, PING or STATS");
    arena_destroy(&a);
}

void job_result_free(job_result_t *r)
{
    free(r->request_id);
    free(r->json);
    for (size_t i = 0; i < r->nevents; i++) {
        free(r->events[i].topic);
        free(r->events[i].json);
    }
    free(r->events);
    memset(r, 0, sizeof(*r));
}
