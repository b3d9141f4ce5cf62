/*
 * bench_message.c - parses every file of a folder N times and prints how
 * many messages per second message_parse() handles on one thread.
 * Usage: bench_message DIR [ROUNDS]
 */
#include "message.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct file {
    char *data;
    size_t len;
} file_t;

static int read_file(const char *path, file_t *f)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->data = malloc(n > 0 ? (size_t)n : 1);
    f->len = fread(f->data, 1, n > 0 ? (size_t)n : 0, fp);
    fclose(fp);
    return 0;
}

static size_t load_dir(const char *dir, file_t **out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        exit(2);
    }
    size_t n = 0, cap = 0;
    file_t *v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = realloc(v, cap * sizeof(*v));
        }
        if (read_file(path, &v[n]) == 0)
            n++;
    }
    closedir(d);
    *out = v;
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    message_init();
    file_t *files;
    size_t n = load_dir(argv[1], &files);
    size_t bytes = 0, parts = 0, urls = 0;
    for (size_t i = 0; i < n; i++)
        bytes += files[i].len;
    double t0 = now();
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            arena_t *a = arena_new(16384);
            message_t *m;
            message_parse(a, files[i].data, files[i].len, NULL, &m);
            parts += m->part_count;
            urls += m->url_count;
            arena_destroy(&a);
        }
    }
    double dt = now() - t0;
    double msgs = (double)n * rounds;
    printf("%s: %zu messages, %.1f KB average, %d rounds\n", argv[1], n,
           n ? (double)bytes / (double)n / 1024.0 : 0.0, rounds);
    printf("  %.0f messages/s, %.1f us/message, %.1f MB/s (%zu parts, %zu URLs per round)\n",
           msgs / dt, dt / msgs * 1e6, (double)bytes * rounds / dt / 1e6, parts / (size_t)rounds,
           urls / (size_t)rounds);
    for (size_t i = 0; i < n; i++)
        free(files[i].data);
    free(files);
    return 0;
}
