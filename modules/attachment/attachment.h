/*
 * attachment.h - shared types of the attachment module: its options, the
 * per-domain policies built from them (policy.c), the per-thread libmagic
 * handle, and the checks that archive.c reuses on archive entries.
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
    double zip_name_mismatch_score;
    double zip_concatenated_score;
    double html_smuggling_score;
    double tnef_checksum_score;
    long archive_max_depth;
    long archive_max_entries;
    long archive_max_expanded;
    const char *blocked_action;
    int block_archives;
    const char *const *domain_policy;
    const char *policy_file;
} att_conf_t;

/* What a blocked attachment leads to; see README.md for the verdicts. */
typedef enum att_action {
    ATT_ACTION_SCORE = 0,      /* The symbol's score only. */
    ATT_ACTION_QUARANTINE = 1, /* SMF_VERDICT_SPAM: the policy's spam_action. */
    ATT_ACTION_REJECT = 2      /* SMF_VERDICT_BLOCK: the policy's block_action. */
} att_action_t;

/* The settings one scan runs with: the global options, or a domain's. */
typedef struct att_policy {
    char **blocked; /* Lower-case extensions without the dot. */
    size_t blocked_count;
    double blocked_score;
    double double_ext_score;
    double archive_blocked_score;
    double encrypted_score;
    double type_mismatch_score;
    double limit_score;
    double damaged_score;
    double macro_score;
    double zip_name_mismatch_score;
    double zip_concatenated_score;
    double html_smuggling_score;
    double tnef_checksum_score;
    long archive_max_depth;
    long archive_max_entries;
    long archive_max_expanded;
    att_action_t blocked_action;
    int block_archives; /* Every archive attachment counts as blocked. */
} att_policy_t;

/* A policy and the domain it is for: "example.com", or "*.example.com" for its subdomains. */
typedef struct att_domain {
    char *domain;
    att_policy_t pol;
} att_domain_t;

typedef struct att_state {
    att_policy_t global;
    att_domain_t *domains;
    size_t domain_count;
} att_state_t;

typedef struct att_thread {
    magic_t magic; /* libmagic is not thread-safe: one handle per thread. */
} att_thread_t;

/* What one message's checks share. */
typedef struct att_ctx {
    smf_msg_t *msg;
    const att_policy_t *pol; /* The recipient domain's settings. */
    att_thread_t *th;
    char blocked[512]; /* The first blocked attachment, for the verdict's reason; "" when none. */
    /* The last search for a 7z or rar behind other bytes (att_sig_nests()): the
     * data searched, and what was found there, for the walk that follows. */
    const unsigned char *sig_data;
    size_t sig_size, sig_at;
    int sig_found;
} att_ctx_t;

/*
 * Builds the global policy from the options, then one per domain from
 * domain_policy and policy_file (relative to the configuration directory).
 * Explains a failure with smf_init_fail(). Returns 0 or a negative SMF_E*.
 */
int att_policies_load(smf_init_t *init, const att_conf_t *c, att_state_t *st);

/* Frees the policies of a state. */
void att_policies_free(att_state_t *st);

/* The policy for a recipient domain: its own, its closest "*." parent's, or the global one. */
const att_policy_t *att_policy_for(const att_state_t *st, const char *domain);

/* Remembers a blocked attachment, so that scan() can apply blocked_action once. */
void att_note_blocked(att_ctx_t *ctx, const char *what);

/* Whether the data starts like an archive or compressed file libarchive reads. */
int att_is_archive(const unsigned char *data, size_t size);

/* Whether the data starts like a program (PE, ELF, Mach-O): a cheap look at its first bytes. */
int att_looks_exec(const unsigned char *data, size_t size);

/* Whether a file name's last extension is blocked. */
int att_name_blocked(const att_policy_t *pol, const char *name);

/*
 * The checks of an attachment's name: ATT_BLOCKED_EXT (noted for
 * blocked_action), ATT_DOUBLE_EXT, ATT_RTLO_NAME. `where` prefixes the
 * detail ("" for a part of the mail). Returns 0 or a negative SMF_E* code.
 */
int att_check_name(att_ctx_t *ctx, const char *where, const char *name);

/*
 * att_check_name() for a name kept by its end only: rtlo says whether the
 * whole name held U+202E, which ATT_RTLO_NAME then reports even when the
 * part kept does not hold it.
 */
int att_check_name_whole(att_ctx_t *ctx, const char *where, const char *name, int rtlo);

/*
 * Adds ATT_TYPE_MISMATCH when `name` says document but `head` (the first
 * bytes of the file) is an executable. `where` prefixes the detail.
 */
int att_check_type(att_ctx_t *ctx, const char *where, const char *name, const unsigned char *head,
                   size_t len);

/*
 * A Windows program ("MZ", and "PE\0\0" where its header points, as the
 * Windows loader requires; libmagic agrees) under no name, or under names
 * none of which is blocked (ATT_BLOCKED_EXT or ATT_ARCHIVE_BLOCKED say
 * it) or a document's (ATT_TYPE_MISMATCH says it): adds sym with score,
 * noted for blocked_action, detail "WHERE NAME is TYPE" with the first of
 * the `count` names that is not "", else "(no name)".
 */
