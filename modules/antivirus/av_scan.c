/*
 * av_scan.c - scans one message: each leaf part's decoded bytes go to libclamav
 * from memory, the raw message too when the parts do not cover it. Alerts become
 * a virus, or "unscannable" for limits and encryption; failures become errors.
 */
#include <stdio.h>
#include <string.h>

#include "av.h"

#define AV_LIMITS_PREFIX "Heuristics.Limits.Exceeded."
#define AV_ENCRYPTED_PREFIX "Heuristics.Encrypted."
/* What libclamav logs when a scan call cannot make its scratch directory. */
#define AV_NO_SCRATCH "Can't create temporary directory for scan"

/* What one scan call found. */
typedef enum av_result { AV_CLEAN = 0, AV_VIRUS, AV_UNSCANNABLE } av_result_t;

/*
 * libclamav (1.4 at least) reports a scan whose scratch directory it could
 * not make (tmp_dir not writable, removed, or out of inodes) as clean,
 * without having looked at the data; only its log line tells, and that
 * line comes without the scan's context, on the thread that called the
 * scan. So the callback notes it per thread, and av_scan_buffer() fails
 * such a scan rather than pass it as clean.
 */
static _Thread_local int av_no_scratch;

void av_clamav_log(enum cl_msg severity, const char *fullmsg, const char *text, void *context)
{
    const av_scan_ctx_t *ctx = context;
    if (severity == CL_MSG_ERROR && strstr(text, AV_NO_SCRATCH) != NULL) {
        av_no_scratch = 1;
    }
    smf_log_level_t level = SMF_LOG_DEBUG;
    if (severity == CL_MSG_ERROR) {
        level = SMF_LOG_ERROR;
    } else if (severity == CL_MSG_WARN) {
        level = SMF_LOG_WARN;
    }
    size_t len = strcspn(text, "\n");
    smf_log(ctx != NULL ? ctx->msg : NULL, level, "libclamav: %.*s", (int)len, text);
}

/* Blocking the file ends the scan at once; the flag tells it from a virus. */
cl_error_t av_pre_scan(int fd, const char *type, void *context)
{
    av_scan_ctx_t *ctx = context;
    if (ctx != NULL && smf_msg_time_left_ms(ctx->msg) <= 0) {
        ctx->timed_out = 1;
        return CL_VIRUS;
    }
    return CL_CLEAN;
}

/*
 * Some of libclamav's extractors (zip's among them) stop writing a member
 * at max_file_size and scan the part they wrote without any alert, so the
 * rest of the member would pass as clean. An extracted file that reached
 * the limit is therefore treated as cut short. Blocking it (rather than
 * noting it and going on) also keeps libclamav from caching the archive as
 * clean, which would skip this hook the next time the same bytes come.
 */
cl_error_t av_inspect_file(int fd, const char *type, const char **ancestors,
                           size_t parent_file_size, const char *file_name, size_t file_size,
                           const char *file_buffer, uint32_t recursion_level,
                           uint32_t layer_attributes, void *context)
{
    av_scan_ctx_t *ctx = context;
    if (ctx == NULL || recursion_level == 0 || (uint64_t)file_size < ctx->max_file_size) {
        return CL_CLEAN;
    }
    ctx->cut_short = 1;
    return CL_VIRUS;
}

static int av_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Names what was scanned, for symbol details and log lines. */
static const char *av_describe(smf_msg_t *msg, size_t i, const smf_part_t *p)
{
    const char *s;
    if (p == NULL) {
        s = smf_msg_printf(msg, "raw message");
    } else if (p->filename[0] != '\0') {
        s = smf_msg_printf(msg, "part %zu \"%s\"", i, p->filename);
    } else {
        s = smf_msg_printf(msg, "part %zu (%s)", i, p->content_type);
    }
    return s != NULL ? s : "a part";
}

static void av_unscannable(smf_msg_t *msg, const char *symbol, const char *reason, const char *what)
{
    smf_msg_add_symbol(msg, symbol, 0, smf_msg_printf(msg, "%s: %s", what, reason));
    smf_msg_set_unscannable(msg, reason);
}

