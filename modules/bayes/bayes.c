/*
 * bayes.c - the bayes module: a statistical spam classifier that learns
 * from mail an operator classified (smfctl learn) and scores new mail with
 * BAYES_SPAM or BAYES_HAM by its spam probability.
 */
#include "combine.h"
#include "explain.h"
#include "logit.h"
#include "store.h"
#include "tokens.h"

#include <smf/module.h>

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bayes_conf {
    long min_learned;
    double spam_score, spam_threshold, spam_full, spam_slope;
    double ham_score, ham_threshold, ham_full, ham_slope;
    double max_log_odds;
    int logistic, per_domain;
    long fit_epochs, fit_runs;
    double fit_rate, word_weight;
    int bigrams, html_tags;
    long max_tokens, max_text;
    long max_clues;
    double min_strength, strength;
    long cache_entries;
    long explain;
} bayes_conf_t;

static const smf_option_t bayes_options[] = {
    {"min_learned", SMF_OPT_INT, "200", offsetof(bayes_conf_t, min_learned),
     "Spam and ham messages each that must be learned before the module scores."},
    {"spam_score", SMF_OPT_FLOAT, "12", offsetof(bayes_conf_t, spam_score),
     "Score of BAYES_SPAM at a spam probability of spam_full."},
    {"spam_threshold", SMF_OPT_FLOAT, "0.9", offsetof(bayes_conf_t, spam_threshold),
     "Spam probability from which BAYES_SPAM is added."},
    {"spam_full", SMF_OPT_FLOAT, "0.99", offsetof(bayes_conf_t, spam_full),
     "Spam probability at which BAYES_SPAM scores spam_score."},
    {"spam_slope", SMF_OPT_FLOAT, "5", offsetof(bayes_conf_t, spam_slope),
     "Points BAYES_SPAM gains per tenfold rise of the odds p / (1 - p); 0 for a flat score."},
    {"ham_score", SMF_OPT_FLOAT, "-4", offsetof(bayes_conf_t, ham_score),
     "Score of BAYES_HAM at a spam probability of ham_full."},
    {"ham_threshold", SMF_OPT_FLOAT, "0.1", offsetof(bayes_conf_t, ham_threshold),
     "Spam probability up to which BAYES_HAM is added."},
    {"ham_full", SMF_OPT_FLOAT, "0.01", offsetof(bayes_conf_t, ham_full),
     "Spam probability at which BAYES_HAM scores ham_score."},
    {"ham_slope", SMF_OPT_FLOAT, "2", offsetof(bayes_conf_t, ham_slope),
     "Points BAYES_HAM loses per tenfold fall of the odds p / (1 - p); 0 for a flat score."},
    {"max_log_odds", SMF_OPT_FLOAT, "6", offsetof(bayes_conf_t, max_log_odds),
     "The odds are read up to 10^max_log_odds to one either way; beyond, the score stays."},
    {"logistic", SMF_OPT_BOOL, "true", offsetof(bayes_conf_t, logistic),
     "Also fit a logistic model over all learned mail (after every smfctl learn run) and "
     "combine it with the word statistics."},
    {"per_domain", SMF_OPT_BOOL, "false", offsetof(bayes_conf_t, per_domain),
     "Keep a model per recipient domain, taught with smfctl learn --domain; a domain's mail "
     "is scored by its own model once that has min_learned of each class, before that by "
     "the global one corrected by what the domain learned."},
    {"fit_epochs", SMF_OPT_INT, "10", offsetof(bayes_conf_t, fit_epochs),
     "Passes over the learned mail when the logistic model is refitted."},
    {"fit_runs", SMF_OPT_INT, "4", offsetof(bayes_conf_t, fit_runs),
     "Fits in different orders whose weights are averaged: fewer make a refit quicker, the "
     "model more a matter of chance."},
    {"fit_rate", SMF_OPT_FLOAT, "0.1", offsetof(bayes_conf_t, fit_rate),
     "Step size of the logistic model's fit."},
    {"word_weight", SMF_OPT_FLOAT, "0.43", offsetof(bayes_conf_t, word_weight),
     "How much the word statistics' log-odds add to the logistic model's (0: the logistic "
     "model alone)."},
    {"bigrams", SMF_OPT_BOOL, "false", offsetof(bayes_conf_t, bigrams),
     "Also let the word statistics count pairs of neighbouring words (the logistic model "
     "always does)."},
    {"html_tags", SMF_OPT_BOOL, "false", offsetof(bayes_conf_t, html_tags),
     "Also count the tags and presentation attributes of HTML parts."},
    {"max_tokens", SMF_OPT_INT, "3000", offsetof(bayes_conf_t, max_tokens),
     "Distinct tokens read from one message at most."},
    {"max_text", SMF_OPT_INT, "65536", offsetof(bayes_conf_t, max_text),
     "Bytes of decoded text tokenized at most."},
    {"max_clues", SMF_OPT_INT, "150", offsetof(bayes_conf_t, max_clues),
     "The strongest tokens combined into the probability; 0 for all."},
    {"min_strength", SMF_OPT_FLOAT, "0.1", offsetof(bayes_conf_t, min_strength),
     "Tokens whose probability is closer than this to 0.5 are ignored."},
    {"strength", SMF_OPT_FLOAT, "0.45", offsetof(bayes_conf_t, strength),
     "Robinson's s: how many sightings the neutral prior 0.5 is worth."},
    {"cache_entries", SMF_OPT_INT, "262144", offsetof(bayes_conf_t, cache_entries),
     "Token counts cached per worker thread (24 bytes each); 0 turns the cache off."},
    {"explain", SMF_OPT_INT, "3", offsetof(bayes_conf_t, explain),
     "Tokens named in the detail of BAYES_SPAM and BAYES_HAM, those that pulled the verdict "
     "most (0 to 5); 0 spares the second pass over the message that finds their text."},
    SMF_OPTIONS_END};

