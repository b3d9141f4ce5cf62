/*
 * attachment.c - the attachment module: blocked and double file extensions,
 * executables disguised as documents (libmagic), and archive contents
 * (archive.c) and TNEF streams (tnef.c), under the recipient domain's
 * policy (policy.c). Only parts that carry a file name are examined.
 */
#include "attachment.h"
#include "tnef.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libmagic reads at most this much of a file; type signatures sit near the start. */
#define ATT_MAGIC_BYTES (256 * 1024)

static const smf_option_t att_options[] = {
    /* Programs and scripts Windows runs when opened, and the containers
     * malware has been sent in since: disk images it mounts (img, vhd),
     * OneNote, Excel add-ins, MMC consoles, app packages. */
    {"blocked_extensions", SMF_OPT_LIST,
     "{exe, scr, js, vbs, bat, cmd, com, pif, jar, ps1, hta, lnk, iso, msi, cpl, wsf, vbe, jse, "
     "reg, dll, img, vhd, vhdx, one, xll, msc, msp, mst, appx, appxbundle, msix, msixbundle, "
     "application, appref-ms, gadget, chm, hlp, scf, sct, wsc, wsh, ws, inf, psm1, psd1, "
     "ps1xml, jnlp, library-ms, settingcontent-ms, diagcab, xbap}",
     offsetof(att_conf_t, blocked_extensions), "File extensions refused in attachments."},
    {"blocked_score", SMF_OPT_FLOAT, "10", offsetof(att_conf_t, blocked_score),
     "Score of ATT_BLOCKED_EXT, ATT_EXECUTABLE and ATT_BLOCKED_ARCHIVE."},
    {"double_ext_score", SMF_OPT_FLOAT, "6", offsetof(att_conf_t, double_ext_score),
     "Score of ATT_DOUBLE_EXT and ATT_RTLO_NAME."},
    {"archive_blocked_score", SMF_OPT_FLOAT, "8", offsetof(att_conf_t, archive_blocked_score),
     "Score of ATT_ARCHIVE_BLOCKED."},
    {"encrypted_score", SMF_OPT_FLOAT, "2", offsetof(att_conf_t, encrypted_score),
     "Score of ATT_ENCRYPTED."},
    {"type_mismatch_score", SMF_OPT_FLOAT, "10", offsetof(att_conf_t, type_mismatch_score),
     "Score of ATT_TYPE_MISMATCH."},
    {"limit_score", SMF_OPT_FLOAT, "2", offsetof(att_conf_t, limit_score),
     "Score of ATT_ARCHIVE_LIMIT."},
    {"damaged_score", SMF_OPT_FLOAT, "1", offsetof(att_conf_t, damaged_score),
     "Score of ATT_ARCHIVE_DAMAGED."},
    {"macro_score", SMF_OPT_FLOAT, "5", offsetof(att_conf_t, macro_score),
     "Score of ATT_MACRO (an Office document with a VBA macro project)."},
    {"zip_name_mismatch_score", SMF_OPT_FLOAT, "6", offsetof(att_conf_t, zip_name_mismatch_score),
     "Score of ATT_ZIP_NAME_MISMATCH (a zip entry named differently in its two headers)."},
    {"zip_concatenated_score", SMF_OPT_FLOAT, "6", offsetof(att_conf_t, zip_concatenated_score),
     "Score of ATT_ZIP_CONCATENATED (zips one after another in one file, or local entries "
     "that no central directory lists)."},
    {"html_smuggling_score", SMF_OPT_FLOAT, "3", offsetof(att_conf_t, html_smuggling_score),
     "Score of ATT_HTML_SMUGGLING (an HTML or SVG attachment, or an HTML body, whose script "
     "decodes a base64 string and saves it as a file)."},
    /* A TNEF writer that sums wrong makes clean mail: the attachments are
     * read and checked all the same, so the mismatch says little. */
    {"tnef_checksum_score", SMF_OPT_FLOAT, "0", offsetof(att_conf_t, tnef_checksum_score),
     "Score of ATT_TNEF_CHECKSUM (a TNEF attribute whose checksum does not match)."},
    {"archive_max_depth", SMF_OPT_INT, "3", offsetof(att_conf_t, archive_max_depth),
     "Archives nested deeper than this are not opened (1: only the attachment itself)."},
    {"archive_max_entries", SMF_OPT_INT, "1000", offsetof(att_conf_t, archive_max_entries),
     "Entries examined at most per attachment, nested archives included."},
    {"archive_max_expanded", SMF_OPT_INT, "104857600", offsetof(att_conf_t, archive_max_expanded),
     "Bytes decompressed at most per attachment, nested archives included."},
    {"blocked_action", SMF_OPT_STRING, "\"score\"", offsetof(att_conf_t, blocked_action),
     "What a blocked attachment leads to: score (its symbol's score only), quarantine "
     "(the spam verdict) or reject (the block verdict)."},
    {"block_archives", SMF_OPT_BOOL, "false", offsetof(att_conf_t, block_archives),
     "Treat every archive attachment as blocked (ATT_BLOCKED_ARCHIVE)."},
    {"domain_policy", SMF_OPT_LIST, NULL, offsetof(att_conf_t, domain_policy),
     "Per-domain settings: \"DOMAIN[, DOMAIN]: key=value; key=value\"."},
    {"policy_file", SMF_OPT_STRING, NULL, offsetof(att_conf_t, policy_file),
     "File of per-domain settings, one entry a line, relative to the configuration directory."},
    SMF_OPTIONS_END};

