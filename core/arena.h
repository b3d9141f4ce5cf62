/*
 * arena.h - per-message memory.
 *
 * Everything that lives as long as one message comes from one arena and is
 * freed in one piece, so nothing per-message is freed one by one and a
 * scan can never leak. Allocation either succeeds or does not return (the
 * engine cannot go on without memory); the module-facing cap is enforced
 * by the caller, not here.
 */
#ifndef SMF_ARENA_H
#define SMF_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena arena_t;

/* Makes an empty arena whose first block holds `hint` bytes. */
arena_t *arena_new(size_t hint);
/* Frees every allocation of the arena and the arena; nulls *ap. */
void arena_destroy(arena_t **ap);
/* 16-byte aligned, uninitialised memory that lives as long as the arena. */
void *arena_alloc(arena_t *a, size_t size);
/* Zeroed memory. */
void *arena_calloc(arena_t *a, size_t n, size_t size);
char *arena_strdup(arena_t *a, const char *s);
/* Copies n bytes and adds a NUL. */
char *arena_strndup(arena_t *a, const char *s, size_t n);
void *arena_memdup(arena_t *a, const void *p, size_t n);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap);
/* Bytes handed out so far, for statistics and caps. */
size_t arena_used(const arena_t *a);

#endif
