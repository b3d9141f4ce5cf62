/*
 * scanctx.c - the per-message calls of the module kit (smf_msg_*, smf_kv_*,
 * smf_log) and the classification of stage outcomes.
 */
#include "scanctx.h"
#include "clock.h"
#include "log.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const status_names[] = {"clean", "detected", "unscannable", "error", "skipped"};

const char *stage_status_name(stage_status_t s)
{
    return (unsigned)s <= STAGE_SKIPPED ? status_names[s] : "unknown";
}

void scanctx_init(smf_msg_t *x, arena_t *arena, const message_t *m, const smf_envelope_t *env,
                  const char *domain, int64_t deadline_ms, size_t arena_limit, kv_t *kv)
{
    memset(x, 0, sizeof(*x));
    x->arena = arena;
    x->m = m;
    x->env = env;
    x->domain = domain;
    x->deadline_ms = deadline_ms;
    x->arena_limit = arena_limit;
    x->kv = kv;
}

/* ---- reading ------------------------------------------------------ */

const smf_envelope_t *smf_msg_envelope(const smf_msg_t *msg)
{
    return msg->env;
}

const char *smf_msg_domain(const smf_msg_t *msg)
{
    return msg->domain;
}

long smf_msg_time_left_ms(const smf_msg_t *msg)
{
    int64_t left = msg->deadline_ms - clock_wall_ms();
    return left > 0 ? (long)left : 0;
}

/* Every output pointer of the reading calls may be NULL, as the kit's
 * header says: a module that wants only the bytes, or only a field's
 * value, passes NULL for the rest. */
const char *smf_msg_raw(const smf_msg_t *msg, size_t *len)
{
    if (len != NULL)
        *len = msg->m->raw_len;
    return msg->m->raw;
}

const char *smf_msg_raw_headers(const smf_msg_t *msg, size_t *len)
{
    if (len != NULL)
        *len = msg->m->header_len;
    return msg->m->raw;
}

size_t smf_msg_header_count(const smf_msg_t *msg)
{
    return msg->m->header_count;
}

int smf_msg_header_at(const smf_msg_t *msg, size_t i, const char **name, const char **value)
{
    if (i >= msg->m->header_count)
        return SMF_ENOENT;
    if (name != NULL)
        *name = msg->m->headers[i].name;
    if (value != NULL)
        *value = msg->m->headers[i].value;
    return 0;
}

const char *smf_msg_header(const smf_msg_t *msg, const char *name, size_t n)
{
    return name == NULL ? NULL : message_header(msg->m, name, n);
}

const char *smf_msg_text(const smf_msg_t *msg, size_t *len)
{
    if (len != NULL)
        *len = msg->m->text_len;
    return msg->m->text;
}

size_t smf_msg_part_count(const smf_msg_t *msg)
{
    return msg->m->part_count;
}

const smf_part_t *smf_msg_part(const smf_msg_t *msg, size_t i)
{
    return i < msg->m->part_count ? &msg->m->parts[i] : NULL;
}

const char *smf_msg_truncated(const smf_msg_t *msg)
{
    return msg->m->truncated;
}

size_t smf_msg_url_count(const smf_msg_t *msg)
{
    return msg->m->url_count;
}

const char *smf_msg_url(const smf_msg_t *msg, size_t i)
{
    return i < msg->m->url_count ? msg->m->urls[i] : NULL;
}

/* ---- reporting ---------------------------------------------------- */

/* Whether the call now running keeps what the module reports. */
static bool reports_kept(const smf_msg_t *x)
{
    return x->reports == REPORTS_KEPT;
}

/* What a reporting call returns when its report is not kept: 0 in
 * verdict(), SMF_EPERM in scope() (see reports_t). */
static int unkept_rc(const smf_msg_t *x)
{
    return x->reports == REPORTS_REFUSED ? SMF_EPERM : 0;
}

static symbol_t *find_symbol(smf_msg_t *x, const char *name)
{
    for (size_t i = 0; i < x->nsymbols; i++)
        if (strcmp(x->symbols[i].name, name) == 0)
            return &x->symbols[i];
    return NULL;
}