typedef struct bayes_state {
    const bayes_conf_t *conf;
    bayes_params_t params;
} bayes_state_t;

/* The comparisons are written so that NaN fails them: `v < 0 || v > 1` would let it pass. */
static bool in_unit(double v)
{
    return v >= 0 && v <= 1;
}

static bool within(double v, double lo, double hi)
{
    return v >= lo && v <= hi;
}

static const char *check_conf(const bayes_conf_t *c)
{
    if (c->min_learned < 1)
        return "min_learned must be at least 1";
    if (c->max_tokens < 16 || c->max_tokens > 1000000)
        return "max_tokens must be between 16 and 1000000";
    if (c->max_text < 0 || c->max_clues < 0 || c->cache_entries < 0)
        return "max_text, max_clues and cache_entries must not be negative";
    if (c->explain < 0 || c->explain > BAYES_EXPLAIN_MAX)
        return "explain must be between 0 and 5";
    if (!in_unit(c->spam_threshold) || !in_unit(c->spam_full) || !in_unit(c->ham_threshold) ||
        !in_unit(c->ham_full) || !within(c->min_strength, 0, 0.5))
        return "probabilities must lie between 0 and 1 (min_strength between 0 and 0.5)";
    if (c->spam_threshold <= 0.5 || c->spam_full <= 0.5 || c->ham_threshold >= 0.5 ||
        c->ham_full >= 0.5)
        return "spam_threshold and spam_full must exceed 0.5, ham_threshold and ham_full "
               "must be below it";
    if (!isfinite(c->spam_score) || !isfinite(c->ham_score))
        return "spam_score and ham_score must be finite numbers";
    if (!(c->strength >= 0) || !isfinite(c->strength))
        return "strength must be a finite number, not negative";
    if (c->fit_epochs < 1 || c->fit_epochs > 1000 || c->fit_runs < 1 || c->fit_runs > 64 ||
        !(c->fit_rate > 0 && c->fit_rate <= 10) || !(c->word_weight >= 0) ||
        !isfinite(c->word_weight))
        return "fit_epochs must be between 1 and 1000, fit_runs between 1 and 64, fit_rate "
               "above 0 and at most 10, word_weight finite and not negative";
    if (!(c->spam_slope >= 0) || !isfinite(c->spam_slope) || !(c->ham_slope >= 0) ||
        !isfinite(c->ham_slope) || !within(c->max_log_odds, 1, 15))
        return "spam_slope and ham_slope must be finite and not negative, max_log_odds must be "
               "between 1 and 15";
    return NULL;
}

