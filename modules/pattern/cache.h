/*
 * cache.h - on-disk cache of the pattern module's compiled Hyperscan
 * databases, so that a restart with unchanged rules skips compilation.
 */
#ifndef SMF_PATTERN_CACHE_H
#define SMF_PATTERN_CACHE_H

#include <hs/hs.h>

#include <stddef.h>
#include <stdint.h>

typedef struct pat_cache {
    char dir[4096]; /* DATA_DIR/pattern/cache; "" when the cache is off. */
    uint64_t env;   /* Hash of the Hyperscan version and the CPU features. */
} pat_cache_t;

/* Outcome of pat_cache_load(). */
#define PAT_CACHE_MISS 0
#define PAT_CACHE_HIT 1
#define PAT_CACHE_DAMAGED 2

/*
 * Prepares the cache folder under data_dir. Returns 0, or a negative SMF_E*
 * code with the reason in err; the caller then runs without a cache.
 */
int pat_cache_open(pat_cache_t *c, const char *data_dir, char *err, size_t errlen);

/* Key of one database: the environment and every expression with its flags, in order. */
uint64_t pat_cache_key(const pat_cache_t *c, const char *const *exprs, const unsigned *flags,
                       size_t n);

/*
 * Reads the database stored under key. On a hit, *db is the database and
 * kept[0..*nkept) (malloc'd) the positions of the expressions it holds: the
 * others failed to compile and run on PCRE2. A file that is short, altered or
 * refused by Hyperscan gives PAT_CACHE_DAMAGED and is removed.
 */
int pat_cache_load(const pat_cache_t *c, uint64_t key, size_t n, hs_database_t **db,
                   unsigned **kept, size_t *nkept, char *path, size_t pathlen);

/* Stores a database under key (temp file + rename). Returns 0 or a negative SMF_E* code. */
int pat_cache_store(const pat_cache_t *c, uint64_t key, const hs_database_t *db,
                    const unsigned *kept, size_t nkept);

#endif /* SMF_PATTERN_CACHE_H */