/* Turns an alert name into a virus or an unscannable report. */
static av_result_t av_classify(smf_msg_t *msg, const char *virname, const char *what)
{
    if (av_starts_with(virname, AV_LIMITS_PREFIX)) {
        const char *reason =
            smf_msg_printf(msg, "scan limit exceeded (%s)", virname + strlen(AV_LIMITS_PREFIX));
        av_unscannable(msg, "AV_UNSCANNABLE", reason != NULL ? reason : "scan limit exceeded",
                       what);
        return AV_UNSCANNABLE;
    }
    if (av_starts_with(virname, AV_ENCRYPTED_PREFIX)) {
        int doc = strcmp(virname + strlen(AV_ENCRYPTED_PREFIX), "PDF") == 0;
        av_unscannable(msg, "AV_ENCRYPTED", doc ? "encrypted document" : "encrypted archive", what);
        return AV_UNSCANNABLE;
    }
    smf_msg_set_virus(msg, virname);
    smf_msg_add_symbol(msg, "AV_INFECTED", 0, smf_msg_printf(msg, "%s in %s", virname, what));
    return AV_VIRUS;
}

/* Maps a libclamav return code to an SMF code, reporting what it found. */
static int av_outcome(smf_msg_t *msg, cl_error_t rc, const av_scan_ctx_t *ctx, const char *virname,
                      const char *what, av_result_t *res)
{
    *res = AV_CLEAN;
    if (ctx->no_scratch) {
        smf_log(msg, SMF_LOG_ERROR,
                "%s not scanned: libclamav cannot make its scratch directory (is tmp_dir "
                "writable, and has it room and free inodes?)",
                what);
        return SMF_EFAIL;
    }
    if (ctx->timed_out) {
        smf_log(msg, SMF_LOG_WARN, "deadline passed while scanning %s", what);
        return SMF_ETIMEDOUT;
    }
    if (ctx->cut_short) {
        av_unscannable(msg, "AV_UNSCANNABLE", "scan limit exceeded (MaxFileSize)", what);
        *res = AV_UNSCANNABLE;
        return 0;
    }
    switch (rc) {
    case CL_CLEAN:
        return 0;
    case CL_VIRUS:
        *res = av_classify(msg, virname != NULL ? virname : "Unnamed.Alert", what);
        return 0;
    case CL_ETIMEOUT:
        /* The engine's own per-part limit: retrying would only hit it again. */
        av_unscannable(msg, "AV_UNSCANNABLE", "scan time limit exceeded", what);
        *res = AV_UNSCANNABLE;
        return 0;
    case CL_EMEM:
        smf_log(msg, SMF_LOG_ERROR, "libclamav ran out of memory scanning %s", what);
        return SMF_ENOMEM;
    default:
        smf_log(msg, SMF_LOG_ERROR, "libclamav failed scanning %s: %s", what, cl_strerror(rc));
        return SMF_EFAIL;
    }
}

/*
 * One libclamav scan call over a buffer in memory, with the given options;
 * name is a file name hint or NULL. Fills ctx and *virname; reports nothing.
 */
static cl_error_t av_scan_map(smf_msg_t *msg, const av_state_t *st, const void *data, size_t len,
                              const char *name, const struct cl_scan_options *opts,
                              av_scan_ctx_t *ctx, const char **virname)
{
    *ctx = (av_scan_ctx_t){.msg = msg, .max_file_size = st->max_file_size};
    *virname = NULL;
    cl_fmap_t *map = cl_fmap_open_memory(data, len);
    if (map == NULL) {
        return CL_EMEM;
    }
    struct cl_scan_options options = *opts;
    unsigned long scanned = 0;
    av_no_scratch = 0;
    cl_error_t rc = cl_scanmap_callback(map, name, virname, &scanned, st->engine, &options, ctx);
    ctx->no_scratch = av_no_scratch;
    cl_fmap_close(map);
    return rc;
}

/* Scans one buffer from memory and reports what it found; name is a file
 * name hint or NULL. */
static int av_scan_buffer(smf_msg_t *msg, const av_state_t *st, const void *data, size_t len,
                          const char *name, const char *what, av_result_t *res)
{
    if (smf_msg_time_left_ms(msg) <= 0) {
        return SMF_ETIMEDOUT;
    }
    av_scan_ctx_t ctx;
    const char *virname = NULL;
    cl_error_t rc = av_scan_map(msg, st, data, len, name, &st->options, &ctx, &virname);
    return av_outcome(msg, rc, &ctx, virname, what, res);
}

