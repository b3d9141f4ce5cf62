/*
 * pattern.c - the pattern module: regex rules over subject, headers, text,
 * raw body, URLs and file names. Rules of one target are compiled into one
 * shared Hyperscan database; the few Hyperscan cannot take run on PCRE2.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "cache.h"
#include "reader.h"
#include "rules.h"

#include <smf/module.h>

#include <hs/hs.h>
#include <pcre2.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct pat_conf {
    const char *const *rules;
    long max_scan_bytes;
    const char *engine;
    int cache;
    const char *profile;
} pat_conf_t;

/* A rule Hyperscan refused, run with PCRE2 instead. */
typedef struct pat_pcre {
    size_t rule;
    pcre2_code *code;
} pat_pcre_t;

/* All rules reading one target (one header name counts as its own target). */
typedef struct pat_group {
    pat_target_t target;
    const char *header; /* For PAT_TARGET_HEADER; borrowed from the first rule. */
    size_t *hs_rules;   /* Hyperscan expression id -> rule index. */
    size_t hs_count;
    hs_database_t *db; /* NULL when no rule of the group compiled with Hyperscan. */
    pat_pcre_t *pcre;
    size_t pcre_count;
} pat_group_t;

/* Cost of one rule run alone, summed over the messages of a profile run. */
typedef struct pat_prof {
    uint64_t ns;
    uint64_t hits;
} pat_prof_t;

typedef struct pat_state {
    pat_ruleset_t rs;
    pat_group_t *groups;
    size_t group_count;
    hs_scratch_t *proto; /* Sized for every database; cloned per thread. */
    pcre2_match_context *mctx;
    size_t max_bytes;
    int pcre_only;     /* engine = "pcre2", or a CPU Hyperscan cannot run on. */
    pat_cache_t cache; /* cache.dir is "" when off. */
    size_t cache_hits, compiled;
    /* Profile mode: every rule again in a group of its own, timed alone. */
    pat_group_t *solo;
    pat_prof_t *prof;
    uint64_t prof_msgs, prof_bytes, prof_all_ns;
    char *profile;
} pat_state_t;

typedef struct pat_thread {
    hs_scratch_t *scratch;
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* The state's limits, with this thread's JIT stack. */
    pcre2_jit_stack *jit;
    unsigned char *hits;      /* One flag per rule, cleared per message. */
    unsigned char *solo_hits; /* The same for profile runs, kept apart from the verdict. */
    char *view;               /* A text as its reader sees it (reader.h). */
    size_t view_cap;
} pat_thread_t;

/* What the match callbacks need while one group scans. */
typedef struct pat_scan {
    smf_msg_t *msg;
    const pat_state_t *st;
    pat_thread_t *th;
    const pat_group_t *g;
    unsigned char *hits;
} pat_scan_t;

/* Bounds backtracking of PCRE2 rules, which Hyperscan's automata never need. */
#define PAT_PCRE_MATCH_LIMIT 200000u
/* Largest JIT stack a worker thread's PCRE2 matches may grow to. */
#define PAT_JIT_STACK_MAX (1024 * 1024)
/* Heap, in KiB, for the backtracking of a match the interpreter runs after
 * JIT ran out of stack. PCRE2's own bound is 20 GiB: a regex with many
 * captures took a gigabyte within the match limit. */
#define PAT_PCRE_HEAP_LIMIT (64u * 1024u)

static const smf_option_t pat_options[] = {
    {"rules", SMF_OPT_LIST, "{\"rules/default.rules\"}", offsetof(pat_conf_t, rules),
     "Rule files, relative to the configuration directory unless absolute."},
    {"max_scan_bytes", SMF_OPT_INT, "1048576", offsetof(pat_conf_t, max_scan_bytes),
     "Bytes of each text (body, raw body, header) scanned at most."},
    {"engine", SMF_OPT_STRING, "\"auto\"", offsetof(pat_conf_t, engine),
     "auto (Hyperscan, PCRE2 for what it cannot run), hyperscan (the same, but refuse a CPU "
     "Hyperscan cannot run on) or pcre2 (every rule on PCRE2)."},
    {"cache", SMF_OPT_BOOL, "true", offsetof(pat_conf_t, cache),
     "Keep compiled Hyperscan databases in DATA_DIR/pattern/cache for the next start."},
    {"profile", SMF_OPT_STRING, NULL, offsetof(pat_conf_t, profile),
     "When set, also run every rule alone, time it, and write the figures to this file at "
     "exit (slow: for measuring, not for mail)."},
    SMF_OPTIONS_END};

static unsigned pat_hs_flags(const pat_rule_t *r)
{
    unsigned f = HS_FLAG_SINGLEMATCH;

    if (r->flags & PAT_FLAG_CASELESS)
        f |= HS_FLAG_CASELESS;
    if (r->flags & PAT_FLAG_DOTALL)
        f |= HS_FLAG_DOTALL;
    if (r->flags & PAT_FLAG_MULTILINE)
        f |= HS_FLAG_MULTILINE;
    return f;
}

