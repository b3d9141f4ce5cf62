/*
 * zipnames.c - the two names a zip gives each entry: one in the central
 * directory, which Windows Explorer and most extractors show and write,
 * and one in the entry's local header, which libarchive reports. The data
 * is hostile: every length and offset is checked against the buffer.
 */
#include "attachment.h"

#include <stdint.h>
#include <string.h>

/* Fixed sizes of the records (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.14, 4.3.15, 4.3.16). */
#define ZIP_LOCAL_SIZE 30
#define ZIP_CENTRAL_SIZE 46
#define ZIP64_END_SIZE 56
#define ZIP64_LOCATOR_SIZE 20
#define ZIP_END_SIZE 22
/* The end record may be followed by a comment of up to this many bytes. */
#define ZIP_COMMENT_MAX 65535
/* The extra field that holds the 64-bit sizes and offset of an entry (APPNOTE 4.5.3). */
#define ZIP64_EXTRA_ID 0x0001
/* Info-ZIP's Unicode Path extra field: a version byte, the CRC-32 of the
 * header's name, then the entry's name in UTF-8, which extractors prefer. */
#define ZIP_UNICODE_PATH_ID 0x7075
#define ZIP_UNICODE_PATH_HEAD 5

/* A central directory as an end record describes it. */
typedef struct zip_dir {
    uint64_t off, size; /* Where it starts, and its size, as recorded. */
    size_t limit;       /* Where it must end at the latest: the record that describes it. */
} zip_dir_t;

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/*
 * Finds the end of central directory record: the last signature, searching
 * back from the end, whose comment fits in the data. Returns its offset, or
 * -1 when there is none.
 */
static long zip_find_end(const unsigned char *d, size_t n)
{
    size_t lowest, i;

    if (n < ZIP_END_SIZE)
        return -1;
    lowest = n - ZIP_END_SIZE > ZIP_COMMENT_MAX ? n - ZIP_END_SIZE - ZIP_COMMENT_MAX : 0;
    for (i = n - ZIP_END_SIZE + 1; i-- > lowest;) {
        if (memcmp(d + i, "PK\x05\x06", 4) == 0 && le16(d + i + 20) <= n - i - ZIP_END_SIZE)
            return (long)i;
    }
    return -1;
}

/*
 * The central directory a zip64 end record describes, found through the
 * locator that sits just before the end record. Returns 0, or -1 when there
 * is no locator or the record it points to is not there whole.
 */
static int zip64_find_dir(const unsigned char *d, size_t end, zip_dir_t *dir)
{
    size_t loc;
    uint64_t rec;

    if (end < ZIP64_LOCATOR_SIZE)
        return -1;
    loc = end - ZIP64_LOCATOR_SIZE;
    if (memcmp(d + loc, "PK\x06\x07", 4) != 0)
        return -1;
    /* Behind a preamble the recorded offset is short of the record, which
     * then sits just before the locator, as it does in every zip64 writer's output. */
    rec = le64(d + loc + 8);
    if (rec > loc || loc - rec < ZIP64_END_SIZE || memcmp(d + rec, "PK\x06\x06", 4) != 0) {
        if (loc < ZIP64_END_SIZE)
            return -1;
        rec = loc - ZIP64_END_SIZE;
        if (memcmp(d + rec, "PK\x06\x06", 4) != 0)
            return -1;
    }
    dir->size = le64(d + rec + 40);
    dir->off = le64(d + rec + 48);
    dir->limit = (size_t)rec;
    return 0;
}

/*
 * The central directories a zip's end records describe: the end record's,
 * unless its fields say "see the zip64 record" (0xFFFFFFFF), and the zip64
 * end record's when there is one and it describes another: extractors
 * differ in which they trust, so a zip that makes them disagree is read
 * both ways. Returns how many were stored in dirs (at most two).
 */
static size_t zip_find_dirs(const unsigned char *d, size_t n, zip_dir_t dirs[2])
{
    long end = zip_find_end(d, n);
    size_t count = 0;
    zip_dir_t z64;

    if (end < 0)
        return 0;
    uint32_t size = le32(d + end + 12), off = le32(d + end + 16);
    if (size != UINT32_MAX && off != UINT32_MAX)
        dirs[count++] = (zip_dir_t){off, size, (size_t)end};
    if (zip64_find_dir(d, (size_t)end, &z64) != 0)
        return count;
    if (count == 0 || z64.off != dirs[0].off || z64.size != dirs[0].size)
        dirs[count++] = z64;
    else /* One directory, which ends where the zip64 end record starts. */
        dirs[0].limit = z64.limit;
    return count;
}

/* The data of the extra field with header id `id` in x[0..len), or NULL; *size is its length. */
static const unsigned char *zip_extra(const unsigned char *x, size_t len, uint32_t id, size_t *size)
{
    while (len >= 4) {
        size_t sz = le16(x + 2);
        if (sz > len - 4)
            return NULL;
        if (le16(x) == id) {
            *size = sz;
            return x + 4;
        }
        x += 4 + sz;
        len -= 4 + sz;
    }
    return NULL;
}

/*
 * Where a central record's local header is. A zip64 entry records
 * 0xFFFFFFFF and keeps the offset in its zip64 extra field, after the
 * sizes that are 0xFFFFFFFF too. UINT64_MAX when it is not known.
 */
