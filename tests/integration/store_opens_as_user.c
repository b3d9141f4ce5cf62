/*
 * store_opens_as_user.c - an LD_PRELOAD shim for the tests: a process that
 * opens an LMDB file (data.mdb or lock.mdb) while it acts as another user
 * but could still become root again (a real or saved uid of 0) is ended at
 * once with a message, since the files a store holds are the user's and
 * LMDB trusts what it reads from them. Other opens go through as usual.
 */
/* Its own open() and openat(), not the checked inline ones. */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), len = strlen(end);
    return n >= len && strcmp(s + n - len, end) == 0;
}

static void check(const char *path)
{
    uid_t r, e, s;
    if (path == NULL || !(ends_with(path, "/data.mdb") || ends_with(path, "/lock.mdb")) ||
        getresuid(&r, &e, &s) != 0 || e == 0 || (r != 0 && s != 0))
        return;
    static const char msg[] = "store_opens_as_user: a store file opened while root could be "
                              "taken back\n";
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(97);
    _exit(97);
}

static mode_t mode_of(int flags, va_list ap)
{
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

#define WRAP_OPEN(name)                                                                            \
    int name(const char *path, int flags, ...)                                                     \
    {                                                                                              \
        static int (*real)(const char *, int, ...);                                                \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_of(flags, ap);                                                          \
        va_end(ap);                                                                                \
        if (real == NULL)                                                                          \
            *(void **)&real = dlsym(RTLD_NEXT, #name);                                             \
        check(path);                                                                               \
        return real(path, flags, mode);                                                            \
    }

#define WRAP_OPENAT(name)                                                                          \
    int name(int dir, const char *path, int flags, ...)                                            \
    {                                                                                              \
        static int (*real)(int, const char *, int, ...);                                           \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = mode_of(flags, ap);                                                          \
        va_end(ap);                                                                                \
        if (real == NULL)                                                                          \
            *(void **)&real = dlsym(RTLD_NEXT, #name);                                             \
        check(path);                                                                               \
        return real(dir, path, flags, mode);                                                       \
    }

WRAP_OPEN(open)
WRAP_OPEN(open64)
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)
