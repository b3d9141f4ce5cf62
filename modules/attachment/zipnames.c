/*
 * zipnames.c - the two names a zip gives each entry: one in the central
 * directory, which Windows Explorer and most extractors show and write,
 * and one in the entry's local header, which libarchive reports. The data
 * is hostile: every length and offset is checked against the buffer.
 */
#include "attachment.h"

#include <stdint.h>
#include <string.h>

/* Fixed sizes of the records (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16). */
#define ZIP_LOCAL_SIZE 30
#define ZIP_CENTRAL_SIZE 46
#define ZIP_END_SIZE 22
/* The end record may be followed by a comment of up to this many bytes. */
#define ZIP_COMMENT_MAX 65535

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
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

/* The name in the local header at off, or NULL when no whole header is there. */
static const char *zip_local_name(const unsigned char *d, size_t n, uint32_t off, size_t *len)
{
    if (off == UINT32_MAX || off > n || n - off < ZIP_LOCAL_SIZE ||
        memcmp(d + off, "PK\x03\x04", 4) != 0)
        return NULL;
    *len = le16(d + off + 26);
    if (*len > n - off - ZIP_LOCAL_SIZE)
        return NULL;
    return (const char *)d + off + ZIP_LOCAL_SIZE;
}

int att_zip_names(const unsigned char *d, size_t n, att_zip_name_fn fn, void *arg)
{
    long end = zip_find_end(d, n);
    size_t pos, stop;

    if (end < 0)
        return 0;
    /* Offsets of 0xFFFFFFFF point to a zip64 record: such archives are left to libarchive. */
    uint32_t size = le32(d + end + 12), off = le32(d + end + 16);
    if (size == UINT32_MAX || off == UINT32_MAX || off > (size_t)end || size > (size_t)end - off)
        return 0;
    pos = off;
    stop = (size_t)off + size;
    while (stop - pos >= ZIP_CENTRAL_SIZE && memcmp(d + pos, "PK\x01\x02", 4) == 0) {
        const unsigned char *r = d + pos;
        size_t name_len = le16(r + 28),
               rec = ZIP_CENTRAL_SIZE + name_len + le16(r + 30) + le16(r + 32);
        if (rec > stop - pos)
            break;
        att_zip_entry_t e = {(const char *)r + ZIP_CENTRAL_SIZE, name_len, NULL, 0};
        e.local = zip_local_name(d, n, le32(r + 42), &e.local_len);
        int rc = fn(arg, &e);
        if (rc != 0)
            return rc;
        pos += rec;
    }
    return 0;
}
