/*
 * cache.c - the pattern module's database cache: one file per target under
 * DATA_DIR/pattern/cache, named after a hash of the Hyperscan version, the
 * CPU features and the target's expressions, so a stale file is never read.
 * Files unused for 30 days are removed.
 */
#include "cache.h"

#include <smf/module.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Opens every cache file; bump it when the layout below changes. It is part
 * of every key too, so that files of another layout are never read. */
static const char pat_cache_magic[8] = {'S', 'M', 'F', 'H', 'S', 'D', 'B', '2'};

/*
 * File layout: magic, key, kept count, kept positions, database length,
 * hash, database. The hash covers the kept positions as well as the
 * database: a position altered on disk would map the database's matches
 * onto other rules.
 */
typedef struct pat_cache_head {
    char magic[8];
    uint64_t key;
    uint64_t nkept;
} pat_cache_head_t;

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_SEED 0xcbf29ce484222325ULL

static int mkdir_one(const char *path)
{
    return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -1;
}

/* A cache file unused for this long is removed when the module starts. */
#define PAT_CACHE_KEEP_SECONDS (30L * 24 * 3600)
/* A temporary file this old was left by a writer that died. */
#define PAT_CACHE_TMP_SECONDS 3600L

/*
 * Each change of the rules, of Hyperscan or of the CPU makes new files and
 * leaves the old ones, which nothing reads again: files not used for 30
 * days, and temporary files an hour old, are removed. A file of rules
 * still in use is stamped at each load, and at worst built again.
 */
static void pat_cache_sweep(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    time_t now = time(NULL);

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        bool tmp = n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0;
        bool db = n > 5 && strcmp(e->d_name + n - 5, ".hsdb") == 0;
        struct stat sb;
        if ((!tmp && !db) || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        if (now - sb.st_mtime > (tmp ? PAT_CACHE_TMP_SECONDS : PAT_CACHE_KEEP_SECONDS))
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int pat_cache_open(pat_cache_t *c, const char *data_dir, char *err, size_t errlen)
{
    hs_platform_info_t plat;
    const char *ver = hs_version();

    c->dir[0] = '\0';
    memset(&plat, 0, sizeof(plat));
    if (hs_populate_platform(&plat) != HS_SUCCESS) {
        snprintf(err, errlen, "cannot read the CPU features");
        return SMF_EFAIL;
    }
    c->env = fnv1a(FNV_SEED, pat_cache_magic, sizeof(pat_cache_magic));
    c->env = fnv1a(c->env, ver, strlen(ver) + 1);
    c->env = fnv1a(c->env, &plat.tune, sizeof(plat.tune));
    c->env = fnv1a(c->env, &plat.cpu_features, sizeof(plat.cpu_features));
    snprintf(c->dir, sizeof(c->dir), "%s/pattern", data_dir);
    if (mkdir_one(c->dir) == 0) {
        snprintf(c->dir, sizeof(c->dir), "%s/pattern/cache", data_dir);
        if (mkdir_one(c->dir) == 0) {
            pat_cache_sweep(c->dir);
            return 0;
        }
    }
    snprintf(err, errlen, "%s: %s", c->dir, strerror(errno));
    c->dir[0] = '\0';
    return SMF_EIO;
}

uint64_t pat_cache_key(const pat_cache_t *c, const char *const *exprs, const unsigned *flags,
                       size_t n)
{
    uint64_t h = fnv1a(FNV_SEED, &c->env, sizeof(c->env));

    for (size_t i = 0; i < n; i++) {
        h = fnv1a(h, &flags[i], sizeof(flags[i]));
        /* The terminating NUL separates expressions, so "ab","c" differs from "a","bc". */
        h = fnv1a(h, exprs[i], strlen(exprs[i]) + 1);
    }
    return h;
}

static void pat_cache_path(const pat_cache_t *c, uint64_t key, char *path, size_t len)
{
    snprintf(path, len, "%s/%016llx.hsdb", c->dir, (unsigned long long)key);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size)) != NULL) {
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)size;
    }
    fclose(f);
    return buf;
}