static uint32_t pat_pcre_flags(const pat_rule_t *r)
{
    uint32_t f = 0;

    if (r->flags & PAT_FLAG_CASELESS)
        f |= PCRE2_CASELESS;
    if (r->flags & PAT_FLAG_DOTALL)
        f |= PCRE2_DOTALL;
    if (r->flags & PAT_FLAG_MULTILINE)
        f |= PCRE2_MULTILINE;
    return f;
}

/* Finds or makes the group of a rule's target. */
static pat_group_t *pat_group_for(pat_state_t *st, const pat_rule_t *r)
{
    for (size_t i = 0; i < st->group_count; i++) {
        pat_group_t *g = &st->groups[i];
        if (g->target == r->target &&
            (r->target != PAT_TARGET_HEADER || strcasecmp(g->header, r->header) == 0))
            return g;
    }
    pat_group_t *n = realloc(st->groups, (st->group_count + 1) * sizeof(*n));
    if (n == NULL)
        return NULL;
    st->groups = n;
    n = &st->groups[st->group_count++];
    memset(n, 0, sizeof(*n));
    n->target = r->target;
    n->header = r->header;
    return n;
}

/*
 * Compiles a rule's regex. A regex may turn on UTF mode itself with (*UTF);
 * PCRE2 then refuses any subject that is not valid UTF-8, and mail is often
 * not (a Latin-1 HTML part, a raw body), so the rule would never apply. It
 * is compiled again to skip invalid sequences instead, as Hyperscan does.
 */
static pcre2_code *pat_pcre_compile(const pat_rule_t *r, int *errcode, PCRE2_SIZE *erroff)
{
    uint32_t flags = pat_pcre_flags(r), opts = 0;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)r->regex, PCRE2_ZERO_TERMINATED, flags, errcode, erroff, NULL);

    if (code == NULL || pcre2_pattern_info(code, PCRE2_INFO_ALLOPTIONS, &opts) != 0 ||
        !(opts & PCRE2_UTF))
        return code;
    pcre2_code_free(code);
    return pcre2_compile((PCRE2_SPTR)r->regex, PCRE2_ZERO_TERMINATED,
                         flags | PCRE2_MATCH_INVALID_UTF, errcode, erroff, NULL);
}

/*
 * Compiles one rule with PCRE2; a failure here is the rule's own fault.
 * hs_error says why Hyperscan does not run it; NULL when PCRE2 runs every rule.
 */