/* Names a reader would take for harmless documents or media. */
static const char *const att_document_exts[] = {
    "pdf", "doc", "docx", "docm", "xls",  "xlsx", "xlsm", "ppt", "pptx", "rtf",  "txt",
    "csv", "odt", "ods",  "jpg",  "jpeg", "png",  "gif",  "bmp", "tif",  "tiff", "mp3",
    "mp4", "wav", "avi",  "htm",  "html", "zip",  "rar",  "7z",  NULL};

/* MIME types libmagic gives to programs. */
static const char *const att_exec_types[] = {"application/x-dosexec",
                                             "application/x-msdownload",
                                             "application/x-executable",
                                             "application/x-pie-executable",
                                             "application/x-sharedlib",
                                             "application/x-mach-binary",
                                             "application/vnd.microsoft.portable-executable",
                                             NULL};

/* Of those, the types libmagic gives to Windows programs (PE). */
static const char *const att_windows_exec_types[] = {
    "application/x-dosexec", "application/x-msdownload",
    "application/vnd.microsoft.portable-executable", NULL};

static int att_in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcasecmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

/*
 * Copies the extension that ends at base[end] (lower case, without the dot)
 * into out. Returns the position of its dot, or -1 when there is none.
 */
static long att_copy_ext(const char *base, size_t end, char *out, size_t cap)
{
    size_t dot = end, n;

    out[0] = '\0';
    while (dot > 0 && base[dot - 1] != '.')
        dot--;
    if (dot == 0)
        return -1;
    n = end - dot < cap ? end - dot : cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)base[dot + i]);
    out[n] = '\0';
    return (long)dot - 1;
}

/*
 * The length of the blank that ends base[0, end), 0 when none: a space, a
 * Unicode space (U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000),
 * or a character that shows as blank as one does (U+2800 BRAILLE PATTERN
 * BLANK, U+3164 HANGUL FILLER, U+FFA0 HALFWIDTH HANGUL FILLER), in UTF-8.
 */
static size_t att_blank_at_end(const char *base, size_t end)
{
    static const char *const blanks3[] = {"\xe1\x9a\x80", "\xe2\x81\x9f", "\xe2\xa0\x80",
                                          "\xe3\x80\x80", "\xe3\x85\xa4", "\xef\xbe\xa0"};
    const unsigned char *u = (const unsigned char *)base;

    if (end >= 1 && u[end - 1] == ' ')
        return 1;
    if (end >= 2 && u[end - 2] == 0xc2 && u[end - 1] == 0xa0)
        return 2;
    if (end >= 3 && u[end - 3] == 0xe2 && u[end - 2] == 0x80 &&
        (u[end - 1] <= 0x8a || u[end - 1] == 0xaf) && u[end - 1] >= 0x80)
        return 3;
    for (size_t i = 0; end >= 3 && i < sizeof(blanks3) / sizeof(blanks3[0]); i++) {
        if (memcmp(base + end - 3, blanks3[i], 3) == 0)
            return 3;
    }
    return 0;
}

