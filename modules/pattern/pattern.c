/*
 * pattern.c - the pattern module: regex rules over subject, headers, text,
 * raw body, URLs and file names. Rules of one target are compiled into one
 * shared Hyperscan database; the few Hyperscan cannot take run on PCRE2.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules.h"

#include <smf/module.h>

#include <hs/hs.h>
#include <pcre2.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct pat_conf {
    const char *const *rules;
    long max_scan_bytes;
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

typedef struct pat_state {
    pat_ruleset_t rs;
    pat_group_t *groups;
    size_t group_count;
    hs_scratch_t *proto; /* Sized for every database; cloned per thread. */
    pcre2_match_context *mctx;
    size_t max_bytes;
} pat_state_t;

typedef struct pat_thread {
    hs_scratch_t *scratch;
    pcre2_match_data *md;
    unsigned char *hits; /* One flag per rule, cleared per message. */
} pat_thread_t;

/* What the match callbacks need while one group scans. */
typedef struct pat_scan {
    smf_msg_t *msg;
    const pat_state_t *st;
    pat_thread_t *th;
    const pat_group_t *g;
} pat_scan_t;

/* Bounds backtracking of PCRE2 rules, which Hyperscan's automata never need. */
#define PAT_PCRE_MATCH_LIMIT 200000u

static const smf_option_t pat_options[] = {
    {"rules", SMF_OPT_LIST, "{\"rules/default.rules\"}", offsetof(pat_conf_t, rules),
     "Rule files, relative to the configuration directory unless absolute."},
    {"max_scan_bytes", SMF_OPT_INT, "1048576", offsetof(pat_conf_t, max_scan_bytes),
     "Bytes of each text (body, raw body, header) scanned at most."},
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

/* Compiles one rule with PCRE2; a failure here is the rule's own fault. */
static int pat_add_pcre(smf_init_t *init, pat_state_t *st, pat_group_t *g, size_t idx,
                        const char *hs_error)
{
    const pat_rule_t *r = &st->rs.rules[idx];
    int errcode;
    PCRE2_SIZE erroff;
    PCRE2_UCHAR msg[256];
    pat_pcre_t *n;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)r->regex, PCRE2_ZERO_TERMINATED, pat_pcre_flags(r),
                                     &errcode, &erroff, NULL);

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
    smf_log(NULL, SMF_LOG_INFO, "%s:%u: %s: Hyperscan cannot compile it (%s); using PCRE2", r->file,
            r->line, r->name, hs_error);
    return 0;
}