static int pat_add_pcre(smf_init_t *init, pat_state_t *st, pat_group_t *g, size_t idx,
                        const char *hs_error)
{
    const pat_rule_t *r = &st->rs.rules[idx];
    int errcode;
    PCRE2_SIZE erroff;
    PCRE2_UCHAR msg[256];
    pat_pcre_t *n;
    pcre2_code *code = pat_pcre_compile(r, &errcode, &erroff);

    if (code == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        smf_init_fail(init, "%s:%u: %s: bad regex: %s at offset %zu", r->file, r->line, r->name,
                      (const char *)msg, (size_t)erroff);
        return SMF_EINVAL;
    }
    n = realloc(g->pcre, (g->pcre_count + 1) * sizeof(*n));
    if (n == NULL) {
        pcre2_code_free(code);
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    g->pcre = n;
    g->pcre[g->pcre_count++] = (pat_pcre_t){idx, code};
    /* JIT is an optimisation: without it the rule still works, only slower. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    if (hs_error != NULL)
        smf_log(NULL, SMF_LOG_INFO, "%s:%u: %s: Hyperscan cannot compile it (%s); using PCRE2",
                r->file, r->line, r->name, hs_error);
    return 0;
}

/* Sorts each rule into its group, sending what Hyperscan rejects outright to PCRE2. */
static int pat_assign_rules(smf_init_t *init, pat_state_t *st)
{
    for (size_t i = 0; i < st->rs.count; i++) {
        const pat_rule_t *r = &st->rs.rules[i];
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *cerr = NULL;
        size_t *n;
        int rc;

        if (r->meta)
            continue;
        pat_group_t *g = pat_group_for(st, r);
        if (g == NULL || (n = realloc(g->hs_rules, (g->hs_count + 1) * sizeof(*n))) == NULL) {
            smf_init_fail(init, "out of memory");
            return SMF_ENOMEM;
        }
        g->hs_rules = n;
        if (st->pcre_only) {
            if ((rc = pat_add_pcre(init, st, g, i, NULL)) < 0)
                return rc;
            continue;
        }
        if (hs_expression_info(r->regex, pat_hs_flags(r), &info, &cerr) == HS_SUCCESS) {
            free(info);
            g->hs_rules[g->hs_count++] = i;
            continue;
        }
        rc = pat_add_pcre(init, st, g, i, cerr->message);
        hs_free_compile_error(cerr);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Drops expression k from the Hyperscan list of g and hands it to PCRE2. */
static int pat_demote(smf_init_t *init, pat_state_t *st, pat_group_t *g, size_t k, const char *why)
{
    size_t idx = g->hs_rules[k];

    memmove(&g->hs_rules[k], &g->hs_rules[k + 1], (g->hs_count - k - 1) * sizeof(size_t));
    g->hs_count--;
    return pat_add_pcre(init, st, g, idx, why);
}

/* Compiles the group's current Hyperscan list; a rule that fails only here is demoted. */
static int pat_compile_hs(smf_init_t *init, pat_state_t *st, pat_group_t *g)
{
    while (g->hs_count > 0) {
        const char **exprs = calloc(g->hs_count, sizeof(*exprs));
        unsigned *flags = calloc(g->hs_count, sizeof(*flags));
        unsigned *ids = calloc(g->hs_count, sizeof(*ids));
        hs_compile_error_t *cerr = NULL;
        hs_error_t err = HS_NOMEM;
        int rc = 0;

        if (exprs != NULL && flags != NULL && ids != NULL) {
            for (size_t k = 0; k < g->hs_count; k++) {
                exprs[k] = st->rs.rules[g->hs_rules[k]].regex;
                flags[k] = pat_hs_flags(&st->rs.rules[g->hs_rules[k]]);
                ids[k] = (unsigned)k;
            }
            err = hs_compile_multi(exprs, flags, ids, (unsigned)g->hs_count, HS_MODE_BLOCK, NULL,
                                   &g->db, &cerr);
        }
        free(exprs);
        free(flags);
        free(ids);
        if (err == HS_SUCCESS)
            break;
        if (cerr != NULL && cerr->expression >= 0) {
            rc = pat_demote(init, st, g, (size_t)cerr->expression, cerr->message);
        } else {
            smf_init_fail(init, "Hyperscan: %s", cerr != NULL ? cerr->message : "out of memory");
            rc = SMF_EFAIL;
        }
        hs_free_compile_error(cerr);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The cache key of a group: its Hyperscan expressions as they stand before compiling. */
static int pat_group_key(const pat_state_t *st, const pat_group_t *g, uint64_t *key)
{
    const char **exprs = calloc(g->hs_count, sizeof(*exprs));
    unsigned *flags = calloc(g->hs_count, sizeof(*flags));

    if (exprs == NULL || flags == NULL) {
        free(exprs);
        free(flags);
        return SMF_ENOMEM;
    }
    for (size_t k = 0; k < g->hs_count; k++) {
        exprs[k] = st->rs.rules[g->hs_rules[k]].regex;
        flags[k] = pat_hs_flags(&st->rs.rules[g->hs_rules[k]]);
    }
    *key = pat_cache_key(&st->cache, exprs, flags, g->hs_count);
    free(exprs);
    free(flags);
    return 0;
}

/* Takes a cached database; the rules it leaves out were demoted when it was built. */
static int pat_use_cached(smf_init_t *init, pat_state_t *st, pat_group_t *g, hs_database_t *db,
                          const unsigned *kept, size_t nkept)
{
    size_t n = g->hs_count;
    int rc = 0;

    g->db = db;
    /* From the end, so that the positions still to visit do not move. */
    for (size_t k = n; rc == 0 && k-- > 0;) {
        int in = 0;
        for (size_t j = 0; j < nkept && !in; j++)
            in = kept[j] == k;
        if (!in)
            rc = pat_demote(init, st, g, k, "refused when the cached database was built");
    }
    return rc;
}

/* Remembers the compiled database; positions are those of the list the key was made from. */
static void pat_store_cached(pat_state_t *st, const pat_group_t *g, const size_t *orig, size_t n,
                             uint64_t key)
{
    unsigned *kept = calloc(g->hs_count + 1, sizeof(*kept));
    size_t j = 0;

    if (kept == NULL)
        return;
    for (size_t k = 0; k < n && j < g->hs_count; k++) {
        if (orig[k] == g->hs_rules[j])
            kept[j++] = (unsigned)k;
    }
    if (pat_cache_store(&st->cache, key, g->db, kept, j) < 0)
        smf_log(NULL, SMF_LOG_WARN, "cannot write a database to the cache in %s", st->cache.dir);
    free(kept);
}

/* Loads the group's database from the cache when it holds one, else compiles and stores it. */
static int pat_build_group(smf_init_t *init, pat_state_t *st, pat_group_t *g)
{
    size_t n = g->hs_count, nkept = 0, *orig = NULL;
    unsigned *kept = NULL;
    hs_database_t *db = NULL;
    char path[4300];
    uint64_t key = 0;
    int rc, got = PAT_CACHE_MISS;

    if (st->cache.dir[0] != '\0') {
        if (pat_group_key(st, g, &key) < 0 || (orig = malloc(n * sizeof(*orig))) == NULL)
            return SMF_ENOMEM;
        memcpy(orig, g->hs_rules, n * sizeof(*orig));
        got = pat_cache_load(&st->cache, key, n, &db, &kept, &nkept, path, sizeof(path));
    }
    if (got == PAT_CACHE_HIT) {
        st->cache_hits++;
        smf_log(NULL, SMF_LOG_DEBUG, "cache hit: %s", path);
        rc = pat_use_cached(init, st, g, db, kept, nkept);
    } else {
        if (got == PAT_CACHE_DAMAGED)
            smf_log(NULL, SMF_LOG_WARN, "damaged cache file %s ignored; rebuilding it", path);
        st->compiled++;
        rc = pat_compile_hs(init, st, g);
        if (rc == 0 && g->db != NULL && orig != NULL)
            pat_store_cached(st, g, orig, n, key);
    }
    free(kept);
    free(orig);
    return rc;
}

/* Builds the group's database and grows the scratch prototype to fit it. */
static int pat_compile_group(smf_init_t *init, pat_state_t *st, pat_group_t *g)
{
    int rc = g->hs_count > 0 ? pat_build_group(init, st, g) : 0;

    if (rc < 0)
        return rc;
    if (g->db != NULL && hs_alloc_scratch(g->db, &st->proto) != HS_SUCCESS) {
        smf_init_fail(init, "Hyperscan: cannot allocate scratch");
        return SMF_ENOMEM;
    }
    return 0;
}

/* Solo groups borrow their PCRE2 code from the real groups: free only what they own. */
static void pat_free_solo(pat_state_t *st)
{
    for (size_t i = 0; st->solo != NULL && i < st->rs.count; i++) {
        hs_free_database(st->solo[i].db);
        free(st->solo[i].hs_rules);
        free(st->solo[i].pcre);
    }
    free(st->solo);
    free(st->prof);
    free(st->profile);
}

static void pat_free_state(pat_state_t *st)
{
    if (st == NULL)
        return;
    pat_free_solo(st);
    for (size_t i = 0; i < st->group_count; i++) {
        pat_group_t *g = &st->groups[i];
        hs_free_database(g->db);
        for (size_t k = 0; k < g->pcre_count; k++)
            pcre2_code_free(g->pcre[k].code);
        free(g->pcre);
        free(g->hs_rules);
    }
    free(st->groups);
    hs_free_scratch(st->proto);
    pcre2_match_context_free(st->mctx);
    pat_rules_free(&st->rs);
    free(st);
}

/* Loads every rule file, each relative to the configuration directory unless absolute. */
static int pat_load_files(smf_init_t *init, pat_state_t *st, const char *const *files)
{
    char path[4096], err[512];

    for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
        if (files[i][0] == '/')
            snprintf(path, sizeof(path), "%s", files[i]);
        else
            snprintf(path, sizeof(path), "%s/%s", smf_init_config_dir(init), files[i]);
        int rc = pat_rules_load(&st->rs, path, err, sizeof(err));
        if (rc < 0) {
            smf_init_fail(init, "%s", err);
            return rc;
        }
    }
    /* Metas may name rules of any file, so names resolve once all are read. */
    int rc = pat_rules_link(&st->rs, err, sizeof(err));
    if (rc < 0)
        smf_init_fail(init, "%s", err);
    return rc;
}

/* Where each rule runs: its Hyperscan group, or its PCRE2 code. */
static void pat_find_rule(const pat_state_t *st, size_t idx, int *on_hs, pcre2_code **code)
{
    *on_hs = 0;
    *code = NULL;
    for (size_t i = 0; i < st->group_count; i++) {
        const pat_group_t *g = &st->groups[i];
        for (size_t k = 0; k < g->hs_count; k++)
            *on_hs |= g->hs_rules[k] == idx;
        for (size_t k = 0; k < g->pcre_count; k++) {
            if (g->pcre[k].rule == idx)
                *code = g->pcre[k].code;
        }
    }
}

/* Gives one rule a group of its own, on the engine it runs on in the real groups. */
static int pat_make_solo(smf_init_t *init, pat_state_t *st, size_t idx)
{
    const pat_rule_t *r = &st->rs.rules[idx];
    pat_group_t *g = &st->solo[idx];
    hs_compile_error_t *cerr = NULL;
    pcre2_code *code;
    int on_hs;

    g->target = r->target;
    g->header = r->header;
    pat_find_rule(st, idx, &on_hs, &code);
    if (on_hs) {
        if ((g->hs_rules = malloc(sizeof(size_t))) == NULL)
            return SMF_ENOMEM;
        g->hs_rules[0] = idx;
        g->hs_count = 1;
        if (hs_compile(r->regex, pat_hs_flags(r), HS_MODE_BLOCK, NULL, &g->db, &cerr) !=
                HS_SUCCESS ||
            hs_alloc_scratch(g->db, &st->proto) != HS_SUCCESS) {
            smf_init_fail(init, "profile: %s: cannot compile it alone", r->name);
            hs_free_compile_error(cerr);
            return SMF_EFAIL;
        }
    } else if (code != NULL) {
        if ((g->pcre = malloc(sizeof(*g->pcre))) == NULL)
            return SMF_ENOMEM;
        g->pcre[0] = (pat_pcre_t){idx, code};
        g->pcre_count = 1;
    }
    return 0;
}

/* Profile mode: one group per rule, and counters for its time and hits. */
static int pat_init_profile(smf_init_t *init, pat_state_t *st, const char *path)
{
    int rc;

    st->solo = calloc(st->rs.count + 1, sizeof(*st->solo));
    st->prof = calloc(st->rs.count + 1, sizeof(*st->prof));
    st->profile = strdup(path);
    if (st->solo == NULL || st->prof == NULL || st->profile == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    for (size_t i = 0; i < st->rs.count; i++) {
        if ((rc = pat_make_solo(init, st, i)) < 0)
            return rc;
    }
    smf_log(NULL, SMF_LOG_WARN, "profile mode: every rule also runs alone; figures go to %s", path);
    return 0;
}

/* Chooses the engine: PCRE2 for every rule when asked, or when the CPU cannot run Hyperscan. */
static int pat_choose_engine(smf_init_t *init, pat_state_t *st, const char *engine)
{
    int hs_ok = hs_valid_platform() == HS_SUCCESS;

    if (strcmp(engine, "pcre2") == 0) {
        st->pcre_only = 1;
    } else if (strcmp(engine, "hyperscan") == 0 || strcmp(engine, "auto") == 0) {
        if (!hs_ok && engine[0] == 'h') {
            smf_init_fail(init, "engine = hyperscan, but this CPU cannot run Hyperscan");
            return SMF_ENOTSUP;
        }
        if (!hs_ok)
            smf_log(NULL, SMF_LOG_WARN, "this CPU cannot run Hyperscan: every rule runs on PCRE2");
        st->pcre_only = !hs_ok;
    } else {
        smf_init_fail(init, "engine must be auto, hyperscan or pcre2, not '%s'", engine);
        return SMF_EINVAL;
    }
    return 0;
}

/* Opens the database cache; without a usable folder the module compiles at every start. */
static void pat_open_cache(smf_init_t *init, pat_state_t *st, int wanted)
{
    char err[4400];

    st->cache.dir[0] = '\0';
    if (!wanted || st->pcre_only)
        return;
    if (pat_cache_open(&st->cache, smf_init_data_dir(init), err, sizeof(err)) < 0)
        smf_log(NULL, SMF_LOG_WARN, "database cache off: %s", err);
}

static double pat_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int pat_init(smf_init_t *init, const void *conf, void **state)
{
    const pat_conf_t *c = conf;
    pat_state_t *st = calloc(1, sizeof(*st));
    double t0 = pat_now_ms();
    int rc;

    if (st == NULL || (st->mctx = pcre2_match_context_create(NULL)) == NULL) {
        smf_init_fail(init, "out of memory");
        pat_free_state(st);
        return SMF_ENOMEM;
    }
    /* hs_scan() takes an unsigned int length. */
    if (c->max_scan_bytes <= 0 || c->max_scan_bytes > (1L << 30)) {
        smf_init_fail(init, "max_scan_bytes must be between 1 and 1073741824");
        pat_free_state(st);
        return SMF_EINVAL;
    }
    st->max_bytes = (size_t)c->max_scan_bytes;
    pcre2_set_match_limit(st->mctx, PAT_PCRE_MATCH_LIMIT);
    pcre2_set_heap_limit(st->mctx, PAT_PCRE_HEAP_LIMIT);
    if ((rc = pat_choose_engine(init, st, c->engine != NULL ? c->engine : "auto")) < 0 ||
        (rc = pat_load_files(init, st, c->rules)) < 0 || (rc = pat_assign_rules(init, st)) < 0) {
        pat_free_state(st);
        return rc;
    }
    pat_open_cache(init, st, c->cache);
    for (size_t i = 0; rc == 0 && i < st->group_count; i++)
        rc = pat_compile_group(init, st, &st->groups[i]);
    if (rc == 0 && c->profile != NULL && c->profile[0] != '\0')
        rc = pat_init_profile(init, st, c->profile);
    if (rc < 0) {
        pat_free_state(st);
        return rc;
    }
    smf_log(NULL, SMF_LOG_INFO,
            "%zu rules in %zu targets, engine %s; databases: %zu from cache, %zu compiled "
            "(%.1f ms)",
            st->rs.count, st->group_count, st->pcre_only ? "pcre2" : "hyperscan", st->cache_hits,
            st->compiled, pat_now_ms() - t0);
    *state = st;
    return 0;
}

/* Writes the profile: one line per rule, tab-separated, for smf-rules-profile to sort. */
static void pat_write_profile(const pat_state_t *st)
{
    FILE *f = fopen(st->profile, "w");

    if (f == NULL) {
        smf_log(NULL, SMF_LOG_ERROR, "profile: cannot write %s", st->profile);
        return;
    }
    fprintf(f, "#messages\t%llu\tbytes\t%llu\tall_rules_ns\t%llu\n",
            (unsigned long long)st->prof_msgs, (unsigned long long)st->prof_bytes,
            (unsigned long long)st->prof_all_ns);
    for (size_t i = 0; i < st->rs.count; i++) {
        const pat_rule_t *r = &st->rs.rules[i];
        if (r->meta)
            continue; /* Metas read other rules' results: they cost nothing to time. */
        fprintf(f, "%s\t%s%s%s\t%s\t%llu\t%llu\n", r->name, pat_target_name(r->target),
                r->header != NULL ? ":" : "", r->header != NULL ? r->header : "",
                st->solo[i].db != NULL ? "hyperscan" : "pcre2", (unsigned long long)st->prof[i].ns,
                (unsigned long long)st->prof[i].hits);
    }
    fclose(f);
}

static void pat_fini(void *state)
{
    pat_state_t *st = state;

    if (st != NULL && st->profile != NULL)
        pat_write_profile(st);
    pat_free_state(st);
}

static void pat_thread_fini(void *state, void *tstate)
{
    pat_thread_t *th = tstate;

    if (th == NULL)
        return;
    hs_free_scratch(th->scratch);
    pcre2_match_data_free(th->md);
    pcre2_match_context_free(th->mctx);
    pcre2_jit_stack_free(th->jit);
    free(th->hits);
    free(th->solo_hits);
    free(th->view);
    free(th);
}

static int pat_thread_init(void *state, void **tstate)
{
    const pat_state_t *st = state;
    pat_thread_t *th = calloc(1, sizeof(*th));

    if (th == NULL)
        return SMF_ENOMEM;
    th->hits = calloc(st->rs.count + 1, 1);
    th->solo_hits = calloc(st->rs.count + 1, 1);
    th->md = pcre2_match_data_create(1, NULL);
    /* JIT's default stack (32 KiB) runs out on long runs of tags that a
     * rule such as PAT_HTML_LINK_MISMATCH steps over; 1 MiB holds them. */
    th->mctx = pcre2_match_context_copy(st->mctx);
    th->jit = pcre2_jit_stack_create(32 * 1024, PAT_JIT_STACK_MAX, NULL);
    if (th->mctx != NULL && th->jit != NULL)
        pcre2_jit_stack_assign(th->mctx, NULL, th->jit);
    if (th->hits == NULL || th->solo_hits == NULL || th->md == NULL || th->mctx == NULL ||
        th->jit == NULL ||
        (st->proto != NULL && hs_clone_scratch(st->proto, &th->scratch) != HS_SUCCESS)) {
        pat_thread_fini(state, th);
        return SMF_ENOMEM;
    }
    *tstate = th;
    return 0;
}

static int pat_on_match(unsigned int id, unsigned long long from, unsigned long long to,
                        unsigned int flags, void *ctx)
{
    pat_scan_t *sc = ctx;

    sc->hits[sc->g->hs_rules[id]] = 1;
    return 0;
}

/*
 * Whether the message's deadline has passed. Checked before each text and
 * each PCRE2 rule: one of them costs at most milliseconds, but a large
 * message with many rules adds up to more than the time the scan has, and
 * a result after the deadline is not waited for.
 */
static int pat_late(const pat_scan_t *sc)
{
    return smf_msg_time_left_ms(sc->msg) <= 0;
}

/* Runs the group's rules over one text of at most max_bytes. */
static int pat_match_text(pat_scan_t *sc, const char *data, size_t len)
{
    const pat_group_t *g = sc->g;

    if (g->db != NULL) {
        hs_error_t err = hs_scan(g->db, data, (unsigned)len, 0, sc->th->scratch, pat_on_match, sc);
        if (err != HS_SUCCESS) {
            smf_log(sc->msg, SMF_LOG_ERROR, "hs_scan failed (%d)", (int)err);
            return SMF_EFAIL;
        }
    }
    for (size_t k = 0; k < g->pcre_count; k++) {
        const pat_pcre_t *p = &g->pcre[k];
        if (sc->hits[p->rule])
            continue;
        if (pat_late(sc))
            return SMF_ETIMEDOUT;
        int rc = pcre2_match(p->code, (PCRE2_SPTR)data, len, 0, 0, sc->th->md, sc->th->mctx);
        /* Past the JIT stack, try the interpreter: slower, but it gives the
         * same answer Hyperscan would, where JIT gave none. Past the match
         * limit it would only hit the limit again, at many times the cost. */
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(p->code, (PCRE2_SPTR)data, len, 0, PCRE2_NO_JIT, sc->th->md,
                             sc->th->mctx);
        if (rc >= 0) {
            sc->hits[p->rule] = 1;
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            /* Past the match limit too: the rule cannot say. A negated rule
             * must not fire on that, so it counts as matched. */
            smf_log(sc->msg, SMF_LOG_WARN, "%s: PCRE2 could not finish (%d); rule not applied",
                    sc->st->rs.rules[p->rule].name, rc);
            sc->hits[p->rule] = sc->st->rs.rules[p->rule].negate ? 1 : 0;
        }
    }
    return 0;
}

/* Whether a target is text a person reads, whose invisible characters hide words. */
static int pat_read_by_people(pat_target_t t)
{
    return t == PAT_TARGET_SUBJECT || t == PAT_TARGET_HEADER || t == PAT_TARGET_HEADERS ||
           t == PAT_TARGET_BODY;
}

/*
 * Runs the group's rules over one text, and over the text as its reader sees
 * it when that differs: a rule fires on either. Rules about the invisible
 * characters themselves still read them in the text as written.
 */
static int pat_match_item(pat_scan_t *sc, const char *data, size_t len)
{
    const char *view;
    int rc;

    if (pat_late(sc))
        return SMF_ETIMEDOUT;
    if (len > sc->st->max_bytes)
        len = sc->st->max_bytes;
    if ((rc = pat_match_text(sc, data, len)) < 0 || !pat_read_by_people(sc->g->target))
        return rc;
    if ((view = pat_reader_view(&sc->th->view, &sc->th->view_cap, data, &len)) == NULL)
        return 0;
    return pat_match_text(sc, view, len);
}

/* "Name: value\n" for every header, in the message arena. */
static const char *pat_join_headers(smf_msg_t *msg, size_t *len)
{
    size_t n = smf_msg_header_count(msg), total = 1, off = 0;
    const char *name, *value;
    char *buf;

    for (size_t i = 0; i < n; i++) {
        if (smf_msg_header_at(msg, i, &name, &value) == 0)
            total += strlen(name) + strlen(value) + 3;
    }
    if ((buf = smf_msg_alloc(msg, total)) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (smf_msg_header_at(msg, i, &name, &value) == 0)
            off += (size_t)snprintf(buf + off, total - off, "%s: %s\n", name, value);
    }
    buf[off] = '\0';
    *len = off;
    return buf;
}

/* The raw message after the header block and its blank line. */
static const char *pat_raw_body(const smf_msg_t *msg, size_t *len)
{
    size_t rawlen, hlen;
    const char *raw = smf_msg_raw(msg, &rawlen);

    (void)smf_msg_raw_headers(msg, &hlen);
    for (int nl = 0; hlen < rawlen && nl < 2; hlen++) {
        if (raw[hlen] == '\n')
            nl++;
        else if (raw[hlen] != '\r')
            break;
    }
    *len = hlen < rawlen ? rawlen - hlen : 0;
    return raw + (hlen < rawlen ? hlen : rawlen);
}

/* Scans a target made of several texts (header values, URLs, file names). */
static int pat_scan_list(pat_scan_t *sc)
{
    const char *s;
    int rc = 0;

    switch (sc->g->target) {
    case PAT_TARGET_SUBJECT:
        /* Every Subject: of two, some clients show the first, others the last. */
        for (size_t i = 0; rc == 0 && (s = smf_msg_header(sc->msg, "Subject", i)); i++)
            rc = pat_match_item(sc, s, strlen(s));
        return rc;
    case PAT_TARGET_HEADER:
        for (size_t i = 0; rc == 0 && (s = smf_msg_header(sc->msg, sc->g->header, i)); i++)
            rc = pat_match_item(sc, s, strlen(s));
        return rc;
    case PAT_TARGET_URL:
        for (size_t i = 0; rc == 0 && (s = smf_msg_url(sc->msg, i)) != NULL; i++)
            rc = pat_match_item(sc, s, strlen(s));
        return rc;
    case PAT_TARGET_FILENAME:
        /* Both of a part's names: a client may save it under its
         * Content-Type name= as well as its Content-Disposition filename=. */
        for (size_t i = 0; rc == 0 && i < smf_msg_part_count(sc->msg); i++) {
            const smf_part_t *p = smf_msg_part(sc->msg, i);
            if (p != NULL && p->filename[0] != '\0')
                rc = pat_match_item(sc, p->filename, strlen(p->filename));
            if (rc == 0 && p != NULL && p->other_filename[0] != '\0')
                rc = pat_match_item(sc, p->other_filename, strlen(p->other_filename));
        }
        return rc;
    case PAT_TARGET_HTML:
        /* The markup as the mail client renders it: base64 or quoted-printable
         * undone, which rawbody rules would have to see through. The parser
         * flags text/html parts and files a browser opens as HTML whatever
         * their type ("invoice.htm" as application/octet-stream). */
        for (size_t i = 0; rc == 0 && i < smf_msg_part_count(sc->msg); i++) {
            const smf_part_t *p = smf_msg_part(sc->msg, i);
            if (p != NULL && (p->flags & SMF_PART_HTML) && !(p->flags & SMF_PART_UNDECODED))
                rc = pat_match_item(sc, (const char *)p->data, p->size);
        }
        return rc;
    default:
        return SMF_EINVAL;
    }
}

static int pat_scan_group(pat_scan_t *sc)
{
    const char *text;
    size_t len = 0;

    switch (sc->g->target) {
    case PAT_TARGET_HEADERS:
        if ((text = pat_join_headers(sc->msg, &len)) == NULL)
            return SMF_ENOMEM;
        return pat_match_item(sc, text, len);
    case PAT_TARGET_BODY:
        text = smf_msg_text(sc->msg, &len);
        return pat_match_item(sc, text, len);
    case PAT_TARGET_RAWBODY:
        text = pat_raw_body(sc->msg, &len);
        return pat_match_item(sc, text, len);
    default:
        return pat_scan_list(sc);
    }
}

/*
 * Turns the hit flags into whether each rule fired (negate applied), adds
 * the meta rules, then reports symbols and forced verdicts.
 */
static int pat_report(smf_msg_t *msg, const pat_state_t *st, pat_thread_t *th)
{
    unsigned char *fired = th->hits;

    for (size_t i = 0; i < st->rs.count; i++)
        fired[i] = !fired[i] != !st->rs.rules[i].negate;
    pat_rules_eval_metas(&st->rs, fired);
    for (size_t i = 0; i < st->rs.count; i++) {
        const pat_rule_t *r = &st->rs.rules[i];
        int rc;

        if (!fired[i] || !pat_rule_has_symbol(r))
            continue;
        rc = smf_msg_add_symbol(msg, r->name, r->score, r->description);
        if (rc == 0 && r->verdict != 0)
            rc = smf_msg_set_verdict(msg, (smf_verdict_t)r->verdict, r->name);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static uint64_t pat_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Profile mode: runs each rule alone over its target and adds its time and
 * whether it fired to the shared counters. The state is otherwise read-only
 * during scans, so the counters only ever change by atomic adds.
 */
static int pat_profile_scan(smf_msg_t *msg, pat_state_t *st, pat_thread_t *th)
{
    pat_scan_t sc = {msg, st, th, NULL, th->solo_hits};
    size_t rawlen;

    memset(th->solo_hits, 0, st->rs.count);
    for (size_t i = 0; i < st->rs.count; i++) {
        if (st->rs.rules[i].meta)
            continue;
        uint64_t t0 = pat_now_ns();
        sc.g = &st->solo[i];
        int rc = pat_scan_group(&sc);
        if (rc < 0)
            return rc;
        __atomic_fetch_add(&st->prof[i].ns, pat_now_ns() - t0, __ATOMIC_RELAXED);
        if (!th->solo_hits[i] != !st->rs.rules[i].negate)
            __atomic_fetch_add(&st->prof[i].hits, 1, __ATOMIC_RELAXED);
    }
    (void)smf_msg_raw(msg, &rawlen);
    __atomic_fetch_add(&st->prof_msgs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->prof_bytes, (uint64_t)rawlen, __ATOMIC_RELAXED);
    return 0;
}

static int pat_scan(smf_msg_t *msg, void *state, void *tstate)
{
    pat_state_t *st = state;
    pat_thread_t *th = tstate;
    pat_scan_t sc = {msg, st, th, NULL, th->hits};
    uint64_t t0 = pat_now_ns();

    memset(th->hits, 0, st->rs.count);
    for (size_t i = 0; i < st->group_count; i++) {
        sc.g = &st->groups[i];
        int rc = pat_late(&sc) ? SMF_ETIMEDOUT : pat_scan_group(&sc);
        /* The rules of the targets not read cannot say, and a negate rule
         * would fire on a text it never saw: nothing is reported. */
        if (rc == SMF_ETIMEDOUT)
            smf_log(msg, SMF_LOG_WARN, "deadline passed after %zu of %zu targets; no rule applied",
                    i, st->group_count);
        if (rc < 0)
            return rc;
    }
    if (st->solo != NULL) {
        __atomic_fetch_add(&st->prof_all_ns, pat_now_ns() - t0, __ATOMIC_RELAXED);
        int rc = pat_profile_scan(msg, st, th);
        if (rc < 0)
            return rc;
    }
    return pat_report(msg, st, th);
}

/* Rules read the message alone, never its recipients: one scan serves every
 * recipient domain of a message. */
static const char *pat_scope(smf_msg_t *msg, void *state, void *tstate)
{
    (void)msg, (void)state, (void)tstate;
    return "";
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "pattern",
    .version = "0.1.0",
    .description = "Regex rules over headers, text, URLs and file names (Hyperscan, PCRE2)",
    .kind = SMF_KIND_CONTENT,
    .options = pat_options,
    .conf_size = sizeof(pat_conf_t),
    .init = pat_init,
    .fini = pat_fini,
    .thread_init = pat_thread_init,
    .thread_fini = pat_thread_fini,
    .scan = pat_scan,
    .scope = pat_scope,
};