static uint64_t zip_local_offset(const unsigned char *r, const unsigned char *extra,
                                 size_t extra_len)
{
    const unsigned char *x;
    size_t at = 0, size;

    if (le32(r + 42) != UINT32_MAX)
        return le32(r + 42);
    if ((x = zip_extra(extra, extra_len, ZIP64_EXTRA_ID, &size)) == NULL)
        return UINT64_MAX;
    if (le32(r + 24) == UINT32_MAX) /* The uncompressed size comes first, */
        at += 8;
    if (le32(r + 20) == UINT32_MAX) /* then the compressed size. */
        at += 8;
    return size >= at + 8 ? le64(x + at) : UINT64_MAX;
}

/*
 * The name and extra field of the local header at off. Leaves e->local NULL
 * when no whole header is there, and the extra field empty when it does not
 * fit in the data.
 */
static void zip_local(const unsigned char *d, size_t n, uint64_t off, att_zip_entry_t *e)
{
    size_t name_len, extra_len, room;

    if (off > n || n - off < ZIP_LOCAL_SIZE || memcmp(d + off, "PK\x03\x04", 4) != 0)
        return;
    name_len = le16(d + off + 26);
    extra_len = le16(d + off + 28);
    room = n - off - ZIP_LOCAL_SIZE;
    if (name_len > room)
        return;
    e->local = (const char *)d + off + ZIP_LOCAL_SIZE;
    e->local_len = name_len;
    if (extra_len <= room - name_len) {
        e->local_extra = d + off + ZIP_LOCAL_SIZE + name_len;
        e->local_extra_len = extra_len;
    }
}

int att_zip_unicode_next(const unsigned char **extra, size_t *len, const char **name,
                         size_t *name_len)
{
    size_t size;
    const unsigned char *x;

    while ((x = zip_extra(*extra, *len, ZIP_UNICODE_PATH_ID, &size)) != NULL) {
        /* Continue after this field the next time. */
        *len -= (size_t)(x + size - *extra);
        *extra = x + size;
        if (size > ZIP_UNICODE_PATH_HEAD) {
            *name = (const char *)x + ZIP_UNICODE_PATH_HEAD;
            *name_len = size - ZIP_UNICODE_PATH_HEAD;
            return 1;
        }
    }
    return 0;
}

/*
 * How far the zip is shifted in the data: a zip behind a preamble (a
 * self-extractor's program, a junk byte, text) records offsets from its own
 * start, so its central directory ends, at dir->limit, that many bytes
 * later than recorded. That is how unzip finds it too. 0 when the directory
 * is not there, and it is then looked for where it is recorded.
 */
static uint64_t zip_shift(const unsigned char *d, const zip_dir_t *dir)
{
    size_t pos;

    if (dir->size > dir->limit || dir->limit - dir->size < dir->off)
        return 0;
    pos = dir->limit - (size_t)dir->size;
    if (pos == dir->off || dir->limit - pos < 4 || memcmp(d + pos, "PK\x01\x02", 4) != 0)
        return 0;
    return pos - dir->off;
}

/* Calls fn for each record of one central directory; see att_zip_names(). */
static int zip_walk_dir(const unsigned char *d, size_t n, const zip_dir_t *dir, att_zip_name_fn fn,
                        void *arg)
{
    uint64_t shift = zip_shift(d, dir);
    size_t pos, stop;

    if (dir->off > dir->limit - shift || dir->size > dir->limit - shift - dir->off)
        return 0;
    pos = (size_t)(dir->off + shift);
    stop = pos + (size_t)dir->size;
    while (stop - pos >= ZIP_CENTRAL_SIZE && memcmp(d + pos, "PK\x01\x02", 4) == 0) {
        const unsigned char *r = d + pos;
        size_t name_len = le16(r + 28), extra_len = le16(r + 30),
               rec = ZIP_CENTRAL_SIZE + name_len + extra_len + le16(r + 32);
        if (rec > stop - pos)
            break;
        const unsigned char *extra = r + ZIP_CENTRAL_SIZE + name_len;
        att_zip_entry_t e = {(const char *)r + ZIP_CENTRAL_SIZE, name_len, extra, extra_len};
        uint64_t local = zip_local_offset(r, extra, extra_len);
        if (local <= UINT64_MAX - shift)
            zip_local(d, n, local + shift, &e);
        int rc = fn(arg, &e);
        if (rc != 0)
            return rc;
        pos += rec;
    }
    return 0;
}

/* Stops att_zip_names() at the first record. */
static int zip_any_record(void *arg, const att_zip_entry_t *e)
{
    (void)arg;
    (void)e;
    return 1;
}

int att_zip_found(const unsigned char *d, size_t n)
{
    return att_zip_names(d, n, zip_any_record, NULL) == 1;
}

int att_zip_names(const unsigned char *d, size_t n, att_zip_name_fn fn, void *arg)
{
    zip_dir_t dirs[2];
    size_t count = zip_find_dirs(d, n, dirs);

    for (size_t i = 0; i < count; i++) {
        int rc = zip_walk_dir(d, n, &dirs[i], fn, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}
