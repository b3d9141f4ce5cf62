/*
 * inflate_count.c - an LD_PRELOAD shim for the module tests: counts the
 * bytes zlib's inflate() gives out in the whole process, whoever calls it
 * (a module or libarchive), and the bytes crc32() sums, and writes the two
 * sums to the file named by SMF_INFLATE_COUNT at exit. Shows how often a
 * scan inflates, or sums, the same data.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

static unsigned long long inflated, summed;

int inflate(z_streamp strm, int flush)
{
    static int (*real)(z_streamp, int);
    uInt room = strm->avail_out;
    int rc;

    if (real == NULL)
        real = (int (*)(z_streamp, int))dlsym(RTLD_NEXT, "inflate");
    if (real == NULL)
        return Z_STREAM_ERROR;
    rc = real(strm, flush);
    inflated += room - strm->avail_out;
    return rc;
}

uLong crc32(uLong crc, const Bytef *buf, uInt len)
{
    static uLong (*real)(uLong, const Bytef *, uInt);

    if (real == NULL)
        real = (uLong(*)(uLong, const Bytef *, uInt))dlsym(RTLD_NEXT, "crc32");
    if (real == NULL)
        return 0;
    if (buf != NULL)
        summed += len;
    return real(crc, buf, len);
}

__attribute__((destructor)) static void inflate_count_report(void)
{
    const char *path = getenv("SMF_INFLATE_COUNT");
    FILE *f = path != NULL ? fopen(path, "w") : NULL;

    if (f == NULL)
        return;
    fprintf(f, "%llu %llu\n", inflated, summed);
    fclose(f);
}
