/*
 * watch.c - fingerprints of watched paths, compared at each poll. Polling
 * stat() every few seconds costs little, needs no inotify limits and sees
 * a directory that is replaced as a whole (rename) like any other change.
 */
#include "watch.h"
#include "xalloc.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct watched {
    char *path;
    unsigned long long base;    /* What the last reload saw. */
    unsigned long long pending; /* A different state seen at the last poll. */
    bool has_pending;
} watched_t;

struct watch {
    size_t n;
    watched_t *v;
};

/* FNV-1a: cheap and good enough to tell two directory states apart. */
static void mix(unsigned long long *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        *h ^= p[i];
        *h *= 1099511628211ULL;
    }
}

static void mix_stat(unsigned long long *h, const struct stat *st)
{
    int64_t v[6] = {(int64_t)st->st_ino,          (int64_t)st->st_size,
                    (int64_t)st->st_mtim.tv_sec,  (int64_t)st->st_mtim.tv_nsec,
                    (int64_t)st->st_ctim.tv_nsec, (int64_t)st->st_mode};
    mix(h, v, sizeof(v));
}

static int skip_dots(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

unsigned long long watch_fingerprint(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    unsigned long long h = 14695981039346656037ULL;
    mix_stat(&h, &st);
    if (!S_ISDIR(st.st_mode))
        return h ? h : 1;
    struct dirent **names;
    int n = scandir(path, &names, skip_dots, alphasort);
    for (int i = 0; i < n; i++) {
        char full[4096];
        struct stat es;
        snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
        mix(&h, names[i]->d_name, strlen(names[i]->d_name) + 1);
        if (stat(full, &es) == 0)
            mix_stat(&h, &es);
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    return h ? h : 1;
}

watch_t *watch_new(const char *const *paths, size_t n)
{
    watch_t *w = xcalloc(1, sizeof(*w));
    w->n = n;
    w->v = xcalloc(n ? n : 1, sizeof(watched_t));
    for (size_t i = 0; i < n; i++) {
        w->v[i].path = xstrdup(paths[i]);
        w->v[i].base = watch_fingerprint(paths[i]);
    }
    return w;
}

void watch_destroy(watch_t **wp)
{
    watch_t *w = *wp;
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].path);
    free(w->v);
    free(w);
    *wp = NULL;
}

bool watch_same(const watch_t *w, const char *const *paths, size_t n)
{
    if (w == NULL || w->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(w->v[i].path, paths[i]) != 0)
            return false;
    return true;
}

const char *watch_poll(watch_t *w)
{
    const char *changed = NULL;
    for (size_t i = 0; i < w->n; i++) {
        watched_t *p = &w->v[i];
        unsigned long long fp = watch_fingerprint(p->path);
        if (fp == p->base) {
            p->has_pending = false;
        } else if (p->has_pending && fp == p->pending) {
            p->base = fp;
            p->has_pending = false;
            if (changed == NULL)
                changed = p->path;
        } else {
            p->pending = fp;
            p->has_pending = true;
        }
    }
    return changed;
}