/* Sorts each rule into its group, sending what Hyperscan rejects outright to PCRE2. */
static int pat_assign_rules(smf_init_t *init, pat_state_t *st)
{
    for (size_t i = 0; i < st->rs.count; i++) {
        const pat_rule_t *r = &st->rs.rules[i];
        pat_group_t *g = pat_group_for(st, r);
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *cerr = NULL;
        size_t *n;
        int rc;

        if (g == NULL || (n = realloc(g->hs_rules, (g->hs_count + 1) * sizeof(*n))) == NULL) {
            smf_init_fail(init, "out of memory");
            return SMF_ENOMEM;
        }
        g->hs_rules = n;
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

/* Builds the group's database; a rule that fails only at full compile is demoted. */
static int pat_compile_group(smf_init_t *init, pat_state_t *st, pat_group_t *g)
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
    if (g->db != NULL && hs_alloc_scratch(g->db, &st->proto) != HS_SUCCESS) {
        smf_init_fail(init, "Hyperscan: cannot allocate scratch");
        return SMF_ENOMEM;
    }
    return 0;
}

static void pat_free_state(pat_state_t *st)
{
    if (st == NULL)
        return;
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
    return 0;
}

static int pat_init(smf_init_t *init, const void *conf, void **state)
{
    const pat_conf_t *c = conf;
    pat_state_t *st = calloc(1, sizeof(*st));
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
    if ((rc = pat_load_files(init, st, c->rules)) < 0 || (rc = pat_assign_rules(init, st)) < 0) {
        pat_free_state(st);
        return rc;
    }
    for (size_t i = 0; i < st->group_count; i++) {
        if ((rc = pat_compile_group(init, st, &st->groups[i])) < 0) {
            pat_free_state(st);
            return rc;
        }
    }
    smf_log(NULL, SMF_LOG_INFO, "%zu rules in %zu targets", st->rs.count, st->group_count);
    *state = st;
    return 0;
}

static void pat_fini(void *state)
{
    pat_free_state(state);
}

static void pat_thread_fini(void *state, void *tstate)
{
    pat_thread_t *th = tstate;

    if (th == NULL)
        return;
    hs_free_scratch(th->scratch);
    pcre2_match_data_free(th->md);
    free(th->hits);
    free(th);
}

static int pat_thread_init(void *state, void **tstate)
{
    const pat_state_t *st = state;
    pat_thread_t *th = calloc(1, sizeof(*th));

    if (th == NULL)
        return SMF_ENOMEM;
    th->hits = calloc(st->rs.count + 1, 1);
    th->md = pcre2_match_data_create(1, NULL);
    if (th->hits == NULL || th->md == NULL ||
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

    sc->th->hits[sc->g->hs_rules[id]] = 1;
    return 0;
}

/* Runs the group's rules over one text. */
static int pat_match_item(pat_scan_t *sc, const char *data, size_t len)
{
    const pat_group_t *g = sc->g;

    if (len > sc->st->max_bytes)
        len = sc->st->max_bytes;
    if (g->db != NULL) {
        hs_error_t err = hs_scan(g->db, data, (unsigned)len, 0, sc->th->scratch, pat_on_match, sc);
        if (err != HS_SUCCESS) {
            smf_log(sc->msg, SMF_LOG_ERROR, "hs_scan failed (%d)", (int)err);
            return SMF_EFAIL;
        }
    }
    for (size_t k = 0; k < g->pcre_count; k++) {
        const pat_pcre_t *p = &g->pcre[k];
        if (!sc->th->hits[p->rule] &&
            pcre2_match(p->code, (PCRE2_SPTR)data, len, 0, 0, sc->th->md, sc->st->mctx) >= 0)
            sc->th->hits[p->rule] = 1;
    }
    return 0;
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
        s = smf_msg_header(sc->msg, "Subject", 0);
        return s != NULL ? pat_match_item(sc, s, strlen(s)) : 0;
    case PAT_TARGET_HEADER:
        for (size_t i = 0; rc == 0 && (s = smf_msg_header(sc->msg, sc->g->header, i)); i++)
            rc = pat_match_item(sc, s, strlen(s));
        return rc;
    case PAT_TARGET_URL:
        for (size_t i = 0; rc == 0 && (s = smf_msg_url(sc->msg, i)) != NULL; i++)
            rc = pat_match_item(sc, s, strlen(s));
        return rc;
    case PAT_TARGET_FILENAME:
        for (size_t i = 0; rc == 0 && i < smf_msg_part_count(sc->msg); i++) {
            const smf_part_t *p = smf_msg_part(sc->msg, i);
            if (p != NULL && p->filename[0] != '\0')
                rc = pat_match_item(sc, p->filename, strlen(p->filename));
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

/* Turns the hit flags into symbols and forced verdicts. */
static int pat_report(smf_msg_t *msg, const pat_state_t *st, const pat_thread_t *th)
{
    for (size_t i = 0; i < st->rs.count; i++) {
        const pat_rule_t *r = &st->rs.rules[i];
        int rc;

        if (!th->hits[i] == !r->negate)
            continue;
        rc = smf_msg_add_symbol(msg, r->name, r->score, r->description);
        if (rc == 0 && r->verdict != 0)
            rc = smf_msg_set_verdict(msg, (smf_verdict_t)r->verdict, r->name);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int pat_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const pat_state_t *st = state;
    pat_thread_t *th = tstate;
    pat_scan_t sc = {msg, st, th, NULL};

    memset(th->hits, 0, st->rs.count);
    for (size_t i = 0; i < st->group_count; i++) {
        sc.g = &st->groups[i];
        int rc = pat_scan_group(&sc);
        if (rc < 0)
            return rc;
    }
    return pat_report(msg, st, th);
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
};