static int bayes_init(smf_init_t *init, const void *conf, void **state)
{
    const bayes_conf_t *c = conf;
    const char *why = check_conf(c);
    if (why != NULL) {
        smf_init_fail(init, "%s", why);
        return SMF_EINVAL;
    }
    bayes_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return SMF_ENOMEM;
    st->conf = c;
    st->params = (bayes_params_t){.s = c->strength,
                                  .x = 0.5,
                                  .min_strength = c->min_strength,
                                  .max_clues = (size_t)c->max_clues};
    *state = st;
    return 0;
}

static void bayes_fini(void *state)
{
    free(state);
}

static int bayes_thread_init(void *state, void **tstate)
{
    const bayes_state_t *st = state;
    *tstate = bayes_cache_new((size_t)st->conf->cache_entries);
    return st->conf->cache_entries > 0 && *tstate == NULL ? SMF_ENOMEM : 0;
}

static void bayes_thread_fini(void *state, void *tstate)
{
    bayes_cache_free(tstate);
}

static int tokenize_naming(smf_msg_t *msg, const bayes_conf_t *c, bayes_tokens_t *t,
                           bayes_names_t *names)
{
    bayes_tok_opts_t o = {.limit = (size_t)c->max_tokens,
                          .max_text = (size_t)c->max_text,
                          .bigrams = c->bigrams != 0 || c->logistic != 0,
                          .html_tags = c->html_tags != 0,
                          .names = names};
    return bayes_tokenize(msg, &o, t);
}

static int tokenize(smf_msg_t *msg, const bayes_conf_t *c, bayes_tokens_t *t)
{
    return tokenize_naming(msg, c, t, NULL);
}

/* What the two models think of a message. */
typedef struct judgement {
    double p;          /* The combined spam probability the score follows. */
    double words;      /* The word statistics' probability. */
    double logit;      /* The logistic model's, when it was fitted. */
    bool weighted;     /* Whether the logistic model took part. */
    bool domain_model; /* Whether the recipient domain's own model scored. */
    bool blend;        /* Whether a young domain model corrected the global one. */
    bayes_top_t top;   /* The tokens that pulled most either way. */
} judgement_t;

/*
 * The models a scan reads: one, or the global one with a young domain's on
 * top (`blend`): the domain's counts added to the global counts, its
 * weights (fitted as corrections) to the global weights.
 */
typedef struct scan_models {
    bayes_model_t m;
    bayes_totals_t tot;
    bool blend;
    bayes_model_t dm;
    bayes_totals_t dtot;
} scan_models_t;

/* A young domain's counts and correction of one token, added to the global ones. */
static int add_domain_counts(smf_msg_t *msg, const bayes_model_t *dm, uint64_t token,
                             bayes_counts_t *c)
{
    bayes_counts_t d;
    int rc = bayes_counts_get(msg, dm, token, &d);
    if (rc == 0) {
        c->spam += d.spam;
        c->ham += d.ham;
        c->weight += d.weight;
    }
    return rc;
}

/*
 * The message's spam probability under the learned counts and weights.
 * Pairs are clues for the word statistics only with `bigrams`; their
 * weights always count in the logistic model.
 */