static void add_symbol(smf_msg_t *x, const char *name, double score, const char *module,
                       const char *detail)
{
    symbol_t *known = find_symbol(x, name);
    if (known != NULL) {
        if (score > known->score)
            known->score = score;
        return;
    }
    if (x->nsymbols == x->capsymbols) {
        size_t cap = x->capsymbols ? x->capsymbols * 2 : 16;
        symbol_t *s = arena_alloc(x->arena, cap * sizeof(symbol_t));
        if (x->nsymbols)
            memcpy(s, x->symbols, x->nsymbols * sizeof(symbol_t));
        x->symbols = s;
        x->capsymbols = cap;
    }
    symbol_t *s = &x->symbols[x->nsymbols++];
    s->name = arena_strdup(x->arena, name);
    s->score = score;
    s->module = module;
    s->detail = detail ? arena_strdup(x->arena, detail) : NULL;
}

/*
 * Counts n more bytes of the message arena against the module's cap; false
 * when that would pass it. What a module reports is copied into the arena
 * too, so the copies count like smf_msg_alloc(): otherwise a module adding
 * symbols with long details in a loop grows the arena without bound.
 */
static bool charge(smf_msg_t *x, size_t n)
{
    if (n > x->arena_limit - x->arena_given)
        return false;
    x->arena_given += n;
    return true;
}

/* Bytes the module may still have copied into the message arena. */
static size_t room_left(const smf_msg_t *x)
{
    return x->arena_limit - x->arena_given;
}

/* Bytes a copy of s takes, 0 for NULL. */
static size_t copy_size(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

static bool valid_symbol(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > SMF_SYMBOL_NAME_MAX)
        return false;
    for (; *name; name++)
        if (!(isupper((unsigned char)*name) || isdigit((unsigned char)*name) || *name == '_'))
            return false;
    return true;
}

int smf_msg_add_symbol(smf_msg_t *msg, const char *name, double score, const char *detail)
{
    if (!valid_symbol(name) || !isfinite(score))
        return SMF_EINVAL;
    /* After the verdict a symbol would change the reply already decided
     * (add_symbol raises a known one in place), and from scope() it would
     * reach runs it was never meant for. */
    if (!reports_kept(msg))
        return unkept_rc(msg);
    /* Room for the copies and for the symbol's slot in an array that grows
     * by doubling; a name added again is not copied again. */
    if (find_symbol(msg, name) == NULL &&
        !charge(msg, copy_size(name) + copy_size(detail) + 2 * sizeof(symbol_t)))
        return SMF_ENOMEM;
    /* A sum of scores near DBL_MAX would overflow to infinity, which no JSON
     * reply can carry: the score of one symbol stays within a range that
     * still says everything a policy can act on. */
    score = fmax(-SMF_SCORE_MAX, fmin(SMF_SCORE_MAX, score));
    add_symbol(msg, name, score, msg->module, detail);
    if (score > 0)
        msg->positive = true;
    return 0;
}

void scanctx_engine_symbol(smf_msg_t *x, const char *name, double score, const char *detail)
{
    add_symbol(x, name, score, "smfd", detail);
}

int smf_msg_set_verdict(smf_msg_t *msg, smf_verdict_t verdict, const char *reason)
{
    soft_force_t f;
    switch (verdict) {
    case SMF_VERDICT_ALLOW:
        if (msg->kind != SMF_KIND_LIST && msg->kind != SMF_KIND_REPUTATION)
            return SMF_EPERM;
        f = SOFT_ALLOW;
        break;
    case SMF_VERDICT_BLOCK:
        f = SOFT_BLOCK;
        break;
    case SMF_VERDICT_SPAM:
        f = SOFT_SPAM;
        break;
    default:
        return SMF_EINVAL;
    }
    if (msg->kind == SMF_KIND_ANTIVIRUS)
        return SMF_EPERM;
    if (!reports_kept(msg))
        return unkept_rc(msg);
    /* Within one stage a block beats an allow: the safer answer wins. */
    if (msg->force == SOFT_NONE || f == SOFT_BLOCK) {
        msg->force = f;
        /* Past the arena's cap the verdict still holds; only its reason,
         * copied again at every call, is left out. */
        msg->force_reason = reason != NULL && charge(msg, copy_size(reason))
                                ? arena_strdup(msg->arena, reason)
                                : "";
    }
    return 0;
}