static int av_scan_part(smf_msg_t *msg, const av_state_t *st, size_t i, const smf_part_t *p,
                        av_result_t *res)
{
    const char *what = av_describe(msg, i, p);
    *res = AV_CLEAN;
    if (p->size == 0) {
        return 0;
    }
    if (p->size > st->max_file_size) {
        av_unscannable(msg, "AV_UNSCANNABLE", "part larger than max_file_size", what);
        *res = AV_UNSCANNABLE;
        return 0;
    }
    const char *name = p->filename[0] != '\0' ? p->filename : NULL;
    return av_scan_buffer(msg, st, p->data, p->size, name, what, res);
}

/* How the message walk treats each part. */
enum { AV_PART_LEAF = 0, AV_PART_CONTAINER = 1, AV_PART_PENDING = 2 };

/*
 * A part is a container when another part names it as parent and it is a
 * multipart or message/rfc822 part, whose children hold all it has. A text
 * part whose inline uuencoded files became children keeps text of its own:
 * it is scanned as a leaf, and the engine's coverage check asks for it.
 */
static unsigned char *av_classify_parts(smf_msg_t *msg, size_t count)
{
    unsigned char *kind = smf_msg_alloc(msg, count);
    if (kind == NULL) {
        return NULL;
    }
    memset(kind, AV_PART_LEAF, count);
    for (size_t i = 0; i < count; i++) {
        const smf_part_t *p = smf_msg_part(msg, i);
        if (p == NULL || p->parent < 0 || (size_t)p->parent >= count) {
            continue;
        }
        const smf_part_t *up = smf_msg_part(msg, (size_t)p->parent);
        if (up != NULL && (up->flags & (SMF_PART_MULTIPART | SMF_PART_MESSAGE)) != 0) {
            kind[p->parent] = AV_PART_CONTAINER;
        }
    }
    return kind;
}

/*
 * Leaves our parser could not decode, and multipart containers in which it
 * found no part, are only seen by libclamav's own mail parser reading the
 * raw message; that is a second chance to find a virus, not proof of
 * coverage, so such parts are never counted as scanned.
 */
static int av_uncovered(const smf_part_t *p)
{
    return (p->flags & (SMF_PART_UNDECODED | SMF_PART_MULTIPART)) != 0;
}

static int av_line_starts(const unsigned char *d, size_t n, size_t i, const char *word)
{
    size_t len = strlen(word);
    return (i == 0 || d[i - 1] == '\n') && n - i >= len && memcmp(d + i, word, len) == 0;
}

/* "begin 644 name": an octal mode of three or four digits, then a space. */
static int av_uu_header(const unsigned char *d, size_t n, size_t i)
{
    size_t j = i + 6, digits = 0;
    while (j < n && d[j] >= '0' && d[j] <= '7' && digits < 5) {
        j++;
        digits++;
    }
    return (digits == 3 || digits == 4) && j < n && d[j] == ' ';
}

/*
 * Mail clients decode uuencoded and BinHex blocks written inside a text
 * body; libclamav only does so inside its mail parser, so such a text part
 * is covered once the raw message has been scanned too.
 */
static int av_has_inline_file(const smf_part_t *p)
{
    if (strncmp(p->content_type, "text/", 5) != 0) {
        return 0;
    }
    for (size_t i = 0; i < p->size; i++) {
        if (av_line_starts(p->data, p->size, i, "begin ") && av_uu_header(p->data, p->size, i)) {
            return 1;
        }
        if (av_line_starts(p->data, p->size, i, "(This file must be converted with BinHex")) {
            return 1;
        }
    }
    return 0;
}

static int av_scan_raw(smf_msg_t *msg, const av_state_t *st, av_result_t *res)
{
    size_t len = 0;
    const char *raw = smf_msg_raw(msg, &len);
    *res = AV_CLEAN;
    if (len == 0) {
        return 0;
    }
    if (len > st->max_file_size) {
        av_unscannable(msg, "AV_UNSCANNABLE", "message larger than max_file_size", "raw message");
        *res = AV_UNSCANNABLE;
        return 0;
    }
    return av_scan_buffer(msg, st, raw, len, NULL, "raw message", res);
}

/*
 * The header block as libclamav gets it: the raw top-level block, then
 * each field whose value, as a mail client shows it (unfolded, RFC 2047
 * encoded words decoded, in UTF-8), is not already in the raw bytes, as
 * "Name: value". The raw bytes alone would hide a string written as an
 * encoded word or folded over two lines. Fields come in order, so each
 * value is looked for after the last one found; most are found at once,
 * and the block, often larger than the body, is matched only once.
 */
