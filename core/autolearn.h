/*
 * autolearn.h - teaching the classifiers from the engine's own confident
 * verdicts, conservatively: never from tempfailed, marked or unscannable
 * mail, never on the strength of the classifiers' own points, and never a
 * message the registry already knows (an operator's teaching stands, and
 * so does an operator's unlearning).
 */
#ifndef SMF_AUTOLEARN_H
#define SMF_AUTOLEARN_H

#include "action.h"
#include "generation.h"
#include "pipeline.h"

/*
 * Considers one scanned message: r is the run that decided its verdict.
 * Returns SMF_CLASS_SPAM or SMF_CLASS_HAM when it was learned, else 0.
 * Threads take turns; nothing is learned while `smfctl learn` holds the
 * learning lock.
 */
int autolearn_consider(generation_t *g, size_t worker, pipeline_result_t *r, action_t action,
                       const char *virus, const char *id);

/* How many messages this process has autolearned; any thread may ask. */
unsigned long autolearn_taught(void);

/*
 * Refits the models of the learning modules (their fit(), ABI 1.3) over
 * everything learned, on the calling thread, when something was
 * autolearned since the last refit. Skipped while `smfctl learn` holds the
 * learning lock (it refits itself). Logs what it did.
 */
void autolearn_refit(generation_t *g);

#endif
