/*
 * combine.h - the bayes module's arithmetic: Robinson's smoothed token
 * probability f(w) and Fisher's chi-square combination of the strongest
 * clues into one spam probability.
 */
#ifndef BAYES_COMBINE_H
#define BAYES_COMBINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct bayes_params {
    double s;            /* Robinson's strength of the prior belief x. */
    double x;            /* Probability assumed for a token never seen. */
    double min_strength; /* Clues with |f - 0.5| below this are ignored. */
    size_t max_clues;    /* The strongest clues kept, 0 for all. */
} bayes_params_t;

/* Robinson's f(w) for a token seen `spam` and `ham` times in nspam/nham messages. */
double bayes_token_prob(const bayes_params_t *p, uint32_t spam, uint32_t ham, uint64_t nspam,
                        uint64_t nham);

/* Whether f(w) is strong enough to be a clue. */
int bayes_is_clue(const bayes_params_t *p, double f);

/*
 * Combines clue probabilities f[0..n) into a spam probability in [0, 1].
 * Keeps the p->max_clues strongest (reordering f). With no clue, 0.5.
 */
double bayes_combine(const bayes_params_t *p, double *f, size_t n);

/* The chi-square survival function Q(x2, 2 * half_dof), for tests and tools. */
double bayes_chi2q(double x2, size_t half_dof);

#endif
