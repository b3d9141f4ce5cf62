/*
 * xalloc.h - allocation that succeeds or does not return.
 *
 * The daemon cannot do anything useful without memory, so, as in Postfix,
 * an allocation failure ends the process with a message instead of
 * spreading NULL checks through every caller.
 */
#ifndef SMF_XALLOC_H
#define SMF_XALLOC_H

#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Prints "fatal: out of memory (what)" and exits with status 75. */
void xalloc_die(const char *what) __attribute__((noreturn));

#endif
