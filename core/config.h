/*
 * config.h - the engine's configuration (libconfuse), with the modules it
 * names opened and their options filled.
 *
 * Loading happens in two passes. The first reads the core's own settings,
 * skipping module sections, to learn module_dir and which modules to load.
 * The modules are then opened, and the second pass reads the whole file
 * again with every module's option table, strictly, so that a misspelt
 * option anywhere is an error that names the file and line.
 *
 * A config_t is immutable once loaded; a reload builds a new one.
 */
#ifndef SMF_CONFIG_H
#define SMF_CONFIG_H

#include "action.h"
#include "arena.h"
#include "curve.h"
#include "message.h"
#include "modload.h"
#include "privdrop.h"
#include "verdict.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct module_conf {
    const char *name; /* The descriptor's name. */
    modload_t lib;    /* The opened shared object. */
    bool hard;        /* Antivirus kind: hard lane, non-overridable. */
    bool enabled;
    action_t on_error; /* accept or tempfail, for soft stages. */
    long timeout_ms;   /* 0: bounded only by the message's deadline. */
    void *conf;        /* The filled option struct, conf_size bytes. */
} module_conf_t;

typedef struct policy_dir {
    policy_rules_t rules;
    size_t nstages;
    size_t *stages; /* Indices into config_t.modules, in run order. */
    const char *reject_text;
} policy_dir_t;

typedef struct policy {
    const char *domain;   /* Lower case; "default" for the fallback policy. */
    policy_dir_t dir[2];  /* Indexed by smf_direction_t. */
    const char *delivery; /* SMTP target that released mail goes to, "[host]:port". */
} policy_t;

typedef struct config {
    arena_t *mem; /* Everything below lives here. */
    const char *path;
    const char *dir; /* Directory of the file, for relative paths. */

    const char *listen;
    const char *publish;
    long workers; /* Resolved: never 0. */
    const char *data_dir;
    const char *quarantine_dir;
    const char *module_dir;
    privdrop_user_t user; /* `user`, resolved at load; name "" when smfd stays as started. */
    int log_level;
    message_limits_t limits;
    size_t arena_limit;
    long default_timeout_ms;
    size_t max_queued;              /* Requests that may wait for a worker. */
    size_t max_queued_size;         /* Bytes they may hold (one always fits). */
    long quarantine_retention_days; /* Entries older are purged; 0 keeps them forever. */
    size_t quarantine_map_size;     /* Bytes a domain's store may hold. */
    bool autolearn;                 /* Teach classifiers from confident verdicts. */
    double autolearn_spam_score;    /* At least this (learners' own points left out): spam. */
    double autolearn_ham_score;     /* At most this: ham. */
    long autolearn_refit_s;         /* Refit after autolearning at most this often; 0 never. */
    curve_conf_t curve;             /* CURVE keys and allowed clients; curve.enabled false: off. */
    size_t nreload_watch;
    const char **reload_watch; /* Absolute paths smfd polls; a change reloads. */

    size_t nmodules;
    module_conf_t *modules;

    policy_t defpol;
    size_t npolicies;
    policy_t *policies;
} config_t;

/*
 * Loads `path`, applying `overrides` ("name=value" for top-level settings,
 * as with smfd -o) after the file. Returns 0, or -1 with a message in err
 * that names the file, the line when there is one, and what to do.
 */
int config_load(const char *path, char *const *overrides, size_t noverrides, config_t **out,
                char *err, size_t errlen);
/*
 * Reads only the core's own settings (the first pass): no module is opened
 * and no section is checked, so nothing of a module runs. smfd starts with
 * this, to learn its endpoints, directories and user before it may load
 * modules. Returns as config_load does; the result has no modules.
 */
int config_load_core(const char *path, char *const *overrides, size_t noverrides, config_t **out,
                     char *err, size_t errlen);
/* Closes the modules and frees everything; nulls *cp. */
void config_free(config_t **cp);

/* Whether any policy, default or a domain's, in either direction, runs
 * module mi among its stages: a module none runs never scans. */
bool config_module_staged(const config_t *c, size_t mi);
/* A module's boolean option by name, as configured: false when the module
 * has no such option (*value is then left alone). */
bool config_module_bool(const module_conf_t *m, const char *name, bool *value);
/* The policy for a recipient domain (lower case), or the default one. */
const policy_t *config_policy(const config_t *c, const char *domain);

/*
 * Module option tables, shared with smf-modtest: parses `text` (lines of
 * "name = value", may be "") against the module's options and fills a new
 * option struct allocated from `mem`. Returns 0 or -1 with err set.
 */
int config_module_options(const smf_module_t *d, const char *text, arena_t *mem, void **conf,
                          char *err, size_t errlen);

#endif
