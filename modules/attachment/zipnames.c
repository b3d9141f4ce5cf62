/*
 * zipnames.c - the two names a zip gives each entry: one in the central
 * directory, which Windows Explorer and most extractors show and write,
 * and one in the entry's local header, which libarchive reports. Also the
 * entries only some extractors see: those of each zip in a file of zips one
 * after another, and local headers no central directory lists. The data
 * is hostile: every length and offset is checked against the buffer.
 */
#include "attachment.h"

#include <zlib.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
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
/* General purpose flag bit 3: the entry's sizes follow its data, in a data descriptor. */
#define ZIP_FLAG_DESCRIPTOR 0x0008
/* General purpose flag bit 0: the entry's data is encrypted. */
#define ZIP_FLAG_ENCRYPTED 0x0001
/* Places where extractors that match data descriptors differently go on
 * from, walked after the rest: each may walk much of the data again. */
#define ZIP_MAX_FORKS 16

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
 * back from the end, whose comment fits in the data. When no comment fits,
 * the last signature: unzip and Python's zipfile take that one, whatever
 * length its comment gives. Returns its offset, or -1 when there is none.
 */
static long zip_find_end(const unsigned char *d, size_t n)
{
    size_t lowest, i;
    long last = -1;

    if (n < ZIP_END_SIZE)
        return -1;
    lowest = n - ZIP_END_SIZE > ZIP_COMMENT_MAX ? n - ZIP_END_SIZE - ZIP_COMMENT_MAX : 0;
    for (i = n - ZIP_END_SIZE + 1; i-- > lowest;) {
        if (memcmp(d + i, "PK\x05\x06", 4) != 0)
            continue;
        if (le16(d + i + 20) <= n - i - ZIP_END_SIZE)
            return (long)i;
        if (last < 0)
            last = (long)i;
    }
    return last;
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
 * both ways. The end record at `end` must be whole in the data. Returns how
 * many were stored in dirs (at most two).
 */
static size_t zip_dirs_at(const unsigned char *d, size_t end, zip_dir_t dirs[2])
{
    size_t count = 0;
    zip_dir_t z64;

    uint32_t size = le32(d + end + 12), off = le32(d + end + 16);
    if (size != UINT32_MAX && off != UINT32_MAX)
        dirs[count++] = (zip_dir_t){off, size, end};
    if (zip64_find_dir(d, end, &z64) != 0)
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

/* The central record's fields that may move to its zip64 extra field, in
 * the order they are kept there (APPNOTE 4.5.3), by their offset. */
enum { ZIP_CR_USIZE = 24, ZIP_CR_CSIZE = 20, ZIP_CR_LOCAL = 42 };

/*
 * A central record's size or offset field. One that reads 0xFFFFFFFF is in
 * the zip64 extra field, after those of the fields before it in the order
 * above that read 0xFFFFFFFF too. UINT64_MAX when it is not known.
 */
static uint64_t zip_central_field(const unsigned char *r, const unsigned char *extra,
                                  size_t extra_len, size_t field)
{
    static const size_t order[] = {ZIP_CR_USIZE, ZIP_CR_CSIZE, ZIP_CR_LOCAL};
    const unsigned char *x;
    size_t at = 0, size;

    if (le32(r + field) != UINT32_MAX)
        return le32(r + field);
    if ((x = zip_extra(extra, extra_len, ZIP64_EXTRA_ID, &size)) == NULL)
        return UINT64_MAX;
    for (size_t i = 0; order[i] != field; i++)
        if (le32(r + order[i]) == UINT32_MAX)
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
        uint64_t local = zip_central_field(r, extra, extra_len, ZIP_CR_LOCAL);
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

/* Calls fn for each record of the central directories the end record at `end` describes. */
static int zip_walk_end(const unsigned char *d, size_t n, size_t end, att_zip_name_fn fn, void *arg)
{
    zip_dir_t dirs[2];
    size_t count = zip_dirs_at(d, end, dirs);

    for (size_t i = 0; i < count; i++) {
        int rc = zip_walk_dir(d, n, &dirs[i], fn, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int att_zip_names(const unsigned char *d, size_t n, att_zip_name_fn fn, void *arg)
{
    long end = zip_find_end(d, n);

    return end < 0 ? 0 : zip_walk_end(d, n, (size_t)end, fn, arg);
}

/* Whether a local header's fixed part starts at pos. */
static int zip_is_local(const unsigned char *d, size_t n, size_t pos)
{
    return pos <= n && n - pos >= ZIP_LOCAL_SIZE && memcmp(d + pos, "PK\x03\x04", 4) == 0;
}

/*
 * Whether a local header plausibly starts at pos: its signature, a
 * compression method that APPNOTE defines, and a name that fits. Used where
 * the bytes before may be compressed data, in which a bare signature turns
 * up by chance.
 */
static int zip_plausible_local(const unsigned char *d, size_t n, size_t pos)
{
    uint32_t method, name_len;

    if (!zip_is_local(d, n, pos))
        return 0;
    method = le16(d + pos + 8);
    name_len = le16(d + pos + 26);
    return (method <= 20 || (method >= 93 && method <= 99)) && name_len > 0 &&
           name_len <= n - pos - ZIP_LOCAL_SIZE;
}

/*
 * The length of the record at pos when it is one that may sit between the
 * entries and after the end record of a zip, but no local header: a central
 * record, an end record with its comment, a zip64 end record or locator, a
 * digital signature, an archive extra data record. 0 when there is none
 * there or it does not fit in the data.
 */
static size_t zip_record_len(const unsigned char *d, size_t n, size_t pos)
{
    const unsigned char *r = d + pos;
    size_t room = pos <= n ? n - pos : 0;
    uint64_t len;

    if (room < 12 || r[0] != 'P' || r[1] != 'K')
        return 0;
    if (memcmp(r, "PK\x01\x02", 4) == 0 && room >= ZIP_CENTRAL_SIZE)
        len = ZIP_CENTRAL_SIZE + (uint64_t)le16(r + 28) + le16(r + 30) + le16(r + 32);
    else if (memcmp(r, "PK\x05\x06", 4) == 0 && room >= ZIP_END_SIZE)
        len = ZIP_END_SIZE + (uint64_t)le16(r + 20);
    else if (memcmp(r, "PK\x06\x06", 4) == 0) /* Its size counts from after the size field. */
        len = le64(r + 4) <= room - 12 ? 12 + le64(r + 4) : UINT64_MAX;
    else if (memcmp(r, "PK\x06\x07", 4) == 0)
        len = ZIP64_LOCATOR_SIZE;
    else if (memcmp(r, "PK\x05\x05", 4) == 0)
        len = 6 + (uint64_t)le16(r + 4);
    else if (memcmp(r, "PK\x06\x08", 4) == 0)
        len = 8 + (uint64_t)le32(r + 4);
    else
        return 0;
    return len <= room ? (size_t)len : 0;
}

/*
 * Where the record after a data descriptor at pos starts. A descriptor may
 * have a signature or not, and 32- or 64-bit sizes: the record that follows
 * tells which. pos itself when no record follows any of them.
 */
static size_t zip_after_descriptor(const unsigned char *d, size_t n, size_t pos)
{
    size_t len = n - pos >= 4 && memcmp(d + pos, "PK\x07\x08", 4) == 0 ? 16 : 12;

    for (int zip64 = 0; zip64 < 2; zip64++, len += 8) {
        if (len <= n - pos &&
            (zip_plausible_local(d, n, pos + len) || zip_record_len(d, n, pos + len) > 0))
            return pos + len;
    }
    return pos;
}

/* Whether a data descriptor with its signature at `at` records `dist` as the compressed size. */
static int zip_descriptor_fits(const unsigned char *d, size_t n, size_t at, uint64_t dist)
{
    const unsigned char *p = d + at;

    return at <= n && n - at >= 16 && memcmp(p, "PK\x07\x08", 4) == 0 &&
           (le32(p + 8) == dist || (n - at >= 24 && le64(p + 8) == dist));
}

/*
 * Whether a data descriptor with its signature at `at` ends the data before
 * it, for an extractor that matches descriptors by size: it records `dist`
 * as the compressed size, and a record follows it, where *next is set. One
 * with bytes that are no record after it ends nothing: the search goes on,
 * or it could stop the walk short of what an extractor that matches by
 * CRC-32 reads further on.
 */
static int zip_descriptor_ends(const unsigned char *d, size_t n, size_t at, uint64_t dist,
                               size_t *next)
{
    if (!zip_descriptor_fits(d, n, at, dist))
        return 0;
    *next = zip_after_descriptor(d, n, at);
    return *next != at;
}

/*
 * What zip_crc_end() shares over one walk: each search may run to the last
 * descriptor signature in the data, so that is found once (a zip whose
 * descriptors have none costs nothing more), and the bytes it takes the
 * CRC-32 of are counted, as hostile data could make every search run far.
 */
typedef struct zip_crc_scan {
    bool known;     /* `last` has been looked for. */
    size_t last;    /* Just past the start of the last descriptor signature; 0 when none. */
    uint64_t left;  /* Bytes the CRC-32 may still be taken of. */
    bool exhausted; /* A search needed more. */
} zip_crc_scan_t;

/* Just past the start of the last data descriptor signature with a whole descriptor, or 0. */
static size_t zip_last_signature(const unsigned char *d, size_t n)
{
    const unsigned char *p;
    size_t at = 0, last = 0;

    while (n - at >= 16 && (p = memchr(d + at, 'P', n - at - 15)) != NULL) {
        at = (size_t)(p - d) + 1;
        if (memcmp(p, "PK\x07\x08", 4) == 0)
            last = at;
    }
    return last;
}

/*
 * Where libarchive's streaming reader ends a stored entry whose sizes its
 * data descriptor holds: after the first descriptor from `data` on whose
 * CRC-32 is that of the data before it, whatever size it records, when a
 * record follows it. n when there is none, or when the walk's budget runs
 * out (s->exhausted). The walk matches descriptors by size, and where the
 * two differ, each reader sees other entries after it.
 */
static size_t zip_crc_end(const unsigned char *d, size_t n, size_t data, zip_crc_scan_t *s)
{
    const unsigned char *p;
    size_t at = data, done = data, next;
    uLong crc = crc32(0L, Z_NULL, 0);

    if (!s->known) {
        s->last = zip_last_signature(d, n);
        s->known = true;
    }
    while (at < s->last && (p = memchr(d + at, 'P', s->last - at)) != NULL) {
        at = (size_t)(p - d);
        if (n - at >= 16 && memcmp(p, "PK\x07\x08", 4) == 0) {
            if (at - done > s->left) {
                s->exhausted = true;
                return n;
            }
            s->left -= at - done;
            crc = crc32_z(crc, d + done, at - done);
            done = at;
            if (le32(p + 4) == crc && (next = zip_after_descriptor(d, n, at)) != at)
                return next;
        }
        at++;
    }
    return n;
}

/*
 * Where the record after an entry starts whose sizes only its data
 * descriptor holds: after the first descriptor from `data` on whose
 * compressed size is the distance to it, or at the first other record,
 * whichever comes first. A streaming extractor finds the end by
 * decompressing; the search is cheaper and finds the same end in what zip
 * writers make. n when there is none. It never goes back, so a walk reads
 * each byte of the data once.
 */
static size_t zip_find_next(const unsigned char *d, size_t n, size_t data)
{
    const unsigned char *p;
    size_t at = data, next;

    while (n - at >= 4 && (p = memchr(d + at, 'P', n - at - 3)) != NULL) {
        at = (size_t)(p - d);
        if (zip_descriptor_ends(d, n, at, at - data, &next))
            return next;
        if (zip_plausible_local(d, n, at) || zip_record_len(d, n, at) > 0)
            return at;
        at++;
    }
    return n;
}

/*
 * As zip_find_next(), for a compressed entry a central directory lists
 * with compressed size csize. Before the end that size gives, only a
 * descriptor or a plausible local header (a hidden entry's) ends the data:
 * the other record signatures turn up in compressed bytes by chance (one in
 * 2^32 a byte: a 20 MB zip holds one in 200 cases) and would count as a
 * second archive.
 */
static size_t zip_find_next_listed(const unsigned char *d, size_t n, size_t data, uint64_t csize)
{
    const unsigned char *p;
    size_t at = data, end = csize <= n - data ? data + (size_t)csize : n, next;

    while (n - at >= 4 && (p = memchr(d + at, 'P', n - at - 3)) != NULL) {
        at = (size_t)(p - d);
        if (zip_descriptor_ends(d, n, at, at - data, &next))
            return next;
        if (zip_plausible_local(d, n, at) || (at >= end && zip_record_len(d, n, at) > 0))
            return at;
        at++;
    }
    return n;
}

/*
 * The compressed size a local header records, from its zip64 extra field
 * (which holds both sizes there, the uncompressed one first) when it says
 * 0xFFFFFFFF. UINT64_MAX when that field is missing.
 */
static uint64_t zip_local_csize(const unsigned char *h, const unsigned char *extra,
                                size_t extra_len)
{
    const unsigned char *x;
    size_t size;

    if (le32(h + 18) != UINT32_MAX)
        return le32(h + 18);
    x = zip_extra(extra, extra_len, ZIP64_EXTRA_ID, &size);
    return x != NULL && size >= 16 ? le64(x + 8) : UINT64_MAX;
}

/*
 * Where the record after a stored entry starts whose sizes only its data
 * descriptor holds, and which a central directory lists with compressed
 * size csize. Its data may be a zip, a .docx or another archive, whose
 * records lie there in the clear and are none of this zip, so they are not
 * searched for: the data ends where the central directory says, or at an
 * earlier descriptor whose compressed size is the distance to it, where a
 * streaming extractor ends it (the entries after that are then walked,
 * though the central directory makes them part of the data). When no
 * descriptor or record follows the data the central directory gives, the
 * size is no guide, and the next record is searched for as for an entry no
 * central directory lists. Reads each byte once, as zip_find_next() does.
 */
static size_t zip_skip_stored(const unsigned char *d, size_t n, size_t data, uint64_t csize)
{
    const unsigned char *p;
    size_t end, at = data, next;

    if (csize > n - data)
        return zip_find_next(d, n, data);
    end = data + (size_t)csize;
    next = zip_after_descriptor(d, n, end);
    if (next == end && !zip_descriptor_fits(d, n, end, csize) && !zip_is_local(d, n, end) &&
        zip_record_len(d, n, end) == 0)
        return zip_find_next(d, n, data);
    while (at < end && (p = memchr(d + at, 'P', end - at)) != NULL) {
        size_t after;
        at = (size_t)(p - d);
        if (zip_descriptor_ends(d, n, at, at - data, &after))
            return after;
        at++;
    }
    return next;
}

/*
 * Where the record after the local header at pos starts: past the entry's
 * data by the size the header records, as a streaming extractor skips it,
 * and past its data descriptor when it has one. When only the descriptor
 * holds the size, by the size the central directory gives a stored entry
 * (listed_csize, UINT64_MAX when none lists it; see zip_skip_stored()),
 * else found by searching (zip_find_next_listed() for a listed one). n when the entry does not end
 * within the data. The header's fixed part must be whole.
 */
static size_t zip_skip_data(const unsigned char *d, size_t n, size_t pos, size_t data,
                            uint64_t csize, uint64_t listed_csize)
{
    const unsigned char *h = d + pos;

    if (!(le16(h + 6) & ZIP_FLAG_DESCRIPTOR))
        return csize <= n - data ? data + (size_t)csize : n;
    /* A streaming writer leaves the sizes 0, or 0xFFFFFFFF with zeros in the zip64 field. */
    if (csize == 0 || csize == UINT64_MAX) {
        if (listed_csize == UINT64_MAX)
            return zip_find_next(d, n, data);
        if (le16(h + 8) == 0)
            return zip_skip_stored(d, n, data, listed_csize);
        return zip_find_next_listed(d, n, data, listed_csize);
    }
    return csize <= n - data ? zip_after_descriptor(d, n, data + (size_t)csize) : n;
}

/*
 * As zip_skip_data(), for the local header at pos. *fork is set to where
 * libarchive's streaming reader goes on instead, when it ends a stored
 * entry with a data descriptor elsewhere (see zip_crc_end()), else to n.
 */
static size_t zip_skip_local(const unsigned char *d, size_t n, size_t pos, uint64_t listed_csize,
                             zip_crc_scan_t *scan, size_t *fork)
{
    const unsigned char *h = d + pos;
    size_t name_len = le16(h + 26), extra_len = le16(h + 28), data, next, crc_end;
    uint64_t csize;

    *fork = n;
    if (name_len + extra_len > n - pos - ZIP_LOCAL_SIZE)
        return n;
    data = pos + ZIP_LOCAL_SIZE + name_len;
    csize = zip_local_csize(h, d + data, extra_len);
    data += extra_len;
    next = zip_skip_data(d, n, pos, data, csize, listed_csize);
    /* An encrypted entry's CRC-32 is that of the data decrypted, which no
     * search over the stored bytes matches: only a password leads further. */
    if ((le16(h + 6) & (ZIP_FLAG_DESCRIPTOR | ZIP_FLAG_ENCRYPTED)) == ZIP_FLAG_DESCRIPTOR &&
        le16(h + 8) == 0 && (crc_end = zip_crc_end(d, n, data, scan)) != next)
        *fork = crc_end;
    return next;
}

/*
 * A zip that an end record describes, and that lies in no other such zip:
 * from its first local header to the end of its end record's comment.
 */
typedef struct zip_span {
    size_t start, end_rec, end;
    bool met; /* The walk of the records came to its end record. */
} zip_span_t;

typedef struct zip_spans {
    zip_span_t *at;
    size_t len, cap;
} zip_spans_t;

/* A local header in the data, and the compressed size a central record gives its entry. */
typedef struct zip_at {
    size_t pos;
    uint64_t csize; /* UINT64_MAX when not known. */
} zip_at_t;

/* Local headers, in a list that grows as needed, with a hash index by pos:
 * hostile input can add to it between any two look-ups. */
typedef struct zip_list {
    zip_at_t *at;
    size_t len, cap;
    size_t *slots; /* Index + 1 of an entry, 0 for none; nslots a power of two. */
    size_t nslots;
    bool indexed; /* Looked up by pos: keeps slots. */
} zip_list_t;

/* One att_zip_walk(): the caller's callback, and what was found so far. */
typedef struct zip_walk {
    const unsigned char *d;
    size_t n, max;
    att_zip_name_fn fn;
    void *arg;
    size_t records;    /* Central records passed on to fn. */
    zip_list_t listed; /* Local headers a central directory points to. */
    zip_list_t walked; /* Local headers met walking the records from the start. */
    att_zip_layout_t *out;
    zip_spans_t spans;           /* The zips found by their end records, one after another. */
    size_t steps;                /* Records walked. */
    bool last_met;               /* The walk came to the last end record. */
    size_t forks[ZIP_MAX_FORKS]; /* See zip_skip_local(). */
    size_t nforks;
    zip_crc_scan_t crc;
} zip_walk_t;

static size_t zip_slot_of(size_t pos, size_t nslots)
{
    return (size_t)(((uint64_t)pos * 0x9E3779B97F4A7C15u) >> 32) & (nslots - 1);
}

/* Puts entry i into the index, which has room. */
static void zip_index(zip_list_t *l, size_t i)
{
    size_t s = zip_slot_of(l->at[i].pos, l->nslots);
    while (l->slots[s] != 0)
        s = (s + 1) & (l->nslots - 1);
    l->slots[s] = i + 1;
}

/* Keeps the index at most half full, so that probes stay short. */
static int zip_index_grow(zip_list_t *l)
{
    size_t n = l->nslots ? l->nslots * 2 : 128;
    size_t *slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return SMF_ENOMEM;
    free(l->slots);
    l->slots = slots;
    l->nslots = n;
    for (size_t i = 0; i < l->len; i++)
        zip_index(l, i);
    return 0;
}

/* Makes room for one more element in the array *items of *cap (doubling,
 * from `first`); 0, or SMF_ENOMEM with the array unchanged. */
static int grow(void **items, size_t len, size_t *cap, size_t size, size_t first)
{
    if (len < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : first;
    void *p = realloc(*items, n * size);
    if (p == NULL)
        return SMF_ENOMEM;
    *items = p;
    *cap = n;
    return 0;
}

static int zip_list_add(zip_list_t *l, size_t pos, uint64_t csize)
{
    if (grow((void **)&l->at, l->len, &l->cap, sizeof(*l->at), 64) != 0)
        return SMF_ENOMEM;
    l->at[l->len++] = (zip_at_t){pos, csize};
    if (!l->indexed)
        return 0;
    if ((l->len + 1) * 2 > l->nslots)
        return zip_index_grow(l);
    zip_index(l, l->len - 1);
    return 0;
}

/* The entry of the list at pos, or NULL. */
static const zip_at_t *zip_list_find(const zip_list_t *l, size_t pos)
{
    if (l->nslots == 0)
        return NULL;
    for (size_t s = zip_slot_of(pos, l->nslots); l->slots[s] != 0; s = (s + 1) & (l->nslots - 1))
        if (l->at[l->slots[s] - 1].pos == pos)
            return &l->at[l->slots[s] - 1];
    return NULL;
}

static void zip_list_free(zip_list_t *l)
{
    free(l->at);
    free(l->slots);
}

/*
 * Passes a central record on to the caller, and notes the local header it
 * points to. Many end records may describe one large central directory:
 * counting the records keeps the walk within max_records whatever fn does.
 */
static int zip_note_listed(void *arg, const att_zip_entry_t *e)
{
    zip_walk_t *z = arg;
    /* The central record, whose name zip_walk_dir() passes. */
    const unsigned char *r = (const unsigned char *)e->central - ZIP_CENTRAL_SIZE;
    int rc;

    if (++z->records > z->max)
        return 1;
    if ((rc = z->fn(z->arg, e)) != 0 || e->local == NULL)
        return rc;
    return zip_list_add(&z->listed,
                        (size_t)((const unsigned char *)e->local - z->d) - ZIP_LOCAL_SIZE,
                        zip_central_field(r, e->central_extra, e->central_extra_len, ZIP_CR_CSIZE));
}

/*
 * Where the zip of the end record at `end` starts: at the local header
 * where its central directory, found as zip_shift() finds it, says the zip
 * starts. A zip whose offsets count from the start of the file, as those
 * behind a self-extractor's program or a Python zip application's script
 * may, has no local header there: it starts at the one its first central
 * record points to. n when its directory holds no record there or no local
 * header is at that start, as for an end record's signature met by chance.
 */
static size_t zip_start_of(const unsigned char *d, size_t n, size_t end)
{
    zip_dir_t dirs[2];
    uint64_t shift, local;
    size_t dir, name_len, extra_len;
    const unsigned char *r;

    if (zip_dirs_at(d, end, dirs) == 0)
        return n;
    shift = zip_shift(d, &dirs[0]);
    if (dirs[0].off > dirs[0].limit - shift || dirs[0].size < ZIP_CENTRAL_SIZE ||
        dirs[0].size > dirs[0].limit - shift - dirs[0].off)
        return n;
    dir = (size_t)(dirs[0].off + shift);
    r = d + dir;
    if (memcmp(r, "PK\x01\x02", 4) != 0)
        return n;
    if (zip_is_local(d, n, (size_t)shift))
        return (size_t)shift;
    name_len = le16(r + 28);
    extra_len = le16(r + 30);
    if (name_len + extra_len > dirs[0].size - ZIP_CENTRAL_SIZE)
        return n;
    local = zip_central_field(r, r + ZIP_CENTRAL_SIZE + name_len, extra_len, ZIP_CR_LOCAL);
    if (local >= dir || shift >= dir - local || !zip_is_local(d, n, (size_t)(shift + local)))
        return n;
    return (size_t)(shift + local);
}

/*
 * Adds a zip found by its end record, unless it lies in the entries of the
 * last one added; a zip added before that lies in it (stored in one of its
 * entries) is dropped, as it is that entry's data, not a zip of the file.
 * What is left are the zips one after another, with or without bytes
 * between them, and those hidden in an end record's comment.
 */
static int zip_spans_add(zip_spans_t *s, zip_span_t span)
{
    const zip_span_t *prev = s->len > 0 ? &s->at[s->len - 1] : NULL;

    /* One in its comment is no entry's data, but a zip of the file. */
    if (prev != NULL && prev->start <= span.start && prev->end_rec + ZIP_END_SIZE > span.start)
        return 0;
    while (s->len > 0 && s->at[s->len - 1].start >= span.start)
        s->len--;
    if (grow((void **)&s->at, s->len, &s->cap, sizeof(*s->at), 8) != 0)
        return SMF_ENOMEM;
    s->at[s->len++] = span;
    return 0;
}

/*
 * Finds every zip in the data by its end record, from the start: the zips
 * of a file of junk and zips one after another, which an extractor that
 * scans forward for a local header, or a repair, opens though the last end
 * record describes only the last one. Returns 1 when there are more than
 * max of them, 0, or SMF_ENOMEM.
 */
static int zip_find_spans(const unsigned char *d, size_t n, size_t max, zip_spans_t *s)
{
    const unsigned char *p;
    size_t at = 0;
    int rc;

    while (n - at >= ZIP_END_SIZE && (p = memchr(d + at, 'P', n - at - ZIP_END_SIZE + 1)) != NULL) {
        at = (size_t)(p - d);
        size_t start = memcmp(p, "PK\x05\x06", 4) == 0 ? zip_start_of(d, n, at) : n;
        if (start < n) {
            size_t comment = le16(p + 20), end = at + ZIP_END_SIZE;
            end = comment <= n - end ? end + comment : n;
            if ((rc = zip_spans_add(s, (zip_span_t){start, at, end, false})) != 0)
                return rc;
            if (s->len > max)
                return 1;
        }
        at++;
    }
    return 0;
}

/* Marks the zip whose end record is at pos as met by the walk; returns whether it was already. */
static bool zip_spans_met(zip_spans_t *s, size_t pos)
{
    bool was;

    size_t lo = 0, hi = s->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->at[mid].end_rec < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= s->len || s->at[lo].end_rec != pos)
        return false;
    was = s->at[lo].met;
    s->at[lo].met = true;
    return was;
}

/* Where the first zip found that starts at or after `from` starts, or n. */
static size_t zip_spans_after(const zip_spans_t *s, size_t from, size_t n)
{
    for (size_t i = 0; i < s->len; i++)
        if (s->at[i].start >= from)
            return s->at[i].start;
    return n;
}

/*
 * The next record's position after the one at pos, or n when there is none
 * the walk knows. Notes a local header, and walks the central directories of
 * an end record other than the last one, which att_zip_walk() walked first;
 * counts the end records met in *ends, and sets z->last_met when the last
 * one is met.
 */
static int zip_walk_record(zip_walk_t *z, size_t pos, long last, size_t *ends, size_t *next)
{
    size_t len, fork;
    int rc;

    *next = z->n;
    if (zip_is_local(z->d, z->n, pos)) {
        const zip_at_t *listed = zip_list_find(&z->listed, pos);
        if (z->walked.len >= z->max)
            return 1;
        if ((rc = zip_list_add(&z->walked, pos, UINT64_MAX)) < 0)
            return rc;
        *next = zip_skip_local(z->d, z->n, pos, listed != NULL ? listed->csize : UINT64_MAX,
                               &z->crc, &fork);
        if (fork < z->n && z->nforks < ZIP_MAX_FORKS)
            z->forks[z->nforks++] = fork;
        else if (z->crc.exhausted || fork < z->n) {
            z->out->descriptors = 1;
            return 1;
        }
        return 0;
    }
    if (z->n - pos >= ZIP_END_SIZE && memcmp(z->d + pos, "PK\x05\x06", 4) == 0) {
        bool again = zip_spans_met(&z->spans, pos);
        (*ends)++;
        if ((long)pos == last)
            z->last_met = true;
        else if (!again && (rc = zip_walk_end(z->d, z->n, pos, zip_note_listed, z)) != 0)
            return rc;
    }
    if ((len = zip_record_len(z->d, z->n, pos)) > 0)
        *next = pos + len;
    /* A zip in an end record's comment is walked as one appended to it:
     * unzip and Python open it when its own end record is the last one. */
    if (len > ZIP_END_SIZE && memcmp(z->d + pos, "PK\x05\x06", 4) == 0 &&
        zip_is_local(z->d, z->n, pos + ZIP_END_SIZE))
        *next = pos + ZIP_END_SIZE;
    return 0;
}

/*
 * Walks the records one after the other from pos, as a streaming extractor
 * reads a zip, and on past an end record into whatever zip follows, until
 * bytes that are no record. *stop is where the last record walked starts;
 * *ends counts the end records met. Each record moves the walk on by at
 * least 12 bytes, and there are at most twice archive_max_entries of them
 * and a few end records in all.
 */
static int zip_walk_stretch(zip_walk_t *z, size_t pos, long last, size_t *ends, size_t *stop)
{
    size_t next;
    int rc;

    *ends = 0;
    *stop = pos;
    while (pos < z->n) {
        if (++z->steps / 2 > z->max + 4)
            return 1;
        *stop = pos;
        if ((rc = zip_walk_record(z, pos, last, ends, &next)) != 0)
            return rc;
        pos = next;
    }
    return 0;
}

/*
 * Walks the records from the start of the data when a local header is
 * there, else from the first zip found, and again from the next zip found
 * each time the walk comes to bytes that are no record. Then walks the
 * central directories of the zips found whose end record the walk did not
 * come to.
 *
 * A file of zips one after another without bytes between them is walked in
 * one stretch, each of whose end records counts as an archive. Zips with
 * bytes between them are walked in stretches, and count as several archives
 * only when the data starts like a zip, as every extractor then opens the
 * first one and most the last one. Wherever they lie, they count in
 * out->apart, for the caller to tell zips hidden behind junk from the
 * members of a tar or a disk image of zips.
 */
static int zip_walk_records(zip_walk_t *z, long last)
{
    bool at_start = zip_is_local(z->d, z->n, 0);
    size_t pos = at_start ? 0 : zip_spans_after(&z->spans, 0, z->n), ends, stop;
    int rc;

    while (pos < z->n) {
        if ((rc = zip_walk_stretch(z, pos, last, &ends, &stop)) != 0)
            return rc;
        /* The last end record is an archive too, when the walk did not come to it. */
        if (pos == 0 && at_start && last >= 0 && !z->last_met)
            ends++;
        if (ends > z->out->archives)
            z->out->archives = ends;
        pos = zip_spans_after(&z->spans, stop + 1, z->n);
    }
    /* Where libarchive's streaming reader goes on after a stored entry, when
     * that is not where the walk went: forks may add more, up to the limit. */
    for (size_t i = 0; i < z->nforks; i++) {
        if ((rc = zip_walk_stretch(z, z->forks[i], last, &ends, &stop)) != 0)
            return rc;
        if (ends > z->out->archives)
            z->out->archives = ends;
    }
    if (last >= 0 && z->out->archives == 0)
        z->out->archives = 1;
    for (size_t i = 0; i < z->spans.len; i++) {
        const zip_span_t *s = &z->spans.at[i];
        if (!s->met && (long)s->end_rec != last &&
            (rc = zip_walk_end(z->d, z->n, s->end_rec, zip_note_listed, z)) != 0)
            return rc;
    }
    return 0;
}

/* Calls fn, with local names only, for each local header walked that no central record points to.
 */
static int zip_at_cmp(const void *a, const void *b)
{
    size_t x = ((const zip_at_t *)a)->pos, y = ((const zip_at_t *)b)->pos;

    return x < y ? -1 : x > y;
}

static int zip_report_unlisted(zip_walk_t *z)
{
    int rc;

    /* A fork's walk may come to local headers the walk met already. */
    if (z->nforks > 0)
        qsort(z->walked.at, z->walked.len, sizeof(*z->walked.at), zip_at_cmp);
    for (size_t i = 0; i < z->walked.len; i++) {
        size_t pos = z->walked.at[i].pos;
        att_zip_entry_t e = {0};
        if ((i > 0 && z->walked.at[i - 1].pos == pos) || zip_list_find(&z->listed, pos) != NULL)
            continue;
        z->out->unlisted++;
        zip_local(z->d, z->n, pos, &e);
        if (e.local != NULL && (rc = z->fn(z->arg, &e)) != 0)
            return rc;
    }
    return 0;
}

int att_zip_walk(const unsigned char *d, size_t n, size_t max_records, att_zip_name_fn fn,
                 void *arg, att_zip_layout_t *out)
{
    zip_walk_t z = {d, n, max_records, fn, arg, 0, {.indexed = true}, {.indexed = false}, out};
    long last = zip_find_end(d, n);
    int rc;

    *out = (att_zip_layout_t){0, 0, 0, 0};
    /* Four times the data, and some, is more than any zip a writer makes needs. */
    z.crc.left = n < (UINT64_MAX >> 3) ? 4 * (uint64_t)n + ((uint64_t)16 << 20) : UINT64_MAX;
    rc = last < 0 ? 0 : zip_walk_end(d, n, (size_t)last, zip_note_listed, &z);
    if (rc == 0)
        rc = zip_find_spans(d, n, max_records, &z.spans);
    out->apart = z.spans.len;
    if (rc == 0)
        rc = zip_walk_records(&z, last);
    if (rc == 0)
        rc = zip_report_unlisted(&z);
    zip_list_free(&z.listed);
    zip_list_free(&z.walked);
    free(z.spans.at);
    return rc;
}
