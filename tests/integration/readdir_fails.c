/*
 * readdir_fails.c - an LD_PRELOAD shim for the tests: readdir() fails with
 * EIO, after the first entries, in a folder whose path ends with the value
 * of SMF_READDIR_FAILS, as a failing disk or network file system would make
 * it fail partway. Other folders are read as usual.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Entries returned before the failure: ".", ".." and one name. */
#define READDIR_FAILS_AFTER 3

static bool readdir_fails_here(DIR *dir)
{
    const char *end = getenv("SMF_READDIR_FAILS");
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd(dir));
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (end == NULL || *end == '\0' || n < 0)
        return false;
    path[n] = '\0';
    size_t len = strlen(end);
    return (size_t)n >= len && strcmp(path + n - len, end) == 0;
}

struct dirent *readdir(DIR *dir)
{
    static struct dirent *(*real)(DIR *);
    static DIR *last;
    static int returned;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "readdir");
    if (dir != last) {
        last = dir;
        returned = 0;
    }
    if (returned >= READDIR_FAILS_AFTER && readdir_fails_here(dir)) {
        errno = EIO;
        return NULL;
    }
    returned++;
    return real(dir);
}
