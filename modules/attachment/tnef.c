/*
 * tnef.c - a TNEF stream's attachments (MS-OXTNEF): a signature, then
 * attributes of a level, an id, a length, the data and a checksum. The
 * attachment attributes and the MAPI property list of attAttachment give
 * the names and the data; everything else is skipped by its length.
 */
#include "tnef.h"

#include <stdint.h>
#include <string.h>

#define TNEF_SIGNATURE 0x223e9f78u

/* Attribute ids, without the type in their high word: readers go by the id alone. */
#define ATT_DATA 0x800f               /* attAttachData */
#define ATT_TITLE 0x8010              /* attAttachTitle */
#define ATT_TRANSPORT_FILENAME 0x9001 /* attAttachTransportFilename */
#define ATT_REND_DATA 0x9002          /* attAttachRendData: starts an attachment */
#define ATT_ATTACHMENT 0x9005         /* attAttachment: the attachment's MAPI properties */
#define ATT_OEM_CODEPAGE 0x9007       /* attOemCodepage: the code page of 8-bit strings */

/* Windows code pages 8-bit strings are read in (others: their ASCII only). */
#define CP_WINDOWS_1252 1252
#define CP_LATIN1 28591
#define CP_UTF8 65001

/* MAPI property types (the low word of a tag). */
#define PT_UNSPECIFIED 0x0000
#define PT_MV 0x1000
#define PT_OBJECT 0x000d
#define PT_STRING8 0x001e
#define PT_UNICODE 0x001f
#define PT_BINARY 0x0102

#define PR_DISPLAY_NAME 0x3001
#define PR_ATTACH_DATA 0x3701
#define PR_ATTACH_EXTENSION 0x3703
#define PR_ATTACH_FILENAME 0x3704
#define PR_ATTACH_LONG_FILENAME 0x3707
#define PR_ATTACH_PATHNAME 0x3708
#define PR_ATTACH_LONG_PATHNAME 0x370d

/* Named properties (ids from 0x8000) carry a GUID and a number or a name first. */
#define PROP_NAMED 0x8000
#define IID_LEN 16

typedef struct tnef_walk {
    att_tnef_fn fn;
    void *arg;
    att_tnef_result_t *res;
    att_tnef_attach_t cur;
    uint32_t codepage; /* attOemCodepage: what 8-bit strings are in; 0 until it is given. */
} tnef_walk_t;

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int att_is_tnef(const unsigned char *d, size_t n)
{
    return n >= 4 && rd32(d) == TNEF_SIGNATURE;
}

static void tnef_damaged(tnef_walk_t *t, const char *why)
{
    if (t->res->damaged == NULL)
        t->res->damaged = why;
}

/* Hands the record to fn when it holds anything, and empties it. */
static int tnef_flush(tnef_walk_t *t)
{
    int rc = 0;

    if (t->cur.name_count > 0 || t->cur.data_count > 0)
        rc = t->fn(t->arg, &t->cur);
    t->cur.name_count = 0;
    t->cur.data_count = 0;
    return rc;
}

/*
 * A record full of names or data blocks is a limit, not a reason to hand it
 * on and start another: each data block is checked against its
 * attachment's names, and a name or block in a record of its own would
 * escape that check ("scan.pdf", four blocks of junk, then the program).
 */
static int tnef_full(tnef_walk_t *t, const char *why)
{
    if (t->res->limit == NULL)
        t->res->limit = why;
    return 0;
}

static int tnef_add_data(tnef_walk_t *t, const unsigned char *p, size_t len)
{
    if (t->res->limit != NULL)
        return 0;
    if (t->cur.data_count == ATT_TNEF_DATA)
        return tnef_full(t, "more data blocks in a TNEF attachment than are read here");
    t->cur.data[t->cur.data_count] = p;
    t->cur.data_len[t->cur.data_count++] = len;
    return 0;
}

/*
 * Adds a UTF-8 name of len bytes, by its end when it is too long (from the
 * first whole character there); an empty one is not added, and a known one
 * only takes on rtlo, which says whether the whole name holds U+202E.
 */
