/*
 * log.h - the engine's log: one line per event on stderr, with time,
 * severity and an optional subject (module name, message id).
 *
 * Severities follow Postfix: error (something failed and was handled),
 * warning (something is wrong but work goes on), info, debug. fatal ends
 * the process; it is for start-up and configuration errors only.
 */
#ifndef SMF_LOG_H
#define SMF_LOG_H

#include "smf/module.h"

/* Sets the most verbose severity printed (default SMF_LOG_INFO). */
void log_set_level(smf_log_level_t level);
/* Names the program in each line ("smfd" unless set); name must outlive the logging. */
void log_set_program(const char *name);
/* The program named in each line, for messages that speak of the program
 * running (smfd, or smfctl calling the same code). */
const char *log_program_name(void);
/* Parses "error", "warning", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *name);
smf_log_level_t log_get_level(void);
/* How many warnings and errors were logged (or would have been, at a
 * quieter level) since the start. */
unsigned long log_problem_count(void);

void log_msg(smf_log_level_t level, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(smf_log_level_t level, const char *subject, const char *fmt, va_list ap);

#define log_error(...) log_msg(SMF_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(SMF_LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(SMF_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(SMF_LOG_DEBUG, NULL, __VA_ARGS__)

/* Prints "fatal: ..." and exits with status 1. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
