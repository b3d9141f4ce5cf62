/*
 * rules.c - parser of the pattern module's rule files. Each non-blank,
 * non-comment line is NAME TARGET /REGEX/FLAGS SCORE [OPTION...] ["DESCRIPTION"].
 * Errors name the file and line so that an operator can fix them at once.
 */
#include "rules.h"

#include <smf/module.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest rule name; symbol names are meant to be read. */
#define PAT_MAX_NAME 64

/* Parsing state of one line. */
typedef struct line_ctx {
    const char *file;
    unsigned line;
    char *p; /* Cursor into the line. */
    char *err;
    size_t errlen;
} line_ctx_t;

static const char *const target_names[PAT_TARGET_COUNT] = {"subject", "header", "headers", "body",
                                                           "rawbody", "url",    "filename"};

const char *pat_target_name(pat_target_t t)
{
    return (unsigned)t < PAT_TARGET_COUNT ? target_names[t] : "?";
}

static int line_fail(line_ctx_t *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int line_fail(line_ctx_t *lc, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(lc->err, lc->errlen, "%s:%u: ", lc->file, lc->line);

    if (n >= 0 && (size_t)n < lc->errlen) {
        va_start(ap, fmt);
        vsnprintf(lc->err + n, lc->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return SMF_EINVAL;
}

static void skip_space(line_ctx_t *lc)
{
    while (*lc->p == ' ' || *lc->p == '\t')
        lc->p++;
}

/* Cuts the next blank-separated word out of the line; NULL at the end. */
static char *next_word(line_ctx_t *lc)
{
    char *start;

    skip_space(lc);
    if (*lc->p == '\0' || *lc->p == '#')
        return NULL;
    start = lc->p;
    while (*lc->p != '\0' && *lc->p != ' ' && *lc->p != '\t')
        lc->p++;
    if (*lc->p != '\0')
        *lc->p++ = '\0';
    return start;
}

static int parse_name(line_ctx_t *lc, pat_rule_t *r)
{
    char *w = next_word(lc);

    if (w == NULL)
        return line_fail(lc, "missing rule name");
    if (strlen(w) > PAT_MAX_NAME || !isupper((unsigned char)w[0]))
        return line_fail(lc, "bad rule name '%s' (A-Z, 0-9, _; at most %d)", w, PAT_MAX_NAME);
    for (const char *s = w; *s != '\0'; s++) {
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return line_fail(lc, "bad rule name '%s' (A-Z, 0-9, _)", w);
    }
    r->name = strdup(w);
    return r->name != NULL ? 0 : SMF_ENOMEM;
}

/* A header field name: printable ASCII except ':' (RFC 5322). */
static int valid_field_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s <= ' ' || *s > '~' || *s == ':')
            return 0;
    }
    return 1;
}

static int parse_target(line_ctx_t *lc, pat_rule_t *r)
{
    char *w = next_word(lc);

    if (w == NULL)
        return line_fail(lc, "%s: missing target", r->name);
    if (strncasecmp(w, "header:", 7) == 0) {
        if (!valid_field_name(w + 7))
            return line_fail(lc, "%s: bad header name in '%s'", r->name, w);
        r->target = PAT_TARGET_HEADER;
        r->header = strdup(w + 7);
        return r->header != NULL ? 0 : SMF_ENOMEM;
    }
    for (int t = 0; t < PAT_TARGET_COUNT; t++) {
        if (t != PAT_TARGET_HEADER && strcasecmp(w, target_names[t]) == 0) {
            r->target = (pat_target_t)t;
            return 0;
        }
    }
    return line_fail(lc, "%s: unknown target '%s'", r->name, w);
}

/* /REGEX/FLAGS: a '/' inside the regex is written '\/'. */
static int parse_regex(line_ctx_t *lc, pat_rule_t *r)
{
    char *start, *end;

    skip_space(lc);
    if (*lc->p != '/')
        return line_fail(lc, "%s: regex must be written /like this/", r->name);
    start = ++lc->p;
    for (end = start; *end != '\0' && *end != '/'; end++) {
        if (*end == '\\' && end[1] != '\0')
            end++;
    }
    if (*end != '/')
        return line_fail(lc, "%s: regex has no closing '/'", r->name);
    if (end == start)
        return line_fail(lc, "%s: empty regex", r->name);
    *end = '\0';
    r->regex = strdup(start);
    if (r->regex == NULL)
        return SMF_ENOMEM;
    for (lc->p = end + 1; *lc->p != '\0' && *lc->p != ' ' && *lc->p != '\t'; lc->p++) {
        switch (*lc->p) {
        case 'i':
            r->flags |= PAT_FLAG_CASELESS;
            break;
        case 's':
            r->flags |= PAT_FLAG_DOTALL;
            break;
        case 'm':
            r->flags |= PAT_FLAG_MULTILINE;
            break;
        default:
            return line_fail(lc, "%s: unknown regex flag '%c'", r->name, *lc->p);
        }
    }
    return 0;
}

