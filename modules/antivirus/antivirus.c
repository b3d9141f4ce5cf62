/*
 * antivirus.c - the antivirus module's descriptor: its options and the
 * init/fini/scan entry points. libclamav does the work (av_engine.c builds
 * the shared engine, av_scan.c feeds it the message's decoded parts).
 */
#include <stddef.h>
#include <stdlib.h>

#include "av.h"

static const smf_option_t av_options[] = {
    {"database_dir", SMF_OPT_STRING, "\"/var/lib/clamav\"", offsetof(av_conf_t, database_dir),
     "Directory of ClamAV databases (as filled by freshclam); missing or empty is allowed."},
    {"signature_files", SMF_OPT_LIST, "{\"signatures/smf-test.ndb\", \"signatures/smf-test.hdb\"}",
     offsetof(av_conf_t, signature_files),
     "Extra signature files; relative paths resolve against the configuration directory."},
    {"max_scan_size", SMF_OPT_INT, "100", offsetof(av_conf_t, max_scan_size),
     "Megabytes of data, extracted content included, scanned per part at most."},
    {"max_file_size", SMF_OPT_INT, "50", offsetof(av_conf_t, max_file_size),
     "Megabytes: larger parts and larger files inside archives are unscannable."},
    {"max_recursion", SMF_OPT_INT, "16", offsetof(av_conf_t, max_recursion),
     "Archive and container nesting levels followed at most."},
    {"max_files", SMF_OPT_INT, "10000", offsetof(av_conf_t, max_files),
     "Files extracted from one part at most."},
    {"max_scan_time_ms", SMF_OPT_INT, "30000", offsetof(av_conf_t, max_scan_time_ms),
     "Milliseconds libclamav may spend on one part."},
    {"block_encrypted", SMF_OPT_BOOL, "true", offsetof(av_conf_t, block_encrypted),
     "Report encrypted archives and documents as unscannable."},
    {"scan_raw_message", SMF_OPT_BOOL, "false", offsetof(av_conf_t, scan_raw_message),
     "Also scan every whole raw message with libclamav's own mail parser (slower)."},
    {"tmp_dir", SMF_OPT_STRING, "\"\"", offsetof(av_conf_t, tmp_dir),
     "Directory for libclamav's per-scan scratch files; empty picks /dev/shm when it has "
     "1 GiB free, else $TMPDIR or /tmp."},
    SMF_OPTIONS_END,
};

static int av_init(smf_init_t *init, const void *conf, void **state)
{
    av_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    int rc = av_engine_open(init, conf, st);
    if (rc < 0) {
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void av_fini(void *state)
{
    av_state_t *st = state;
    if (st == NULL) {
        return;
    }
    av_engine_close(st);
    free(st);
}

static int av_scan(smf_msg_t *msg, void *state, void *tstate)
{
    return av_scan_message(msg, state);
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "antivirus",
    .version = "1.0.0",
    .description = "Virus scanning with libclamav, in process, on decoded MIME parts",
    .kind = SMF_KIND_ANTIVIRUS,
    .options = av_options,
    .conf_size = sizeof(av_conf_t),
    .init = av_init,
    .fini = av_fini,
    .scan = av_scan,
};