static int tnef_add_utf8(tnef_walk_t *t, const char *s, size_t len, int rtlo)
{
    if (len == 0 || t->res->limit != NULL)
        return 0;
    if (len > ATT_TNEF_NAME_MAX - 1) {
        s += len - (ATT_TNEF_NAME_MAX - 1);
        len = ATT_TNEF_NAME_MAX - 1;
        while (len > 0 && ((unsigned char)*s & 0xc0) == 0x80) {
            s++;
            len--;
        }
    }
    for (size_t i = 0; i < t->cur.name_count; i++) {
        if (strlen(t->cur.names[i]) == len && memcmp(t->cur.names[i], s, len) == 0) {
            t->cur.rtlo[i] |= (unsigned char)(rtlo != 0);
            return 0;
        }
    }
    if (t->cur.name_count == ATT_TNEF_NAMES)
        return tnef_full(t, "more names for a TNEF attachment than are read here");
    memcpy(t->cur.names[t->cur.name_count], s, len);
    t->cur.names[t->cur.name_count][len] = '\0';
    t->cur.rtlo[t->cur.name_count++] = (unsigned char)(rtlo != 0);
    return 0;
}

static size_t tnef_put_utf8(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3f));
    out[2] = (char)(0x80 | (c >> 6 & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* The code unit at i of a string of bytes (wide: UTF-16LE). */
static uint32_t tnef_unit(const unsigned char *p, size_t i, int wide)
{
    return wide ? (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8 : p[i];
}

/* Windows-1252's characters for 0x80-0x9f (0 where it has none: the byte is read as
 * the C1 control of that number, as Windows reads it); the rest is ISO 8859-1. */
static const uint16_t tnef_cp1252[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

/* Whether s[0, n) is UTF-8: no stray or missing continuation bytes, no overlong forms,
 * no surrogates, nothing past U+10FFFF. */
static int tnef_is_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t more = c < 0x80                ? 0
                      : c >= 0xc2 && c < 0xe0 ? 1
                      : c >= 0xe0 && c < 0xf0 ? 2
                      : c >= 0xf0 && c < 0xf5 ? 3
                                              : 4;
        if (more == 4 || n - i - 1 < more)
            return 0;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        }
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return 0;
        i += more + 1;
    }
    return 1;
}

/* Whether 8-bit strings of the stream may be UTF-8: it says so, or it names no code page. */
static int tnef_utf8_page(const tnef_walk_t *t)
{
    return t->codepage == CP_UTF8 || t->codepage == 0;
}

/*
 * Whether a code page keeps ASCII bytes as ASCII characters, and has a dot
 * in no other character: the Windows ANSI and OEM pages, ISO 8859, KOI8,
 * the Mac pages, the EUC and GB pages, UTF-8 (where a double-byte page's
 * second byte may be ASCII, it is never a dot). Not so UTF-7 ("+AC4-" is
 * a dot), EBCDIC (the dot is 0x4b), ISO 2022 and HZ (escapes turn ASCII
 * bytes into other characters), whose 8-bit strings are not read here,
 * though a reader that converts them by the code page shows their names.
 */
static int tnef_page_keeps_ascii(uint32_t cp)
{
    static const uint16_t oem[] = {437,   708,   720,   737,   775,   850,   852,   855,
                                   857,   858,   860,   861,   862,   863,   864,   865,
                                   866,   869,   874,   932,   936,   949,   950,   1361,
                                   20127, 20866, 21866, 38598, 51932, 51936, 51949, 54936};

    if (cp == 0 || cp == CP_UTF8 || (cp >= 1250 && cp <= 1258) || (cp >= 10000 && cp <= 10082) ||
        (cp >= 28591 && cp <= 28606))
        return 1;
    for (size_t i = 0; i < sizeof(oem) / sizeof(oem[0]); i++) {
        if (cp == oem[i])
            return 1;
    }
    return 0;
}

/*
 * Whether b is the no-break space in code page cp, which shows as a blank
 * and so may push a name's last extension out of sight: 0xa0 in the other
 * Windows pages and ISO 8859, 0xff in the DOS ones.
 */
static int tnef_is_nbsp(uint32_t cp, unsigned char b)
{
    static const uint16_t dos[] = {437, 720, 737, 775, 850, 852, 855, 857,
                                   858, 860, 861, 862, 863, 865, 866, 869};

    if (b == 0xa0)
        return cp == 864 || cp == 874 || (cp >= 1250 && cp <= 1258) || (cp >= 28591 && cp <= 28606);
    for (size_t i = 0; b == 0xff && i < sizeof(dos) / sizeof(dos[0]); i++) {
        if (cp == dos[i])
            return 1;
    }
    return 0;
}

/*
 * The character a byte of an 8-bit string stands for in the stream's code
 * page: Windows-1252 (also when the stream names none and the string is no
 * UTF-8, as Outlook writes it for Western languages), ISO 8859-1, or, in
 * any other code page, ASCII and the no-break space only (U+FFFD for the
 * rest: a name's extension is ASCII, and in a page that keeps ASCII no
 * ASCII byte is part of another character but a double-byte page's second
 * byte, which is never a dot).
 */
static uint32_t tnef_8bit_char(const tnef_walk_t *t, unsigned char b)
{
    if (b < 0x80)
        return b;
    if (t->codepage == CP_LATIN1)
        return b;
    if (t->codepage == CP_WINDOWS_1252 || t->codepage == 0)
        return b >= 0xa0 || tnef_cp1252[b - 0x80] == 0 ? b : tnef_cp1252[b - 0x80];
    return tnef_is_nbsp(t->codepage, b) ? 0xa0 : 0xfffd;
}

/*
 * Whether units [0, end) of a string hold U+202E (right-to-left override),
 * its NULs left out: all of them, not only those a shortened name keeps, as
 * the override turns around what follows it wherever it stands. An 8-bit
 * string holds one only when it may be UTF-8 (tnef_utf8_page()).
 */
static int tnef_has_rtlo(const tnef_walk_t *t, const unsigned char *p, size_t end, int wide)
{
    uint32_t last = 0;

    if (!wide && !tnef_utf8_page(t))
        return 0;
    for (size_t i = 0; i < end; i++) {
        uint32_t c = tnef_unit(p, i, wide);
        if (c == 0)
            continue;
        if (wide ? c == 0x202e : (last & 0xffff) == 0xe280 && c == 0xae)
            return 1;
        last = last << 8 | c;
    }
    return 0;
}

/*
 * The bytes of an 8-bit name (raw, n of them, its NULs left out) in UTF-8,
 * into out (room for 3 * n bytes): as they are when the stream's code page
 * may be UTF-8 and they are, from the first whole character (the name may
 * have been cut in one); otherwise each byte as its code page has it.
 */
static size_t tnef_8bit_utf8(const tnef_walk_t *t, const unsigned char *raw, size_t n, char *out)
{
    size_t skip = 0, len = 0;

    while (skip < n && skip < 3 && (raw[skip] & 0xc0) == 0x80)
        skip++;
    if (tnef_utf8_page(t) && tnef_is_utf8(raw + skip, n - skip)) {
        memcpy(out, raw + skip, n - skip);
        return n - skip;
    }
    for (size_t i = 0; i < n; i++)
        len += tnef_put_utf8(out + len, tnef_8bit_char(t, raw[i]));
    return len;
}

/*
 * Adds the name in units [0, end) of a string, without its NULs, by its last
 * ATT_TNEF_NAME_MAX - 1 units at most: enough for the bytes kept.
 */
static int tnef_add_units(tnef_walk_t *t, const unsigned char *p, size_t end, int wide)
{
    char buf[4 * ATT_TNEF_NAME_MAX];
    unsigned char raw[ATT_TNEF_NAME_MAX];
    size_t start = end, kept = 0, len = 0, raw_len = 0;
    int rtlo = tnef_has_rtlo(t, p, end, wide);

    while (start > 0 && kept < ATT_TNEF_NAME_MAX - 1) {
        if (tnef_unit(p, --start, wide) != 0)
            kept++;
    }
    for (size_t i = start; i < end; i++) {
        uint32_t c = tnef_unit(p, i, wide);
        if (c == 0)
            continue;
        if (!wide) {
            raw[raw_len++] = (unsigned char)c;
            continue;
        }
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < end) {
            uint32_t lo = tnef_unit(p, i + 1, wide);
            if (lo >= 0xdc00 && lo < 0xe000) {
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                i++;
            }
        }
        if (c >= 0xd800 && c < 0xe000)
            c = 0xfffd;
        len += tnef_put_utf8(buf + len, c);
    }
    if (!wide) {
        /* What such a name says to a reader that goes by the code page is
         * unknown here: it may end in ".exe" there and in nothing here. */
        if (raw_len > 0 && !tnef_page_keeps_ascii(t->codepage) && t->res->unread == NULL)
            t->res->unread = "an 8-bit name in a code page not read here";
        len = tnef_8bit_utf8(t, raw, raw_len, buf);
    }
    return tnef_add_utf8(t, buf, len, rtlo);
}

