/*
 * archive.c - walks archives (zip, 7z, tar, gzip, rar, cab, iso) held in
 * memory with libarchive, and TNEF streams (tnef.c), nested ones included,
 * within limits on depth, entries and decompressed bytes shared by the
 * whole attachment.
 */
#include "attachment.h"
#include "tnef.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Size of one libarchive read. */
#define ATT_READ_CHUNK 65536

/* One attachment's walk: its limits are shared by every nesting level. */
typedef struct att_walk {
    att_ctx_t *ctx;
    const char *top; /* The attachment's file name, for details. */
    size_t entries;
    uint64_t expanded;
    int stopped; /* A limit was hit: stop opening anything more. */
    int typed;   /* The attachment's type says 7z or rar. */
} att_walk_t;

/* An entry's data: the first bytes, or all of it when it is an archive to open. */
typedef struct att_buf {
    unsigned char *data;
    size_t len, cap;
} att_buf_t;

int att_is_archive(const unsigned char *d, size_t n)
{
    static const struct {
        size_t off;
        const char *magic;
        size_t len;
    } sigs[] = {
        {0, "PK\x03\x04", 4},         /* zip */
        {0, "7z\xbc\xaf\x27\x1c", 6}, /* 7z */
        {0, "\x1f\x8b", 2},           /* gzip */
        {0, "BZh", 3},                /* bzip2 */
        {0,
         "\xfd"
         "7zXZ\x00",
         6},                        /* xz */
        {0, "Rar!\x1a\x07", 6},     /* rar */
        {0, "\x28\xb5\x2f\xfd", 4}, /* zstd */
        {0, "MSCF", 4},             /* cab */
        {257, "ustar", 5},          /* tar */
        {32769, "CD001", 5},        /* iso9660 */
    };

    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (n >= sigs[i].off + sigs[i].len &&
            memcmp(d + sigs[i].off, sigs[i].magic, sigs[i].len) == 0)
            return 1;
    }
    return 0;
}

/* How damaged an archive is: an entry could not be read whole, or the
 * archive cannot be read on at all. */
enum { ATT_DAMAGED_ENTRY = 1, ATT_UNREADABLE = 2 };

/* Stops the walk: the attachment could not be examined whole. */
static int att_limit(att_walk_t *w, const char *what)
{
    char detail[600];
    int rc;

    w->stopped = 1;
    snprintf(detail, sizeof(detail), "%s: %s", w->top, what);
    rc = smf_msg_add_symbol(w->ctx->msg, "ATT_ARCHIVE_LIMIT", w->ctx->pol->limit_score, detail);
    return rc < 0 ? rc : smf_msg_set_unscannable(w->ctx->msg, detail);
}

/* An entry whose data cannot be read: the archive is damaged, and what the
 * entry holds is unscannable, as an archive past a limit is. */
static int att_unreadable_entry(att_walk_t *w, const char *path, const char *why, int *broken)
{
    char detail[700];

    if (*broken < ATT_DAMAGED_ENTRY)
        *broken = ATT_DAMAGED_ENTRY;
    snprintf(detail, sizeof(detail), "%s: %s: %s", w->top, path, why);
    return smf_msg_set_unscannable(w->ctx->msg, detail);
}

/* Details read "attachment.zip: path/inside"; the attachment alone is just its name. */
static int att_entry_symbol(att_walk_t *w, const char *sym, double score, const char *path)
{
    /* In the message's arena, whole: a long name must keep its extension. */
    const char *detail =
        path == w->top ? w->top : smf_msg_printf(w->ctx->msg, "%s: %s", w->top, path);

    return smf_msg_add_symbol(w->ctx->msg, sym, score, detail);
}

/* ATT_ARCHIVE_BLOCKED when an entry's name has a blocked extension. */
static int att_check_blocked(att_walk_t *w, const char *path)
{
    const att_policy_t *c = w->ctx->pol;
    int rc;

    if (!att_name_blocked(c, path))
        return 0;
    if ((rc = att_entry_symbol(w, "ATT_ARCHIVE_BLOCKED", c->archive_blocked_score, path)) < 0)
        return rc;
    att_note_blocked(w->ctx, path);
    return 0;
}

