/*
 * refit.h - running a learning module's fit() (ABI 1.3): smfctl after a
 * learning run, smfd after it has autolearned.
 */
#ifndef SMF_REFIT_H
#define SMF_REFIT_H

#include "generation.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Calls module m's fit() for `domain`'s model ("" for the site-wide one)
 * with an empty message that carries the module's store, on this thread
 * with its tstate. *ms gets how long it took. Returns what fit()
 * returned, or SMF_ENOTSUP when the module has none.
 */
int refit_module(generation_t *g, size_t m, void *tstate, const char *domain, double *ms);

/* Whether module m of g learns and can be refitted. */
int refit_possible(const generation_t *g, size_t m);
/*
 * Whether module m's fitted model is switched off (bayes: logistic =
 * false): its fit() then returns at once, and what it learns counts
 * without one, so nobody should call or report a refit.
 */
bool refit_switched_off(const generation_t *g, size_t m);

#endif
