/*
 * fuzz_common.h - what the fuzz targets share: reading every byte of what a
 * parser hands back, so that a pointer past the end of its buffer or to
 * freed memory shows under AddressSanitizer even when nothing else would
 * read it, and a check that stops the run on a broken promise.
 */
#ifndef SMF_FUZZ_COMMON_H
#define SMF_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where every byte read ends up, so that the reads are not optimised away. */
static volatile uint8_t fuzz_sink;

static inline void fuzz_touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    fuzz_sink ^= x;
}

/* Reads a NUL-terminated string whole; NULL is allowed. */
static inline size_t fuzz_touch_str(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    fuzz_touch(s, n);
    return n;
}

/* A NUL-terminated copy of n bytes that need not hold a NUL (strndup()
 * reads the source as a C string, which ASan's strict_string_checks refuse
 * past the end of a buffer). Never NULL. */
static inline char *fuzz_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* A promise of the interface that the input broke: a finding like a crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The next line of the input at *p (up to end), NUL-terminated in buf and
 * cut to fit; *p moves past it. The input's end ends the last line. */
static inline void fuzz_next_line(const char **p, const char *end, char *buf, size_t len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl != NULL ? nl : end;
    size_t n = (size_t)(stop - *p);
    if (n >= len)
        n = len - 1;
    memcpy(buf, *p, n);
    buf[n] = '\0';
    *p = nl != NULL ? nl + 1 : end;
}

#endif