/*
 * The last two extensions of a file name. Trailing dots and spaces are
 * dropped first, as Windows drops them when it opens "invoice.exe. ", and
 * so are blanks that push the last extension out of sight ("a.pdf    .exe",
 * also with no-break or other Unicode spaces, which show the same).
 */
static void att_extensions(const char *name, char *last, char *prev, size_t cap)
{
    const char *base = name;
    size_t end;
    long dot;

    for (const char *s = name; *s != '\0'; s++) {
        if (*s == '/' || *s == '\\')
            base = s + 1;
    }
    end = strlen(base);
    while (end > 0 && (base[end - 1] == '.' || base[end - 1] == ' '))
        end--;
    prev[0] = '\0';
    if ((dot = att_copy_ext(base, end, last, cap)) < 0)
        return;
    end = (size_t)dot;
    for (size_t blank; (blank = att_blank_at_end(base, end)) > 0;)
        end -= blank;
    (void)att_copy_ext(base, end, prev, cap);
}

int att_name_blocked(const att_policy_t *pol, const char *name)
{
    char last[32], prev[32];

    att_extensions(name, last, prev, sizeof(last));
    for (size_t i = 0; last[0] != '\0' && i < pol->blocked_count; i++) {
        if (strcmp(pol->blocked[i], last) == 0)
            return 1;
    }
    return 0;
}

/* Cheap look at the first bytes, so that libmagic runs only on likely programs. */
int att_looks_exec(const unsigned char *d, size_t n)
{
    static const unsigned char macho[][4] = {{0xfe, 0xed, 0xfa, 0xce},
                                             {0xce, 0xfa, 0xed, 0xfe},
                                             {0xfe, 0xed, 0xfa, 0xcf},
                                             {0xcf, 0xfa, 0xed, 0xfe},
                                             {0xca, 0xfe, 0xba, 0xbe}};

    if (n >= 2 && d[0] == 'M' && d[1] == 'Z')
        return 1;
    if (n >= 4 && memcmp(d,
                         "\x7f"
                         "ELF",
                         4) == 0)
        return 1;
    for (size_t i = 0; n >= 4 && i < sizeof(macho) / sizeof(macho[0]); i++) {
        if (memcmp(d, macho[i], 4) == 0)
            return 1;
    }
    return 0;
}

static int att_is_exec_type(const char *mime)
{
    return mime != NULL && att_in_list(att_exec_types, mime);
}

/*
 * Whether data is a Windows program: "MZ", then "PE\0\0" at the offset its
 * DOS header gives (e_lfanew), which the Windows loader requires. A DOS
 * program without one, which 64-bit Windows does not run, and text that
 * happens to start "MZ" are none. A document that embeds a program (an
 * OLE2 or OOXML file) starts as that document and is none either.
 */
static int att_is_pe(const unsigned char *d, size_t n)
{
    uint32_t off;

    if (n < 0x40 || d[0] != 'M' || d[1] != 'Z')
        return 0;
    off = (uint32_t)d[0x3c] | (uint32_t)d[0x3d] << 8 | (uint32_t)d[0x3e] << 16 |
          (uint32_t)d[0x3f] << 24;
    return off <= n - 4 && memcmp(d + off, "PE\0\0", 4) == 0;
}

/*
 * Whether a name leaves a program to a check of its own: a blocked
 * extension (ATT_BLOCKED_EXT), a document's (a disguise, ATT_TYPE_MISMATCH),
 * or one a Windows program is rightly named by, which blocked_extensions
 * then lets through on purpose ("exe" left out of it lets setup.exe pass).
 */
static int att_name_judged(const att_policy_t *pol, const char *name)
{
    /* Programs and libraries by their own names, the native modules of
     * Python (.pyd) and Node.js (.node) and .NET metadata (.winmd) among
     * them: shipped in archives, not run by a double click. */
    static const char *const program_exts[] = {"exe", "dll",  "scr",   "com", "cpl", "ocx",
                                               "sys", "drv",  "efi",   "xll", "pif", "mui",
                                               "pyd", "node", "winmd", "ax",  NULL};
    char last[32], prev[32];

    att_extensions(name, last, prev, sizeof(last));
    return att_name_blocked(pol, name) || att_in_list(att_document_exts, last) ||
           att_in_list(program_exts, last);
}

