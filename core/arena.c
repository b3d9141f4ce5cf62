/*
 * arena.c - a bump allocator over a chain of blocks.
 *
 * Small requests share blocks that double in size; a request larger than
 * half a block gets a block of its own, so a 20 MB attachment does not
 * waste a 40 MB block.
 */
#include "arena.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct block {
    struct block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} block_t;

struct arena {
    block_t *head;
    size_t next_size;
    size_t used;
};

#define ARENA_ALIGN 16
#define ARENA_MIN_BLOCK 4096
#define ARENA_MAX_BLOCK (1024 * 1024)

static block_t *block_new(size_t size)
{
    block_t *b = xmalloc(sizeof(block_t) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena_t *arena_new(size_t hint)
{
    arena_t *a = xcalloc(1, sizeof(*a));
    a->next_size = hint < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : hint;
    a->head = block_new(a->next_size);
    return a;
}

void arena_destroy(arena_t **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    block_t *b = (*ap)->head;
    while (b != NULL) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(*ap);
    *ap = NULL;
}

void *arena_alloc(arena_t *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    a->used += need;
    block_t *b = a->head;
    if (b->size - b->used >= need) {
        void *p = b->data + b->used;
        b->used += need;
        return p;
    }
    /* A large request gets its own block, linked behind the current one so
     * that the current block keeps serving small requests. */
    if (need > a->next_size / 2) {
        block_t *big = block_new(need);
        big->used = need;
        big->next = b->next;
        b->next = big;
        return big->data;
    }
    if (a->next_size < ARENA_MAX_BLOCK)
        a->next_size *= 2;
    block_t *nb = block_new(a->next_size);
    nb->next = b;
    a->head = nb;
    nb->used = need;
    return nb->data;
}

void *arena_calloc(arena_t *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        xalloc_die("arena_calloc overflow");
    void *p = arena_alloc(a, n * size);
    memset(p, 0, n * size);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void *arena_memdup(arena_t *a, const void *p, size_t n)
{
    void *q = arena_alloc(a, n);
    if (n > 0)
        memcpy(q, p, n);
    return q;
}

char *arena_vprintf(arena_t *a, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const arena_t *a)
{
    return a->used;
}
