/*
 * scanctx.h - the engine side of smf_msg_t: what a stage reads and what it
 * reports, and the classification of each stage's outcome.
 *
 * One context serves one pipeline run (one recipient policy). Between
 * stages scanctx_stage() resets the per-stage fields, runs the module and
 * turns what it reported into one of four statuses.
 */
#ifndef SMF_SCANCTX_H
#define SMF_SCANCTX_H

#include "arena.h"
#include "kv.h"
#include "message.h"
#include "verdict.h"
#include "smf/module.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum stage_status {
    STAGE_CLEAN = 0,
    STAGE_DETECTED,
    STAGE_UNSCANNABLE,
    STAGE_ERROR,
    STAGE_SKIPPED
} stage_status_t;

const char *stage_status_name(stage_status_t s);

typedef struct symbol {
    const char *name;
    double score;
    const char *module;
    const char *detail; /* May be NULL. */
} symbol_t;

typedef struct added_header {
    const char *name;
    const char *value;
} added_header_t;

/* A note one stage leaves for the next (smf_msg_set_note). */
struct note {
    struct note *next;
    const char *key;
    const char *value;
};

/* A health problem a stage reported (smf_health). */
struct health_report {
    struct health_report *next;
    const char *module;
    const char *problem;
};

/*
 * What becomes of a module's reports (symbols, headers, notes, verdicts)
 * in the call now running. In scan() they are kept. In verdict() the
 * results are final: reports are ignored and the calls return 0, as the
 * kit's header says. In scope() they are refused with SMF_EPERM: a scope
 * is a question, and a module sharing code with its scan() should learn
 * that its report went nowhere.
 */
typedef enum reports { REPORTS_KEPT = 0, REPORTS_IGNORED, REPORTS_REFUSED } reports_t;

struct smf_msg {
    arena_t *arena;
    const message_t *m;
    const smf_envelope_t *env;
    const char *domain;
    int64_t deadline_ms;
    size_t arena_limit;
    size_t arena_given;
    kv_t *kv;

    /* The stage now running. */
    const char *module;
    smf_kind_t kind;
    unsigned dbi;
    unsigned char *scanned;
    const char *unscannable;
    soft_force_t force;
    const char *force_reason;
    bool positive;
    reports_t reports; /* Whether what the module reports now is kept. */
    const char *stage_virus;

    /* Accumulated over the run. */
    struct note *notes;           /* What stages left for later ones; a list in the arena. */
    struct health_report *health; /* Problems reported; job.c counts and publishes them. */
    symbol_t *symbols;
    size_t nsymbols, capsymbols;
    added_header_t *headers;
    size_t nheaders, capheaders;
};

void scanctx_init(smf_msg_t *x, arena_t *arena, const message_t *m, const smf_envelope_t *env,
                  const char *domain, int64_t deadline_ms, size_t arena_limit, kv_t *kv);

typedef struct stage_outcome {
    stage_status_t status;
    const char *detail; /* Why, for unscannable and error; NULL otherwise. */
    int rc;             /* What scan() returned. */
    double ms;
} stage_outcome_t;

/*
 * A stage's outcome and what it reported, kept to be given to another run
 * over the same message (another recipient domain) without scanning again.
 * Zeroed: nothing kept yet.
 */
typedef struct stage_memo {
    bool kept;
    stage_outcome_t outcome;
    const char *virus;
    soft_force_t force; /* A verdict it set, and why. */
    const char *force_reason;
    bool positive;
    symbol_t *symbols;
    size_t nsymbols;
    added_header_t *headers;
    size_t nheaders;
    struct note *notes;      /* The stage's own notes, newest first. */
    const char *scope;       /* What the module's scope() said; NULL for an antivirus stage. */
    struct stage_memo *next; /* The same module's result under another scope. */
} stage_memo_t;

/* Keeps what the stage that just ran reported after symbol sym0 and header
 * hdr0 of x, with its outcome o. */
void scanctx_memo_keep(const smf_msg_t *x, size_t sym0, size_t hdr0, const stage_outcome_t *o,
                       stage_memo_t *memo);

/* Reports on x what the kept stage reported, as if it had run there; its
 * outcome, with no time spent. */
stage_outcome_t scanctx_memo_replay(smf_msg_t *x, const smf_module_t *d, const stage_memo_t *memo);

/* Asks a module which recipient domains share its result on x (ABI 1.4
 * scope()); NULL when it has no scope() or says each domain is its own. */
const char *scanctx_scope(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate,
                          unsigned dbi);

/* Runs one module's scan() on the context and classifies the outcome. */
stage_outcome_t scanctx_stage(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate,
                              unsigned dbi);

/* Runs one module's learn() on the context, set up as for scanctx_stage();
 * returns what learn() returned, or SMF_ENOTSUP when it has none. */
int scanctx_learn(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate, unsigned dbi,
                  int klass, int delta);

/* Runs one module's fit() (ABI 1.3) on an empty context that carries its
 * store; returns what fit() returned, or SMF_ENOTSUP when it has none. */
int scanctx_fit(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate, unsigned dbi);

/* Tells one module the final verdict (its verdict(), ABI 1.2), set up as
 * for scanctx_stage(); nothing it reports reaches the reply. */
void scanctx_verdict(smf_msg_t *x, const smf_module_t *d, void *state, void *tstate, unsigned dbi,
                     const smf_final_t *final);

/* Names the module whose code runs next on this thread (outside scan(),
 * where smf_log has no message to take the name from); NULL after. */
void scanctx_set_module(const char *name);

/* Leaves a note under any key, for the engine and smf-modtest --note
 * (smf_msg_set_note checks the caller's name, then calls this). */
void scanctx_note(smf_msg_t *x, const char *key, const char *value);

/* Adds a symbol on behalf of the engine itself (module "smfd"). */
void scanctx_engine_symbol(smf_msg_t *x, const char *name, double score, const char *detail);

#endif