int att_check_program(att_ctx_t *ctx, const char *where, const char *const *names, size_t count,
                      const unsigned char *data, size_t len, const char *sym, double score)
{
    const char *name = "(no name)", *mime, *detail;

    if (!att_is_pe(data, len))
        return 0;
    for (size_t i = count; i-- > 0;) {
        if (names[i][0] == '\0')
            continue;
        if (att_name_judged(ctx->pol, names[i]))
            return 0;
        name = names[i];
    }
    mime = magic_buffer(ctx->th->magic, data, len < ATT_MAGIC_BYTES ? len : ATT_MAGIC_BYTES);
    if (mime == NULL || !att_in_list(att_windows_exec_types, mime))
        return 0;
    if ((detail = smf_msg_printf(ctx->msg, "%s%s is %s", where, name, mime)) == NULL)
        return SMF_ENOMEM;
    att_note_blocked(ctx, detail);
    return smf_msg_add_symbol(ctx->msg, sym, score, detail);
}

int att_check_type(att_ctx_t *ctx, const char *where, const char *name, const unsigned char *head,
                   size_t len)
{
    char last[32], prev[32], detail[600];
    const char *mime;

    att_extensions(name, last, prev, sizeof(last));
    if (!att_looks_exec(head, len) || !att_in_list(att_document_exts, last))
        return 0;
    mime = magic_buffer(ctx->th->magic, head, len < ATT_MAGIC_BYTES ? len : ATT_MAGIC_BYTES);
    if (!att_is_exec_type(mime))
        return 0;
    snprintf(detail, sizeof(detail), "%s%s is %s", where, name, mime);
    /* A program disguised as a document is blocked, as one named for what it
     * is: the disguise makes it no better. */
    att_note_blocked(ctx, detail);
    return smf_msg_add_symbol(ctx->msg, "ATT_TYPE_MISMATCH", ctx->pol->type_mismatch_score, detail);
}

int att_check_name(att_ctx_t *ctx, const char *where, const char *name)
{
    return att_check_name_whole(ctx, where, name, 0);
}

int att_check_name_whole(att_ctx_t *ctx, const char *where, const char *name, int rtlo)
{
    const att_policy_t *c = ctx->pol;
    char last[32], prev[32];
    const char *detail = name;
    int rc = 0;

    if (where[0] != '\0' && (detail = smf_msg_printf(ctx->msg, "%s%s", where, name)) == NULL)
        return SMF_ENOMEM;
    att_extensions(name, last, prev, sizeof(last));
    if (att_name_blocked(c, name)) {
        rc = smf_msg_add_symbol(ctx->msg, "ATT_BLOCKED_EXT", c->blocked_score, detail);
        att_note_blocked(ctx, detail);
        if (rc == 0 && prev[0] != '\0' && att_in_list(att_document_exts, prev))
            rc = smf_msg_add_symbol(ctx->msg, "ATT_DOUBLE_EXT", c->double_ext_score, detail);
    }
    /* U+202E turns "invoice_fdp.exe" into "invoice_exe.pdf" on screen. */
    if (rc == 0 && (rtlo || strstr(name, "\xe2\x80\xae") != NULL))
        rc = smf_msg_add_symbol(ctx->msg, "ATT_RTLO_NAME", c->double_ext_score, detail);
    return rc;
}

/*
 * Which parts are attachments: every leaf with a file name, and every other
 * leaf but the message's text. A part with no name can still carry an
 * archive or a macro document a mail client offers to open.
 */
static int att_is_examined(const smf_part_t *p)
{
    if (p->flags & (SMF_PART_MULTIPART | SMF_PART_MESSAGE))
        return 0;
    if (p->filename[0] != '\0' || (p->flags & SMF_PART_ATTACHMENT))
        return 1;
    return !(p->flags & SMF_PART_TEXT) && p->size > 0;
}

/*
 * The name checks for both of a part's names: a client may save it under
 * its Content-Type name= as well as its Content-Disposition filename=, and
 * the details say which name matched.
 */