static int classify(smf_msg_t *msg, const bayes_state_t *st, bayes_cache_t *cache,
                    const scan_models_t *sm, judgement_t *j)
{
    const bayes_model_t *m = &sm->m;
    bayes_totals_t tot = sm->tot;
    if (sm->blend) {
        tot.spam += sm->dtot.spam;
        tot.ham += sm->dtot.ham;
    }
    bayes_tokens_t t;
    int rc = tokenize(msg, st->conf, &t);
    double *clues = rc == 0 ? smf_msg_alloc(msg, (t.count + 1) * sizeof(double)) : NULL;
    if (clues == NULL)
        return rc != 0 ? rc : SMF_ENOMEM;
    /* Which tokens the store knows, so that pairs of unknown words cost no read. */
    unsigned char *known = smf_msg_alloc(msg, t.count + 1);
    if (known == NULL)
        return SMF_ENOMEM;
    size_t n = 0;
    double z = 0;
    bool weighted = tot.fitted > 0 && st->conf->logistic;
    for (size_t i = 0; i < t.count; i++) {
        bayes_counts_t c;
        bool pair = t.pairs[i][0] != BAYES_NO_TOKEN;
        known[i] = 0;
        if (pair && !(known[t.pairs[i][0]] && known[t.pairs[i][1]]))
            continue;
        if ((rc = bayes_cache_get(cache, msg, m, t.items[i], &c)) != 0)
            return rc;
        if (sm->blend && (rc = add_domain_counts(msg, &sm->dm, t.items[i], &c)) != 0)
            return rc;
        known[i] = c.spam + c.ham > 0;
        z += c.weight;
        if (weighted && !pair)
            bayes_top_offer(&j->top, t.items[i], c.weight);
        if (pair && !st->conf->bigrams)
            continue;
        double f = bayes_token_prob(&st->params, c.spam, c.ham, tot.spam, tot.ham);
        if (!bayes_is_clue(&st->params, f))
            continue;
        clues[n++] = f;
        if (!weighted && !pair)
            bayes_top_offer(&j->top, t.items[i], bayes_logit_ln_odds(f));
    }
    j->words = bayes_combine(&st->params, clues, n);
    j->weighted = weighted;
    j->logit = bayes_logit_sigmoid(z);
    j->p = j->weighted
               ? bayes_logit_sigmoid(z + st->conf->word_weight * bayes_logit_ln_odds(j->words))
               : j->words;
    return 0;
}

/* log10(p / (1 - p)), limited to [-max, max]. */
static double log_odds(double p, double max)
{
    double lo = p <= 0 ? -max : p >= 1 ? max : log10(p / (1 - p));
    return lo > max ? max : lo < -max ? -max : lo;
}

/*
 * The score at p: `score` at p = full, moved by `slope` points for every
 * tenfold change of the odds p / (1 - p) (up as p rises, down as it falls),
 * so that the surer the classifier is, the more it weighs against the other
 * stages' points. Never of the opposite sign to `score`.
 */
static double curve(double p, double score, double full, double slope, double max)
{
    double d = log_odds(p, max) - log_odds(full, max);
    double v = score + slope * d;
    return score < 0 ? (v > 0 ? 0 : v) : (v < 0 ? 0 : v);
}

/*
 * Appends to detail the tokens that pulled the verdict's way most, named by
 * a second reading of the message (the store keeps only their hashes).
 */
static void explain(smf_msg_t *msg, const bayes_conf_t *c, const judgement_t *j, bool spam,
                    char *detail, size_t size)
{
    char *names[BAYES_EXPLAIN_MAX] = {0};
    bayes_names_t nm = {.want = j->top.token[spam], .count = j->top.n[spam], .text = names};
    bayes_tokens_t t;
    if (nm.count > 0 && tokenize_naming(msg, c, &t, &nm) == 0)
        bayes_top_format(&j->top, spam, names, detail, size);
}