/*
 * Adds a string property's name. A reader of C strings stops at the first
 * NUL, a reader that goes by the length may not: when anything follows a
 * NUL, the name without its NULs is added as well.
 */
static int tnef_add_string(tnef_walk_t *t, const unsigned char *p, size_t len, int wide)
{
    size_t units = wide ? len / 2 : len, nul = 0;
    int rc;

    while (nul < units && tnef_unit(p, nul, wide) != 0)
        nul++;
    if ((rc = tnef_add_units(t, p, nul, wide)) != 0)
        return rc;
    for (size_t i = nul; i < units; i++) {
        if (tnef_unit(p, i, wide) != 0)
            return tnef_add_units(t, p, units, wide);
    }
    return 0;
}

/* The size in a property list of one value of a fixed-size type; 0 for another type. */
static size_t tnef_fixed_size(uint32_t type)
{
    switch (type) {
    case 0x0002: /* PtypInteger16 */
    case 0x000b: /* PtypBoolean */
    case 0x0003: /* PtypInteger32 */
    case 0x0004: /* PtypFloating32 */
    case 0x000a: /* PtypErrorCode */
        return 4;
    case 0x0005: /* PtypFloating64 */
    case 0x0006: /* PtypCurrency */
    case 0x0007: /* PtypFloatingTime */
    case 0x0014: /* PtypInteger64 */
    case 0x0040: /* PtypTime */
        return 8;
    case 0x0048: /* PtypGuid */
        return 16;
    default:
        return 0;
    }
}

