/*
 * av_engine.c - builds the one libclamav engine a generation shares: loads
 * the operator's database directory and the project's signature files, sets
 * the scan limits and options, and refuses to start with no signature.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "av.h"

#define AV_MB (1024ULL * 1024ULL)

/* What init tried, for the message that explains a failure. */
typedef struct av_tried {
    char text[2048];
    size_t len;
} av_tried_t;

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static cl_error_t av_once_rc = CL_SUCCESS;

static void av_global_init(void)
{
    /* The log hook must be in place before cl_init() so nothing reaches stderr. */
    cl_set_clcb_msg(av_clamav_log);
    av_once_rc = cl_init(CL_INIT_DEFAULT);
}

static void av_note(av_tried_t *tried, const char *fmt, const char *what, const char *why)
{
    if (tried->len >= sizeof(tried->text) - 1) {
        return;
    }
    int n = snprintf(tried->text + tried->len, sizeof(tried->text) - tried->len, fmt, what, why);
    if (n > 0) {
        tried->len += (size_t)n;
    }
    if (tried->len >= sizeof(tried->text)) {
        tried->len = sizeof(tried->text) - 1;
    }
}

static int av_check_range(smf_init_t *init, const char *name, long value, long min, long max)
{
    if (value >= min && value <= max) {
        return 0;
    }
    smf_init_fail(init, "%s = %ld is out of range (%ld to %ld)", name, value, min, max);
    return SMF_EINVAL;
}

/*
 * libclamav scans no file of 2 GiB or more, so a larger max_file_size would
 * promise scans it cannot make; what it extracts from one part may add up to
 * more, hence the wider max_scan_size.
 */
static int av_check_conf(smf_init_t *init, const av_conf_t *conf)
{
    if (av_check_range(init, "max_scan_size", conf->max_scan_size, 1, 4095) < 0 ||
        av_check_range(init, "max_file_size", conf->max_file_size, 1, 2047) < 0 ||
        av_check_range(init, "max_recursion", conf->max_recursion, 1, 255) < 0 ||
        av_check_range(init, "max_files", conf->max_files, 1, 1000000) < 0 ||
        av_check_range(init, "max_scan_time_ms", conf->max_scan_time_ms, 1, 3600000) < 0) {
        return SMF_EINVAL;
    }
    return 0;
}

/* An empty database directory is normal before freshclam's first run. */
static int av_dir_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return 0;
    }
    int empty = 1;
    const struct dirent *e;
    while (empty && (e = readdir(dir)) != NULL) {
        empty = e->d_name[0] == '.';
    }
    closedir(dir);
    return empty;
}

static int av_unreadable(smf_init_t *init, const char *what, int err)
{
    smf_init_fail(init,
                  "cannot read %s (%s): no virus signature would be loaded from it; let the "
                  "user smfd runs as read it",
                  what, strerror(err));
    return SMF_EFAIL;
}

/*
 * libclamav loads nothing from a database directory with a file in it it
 * cannot open, and says only that it found no database there; the reason
 * is looked for here, since such a directory is not one freshclam has yet
 * to fill. 0 when the directory and its files can all be read.
 */
static int av_check_readable(smf_init_t *init, const char *label, const char *path)
{
    char what[4400];
    DIR *dir = opendir(path);
    if (dir == NULL) {
        snprintf(what, sizeof(what), "%s %s", label, path);
        return av_unreadable(init, what, errno);
    }
    int rc = 0;
    const struct dirent *e;
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        struct stat sb;
        if (e->d_name[0] == '.' || fstatat(dirfd(dir), e->d_name, &sb, 0) != 0 ||
            !S_ISREG(sb.st_mode)) {
            continue;
        }
        int fd = openat(dirfd(dir), e->d_name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
        } else if (errno == EACCES || errno == EPERM) {
            snprintf(what, sizeof(what), "%s/%s in %s", path, e->d_name, label);
            rc = av_unreadable(init, what, errno);
        }
    }
    closedir(dir);
    return rc;
}

/*
 * A database that does not load is most often one freshclam was still
 * writing, or left damaged: the message says how to get a whole one back.
 * libclamav's own error, logged just before, names the file.
 */
static void av_load_failed(smf_init_t *init, const char *label, const char *path, cl_error_t rc)
{
    if (strcmp(label, "database_dir") == 0) {
        smf_init_fail(init,
                      "cannot load virus signatures from database_dir %s: %s (the libclamav error "
                      "logged above names the file); run freshclam to download the databases "
                      "again, or remove the damaged file, then reload smfd (kill -HUP)",
                      path, cl_strerror(rc));
    } else {
        smf_init_fail(init,
                      "cannot load virus signatures from %s %s: %s; correct the file, or take "
                      "it out of signature_files, then reload smfd (kill -HUP)",
                      label, path, cl_strerror(rc));
    }
}

/* Loads one file or directory; a missing or empty one is noted, not fatal,
 * while one that is there but cannot be read fails init. */