static void report(smf_msg_t *msg, const bayes_conf_t *c, const judgement_t *j)
{
    /* Near certainty, three decimals would make every confident verdict look alike. */
    char detail[352];
    double p = j->p;
    int k = snprintf(detail, sizeof(detail), p > 0.999 || p < 0.001 ? "p=%.6f" : "p=%.3f", p);
    if (j->weighted)
        k += snprintf(detail + k, sizeof(detail) - (size_t)k, " (words %.3f, weights %.3f)",
                      j->words, j->logit);
    if (j->domain_model)
        snprintf(detail + k, sizeof(detail) - (size_t)k, ", domain model");
    else if (j->blend)
        snprintf(detail + k, sizeof(detail) - (size_t)k, ", domain blend");
    if (p >= c->spam_threshold || p <= c->ham_threshold)
        explain(msg, c, j, p >= c->spam_threshold, detail, sizeof(detail));
    if (p >= c->spam_threshold)
        smf_msg_add_symbol(msg, "BAYES_SPAM",
                           curve(p, c->spam_score, c->spam_full, c->spam_slope, c->max_log_odds),
                           detail);
    else if (p <= c->ham_threshold)
        smf_msg_add_symbol(msg, "BAYES_HAM",
                           curve(p, c->ham_score, c->ham_full, c->ham_slope, c->max_log_odds),
                           detail);
    else
        smf_msg_add_symbol(msg, "BAYES_UNSURE", 0, detail);
}

/* The model that learns from (or refits for) this message: its domain's
 * with per_domain, else the global one. */
static void learning_model(smf_msg_t *msg, const bayes_conf_t *c, bayes_model_t *m)
{
    bayes_model_for(m, c->per_domain ? smf_msg_domain(msg) : "");
}

/*
 * The model that unlearns this message: the one that learned it. After
 * per_domain was switched that is not the one the setting names now (a
 * message taught with --domain went to the global model while it was off),
 * and the model holding the message's token set tells which it was.
 */
static void unlearning_model(smf_msg_t *msg, const bayes_conf_t *c, const bayes_tokens_t *t,
                             bayes_model_t *m)
{
    bayes_model_t other;

    learning_model(msg, c, m);
    if (!c->logistic || smf_msg_domain(msg)[0] == '\0' || bayes_set_known(msg, m, t))
        return;
    bayes_model_for(&other, c->per_domain ? "" : smf_msg_domain(msg));
    if (other.id != m->id && bayes_set_known(msg, &other, t))
        *m = other;
}

/* Tokens the global model has seen in this many learned messages are the
 * global model's alone: a young domain's corrections leave them be. */
#define DOMAIN_RARE 3

static bool enough(const bayes_conf_t *c, const bayes_totals_t *tot)
{
    return tot->spam >= (uint64_t)c->min_learned && tot->ham >= (uint64_t)c->min_learned;
}

/*
 * The models that score this message. With per_domain, the recipient
 * domain's alone once it has learned enough (and its weights are its own
 * fit, not corrections); a domain that has learned something, but not
 * enough, corrects the global model (blend); else the global one. *ready
 * is false when nothing has learned enough to score.
 */
static int scoring_models(smf_msg_t *msg, const bayes_conf_t *c, scan_models_t *sm, bool *ready)
{
    int rc;
    *ready = false;
    sm->blend = false;
    if (c->per_domain && *smf_msg_domain(msg) != '\0') {
        bayes_model_for(&sm->m, smf_msg_domain(msg));
        if ((rc = bayes_totals_get(msg, &sm->m, &sm->tot)) != 0)
            return rc;
        if ((*ready = enough(c, &sm->tot) && !sm->tot.residual))
            return 0;
        sm->dm = sm->m;
        sm->dtot = sm->tot;
        sm->blend = sm->tot.spam + sm->tot.ham > 0;
    }
    bayes_model_for(&sm->m, "");
    if ((rc = bayes_totals_get(msg, &sm->m, &sm->tot)) != 0)
        return rc;
    *ready = enough(c, &sm->tot);
    return 0;
}

static int bayes_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const bayes_state_t *st = state;
    scan_models_t sm;
    bool ready;
    int rc = scoring_models(msg, st->conf, &sm, &ready);
    /* An untrained model would only guess: stay silent until it has seen enough. */
    if (rc != 0 || !ready)
        return rc;
    bayes_cache_use(tstate, &sm.m, sm.tot.version);
    judgement_t j = {.domain_model = sm.m.id != 0, .blend = sm.blend};
    bayes_top_init(&j.top, (size_t)st->conf->explain);
    if ((rc = classify(msg, st, tstate, &sm, &j)) != 0)
        return rc;
    report(msg, st->conf, &j);
    return 0;
}

