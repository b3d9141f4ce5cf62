/*
 * modload.h - opening scanner modules: dlopen, then every check that keeps
 * a wrong or unsafe module out of the engine.
 *
 * A module is refused, with a message naming the file, what it was built
 * for and what this engine provides, when: the file is group- or
 * world-writable; it does not export the descriptor; its ABI major differs,
 * its minor is newer or its descriptor is larger than this engine knows;
 * or the descriptor itself is malformed (no name, no scan, a bad option,
 * an option default that does not parse as its type).
 */
#ifndef SMF_MODLOAD_H
#define SMF_MODLOAD_H

#include "smf/module.h"

#include <stddef.h>

/* Not to be copied: desc points into the struct itself. */
typedef struct modload {
    void *dl;                 /* dlopen handle. */
    const smf_module_t *desc; /* Points at `copy`. */
    char *path;               /* As opened. */
    smf_module_t copy;        /* The descriptor widened to this engine's ABI:
                               * fields added after the module's minor are NULL. */
} modload_t;

/* Opens and checks a module. Returns 0, or -1 with the reason in err. */
int modload_open(const char *path, modload_t *out, char *err, size_t errlen);
/* Bytes of smf_module_t in ABI 1.minor. */
size_t modload_descriptor_size(unsigned minor);
/* Closes it; safe on a zeroed or already closed modload_t. */
void modload_close(modload_t *m);
/*
 * An option's default text read as its type, by the rules the configuration
 * file uses. NULL reads as 0. Return 0, or -1 (with *out 0) when the text
 * does not parse; modload_open() refuses a module with such a default.
 */
int modload_default_bool(const char *text, int *out);
int modload_default_int(const char *text, long *out);
int modload_default_float(const char *text, double *out);
/* 0 when text (NULL: an empty list) reads as a list option's value, else -1. */
int modload_default_list(const char *text);
/* "content", "antivirus", "list", "reputation". */
const char *modload_kind_name(smf_kind_t kind);

#endif