static int parse_score(line_ctx_t *lc, pat_rule_t *r)
{
    char *w = next_word(lc), *end;

    if (w == NULL)
        return line_fail(lc, "%s: missing score", r->name);
    errno = 0;
    r->score = strtod(w, &end);
    if (errno != 0 || *end != '\0' || end == w || !isfinite(r->score))
        return line_fail(lc, "%s: bad score '%s'", r->name, w);
    return 0;
}

static int parse_option(line_ctx_t *lc, pat_rule_t *r, const char *w)
{
    if (strcmp(w, "negate") == 0) {
        r->negate = 1;
    } else if (strcmp(w, "verdict=spam") == 0) {
        r->verdict = SMF_VERDICT_SPAM;
    } else if (strcmp(w, "verdict=block") == 0) {
        r->verdict = SMF_VERDICT_BLOCK;
    } else {
        return line_fail(lc, "%s: unknown option '%s'", r->name, w);
    }
    return 0;
}

/* Options, then an optional "description" running to its closing quote. */
static int parse_tail(line_ctx_t *lc, pat_rule_t *r)
{
    char *w, *close;
    int rc;

    for (;;) {
        skip_space(lc);
        if (*lc->p == '"')
            break;
        if ((w = next_word(lc)) == NULL) {
            r->description = strdup("");
            return r->description != NULL ? 0 : SMF_ENOMEM;
        }
        if ((rc = parse_option(lc, r, w)) < 0)
            return rc;
    }
    close = strrchr(lc->p + 1, '"');
    if (close == NULL)
        return line_fail(lc, "%s: description has no closing '\"'", r->name);
    *close = '\0';
    r->description = strdup(lc->p + 1);
    if (r->description == NULL)
        return SMF_ENOMEM;
    lc->p = close + 1;
    if (next_word(lc) != NULL)
        return line_fail(lc, "%s: text after the description", r->name);
    return 0;
}

static void rule_free(pat_rule_t *r)
{
    free(r->name);
    free(r->header);
    free(r->regex);
    free(r->description);
    memset(r, 0, sizeof(*r));
}

static int parse_line(line_ctx_t *lc, pat_rule_t *r)
{
    int rc;

    if ((rc = parse_name(lc, r)) < 0 || (rc = parse_target(lc, r)) < 0 ||
        (rc = parse_regex(lc, r)) < 0 || (rc = parse_score(lc, r)) < 0 ||
        (rc = parse_tail(lc, r)) < 0)
        return rc;
    return 0;
}

/* Two rules with one name would merge into one symbol: refuse. */
static int check_unique(line_ctx_t *lc, const pat_ruleset_t *rs, const pat_rule_t *r)
{
    for (size_t i = 0; i < rs->count; i++) {
        if (strcmp(rs->rules[i].name, r->name) == 0)
            return line_fail(lc, "%s: already defined at %s:%u", r->name, rs->rules[i].file,
                             rs->rules[i].line);
    }
    return 0;
}

static int ruleset_push(pat_ruleset_t *rs, pat_rule_t *r)
{
    if (rs->count == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        pat_rule_t *n = realloc(rs->rules, cap * sizeof(*n));
        if (n == NULL)
            return SMF_ENOMEM;
        rs->rules = n;
        rs->cap = cap;
    }
    rs->rules[rs->count++] = *r;
    return 0;
}

static int remember_file(pat_ruleset_t *rs, const char *path, const char **out)
{
    char **n = realloc(rs->files, (rs->file_count + 1) * sizeof(*n));

    if (n == NULL)
        return SMF_ENOMEM;
    rs->files = n;
    if ((n[rs->file_count] = strdup(path)) == NULL)
        return SMF_ENOMEM;
    *out = n[rs->file_count++];
    return 0;
}

/* Parses one line into the set; blank and comment lines add nothing. */
static int load_line(pat_ruleset_t *rs, line_ctx_t *lc, char *text)
{
    pat_rule_t r = {0};
    int rc;

    text[strcspn(text, "\r\n")] = '\0';
    lc->p = text;
    skip_space(lc);
    if (*lc->p == '\0' || *lc->p == '#')
        return 0;
    r.file = lc->file;
    r.line = lc->line;
    if ((rc = parse_line(lc, &r)) < 0 || (rc = check_unique(lc, rs, &r)) < 0 ||
        (rc = ruleset_push(rs, &r)) < 0) {
        if (rc == SMF_ENOMEM)
            snprintf(lc->err, lc->errlen, "%s:%u: out of memory", lc->file, lc->line);
        rule_free(&r);
        return rc;
    }
    return 0;
}

int pat_rules_load(pat_ruleset_t *rs, const char *path, char *err, size_t errlen)
{
    line_ctx_t lc = {.err = err, .errlen = errlen};
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SMF_EIO;
    }
    if ((rc = remember_file(rs, path, &lc.file)) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return rc;
    }
    while (rc == 0 && getline(&buf, &cap, f) >= 0) {
        lc.line++;
        rc = load_line(rs, &lc, buf);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = SMF_EIO;
    }
    free(buf);
    fclose(f);
    return rc;
}

void pat_rules_free(pat_ruleset_t *rs)
{
    for (size_t i = 0; i < rs->count; i++)
        rule_free(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->file_count; i++)
        free(rs->files[i]);
    free(rs->files);
    memset(rs, 0, sizeof(*rs));
}