static int att_check_names(att_ctx_t *ctx, const smf_part_t *p)
{
    int rc = p->filename[0] != '\0' ? att_check_name(ctx, "", p->filename) : 0;

    if (rc == 0 && p->other_filename[0] != '\0')
        rc = att_check_name(ctx, "", p->other_filename);
    return rc;
}

/*
 * ATT_EXECUTABLE: a Windows program attached under no name or a name that
 * neither blocks it nor disguises it ("setup.ex_", "file.dat"), which a
 * rename is all it takes to run. A text part without a name is text a
 * client shows, the message's body among them: never judged so.
 */
static int att_check_part_program(att_ctx_t *ctx, const smf_part_t *p)
{
    const char *names[] = {p->filename, p->other_filename};

    if (p->filename[0] == '\0' &&
        ((p->flags & SMF_PART_TEXT) || strncmp(p->content_type, "text/", 5) == 0))
        return 0;
    return att_check_program(ctx, "", names, 2, p->data, p->size, "ATT_EXECUTABLE",
                             ctx->pol->blocked_score);
}

/* Whether a part says it is a TNEF stream. */
static int att_labelled_tnef(const smf_part_t *p)
{
    return strcmp(p->content_type, "application/ms-tnef") == 0 ||
           strcmp(p->content_type, "application/vnd.ms-tnef") == 0;
}

static int att_check_part(att_ctx_t *ctx, const smf_part_t *p)
{
    int rc;
    /* A part without a name can only be judged by its content; the details
     * then name it by its type. */
    int named = p->filename[0] != '\0';
    const char *what =
        named ? p->filename : smf_msg_printf(ctx->msg, "unnamed %s part", p->content_type);

    if ((rc = att_check_names(ctx, p)) < 0)
        return rc;
    if (named && (rc = att_check_type(ctx, "", p->filename, p->data, p->size)) < 0)
        return rc;
    if (p->other_filename[0] != '\0' &&
        (rc = att_check_type(ctx, "", p->other_filename, p->data, p->size)) < 0)
        return rc;
    if ((rc = att_check_part_program(ctx, p)) < 0)
        return rc;
    if ((rc = att_check_ole2(ctx, "", what, p->data, p->size)) < 0)
        return rc;
    if ((rc = att_check_smuggling(ctx, what, p)) < 0)
        return rc;
    /* Outlook's winmail.dat: no archive a user chose, so block_archives
     * leaves it be, but its attachments are walked as an archive's entries.
     * A part that says it is TNEF and is none is a broken one, and is still
     * what it is to a client that goes by its name: a zip is walked. */
    if (att_is_tnef(p->data, p->size))
        return att_scan_archive(ctx, what, p->data, p->size, 0);
    if (att_labelled_tnef(p) && (rc = smf_msg_add_symbol(ctx->msg, "ATT_ARCHIVE_DAMAGED",
                                                         ctx->pol->damaged_score, what)) < 0)
        return rc;
    /* A zip behind a preamble does not start like one, yet unzip and 7-Zip
     * extract it: its central directory is what gives it away. So does a 7z
     * or rar behind other bytes in a file whose name or type says 7z or rar. */
    int typed = att_sig_typed(p->content_type);
    if (!att_is_archive(p->data, p->size) && !att_zip_found(p->data, p->size) &&
        !att_sig_nests(ctx, what, typed, p->data, p->size))
        return 0;
    if (ctx->pol->block_archives) {
        if ((rc = smf_msg_add_symbol(ctx->msg, "ATT_BLOCKED_ARCHIVE", ctx->pol->blocked_score,
                                     what)) < 0)
            return rc;
        att_note_blocked(ctx, what);
    }
    return att_scan_archive(ctx, what, p->data, p->size, typed);
}

void att_note_blocked(att_ctx_t *ctx, const char *what)
{
    /* A reason, not a record: a name longer than the buffer is cut. */
    if (ctx->blocked[0] == '\0')
        snprintf(ctx->blocked, sizeof(ctx->blocked), "blocked attachment: %.480s", what);
}