int smf_msg_set_virus(smf_msg_t *msg, const char *name)
{
    if (msg->kind != SMF_KIND_ANTIVIRUS)
        return SMF_EPERM;
    if (name == NULL || *name == '\0')
        return SMF_EINVAL;
    if (!reports_kept(msg))
        return unkept_rc(msg);
    if (msg->stage_virus == NULL)
        msg->stage_virus = arena_strdup(msg->arena, name);
    return 0;
}

int smf_msg_set_unscannable(smf_msg_t *msg, const char *reason)
{
    if (reason == NULL)
        return SMF_EINVAL;
    if (!reports_kept(msg))
        return unkept_rc(msg);
    if (msg->unscannable == NULL)
        msg->unscannable = arena_strdup(msg->arena, reason);
    return 0;
}

int smf_msg_part_scanned(smf_msg_t *msg, size_t i)
{
    if (i >= msg->m->part_count)
        return SMF_ENOENT;
    if (!reports_kept(msg))
        return unkept_rc(msg);
    msg->scanned[i] = 1;
    return 0;
}

static bool valid_field_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++)
        if (*s <= 32 || *s >= 127 || *s == ':')
            return false;
    return true;
}

static void append_header(smf_msg_t *msg, const char *name, const char *value)
{
    if (msg->nheaders == msg->capheaders) {
        size_t cap = msg->capheaders ? msg->capheaders * 2 : 8;
        added_header_t *h = arena_alloc(msg->arena, cap * sizeof(*h));
        if (msg->nheaders)
            memcpy(h, msg->headers, msg->nheaders * sizeof(*h));
        msg->headers = h;
        msg->capheaders = cap;
    }
    msg->headers[msg->nheaders].name = arena_strdup(msg->arena, name);
    msg->headers[msg->nheaders].value = arena_strdup(msg->arena, value);
    msg->nheaders++;
}

int smf_msg_add_header(smf_msg_t *msg, const char *name, const char *value)
{
    if (!valid_field_name(name) || value == NULL || strpbrk(value, "\r\n") != NULL)
        return SMF_EINVAL;
    if (!reports_kept(msg))
        return unkept_rc(msg);
    if (!charge(msg, copy_size(name) + copy_size(value) + 2 * sizeof(added_header_t)))
        return SMF_ENOMEM;
    append_header(msg, name, value);
    return 0;
}

/* ---- notes between stages ----------------------------------------- */

int smf_msg_set_note(smf_msg_t *msg, const char *key, const char *value)
{
    if (key == NULL || value == NULL || msg->module == NULL)
        return SMF_EINVAL;
    size_t n = strlen(msg->module);
    if (strncmp(key, msg->module, n) != 0 || key[n] != '.' || key[n + 1] == '\0')
        return SMF_EPERM;
    /* Past the verdict, or in a scope() question, a note reaches no stage. */
    if (!reports_kept(msg))
        return unkept_rc(msg);
    if (!charge(msg, copy_size(key) + copy_size(value) + sizeof(struct note)))
        return SMF_ENOMEM;
    scanctx_note(msg, key, value);
    return 0;
}

void scanctx_note(smf_msg_t *msg, const char *key, const char *value)
{
    for (struct note *p = msg->notes; p != NULL; p = p->next) {
        if (strcmp(p->key, key) == 0) {
            p->value = arena_strdup(msg->arena, value);
            return;
        }
    }
    struct note *p = arena_alloc(msg->arena, sizeof(*p));
    p->key = arena_strdup(msg->arena, key);
    p->value = arena_strdup(msg->arena, value);
    p->next = msg->notes;
    msg->notes = p;
}

const char *smf_msg_note(const smf_msg_t *msg, const char *key)
{
    for (const struct note *p = key ? msg->notes : NULL; p != NULL; p = p->next)
        if (strcmp(p->key, key) == 0)
            return p->value;
    return NULL;
}

int smf_health(smf_msg_t *msg, const char *problem)
{
    if (problem == NULL || *problem == '\0' || msg->module == NULL)
        return SMF_EINVAL;
    if (!charge(msg, copy_size(problem) + sizeof(struct health_report)))
        return SMF_ENOMEM;
    struct health_report *h = arena_alloc(msg->arena, sizeof(*h));
    h->module = msg->module;
    h->problem = arena_strdup(msg->arena, problem);
    h->next = msg->health;
    msg->health = h;
    return 0;
}

