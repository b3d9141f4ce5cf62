/*
 * psl.c - the Public Suffix List as a sorted array of rules (plain,
 * "*." wildcards and "!" exceptions) and the longest-match search that
 * turns a name into its organizational domain.
 */
#include "psl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_psl {
    char **rules;
    size_t n, cap;
};

static int psl_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int psl_add(auth_psl_t *psl, const char *rule)
{
    if (psl->n == psl->cap) {
        size_t cap = psl->cap ? psl->cap * 2 : 1024;
        char **r = realloc(psl->rules, cap * sizeof(*r));
        if (r == NULL)
            return -1;
        psl->rules = r;
        psl->cap = cap;
    }
    if ((psl->rules[psl->n] = strdup(rule)) == NULL)
        return -1;
    psl->n++;
    return 0;
}

/* The rule of one line: its first word, lower case; "" for comments. */
static void psl_line_rule(char *line)
{
    size_t n = 0;

    if (line[0] == '/' && line[1] == '/') {
        line[0] = '\0';
        return;
    }
    while (line[n] != '\0' && !isspace((unsigned char)line[n])) {
        line[n] = (char)tolower((unsigned char)line[n]);
        n++;
    }
    line[n] = '\0';
}

int auth_psl_load(const char *path, auth_psl_t **out, char *err, size_t errlen)
{
    auth_psl_t *psl = calloc(1, sizeof(*psl));
    char line[512];
    FILE *f;

    if (psl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = psl;
    if (path == NULL || path[0] == '\0')
        return 0;
    if ((f = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        auth_psl_destroy(out);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        psl_line_rule(line);
        if (line[0] != '\0' && psl_add(psl, line) < 0) {
            fclose(f);
            snprintf(err, errlen, "out of memory reading %s", path);
            auth_psl_destroy(out);
            return -1;
        }
    }
    fclose(f);
    qsort(psl->rules, psl->n, sizeof(*psl->rules), psl_cmp);
    return 0;
}

void auth_psl_destroy(auth_psl_t **psl)
{
    if (psl == NULL || *psl == NULL)
        return;
    for (size_t i = 0; i < (*psl)->n; i++)
        free((*psl)->rules[i]);
    free((*psl)->rules);
    free(*psl);
    *psl = NULL;
}

static int psl_has(const auth_psl_t *psl, const char *prefix, const char *name)
{
    char key[300];
    const char *k = key;

    snprintf(key, sizeof(key), "%s%s", prefix, name);
    return psl->n > 0 && bsearch(&k, psl->rules, psl->n, sizeof(*psl->rules), psl_cmp) != NULL;
}

/* Where the public suffix of domain starts. */
static const char *psl_suffix(const auth_psl_t *psl, const char *domain)
{
    const char *last = strrchr(domain, '.');

    /* Left to right: the first rule to match is the longest one. */
    for (const char *cand = domain; cand != NULL;) {
        const char *parent = strchr(cand, '.');
        if (psl_has(psl, "!", cand))
            return parent != NULL ? parent + 1 : cand;
        if (psl_has(psl, "", cand) || (parent != NULL && psl_has(psl, "*.", parent + 1)))
            return cand;
        cand = parent != NULL ? parent + 1 : NULL;
    }
    /* The default rule "*": the last label is public. */
    return last != NULL ? last + 1 : domain;
}

void auth_psl_org_domain(const auth_psl_t *psl, const char *domain, char *out, size_t outlen)
{
    const char *suffix = psl_suffix(psl, domain), *org = domain;

    /* One label more than the public suffix. */
    for (const char *p = domain; p < suffix; p++)
        if (*p == '.' && p + 1 < suffix)
            org = p + 1;
    if (suffix == domain)
        org = domain;
    snprintf(out, outlen, "%s", org);
}
