/*
 * explain.h - which tokens pulled a verdict most, kept while a scan reads
 * them, so that the verdict's detail can name them (by their text, found
 * again by bayes_tokenize(); the store keeps only hashes).
 */
#ifndef BAYES_EXPLAIN_H
#define BAYES_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tokens kept per side at most. */
#define BAYES_EXPLAIN_MAX 5

/* The strongest pulls towards spam ([1]) and towards ham ([0]), strongest first. */
typedef struct bayes_top {
    size_t k;    /* Kept per side at most, 0 to keep none. */
    size_t n[2]; /* Kept so far per side. */
    uint64_t token[2][BAYES_EXPLAIN_MAX];
    double pull[2][BAYES_EXPLAIN_MAX]; /* Absolute values. */
} bayes_top_t;

/* Starts empty, keeping up to k (at most BAYES_EXPLAIN_MAX) per side. */
void bayes_top_init(bayes_top_t *top, size_t k);

/* Offers a token that moves the log-odds by pull (> 0 towards spam). */
void bayes_top_offer(bayes_top_t *top, uint64_t token, double pull);

/*
 * Appends to buf (NUL-terminated, size bytes in all) "; spam: " or "; ham: "
 * and each token of that side as its name and signed pull, e.g.
 * `subject "free" +1.20`; names[i] NULL (not met again) is skipped. Never
 * writes past size.
 */
void bayes_top_format(const bayes_top_t *top, bool spam, char *const *names, char *buf,
                      size_t size);

#endif
