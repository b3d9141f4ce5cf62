/*
 * smfc_report.c - what smfc prints: JSON lines or an aligned table on
 * stdout, failures on stderr, a progress line on a terminal, a summary.
 */
#include "jsontext.h"
#include "smfc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SMFC_LABEL_MAX 56
#define SMFC_TOP_SYMBOLS 3

static const char *const smfc_actions[] = {"accept", "add_header", "quarantine", "tempfail",
                                           "reject"};
#define SMFC_NACTIONS (sizeof smfc_actions / sizeof smfc_actions[0])

struct smfc_report {
    const smfc_opts_t *o;
    int label_width;
    bool tty; /* stderr is a terminal: show progress. */
    bool stdout_tty;
    bool progress_shown;
    bool header_done;
    double start_ms, last_progress_ms;
    size_t done, failed, other;
    size_t counts[SMFC_NACTIONS];
    size_t not_sent;      /* Failed unsent: summed up in one line at the end. */
    char *not_sent_first; /* Which was the first of those, and why. */
};

smfc_report_t *smfc_report_new(const smfc_opts_t *o, size_t label_width)
{
    smfc_report_t *r = calloc(1, sizeof *r);
    if (!r) {
        fputs("smfc: out of memory\n", stderr);
        exit(75);
    }
    r->o = o;
    r->label_width = label_width > SMFC_LABEL_MAX ? SMFC_LABEL_MAX : (int)label_width;
    if (r->label_width < 4)
        r->label_width = 4;
    r->tty = !o->quiet && isatty(STDERR_FILENO);
    r->stdout_tty = isatty(STDOUT_FILENO);
    r->start_ms = smfc_now_ms();
    return r;
}

static void smfc_progress_clear(smfc_report_t *r)
{
    if (r->progress_shown) {
        fputs("\r\033[K", stderr);
        r->progress_shown = false;
    }
}

void smfc_report_progress(smfc_report_t *r, size_t done, size_t total, bool force)
{
    double now = smfc_now_ms();
    if (!r->tty || (!force && now - r->last_progress_ms < 100))
        return;
    r->last_progress_ms = now;
    double secs = (now - r->start_ms) / 1000.0;
    fprintf(stderr, "\r\033[K%zu/%zu messages, %.0f msgs/s", done, total,
            secs > 0 ? (double)done / secs : 0.0);
    fflush(stderr);
    r->progress_shown = true;
}

void smfc_report_note(smfc_report_t *r, const char *text)
{
    smfc_progress_clear(r);
    fprintf(stderr, "smfc: %s\n", text);
}

/* The engine's numbers are kept as they came; ours are rounded to microseconds. */
static json_t *smfc_ms(double ms)
{
    return json_real(round(ms * 1000.0) / 1000.0);
}

static json_t *smfc_copy_or_null(json_t *reply, const char *key)
{
    json_t *v = json_object_get(reply, key);
    return v ? json_incref(v) : json_null();
}

static json_t *smfc_symbols_json(json_t *reply)
{
    json_t *out = json_array(), *symbols = json_object_get(reply, "symbols");
    for (size_t i = 0; i < json_array_size(symbols); i++) {
        json_t *sym = json_array_get(symbols, i), *s = json_object();
        json_object_set_new(s, "name", smfc_copy_or_null(sym, "name"));
        json_object_set_new(s, "score", smfc_copy_or_null(sym, "score"));
        json_object_set_new(s, "module", smfc_copy_or_null(sym, "module"));
        if (json_object_get(sym, "detail"))
            json_object_set_new(s, "detail", smfc_copy_or_null(sym, "detail"));
        json_array_append_new(out, s);
    }
    return out;
}

static void smfc_print_json(const smfc_result_t *res)
{
    json_t *o = json_object();
    json_object_set_new(o, "file", jsontext_new(res->label));
    if (res->reply) {
        json_t *rep = res->reply;
        json_object_set_new(o, "id", smfc_copy_or_null(rep, "id"));
        json_object_set_new(o, "action", smfc_copy_or_null(rep, "action"));
        json_object_set_new(o, "score", smfc_copy_or_null(rep, "score"));
        json_object_set_new(o, "symbols", smfc_symbols_json(rep));
        json_object_set_new(o, "virus", smfc_copy_or_null(rep, "virus"));
        json_object_set_new(o, "quarantine_id", smfc_copy_or_null(rep, "quarantine_id"));
        /* What an MTA would answer and add: the front end's half of the verdict. */
        json_object_set_new(o, "smtp", smfc_copy_or_null(rep, "smtp"));
        json_object_set_new(o, "headers", smfc_copy_or_null(rep, "headers"));
        json_object_set_new(o, "elapsed_ms", smfc_ms(res->elapsed_ms));
        json_object_set_new(o, "engine_ms", smfc_copy_or_null(rep, "elapsed_ms"));
        json_object_set_new(o, "queued_ms", smfc_copy_or_null(rep, "queued_ms"));
        json_object_set_new(o, "stages", smfc_copy_or_null(rep, "stages"));
        json_object_set_new(o, "domains", smfc_copy_or_null(rep, "domains"));
    } else {
        json_object_set_new(o, "action", json_null());
        json_object_set_new(o, "error", jsontext_new(res->code));
        json_object_set_new(o, "message", jsontext_new(res->message));
        if (res->elapsed_ms > 0)
            json_object_set_new(o, "elapsed_ms", smfc_ms(res->elapsed_ms));
    }
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    json_decref(o);
}

