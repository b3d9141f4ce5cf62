/*
 * attachment.h - shared types of the attachment module: its options, the
 * per-thread libmagic handle, and the checks that archive.c reuses on the
 * entries it finds inside archives.
 */
#ifndef SMF_ATTACHMENT_H
#define SMF_ATTACHMENT_H

#include <smf/module.h>

#include <magic.h>
#include <stddef.h>

typedef struct att_conf {
    const char *const *blocked_extensions;
    double blocked_score;
    double double_ext_score;
    double archive_blocked_score;
    double encrypted_score;
    double type_mismatch_score;
    double limit_score;
    double damaged_score;
    double macro_score;
    long archive_max_depth;
    long archive_max_entries;
    long archive_max_expanded;
} att_conf_t;

typedef struct att_state {
    const att_conf_t *conf; /* Owned by the engine until fini(). */
    char **blocked;         /* Lower-case extensions without the dot. */
    size_t blocked_count;
} att_state_t;

typedef struct att_thread {
    magic_t magic; /* libmagic is not thread-safe: one handle per thread. */
} att_thread_t;

/* What one message's checks share. */
typedef struct att_ctx {
    smf_msg_t *msg;
    const att_state_t *st;
    att_thread_t *th;
} att_ctx_t;

/* Whether the data starts like an archive or compressed file libarchive reads. */
int att_is_archive(const unsigned char *data, size_t size);

/* Whether a file name's last extension is blocked. */
int att_name_blocked(const att_state_t *st, const char *name);

/*
 * Adds ATT_TYPE_MISMATCH when `name` says document but `head` (the first
 * bytes of the file) is an executable. `where` prefixes the detail.
 */
int att_check_type(att_ctx_t *ctx, const char *where, const char *name, const unsigned char *head,
                   size_t len);

/*
 * Walks an archive held in memory: blocked names, encrypted entries,
 * executables disguised as documents, nested archives, limits.
 * Returns 0 or a negative SMF_E* code when the scan itself failed.
 */
int att_scan_archive(att_ctx_t *ctx, const char *name, const unsigned char *data, size_t size);

/* Whether the data is an OLE2 compound file (.doc, .xls, .ppt, .msi). */
int att_is_ole2(const unsigned char *data, size_t size);

/*
 * Adds ATT_MACRO when an OLE2 file holds a VBA project. `where` prefixes the
 * detail. Returns 0 or a negative SMF_E* code.
 */
int att_check_ole2(att_ctx_t *ctx, const char *where, const char *name, const unsigned char *data,
                   size_t len);

/* Whether an archive entry's path is the VBA project part of an OOXML package. */
int att_is_vba_part(const char *path);

#endif /* SMF_ATTACHMENT_H */