static int av_load(smf_init_t *init, av_state_t *st, const char *label, const char *path,
                   av_tried_t *tried)
{
    struct stat sb;
    char what[4200];
    snprintf(what, sizeof(what), "%s %s", label, path);
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            return av_unreadable(init, what, errno);
        }
        av_note(tried, "%s (%s); ", what, strerror(errno));
        return 0;
    }
    if (S_ISDIR(sb.st_mode) && av_dir_is_empty(path)) {
        av_note(tried, "%s (%s); ", what, "empty");
        return 0;
    }
    unsigned int before = st->signatures;
    cl_error_t rc = cl_load(path, st->engine, &st->signatures, CL_DB_BYTECODE);
    if (rc == CL_EOPEN && S_ISDIR(sb.st_mode)) {
        if (av_check_readable(init, label, path) < 0) {
            return SMF_EFAIL;
        }
        av_note(tried, "%s (%s); ", what, "no database files in it");
        return 0;
    }
    if (rc == CL_EOPEN && access(path, R_OK) != 0) {
        return av_unreadable(init, what, errno);
    }
    if (rc != CL_SUCCESS) {
        av_load_failed(init, label, path, rc);
        return SMF_EFAIL;
    }
    if (st->signatures == before) {
        av_note(tried, "%s (%s); ", what, "no signatures in it");
    }
    smf_log(NULL, SMF_LOG_INFO, "loaded %u signatures from %s", st->signatures - before, path);
    return 0;
}

/* Relative signature paths are relative to the configuration file's directory. */
static int av_resolve(smf_init_t *init, const char *path, char *buf, size_t size)
{
    int n;
    if (path[0] == '/') {
        n = snprintf(buf, size, "%s", path);
    } else {
        n = snprintf(buf, size, "%s/%s", smf_init_config_dir(init), path);
    }
    if (n < 0 || (size_t)n >= size) {
        smf_init_fail(init, "signature file path too long: %s", path);
        return SMF_EINVAL;
    }
    return 0;
}

static int av_load_all(smf_init_t *init, const av_conf_t *conf, av_state_t *st)
{
    av_tried_t tried = {.len = 0};
    tried.text[0] = '\0';
    if (conf->database_dir != NULL && conf->database_dir[0] != '\0') {
        if (av_load(init, st, "database_dir", conf->database_dir, &tried) < 0) {
            return SMF_EFAIL;
        }
    }
    for (const char *const *f = conf->signature_files; f != NULL && *f != NULL; f++) {
        char path[4096];
        if (av_resolve(init, *f, path, sizeof(path)) < 0 ||
            av_load(init, st, "signature file", path, &tried) < 0) {
            return SMF_EFAIL;
        }
    }
    if (tried.len > 0) {
        smf_log(NULL, SMF_LOG_WARN, "signature sources skipped: %.*s", (int)tried.len - 2,
                tried.text);
    }
    if (st->signatures > 0) {
        return 0;
    }
    smf_init_fail(init,
                  "no virus signatures loaded; tried: %.*s. Install clamav-freshclam and run "
                  "freshclam to fill database_dir, or point signature_files at the project's "
                  "etc/signatures files",
                  tried.len > 2 ? (int)tried.len - 2 : 0, tried.text);
    return SMF_ENOENT;
}

static int av_set(smf_init_t *init, struct cl_engine *engine, enum cl_engine_field field,
                  long long value, const char *name)
{
    cl_error_t rc = cl_engine_set_num(engine, field, value);
    if (rc != CL_SUCCESS) {
        smf_init_fail(init, "cannot set %s: %s", name, cl_strerror(rc));
        return SMF_EFAIL;
    }
    return 0;
}

static int av_set_limits(smf_init_t *init, const av_conf_t *conf, av_state_t *st)
{
    struct cl_engine *e = st->engine;
    st->max_file_size = (uint64_t)conf->max_file_size * AV_MB;
    if (av_set(init, e, CL_ENGINE_MAX_SCANSIZE, (long long)(conf->max_scan_size * AV_MB),
               "max_scan_size") < 0 ||
        av_set(init, e, CL_ENGINE_MAX_FILESIZE, (long long)st->max_file_size, "max_file_size") <
            0 ||
        av_set(init, e, CL_ENGINE_MAX_RECURSION, conf->max_recursion, "max_recursion") < 0 ||
        av_set(init, e, CL_ENGINE_MAX_FILES, conf->max_files, "max_files") < 0 ||
        av_set(init, e, CL_ENGINE_MAX_SCANTIME, conf->max_scan_time_ms, "max_scan_time_ms") < 0) {
        return SMF_EFAIL;
    }
    return 0;
}

/* At least this much free room on /dev/shm before scratch files go there. */
#define AV_SHM_MIN_FREE ((unsigned long long)1 << 30)

/* /dev/shm when it is a writable memory file system with room to spare,
 * else NULL: libclamav then uses $TMPDIR or /tmp. */
