/*
 * confline.c - where in smfd.conf a libconfuse error is.
 *
 * libconfuse reports the line it was reading when it noticed a problem,
 * which is often far from the line an operator has to fix: an unknown
 * option or a value of the wrong type shows only at the next token, a
 * missing `}` only at the end of the file. These functions read the file
 * again to point at the culprit.
 */
#include "confline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whether text (an option's value, up to a comment or the line's end) reads
 * as the kind of value a libconfuse message says was expected. */
static bool value_reads_as(const char *text, const char *msg)
{
    char v[256];
    if (sscanf(text, " %255[^#\n]", v) != 1)
        return false;
    for (size_t n = strlen(v); n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'); n--)
        v[n - 1] = '\0';
    char *end;
    if (strstr(msg, "integer value") != NULL) {
        (void)strtol(v, &end, 0);
        return end != v && *end == '\0';
    }
    if (strstr(msg, "floating point value") != NULL) {
        (void)strtod(v, &end);
        return end != v && *end == '\0';
    }
    if (strstr(msg, "boolean value") != NULL) {
        static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (strcasecmp(v, words[i]) == 0)
                return true;
        return false;
    }
    return false;
}

/*
 * libconfuse notices an unknown option, or a value of the wrong type, only
 * after reading ahead (the next token, or the end of a section), so the
 * line it reports may be many lines past the culprit. The option the
 * message names shows where: the last line at or before the reported one
 * that assigns or opens it, or, for a value of the wrong type, the last
 * such line whose value does not read as that type.
 */
int confline_culprit(const char *path, const char *msg, int reported, bool *section)
{
    char name[128];
    const char *quoted = strstr(msg, "option '");
    if (quoted == NULL || sscanf(quoted, "option '%127[^']'", name) != 1)
        return reported;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return reported;
    bool typed = strstr(msg, "invalid ") != NULL && strstr(msg, " value for option") != NULL;
    char line[4096];
    int n = 0, found = reported, bad = 0;
    size_t len = strlen(name);
    while (n < reported && fgets(line, sizeof(line), f) != NULL) {
        n++;
        const char *p = line + strspn(line, " \t");
        if (strncmp(p, name, len) != 0 || strchr("= \t{", p[len]) == NULL || p[len] == '\0')
            continue;
        found = n;
        *section = p[len + strspn(p + len, " \t")] == '{';
        const char *eq = strchr(p + len, '=');
        if (typed && eq != NULL && !value_reads_as(eq + 1, msg))
            bad = n;
    }
    fclose(f);
    return bad > 0 ? bad : found;
}

/* The lexer's states that matter for finding braces. */
typedef enum { PLAIN, LINE_COMMENT, BLOCK_COMMENT, DOUBLE_QUOTED, SINGLE_QUOTED } lex_t;

/* Advances the lexer over one byte c (next is the byte after it); returns
 * how many bytes were used (2 for a two-byte token such as `/ *`). */
static int lex_step(lex_t *st, int c, int next)
{
    switch (*st) {
    case PLAIN:
        if (c == '#' || (c == '/' && next == '/'))
            *st = LINE_COMMENT;
        else if (c == '/' && next == '*') {
            *st = BLOCK_COMMENT;
            return 2;
        } else if (c == '"')
            *st = DOUBLE_QUOTED;
        else if (c == '\'')
            *st = SINGLE_QUOTED;
        return 1;
    case LINE_COMMENT:
        if (c == '\n')
            *st = PLAIN;
        return 1;
    case BLOCK_COMMENT:
        if (c == '*' && next == '/') {
            *st = PLAIN;
            return 2;
        }
        return 1;
    case DOUBLE_QUOTED:
    case SINGLE_QUOTED:
        if (c == '\\' && next != EOF)
            return 2;
        if (c == (*st == DOUBLE_QUOTED ? '"' : '\''))
            *st = PLAIN;
        return 1;
    }
    return 1;
}

/* Copies line `want` of f, trimmed, into text. */
static void line_text(FILE *f, int want, char *text, size_t textlen)
{
    char line[4096];
    int n = 0;
    text[0] = '\0';
    rewind(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (++n == want) {
            const char *p = line + strspn(line, " \t");
            size_t len = strcspn(p, "\r\n");
            while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            snprintf(text, textlen, "%.*s", (int)len, p);
            return;
        }
}

/* One step of the lexer over a file: the byte (with the one after it when
 * the step took both), the states before and after, and its line. */
typedef struct lex_event {
    int c;
    lex_t before, after;
    int newlines; /* Line breaks the step took: 0, 1 or 2. */
    int line;     /* The line the step began on, from 1. */
} lex_event_t;

/* Walks f with the lexer, calling visit for each step until it returns
 * false or the file ends. */
static void lex_walk(FILE *f, bool (*visit)(void *ctx, const lex_event_t *e), void *ctx)
{
    lex_t st = PLAIN;
    int line = 1;
    int c = fgetc(f);
    while (c != EOF) {
        int next = fgetc(f);
        lex_event_t e = {.c = c, .before = st, .line = line};
        int used = lex_step(&st, c, next);
        e.after = st;
        e.newlines = (c == '\n') + (used == 2 && next == '\n');
        if (!visit(ctx, &e))
            return;
        line += e.newlines;
        if (used == 2)
            next = fgetc(f);
        c = next;
    }
}

/*
 * Walks the file at path with visit, then copies the line *found names
 * (0: none) into text; returns that line. *found is the visitor's answer,
 * inside its ctx.
 */
static int walk_to_line(const char *path, bool (*visit)(void *ctx, const lex_event_t *e), void *ctx,
                        const int *found, char *text, size_t textlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    lex_walk(f, visit, ctx);
    if (*found > 0 && text != NULL && textlen > 0)
        line_text(f, *found, text, textlen);
    fclose(f);
    return *found;
}

/* The sections open so far: how deep, the line of the outermost, and that
 * line again while any is open (0 when none), the answer walk_to_line() reads. */
typedef struct braces {
    int depth, outer, unclosed;
} braces_t;

static bool count_braces(void *ctx, const lex_event_t *e)
{
    braces_t *b = ctx;
    if (e->before == PLAIN && e->c == '{' && b->depth++ == 0)
        b->outer = e->line;
    else if (e->before == PLAIN && e->c == '}' && b->depth > 0)
        b->depth--;
    b->unclosed = b->depth > 0 ? b->outer : 0;
    return true;
}

int confline_unclosed(const char *path, char *text, size_t textlen)
{
    braces_t b = {0, 0, 0};
    return walk_to_line(path, count_braces, &b, &b.unclosed, text, textlen);
}

/* Lines as libconfuse counts them, up to the one it reported. */
typedef struct skew {
    int line_extra, block_extra, reported;
    int real, counted;
} skew_t;

static bool count_like_libconfuse(void *ctx, const lex_event_t *e)
{
    skew_t *k = ctx;
    if (k->counted >= k->reported)
        return false;
    int gain = e->newlines;
    if (e->before == LINE_COMMENT && e->after == PLAIN)
        gain += k->line_extra;
    else if (e->before == BLOCK_COMMENT && e->after == PLAIN)
        gain += k->block_extra;
    /* The count would pass the reported line here: the culprit is on this one. */
    if (k->counted + gain > k->reported)
        return false;
    k->real += e->newlines;
    k->counted += gain;
    return true;
}

int confline_real(const char *path, int reported, int line_extra, int block_extra)
{
    if (line_extra == 0 && block_extra == 0)
        return reported;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return reported;
    skew_t k = {line_extra, block_extra, reported, 1, 1};
    lex_walk(f, count_like_libconfuse, &k);
    fclose(f);
    return k.real;
}

/* Where the last string opened, and the first that a line break finds open. */
typedef struct strings {
    int opened, found;
} strings_t;

static bool find_open_string(void *ctx, const lex_event_t *e)
{
    strings_t *q = ctx;
    bool quoted = e->after == DOUBLE_QUOTED || e->after == SINGLE_QUOTED;
    if (e->before == PLAIN && quoted)
        q->opened = e->line;
    if (e->newlines > 0 && quoted)
        q->found = q->opened;
    return q->found == 0;
}

int confline_open_string(const char *path, char *text, size_t textlen)
{
    strings_t q = {0, 0};
    return walk_to_line(path, find_open_string, &q, &q.found, text, textlen);
}

/* The words of the line being read, as libconfuse's lexer splits them, and
 * the first line read so far that holds a value with a word after it. */
typedef struct words {
    int reported, line;
    int words, eq_word, eqs; /* eq_word: index of the `=` word, or -1. */
    bool in_word, other;     /* other: a brace, comma or parenthesis. */
    int found;
} words_t;

/* Whether the line just read is `name = value word...`: one `=` after one
 * name, more than one word after it, and nothing that makes a list. */
static bool value_runs_on(const words_t *w)
{
    return !w->other && w->eqs == 1 && w->eq_word == 1 && w->words - w->eq_word - 1 >= 2;
}

static void words_reset(words_t *w, int line)
{
    *w = (words_t){.reported = w->reported, .found = w->found, .line = line, .eq_word = -1};
}

static bool find_value_run_on(void *ctx, const lex_event_t *e)
{
    words_t *w = ctx;
    if (e->line != w->line) {
        if (value_runs_on(w))
            w->found = w->line;
        if (w->found > 0 || e->line > w->reported)
            return false;
        words_reset(w, e->line);
    }
    if (e->before == DOUBLE_QUOTED || e->before == SINGLE_QUOTED)
        return true; /* A quoted string is part of the word it opens. */
    if (e->before != PLAIN || e->after == LINE_COMMENT || e->after == BLOCK_COMMENT ||
        e->c == ' ' || e->c == '\t' || e->c == '\r' || e->c == '\n') {
        w->in_word = false;
        return true;
    }
    if (e->c == '=') {
        w->eq_word = w->words++;
        w->eqs++;
        w->in_word = false;
        return true;
    }
    if (e->c != '\0' && strchr("{},()", e->c) != NULL)
        w->other = true;
    if (!w->in_word) {
        w->words++;
        w->in_word = true;
    }
    return true;
}

int confline_value_run_on(const char *path, int reported, char *text, size_t textlen)
{
    words_t w = {.reported = reported, .line = 1, .eq_word = -1};
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    lex_walk(f, find_value_run_on, &w);
    /* The last line, which no line after it closed. */
    if (w.found == 0 && w.line <= reported && value_runs_on(&w))
        w.found = w.line;
    if (w.found > 0 && text != NULL && textlen > 0)
        line_text(f, w.found, text, textlen);
    fclose(f);
    return w.found;
}