static int tnef_is_name(uint32_t id)
{
    return id == PR_DISPLAY_NAME || id == PR_ATTACH_EXTENSION || id == PR_ATTACH_FILENAME ||
           id == PR_ATTACH_LONG_FILENAME || id == PR_ATTACH_PATHNAME ||
           id == PR_ATTACH_LONG_PATHNAME;
}

/* One value of a variable-length property: a name, the data, or nothing to look at. */
static int tnef_value(tnef_walk_t *t, uint32_t id, uint32_t type, const unsigned char *v,
                      size_t len)
{
    if (tnef_is_name(id) && (type == PT_STRING8 || type == PT_UNICODE))
        return tnef_add_string(t, v, len, type == PT_UNICODE);
    if (id == PR_ATTACH_DATA && type == PT_BINARY)
        return tnef_add_data(t, v, len);
    if (id == PR_ATTACH_DATA && type == PT_OBJECT) {
        if (len < IID_LEN) {
            tnef_damaged(t, "an attachment object shorter than its interface id");
            return 0;
        }
        return tnef_add_data(t, v + IID_LEN, len - IID_LEN);
    }
    return 0;
}

/* Skips a named property's name: a GUID, then a number or a length and a UTF-16 name. */
static int tnef_skip_prop_name(const unsigned char *p, size_t n, size_t *pos)
{
    uint32_t kind, len;

    if (n - *pos < IID_LEN + 8)
        return -1;
    kind = rd32(p + *pos + IID_LEN);
    *pos += IID_LEN + 4;
    if (kind == 0) {
        *pos += 4;
        return 0;
    }
    if (kind != 1)
        return -1;
    len = rd32(p + *pos);
    *pos += 4;
    if (len > n - *pos)
        return -1;
    *pos += len;
    *pos += (4 - len % 4) % 4 < n - *pos ? (4 - len % 4) % 4 : n - *pos;
    return 0;
}

/*
 * Walks a MAPI property list: a count, then each property's tag, its name
 * when it is a named one, and its values (a count first for a multi-valued
 * or variable-length type; each value padded to four bytes).
 */