static const char *av_auto_tmp_dir(void)
{
    struct statvfs vfs;
    if (access("/dev/shm", W_OK | X_OK) != 0 || statvfs("/dev/shm", &vfs) != 0)
        return NULL;
    unsigned long long free_bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    return free_bytes >= AV_SHM_MIN_FREE ? "/dev/shm" : NULL;
}

/*
 * libclamav makes and removes a scratch directory on every scan call; on a
 * disk that costs more than the scan itself, on tmpfs almost nothing. An
 * empty tmp_dir picks /dev/shm when it has room (1 GiB free or more).
 */
static int av_set_tmp_dir(smf_init_t *init, const av_conf_t *conf, av_state_t *st)
{
    struct stat sb;
    const char *dir = conf->tmp_dir;
    if (dir == NULL || dir[0] == '\0') {
        if ((dir = av_auto_tmp_dir()) != NULL)
            smf_log(NULL, SMF_LOG_INFO, "libclamav scratch files go to %s (tmpfs)", dir);
        else if ((dir = getenv("TMPDIR")) == NULL || dir[0] == '\0')
            dir = "/tmp"; /* Where libclamav itself would put them. */
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        smf_init_fail(init, "tmp_dir %s is not a directory", dir);
        return SMF_EINVAL;
    }
    int made = av_scratch_open(init, dir, st->scratch);
    if (made < 0) {
        st->scratch[0] = '\0';
        return made;
    }
    cl_error_t rc = cl_engine_set_str(st->engine, CL_ENGINE_TMPDIR, st->scratch);
    if (rc != CL_SUCCESS) {
        smf_init_fail(init, "cannot set tmp_dir: %s", cl_strerror(rc));
        return SMF_EFAIL;
    }
    return 0;
}

/*
 * Parsers on as clamscan has them by default. EXCEEDS_MAX makes a limit
 * visible as an alert instead of a silent "clean"; the other heuristics
 * (macros, phishing, broken files) belong to the content stages.
 */
static void av_set_options(const av_conf_t *conf, av_state_t *st)
{
    struct cl_scan_options *o = &st->options;
    memset(o, 0, sizeof(*o));
    o->general = CL_SCAN_GENERAL_HEURISTICS;
    o->parse = CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_ELF | CL_SCAN_PARSE_PDF | CL_SCAN_PARSE_SWF |
               CL_SCAN_PARSE_HWP3 | CL_SCAN_PARSE_XMLDOCS | CL_SCAN_PARSE_MAIL |
               CL_SCAN_PARSE_OLE2 | CL_SCAN_PARSE_HTML | CL_SCAN_PARSE_PE | CL_SCAN_PARSE_ONENOTE |
               CL_SCAN_PARSE_IMAGE | CL_SCAN_PARSE_IMAGE_FUZZY_HASH;
    o->heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
    if (conf->block_encrypted) {
        o->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE | CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
    }
    st->scan_raw_message = conf->scan_raw_message;
}

static int av_compile(smf_init_t *init, av_state_t *st)
{
    cl_engine_set_clcb_pre_scan(st->engine, av_pre_scan);
    cl_engine_set_clcb_file_inspection(st->engine, av_inspect_file);
    cl_error_t rc = cl_engine_compile(st->engine);
    if (rc != CL_SUCCESS) {
        smf_init_fail(init, "cannot compile the libclamav engine: %s", cl_strerror(rc));
        return SMF_EFAIL;
    }
    return 0;
}

int av_engine_open(smf_init_t *init, const av_conf_t *conf, av_state_t *st)
{
    if (av_check_conf(init, conf) < 0) {
        return SMF_EINVAL;
    }
    pthread_once(&av_once, av_global_init);
    if (av_once_rc != CL_SUCCESS) {
        smf_init_fail(init, "cannot initialise libclamav: %s", cl_strerror(av_once_rc));
        return SMF_EFAIL;
    }
    st->engine = cl_engine_new();
    if (st->engine == NULL) {
        smf_init_fail(init, "cannot create a libclamav engine: out of memory");
        return SMF_ENOMEM;
    }
    int rc = av_load_all(init, conf, st);
    if (rc == 0) {
        rc = av_set_limits(init, conf, st);
    }
    if (rc == 0) {
        rc = av_set_tmp_dir(init, conf, st);
    }
    if (rc == 0) {
        av_set_options(conf, st);
        rc = av_compile(init, st);
    }
    if (rc < 0) {
        av_engine_close(st);
        return rc;
    }
    smf_log(NULL, SMF_LOG_INFO, "libclamav %s ready with %u signatures", cl_retver(),
            st->signatures);
    return 0;
}

void av_engine_close(av_state_t *st)
{
    if (st->engine != NULL) {
        cl_engine_free(st->engine);
        st->engine = NULL;
    }
    if (st->scratch[0] != '\0') {
        av_scratch_close(st->scratch);
        st->scratch[0] = '\0';
    }
}
