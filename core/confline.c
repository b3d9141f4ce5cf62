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

int confline_unclosed(const char *path, char *text, size_t textlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    lex_t st = PLAIN;
    int line = 1, depth = 0, outer = 0;
    int c = fgetc(f);
    while (c != EOF) {
        int next = fgetc(f);
        if (st == PLAIN && c == '{' && depth++ == 0)
            outer = line;
        else if (st == PLAIN && c == '}' && depth > 0)
            depth--;
        int used = lex_step(&st, c, next);
        line += c == '\n';
        if (used == 2) {
            line += next == '\n';
            next = fgetc(f);
        }
        c = next;
    }
    if (depth > 0 && text != NULL && textlen > 0)
        line_text(f, outer, text, textlen);
    fclose(f);
    return depth > 0 ? outer : 0;
}

int confline_real(const char *path, int reported, int line_extra, int block_extra)
{
    if (line_extra == 0 && block_extra == 0)
        return reported;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return reported;
    lex_t st = PLAIN;
    int real = 1, counted = 1;
    int c = fgetc(f);
    while (c != EOF && counted < reported) {
        int next = fgetc(f);
        lex_t before = st;
        int used = lex_step(&st, c, next);
        int newlines = (c == '\n') + (used == 2 && next == '\n');
        int gain = newlines;
        if (before == LINE_COMMENT && st == PLAIN)
            gain += line_extra;
        else if (before == BLOCK_COMMENT && st == PLAIN)
            gain += block_extra;
        /* The count would pass the reported line here: the culprit is on this one. */
        if (counted + gain > reported)
            break;
        real += newlines;
        counted += gain;
        if (used == 2)
            next = fgetc(f);
        c = next;
    }
    fclose(f);
    return real;
}

int confline_open_string(const char *path, char *text, size_t textlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    lex_t st = PLAIN;
    int line = 1, opened = 0, found = 0;
    int c = fgetc(f);
    while (c != EOF && found == 0) {
        int next = fgetc(f);
        lex_t before = st;
        int used = lex_step(&st, c, next);
        if (before == PLAIN && (st == DOUBLE_QUOTED || st == SINGLE_QUOTED))
            opened = line;
        if (c == '\n' || (used == 2 && next == '\n')) {
            if (st == DOUBLE_QUOTED || st == SINGLE_QUOTED)
                found = opened;
            line++;
        }
        if (used == 2)
            next = fgetc(f);
        c = next;
    }
    if (found > 0 && text != NULL && textlen > 0)
        line_text(f, found, text, textlen);
    fclose(f);
    return found;
}
