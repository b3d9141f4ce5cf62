/*
 * explain.c - the strongest pulls of a scan and their wording for the
 * verdict's detail. An operator who sees BAYES_SPAM on a newsletter learns
 * which words and features did it, and so what releasing it as ham teaches.
 */
#include "explain.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void bayes_top_init(bayes_top_t *top, size_t k)
{
    memset(top, 0, sizeof(*top));
    top->k = k < BAYES_EXPLAIN_MAX ? k : BAYES_EXPLAIN_MAX;
}

void bayes_top_offer(bayes_top_t *top, uint64_t token, double pull)
{
    int side = pull > 0;
    double v = fabs(pull);
    size_t n = top->n[side];
    if (top->k == 0 || v == 0 || (n == top->k && v <= top->pull[side][n - 1]))
        return;
    /* Insertion into a handful of entries, strongest first. */
    size_t i = n < top->k ? n++ : n - 1;
    for (; i > 0 && top->pull[side][i - 1] < v; i--) {
        top->pull[side][i] = top->pull[side][i - 1];
        top->token[side][i] = top->token[side][i - 1];
    }
    top->pull[side][i] = v;
    top->token[side][i] = token;
    top->n[side] = n;
}

void bayes_top_format(const bayes_top_t *top, bool spam, char *const *names, char *buf, size_t size)
{
    int side = spam;
    size_t len = strlen(buf);
    const char *sep = spam ? "; spam: " : "; ham: ";
    for (size_t i = 0; i < top->n[side] && len < size; i++) {
        if (names[i] == NULL)
            continue;
        int k = snprintf(buf + len, size - len, "%s%s %c%.2f", sep, names[i], spam ? '+' : '-',
                         top->pull[side][i]);
        if (k < 0 || (size_t)k >= size - len) {
            buf[len] = '\0'; /* A clue that does not fit whole is left out. */
            return;
        }
        len += (size_t)k;
        sep = ", ";
    }
}