/*
 * How far past the last value found the next one is looked for: room for a
 * field name, the blanks and folds before its value, and a decoded field
 * or two in between. A value further on is added again, which costs a few
 * bytes of scanning; the bound keeps header blocks of many encoded fields
 * from costing a search of the whole block per field.
 */
#define AV_FIELD_GAP 4096

static char *av_header_text(smf_msg_t *msg, size_t *len)
{
    size_t raw_len = 0;
    const char *raw = smf_msg_raw_headers(msg, &raw_len);
    size_t count = smf_msg_header_count(msg);
    size_t need = raw_len + 1;
    for (size_t i = 0; i < count; i++) {
        const char *name = "", *value = "";
        if (smf_msg_header_at(msg, i, &name, &value) == 0) {
            need += strlen(name) + strlen(value) + 3;
        }
    }
    char *buf = smf_msg_alloc(msg, need);
    if (buf == NULL) {
        return NULL;
    }
    memcpy(buf, raw, raw_len);
    size_t n = raw_len, pos = 0;
    buf[n++] = '\n';
    for (size_t i = 0; i < count; i++) {
        const char *name = "", *value = "";
        if (smf_msg_header_at(msg, i, &name, &value) != 0 || value[0] == '\0') {
            continue;
        }
        size_t vlen = strlen(value);
        size_t window = raw_len - pos;
        if (window > vlen + AV_FIELD_GAP) {
            window = vlen + AV_FIELD_GAP;
        }
        const char *at = memmem(raw + pos, window, value, vlen);
        if (at != NULL) {
            pos = (size_t)(at - raw) + vlen;
        } else {
            n += (size_t)snprintf(buf + n, need - n, "%s: %s\n", name, value);
        }
    }
    *len = n;
    return buf;
}

/* At most this many fields are scanned one by one to name the field that
 * holds a virus found in the header block; past it the block is named. */
#define AV_HEADER_PROBES 200

/*
 * Names the field whose decoded value alone holds what libclamav found in
 * the header block, by scanning the values one by one: this runs only for
 * an infected message. "header block" when none does (a match across
 * fields, or in raw bytes that decoding changed).
 */
static const char *av_header_where(smf_msg_t *msg, const av_state_t *st,
                                   const struct cl_scan_options *opts)
{
    size_t count = smf_msg_header_count(msg);
    for (size_t i = 0; i < count && i < AV_HEADER_PROBES; i++) {
        const char *name = "", *value = "";
        if (smf_msg_header_at(msg, i, &name, &value) != 0 || value[0] == '\0' ||
            smf_msg_time_left_ms(msg) <= 0) {
            continue;
        }
        av_scan_ctx_t ctx;
        const char *virname = NULL;
        cl_error_t rc = av_scan_map(msg, st, value, strlen(value), NULL, opts, &ctx, &virname);
        if (rc == CL_VIRUS && !ctx.timed_out && !ctx.cut_short && !ctx.no_scratch &&
            virname != NULL && !av_starts_with(virname, AV_LIMITS_PREFIX)) {
            const char *s = smf_msg_printf(msg, "header %s", name);
            return s != NULL ? s : "header block";
        }
    }
    return "header block";
}

/*
 * Scans the message's header block, which no part holds: a virus's string
 * in the Subject or any other field is what whole-message scanners find.
 * libclamav's mail parser is off for it, since the block reads as a mail
 * and the parser writes temporary files; its bytes are matched all the
 * same.
 */
static int av_scan_headers(smf_msg_t *msg, const av_state_t *st, av_result_t *res)
{
    *res = AV_CLEAN;
    size_t len = 0;
    const char *text = av_header_text(msg, &len);
    if (text == NULL) {
        return SMF_ENOMEM;
    }
    if (len <= 1) {
        return 0;
    }
    const char *what = "header block";
    if (len > st->max_file_size) {
        av_unscannable(msg, "AV_UNSCANNABLE", "header block larger than max_file_size", what);
        *res = AV_UNSCANNABLE;
        return 0;
    }
    if (smf_msg_time_left_ms(msg) <= 0) {
        return SMF_ETIMEDOUT;
    }
    struct cl_scan_options opts = st->options;
    opts.parse &= ~(unsigned)CL_SCAN_PARSE_MAIL;
    av_scan_ctx_t ctx;
    const char *virname = NULL;
    cl_error_t rc = av_scan_map(msg, st, text, len, NULL, &opts, &ctx, &virname);
    if (rc == CL_VIRUS && !ctx.timed_out && !ctx.cut_short && !ctx.no_scratch && virname != NULL &&
        !av_starts_with(virname, AV_LIMITS_PREFIX) &&
        !av_starts_with(virname, AV_ENCRYPTED_PREFIX)) {
        what = av_header_where(msg, st, &opts);
    }
    return av_outcome(msg, rc, &ctx, virname, what, res);
}