/* Long paths keep their end, which names the file. */
static void smfc_print_label(const char *label, int width)
{
    int len = (int)strlen(label);
    if (len > width)
        printf("...%s", label + len - (width - 3));
    else
        printf("%-*s", width, label);
}

static int smfc_symbol_cmp(const void *a, const void *b)
{
    double x = fabs(json_number_value(json_object_get(*(json_t *const *)a, "score")));
    double y = fabs(json_number_value(json_object_get(*(json_t *const *)b, "score")));
    return (x < y) - (x > y);
}

static void smfc_print_symbols(json_t *symbols)
{
    size_t n = json_array_size(symbols);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!sorted)
        return;
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(symbols, i);
    qsort(sorted, n, sizeof *sorted, smfc_symbol_cmp);
    for (size_t i = 0; i < n && i < SMFC_TOP_SYMBOLS; i++) {
        const char *name = json_string_value(json_object_get(sorted[i], "name"));
        double score = json_number_value(json_object_get(sorted[i], "score"));
        printf("%s%s(%g)", i ? " " : "", name ? name : "?", score);
    }
    if (n > SMFC_TOP_SYMBOLS)
        printf(" +%zu more", n - SMFC_TOP_SYMBOLS);
    free(sorted);
}

static void smfc_print_row(smfc_report_t *r, const smfc_result_t *res)
{
    if (!r->header_done) {
        printf("%-*s  %-10s  %8s  %s\n", r->label_width, "FILE", "ACTION", "SCORE", "TOP SYMBOLS");
        r->header_done = true;
    }
    smfc_print_label(res->label, r->label_width);
    if (res->reply) {
        const char *action = json_string_value(json_object_get(res->reply, "action"));
        double score = json_number_value(json_object_get(res->reply, "score"));
        printf("  %-10s  %8.2f  ", action ? action : "?", score);
        const char *virus = json_string_value(json_object_get(res->reply, "virus"));
        if (virus != NULL)
            printf("virus=%s ", virus);
        smfc_print_symbols(json_object_get(res->reply, "symbols"));
    } else {
        printf("  %-10s  %8s  %s%s: %s", "FAILED", "-", res->engine_error ? "engine error " : "",
               res->code, res->message);
    }
    putchar('\n');
}

static void smfc_count(smfc_report_t *r, const smfc_result_t *res)
{
    r->done++;
    if (!res->reply) {
        r->failed++;
        return;
    }
    const char *action = json_string_value(json_object_get(res->reply, "action"));
    for (size_t i = 0; i < SMFC_NACTIONS; i++)
        if (action && strcmp(action, smfc_actions[i]) == 0) {
            r->counts[i]++;
            return;
        }
    r->other++;
}

void smfc_report_result(smfc_report_t *r, const smfc_result_t *res)
{
    smfc_count(r, res);
    bool print_row = !r->o->json && !r->o->quiet;
    if (!res->reply || print_row || r->o->json)
        smfc_progress_clear(r);
    /* Messages not sent because the engine was given up on are summed up
     * in one line at the end: a large batch would otherwise fill stderr
     * with one line per message left. */
    if (res->not_sent && r->not_sent++ == 0) {
        const char *why = res->message;
        if (strncmp(why, "not sent: ", 10) == 0)
            why += 10;
        size_t n = strlen(res->label) + strlen(why) + 16;
        r->not_sent_first = malloc(n);
        if (r->not_sent_first != NULL)
            snprintf(r->not_sent_first, n, "(the first: %s): %s", res->label, why);
    }
    /* A table row on a terminal already shows the failure: do not say it twice. */
    if (!res->reply && !res->not_sent && !(print_row && r->stdout_tty))
        fprintf(stderr, "smfc: %s: %s%s: %s\n", res->label,
                res->engine_error ? "engine error " : "", res->code, res->message);
    if (r->o->json)
        smfc_print_json(res);
    else if (print_row)
        smfc_print_row(r, res);
    if (print_row || r->o->json)
        fflush(stdout);
}

size_t smfc_report_finish(smfc_report_t *r)
{
    smfc_progress_clear(r);
    bool show = !r->o->quiet && (!r->o->json || r->tty);
    if (show) {
        /* In JSON mode stdout holds only JSON: the summary goes to the terminal. */
        FILE *f = r->o->json ? stderr : stdout;
        double secs = (smfc_now_ms() - r->start_ms) / 1000.0;
        fprintf(f, "%zu messages in %.2f s, %.1f msgs/s:", r->done, secs,
                secs > 0 ? (double)r->done / secs : 0.0);
        for (size_t i = 0; i < SMFC_NACTIONS; i++)
            fprintf(f, " %s %zu,", smfc_actions[i], r->counts[i]);
        if (r->other)
            fprintf(f, " other %zu,", r->other);
        fprintf(f, " failed %zu\n", r->failed);
    }
    if (r->not_sent)
        fprintf(stderr, "smfc: %zu messages not sent %s\n", r->not_sent,
                r->not_sent_first ? r->not_sent_first : "");
    if (r->failed)
        fprintf(stderr, "smfc: %zu of %zu messages got no verdict (see above)\n", r->failed,
                r->done);
    fflush(stdout);
    return r->failed;
}

void smfc_report_destroy(smfc_report_t **rp)
{
    if (*rp != NULL)
        free((*rp)->not_sent_first);
    free(*rp);
    *rp = NULL;
}
