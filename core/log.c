/*
 * log.c - timestamped log lines on stderr.
 *
 * Each line is formatted into a local buffer and written with one write(2)
 * so that lines from worker threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile smf_log_level_t log_level = SMF_LOG_INFO;
/* The program the lines come from: smfd, or smfctl and the tools that share the core. */
static const char *log_program = "smfd";

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* Warnings and errors so far, printed or not: smfd -t sums them up. */
static atomic_ulong log_problems;

unsigned long log_problem_count(void)
{
    return atomic_load(&log_problems);
}

void log_set_program(const char *name)
{
    log_program = name;
}

const char *log_program_name(void)
{
    return log_program;
}

void log_set_level(smf_log_level_t level)
{
    log_level = level;
}

smf_log_level_t log_get_level(void)
{
    return log_level;
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warn") == 0)
        return SMF_LOG_WARN;
    return -1;
}

void log_vmsg(smf_log_level_t level, const char *subject, const char *fmt, va_list ap)
{
    if (level <= SMF_LOG_WARN)
        atomic_fetch_add(&log_problems, 1);
    if (level > log_level)
        return;
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n,
                          ".%03ld %s[%d] %s: ", (long)(tv.tv_usec / 1000), log_program,
                          (int)getpid(), level_names[level]);
    if (subject != NULL && n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ", subject);
    if (n < sizeof(line))
        n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    /* One event, one line: a newline in a sender address or a module's
     * detail must not forge a line of its own in the log. */
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

void log_msg(smf_log_level_t level, const char *subject, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, subject, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("smfd: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}