static uint32_t add_clamped(uint32_t v, int delta)
{
    if (delta < 0)
        return v > 0 ? v - 1 : 0;
    return v < UINT32_MAX ? v + 1 : v;
}

/* The global model's record of the domains that have models of their own:
 * their names, each ending in a NUL. */
static const char domains_key[] = "domains";

/* Whether `name` is among the NUL-ended names of list[0..len). */
static bool listed(const char *list, size_t len, const char *name)
{
    for (size_t i = 0; i < len;) {
        const char *end = memchr(list + i, '\0', len - i);
        if (end == NULL)
            return false;
        if (strcmp(list + i, name) == 0)
            return true;
        i = (size_t)(end - list) + 1;
    }
    return false;
}

/* Remembers that `domain` has a model, so that a refit of the global model
 * can refit the domain's corrections too. Inside learn's batch. */
static int note_domain(smf_msg_t *msg, const char *domain)
{
    bayes_model_t g;
    const void *val;
    size_t len, n = strlen(domain) + 1;
    bayes_model_for(&g, "");
    int rc = bayes_kv_get(msg, &g, domains_key, sizeof(domains_key) - 1, &val, &len);
    if (rc == SMF_ENOENT) {
        val = "";
        len = 0;
    } else if (rc != 0) {
        return rc;
    }
    if (listed(val, len, domain))
        return 0;
    char *list = smf_msg_alloc(msg, len + n);
    if (list == NULL)
        return SMF_ENOMEM;
    memcpy(list, val, len);
    memcpy(list + len, domain, n);
    return bayes_kv_put(msg, &g, domains_key, sizeof(domains_key) - 1, list, len + n);
}

/* Adds (delta +1) or removes (delta -1) one message's tokens in one class. */
static int bayes_learn(smf_msg_t *msg, void *state, void *tstate, int klass, int delta)
{
    const bayes_state_t *st = state;
    if ((klass != SMF_CLASS_SPAM && klass != SMF_CLASS_HAM) || (delta != 1 && delta != -1))
        return SMF_EINVAL;
    bayes_tokens_t t;
    bayes_totals_t tot;
    bayes_model_t m;
    int rc = tokenize(msg, st->conf, &t);
    if (rc != 0)
        return rc;
    if (delta > 0)
        learning_model(msg, st->conf, &m);
    else
        unlearning_model(msg, st->conf, &t, &m);
    /* One transaction for the whole message: a learn counts all its tokens
     * or none, and is one commit instead of one per token. */
    if ((rc = smf_kv_begin(msg)) != 0)
        return rc;
    rc = bayes_totals_get(msg, &m, &tot);
    for (size_t i = 0; rc == 0 && i < t.count; i++) {
        bayes_counts_t c;
        if ((rc = bayes_counts_get(msg, &m, t.items[i], &c)) != 0)
            break;
        if (klass == SMF_CLASS_SPAM)
            c.spam = add_clamped(c.spam, delta);
        else
            c.ham = add_clamped(c.ham, delta);
        /* A token no learned message holds is in no set either: the next
         * fit would not revisit its weight, so it goes now. */
        if (c.spam == 0 && c.ham == 0)
            c.weight = 0;
        rc = bayes_counts_put(msg, &m, t.items[i], &c);
    }
    if (rc == 0 && st->conf->logistic)
        rc = delta > 0 ? bayes_set_add(msg, &m, &t, klass) : bayes_set_remove(msg, &m, &t, klass);
    /* A domain's first message lists it; the rest need not read the list. */
    if (rc == 0 && m.id != 0 && delta > 0 && tot.spam + tot.ham == 0)
        rc = note_domain(msg, smf_msg_domain(msg));
    if (rc == 0) {
        uint64_t *n = klass == SMF_CLASS_SPAM ? &tot.spam : &tot.ham;
        *n = delta > 0 ? *n + 1 : *n > 0 ? *n - 1 : 0;
        tot.version++;
        rc = bayes_totals_put(msg, &m, &tot);
    }
    return bayes_batch_end(msg, rc);
}