static int att_buf_append(att_buf_t *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : ATT_READ_CHUNK;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *n = realloc(b->data, cap);
        if (n == NULL)
            return SMF_ENOMEM;
        b->data = n;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/*
 * Reads an entry's data, whole, counting every byte against the expanded
 * limit. All of it is kept: a zip behind a preamble (a self-extractor, a
 * junk byte) shows only by its end record, at the end of the data, and an
 * OLE2 file's directory may sit anywhere. As every byte kept counts
 * against archive_max_expanded, what one attachment's walk holds at once,
 * nested entries included, stays within it. *broken is raised when the
 * data is damaged. The first skip bytes are read past, not kept. Every
 * byte libarchive hands out, skipped ones too, is added to *handed.
 */
static int att_read_entry(att_walk_t *w, struct archive *a, uint64_t skip, att_buf_t *b,
                          uint64_t *handed, int *broken)
{
    unsigned char chunk[ATT_READ_CHUNK];
    const att_policy_t *c = w->ctx->pol;
    int rc;
    la_ssize_t got;

    while ((got = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
        /* Decompressing is where a small message can cost minutes: past the
         * message's deadline the scan gives up rather than hold the worker. */
        if (smf_msg_time_left_ms(w->ctx->msg) <= 0)
            return SMF_ETIMEDOUT;
        *handed += (uint64_t)got;
        size_t from = 0;
        if (skip > 0) { /* Bytes before the part walked: counted where they were read before. */
            from = skip < (uint64_t)got ? (size_t)skip : (size_t)got;
            skip -= from;
            got -= (la_ssize_t)from;
            if (got == 0)
                continue;
        }
        w->expanded += (uint64_t)got;
        if (w->expanded > (uint64_t)c->archive_max_expanded)
            return att_limit(w, "expands beyond archive_max_expanded");
        if ((rc = att_buf_append(b, chunk + from, (size_t)got)) < 0)
            return rc;
    }
    /* A damaged entry (a bad checksum, a method libarchive cannot read)
     * does not end the walk: the entries after it are still examined. */
    if (got < 0 && *broken < ATT_UNREADABLE)
        *broken = got == ARCHIVE_FATAL ? ATT_UNREADABLE : ATT_DAMAGED_ENTRY;
    return 0;
}

static int att_walk_memory(att_walk_t *w, const char *name, const unsigned char *data, size_t size,
                           long depth);

/*
 * Copies a name of len bytes (not NUL-terminated) into buf, keeping its end
 * when it does not fit: the extension is what the check needs, and what
 * an extractor goes by. Trailing dots and spaces are dropped first, as
 * Windows drops them, so that they cannot push the extension out of the
 * copy either. Returns buf, or NULL when nothing of the name is left.
 */
static const char *att_name_tail(const char *name, size_t len, char *buf, size_t cap)
{
    while (len > 0 && (name[len - 1] == '.' || name[len - 1] == ' '))
        len--;
    if (len == 0 || cap == 0)
        return NULL;
    if (len > cap - 1) {
        name += len - (cap - 1);
        len = cap - 1;
    }
    memcpy(buf, name, len);
    buf[len] = '\0';
    return buf;
}

/*
 * The name of the single stream in a .gz/.bz2/.xz file is the outer name
 * without its suffix. A name too long for buf keeps its end, the extension.
 */
static const char *att_entry_name(struct archive *a, struct archive_entry *e, const char *outer,
                                  char *buf, size_t cap)
{
    const char *path = archive_entry_pathname_utf8(e), *name;
    size_t len, dot;

    if (path == NULL)
        path = archive_entry_pathname(e);
    if (archive_format(a) != ARCHIVE_FORMAT_RAW)
        return path != NULL ? path : "";
    /* Windows drops a name's final dots and spaces: "update.exe.gz." is "update.exe.gz". */
    len = strlen(outer);
    while (len > 0 && (outer[len - 1] == '.' || outer[len - 1] == ' '))
        len--;
    for (dot = len; dot > 0 && outer[dot - 1] != '.'; dot--)
        ;
    if (dot > 1)
        len = dot - 1;
    name = att_name_tail(outer, len, buf, cap);
    return name != NULL ? name : "";
}

/* Whether an entry's data is an archive to open: it starts like one, it is a zip behind a
 * preamble, which unzip and 7-Zip extract, it is a TNEF stream (a winmail.dat), or its
 * name says 7z or rar and such an archive lies further in. */
static int att_nests(att_walk_t *w, const char *name, const unsigned char *data, size_t len)
{
    return att_is_archive(data, len) || att_zip_found(data, len) || att_is_tnef(data, len) ||
           att_sig_nests(w->ctx, name, 0, data, len);
}

/* Examines an entry's data, read whole: its type, an OLE2 document's
 * parts, a nested archive. */
static int att_check_data(att_walk_t *w, const char *path, const unsigned char *data, size_t len,
                          long depth)
{
    const att_policy_t *c = w->ctx->pol;
    char where[600];
    int rc = 0;

    snprintf(where, sizeof(where), "%s: ", w->top);
    if (!w->stopped)
        rc = att_check_type(w->ctx, where, path, data, len);
    /* A Windows program is a blocked entry whatever its name. */
    if (rc == 0 && !w->stopped)
        rc = att_check_program(w->ctx, where, &path, 1, data, len, "ATT_ARCHIVE_BLOCKED",
                               c->archive_blocked_score);
    if (rc == 0 && !w->stopped && !att_is_vba_part(path))
        rc = att_check_ole2(w->ctx, where, path, data, len);
    if (rc == 0 && !w->stopped && att_nests(w, path, data, len)) {
        if (depth >= c->archive_max_depth)
            rc = att_limit(w, "nested deeper than archive_max_depth");
        else
            rc = att_walk_memory(w, path, data, len, depth + 1);
    }
    return rc;
}

/* Examines one entry: its name, then its data (type, nested archive). */
static int att_walk_entry(att_walk_t *w, struct archive *a, struct archive_entry *e,
                          const char *outer, long depth, uint64_t skip, uint64_t *handed,
                          int *broken)
{
    const att_policy_t *c = w->ctx->pol;
    char namebuf[512];
    const char *path = att_entry_name(a, e, outer, namebuf, sizeof(namebuf));
    att_buf_t b = {0};
    int rc = 0;

    if ((rc = att_check_blocked(w, path)) < 0)
        return rc;
    /* An OOXML document is a zip: its macros are a part of their own. */
    if (att_is_vba_part(path) && (rc = att_entry_symbol(w, "ATT_MACRO", c->macro_score, path)) < 0)
        return rc;
    /* Encrypted data cannot be read; its name was still checked above. */
    if (archive_entry_is_encrypted(e))
        return att_entry_symbol(w, "ATT_ENCRYPTED", c->encrypted_score, path);
    /* Whatever type an entry claims (a device, a link), an extractor may
     * still write its data as a file: only directories hold none. */
    if (archive_entry_filetype(e) == AE_IFDIR)
        return 0;
    rc = att_read_entry(w, a, skip, &b, handed, broken);
    /* libarchive hands out no data for a device or FIFO entry, but another
     * extractor writes it out as a file: what it holds cannot be examined. */
    if (rc == 0 && b.len == 0 && archive_entry_size(e) > 0 &&
        archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != AE_IFLNK)
        rc = att_unreadable_entry(w, path, "a special file that holds data", broken);
    if (rc == 0)
        rc = att_check_data(w, path, b.data, b.len, depth);
    free(b.data);
    return rc;
}

/*
 * Compressed bytes handed to libarchive at a time from a compressed stream:
 * what one hand-out expands to (about a thousandfold at most for gzip) is
 * what libarchive can read past a check of the deadline and of
 * archive_max_expanded, even where it reads without handing anything out
 * (the blocks of zeros a tar reader passes over).
 */
#define ATT_FEED_CHUNK 4096

/* A compressed stream fed to libarchive a chunk at a time. */
typedef struct att_feed {
    att_walk_t *w;
    const unsigned char *data;
    size_t size, pos;
    uint64_t handed;    /* Bytes of the stream handed out as entries' data. */
    uint64_t charged;   /* Bytes of the stream read besides those, added to w->expanded. */
    int over, timedout; /* Why the feed stopped. */
} att_feed_t;

/* Whether the data starts as a compressed stream does: gzip, bzip2, xz, zstd, compress. */
static int att_is_compressed(const unsigned char *d, size_t n)
{
    return (n >= 2 && d[0] == 0x1f && (d[1] == 0x8b || d[1] == 0x9d)) ||
           (n >= 3 && memcmp(d, "BZh", 3) == 0) ||
           (n >= 6 && memcmp(d,
                             "\xfd"
                             "7zXZ\x00",
                             6) == 0) ||
           (n >= 4 && memcmp(d, "\x28\xb5\x2f\xfd", 4) == 0);
}

/*
 * Hands out the next chunk, unless the deadline passed or what libarchive
 * read of the decompressed stream is past archive_max_expanded. What it
 * read besides the entries' data, which att_read_entry() counts (headers,
 * padding, the blocks of zeros after a tar's end mark that it passes
 * over), is added to what the walk holds, as that data is: otherwise each
 * compressed tar nested in one attachment could cost the whole limit in
 * zeros, none of them counted.
 */
static la_ssize_t att_feed_read(struct archive *a, void *arg, const void **buf)
{
    att_feed_t *f = arg;
    la_int64_t done = archive_filter_bytes(a, 0);
    att_walk_t *w = f->w;
    size_t n = f->size - f->pos < ATT_FEED_CHUNK ? f->size - f->pos : ATT_FEED_CHUNK;

    if (smf_msg_time_left_ms(w->ctx->msg) <= 0) {
        f->timedout = 1;
        archive_set_error(a, ETIMEDOUT, "the message's deadline passed");
        return -1;
    }
    if (done > 0 && (uint64_t)done > f->handed + f->charged) {
        w->expanded += (uint64_t)done - f->handed - f->charged;
        f->charged = (uint64_t)done - f->handed;
    }
    if (w->expanded > (uint64_t)w->ctx->pol->archive_max_expanded ||
        (done > 0 && (uint64_t)done > (uint64_t)w->ctx->pol->archive_max_expanded)) {
        f->over = 1;
        archive_set_error(a, EFBIG, "expands beyond archive_max_expanded");
        return -1;
    }
    *buf = f->data + f->pos;
    f->pos += n;
    return (la_ssize_t)n;
}

/*
 * The decompression filters the walk uses: those libarchive has built in.
 * archive_read_support_filter_all() also takes lrzip, grzip and lzop, and
 * any filter built without its library, by running an outside program
 * (`lrzip -d`) found in PATH on the attachment's bytes: a scanner must not
 * start programs on what a sender wrote (a gzip of an lrzip header did).
 * A filter that would run a program says so with ARCHIVE_WARN, which is
 * asked once, on a reader of its own, since it cannot be taken back.
 */
typedef int (*att_filter_fn)(struct archive *);

static const att_filter_fn att_filters[] = {
    archive_read_support_filter_gzip,     archive_read_support_filter_bzip2,
    archive_read_support_filter_compress, archive_read_support_filter_xz,
    archive_read_support_filter_lzma,     archive_read_support_filter_lzip,
    archive_read_support_filter_zstd,     archive_read_support_filter_lz4,
};

#define ATT_NFILTERS (sizeof(att_filters) / sizeof(att_filters[0]))

static bool att_filter_built_in[ATT_NFILTERS];
static pthread_once_t att_filters_once = PTHREAD_ONCE_INIT;

static void att_filters_probe(void)
{
    for (size_t i = 0; i < ATT_NFILTERS; i++) {
        struct archive *probe = archive_read_new();
        att_filter_built_in[i] = probe != NULL && att_filters[i](probe) == ARCHIVE_OK;
        archive_read_free(probe);
    }
}

static void att_support_filters(struct archive *a)
{
    pthread_once(&att_filters_once, att_filters_probe);
    for (size_t i = 0; i < ATT_NFILTERS; i++)
        if (att_filter_built_in[i])
            att_filters[i](a);
}

/*
 * A libarchive reader of data in memory; raw: of its one stream only,
 * decompressed. A compressed stream is fed through f, and a tar in one is
 * read on past its end mark, over the blocks of zeros after it, to any
 * tar or other bytes that follow.
 */
static struct archive *att_open(const unsigned char *data, size_t size, int raw, att_feed_t *f)
{
    struct archive *a = archive_read_new();
    int st;

    if (a == NULL)
        return NULL;
    att_support_filters(a);
    if (!raw)
        archive_read_support_format_all(a);
    /* Lets a lone .gz or .xz stream through as one entry; real formats bid higher. */
    archive_read_support_format_raw(a);
    if (att_is_compressed(data, size)) {
        f->data = data;
        f->size = size;
        if (!raw && archive_read_set_format_option(a, "tar", "read_concatenated_archives", "1") !=
                        ARCHIVE_OK) {
            archive_read_free(a);
            return NULL;
        }
        st = archive_read_open(a, f, NULL, att_feed_read, NULL);
    } else {
        st = archive_read_open_memory(a, data, size);
    }
    if (st != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* The flags of a gzip member's header (RFC 1952): what follows its fixed 10 bytes. */
#define ATT_GZ_FHCRC 0x02
#define ATT_GZ_FEXTRA 0x04
#define ATT_GZ_FNAME 0x08
#define ATT_GZ_FCOMMENT 0x10
/* A gzip member ends in the CRC-32 and size of its data. */
#define ATT_GZ_TRAILER 8

/*
 * The gzip member header at pos: returns where its deflate data starts, or
 * 0 when no whole header is there. *name is the original file name it
 * carries (FNAME), which is what 7-Zip and WinRAR extract to ("photos.gz"
 * may hold "evil.exe"), NULL when none; it runs to its NUL however long it
 * is.
 */
static size_t att_gzip_header(const unsigned char *d, size_t n, size_t pos, const char **name,
                              size_t *name_len)
{
    const unsigned char *h = d + pos, *nul;
    size_t i = pos + 10;

    *name = NULL;
    *name_len = 0;
    if (pos > n || n - pos < 10 || h[0] != 0x1f || h[1] != 0x8b || h[2] != 8)
        return 0;
    if (h[3] & ATT_GZ_FEXTRA) { /* A length, then that many bytes. */
        if (n - i < 2)
            return 0;
        i += 2 + (size_t)(d[i] | d[i + 1] << 8);
    }
    if (h[3] & ATT_GZ_FNAME) {
        if (i >= n || (nul = memchr(d + i, 0, n - i)) == NULL)
            return 0;
        *name = (const char *)d + i;
        *name_len = (size_t)(nul - (d + i));
        i = (size_t)(nul - d) + 1;
    }
    if (h[3] & ATT_GZ_FCOMMENT) {
        if (i >= n || (nul = memchr(d + i, 0, n - i)) == NULL)
            return 0;
        i = (size_t)(nul - d) + 1;
    }
    if (h[3] & ATT_GZ_FHCRC)
        i += 2;
    return i <= n ? i : 0;
}

/*
 * Whether a member header that may start at pos, further in than the first
 * one, looks like one a gzip writer makes: no reserved flag set, as
 * libarchive requires of every member, and a name, when there is one, of
 * no control characters. Bytes met by chance in deflate data seldom pass.
 */
static int att_gzip_plausible(const unsigned char *d, size_t n, size_t pos, const char *name,
                              size_t len)
{
    if (n - pos < 10 || (d[pos + 3] & 0xe0) != 0)
        return 0;
    for (size_t i = 0; name != NULL && i < len; i++) {
        if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] == 0x7f)
            return 0;
    }
    return 1;
}

/*
 * Checks the original file name of each member of a gzip file. libarchive
 * expands the members one after another as one stream and reports no name,
 * and a second member's header can carry a name of its own: each is
 * checked, at most archive_max_entries of them. A name too long for the
 * buffer is checked by its end, which holds its extension. No member
 * records where its data ends, and finding that would mean inflating it
 * here and again in libarchive: every place a member header may start
 * (its first bytes, 1f 8b 08) is read as one instead, the real ones among
 * them, and libarchive alone inflates the file.
 */
static int att_check_gzip_names(att_walk_t *w, const unsigned char *d, size_t n)
{
    char buf[256];
    const char *name, *tail;
    const unsigned char *next;
    size_t pos = 0, len, members = 0;
    int rc;

    if (att_gzip_header(d, n, 0, &name, &len) == 0)
        return 0;
    for (;;) {
        if (att_gzip_header(d, n, pos, &name, &len) > 0 &&
            (pos == 0 || att_gzip_plausible(d, n, pos, name, len))) {
            if (++members > (size_t)w->ctx->pol->archive_max_entries)
                return att_limit(w, "more entries than archive_max_entries");
            tail = name != NULL ? att_name_tail(name, len, buf, sizeof(buf)) : NULL;
            if (tail != NULL && (rc = att_check_blocked(w, tail)) < 0)
                return rc;
        }
        if (n - pos < 4 || (next = memmem(d + pos + 1, n - pos - 1, "\x1f\x8b\x08", 3)) == NULL)
            return 0;
        pos = (size_t)(next - d);
    }
}

/* The zip's names one by one: w, and how many central records were examined. */
typedef struct att_zip_check {
    att_walk_t *w;
    size_t records;
} att_zip_check_t;

/* Two different names for one entry: no zip writer makes those but to deceive. */
static int att_zip_mismatch(att_walk_t *w, const att_zip_entry_t *e, const char *central,
                            const char *local)
{
    char what[600];

    if (e->local_len == e->central_len && memcmp(e->local, e->central, e->central_len) == 0)
        return 0;
    snprintf(what, sizeof(what), "%s (local header: %s)", central, local);
    return att_entry_symbol(w, "ATT_ZIP_NAME_MISMATCH", w->ctx->pol->zip_name_mismatch_score, what);
}

/* Checks each name the Unicode Path fields of one header's extra field give. */
static int att_zip_unicode_names(att_walk_t *w, const unsigned char *extra, size_t len)
{
    const char *name;
    size_t name_len;
    int rc = 0;

    while (rc == 0 && att_zip_unicode_next(&extra, &len, &name, &name_len)) {
        char *copy = strndup(name, name_len);
        rc = copy == NULL ? SMF_ENOMEM : att_check_blocked(w, copy);
        free(copy);
    }
    return rc;
}

/*
 * One entry's names. libarchive reports the local header's (or its
 * Unicode Path field's), Windows Explorer and most extractors the central
 * directory's, and Info-ZIP and 7-Zip prefer a Unicode Path field's: each
 * is checked, whichever libarchive hands to att_walk_entry() later. An
 * entry that no central record lists has its local names only.
 */
static int att_zip_entry_names(void *arg, const att_zip_entry_t *e)
{
    att_zip_check_t *zc = arg;
    att_walk_t *w = zc->w;
    /* Past the limit the caller reports the archive as not examined whole. */
    if (++zc->records > (size_t)w->ctx->pol->archive_max_entries)
        return 1;
    char *central = e->central != NULL ? strndup(e->central, e->central_len) : NULL;
    char *local = e->local != NULL ? strndup(e->local, e->local_len) : NULL;
    int rc = (e->central != NULL && central == NULL) || (e->local != NULL && local == NULL)
                 ? SMF_ENOMEM
                 : 0;

    if (rc == 0 && central != NULL)
        rc = att_check_blocked(w, central);
    if (rc == 0 && local != NULL)
        rc = att_check_blocked(w, local);
    if (rc == 0 && central != NULL && local != NULL)
        rc = att_zip_mismatch(w, e, central, local);
    if (rc == 0)
        rc = att_zip_unicode_names(w, e->central_extra, e->central_extra_len);
    if (rc == 0)
        rc = att_zip_unicode_names(w, e->local_extra, e->local_extra_len);
    free(central);
    free(local);
    return rc < 0 ? rc : 0;
}

/*
 * Whether the data is a file of another kind, which holds zips of its own:
 * an archive libarchive reads (a tar or a disk image of zips, whose members
 * it walks), an OLE2 document (it keeps embedded objects, an .xlsx among
 * them, as they are) or a program (a self-extractor's program may carry
 * zips of its own, as a Go program does its time zone database). Its zips
 * with bytes between them are that file's parts, not zips of one file.
 */
static int att_holds_zips(const unsigned char *d, size_t n)
{
    if (n >= 4 && memcmp(d, "PK\x03\x04", 4) == 0)
        return 0;
    return att_is_archive(d, n) || att_is_ole2(d, n) || att_looks_exec(d, n);
}

/*
 * ATT_ZIP_CONCATENATED: zips one after another in one file, with or without
 * bytes between them, or local entries that no central directory lists.
 * Extractors disagree on what such a file holds (7-Zip shows the first zip,
 * unzip and WinRAR the last one, an extractor that scans forward for a
 * local header the first, streaming extractors every local header), and no
 * zip writer makes one. Zips with bytes between them count unless the data
 * is a file that holds zips of its own. Local entries without any central
 * directory are a damaged or cut-off zip instead, which libarchive reports.
 */
static int att_zip_layout_check(att_walk_t *w, const unsigned char *data, size_t size,
                                const att_zip_layout_t *l)
{
    char what[128];

    if (l->archives >= 2)
        snprintf(what, sizeof(what), "zip archives one after another: %zu", l->archives);
    else if (l->apart >= 2 && !att_holds_zips(data, size))
        snprintf(what, sizeof(what), "zip archives with other bytes between them: %zu", l->apart);
    else if (l->archives == 1 && l->unlisted > 0)
        snprintf(what, sizeof(what), "local entries missing from the central directory: %zu",
                 l->unlisted);
    else
        return 0;
    return att_entry_symbol(w, "ATT_ZIP_CONCATENATED", w->ctx->pol->zip_concatenated_score, what);
}

/* Names an archive gives its entries outside what libarchive reports. */
static int att_check_hidden_names(att_walk_t *w, const unsigned char *data, size_t size)
{
    att_zip_check_t zc = {w, 0};
    att_zip_layout_t layout;
    int rc;

    if ((rc = att_check_gzip_names(w, data, size)) < 0 || w->stopped)
        return rc;
    /* Not only data that starts like a zip: one behind a preamble is still
     * extracted by unzip and 7-Zip, and att_zip_walk() finds where it starts. */
    rc = att_zip_walk(data, size, (size_t)w->ctx->pol->archive_max_entries, att_zip_entry_names,
                      &zc, &layout);
    if (rc < 0)
        return rc;
    /* libarchive may see fewer entries than the zip holds: the limit is
     * reported here, or what lies past it would pass unexamined. */
    if (rc > 0)
        return att_limit(w, layout.descriptors ? "data descriptors extractors read apart, too many"
                                               : "more entries than archive_max_entries");
    return att_zip_layout_check(w, data, size, &layout);
}

/* A TNEF stream's walk: the walk it is part of, the nesting level of the stream, and
 * where its attachments' data blocks lie in it. */
typedef struct att_tnef_check {
    att_walk_t *w;
    long depth;
    const unsigned char **block; /* start, end of each block */
    size_t blocks, cap;
} att_tnef_check_t;

/* Notes where a data block lies, for att_tnef_zip_outside(). */
static int att_tnef_note_block(att_tnef_check_t *tc, const unsigned char *d, size_t n)
{
    if (tc->blocks == tc->cap) {
        size_t cap = tc->cap ? 2 * tc->cap : 16;
        const unsigned char **b = realloc(tc->block, 2 * cap * sizeof(*b));
        if (b == NULL)
            return SMF_ENOMEM;
        tc->block = b;
        tc->cap = cap;
    }
    tc->block[2 * tc->blocks] = d;
    tc->block[2 * tc->blocks++ + 1] = d + n;
    return 0;
}

/* Whether a zip's name at p lies in none of the stream's data blocks. */
static int att_tnef_outside(const att_tnef_check_t *tc, const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    for (size_t i = 0; i < tc->blocks; i++) {
        if (u >= tc->block[2 * i] && u < tc->block[2 * i + 1])
            return 0;
    }
    return 1;
}

static int att_tnef_zip_name(void *arg, const att_zip_entry_t *e)
{
    const att_tnef_check_t *tc = arg;

    return (e->central != NULL && att_tnef_outside(tc, e->central)) ||
           (e->local != NULL && att_tnef_outside(tc, e->local));
}

/*
 * Whether the stream is also an archive of its own to an extractor: a zip
 * whose names lie outside the attachments' data (unzip and 7-Zip extract a
 * zip behind any preamble, so "files.zip" can be a TNEF stream that holds
 * one in an attribute nothing reads), or a tar or disk image by its
 * signature further in. A zip that is one of the attachments is walked as
 * such already.
 */
static int att_tnef_also_archive(const att_tnef_check_t *tc, const unsigned char *data, size_t size)
{
    att_zip_layout_t layout;

    if (att_is_archive(data, size))
        return 1;
    return att_zip_walk(data, size, (size_t)tc->w->ctx->pol->archive_max_entries, att_tnef_zip_name,
                        (void *)tc, &layout) != 0;
}

/* 7z and rar archives found further in a TNEF stream that are walked at most. */
#define ATT_TNEF_SIG_ARCHIVES 8

/*
 * Header bytes summed at most to tell the archives further in one TNEF
 * stream from signatures met by chance: a real archive's first header is
 * short, but each signature may claim one of up to 2 MiB (rar 5), and a
 * stream of nothing but such signatures would cost their number times its
 * size. Past it the stream is a limit.
 */
#define ATT_TNEF_SIG_CRC_BYTES ((size_t)4 << 20)

static uint32_t att_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Sums the header of len bytes at p when *budget covers it: 1 when its CRC-32
 * is crc, 0 when not, -1 when the budget does not cover it. */
static int att_sig_crc(const unsigned char *p, size_t len, uint32_t crc, uint32_t mask,
                       size_t *budget)
{
    if (len > *budget)
        return -1;
    *budget -= len;
    return (crc32(0, p, (uInt)len) & mask) == crc;
}

/*
 * Whether a 7z or rar archive starts at p (n bytes left): its signature, and
 * after it a header whose checksum matches, so that the bytes of a
 * signature met by chance are not taken for one. 7z: the CRC-32 of its start
 * header; rar 4: the CRC-32's low half of its main header; rar 5: the CRC-32
 * of its first header, from its size (a variable-length number) on. The
 * bytes summed come out of *budget; -1 when it does not cover them.
 */
static int att_sig_archive_at(const unsigned char *p, size_t n, size_t *budget)
{
    if (n >= 32 && memcmp(p, "7z\xbc\xaf\x27\x1c", 6) == 0)
        return att_sig_crc(p + 12, 20, att_le32(p + 8), 0xffffffffu, budget);
    if (n >= 14 && memcmp(p, "Rar!\x1a\x07\x00", 7) == 0) {
        size_t size = (size_t)p[12] | (size_t)p[13] << 8;
        if (p[9] != 0x73 || size < 7 || size - 2 > n - 9)
            return 0;
        return att_sig_crc(p + 9, size - 2, (uint32_t)p[7] | (uint32_t)p[8] << 8, 0xffff, budget);
    }
    if (n >= 13 && memcmp(p, "Rar!\x1a\x07\x01\x00", 8) == 0) {
        size_t size = 0, i = 12;
        int done = 0;
        for (int shift = 0; !done && i < n && shift <= 14; shift += 7) {
            size |= (size_t)(p[i] & 0x7f) << shift;
            done = !(p[i++] & 0x80);
        }
        if (!done || size == 0 || size > n - i)
            return 0;
        return att_sig_crc(p + 12, i - 12 + size, att_le32(p + 8), 0xffffffffu, budget);
    }
    return 0;
}

/* Where the first 7z or rar archive in data starts, into *at: 1 when there is one, 0
 * when not, -1 when ATT_TNEF_SIG_CRC_BYTES of headers were summed first. */
static int att_sig_find(const unsigned char *d, size_t n, size_t *at)
{
    size_t budget = ATT_TNEF_SIG_CRC_BYTES;

    *at = 0; /* None found: the data is read from its start, as it stands. */

    for (size_t i = 0; i < n; i++) {
        if (d[i] != '7' && d[i] != 'R')
            continue;
        int found = att_sig_archive_at(d + i, n - i, &budget);
        if (found != 0) {
            *at = i;
            return found;
        }
    }
    return 0;
}

/* Whether a name says 7z or rar by its extension, once the final dots and
 * spaces Windows drops are gone. */
static int att_sig_named(const char *name)
{
    size_t len = strlen(name);

    while (len > 0 && (name[len - 1] == '.' || name[len - 1] == ' '))
        len--;
    return (len >= 3 && strncasecmp(name + len - 3, ".7z", 3) == 0) ||
           (len >= 4 && strncasecmp(name + len - 4, ".rar", 4) == 0);
}

int att_sig_typed(const char *type)
{
    return strcasecmp(type, "application/x-7z-compressed") == 0 ||
           strcasecmp(type, "application/vnd.rar") == 0 ||
           strcasecmp(type, "application/x-rar-compressed") == 0 ||
           strcasecmp(type, "application/x-rar") == 0;
}

/*
 * Whether data is one to search for a 7z or rar behind other bytes: its name
 * or type says 7z or rar, and it neither starts as one nor is a TNEF stream.
 * Data that starts like another archive is searched too: a few bytes of a
 * gzip's, bzip2's or cab's signature in front of a rar make no archive that
 * libarchive reads, but keep the rar what WinRAR opens.
 */
static int att_sig_candidate(const char *name, int typed, const unsigned char *d, size_t n)
{
    if (!typed && !att_sig_named(name))
        return 0;
    if (n >= 6 && (memcmp(d, "7z\xbc\xaf\x27\x1c", 6) == 0 || memcmp(d, "Rar!\x1a\x07", 6) == 0))
        return 0;
    return !att_is_tnef(d, n);
}

int att_sig_nests(att_ctx_t *ctx, const char *name, int typed, const unsigned char *d, size_t n)
{
    if (!att_sig_candidate(name, typed, d, n) || att_is_archive(d, n) || att_zip_found(d, n))
        return 0;
    ctx->sig_data = d;
    ctx->sig_size = n;
    ctx->sig_found = att_sig_find(d, n, &ctx->sig_at);
    return ctx->sig_found != 0;
}

/*
 * The search att_sig_nests() made of the same data to decide that it is to
 * be walked, which the walk reads rather than search again (up to 4 MiB of
 * headers summed each time); the search is made here only when the data
 * comes some other way. Every way to a walk of such data that does not
 * start like an archive asks att_sig_nests() first, so what it noted is of
 * this data and no other that a freed buffer's address was given to later;
 * data that starts like one is searched here.
 */
static int att_sig_found_in(att_ctx_t *ctx, const unsigned char *d, size_t n, size_t *at)
{
    if (att_is_archive(d, n) || att_zip_found(d, n))
        return att_sig_find(d, n, at);
    if (ctx->sig_data == d && ctx->sig_size == n) {
        ctx->sig_data = NULL;
        *at = ctx->sig_at;
        return ctx->sig_found;
    }
    return att_sig_find(d, n, at);
}

/*
 * Where the next 7z or rar archive at or after `from` starts in a TNEF
 * stream, outside its attachments' data (an archive that is an attachment
 * is walked as one already), into *at; size when there is none. Returns -1
 * when *budget (ATT_TNEF_SIG_CRC_BYTES for the stream) ran out first.
 */
static int att_tnef_next_sig(const att_tnef_check_t *tc, const unsigned char *d, size_t size,
                             size_t from, size_t *budget, size_t *at)
{
    *at = size;
    for (size_t i = from; i < size; i++) {
        if (d[i] != '7' && d[i] != 'R')
            continue;
        if (!att_tnef_outside(tc, (const char *)d + i))
            continue;
        int found = att_sig_archive_at(d + i, size - i, budget);
        if (found < 0)
            return -1;
        if (found) {
            *at = i;
            return 0;
        }
    }
    return 0;
}

/*
 * One data block of a TNEF attachment, checked as an archive entry's data:
 * its type against each of its names, macros, and a nested archive or TNEF
 * stream (an embedded message). Its bytes are the stream's own, not
 * expanded ones, but count against archive_max_expanded as an entry's do,
 * so that streams nested in each other stay within it too.
 */
static int att_tnef_data(att_tnef_check_t *tc, const att_tnef_attach_t *a, const unsigned char *d,
                         size_t n, const char *where)
{
    att_walk_t *w = tc->w;
    const att_policy_t *c = w->ctx->pol;
    const char *name = a->name_count > 0 ? a->names[a->name_count - 1] : "unnamed attachment";
    int rc = 0;

    w->expanded += n;
    if (w->expanded > (uint64_t)c->archive_max_expanded)
        return att_limit(w, "expands beyond archive_max_expanded");
    for (size_t i = 0; rc == 0 && i < a->name_count; i++)
        rc = att_check_type(w->ctx, where, a->names[i], d, n);
    /* Outlook shows it as an attachment of the mail: a program is one
     * whatever its names, as a part of the mail is. */
    const char *names[ATT_TNEF_NAMES];
    for (size_t i = 0; i < a->name_count; i++)
        names[i] = a->names[i];
    if (rc == 0)
        rc = att_check_program(w->ctx, where, names, a->name_count, d, n, "ATT_EXECUTABLE",
                               c->blocked_score);
    if (rc == 0)
        rc = att_check_ole2(w->ctx, where, name, d, n);
    if (rc != 0 || !att_nests(w, name, d, n))
        return rc;
    /* Outlook shows the archive as an attachment of the mail. */
    if (c->block_archives && !att_is_tnef(d, n)) {
        if ((rc = att_entry_symbol(w, "ATT_BLOCKED_ARCHIVE", c->blocked_score, name)) < 0)
            return rc;
        att_note_blocked(w->ctx, name);
    }
    if (tc->depth >= c->archive_max_depth)
        return att_limit(w, "nested deeper than archive_max_depth");
    return att_walk_memory(w, name, d, n, tc->depth + 1);
}

/*
 * One attachment of a TNEF stream. Outlook shows it as an attachment of the
 * mail, not as an archive's entry: its names have an attachment's checks
 * (ATT_BLOCKED_EXT, ATT_DOUBLE_EXT, ATT_RTLO_NAME). Returns 1 to end the
 * walk once a limit is reached.
 */
static int att_tnef_entry(void *arg, const att_tnef_attach_t *a)
{
    att_tnef_check_t *tc = arg;
    att_walk_t *w = tc->w;
    char where[600];
    int rc = 0;

    if (smf_msg_time_left_ms(w->ctx->msg) <= 0)
        return SMF_ETIMEDOUT;
    if (++w->entries > (size_t)w->ctx->pol->archive_max_entries)
        rc = att_limit(w, "more entries than archive_max_entries");
    snprintf(where, sizeof(where), "%s: ", w->top);
    for (size_t i = 0; rc == 0 && !w->stopped && i < a->name_count; i++)
        rc = att_check_name_whole(w->ctx, where, a->names[i], a->rtlo[i]);
    for (size_t i = 0; rc == 0 && i < a->data_count; i++)
        rc = att_tnef_note_block(tc, a->data[i], a->data_len[i]);
    for (size_t i = 0; rc == 0 && !w->stopped && i < a->data_count; i++)
        rc = att_tnef_data(tc, a, a->data[i], a->data_len[i], where);
    return rc < 0 ? rc : w->stopped;
}

static int att_walk_archive(att_walk_t *w, const char *name, const unsigned char *data, size_t size,
                            long depth);

/*
 * Walks a TNEF stream (winmail.dat): its attachments are its entries.
 * A malformed stream is damaged as an archive is, once what could be read
 * of it has been checked. A stream that an extractor also takes for an
 * archive is walked as one too.
 */
static int att_walk_tnef(att_walk_t *w, const char *name, const unsigned char *data, size_t size,
                         long depth)
{
    att_tnef_check_t tc = {w, depth, NULL, 0, 0};
    att_tnef_result_t res;
    int rc = att_tnef_walk(data, size, att_tnef_entry, &tc, &res);

    if (rc >= 0 && res.limit != NULL && !w->stopped)
        rc = att_limit(w, res.limit);
    if (rc >= 0 && res.damaged != NULL)
        rc = att_entry_symbol(w, "ATT_ARCHIVE_DAMAGED", w->ctx->pol->damaged_score, name);
    /* The walk read on past a bad sum, the lengths framing the stream: a note, not damage. */
    if (rc >= 0 && res.checksum)
        rc = att_entry_symbol(w, "ATT_TNEF_CHECKSUM", w->ctx->pol->tnef_checksum_score, name);
    if (rc >= 0 && !w->stopped) {
        const att_policy_t *c = w->ctx->pol;
        int zip = att_tnef_also_archive(&tc, data, size);
        size_t sig, budget = ATT_TNEF_SIG_CRC_BYTES;
        int over = att_tnef_next_sig(&tc, data, size, 0, &budget, &sig);
        /* To an extractor it is the archive a user chose, which block_archives counts. */
        if ((zip || sig < size) && c->block_archives &&
            (rc = att_entry_symbol(w, "ATT_BLOCKED_ARCHIVE", c->blocked_score, name)) >= 0)
            att_note_blocked(w->ctx, name);
        if (rc >= 0 && zip)
            rc = att_walk_archive(w, name, data, size, depth);
        /* 7-Zip opens a file as the 7z archive it finds further in, and WinRAR
         * and unrar a rar behind any bytes (a self-extractor's program);
         * libarchive reads them at the start only, so each is walked from
         * where it starts. */
        for (size_t k = 0; rc >= 0 && !w->stopped && sig < size; k++) {
            if (k == ATT_TNEF_SIG_ARCHIVES) {
                rc = att_limit(w, "more 7z and rar archives in a TNEF stream than are read here");
                break;
            }
            rc = att_walk_archive(w, name, data + sig, size - sig, depth);
            if (rc >= 0 && !w->stopped)
                over = att_tnef_next_sig(&tc, data, size, sig + 1, &budget, &sig);
        }
        if (rc >= 0 && !w->stopped && over)
            rc = att_limit(w, "more 7z and rar signatures in a TNEF stream than are read here");
    }
    /* A name not read may be a program's: the stream is not examined whole. */
    if (rc >= 0 && !w->stopped && res.unread != NULL)
        rc = att_limit(w, res.unread);
    free(tc.block);
    return rc < 0 ? rc : 0;
}

static int att_walk_memory(att_walk_t *w, const char *name, const unsigned char *data, size_t size,
                           long depth)
{
    /* Before the zip name walk: a TNEF stream keeps its attachments as they
     * are, so a zip in one lies in the clear and is that attachment's. */
    if (att_is_tnef(data, size))
        return att_walk_tnef(w, name, data, size, depth);
    /* 7-Zip opens a file named .7z or .rar as the archive whose signature it
     * finds in it, behind any bytes, and WinRAR a rar behind any bytes (a
     * self-extractor's program); libarchive reads them at the start only, so
     * such an archive is walked from where it starts, found as one further
     * in a TNEF stream is. Data that starts like another archive is walked
     * as that archive as well. */
    if (att_sig_candidate(name, depth == 1 && w->typed, data, size)) {
        size_t at;
        int found = att_sig_found_in(w->ctx, data, size, &at), rc = 0;
        if (found == 0)
            return att_walk_archive(w, name, data, size, depth);
        if (found < 0)
            return att_limit(w, "more 7z and rar signatures than are read here");
        if (att_is_archive(data, size) || att_zip_found(data, size))
            rc = att_walk_archive(w, name, data, size, depth);
        if (rc < 0 || w->stopped)
            return rc;
        return att_walk_archive(w, name, data + at, size - at, depth);
    }
    return att_walk_archive(w, name, data, size, depth);
}

/*
 * Where the bytes after an uncompressed tar start, from at (where
 * libarchive stopped: past its end mark, or at the block that is no
 * header) on over any blocks of zeros; size when there are none but zeros.
 */
static size_t att_tar_tail(const unsigned char *d, size_t size, size_t at)
{
    for (size_t i = at; i < size; i++) {
        if (d[i] != 0)
            return at + (i - at) / 512 * 512; /* The block it lies in. */
    }
    return size;
}

/*
 * Walks the entries libarchive reads in data (raw: as one decompressed
 * stream, from its byte skip on). *empty is set when it was a compressed
 * stream that libarchive read as an archive of no entries at all. *tail is
 * set to where bytes that are no tar start in the decompressed stream when
 * a compressed tar is followed by them, or in data when an uncompressed
 * tar is followed by bytes other than zeros; 0 when not.
 */
static int att_walk_entries(att_walk_t *w, const char *name, const unsigned char *data, size_t size,
                            long depth, int raw, uint64_t skip, int *empty, uint64_t *tail)
{
    const att_policy_t *c = w->ctx->pol;
    att_feed_t feed = {w, NULL, 0, 0, 0, 0, 0, 0};
    struct archive *a = att_open(data, size, raw, &feed);
    struct archive_entry *e;
    int broken = a == NULL ? ATT_UNREADABLE : 0, st = ARCHIVE_EOF, rc = 0;
    size_t walked = 0;
    la_int64_t entry_end = 0; /* Where the last entry's data ends, padded to a block. */

    *tail = 0;
    while (rc == 0 && broken < ATT_UNREADABLE && !w->stopped &&
           ((st = archive_read_next_header(a, &e)) == ARCHIVE_OK || st == ARCHIVE_WARN)) {
        /* Bytes that only looked like an archive ("BZh..." in a text file):
         * libarchive found no format and no compression, and hands them back
         * as they are. Walking them again would only recurse to the limit. */
        if (archive_format(a) == ARCHIVE_FORMAT_RAW &&
            archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE) {
            broken = ATT_UNREADABLE;
            break;
        }
        walked++;
        if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0)
            entry_end =
                archive_filter_bytes(a, 0) + ((archive_entry_size(e) + 511) & ~(la_int64_t)511);
        else
            entry_end = archive_filter_bytes(a, 0);
        if (++w->entries > (size_t)c->archive_max_entries)
            rc = att_limit(w, "more entries than archive_max_entries");
        else
            rc = att_walk_entry(w, a, e, name, depth, skip, &feed.handed, &broken);
        /* A sparse entry holds less data than its size says: it ends where
         * reading it ended (with its padding, which libarchive then reads). */
        if (rc == 0 && archive_entry_sparse_count(e) > 0)
            entry_end = archive_filter_bytes(a, 0);
    }
    if (rc == 0 && feed.timedout)
        rc = SMF_ETIMEDOUT;
    else if (rc == 0 && feed.over && !w->stopped)
        rc = att_limit(w, "expands beyond archive_max_expanded");
    /*
     * A compressed tar followed by other bytes (a zip, which 7-Zip and unzip
     * open in the decompressed stream): the tar reader stops at the first
     * block that is no header, where those bytes start (it has read past the
     * block when it found it was none). They are walked as one file. Only
     * where zero blocks lie between the last entry and them did the tar end
     * in its end mark: right after an entry's data they are damage too.
     */
    if (rc == 0 && !w->stopped && !raw && a != NULL && broken < ATT_UNREADABLE &&
        (st == ARCHIVE_RETRY || st == ARCHIVE_FATAL) && feed.data != NULL &&
        (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR) {
        la_int64_t at = archive_filter_bytes(a, 0);
        if (st == ARCHIVE_RETRY && at >= 512)
            at -= 512;
        if (at > 0)
            *tail = (uint64_t)at;
        if (at > entry_end)
            st = ARCHIVE_EOF;
    }
    /*
     * An uncompressed tar followed by other bytes: a tar reader stops at its
     * end mark (or at the block that is no header), but 7-Zip and unzip open
     * a zip there, and the zip's names alone are checked before the walk.
     * What follows the blocks of zeros is walked too (att_walk_after_tar()).
     */
    if (rc == 0 && !w->stopped && !raw && a != NULL && feed.data == NULL &&
        broken < ATT_UNREADABLE &&
        (st == ARCHIVE_EOF || st == ARCHIVE_RETRY || st == ARCHIVE_FATAL) &&
        archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE &&
        (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR) {
        la_int64_t at = archive_filter_bytes(a, 0);
        if (st == ARCHIVE_RETRY && at >= 512)
            at -= 512;
        size_t after = at >= 0 && (uint64_t)at < size ? att_tar_tail(data, size, (size_t)at) : size;
        if (after < size)
            *tail = after;
    }
    if (rc == 0 && broken < ATT_UNREADABLE && !w->stopped && st != ARCHIVE_EOF)
        broken = ATT_UNREADABLE;
    *empty = a != NULL && st == ARCHIVE_EOF && walked == 0 && *tail == 0 &&
             archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE &&
             archive_format(a) != ARCHIVE_FORMAT_RAW;
    /* The zeros of such a stream are read again as one file's data, which counts them. */
    if (*empty)
        w->expanded -= feed.charged;
    /* An encrypted 7z header hides even the names. */
    if (rc == 0 && broken && a != NULL && archive_read_has_encrypted_entries(a) > 0)
        rc = att_entry_symbol(w, "ATT_ENCRYPTED", c->encrypted_score, name);
    else if (rc == 0 && broken && !w->stopped)
        rc = att_entry_symbol(w, "ATT_ARCHIVE_DAMAGED", c->damaged_score, name);
    if (a != NULL)
        archive_read_free(a);
    return rc;
}

/*
 * What follows an uncompressed tar in data, from at on. A tar there is
 * walked as the first one's entries are, and so on (`cat a.tar b.tar`
 * makes one); other bytes are examined as a file of their own, as what
 * follows a compressed tar is. They are the attachment's own bytes, not
 * expanded ones, and need no second reading.
 */
static int att_walk_after_tar(att_walk_t *w, const char *name, const unsigned char *data,
                              size_t size, long depth, size_t at)
{
    int rc = 0, empty;
    uint64_t next;

    while (rc == 0 && !w->stopped && at < size) {
        if (size - at < 262 || memcmp(data + at + 257, "ustar", 5) != 0) {
            if (++w->entries > (size_t)w->ctx->pol->archive_max_entries)
                return att_limit(w, "more entries than archive_max_entries");
            return att_check_data(w, name, data + at, size - at, depth);
        }
        /* 0: nothing follows this tar, or it could not be read at all (damage). */
        rc = att_walk_entries(w, name, data + at, size - at, depth, 0, 0, &empty, &next);
        if (next == 0)
            break;
        at += (size_t)next;
    }
    return rc;
}

/* Walks an archive: the names libarchive does not report, then its entries. */
static int att_walk_archive(att_walk_t *w, const char *name, const unsigned char *data, size_t size,
                            long depth)
{
    int empty = 0, rc = att_check_hidden_names(w, data, size);
    uint64_t tail = 0, none;

    if (rc < 0)
        return rc;
    rc = att_walk_entries(w, name, data, size, depth, 0, 0, &empty, &tail);
    /* A compressed stream that starts with a block of zeros is an empty tar
     * to libarchive, which reads no further, but one file to 7-Zip, which
     * extracts it whole ("docs.zip.gz": zeros, then a zip, or a bomb): that
     * file is walked too. */
    if (rc == 0 && !w->stopped && empty)
        rc = att_walk_entries(w, name, data, size, depth, 1, 0, &empty, &none);
    /* What follows a compressed tar is read again from the start of the
     * stream, up to where it starts: only such a stream is inflated twice. */
    else if (rc == 0 && !w->stopped && tail > 0 && att_is_compressed(data, size))
        rc = att_walk_entries(w, name, data, size, depth, 1, tail, &empty, &none);
    else if (rc == 0 && !w->stopped && tail > 0)
        rc = att_walk_after_tar(w, name, data, size, depth, (size_t)tail);
    return rc;
}

int att_scan_archive(att_ctx_t *ctx, const char *name, const unsigned char *data, size_t size,
                     int typed)
{
    att_walk_t w = {ctx, name, 0, 0, 0, typed};

    return att_walk_memory(&w, name, data, size, 1);
}
