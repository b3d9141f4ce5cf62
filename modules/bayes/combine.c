/*
 * combine.c - Robinson's f(w) and the Fisher/Robinson chi-square combiner.
 * Two one-sided tests (is the message spammy? hammy?) are combined into
 * one indicator, which stays near 0.5 when the evidence is mixed.
 */
#include "combine.h"

#include <math.h>
#include <stdlib.h>

double bayes_token_prob(const bayes_params_t *p, uint32_t spam, uint32_t ham, uint64_t nspam,
                        uint64_t nham)
{
    double n = (double)spam + (double)ham;
    if (n == 0 || nspam == 0 || nham == 0)
        return p->x;
    /* Rates, not counts: the classes need not be learned in equal numbers. */
    double sr = (double)spam / (double)nspam, hr = (double)ham / (double)nham;
    if (sr > 1)
        sr = 1;
    if (hr > 1)
        hr = 1;
    double pw = sr / (sr + hr);
    return (p->s * p->x + n * pw) / (p->s + n);
}

int bayes_is_clue(const bayes_params_t *p, double f)
{
    return fabs(f - 0.5) >= p->min_strength;
}

/*
 * Q(x2, 2k) = exp(-m) * sum_{i<k} m^i / i!, m = x2 / 2, summed in the log
 * domain so that large m and k neither underflow nor overflow.
 */
double bayes_chi2q(double x2, size_t half_dof)
{
    double m = x2 / 2;
    if (m <= 0)
        return 1;
    double lm = log(m), logterm = -m, sum = exp(logterm);
    for (size_t i = 1; i < half_dof; i++) {
        logterm += lm - log((double)i);
        sum += exp(logterm);
    }
    return sum < 1 ? sum : 1;
}

static int by_strength(const void *a, const void *b)
{
    double x = fabs(*(const double *)a - 0.5), y = fabs(*(const double *)b - 0.5);
    return x < y ? 1 : x > y ? -1 : 0;
}

double bayes_combine(const bayes_params_t *p, double *f, size_t n)
{
    if (n == 0)
        return 0.5;
    if (p->max_clues > 0 && n > p->max_clues) {
        qsort(f, n, sizeof(double), by_strength);
        n = p->max_clues;
    }
    double ln_f = 0, ln_1f = 0;
    for (size_t i = 0; i < n; i++) {
        /* With s = 0, f can reach 0 or 1; log() must not see them. */
        double v = f[i] < 1e-6 ? 1e-6 : f[i] > 1 - 1e-6 ? 1 - 1e-6 : f[i];
        ln_f += log(v);
        ln_1f += log(1 - v);
    }
    double spamminess = 1 - bayes_chi2q(-2 * ln_1f, n);
    double hamminess = 1 - bayes_chi2q(-2 * ln_f, n);
    return (1 + spamminess - hamminess) / 2;
}