static int tnef_props(tnef_walk_t *t, const unsigned char *p, size_t n)
{
    size_t pos = 4;
    uint32_t count;
    int rc;

    if (n < 4) {
        tnef_damaged(t, "a property list without its count");
        return 0;
    }
    count = rd32(p);
    for (uint32_t i = 0; i < count && t->res->limit == NULL; i++) {
        if (i == ATT_TNEF_MAX_PROPERTIES) {
            t->res->limit = "more properties than a TNEF property list may have here";
            return 0;
        }
        if (n - pos < 4) {
            tnef_damaged(t, "a property list cut short");
            return 0;
        }
        uint32_t tag = rd32(p + pos), type = tag & 0xffff & ~(uint32_t)PT_MV, id = tag >> 16;
        int mv = (tag & PT_MV) != 0;
        /* PT_UNSPECIFIED has no size of its own: some readers read it as a
         * variable-length value, others stop. It is read on as the former do,
         * so that no name after it escapes, and is damage all the same. */
        int var = type == PT_STRING8 || type == PT_UNICODE || type == PT_BINARY ||
                  type == PT_OBJECT || type == PT_UNSPECIFIED;
        size_t fixed = tnef_fixed_size(type);
        uint32_t values = 1;

        pos += 4;
        if (id >= PROP_NAMED && tnef_skip_prop_name(p, n, &pos) < 0) {
            tnef_damaged(t, "a named property cut short");
            return 0;
        }
        /* A type of no known size ends the list: nothing frames its value. */
        if (!var && fixed == 0) {
            tnef_damaged(t, "a property of an unknown type");
            return 0;
        }
        if (type == PT_UNSPECIFIED)
            tnef_damaged(t, "a property of an unspecified type");
        if (mv || var) {
            if (n - pos < 4) {
                tnef_damaged(t, "a property list cut short");
                return 0;
            }
            values = rd32(p + pos);
            pos += 4;
        }
        for (uint32_t v = 0; v < values && t->res->limit == NULL; v++) {
            if (v == ATT_TNEF_MAX_PROPERTIES) {
                t->res->limit = "more values than a TNEF property may have here";
                return 0;
            }
            size_t len = fixed;
            if (var) {
                if (n - pos < 4) {
                    tnef_damaged(t, "a property value cut short");
                    return 0;
                }
                len = rd32(p + pos);
                pos += 4;
            }
            if (len > n - pos) {
                /* What is there is still looked at, as a truncated attribute's data is. */
                tnef_damaged(t, "a property value cut short");
                return var ? tnef_value(t, id, type, p + pos, n - pos) : 0;
            }
            if (var && (rc = tnef_value(t, id, type, p + pos, len)) != 0)
                return rc;
            pos += len;
            pos += (4 - len % 4) % 4 < n - pos ? (4 - len % 4) % 4 : n - pos;
        }
    }
    return 0;
}

/* One attribute whose id is `id` and whose data (len bytes) is at p. */
static int tnef_attribute(tnef_walk_t *t, uint32_t id, const unsigned char *p, size_t len)
{
    switch (id) {
    case ATT_REND_DATA:
        return tnef_flush(t);
    case ATT_TITLE:
    case ATT_TRANSPORT_FILENAME:
        return tnef_add_string(t, p, len, 0);
    case ATT_DATA:
        return tnef_add_data(t, p, len);
    case ATT_ATTACHMENT:
        return tnef_props(t, p, len);
    case ATT_OEM_CODEPAGE:
        /* The code page, then a secondary one nothing reads. */
        if (len >= 4)
            t->codepage = rd32(p);
        return 0;
    default:
        return 0;
    }
}

int att_tnef_walk(const unsigned char *d, size_t n, att_tnef_fn fn, void *arg,
                  att_tnef_result_t *res)
{
    /* The signature, then a two-byte key nothing reads. */
    size_t pos = 6, attributes = 0;
    tnef_walk_t t = {fn, arg, res, {.name_count = 0}, 0};
    int rc = 0;

    res->damaged = res->limit = NULL;
    res->checksum = 0;
    res->unread = NULL;
    if (!att_is_tnef(d, n) || n < pos) {
        res->damaged = "not a TNEF stream";
        return 0;
    }
    while (rc == 0 && pos < n && res->limit == NULL) {
        if (++attributes > ATT_TNEF_MAX_ATTRIBUTES) {
            res->limit = "more attributes than a TNEF stream may have here";
            break;
        }
        if (n - pos < 9) {
            tnef_damaged(&t, "an attribute header cut short");
            break;
        }
        unsigned level = d[pos];
        uint32_t id = rd32(d + pos + 1) & 0xffff;
        size_t len = rd32(d + pos + 5), left;
        const unsigned char *body = d + pos + 9;

        pos += 9;
        left = n - pos;
        /* A cut attribute's data is still looked at, as far as it goes. */
        if (len > left || left - len < 2) {
            tnef_damaged(&t, "an attribute cut short");
            rc = tnef_attribute(&t, id, body, len < left ? len : left);
            break;
        }
        uint32_t sum = 0;
        for (size_t i = 0; i < len; i++)
            sum += body[i];
        /* A sum that does not match hides nothing: the lengths still frame
         * the stream, and the walk reads on. */
        if ((sum & 0xffff) != ((uint32_t)body[len] | (uint32_t)body[len + 1] << 8))
            res->checksum = 1;
        if (level != 1 && level != 2)
            tnef_damaged(&t, "an attribute of an unknown level");
        rc = tnef_attribute(&t, id, body, len);
        pos += len + 2;
    }
    if (rc == 0)
        rc = tnef_flush(&t);
    return rc;
}