int att_check_program(att_ctx_t *ctx, const char *where, const char *const *names, size_t count,
                      const unsigned char *data, size_t len, const char *sym, double score);

/*
 * Walks an archive held in memory: blocked names, encrypted entries,
 * executables disguised as documents, nested archives, limits. A TNEF
 * stream (winmail.dat) is walked as one too: its attachments are its entries.
 * typed: the attachment's type says 7z or rar (att_sig_typed()). Returns 0
 * or a negative SMF_E* code when the scan itself failed.
 */
int att_scan_archive(att_ctx_t *ctx, const char *name, const unsigned char *data, size_t size,
                     int typed);

/* Whether a content type says 7z or rar. */
int att_sig_typed(const char *type);

/*
 * Whether the data, which does not start like an archive, is a 7z or rar
 * archive to 7-Zip or WinRAR all the same: its name (or, typed, its type)
 * says 7z or rar, and such an archive's signature, with a header checksum
 * that matches after it, lies further in. Also when too many signatures
 * were summed to tell, which the walk reports as a limit. What it found is
 * noted in ctx for the walk of the same data, which then does not search
 * again.
 */
int att_sig_nests(att_ctx_t *ctx, const char *name, int typed, const unsigned char *data,
                  size_t size);

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

/*
 * One zip entry's two names, as stored (not NUL-terminated): the central
 * directory's, and the local header's, NULL when the central record points
 * to no local header. Each header's extra field comes with it (empty when
 * there is none), as it may name the entry a third time. From
 * att_zip_walk(), an entry that no central record lists has no central
 * name (NULL).
 */
typedef struct att_zip_entry {
    const char *central;
    size_t central_len;
    const unsigned char *central_extra;
    size_t central_extra_len;
    const char *local;
    size_t local_len;
    const unsigned char *local_extra;
    size_t local_extra_len;
} att_zip_entry_t;

typedef int (*att_zip_name_fn)(void *arg, const att_zip_entry_t *entry);

/*
 * Calls fn for each record of a zip's central directory, in order, and stops
 * at the first non-zero return, which it returns. Offsets are taken from
 * where the zip starts, which is not the start of the data when bytes were
 * put before it. A zip64 end record is
 * followed; when it describes another central directory than the end record,
 * both are walked. A zip whose central directory cannot be found or is out of
 * bounds has no records.
 */
int att_zip_names(const unsigned char *data, size_t size, att_zip_name_fn fn, void *arg);

/* What att_zip_walk() found of how a zip is laid out, besides the names. */
typedef struct att_zip_layout {
    size_t archives; /* End records: more than one, and the file is zips one after another. */
    size_t unlisted; /* Local headers that no central directory points to. */
    int descriptors; /* The walk stopped at data descriptors readers match differently. */
    size_t apart;    /* Zips found by their end records that lie in no other, with or
                      * without bytes between them. */
} att_zip_layout_t;

/*
 * Calls fn for every name any extractor would see in a zip, and stops as
 * att_zip_names() does: first for the records of the central directories
 * of the last end record (as att_zip_names()), then, walking the records
 * one after the other from the zip's start as a streaming extractor does
 * and on into any zip appended to it, for those of each other end record
 * met, then for those of every other zip in the data that its end record
 * shows (junk + a.zip + b.zip), and last for each local header met that no
 * central record points to. Where the walk comes to bytes that are no
 * record, it goes on at the next zip found, and where libarchive's
 * streaming reader would go on elsewhere after a stored entry (it matches
 * data descriptors by CRC-32), from there too; it reads each byte a
 * bounded number of times. Returns 1, with not every name given, when
 * there are more than max_records local headers or central records (or
 * about twice as many records in all, or more than 16 such places), a
 * negative SMF_E* code when memory runs out, or fn's non-zero return.
 */
int att_zip_walk(const unsigned char *data, size_t size, size_t max_records, att_zip_name_fn fn,
                 void *arg, att_zip_layout_t *layout);

/*
 * Whether the data holds a zip's central directory with at least one record,
 * wherever the zip starts in it (unzip and 7-Zip extract a zip behind a
 * preamble). Cheap: the end record is only looked for in the last 64 KiB.
 */
int att_zip_found(const unsigned char *data, size_t size);

/*
 * The next name an extra field gives in an Info-ZIP Unicode Path field
 * (header id 0x7075), which extractors prefer to the header's name: returns
 * 1 with *name and *name_len set (not NUL-terminated) and *extra, *len moved
 * past that field, or 0 when there are no more. Its CRC-32 of the header's
 * name is not checked: an extractor that ignores a stale one is no reason
 * to skip the check.
 */
int att_zip_unicode_next(const unsigned char **extra, size_t *len, const char **name,
                         size_t *name_len);

/*
 * Adds ATT_HTML_SMUGGLING when an HTML or SVG part (an attachment or the
 * message's HTML body) carries a file the
 * parser made a child part of without a name (no image it shows), and the
 * page saves a file (msSaveOrOpenBlob, createObjectURL, a download
 * attribute) and names a decoder (atob, Blob, Uint8Array) or the file
 * begins as a program, archive or document. `what` names the part in the
 * detail. Returns 0 or a negative SMF_E* code.
 */
int att_check_smuggling(att_ctx_t *ctx, const char *what, const smf_part_t *p);

#endif /* SMF_ATTACHMENT_H */
