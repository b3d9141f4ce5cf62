/*
 * logit.h - the bayes module's second model: a logistic regression over
 * the same tokens, fitted over every learned message at once. learn()
 * keeps each learned message's tokens (its "set"); fit() refits the
 * weights from all sets and writes them into the token records, where a
 * scan reads them with the counts.
 */
#ifndef BAYES_LOGIT_H
#define BAYES_LOGIT_H

#include "combine.h"
#include "store.h"
#include "tokens.h"

#include <smf/module.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct bayes_fit_params {
    long epochs; /* Passes over the learned sets. */
    double rate; /* Step size of each gradient step. */
    long runs;   /* Fits from zero in different orders, their weights averaged. */
    /* A residual fit when set: weights that correct this model's score
     * (a young domain's) on top of base's weights, for tokens base has
     * seen in fewer than `rare` learned messages only. */
    const bayes_model_t *base;
    uint32_t rare;
    /* With base: the word statistics a scan adds (pooled counts of base and
     * this model), at word_weight, count in each set's score too. */
    const bayes_params_t *words;
    double word_weight;
} bayes_fit_params_t;

/* Keeps a learned message's tokens (of class klass) for the next fit. When
 * the same set is already kept, it counts one more message of that class.
 * 0 or a negative SMF_E* code. */
int bayes_set_add(smf_msg_t *msg, const bayes_model_t *m, const bayes_tokens_t *t, int klass);

/* Forgets one message of class klass with these tokens: the set goes when no
 * learned message has it any more. 0 also when it was not kept. */
int bayes_set_remove(smf_msg_t *msg, const bayes_model_t *m, const bayes_tokens_t *t, int klass);

/* Whether model m holds a learned message with exactly these tokens. */
bool bayes_set_known(smf_msg_t *msg, const bayes_model_t *m, const bayes_tokens_t *t);

/*
 * Refits the weights over every kept set and stores them, in batches of
 * token records (the store's version changes after the last one).
 * Deterministic: the same sets give the same weights. A set counts once
 * for each learned message that has it. *nsets is the number of messages
 * fitted. 0 or a negative SMF_E* code.
 */
int bayes_fit(smf_msg_t *msg, const bayes_model_t *m, const bayes_fit_params_t *p, size_t *nsets);

/* The probability at log-odds z (natural logarithm), 1 / (1 + e^-z). */
double bayes_logit_sigmoid(double z);

/* The natural log-odds of p, ln(p / (1 - p)), with p kept within 10^-6 of
 * 0 and 1 as the word statistics keep their clues: how a scan (and a
 * domain's residual fit) adds the word statistics to the weights. */
double bayes_logit_ln_odds(double p);

#endif