/* A residual fit's parameters: corrections on top of the global model. */
static void residual_params(const bayes_state_t *st, const bayes_model_t *global,
                            bayes_fit_params_t *p)
{
    p->base = global;
    p->rare = DOMAIN_RARE;
    p->words = &st->params;
    p->word_weight = st->conf->word_weight;
}

/* Refits model m: in full, or as corrections to the global model while it
 * is a domain's below min_learned. */
static int fit_model(smf_msg_t *msg, const bayes_state_t *st, const bayes_model_t *m,
                     const char *domain)
{
    bayes_fit_params_t p = {
        .epochs = st->conf->fit_epochs, .rate = st->conf->fit_rate, .runs = st->conf->fit_runs};
    bayes_model_t global;
    bayes_totals_t tot;
    int rc = m->id != 0 ? bayes_totals_get(msg, m, &tot) : 0;
    if (rc == 0 && m->id != 0 && !enough(st->conf, &tot)) {
        bayes_model_for(&global, "");
        residual_params(st, &global, &p);
    }
    size_t n;
    if (rc == 0 && (rc = bayes_fit(msg, m, &p, &n)) == 0)
        smf_log(msg, SMF_LOG_INFO, "logistic model%s%s fitted over %zu messages%s",
                m->id != 0 ? " of " : "", domain, n,
                p.base != NULL ? ", as corrections to the global model" : "");
    return rc;
}

/*
 * After the global model changed, the young domains' corrections are
 * refitted against it (the domains with enough mail have full models of
 * their own and need nothing).
 */
static int refit_young_domains(smf_msg_t *msg, const bayes_state_t *st)
{
    bayes_model_t g, dm;
    const void *val;
    size_t len;
    bayes_model_for(&g, "");
    int rc = bayes_kv_get(msg, &g, domains_key, sizeof(domains_key) - 1, &val, &len);
    if (rc != 0)
        return rc == SMF_ENOENT ? 0 : rc;
    /* The value lives in the message arena; a fit's reads may not move it. */
    char *list = smf_msg_alloc(msg, len + 1);
    if (list == NULL)
        return SMF_ENOMEM;
    memcpy(list, val, len);
    list[len] = '\0';
    for (size_t i = 0; rc == 0 && i < len; i += strlen(list + i) + 1) {
        bayes_totals_t tot;
        bayes_model_for(&dm, list + i);
        if ((rc = bayes_totals_get(msg, &dm, &tot)) == 0 && tot.spam + tot.ham > 0 &&
            !enough(st->conf, &tot))
            rc = fit_model(msg, st, &dm, list + i);
    }
    return rc;
}

/* Refits the logistic model over every learned message (ABI 1.3). */
static int bayes_fit_all(smf_msg_t *msg, void *state, void *tstate)
{
    (void)tstate;
    const bayes_state_t *st = state;
    if (!st->conf->logistic)
        return 0;
    bayes_model_t m;
    learning_model(msg, st->conf, &m);
    int rc = fit_model(msg, st, &m, m.id != 0 ? smf_msg_domain(msg) : "");
    if (rc == 0 && m.id == 0 && st->conf->per_domain)
        rc = refit_young_domains(msg, st);
    return rc;
}

/* The message is scored by the site-wide model for every domain; with
 * per_domain, by its recipient domain's own (or a blend), so each domain is
 * scanned (NULL). */
static const char *bayes_scope(smf_msg_t *msg, void *state, void *tstate)
{
    (void)msg, (void)tstate;
    const bayes_state_t *st = state;
    return st->conf->per_domain ? NULL : "";
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "bayes",
    .version = "1.1",
    .description = "statistical classifier learned from the site's own mail",
    .kind = SMF_KIND_CONTENT,
    .options = bayes_options,
    .conf_size = sizeof(bayes_conf_t),
    .init = bayes_init,
    .fini = bayes_fini,
    .thread_init = bayes_thread_init,
    .thread_fini = bayes_thread_fini,
    .scan = bayes_scan,
    .learn = bayes_learn,
    .fit = bayes_fit_all,
    .scope = bayes_scope,
};