/* Checks the layout; returns the kept positions (malloc'd) and where the database starts. */
static int pat_cache_parse(const char *buf, size_t len, uint64_t key, size_t n, unsigned **kept,
                           size_t *nkept, size_t *dboff, uint64_t *dblen)
{
    pat_cache_head_t h;
    uint64_t sum;
    size_t off = sizeof(h);

    if (len < sizeof(h))
        return -1;
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, pat_cache_magic, sizeof(h.magic)) != 0 || h.key != key || h.nkept == 0 ||
        h.nkept > n || len - off < h.nkept * sizeof(unsigned) + 2 * sizeof(uint64_t))
        return -1;
    if ((*kept = malloc(h.nkept * sizeof(unsigned))) == NULL)
        return -1;
    memcpy(*kept, buf + off, h.nkept * sizeof(unsigned));
    off += h.nkept * sizeof(unsigned);
    memcpy(dblen, buf + off, sizeof(*dblen));
    memcpy(&sum, buf + off + sizeof(*dblen), sizeof(sum));
    off += 2 * sizeof(uint64_t);
    for (size_t i = 0; i < h.nkept; i++) {
        if ((*kept)[i] >= n || (i > 0 && (*kept)[i] <= (*kept)[i - 1]))
            return -1;
    }
    if (*dblen != len - off ||
        fnv1a(fnv1a(FNV_SEED, *kept, h.nkept * sizeof(unsigned)), buf + off, (size_t)*dblen) != sum)
        return -1;
    *nkept = (size_t)h.nkept;
    *dboff = off;
    return 0;
}

int pat_cache_load(const pat_cache_t *c, uint64_t key, size_t n, hs_database_t **db,
                   unsigned **kept, size_t *nkept, char *path, size_t pathlen)
{
    size_t len = 0, off = 0;
    uint64_t dblen = 0;
    char *buf;

    *kept = NULL;
    pat_cache_path(c, key, path, pathlen);
    if (access(path, F_OK) != 0)
        return PAT_CACHE_MISS;
    buf = read_all(path, &len);
    if (buf != NULL && pat_cache_parse(buf, len, key, n, kept, nkept, &off, &dblen) == 0 &&
        hs_deserialize_database(buf + off, (size_t)dblen, db) == HS_SUCCESS) {
        free(buf);
        /* Its time says when it was last used (see pat_cache_sweep). */
        (void)utimensat(AT_FDCWD, path, NULL, 0);
        return PAT_CACHE_HIT;
    }
    free(buf);
    free(*kept);
    *kept = NULL;
    (void)unlink(path);
    return PAT_CACHE_DAMAGED;
}

static int write_all(FILE *f, const void *data, size_t len)
{
    return fwrite(data, 1, len, f) == len ? 0 : -1;
}

int pat_cache_store(const pat_cache_t *c, uint64_t key, const hs_database_t *db,
                    const unsigned *kept, size_t nkept)
{
    char path[4200], tmp[4300], *bytes = NULL;
    pat_cache_head_t h = {.key = key, .nkept = nkept};
    size_t len = 0;
    uint64_t dblen, sum;
    FILE *f;
    int rc;

    if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
        return SMF_ENOMEM;
    memcpy(h.magic, pat_cache_magic, sizeof(h.magic));
    dblen = len;
    sum = fnv1a(fnv1a(FNV_SEED, kept, nkept * sizeof(unsigned)), bytes, len);
    pat_cache_path(c, key, path, sizeof(path));
    /* A reader never sees a half-written file: it appears whole, by rename. */
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    if ((f = fopen(tmp, "wb")) == NULL) {
        free(bytes);
        return SMF_EIO;
    }
    rc = write_all(f, &h, sizeof(h)) | write_all(f, kept, nkept * sizeof(unsigned)) |
         write_all(f, &dblen, sizeof(dblen)) | write_all(f, &sum, sizeof(sum)) |
         write_all(f, bytes, len);
    rc |= fclose(f);
    free(bytes);
    if (rc != 0 || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return SMF_EIO;
    }
    return 0;
}
