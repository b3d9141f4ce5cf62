/*
 * errbuf.h - the engine's way of explaining a failure: the function writes
 * a sentence into the caller's buffer and returns -1.
 */
#ifndef SMF_ERRBUF_H
#define SMF_ERRBUF_H

#include <stdarg.h>
#include <stdio.h>

static inline int errbuf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline int errbuf_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

#endif
