/*
 * av.h - what the antivirus module's files share: the option struct the
 * engine fills, the state init() builds, and the two halves' entry points.
 */
#ifndef SMF_AV_H
#define SMF_AV_H

#include <stdint.h>

#include <clamav.h>

#include "smf/module.h"

/* Options, filled by the engine from the `module antivirus { }` section. */
typedef struct av_conf {
    const char *database_dir;
    const char *const *signature_files;
    long max_scan_size;    /* megabytes */
    long max_file_size;    /* megabytes */
    long max_recursion;    /* archive nesting levels */
    long max_files;        /* files extracted per scanned part */
    long max_scan_time_ms; /* per scanned part */
    int block_encrypted;
    int scan_raw_message;
    const char *tmp_dir;
} av_conf_t;

/* One generation's state: read-only once init() returns. */
/* The longest path of a scratch folder. */
#define AV_SCRATCH_PATH_MAX 4200

typedef struct av_state {
    struct cl_engine *engine;
    char scratch[AV_SCRATCH_PATH_MAX]; /* this process's folder in tmp_dir, "" when none */
    struct cl_scan_options options;
    uint64_t max_file_size; /* bytes */
    unsigned int signatures;
    int scan_raw_message;
} av_state_t;

/* What libclamav's callbacks get as context during one scan call. */
typedef struct av_scan_ctx {
    smf_msg_t *msg;
    uint64_t max_file_size; /* bytes, as the engine was built with */
    int timed_out;
    int cut_short;  /* an extracted file reached max_file_size */
    int no_scratch; /* libclamav could not make its scratch directory */
} av_scan_ctx_t;

/*
 * Makes (or takes again) base/smf-av.PID, the folder of this process's
 * scratch files, into out (AV_SCRATCH_PATH_MAX bytes), after removing the
 * folders in base of processes that are gone. Each open is closed once.
 */
int av_scratch_open(smf_init_t *init, const char *base, char *out);
/* Removes the folder once no engine of the process uses it. */
void av_scratch_close(const char *dir);

/* libclamav's log lines, routed to smf_log() (set once, process-wide). */
void av_clamav_log(enum cl_msg severity, const char *fullmsg, const char *text, void *context);

/* libclamav's pre-scan hook: stops a scan once the message's deadline passed. */
cl_error_t av_pre_scan(int fd, const char *type, void *context);

/* libclamav's file inspection hook: stops a scan at an extracted file that
 * libclamav may have cut short at max_file_size. */
cl_error_t av_inspect_file(int fd, const char *type, const char **ancestors,
                           size_t parent_file_size, const char *file_name, size_t file_size,
                           const char *file_buffer, uint32_t recursion_level,
                           uint32_t layer_attributes, void *context);

/* Builds st->engine from conf; on failure explains with smf_init_fail(). */
int av_engine_open(smf_init_t *init, const av_conf_t *conf, av_state_t *st);

/* Frees the engine av_engine_open() built. */
void av_engine_close(av_state_t *st);

/* Scans one message and reports through the smf_msg_* calls. */
int av_scan_message(smf_msg_t *msg, const av_state_t *st);

#endif /* SMF_AV_H */
