/*
 * check.h - the few assertions the unit tests need, and the closing line
 * "N passed, N failed" that the test runner reads.
 */
#ifndef SMF_CHECK_H
#define SMF_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle) check_contains(__FILE__, __LINE__, (hay), (needle))

static inline void check_contains(const char *file, int line, const char *hay, const char *needle)
{
    if (hay != NULL && strstr(hay, needle) != NULL) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "FAIL %s:%d: expected \"%s\" in \"%s\"\n", file, line, needle,
            hay ? hay : "(null)");
}

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