/* Scans one leaf; tells whether the raw message must be scanned as well. */
static int av_scan_leaf(smf_msg_t *msg, const av_state_t *st, size_t i, unsigned char *kind,
                        int *need_raw, av_result_t *res)
{
    const smf_part_t *p = smf_msg_part(msg, i);
    int rc = av_scan_part(msg, st, i, p, res);
    if (rc < 0 || *res != AV_CLEAN) {
        return rc;
    }
    if (av_uncovered(p)) {
        *need_raw = 1;
    } else if (av_has_inline_file(p)) {
        kind[i] = AV_PART_PENDING;
        *need_raw = 1;
    } else {
        smf_msg_part_scanned(msg, i);
    }
    return 0;
}

/*
 * Scans every leaf. A part libclamav failed on does not end the walk: the
 * first error is kept and returned only if no other part holds a virus,
 * since a virus found is a better answer than tempfail. A passed deadline
 * does end it, as every later scan would fail the same way.
 */
static int av_scan_leaves(smf_msg_t *msg, const av_state_t *st, size_t count, unsigned char *kind,
                          int *need_raw, av_result_t *found)
{
    int first_error = 0;
    for (size_t i = 0; i < count; i++) {
        if (kind[i] == AV_PART_CONTAINER || smf_msg_part(msg, i) == NULL) {
            continue;
        }
        av_result_t res = AV_CLEAN;
        int rc = av_scan_leaf(msg, st, i, kind, need_raw, &res);
        if (res == AV_VIRUS || rc == SMF_ETIMEDOUT) {
            *found = res;
            return rc;
        }
        if (rc < 0 && first_error == 0) {
            first_error = rc;
        }
    }
    return first_error;
}

/* The raw message, for what the parts do not cover; marks the text parts
 * with inline files once it is clean. */
static int av_scan_rest(smf_msg_t *msg, const av_state_t *st, size_t count,
                        const unsigned char *kind, av_result_t *found)
{
    int rc = av_scan_raw(msg, st, found);
    for (size_t i = 0; rc == 0 && *found == AV_CLEAN && i < count; i++) {
        if (kind[i] == AV_PART_PENDING) {
            smf_msg_part_scanned(msg, i);
        }
    }
    return rc;
}

/*
 * Whether the message carries another (message/rfc822, a forwarded mail):
 * its header fields are no part's data and not the top-level header block,
 * so only the raw message holds them for the scanner.
 */
static int av_has_message_part(smf_msg_t *msg, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const smf_part_t *p = smf_msg_part(msg, i);
        if (p != NULL && (p->flags & SMF_PART_MESSAGE) != 0) {
            return 1;
        }
    }
    return 0;
}

int av_scan_message(smf_msg_t *msg, const av_state_t *st)
{
    size_t count = smf_msg_part_count(msg);
    unsigned char *kind = av_classify_parts(msg, count);
    if (kind == NULL) {
        return SMF_ENOMEM;
    }
    int need_raw =
        st->scan_raw_message || smf_msg_truncated(msg) != NULL || av_has_message_part(msg, count);
    av_result_t found = AV_CLEAN;
    int rc = av_scan_leaves(msg, st, count, kind, &need_raw, &found);
    if (found == AV_VIRUS || rc == SMF_ETIMEDOUT) {
        return found == AV_VIRUS ? 0 : rc;
    }
    int head_rc = av_scan_headers(msg, st, &found);
    if (found == AV_VIRUS || head_rc == SMF_ETIMEDOUT) {
        return found == AV_VIRUS ? 0 : head_rc;
    }
    if (rc == 0) {
        rc = head_rc;
    }
    if (!need_raw) {
        return rc;
    }
    int raw_rc = av_scan_rest(msg, st, count, kind, &found);
    if (found == AV_VIRUS) {
        return 0;
    }
    return rc < 0 ? rc : raw_rc;
}