/* ---- memory and storage ------------------------------------------- */

void *smf_msg_alloc(smf_msg_t *msg, size_t size)
{
    return charge(msg, size) ? arena_alloc(msg->arena, size) : NULL;
}

char *smf_msg_printf(smf_msg_t *msg, const char *fmt, ...)
{
    va_list ap, copy;
    va_start(ap, fmt);
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *p = n >= 0 ? smf_msg_alloc(msg, (size_t)n + 1) : NULL;
    if (p != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int smf_kv_get(smf_msg_t *msg, const void *key, size_t klen, const void **val, size_t *vlen)
{
    if (msg->kv == NULL || key == NULL || val == NULL || vlen == NULL)
        return msg->kv == NULL ? SMF_ENOTSUP : SMF_EINVAL;
    int rc = kv_get(msg->kv, msg->dbi, key, klen, msg->arena, room_left(msg), val, vlen);
    if (rc == 0)
        charge(msg, *vlen);
    return rc;
}

int smf_kv_put(smf_msg_t *msg, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (msg->kv == NULL || key == NULL || (val == NULL && vlen > 0))
        return msg->kv == NULL ? SMF_ENOTSUP : SMF_EINVAL;
    return kv_put(msg->kv, msg->dbi, key, klen, val, vlen);
}

int smf_kv_del(smf_msg_t *msg, const void *key, size_t klen)
{
    if (msg->kv == NULL || key == NULL)
        return msg->kv == NULL ? SMF_ENOTSUP : SMF_EINVAL;
    return kv_del(msg->kv, msg->dbi, key, klen);
}

int smf_kv_update(smf_msg_t *msg, const void *key, size_t klen,
                  int (*fn)(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen),
                  void *arg)
{
    if (msg->kv == NULL || key == NULL || fn == NULL)
        return msg->kv == NULL ? SMF_ENOTSUP : SMF_EINVAL;
    return kv_update(msg->kv, msg->dbi, key, klen, fn, arg);
}

int smf_kv_next(smf_msg_t *msg, const void *after, size_t alen, const void **key, size_t *klen,
                const void **val, size_t *vlen)
{
    if (msg->kv == NULL || key == NULL || klen == NULL || val == NULL || vlen == NULL)
        return msg->kv == NULL ? SMF_ENOTSUP : SMF_EINVAL;
    int rc =
        kv_next(msg->kv, msg->dbi, after, alen, msg->arena, room_left(msg), key, klen, val, vlen);
    if (rc == 0)
        charge(msg, *klen + *vlen);
    return rc;
}

/* How many store batches the core had open when it called the module on
 * this thread: the module's own must all be closed when it returns. */
static __thread int call_depth;

/* The module's batch is the one level above the core's: it may open one,
 * and commit or abort only its own. */
static bool module_batch_open(const smf_msg_t *msg)
{
    return kv_batch_depth(msg->kv) > call_depth;
}

int smf_kv_begin(smf_msg_t *msg)
{
    if (msg->kv == NULL)
        return SMF_ENOTSUP;
    return module_batch_open(msg) ? SMF_EINVAL : kv_batch_begin(msg->kv);
}

int smf_kv_commit(smf_msg_t *msg)
{
    if (msg->kv == NULL)
        return SMF_ENOTSUP;
    return module_batch_open(msg) ? kv_batch_commit(msg->kv) : SMF_EINVAL;
}

void smf_kv_abort(smf_msg_t *msg)
{
    if (msg->kv != NULL && module_batch_open(msg))
        kv_batch_abort(msg->kv);
}

/* A module must not leave a transaction open behind it: other writers
 * would wait for it forever. One left inside the core's own batch dooms
 * that too, since its writes can no longer be told apart. */
static void drop_open_batch(smf_msg_t *x, const smf_module_t *d)
{
    bool dropped = false;
    while (x->kv != NULL && kv_batch_depth(x->kv) > call_depth && kv_batch_abort(x->kv))
        dropped = true;
    if (dropped)
        log_msg(SMF_LOG_WARN, d->name, "left a key-value batch open; its writes were dropped");
}

/* The module scanning on this thread, for smf_log lines without a msg. */
static __thread const char *current_module;

void scanctx_set_module(const char *name)
{
    current_module = name;
}

void smf_log(smf_msg_t *msg, smf_log_level_t level, const char *fmt, ...)
{
    char subject[192];
    const char *mod = msg != NULL ? msg->module : current_module;
    if (msg != NULL && msg->env != NULL)
        snprintf(subject, sizeof(subject), "%s: %s", mod ? mod : "module", msg->env->request_id);
    else
        snprintf(subject, sizeof(subject), "%s", mod ? mod : "module");
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, subject, fmt, ap);
    va_end(ap);
}

/* ---- running a stage ---------------------------------------------- */

/* An antivirus stage is clean only if it accounted for every leaf part. */
static const char *coverage_gap(const smf_msg_t *x)
{
    if (x->m->truncated != NULL)
        return x->m->truncated;
    for (size_t i = 0; i < x->m->part_count; i++) {
        const smf_part_t *p = &x->m->parts[i];
        if (!(p->flags & (SMF_PART_MULTIPART | SMF_PART_MESSAGE)) && !x->scanned[i])
            return arena_printf(x->arena, "part %zu (%s) was not scanned", i, p->content_type);
    }
    return NULL;
}

/* Whether rc is one of the codes scan() may return: 0 or an SMF_E* code. */
static bool known_return(int rc)
{
    return rc == 0 || (rc <= SMF_EINVAL && rc >= SMF_EFAIL);
}

static stage_outcome_t classify(smf_msg_t *x, int rc)
{
    stage_outcome_t o = {STAGE_CLEAN, NULL, rc, 0};
    if (rc != 0 && x->stage_virus != NULL) {
        /* A virus found before the stage failed is still a virus: the
         * message is held as one instead of coming back on every retry of a
         * tempfail. The failure is logged. */
        log_msg(SMF_LOG_WARN, x->module, "%s: scan failed after finding %s: %s", x->env->request_id,
                x->stage_virus,
                known_return(rc) ? smf_strerror(rc) : "a return code the kit does not define");
        o.status = STAGE_DETECTED;
        o.detail = x->stage_virus;
    } else if (!known_return(rc)) {
        /* A module that returns 1 for "found something" or -1 for "failed"
         * must not pass as clean, nor fail without saying what it did. */
        o.status = STAGE_ERROR;
        o.detail =
            arena_printf(x->arena, "scan() returned %d, which is neither 0 nor an SMF_E* code", rc);
    } else if (rc < 0) {
        o.status = STAGE_ERROR;
        o.detail = smf_strerror(rc);
    } else if (x->stage_virus != NULL) {
        o.status = STAGE_DETECTED;
        o.detail = x->stage_virus;
    } else if (x->unscannable != NULL) {
        o.status = STAGE_UNSCANNABLE;
        o.detail = x->unscannable;
    } else if (x->kind == SMF_KIND_ANTIVIRUS && (o.detail = coverage_gap(x)) != NULL) {
        o.status = STAGE_UNSCANNABLE;
    } else if (x->force != SOFT_NONE || x->positive) {
        o.status = STAGE_DETECTED;
        o.detail = x->force_reason;
    }
    return o;
}

static void enter_stage(smf_msg_t *x, const smf_module_t *d, unsigned dbi)
{
    call_depth = x->kv != NULL ? kv_batch_depth(x->kv) : 0;
    x->module = d->name;
    x->kind = d->kind;
    x->dbi = dbi;
    x->scanned = arena_calloc(x->arena, x->m->part_count ? x->m->part_count : 1, 1);
    x->unscannable = NULL;
    x->force = SOFT_NONE;
    x->force_reason = NULL;
    x->positive = false;
    x->stage_virus = NULL;
}

/* Around a module call outside scan(): the stage's state, the module's
 * name for smf_log, and no store batch left open after it. */
static void enter_call(smf_msg_t *x, const smf_module_t *d, unsigned dbi)
{
    enter_stage(x, d, dbi);
    current_module = d->name;
}

static void leave_call(smf_msg_t *x, const smf_module_t *d)
{
    current_module = NULL;
    drop_open_batch(x, d);
}

int scanctx_learn(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate, unsigned dbi,
                  int klass, int delta)
{
    if (d->learn == NULL)
        return SMF_ENOTSUP;
    enter_call(x, d, dbi);
    int rc = d->learn(x, state, tstate, klass, delta);
    leave_call(x, d);
    return rc;
}

int scanctx_fit(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate, unsigned dbi)
{
    if (d->fit == NULL)
        return SMF_ENOTSUP;
    enter_call(x, d, dbi);
    int rc = d->fit(x, state, tstate);
    leave_call(x, d);
    return rc;
}

void scanctx_verdict(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate, unsigned dbi,
                     const smf_final_t *final)
{
    if (d->verdict == NULL)
        return;
    /* What a module reports from here is ignored: the reply is decided. */
    enter_call(x, d, dbi);
    x->reports = REPORTS_IGNORED;
    d->verdict(x, state, tstate, final);
    x->reports = REPORTS_KEPT;
    leave_call(x, d);
}

void scanctx_memo_keep(const smf_msg_t *x, size_t sym0, size_t hdr0, const stage_outcome_t *o,
                       stage_memo_t *memo)
{
    memo->kept = true;
    memo->outcome = *o;
    memo->virus = x->stage_virus;
    memo->force = x->force;
    memo->force_reason = x->force_reason;
    memo->positive = x->positive;
    /* Copies, in the request's arena, which every run over the message
     * uses: later stages of this run may still change the originals. */
    memo->nsymbols = x->nsymbols > sym0 ? x->nsymbols - sym0 : 0;
    memo->symbols = arena_alloc(x->arena, (memo->nsymbols + 1) * sizeof(symbol_t));
    if (memo->nsymbols > 0)
        memcpy(memo->symbols, x->symbols + sym0, memo->nsymbols * sizeof(symbol_t));
    memo->nheaders = x->nheaders > hdr0 ? x->nheaders - hdr0 : 0;
    memo->headers = arena_alloc(x->arena, (memo->nheaders + 1) * sizeof(added_header_t));
    if (memo->nheaders > 0)
        memcpy(memo->headers, x->headers + hdr0, memo->nheaders * sizeof(added_header_t));
    memo->notes = x->notes;
}

stage_outcome_t scanctx_memo_replay(smf_msg_t *x, const smf_module_t *d, const stage_memo_t *memo)
{
    size_t n = strlen(d->name);
    stage_outcome_t o = memo->outcome;

    enter_stage(x, d, 0);
    for (size_t i = 0; i < memo->nsymbols; i++) {
        const symbol_t *sym = &memo->symbols[i];
        add_symbol(x, sym->name, sym->score, sym->module, sym->detail);
    }
    for (size_t i = 0; i < memo->nheaders; i++)
        append_header(x, memo->headers[i].name, memo->headers[i].value);
    for (const struct note *p = memo->notes; p != NULL; p = p->next)
        if (strncmp(p->key, d->name, n) == 0 && p->key[n] == '.')
            scanctx_note(x, p->key, p->value);
    x->stage_virus = memo->virus;
    x->force = memo->force;
    x->force_reason = memo->force_reason;
    x->positive = memo->positive;
    o.ms = 0;
    return o;
}

const char *scanctx_scope(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate,
                          unsigned dbi)
{
    if (d->scope == NULL)
        return NULL;
    /* A scope is a question, and nothing it reports may reach the run. */
    enter_call(x, d, dbi);
    x->reports = REPORTS_REFUSED;
    const char *s = d->scope(x, state, tstate);
    x->reports = REPORTS_KEPT;
    leave_call(x, d);
    return s;
}

stage_outcome_t scanctx_stage(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate,
                              unsigned dbi)
{
    enter_stage(x, d, dbi);
    current_module = d->name;
    double t0 = clock_mono_ms();
    int rc = d->scan(x, state, tstate);
    double t1 = clock_mono_ms();
    current_module = NULL;
    drop_open_batch(x, d);
    stage_outcome_t o = classify(x, rc);
    o.ms = t1 - t0;
    return o;
}