/* reject and quarantine become forced verdicts; score leaves it to the symbols. */
static int att_apply_action(att_ctx_t *ctx)
{
    if (ctx->blocked[0] == '\0' || ctx->pol->blocked_action == ATT_ACTION_SCORE)
        return 0;
    return smf_msg_set_verdict(ctx->msg,
                               ctx->pol->blocked_action == ATT_ACTION_REJECT ? SMF_VERDICT_BLOCK
                                                                             : SMF_VERDICT_SPAM,
                               ctx->blocked);
}

static int att_scan(smf_msg_t *msg, void *state, void *tstate)
{
    att_ctx_t ctx = {msg, att_policy_for(state, smf_msg_domain(msg)), tstate, ""};
    size_t n = smf_msg_part_count(msg);

    for (size_t i = 0; i < n; i++) {
        const smf_part_t *p = smf_msg_part(msg, i);
        if (p == NULL)
            continue;
        /* A container under a file name (a forwarded message attached as
         * "invoice.pdf.exe") is saved under that name: its name is checked,
         * its parts each on their own. */
        if (!att_is_examined(p)) {
            int rc = att_check_names(&ctx, p);
            /* An HTML body that builds a file and saves it is the same
             * page as such an attachment: a client that opens the body in
             * a browser ("view in browser") runs its scripts. */
            if (rc == 0 && (p->flags & SMF_PART_TEXT) && (p->flags & SMF_PART_HTML))
                rc = att_check_smuggling(&ctx, "HTML body", p);
            if (rc < 0)
                return rc;
            continue;
        }
        if (smf_msg_time_left_ms(msg) <= 0)
            return SMF_ETIMEDOUT;
        int rc = att_check_part(&ctx, p);
        if (rc < 0)
            return rc;
    }
    return att_apply_action(&ctx);
}

/* Opens a libmagic handle with its default database. */
static magic_t att_magic_open(void)
{
    magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
    size_t max = ATT_MAGIC_BYTES;

    if (m == NULL)
        return NULL;
    if (magic_load(m, NULL) != 0) {
        magic_close(m);
        return NULL;
    }
    (void)magic_setparam(m, MAGIC_PARAM_BYTES_MAX, &max);
    return m;
}

static void att_free_state(att_state_t *st)
{
    if (st == NULL)
        return;
    att_policies_free(st);
    free(st);
}

static int att_init(smf_init_t *init, const void *conf, void **state)
{
    att_state_t *st;
    magic_t probe;
    int rc;

    /* Fail here, with a reason, rather than in every thread_init() later. */
    if ((probe = att_magic_open()) == NULL) {
        smf_init_fail(init, "cannot load the libmagic database");
        return SMF_EIO;
    }
    magic_close(probe);
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        smf_init_fail(init, "out of memory");
        return SMF_ENOMEM;
    }
    if ((rc = att_policies_load(init, conf, st)) < 0) {
        att_free_state(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void att_fini(void *state)
{
    att_free_state(state);
}

static int att_thread_init(void *state, void **tstate)
{
    att_thread_t *th = calloc(1, sizeof(*th));

    if (th == NULL)
        return SMF_ENOMEM;
    if ((th->magic = att_magic_open()) == NULL) {
        free(th);
        return SMF_EIO;
    }
    *tstate = th;
    return 0;
}

static void att_thread_fini(void *state, void *tstate)
{
    att_thread_t *th = tstate;

    if (th != NULL)
        magic_close(th->magic);
    free(th);
}

/* A scan reads the recipient domain only to pick its settings: domains
 * with the same settings (all those without their own, most often) share
 * one walk of the message's archives. The scope names the settings. */
static const char *att_scope(smf_msg_t *msg, void *state, void *tstate)
{
    (void)tstate;
    return smf_msg_printf(msg, "%p", (const void *)att_policy_for(state, smf_msg_domain(msg)));
}

SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "attachment",
    .version = "0.1.0",
    .description = "Attachment names, disguised executables and archive contents",
    .kind = SMF_KIND_CONTENT,
    .options = att_options,
    .conf_size = sizeof(att_conf_t),
    .init = att_init,
    .fini = att_fini,
    .thread_init = att_thread_init,
    .thread_fini = att_thread_fini,
    .scan = att_scan,
    .scope = att_scope,
};
