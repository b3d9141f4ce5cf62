/*
 * message.c - turns raw mail into the message model that every stage reads.
 *
 * GMime builds the MIME tree over the caller's bytes without copying them;
 * this file walks that tree once, decodes each body into the arena, gathers
 * the text and URLs, and drops every GMime object before it returns.
 */
#include "message.h"
#include "cms.h"
#include "codec.h"
#include "flowed.h"
#include "htmlfile.h"
#include "utf8.h"
#include "xalloc.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <stdbool.h>
#include <string.h>

#define DEFAULT_MAX_SIZE ((size_t)50 * 1024 * 1024)
#define DEFAULT_MAX_DEPTH 30
#define DEFAULT_MAX_PARTS 1000
#define CHARSET_NAME_MAX 40
#define FILENAME_LINE_MAX 1024
#define CTE_WORD_MAX 32
/* "x-yencode", which Thunderbird decodes and GMime does not know: a value
 * outside GMime's encodings, used only inside this file. */
#define ENCODING_YENCODE ((GMimeContentEncoding)(GMIME_CONTENT_ENCODING_UUENCODE + 100))
#define BOUNDS_KEPT 64
#define EWORDS_FIELD_MAX 2000
#define EWORDS_TOTAL_MAX 20000
#define CR_LINES_MAX 10000

/* A heap buffer that grows; used while the text is assembled. */
typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap;
} sbuf_t;

typedef struct parser {
    arena_t *arena;
    message_limits_t lim;
    message_t *m;
    size_t part_cap;
    int parts_full; /* max_parts reached: record nothing more. */
    sbuf_t text;
    sbuf_t scratch; /* One part's text in UTF-8, before HTML reduction. */
    url_set_t urls;
    const char *bounds[BOUNDS_KEPT]; /* The boundaries of the multiparts read. */
    size_t bounds_n;
    int bounds_over;    /* More multiparts than bounds[] holds. */
    size_t html_left;   /* Bytes the files carried in HTML may still decode to. */
    size_t tree_parts;  /* Parts of the MIME trees read that walk() will record... */
    size_t tree_walked; /* ...and of them, those it has come to. */
    int flowed;         /* The leaf being read is format=flowed: 1, or 2 with delsp=yes. */
} parser_t;

/* windows-1252 bytes 0x80-0x9f; the five unassigned ones become U+FFFD. */
static const unsigned short cp1252_c1[32] = {
    0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd, 0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
};

static const unsigned char empty_data[1];

void message_limits_default(message_limits_t *lim)
{
    lim->max_size = DEFAULT_MAX_SIZE;
    lim->max_depth = DEFAULT_MAX_DEPTH;
    lim->max_parts = DEFAULT_MAX_PARTS;
}

void message_init(void)
{
    static int done;
    if (done)
        return;
    g_mime_init();
    done = 1;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */
/* ------------------------------------------------------------------ */

static void sb_reserve(sbuf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void sb_put(sbuf_t *b, const void *s, size_t n)
{
    if (n == 0)
        return;
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static char *lower_dup(arena_t *a, const char *s)
{
    char *d = arena_strdup(a, s);
    for (char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    return d;
}

static void truncate_msg(parser_t *p, const char *why)
{
    if (p->m->truncated == NULL)
        p->m->truncated = why;
}

static unsigned cp1252(unsigned char c)
{
    return (c >= 0x80 && c < 0xa0) ? cp1252_c1[c - 0x80] : c;
}

/*
 * Appends s[0..n) as UTF-8, with CRLF turned into LF and NUL bytes
 * dropped. Valid UTF-8 is kept; any other byte becomes U+FFFD, or, when
 * `fallback_1252` is set, the windows-1252 character it most likely was.
 */
static void put_text(sbuf_t *b, const unsigned char *s, size_t n, int fallback_1252)
{
    sb_reserve(b, n * 3 + 1);
    char *o = b->p + b->len;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80) {
            *o++ = (char)c;
            i++;
        } else if (c < 0x80) {
            if (c != 0 && !(c == '\r' && i + 1 < n && s[i + 1] == '\n'))
                *o++ = (char)c;
            i++;
        } else {
            size_t k = utf8_len(s + i, n - i);
            if (k > 0) {
                memcpy(o, s + i, k);
                o += k;
                i += k;
            } else {
                o += utf8_put(o, fallback_1252 ? cp1252(c) : 0xfffd);
                i++;
            }
        }
    }
    b->len = (size_t)(o - b->p);
}

/* Appends single-byte windows-1252 (and ISO-8859-1, which mailers
 * routinely mislabel it as) converted to UTF-8. */
static void put_1252(sbuf_t *b, const unsigned char *s, size_t n)
{
    sb_reserve(b, n * 3 + 1);
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == 0 || (c == '\r' && i + 1 < n && s[i + 1] == '\n'))
            continue;
        if (c < 0x80)
            *o++ = (char)c;
        else
            o += utf8_put(o, cp1252(c));
    }
    b->len = (size_t)(o - b->p);
}

/* ------------------------------------------------------------------ */
/* Charsets                                                           */
/* ------------------------------------------------------------------ */

enum charset_kind { CS_UNDECLARED, CS_UTF8, CS_1252, CS_OTHER };

static int name_is(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    return 0;
}

/* Charset names reach iconv_open() only when they look like names. */
static int sane_charset(const char *cs)
{
    size_t n = strlen(cs);
    if (n == 0 || n > CHARSET_NAME_MAX)
        return 0;
    return strspn(cs, "abcdefghijklmnopqrstuvwxyz0123456789-_.:") == n;
}

static enum charset_kind charset_kind(const char *cs)
{
    static const char *const utf8[] = {"utf-8", "utf8"};
    static const char *const undeclared[] = {"",        "us-ascii", "ascii",         "x-unknown",
                                             "unknown", "default",  "ansi_x3.4-1968"};
    static const char *const w1252[] = {"iso-8859-1", "iso8859-1",    "iso_8859-1", "latin1",
                                        "l1",         "windows-1252", "cp1252",     "x-cp1252"};
    if (name_is(cs, utf8, 2))
        return CS_UTF8;
    if (name_is(cs, undeclared, sizeof(undeclared) / sizeof(undeclared[0])) || !sane_charset(cs))
        return CS_UNDECLARED;
    if (name_is(cs, w1252, sizeof(w1252) / sizeof(w1252[0])))
        return CS_1252;
    return CS_OTHER;
}

/* Converts with iconv into tmp, replacing bytes it cannot convert;
 * returns -1 when iconv does not know the charset. */
static int iconv_to_utf8(sbuf_t *tmp, const char *cs, const unsigned char *s, size_t n)
{
    iconv_t cd = g_mime_iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return -1;
    char *in = (char *)s;
    size_t left = n;
    for (;;) {
        /* Four output bytes per input byte always suffice, so E2BIG
         * only ever asks for the next round. */
        sb_reserve(tmp, left * 4 + 16);
        char *out = tmp->p + tmp->len;
        size_t room = tmp->cap - tmp->len;
        size_t r =
            left > 0 ? iconv(cd, &in, &left, &out, &room) : iconv(cd, NULL, NULL, &out, &room);
        tmp->len = (size_t)(out - tmp->p);
        if (r != (size_t)-1 && left == 0)
            break;
        if (r == (size_t)-1 && errno == E2BIG)
            continue;
        if (left > 0) {
            /* The round may have filled the buffer to the last byte. */
            sb_reserve(tmp, 4);
            tmp->len += utf8_put(tmp->p + tmp->len, 0xfffd);
            in++;
            left--;
        }
    }
    g_mime_iconv_close(cd);
    return 0;
}

/* Appends a body in charset cs (lower case) to b as UTF-8. */
static void put_charset(sbuf_t *b, const char *cs, const unsigned char *s, size_t n)
{
    switch (charset_kind(cs)) {
    case CS_UTF8:
        put_text(b, s, n, 0);
        return;
    case CS_1252:
        put_1252(b, s, n);
        return;
    case CS_OTHER: {
        /* The conversion goes through its own buffer, which may be b. */
        sbuf_t tmp = {0};
        if (iconv_to_utf8(&tmp, cs, s, n) == 0) {
            put_text(b, (const unsigned char *)tmp.p, tmp.len, 0);
            free(tmp.p);
            return;
        }
        free(tmp.p);
        break;
    }
    case CS_UNDECLARED:
        break;
    }
    put_text(b, s, n, 1);
}

/* ------------------------------------------------------------------ */
/* Transfer encodings                                                 */
/* ------------------------------------------------------------------ */

/*
 * Base64. Blanks are skipped, and so are stray characters outside the
 * alphabet (a '!', a line of dashes), as Thunderbird, Outlook and GMime
 * skip them: the bytes the reader saves are the bytes to scan. Padding ends
 * a quantum; when only base64 follows it, or more base64 follows it on its
 * line (chunks joined after encoding, a known way to hide data from
 * scanners that stop at the first '='), decoding goes on, as Thunderbird
 * does. Anything else after the padding is a footer and is ignored, unless
 * it hides base64 lines (base64_after_footer). A '=' is not skipped like
 * other strays: clients count it as a place in its quantum (Thunderbird,
 * GLib) or stop at it (GMime), so skipping one shifts every byte after it
 * away from what any client saves. The body is not base64, and -1 is
 * returned, when a '=' that cannot pad where it stands has more base64
 * after it, when stray characters are too many for noise (B64_STRAY_SHARE)
 * or when a single sextet dangles at the end: what any decoder makes of it
 * is then unlikely to be what was encoded, and clients may not agree on it.
 */
static bool b64_blank(unsigned char c)
{
    return c == '\n' || c == '\r' || c == ' ' || c == '\t';
}

/* At most one stray character per this many base64 characters is noise. */
#define B64_STRAY_SHARE 8

/* Where the tail of s[0..n) that holds only base64, padding and blanks
 * begins: once, so that every padding can ask in constant time whether
 * only base64 follows it. */
static size_t base64_tail(const unsigned char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && (codec_b64_rev[s[i - 1]] != 0 || s[i - 1] == '=' || b64_blank(s[i - 1])))
        i--;
    return i;
}

/* One past the last base64 letter or digit of s[0..n), 0 when it has none. */
static size_t base64_letters_end(const unsigned char *s, size_t n)
{
    while (n > 0 && codec_b64_rev[s[n - 1]] == 0)
        n--;
    return n;
}

/*
 * Whether a "footer" after the padding hides more base64: a line of at least
 * 40 base64 letters and digits with no more blanks or other characters than
 * stray noise (padding allowed, but a rule of '=' signs counts for
 * nothing). A footer's wording has a blank every few letters. Mail clients
 * that skip what is not base64 would decode such a line; ignoring it would
 * hide it from the scanners.
 */
static bool base64_after_footer(const unsigned char *s, size_t i, size_t n)
{
    size_t run = 0, other = 0;
    for (; i <= n; i++) {
        if (i == n || s[i] == '\n') {
            if (run >= 40 && other * B64_STRAY_SHARE <= run)
                return true;
            run = 0;
            other = 0;
        } else if (codec_b64_rev[s[i]] != 0) {
            run++;
        } else if (s[i] != '=' && s[i] != '\r') {
            other++;
        }
    }
    return false;
}

static unsigned char *flush_quantum(unsigned char *o, unsigned long acc, int q)
{
    if (q == 2)
        *o++ = (unsigned char)(acc >> 4);
    if (q == 3) {
        *o++ = (unsigned char)(acc >> 10);
        *o++ = (unsigned char)(acc >> 2);
    }
    return o;
}

/* Where the padding that starts with the '=' at s[i] ends, q sextets of
 * its quantum read: one past its last '=' (one '=' after three sextets, two
 * after two, blanks allowed between them), or 0 when the '=' pads nothing
 * there and is a stray. */
static size_t b64_padding_end(const unsigned char *s, size_t i, size_t n, int q)
{
    if (q == 3)
        return i + 1;
    if (q != 2)
        return 0;
    size_t j = i + 1;
    while (j < n && b64_blank(s[j]))
        j++;
    return j < n && s[j] == '=' ? j + 1 : 0;
}

/*
 * Whether base64 goes on right after the padding that ends at s[end], on
 * the same line ("QUI=QUJD"): chunks encoded apart and joined. The data has
 * not ended there. Thunderbird decodes on, its quanta falling where ours do,
 * and GMime stops, saving a part of what Thunderbird saves; decoding on
 * keeps the longer file, so that what follows (up to a footer, if any)
 * reaches the scanners as Thunderbird saves it, instead of the rest of the
 * line being taken for base64 hidden behind a footer.
 */
static bool b64_data_goes_on(const unsigned char *s, size_t end, size_t n)
{
    return end > 0 && end < n && codec_b64_rev[s[end]] != 0;
}

/*
 * Base64 as Thunderbird saves it (mime_decode_base64_token): every
 * character outside the alphabet but '=' is skipped, and each group of
 * four places is decoded whole, a '=' standing for six zero bits wherever
 * it is, into three bytes less one per '=' it holds, at least one ("=QUJ"
 * gives two bytes, "====" one). Decoding goes on after a padded group to
 * the end of the body, and a group left unfinished there is saved as it
 * stands, padded with '=' (not decoded), unless it begins with '='. out
 * holds n / 4 * 3 + 4 bytes.
 */
static size_t decode_base64_groups(const unsigned char *s, size_t n, unsigned char *out)
{
    unsigned char *o = out, group[4];
    unsigned long acc = 0;
    int places = 0, pads = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = codec_b64_rev[s[i]];
        if (v == 0 && s[i] != '=')
            continue;
        group[places] = s[i];
        acc = (acc << 6) | (v != 0 ? v - 1 : 0);
        pads += v == 0;
        if (++places == 4) {
            *o++ = (unsigned char)(acc >> 16);
            if (pads < 2)
                *o++ = (unsigned char)(acc >> 8);
            if (pads < 1)
                *o++ = (unsigned char)acc;
            acc = 0;
            places = pads = 0;
        }
    }
    if (places > 0 && group[0] != '=') {
        memcpy(o, group, (size_t)places);
        memset(o + places, '=', (size_t)(4 - places));
        o += 4;
    }
    return (size_t)(o - out);
}

/* Decodes s[0..n) into out (n / 4 * 3 + 3 bytes); *stop gets where a
 * footer after the padding began, or n. 0, or -1: not base64. */
static int decode_base64(const unsigned char *s, size_t n, unsigned char *out, size_t *out_len,
                         size_t *stop)
{
    *stop = n;
    unsigned char *o = out;
    unsigned long acc = 0;
    int q = 0;
    size_t letters = 0, strays = 0;
    int pad_left = 0; /* The '=' a pair of padding still owes. */
    size_t tail = base64_tail(s, n), end = base64_letters_end(s, n);
    for (size_t i = 0; i < n; i++) {
        unsigned v = codec_b64_rev[s[i]];
        if (v != 0) {
            letters++;
            acc = (acc << 6) | (v - 1);
            if (++q == 4) {
                *o++ = (unsigned char)(acc >> 16);
                *o++ = (unsigned char)(acc >> 8);
                *o++ = (unsigned char)acc;
                acc = 0;
                q = 0;
            }
        } else if (s[i] == '=' && q == 0 && pad_left > 0) {
            pad_left--; /* The second '=' of a pair. */
        } else if (s[i] == '=') {
            size_t pad_end = b64_padding_end(s, i, n, q);
            bool pads = pad_end > 0;
            /* Inside the data: clients do not agree on what it stands for. */
            if (q == 1 || (!pads && i + 1 >= tail && i + 1 < end))
                return -1;
            pad_left = pads && q == 2;
            o = flush_quantum(o, acc, q);
            acc = 0;
            q = 0;
            if (i + 1 < tail && !b64_data_goes_on(s, pad_end, n)) {
                if (base64_after_footer(s, i + 1, n))
                    return -1;
                *stop = i + 1;
                break;
            }
        } else if (!b64_blank(s[i])) {
            strays++;
        }
    }
    if (q == 1 || strays * B64_STRAY_SHARE > letters)
        return -1;
    o = flush_quantum(o, acc, q);
    *out_len = (size_t)(o - out);
    return 0;
}

/* Quoted-printable; it cannot fail: anything that is not an escape or a
 * soft line break is kept as it is. Trailing blanks on a line are padding
 * added in transit and are dropped. */
static size_t decode_qp(const unsigned char *s, size_t n, unsigned char *out)
{
    unsigned char *o = out;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == ' ' || c == '\t') {
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            int eol = j == n || s[j] == '\n' || (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n');
            if (!eol) {
                memcpy(o, s + i, j - i);
                o += j - i;
            }
            i = j;
        } else if (c != '=') {
            *o++ = c;
            i++;
        } else if (i + 2 < n && codec_hex_value(s[i + 1]) >= 0 && codec_hex_value(s[i + 2]) >= 0) {
            *o++ = (unsigned char)(codec_hex_value(s[i + 1]) * 16 + codec_hex_value(s[i + 2]));
            i += 3;
        } else {
            size_t j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t'))
                j++;
            /* A soft line break ends in LF, CRLF or a CR alone: Thunderbird
             * takes "=" and a CR for one whatever follows, so a file broken
             * at lone CRs is what it saves. */
            if (j < n && s[j] == '\r')
                i = (j + 1 < n && s[j + 1] == '\n') ? j + 2 : j + 1;
            else if (j < n && s[j] == '\n')
                i = j + 1;
            else if (j == n)
                i = n;
            else
                *o++ = s[i++];
        }
    }
    return (size_t)(o - out);
}

/* The line at s[*pos..n): sets [*ls, *le) without its line end and moves
 * *pos past it. Returns 0 at the end of input. */
static int next_line(const unsigned char *s, size_t n, size_t *pos, size_t *ls, size_t *le)
{
    if (*pos >= n)
        return 0;
    *ls = *pos;
    const unsigned char *nl = memchr(s + *pos, '\n', n - *pos);
    size_t e = nl ? (size_t)(nl - s) : n;
    *pos = nl ? e + 1 : n;
    if (e > *ls && s[e - 1] == '\r')
        e--;
    *le = e;
    return 1;
}

/* "begin 644 name": returns the offset of the name, or 0 when the line at
 * s[ls..le) is not a begin line. */
static size_t uu_begin(const unsigned char *s, size_t ls, size_t le)
{
    if (le - ls < 10 || memcmp(s + ls, "begin ", 6) != 0)
        return 0;
    size_t i = ls + 6;
    size_t digits = 0;
    while (i < le && s[i] >= '0' && s[i] <= '7') {
        i++;
        digits++;
    }
    if (digits < 3 || digits > 4 || i >= le || s[i] != ' ' || i + 1 >= le)
        return 0;
    return i + 1;
}

/* Bytes a uuencoded block of n input bytes may decode to. Lines whose
 * stripped blanks read as zeros may claim more than they carry, but a
 * block of "M" lines claiming 45 bytes each is not a file: it would only
 * make the parser allocate 22 times the message. */
static size_t uu_bound(size_t n)
{
    return 2 * n + 4096;
}

/*
 * Decodes uuencoded lines from s[*pos..n) up to the "end" line into out,
 * or with out NULL only counts the bytes: a line's first character says how
 * many it holds, up to 45 from a line of two bytes, so the decoded size
 * cannot be bounded by the input's and callers count first. Returns 1 when
 * the "end" line was found, 0 when the data ran out first, -1 when a line
 * is not uuencoded. *pos ends after the last line read; *out_len is the
 * count.
 */
static int uu_lines(const unsigned char *s, size_t n, size_t *pos, unsigned char *out,
                    size_t *out_len)
{
    size_t ls, le, o = 0;
    while (next_line(s, n, pos, &ls, &le)) {
        if (le - ls >= 3 && memcmp(s + ls, "end", 3) == 0) {
            *out_len = o;
            return 1;
        }
        if (le == ls)
            continue;
        size_t want = (s[ls] - 32u) & 63u;
        for (size_t i = ls; i < le; i++)
            if (s[i] < 0x20 || s[i] > 0x60)
                return -1;
        /* Some encoders strip trailing blanks, so a short line counts
         * its missing characters as zeros. */
        size_t i = ls + 1;
        for (size_t got = 0; got < want; got += 3, i += 4) {
            unsigned v[4];
            for (size_t k = 0; k < 4; k++)
                v[k] = i + k < le ? ((s[i + k] - 32u) & 63u) : 0;
            unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
                                  (unsigned char)(v[1] << 4 | v[2] >> 2),
                                  (unsigned char)(v[2] << 6 | v[3])};
            size_t k = want - got < 3 ? want - got : 3;
            if (out != NULL)
                memcpy(out + o, b, k);
            o += k;
        }
    }
    *out_len = o;
    return 0;
}

/*
 * "=ybegin line=128 size=68 name=file": returns the offset of the name, or
 * 0 when the line at s[ls..le) is not a yEnc begin line. Thunderbird wants
 * "line=" and "size=" before the name; a line with other parameters
 * ("part=") is taken too, since reading more blocks as files only gives
 * the stages more to scan.
 */
static size_t yenc_begin(const unsigned char *s, size_t ls, size_t le)
{
    if (le - ls < 8 || memcmp(s + ls, "=ybegin ", 8) != 0)
        return 0;
    const unsigned char *name = memmem(s + ls, le - ls, " name=", 6);
    return name != NULL && name + 6 < s + le ? (size_t)(name - s) + 6 : 0;
}

/*
 * Decodes yEnc lines from s[*pos..n) up to a "=yend" line, or to the end
 * as Thunderbird does when there is none, into out, which has room for
 * n - *pos bytes (yEnc never decodes to more). Line ends are no data; "="
 * escapes the next byte. *pos ends after the last line read; returns the
 * count.
 */
static size_t yenc_lines(const unsigned char *s, size_t n, size_t *pos, unsigned char *out)
{
    size_t ls, le, o = 0;
    while (next_line(s, n, pos, &ls, &le)) {
        if (le - ls >= 5 && memcmp(s + ls, "=yend", 5) == 0)
            break;
        for (size_t i = ls; i < le; i++) {
            unsigned char c = s[i];
            if (c == '\r')
                continue; /* A line end to Thunderbird, not data. */
            if (c == '=' && ++i == le)
                break;
            if (c == '=')
                c = (unsigned char)(s[i] - 64);
            out[o++] = (unsigned char)(c - 42);
        }
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* Headers                                                            */
/* ------------------------------------------------------------------ */

/* Bytes before the blank line that ends the header block; all of them
 * when there is no blank line (a message without a body). */
static size_t header_block_len(const char *s, size_t n)
{
    if (n > 0 && (s[0] == '\n' || (n > 1 && s[0] == '\r' && s[1] == '\n')))
        return 0;
    const char *end = s + n;
    const char *nl = memchr(s, '\n', n);
    while (nl != NULL) {
        const char *q = nl + 1;
        if (q < end && (*q == '\n' || (*q == '\r' && q + 1 < end && q[1] == '\n')))
            return (size_t)(q - s);
        nl = memchr(q, '\n', (size_t)(end - q));
    }
    return n;
}

/* A field name: no blanks inside, no control characters; blanks may come
 * before the ':'. Returns the name's length, 0 when it is not a field. */
static size_t field_name_len(const char *s, size_t n, size_t *colon)
{
    size_t i = 0;
    while (i < n && s[i] != ':' && s[i] != ' ' && s[i] != '\t' && (unsigned char)s[i] > 0x20 &&
           s[i] != 0x7f)
        i++;
    size_t name = i;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (name == 0 || i >= n || s[i] != ':')
        return 0;
    *colon = i;
    return name;
}

/* An RFC 2047 encoded word: "=?charset?B?text?=" or with Q. */
typedef struct eword {
    char charset[CHARSET_NAME_MAX + 1]; /* Lower case, RFC 2231 language dropped. */
    char enc;                           /* 'b' or 'q'. */
    const char *text;
    size_t len;
    const char *end; /* Just after the "?=". */
} eword_t;

/* Reads the encoded word at s, which starts with "=?"; 0 when it is none. */
static int eword_parse(const char *s, eword_t *w)
{
    const char *cs = s + 2;
    const char *q = strchr(cs, '?');
    if (q == NULL || q == cs || q[1] == '\0' || q[2] != '?')
        return 0;
    size_t cslen = strcspn(cs, "*?");
    if (cslen > CHARSET_NAME_MAX)
        return 0;
    for (size_t i = 0; i < cslen; i++)
        w->charset[i] = (char)(cs[i] >= 'A' && cs[i] <= 'Z' ? cs[i] + 32 : cs[i]);
    w->charset[cslen] = '\0';
    w->enc = (char)(q[1] | 0x20);
    if (w->enc != 'b' && w->enc != 'q')
        return 0;
    /* The text holds no '?' and no blank, so the scan stops before the
     * next word's "=?" and the whole value is read in linear time. */
    w->text = q + 3;
    const char *e = w->text + strcspn(w->text, "? \t");
    if (e[0] != '?' || e[1] != '=')
        return 0;
    w->len = (size_t)(e - w->text);
    w->end = e + 2;
    return 1;
}

/* Appends the bytes word w stands for to run; 0 when its base64 is bad. */
static int eword_bytes(const eword_t *w, sbuf_t *run)
{
    sb_reserve(run, w->len + 3);
    unsigned char *o = (unsigned char *)run->p + run->len;
    const unsigned char *t = (const unsigned char *)w->text;
    if (w->enc == 'b') {
        size_t n;
        size_t stop;
        if (decode_base64(t, w->len, o, &n, &stop) < 0)
            return 0;
        run->len += n;
        return 1;
    }
    for (size_t i = 0; i < w->len; i++) {
        if (t[i] == '_') {
            *o++ = ' ';
        } else if (t[i] == '=' && i + 2 < w->len && codec_hex_value(t[i + 1]) >= 0 &&
                   codec_hex_value(t[i + 2]) >= 0) {
            *o++ = (unsigned char)(codec_hex_value(t[i + 1]) * 16 + codec_hex_value(t[i + 2]));
            i += 2;
        } else {
            *o++ = t[i];
        }
    }
    run->len = (size_t)((char *)o - run->p);
    return 1;
}

/*
 * Decodes the encoded words of an unfolded field value into out as UTF-8.
 * The bytes of adjacent words in one charset are joined before they are
 * converted, as Thunderbird does: a character split between two words
 * (some mailers split long Subjects so) is read whole, not as two
 * replacement characters that would hide the word it is in from the
 * rules. Blanks between encoded words are dropped; other text is kept.
 */
static void decode_words(sbuf_t *out, const char *v)
{
    sbuf_t run = {0};
    char run_cs[CHARSET_NAME_MAX + 1] = "";
    const char *p = v;
    while (*p != '\0') {
        eword_t w;
        if (p[0] == '=' && p[1] == '?' && eword_parse(p, &w)) {
            if (strcmp(run_cs, w.charset) != 0) {
                put_charset(out, run_cs, (const unsigned char *)run.p, run.len);
                run.len = 0;
                memcpy(run_cs, w.charset, sizeof(run_cs));
            }
            if (eword_bytes(&w, &run)) {
                const char *q = w.end + strspn(w.end, " \t");
                eword_t next;
                p = q[0] == '=' && q[1] == '?' && eword_parse(q, &next) ? q : w.end;
                continue;
            }
        }
        put_charset(out, run_cs, (const unsigned char *)run.p, run.len);
        run.len = 0;
        size_t k = 1 + strcspn(p + 1, "=");
        put_text(out, (const unsigned char *)p, k, 1);
        p += k;
    }
    put_charset(out, run_cs, (const unsigned char *)run.p, run.len);
    free(run.p);
}

/* Unfolds and decodes one field value into the arena. */
static const char *header_value(parser_t *p, const char *v, size_t n)
{
    char *d = arena_alloc(p->arena, n + 1);
    size_t len = 0;
    int plain = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\r' || c == '\n' || c == 0)
            continue;
        if (len == 0 && (c == ' ' || c == '\t'))
            continue;
        if (c >= 0x80 || (c == '?' && len > 0 && d[len - 1] == '='))
            plain = 0;
        d[len++] = (char)c;
    }
    while (len > 0 && (d[len - 1] == ' ' || d[len - 1] == '\t'))
        len--;
    d[len] = '\0';
    if (plain)
        return d;
    sbuf_t b = {0};
    decode_words(&b, d);
    const char *r = arena_strndup(p->arena, b.p ? b.p : "", b.len);
    free(b.p);
    return r;
}

static void add_header(parser_t *p, size_t *cap, const char *name, size_t nlen, const char *v,
                       size_t vlen)
{
    message_t *m = p->m;
    if (m->header_count == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        message_header_t *h = arena_alloc(p->arena, *cap * sizeof(*h));
        if (m->header_count > 0)
            memcpy(h, m->headers, m->header_count * sizeof(*h));
        m->headers = h;
    }
    message_header_t *h = &m->headers[m->header_count++];
    h->name = arena_strndup(p->arena, name, nlen);
    h->value = header_value(p, v, vlen);
}

/*
 * Splits the raw header block into fields, in order. Lines that are
 * neither a field nor a continuation (an mbox "From " line) are skipped.
 *
 * GMime skips such a line too, in a part's header as in the message's, and
 * reads the fields after it, so this list and the MIME tree agree. Mail with
 * one is not flagged: a reader that ends the header at that line instead
 * (as Python's email package does) shows the rest as plain text, with no
 * part or file in it that the scanners, decoding the parts GMime finds,
 * would miss. Flagging it would quarantine mail from sloppy mailers for
 * nothing hidden.
 */
static void parse_headers(parser_t *p, const char *s, size_t n)
{
    size_t cap = 0, pos = 0, ls, le;
    const char *name = NULL;
    size_t nlen = 0, vstart = 0, vend = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (next_line(u, n, &pos, &ls, &le)) {
        if (name != NULL && le > ls && (s[ls] == ' ' || s[ls] == '\t')) {
            vend = le;
            continue;
        }
        if (name != NULL)
            add_header(p, &cap, name, nlen, s + vstart, vend - vstart);
        name = NULL;
        size_t colon;
        nlen = field_name_len(s + ls, le - ls, &colon);
        if (nlen > 0) {
            name = s + ls;
            vstart = ls + colon + 1;
            vend = le;
        }
    }
    if (name != NULL)
        add_header(p, &cap, name, nlen, s + vstart, vend - vstart);
}

const char *message_header(const message_t *m, const char *name, size_t n)
{
    for (size_t i = 0; i < m->header_count; i++)
        if (strcasecmp(m->headers[i].name, name) == 0 && n-- == 0)
            return m->headers[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Addresses                                                          */
/* ------------------------------------------------------------------ */

static const char *first_mailbox(InternetAddressList *l)
{
    int n = l ? internet_address_list_length(l) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *a = internet_address_list_get_address(l, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a))
            return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        const char *r =
            first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
        if (r != NULL)
            return r;
    }
    return NULL;
}

/* Appends the mailboxes of l (groups flattened) to out, or counts them
 * when out is NULL. Groups do not nest, so this recurses once at most. */
static size_t mailboxes(InternetAddressList *l, arena_t *a, const char **out, size_t k)
{
    int n = l ? internet_address_list_length(l) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(l, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            k = mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), a, out,
                          k);
            continue;
        }
        if (out != NULL)
            out[k] =
                arena_strdup(a, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
        k++;
    }
    return k;
}

static void addresses(parser_t *p, GMimeMessage *gm)
{
    message_t *m = p->m;
    const char *from = gm ? first_mailbox(g_mime_message_get_from(gm)) : NULL;
    m->from = arena_strdup(p->arena, from ? from : "");
    InternetAddressList *to = gm ? g_mime_message_get_to(gm) : NULL;
    InternetAddressList *cc = gm ? g_mime_message_get_cc(gm) : NULL;
    size_t n = mailboxes(to, p->arena, NULL, 0);
    n = mailboxes(cc, p->arena, NULL, n);
    const char **v = arena_alloc(p->arena, (n + 1) * sizeof(*v));
    size_t k = mailboxes(to, p->arena, v, 0);
    mailboxes(cc, p->arena, v, k);
    v[n] = NULL;
    m->to = v;
}

/* ------------------------------------------------------------------ */
/* Parts                                                              */
/* ------------------------------------------------------------------ */

/* Records a new part; returns its index, or -1 past max_parts. */
static long add_part(parser_t *p, long parent, unsigned depth)
{
    message_t *m = p->m;
    if (p->parts_full || m->part_count >= p->lim.max_parts) {
        if (!p->parts_full)
            truncate_msg(p, arena_printf(p->arena, "more than %zu MIME parts", p->lim.max_parts));
        p->parts_full = 1;
        return -1;
    }
    if (m->part_count == p->part_cap) {
        p->part_cap = p->part_cap ? p->part_cap * 2 : 8;
        smf_part_t *v = arena_alloc(p->arena, p->part_cap * sizeof(*v));
        if (m->part_count > 0)
            memcpy(v, m->parts, m->part_count * sizeof(*v));
        m->parts = v;
    }
    smf_part_t *pt = &m->parts[m->part_count];
    memset(pt, 0, sizeof(*pt));
    pt->index = m->part_count;
    pt->parent = parent;
    pt->depth = depth;
    pt->content_type = "text/plain";
    pt->filename = "";
    pt->other_filename = "";
    pt->charset = "";
    pt->data = empty_data;
    return (long)m->part_count++;
}

/* Whether the children of a part at `depth` may be recorded. */
static int may_descend(parser_t *p, unsigned depth)
{
    if (depth + 1 <= p->lim.max_depth)
        return 1;
    truncate_msg(p, arena_printf(p->arena, "MIME nesting deeper than %u", p->lim.max_depth));
    return 0;
}

static const char *utf8_dup(parser_t *p, const char *s)
{
    sbuf_t b = {0};
    put_text(&b, (const unsigned char *)s, strlen(s), 1);
    const char *r = arena_strndup(p->arena, b.p ? b.p : "", b.len);
    free(b.p);
    return r;
}

/*
 * s with every "%00" left out, in the arena, so that decoding it gives the
 * name with its NULs dropped. What is left before a "%00" must not become
 * an escape with what follows it ("a%%0000" is "a%", a NUL and "00", not
 * "a%00" decoded again), so a '%' there that began no escape is written
 * "%25". The result is never longer than s.
 */
static char *without_pct00(arena_t *a, const char *s)
{
    char *d = arena_strdup(a, s);
    char *o = d;
    for (const char *q = s; *q != '\0';) {
        if (!(q[0] == '%' && q[1] == '0' && q[2] == '0')) {
            *o++ = *q++;
            continue;
        }
        q += 3;
        char *pct = NULL;
        if (o - d >= 1 && o[-1] == '%')
            pct = o - 1;
        else if (o - d >= 2 && o[-2] == '%' && codec_hex_value((unsigned char)o[-1]) >= 0)
            pct = o - 2;
        if (pct != NULL) {
            memmove(pct + 3, pct + 1, (size_t)(o - pct - 1));
            pct[1] = '2';
            pct[2] = '5';
            o += 2;
        }
    }
    *o = '\0';
    return d;
}

/* The raw value of the last field named name, the one GMime keeps. */
static const char *last_field(GMimeHeaderList *hl, const char *name)
{
    for (int i = hl ? g_mime_header_list_get_count(hl) - 1 : -1; i >= 0; i--) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *n = h ? g_mime_header_get_name(h) : NULL;
        if (n != NULL && strcasecmp(n, name) == 0)
            return g_mime_header_get_raw_value(h);
    }
    return NULL;
}

/*
 * A parameter of the named field, read again without its "%00" escapes. An
 * RFC 2231 value ("filename*=utf-8''a%00.pdf.exe") decodes to a NUL that
 * ends GMime's string: the stages would see "a", while a client that keeps
 * the rest, or drops the NUL, saves "a.pdf.exe". Leaving the NUL out, as
 * header values drop it, keeps the real extension in sight. NULL when the
 * field holds no "%00" or names no such parameter.
 */
static const char *param_without_nul(parser_t *p, GMimeObject *obj, const char *field,
                                     const char *param)
{
    const char *raw = last_field(g_mime_object_get_header_list(obj), field);
    if (raw == NULL || strstr(raw, "%00") == NULL)
        return NULL;
    const char *clean = without_pct00(p->arena, raw);
    GMimeParserOptions *opt = g_mime_parser_options_get_default();
    const char *v = NULL;
    if (strcasecmp(field, "Content-Type") == 0) {
        GMimeContentType *ct = g_mime_content_type_parse(opt, clean);
        v = ct ? g_mime_content_type_get_parameter(ct, param) : NULL;
        v = v ? arena_strdup(p->arena, v) : NULL;
        if (ct != NULL)
            g_object_unref(ct);
    } else {
        GMimeContentDisposition *d = g_mime_content_disposition_parse(opt, clean);
        v = d ? g_mime_content_disposition_get_parameter(d, param) : NULL;
        v = v ? arena_strdup(p->arena, v) : NULL;
        if (d != NULL)
            g_object_unref(d);
    }
    return v;
}

/* The file name as GMime reads it, unless a "%00" cut it short there. A
 * "%00" left in GMime's name does not show that nothing was cut: "%2500"
 * decodes to one before a real "%00" ends the name. */
static const char *part_param(parser_t *p, GMimeObject *obj, const char *field, const char *param,
                              const char *fn)
{
    if (fn == NULL)
        return fn;
    const char *whole = param_without_nul(p, obj, field, param);
    return whole != NULL && strlen(whole) > strlen(fn) ? whole : fn;
}

/* Type, charset, file name and the attachment flag, from the headers.
 * Returns whether Content-Disposition says "attachment". */
static int describe(parser_t *p, long idx, GMimeObject *obj)
{
    smf_part_t *pt = &p->m->parts[idx];
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *type = ct ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
    char *t = arena_printf(p->arena, "%s/%s", type ? type : "text", sub ? sub : "plain");
    pt->content_type = lower_dup(p->arena, t);
    const char *cs = ct ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
    pt->charset = cs ? lower_dup(p->arena, cs) : "";
    const char *fn = part_param(p, obj, "Content-Disposition", "filename",
                                g_mime_object_get_content_disposition_parameter(obj, "filename"));
    const char *name = part_param(p, obj, "Content-Type", "name",
                                  g_mime_object_get_content_type_parameter(obj, "name"));
    /* An empty filename= names nothing: clients fall back to name=. */
    if (fn != NULL && fn[0] == '\0')
        fn = NULL;
    if (fn != NULL)
        pt->filename = utf8_dup(p, fn);
    else if (name != NULL)
        pt->filename = utf8_dup(p, name);
    /* Clients differ in which of two names they save under (some take
     * name=, some filename=): the stages see both. */
    if (fn != NULL && name != NULL) {
        const char *other = utf8_dup(p, name);
        if (strcmp(other, pt->filename) != 0)
            pt->other_filename = other;
    }
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
    int attach = d != NULL && g_mime_content_disposition_is_attachment(d);
    if (attach || pt->filename[0] != '\0')
        pt->flags |= SMF_PART_ATTACHMENT;
    return attach;
}

/* The encoded body of a leaf. It points into the caller's buffer when the
 * parser kept the content as a window on it, which is the usual case;
 * otherwise it is read into *heap. */
static const unsigned char *encoded_body(GMimeStream *st, size_t *len, sbuf_t *heap)
{
    *len = 0;
    if (st == NULL)
        return empty_data;
    g_mime_stream_reset(st);
    if (GMIME_IS_STREAM_MEM(st)) {
        GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
        gint64 start = g_mime_stream_tell(st);
        gint64 n = g_mime_stream_length(st);
        if (ba != NULL && start >= 0 && n >= 0 && (guint64)(start + n) <= ba->len) {
            *len = (size_t)n;
            return ba->data + start;
        }
    }
    char buf[8192];
    ssize_t r;
    while ((r = g_mime_stream_read(st, buf, sizeof(buf))) > 0)
        sb_put(heap, buf, (size_t)r);
    *len = heap->len;
    return heap->len ? (const unsigned char *)heap->p : empty_data;
}

static void set_data(parser_t *p, long idx, const unsigned char *d, size_t n)
{
    p->m->parts[idx].data = n ? d : empty_data;
    p->m->parts[idx].size = n;
}

static void set_raw(parser_t *p, long idx, const unsigned char *s, size_t n, int undecoded)
{
    set_data(p, idx, arena_memdup(p->arena, s, n), n);
    if (undecoded)
        p->m->parts[idx].flags |= SMF_PART_UNDECODED;
}

/* A uuencoded body: text before "begin" is ignored; the name on the begin
 * line is the file name unless the headers gave one, and else its other
 * name, which a client may save it under as well. */
static void decode_uu_part(parser_t *p, long idx, const unsigned char *s, size_t n)
{
    size_t pos = 0, ls, le, name = 0;
    while (name == 0 && next_line(s, n, &pos, &ls, &le))
        name = uu_begin(s, ls, le);
    size_t len = 0, probe = pos;
    if (name == 0 || uu_lines(s, n, &probe, NULL, &len) < 0 || len > uu_bound(n)) {
        set_raw(p, idx, s, n, 1);
        return;
    }
    unsigned char *out = arena_alloc(p->arena, len + 1);
    uu_lines(s, n, &pos, out, &len);
    set_data(p, idx, out, len);
    smf_part_t *pt = &p->m->parts[idx];
    if (le - name >= FILENAME_LINE_MAX)
        return;
    const char *fn = utf8_dup(p, arena_strndup(p->arena, (const char *)s + name, le - name));
    if (pt->filename[0] == '\0') {
        pt->filename = fn;
        pt->flags |= SMF_PART_ATTACHMENT;
    } else if (pt->other_filename[0] == '\0' && strcmp(fn, pt->filename) != 0) {
        pt->other_filename = fn;
    }
}

/* Another reading of the leaf idx, as some mail client saves it: a child
 * part of the same type and name, which every stage scans; add_variant()
 * gives it out[0..len). It is not text, so the text stages do not read the
 * body twice. -1 past the depth or part cap. */
static long add_variant_part(parser_t *p, long idx)
{
    const smf_part_t *pt = &p->m->parts[idx];
    if (!may_descend(p, pt->depth))
        return -1;
    long c = add_part(p, idx, pt->depth + 1);
    if (c < 0)
        return -1;
    smf_part_t *pp = &p->m->parts[idx], *cp = &p->m->parts[c];
    cp->content_type = pp->content_type;
    cp->filename = pp->filename;
    cp->other_filename = pp->other_filename;
    cp->flags = (pp->flags & SMF_PART_ATTACHMENT) | SMF_PART_DERIVED;
    return c;
}

static long add_variant(parser_t *p, long idx, const unsigned char *out, size_t len)
{
    long c = add_variant_part(p, idx);
    if (c >= 0)
        set_data(p, c, out, len);
    return c;
}

/*
 * A base64 body with text after its padding: GMime, like the decoder above,
 * stops at the padding and keeps the text as a footer, but Thunderbird
 * decodes on to the end, so what it saves can hold a whole file the other
 * readers never show (short lines after "QUI=" and a "-- " line). Whenever
 * the footer adds anything to what it saves, that longer version becomes a
 * child part of the same type and name, so that every stage scans both:
 * however few bytes it adds, they may finish a file or a pattern that the
 * data before the padding starts. It is not text (its tail is the footer
 * decoded as base64), so the text stages do not read the body twice.
 */
static void add_base64_footer_variant(parser_t *p, long idx, const unsigned char *s, size_t n,
                                      size_t stop)
{
    size_t i = stop;
    while (i < n && codec_b64_rev[s[i]] == 0 && s[i] != '=')
        i++;
    if (i == n)
        return; /* Nothing there that a client decodes. */
    unsigned char *out = arena_alloc(p->arena, n / 4 * 3 + 4);
    size_t len = decode_base64_groups(s, n, out);
    const smf_part_t *pt = &p->m->parts[idx];
    if (len == pt->size && (len == 0 || memcmp(out, pt->data, len) == 0))
        return; /* The footer adds nothing to what is saved. */
    add_variant(p, idx, out, len);
}

/*
 * A body sent "x-yencode", which Thunderbird decodes from its "=ybegin"
 * line on, while GMime and other readers take the encoding for an unknown
 * one and show the bytes as written: the part keeps those, and the file
 * Thunderbird saves becomes a child part of the same type and name, so
 * that every stage scans both.
 */
static void add_yenc_variant(parser_t *p, long idx, const unsigned char *s, size_t n)
{
    size_t pos = 0, ls, le, name = 0;
    while (name == 0 && next_line(s, n, &pos, &ls, &le))
        name = yenc_begin(s, ls, le);
    if (name == 0)
        return; /* Thunderbird saves nothing. */
    unsigned char *out = arena_alloc(p->arena, n - pos + 1);
    add_variant(p, idx, out, yenc_lines(s, n, &pos, out));
}

static void decode_body(parser_t *p, long idx, GMimeContentEncoding enc, const unsigned char *s,
                        size_t n)
{
    unsigned char *out;
    size_t len, stop;
    if (enc == ENCODING_YENCODE) {
        set_raw(p, idx, s, n, 0);
        add_yenc_variant(p, idx, s, n);
        return;
    }
    switch (enc) {
    case GMIME_CONTENT_ENCODING_BASE64:
        out = arena_alloc(p->arena, n / 4 * 3 + 3);
        if (decode_base64(s, n, out, &len, &stop) == 0) {
            set_data(p, idx, out, len);
            add_base64_footer_variant(p, idx, s, n, stop);
        } else {
            set_raw(p, idx, s, n, 1);
        }
        return;
    case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
        out = arena_alloc(p->arena, n + 1);
        set_data(p, idx, out, decode_qp(s, n, out));
        return;
    case GMIME_CONTENT_ENCODING_UUENCODE:
        decode_uu_part(p, idx, s, n);
        return;
    default:
        set_raw(p, idx, s, n, 0);
    }
}

/* ------------------------------------------------------------------ */
/* Text                                                               */
/* ------------------------------------------------------------------ */

/* Drops trailing blank lines and blanks so that segments join cleanly;
 * an empty segment is dropped with its separator. */
static void end_segment(parser_t *p, size_t mark, size_t start)
{
    sbuf_t *b = &p->text;
    while (b->len > start && strchr(" \t\r\n", b->p[b->len - 1]) != NULL)
        b->len--;
    if (b->len == start)
        b->len = mark;
    else
        url_scan_text(&p->urls, b->p + start, b->len - start);
}

static size_t begin_segment(parser_t *p)
{
    if (p->text.len > 0)
        sb_put(&p->text, "\n", 1);
    return p->text.len;
}

static void add_plain(parser_t *p, const char *cs, const unsigned char *s, size_t n)
{
    size_t mark = p->text.len;
    size_t start = begin_segment(p);
    put_charset(&p->text, cs, s, n);
    /* The text as the reader is shown it: "vi \nagra" sent flowed with
     * delsp=yes reads "viagra", and rules and tokens should read it so. */
    if (p->flowed)
        p->text.len = start + flowed_unwrap(p->text.p + start, p->text.len - start, p->flowed == 2);
    end_segment(p, mark, start);
}

static void html_files(parser_t *p, long idx, const htmlfile_list_t *files);

/* Reads the HTML part idx as UTF-8: returns its text (*len bytes), adds its
 * links to the message's URLs and lists the files it carries in *files, as
 * many as the part cap leaves room for (htmlfile_collect()). */
static char *read_html(parser_t *p, long idx, size_t *len, htmlfile_list_t *files)
{
    const smf_part_t *pt = &p->m->parts[idx];
    size_t room = p->lim.max_parts > p->m->part_count ? p->lim.max_parts - p->m->part_count : 0;
    /* The parts of the tree still to come need their room as well. */
    size_t later = p->tree_parts > p->tree_walked ? p->tree_parts - p->tree_walked : 0;
    p->scratch.len = 0;
    put_charset(&p->scratch, pt->charset, pt->data, pt->size);
    char *text = htmlfile_collect(p->arena, p->scratch.p ? p->scratch.p : "", p->scratch.len, room,
                                  later, len, &p->urls, files);
    if (files->unread != NULL)
        truncate_msg(p, files->unread);
    return text;
}

static void add_html(parser_t *p, long idx)
{
    size_t len;
    htmlfile_list_t files;
    char *t = read_html(p, idx, &len, &files);
    size_t mark = p->text.len;
    size_t start = begin_segment(p);
    sb_put(&p->text, t, len);
    end_segment(p, mark, start);
    html_files(p, idx, &files);
}

/*
 * One file written inline in the text part idx, whose begin line ends at
 * le with its name from offset name: a child part of it holding d[0..len).
 * Returns -1 once no more parts may be recorded.
 */
static int add_inline_file(parser_t *p, long idx, const unsigned char *s, size_t name, size_t le,
                           const char *d, size_t len)
{
    unsigned depth = p->m->parts[idx].depth;
    if (!may_descend(p, depth))
        return 0;
    long c = add_part(p, idx, depth + 1);
    if (c < 0)
        return -1;
    size_t fn_len = le - name < FILENAME_LINE_MAX ? le - name : FILENAME_LINE_MAX;
    smf_part_t *cp = &p->m->parts[c];
    cp->content_type = "application/octet-stream";
    cp->filename = utf8_dup(p, arena_strndup(p->arena, (const char *)s + name, fn_len));
    cp->flags = SMF_PART_ATTACHMENT;
    set_data(p, c, arena_memdup(p->arena, d, len), len);
    return 0;
}

/*
 * Decodes the uuencoded block whose begin line ends at *pos into buf, and
 * moves *pos past its "end" line. Returns 1 for a file, 0 for lines that
 * are none, -1 when no "end" line follows at all.
 */
static int uu_block(const unsigned char *s, size_t n, size_t *pos, sbuf_t *buf)
{
    size_t after = *pos, len = 0;
    int r = uu_lines(s, n, &after, NULL, &len);
    if (r == 0)
        return -1;
    if (r < 0 || len == 0 || len > uu_bound(after - *pos))
        return 0;
    size_t again = *pos;
    buf->len = 0;
    sb_reserve(buf, len + 1);
    uu_lines(s, n, &again, (unsigned char *)buf->p, &len);
    buf->len = len;
    *pos = after;
    return 1;
}

/*
 * Inline files in a text/plain body: each uuencoded "begin NNN name" ...
 * "end" block (mailers of the 1990s and some malware still send them), and
 * each yEnc "=ybegin ... name=" ... "=yend" block, which Thunderbird saves
 * as an attachment too, becomes a child part, and the text keeps only what
 * lies around blocks.
 */
static void add_plain_with_uu(parser_t *p, long idx)
{
    smf_part_t pt = p->m->parts[idx];
    const unsigned char *s = pt.data;
    size_t n = pt.size, pos = 0, ls, le, text_from = 0;
    sbuf_t buf = {0};
    /* A block's lines cannot contain another begin line, so the scans
     * below never overlap and the whole search is linear. "=ybegin " holds
     * "begin ": one search finds both kinds of block. */
    int found = memmem(s, n, "begin ", 6) != NULL;
    while (found && next_line(s, n, &pos, &ls, &le)) {
        size_t name = uu_begin(s, ls, le);
        if (name != 0) {
            int r = uu_block(s, n, &pos, &buf);
            if (r < 0)
                break; /* No "end" line anywhere after this. */
            if (r == 0)
                continue;
        } else if ((name = yenc_begin(s, ls, le)) != 0) {
            buf.len = 0;
            sb_reserve(&buf, n - pos + 1);
            buf.len = yenc_lines(s, n, &pos, (unsigned char *)buf.p);
        } else {
            continue;
        }
        add_plain(p, pt.charset, s + text_from, ls - text_from);
        text_from = pos;
        if (add_inline_file(p, idx, s, name, le, buf.p, buf.len) < 0)
            break;
    }
    free(buf.p);
    add_plain(p, pt.charset, s + text_from, n - text_from);
}

/* Whether a leaf is an HTML file: text/html, or named as a browser opens
 * it whatever its type says (the names the attachment stage takes for
 * HTML). Windows drops trailing dots and blanks from a name it saves, so
 * they do not hide the extension. */
static bool name_ends_in(const char *name, const char *const *ext, size_t count)
{
    size_t n = strlen(name);
    while (n > 0 && (name[n - 1] == '.' || name[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < count; i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && strncasecmp(name + n - k, ext[i], k) == 0)
            return true;
    }
    return false;
}

/* Either of a part's names: a client may save it under its Content-Type
 * name= as well as its filename=. */
static bool named_as(const smf_part_t *pt, const char *const *ext, size_t count)
{
    return name_ends_in(pt->filename, ext, count) || name_ends_in(pt->other_filename, ext, count);
}

static bool html_file(const smf_part_t *pt)
{
    static const char *const ext[] = {".html", ".htm", ".xhtml", ".shtml"};
    return strcmp(pt->content_type, "text/html") == 0 ||
           named_as(pt, ext, sizeof(ext) / sizeof(ext[0]));
}

/* Whether a leaf is an SVG file, which a browser opens as a document that
 * runs its scripts and follows its links as a page does: image/svg+xml, or
 * named .svg whatever its type. */
static bool svg_file(const smf_part_t *pt)
{
    static const char *const ext[] = {".svg"};
    return strcmp(pt->content_type, "image/svg+xml") == 0 || named_as(pt, ext, 1);
}

/*
 * The URLs of an HTML file attached to the message, found as in HTML
 * bodies (links, then the text). A reader who opens it follows its links
 * as readily as those of the body, and phishing pages travel so to escape
 * URL checks. Its words stay out of the message text: the reader is not
 * shown them with the message. The message's URL cap applies to these too.
 */
static void add_html_file_urls(parser_t *p, long idx)
{
    size_t len;
    htmlfile_list_t files;
    char *t = read_html(p, idx, &len, &files);
    url_scan_text(&p->urls, t, len);
    html_files(p, idx, &files);
}

/*
 * The URLs of a text file attached to the message (a .txt with links): a
 * reader who opens it follows them as readily as those of the body, and a
 * link moved into such a file would otherwise escape the URL checks. Its
 * words stay out of the message text, as those of an attached HTML file do,
 * and the message's URL cap applies to these too.
 */
static void add_text_file_urls(parser_t *p, long idx)
{
    const smf_part_t *pt = &p->m->parts[idx];
    p->scratch.len = 0;
    put_charset(&p->scratch, pt->charset, pt->data, pt->size);
    url_scan_text(&p->urls, p->scratch.p ? p->scratch.p : "", p->scratch.len);
}

/*
 * The files an HTML part carries (htmlfile.h) become its children, so
 * that the stages scan what a browser would save: a data: URI's type and
 * download name are kept, a script's string is application/octet-stream
 * without a name. They share the message's caps: each is a part under
 * max_parts, and all of them together decode to at most max_size bytes,
 * past which the message is truncated. Images the page only shows, past
 * the part cap, were left in the HTML part when it was read (htmlfile.h).
 * An HTML or SVG file among them is read for its own files and URLs in
 * turn, as deep as max_depth allows.
 */
static void html_files(parser_t *p, long idx, const htmlfile_list_t *files)
{
    if (files->count == 0 || !may_descend(p, p->m->parts[idx].depth))
        return;
    unsigned depth = p->m->parts[idx].depth + 1;
    /* The payloads may lie in the scratch buffer, which reading an HTML
     * child reuses: every one is decoded before any child is read. */
    long *html = arena_alloc(p->arena, files->count * sizeof(*html));
    size_t html_count = 0;
    for (size_t i = 0; i < files->count && !p->parts_full; i++) {
        const htmlfile_t *f = &files->items[i];
        if (f->size_max > p->html_left) {
            truncate_msg(p, arena_printf(p->arena, "files in HTML larger than %zu bytes in all",
                                         p->lim.max_size));
            break;
        }
        long c = add_part(p, idx, depth);
        if (c < 0)
            break;
        unsigned char *d = arena_alloc(p->arena, f->size_max + 1);
        size_t n = htmlfile_decode(f, d);
        p->html_left -= n;
        smf_part_t *cp = &p->m->parts[c];
        cp->content_type = f->content_type;
        cp->filename = f->filename;
        cp->flags |= SMF_PART_DERIVED;
        if (f->filename[0] != '\0')
            cp->flags |= SMF_PART_ATTACHMENT;
        set_data(p, c, d, n);
        if (html_file(cp))
            cp->flags |= SMF_PART_HTML;
        if (html_file(cp) || svg_file(cp))
            html[html_count++] = c;
    }
    for (size_t i = 0; i < html_count; i++)
        add_html_file_urls(p, html[i]);
}

/*
 * Text parts are those a reader sees: text/plain and text/html that are
 * not files attached by name. Thunderbird shows any other "text/" type
 * inline as plain text (text/x-anything, text/enriched): its words reach
 * the content rules too, but the part keeps no text flag, so that the
 * attachment stage still examines it as a file. An HTML or text file
 * attached by name gives its URLs only. A file a browser opens as HTML is
 * flagged so whatever its type says ("page.html" sent as
 * application/octet-stream), so that the stages that read HTML markup read
 * it as they read a text/html attachment. An SVG file is a document a
 * browser runs as well: its files (a script's base64, a link's data: URI)
 * and URLs are read as an HTML file's are, and it keeps no HTML flag.
 */
static void leaf_text(parser_t *p, long idx, int attach_disp)
{
    smf_part_t *pt = &p->m->parts[idx];
    int plain = strcmp(pt->content_type, "text/plain") == 0;
    int html = strcmp(pt->content_type, "text/html") == 0;
    int other = !plain && !html && strncmp(pt->content_type, "text/", 5) == 0;
    if (html)
        pt->flags |= SMF_PART_HTML;
    if (!(plain || html || other) || (attach_disp && pt->filename[0] != '\0')) {
        if (html_file(pt)) {
            pt->flags |= SMF_PART_HTML;
            add_html_file_urls(p, idx);
        } else if (svg_file(pt)) {
            add_html_file_urls(p, idx); /* Not HTML to the stages: no flag. */
        } else if (plain || other) {
            add_text_file_urls(p, idx);
        }
        return;
    }
    if (!other)
        pt->flags |= SMF_PART_TEXT;
    if (html)
        add_html(p, idx);
    else
        add_plain_with_uu(p, idx);
}

/* ------------------------------------------------------------------ */
/* The tree walk                                                      */
/* ------------------------------------------------------------------ */

static void walk(parser_t *p, GMimeObject *obj, long parent, unsigned depth);
static void encoded_message(parser_t *p, long idx);
static bool signed_data_part(const smf_part_t *pt);
static void signed_content(parser_t *p, long idx);

/* The encoding named by one Content-Transfer-Encoding value, read as
 * Thunderbird reads it: its first word, whatever follows ("base64;",
 * "base64,", a quoted "base64"). */
static GMimeContentEncoding encoding_word(const char *v)
{
    char word[CTE_WORD_MAX + 1];
    size_t n = 0;
    while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n' || *v == '"')
        v++;
    while (n < CTE_WORD_MAX && ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
                                (*v >= '0' && *v <= '9') || *v == '-'))
        word[n++] = *v++;
    word[n] = '\0';
    if (strcasecmp(word, "x-yencode") == 0)
        return ENCODING_YENCODE;
    return n > 0 ? g_mime_content_encoding_from_string(word) : GMIME_CONTENT_ENCODING_DEFAULT;
}

static bool encoding_decodes(GMimeContentEncoding e)
{
    return e == GMIME_CONTENT_ENCODING_BASE64 || e == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
           e == GMIME_CONTENT_ENCODING_UUENCODE || e == ENCODING_YENCODE;
}

/* The raw value of the i-th header field when it is named name (in any
 * case), else NULL: for the fields GMime keeps only one of. */
static const char *field_value_at(GMimeHeaderList *hl, int i, const char *name)
{
    GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
    const char *n = h ? g_mime_header_get_name(h) : NULL;
    if (n == NULL || strcasecmp(n, name) != 0)
        return NULL;
    return g_mime_header_get_raw_value(h);
}

/*
 * The transfer encoding of a leaf. GMime reads only a value that is one
 * word, and of several Content-Transfer-Encoding fields it keeps the last,
 * while Thunderbird reads the first word of the first field: a body sent as
 * "base64;" or with a second "7bit" field after the real one would be
 * opened decoded by the reader yet scanned encoded. The first field that
 * names a real encoding wins, so that the scanners see what some client
 * decodes.
 */
static GMimeContentEncoding part_encoding(GMimePart *part)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(part));
    int n = hl ? g_mime_header_list_get_count(hl) : 0;
    for (int i = 0; i < n; i++) {
        const char *value = field_value_at(hl, i, "Content-Transfer-Encoding");
        if (value == NULL)
            continue;
        GMimeContentEncoding e = encoding_word(value);
        if (encoding_decodes(e))
            return e;
    }
    return g_mime_part_get_content_encoding(part);
}

/* Types whose body is a whole message, as GMime and mail clients read them. */
static bool is_message_type(const char *ct)
{
    return strcmp(ct, "message/rfc822") == 0 || strcmp(ct, "message/global") == 0 ||
           strcmp(ct, "message/news") == 0;
}

/*
 * A part whose Content-Transfer-Encoding fields name different encodings:
 * Thunderbird decodes it by the first, GMime, and the clients built on it,
 * by the last. The part holds the first reading (part_encoding()); when
 * the last decodes otherwise, its reading becomes a child of the same type
 * and name, so that every stage scans what either client saves.
 */
static void add_last_encoding_variant(parser_t *p, long idx, GMimePart *part,
                                      GMimeContentEncoding first, const unsigned char *s, size_t n)
{
    GMimeContentEncoding last = g_mime_part_get_content_encoding(part);
    if (!encoding_decodes(last) || last == first)
        return;
    long c = add_variant_part(p, idx);
    if (c >= 0)
        decode_body(p, c, last, s, n);
}

/* Whether a part is sent format=flowed (RFC 3676): 0, or 1, or 2 with
 * delsp=yes, as its Content-Type says. */
static int flowed_mode(GMimePart *part)
{
    GMimeObject *o = GMIME_OBJECT(part);
    const char *format = g_mime_object_get_content_type_parameter(o, "format");
    const char *delsp = g_mime_object_get_content_type_parameter(o, "delsp");
    if (format == NULL || strcasecmp(format, "flowed") != 0)
        return 0;
    return delsp != NULL && strcasecmp(delsp, "yes") == 0 ? 2 : 1;
}

static void leaf(parser_t *p, long idx, GMimePart *part, int attach_disp)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    sbuf_t heap = {0};
    size_t n = 0;
    const unsigned char *s = encoded_body(w ? g_mime_data_wrapper_get_stream(w) : NULL, &n, &heap);
    GMimeContentEncoding enc = part_encoding(part);
    decode_body(p, idx, enc, s, n);
    add_last_encoding_variant(p, idx, part, enc, s, n);
    free(heap.p);
    const smf_part_t *pt = &p->m->parts[idx];
    if (encoding_decodes(enc) && enc != ENCODING_YENCODE && !(pt->flags & SMF_PART_UNDECODED) &&
        is_message_type(pt->content_type)) {
        encoded_message(p, idx);
        return;
    }
    if (signed_data_part(pt))
        signed_content(p, idx);
    p->flowed = flowed_mode(part);
    leaf_text(p, idx, attach_disp);
    p->flowed = 0;
}

/* A multipart whose boundary never occurs has no children; its body (all
 * in the prologue then) is kept as one undecoded text child so that
 * nothing in it escapes the stages. */
static void boundaryless(parser_t *p, long idx, GMimeMultipart *mp, unsigned depth)
{
    const char *pro = g_mime_multipart_get_prologue(mp);
    if (pro == NULL || *pro == '\0' || !may_descend(p, depth))
        return;
    long c = add_part(p, idx, depth + 1);
    if (c < 0)
        return;
    set_raw(p, c, (const unsigned char *)pro, strlen(pro), 1);
    leaf_text(p, c, 0);
}

/*
 * The boundary a multipart's Content-Type names, or NULL. Not
 * g_mime_multipart_get_boundary(), which makes one up when there is none
 * and so has GMime encode the whole Content-Type field anew: for a field
 * of long 8-bit parameter names that takes minutes and gigabytes.
 */
static const char *boundary_of(GMimeMultipart *mp)
{
    return g_mime_object_get_content_type_parameter(GMIME_OBJECT(mp), "boundary");
}

/* Keeps a multipart's boundary for cr_boundaries(). */
static void keep_boundary(parser_t *p, GMimeMultipart *mp)
{
    const char *b = boundary_of(mp);
    if (b == NULL || *b == '\0')
        return;
    for (size_t i = 0; i < p->bounds_n; i++)
        if (strcmp(p->bounds[i], b) == 0)
            return;
    if (p->bounds_n == BOUNDS_KEPT)
        p->bounds_over = 1;
    else
        p->bounds[p->bounds_n++] = arena_strdup(p->arena, b);
}

static bool blank_text(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}

/*
 * Whether text holds a line that opens a part of boundary b: "--" and b, then
 * only blanks to the end of the line, as GMime and Thunderbird match one. A
 * closing line written twice, as some mailers do, opens nothing and leaves
 * the message as readable as it was; nor does a line where b goes on.
 */
static bool has_boundary_line(const char *text, const char *b)
{
    size_t blen = strlen(b);
    const char *l = text;
    while (l != NULL) {
        if (l[0] == '-' && l[1] == '-' && strncmp(l + 2, b, blen) == 0) {
            const char *rest = l + 2 + blen;
            rest += strspn(rest, " \t");
            if (*rest == '\0' || *rest == '\r' || *rest == '\n')
                return true;
        }
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    return false;
}

/*
 * The preamble (before the first boundary) or epilogue (after the closing
 * one) of a multipart with parts, when it holds more than blank lines,
 * becomes a child of it, kept as written and with no flag, after its
 * parts. Mail clients do not show it, so it is no text, but a whole file or
 * a virus's string can hide there, and the antivirus stage scans the raw
 * message only when the parts do not cover it: as a part, every stage
 * scans it. The usual "This is a multi-part message in MIME format."
 * becomes one too, which costs a scan of a few bytes.
 */
static void outside_text(parser_t *p, long idx, GMimeMultipart *mp, const char *s, unsigned depth)
{
    if (s == NULL || blank_text(s) || p->parts_full)
        return;
    p->tree_walked++;
    /* Parts after the closing boundary (or before the first) are no parts
     * to GMime, but a lenient reader may still open them, and their files
     * would reach no scanner decoded: the message is flagged, which has the
     * antivirus stage scan it whole with libclamav's mail parser as well
     * (and call it unscannable unless a virus is found there). */
    const char *b = boundary_of(mp);
    if (b != NULL && *b != '\0' && has_boundary_line(s, b))
        truncate_msg(p, "a boundary line outside the parts of its multipart: mail clients may "
                        "read other parts");
    long c = add_part(p, idx, depth + 1);
    if (c < 0)
        return;
    set_raw(p, c, (const unsigned char *)s, strlen(s), 0);
    p->m->parts[c].flags |= SMF_PART_DERIVED;
}

/*
 * The parts walk() records for the tree obj at `depth`, its preambles and
 * epilogues included, counted as far as one past max_parts or max_depth
 * (more is never recorded): what the HTML files read before the end of
 * the tree leave room for (read_html()).
 */
static size_t tree_count(const parser_t *p, GMimeObject *obj, unsigned depth)
{
    size_t n = 1;
    if (depth + 1 > p->lim.max_depth)
        return n;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int k = g_mime_multipart_get_count(mp);
        for (int i = 0; i < k && n <= p->lim.max_parts; i++)
            n += tree_count(p, g_mime_multipart_get_part(mp, i), depth + 1);
        const char *pro = g_mime_multipart_get_prologue(mp);
        const char *epi = g_mime_multipart_get_epilogue(mp);
        if (k > 0)
            n += (pro != NULL && !blank_text(pro)) + (epi != NULL && !blank_text(epi));
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;
        if (body != NULL)
            n += tree_count(p, body, depth + 1);
    }
    return n;
}

static void walk_multipart(parser_t *p, long idx, GMimeMultipart *mp, unsigned depth)
{
    p->m->parts[idx].flags |= SMF_PART_MULTIPART;
    keep_boundary(p, mp);
    int n = g_mime_multipart_get_count(mp);
    if (n == 0) {
        boundaryless(p, idx, mp, depth);
        return;
    }
    if (!may_descend(p, depth))
        return;
    for (int i = 0; i < n && !p->parts_full; i++)
        walk(p, g_mime_multipart_get_part(mp, i), idx, depth + 1);
    outside_text(p, idx, mp, g_mime_multipart_get_prologue(mp), depth);
    outside_text(p, idx, mp, g_mime_multipart_get_epilogue(mp), depth);
}

static void walk_message(parser_t *p, long idx, GMimeMessagePart *mp, unsigned depth)
{
    p->m->parts[idx].flags |= SMF_PART_MESSAGE;
    GMimeMessage *inner = g_mime_message_part_get_message(mp);
    GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;
    if (body != NULL && may_descend(p, depth))
        walk(p, body, idx, depth + 1);
}

/* The media type at the start of a Content-Type value, as "type/sub". */
static size_t media_type_len(const char *v)
{
    size_t n = 0;
    while (v[n] != '\0' && v[n] != ';' && v[n] != ' ' && v[n] != '\t' && v[n] != '\r' &&
           v[n] != '\n' && v[n] != '(')
        n++;
    return n;
}

/*
 * The next parameter of a Content-Type value after *s: its name and value
 * (without quotes), *s moved past it. A ';' inside a quoted string
 * separates nothing. False when no parameter is left.
 */
static bool next_param(const char **s, const char **name, size_t *nlen, const char **val,
                       size_t *vlen)
{
    const char *q = *s;
    for (int quoted = 0; *q != '\0' && (quoted || *q != ';'); q++)
        if (*q == '"')
            quoted = !quoted;
        else if (*q == '\\' && quoted && q[1] != '\0')
            q++;
    if (*q == '\0')
        return false;
    q++;
    q += strspn(q, " \t\r\n");
    *name = q;
    while (*q != '\0' && *q != '=' && *q != ';')
        q++;
    const char *ne = q;
    while (ne > *name && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
    *nlen = (size_t)(ne - *name);
    *val = q;
    *vlen = 0;
    if (*q == '=') {
        q++;
        q += strspn(q, " \t\r\n");
        int quoted = *q == '"';
        *val = q += quoted;
        while (*q != '\0' &&
               (quoted ? *q != '"'
                       : (*q != ';' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')))
            q += (quoted && *q == '\\' && q[1] != '\0') ? 2 : 1;
        *vlen = (size_t)(q - *val);
        q += quoted && *q == '"';
    }
    *s = q;
    return true;
}

/* Whether a parameter name begins a boundary value: "boundary", or the
 * first piece of RFC 2231's forms, which GMime joins. */
static bool boundary_name(const char *n, size_t len)
{
    static const char *const names[] = {"boundary", "boundary*", "boundary*0", "boundary*0*"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len == strlen(names[i]) && strncasecmp(n, names[i], len) == 0)
            return true;
    return false;
}

/* The first of the values an entity's fields give one thing, and whether
 * a later one differed from it. */
typedef struct first_value {
    const char *v;
    size_t len;
    bool differs;
} first_value_t;

static void note_value(first_value_t *f, const char *v, size_t len, bool any_case)
{
    if (f->v == NULL) {
        f->v = v;
        f->len = len;
    } else if (len != f->len ||
               (any_case ? strncasecmp(v, f->v, len) : memcmp(v, f->v, len)) != 0) {
        f->differs = true;
    }
}

/*
 * Why different readers read an entity's Content-Type fields differently,
 * or NULL. Fields that name different media types: GMime builds the tree
 * from the last one, Thunderbird from the first, so a "multipart/mixed"
 * field followed by a "text/plain" one shows the reader an attachment that
 * the scanners would see as plain text. A multipart that names two
 * boundaries, in one field or in two: GMime takes one of them and the parts
 * it finds under it, while another reader may split the body by the other
 * and open attachments that no stage sees as parts.
 */
static const char *content_type_conflict(GMimeObject *obj, bool multipart)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
    int n = hl ? g_mime_header_list_get_count(hl) : 0;
    first_value_t type = {0}, boundary = {0};
    for (int i = 0; i < n; i++) {
        const char *s = field_value_at(hl, i, "Content-Type");
        if (s == NULL)
            continue;
        s += strspn(s, " \t\r\n");
        note_value(&type, s, media_type_len(s), true);
        const char *name, *v;
        size_t nlen, vlen;
        while (multipart && next_param(&s, &name, &nlen, &v, &vlen))
            if (boundary_name(name, nlen))
                note_value(&boundary, v, vlen, false);
    }
    if (type.differs)
        return "conflicting Content-Type fields: mail clients may read another MIME structure";
    if (boundary.differs)
        return "conflicting boundary parameters: mail clients may read other MIME parts";
    return NULL;
}

static void walk(parser_t *p, GMimeObject *obj, long parent, unsigned depth)
{
    p->tree_walked++;
    long idx = add_part(p, parent, depth);
    if (idx < 0)
        return;
    /* The scanners cannot see the tree the reader is shown: the message is
     * flagged, which has the antivirus stage scan it whole as well. */
    const char *conflict = content_type_conflict(obj, GMIME_IS_MULTIPART(obj));
    if (conflict != NULL)
        truncate_msg(p, conflict);
    int attach = describe(p, idx, obj);
    if (GMIME_IS_MULTIPART(obj))
        walk_multipart(p, idx, GMIME_MULTIPART(obj), depth);
    else if (GMIME_IS_MESSAGE_PART(obj))
        walk_message(p, idx, GMIME_MESSAGE_PART(obj), depth);
    else if (GMIME_IS_PART(obj))
        leaf(p, idx, GMIME_PART(obj), attach);
}

/* Input GMime could not read as a message (no header at all, binary
 * noise, nothing): all of it is one text/plain body, as RFC 5322 reads a
 * message without a Content-Type. */
static void whole_as_text(parser_t *p, const char *raw, size_t n)
{
    long idx = add_part(p, -1, 0);
    set_raw(p, idx, (const unsigned char *)raw, n, 0);
    leaf_text(p, idx, 0);
}

/* ------------------------------------------------------------------ */
/* Nesting guard                                                      */
/* ------------------------------------------------------------------ */

#define BOUNDARY_MAX 200

typedef struct bstack {
    const char *b[64];
    size_t len[64];
    unsigned n;
} bstack_t;

/* The boundary value declared on this line ("boundary=" then a token or
 * a quoted string), or NULL. */
static const char *boundary_param(const char *s, const char *e, size_t *len)
{
    const char *q = s;
    while ((q = memchr(q, '=', (size_t)(e - q))) != NULL) {
        const char *k = q;
        while (k > s && (k[-1] == ' ' || k[-1] == '\t'))
            k--;
        /* RFC 2231's forms (boundary*, boundary*0, boundary*0*) name it too:
         * GMime joins their pieces, and the first piece begins the value. */
        while (k > s && (k[-1] == '*' || (k[-1] >= '0' && k[-1] <= '9')))
            k--;
        q++;
        if (k - s < 8 || strncasecmp(k - 8, "boundary", 8) != 0)
            continue;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        int quoted = q < e && *q == '"';
        q += quoted;
        const char *v = q;
        while (q < e && (quoted ? *q != '"' : (*q != ';' && *q != ' ' && *q != '\t' && *q != '\r')))
            q++;
        /* A longer boundary than RFC 2046 allows still opens a level: GMime
         * accepts it. Its start is enough to follow it roughly. */
        *len = (size_t)(q - v) < BOUNDARY_MAX ? (size_t)(q - v) : BOUNDARY_MAX;
        return *len > 0 ? v : NULL;
    }
    return NULL;
}

/* A "--boundary" line closes the boundaries opened after it. */
static void boundary_line(bstack_t *st, const char *s, const char *e)
{
    for (unsigned i = st->n; i-- > 0;) {
        if ((size_t)(e - s) >= st->len[i] + 2 && memcmp(s + 2, st->b[i], st->len[i]) == 0) {
            const char *t = s + 2 + st->len[i];
            int close = e - t >= 2 && t[0] == '-' && t[1] == '-';
            st->n = close ? i : i + 1;
            return;
        }
    }
}

/*
 * GMime follows multipart nesting down to 1024 levels and compares every
 * "--" line with every open boundary, so a few kilobytes of nesting make a
 * large message take seconds. This pass follows the boundaries roughly and
 * returns where nesting goes deeper than `limit`; only the bytes before
 * that are handed to GMime. Returns n when the nesting stays shallower.
 */
static size_t nesting_cut(const char *s, size_t n, unsigned limit)
{
    bstack_t st = {.n = 0};
    if (limit > 64)
        limit = 64;
    const char *end = s + n;
    const char *ls = s;
    while (ls < end) {
        const char *nl = memchr(ls, '\n', (size_t)(end - ls));
        const char *le = nl ? nl : end;
        size_t blen;
        const char *b;
        if (le - ls >= 2 && ls[0] == '-' && ls[1] == '-') {
            boundary_line(&st, ls, le);
        } else if ((b = boundary_param(ls, le, &blen)) != NULL) {
            if (st.n == limit)
                return (size_t)(ls - s);
            st.b[st.n] = b;
            st.len[st.n++] = blen;
        }
        ls = nl ? nl + 1 : end;
    }
    return n;
}

/* Occurrences of "=?" in s[0..n). */
static size_t eword_starts(const char *s, size_t n)
{
    size_t k = 0;
    const char *q = s;
    while ((q = memmem(q, (size_t)(s + n - q), "=?", 2)) != NULL) {
        k++;
        q += 2;
    }
    return k;
}

/* Whether the line s[0..n) starts like a header field, "Name:". */
static bool field_line(const char *s, size_t n)
{
    size_t colon;
    return field_name_len(s, n, &colon) > 0;
}

/*
 * GMime decodes Subject, addresses and Content-Type and Content-Disposition
 * parameters as it reads them, in time that grows with the square of the
 * encoded words in one field: a few hundred kilobytes of "=?a?b?AAAA" take
 * seconds. This pass counts "=?" on lines that look like header fields or
 * their continuations and returns where one field, or all of them, hold
 * more than any real mail does; only the bytes before that line are handed
 * to GMime. Returns n when the counts stay below the limits.
 */
static size_t eword_cut(const char *s, size_t n)
{
    const char *end = s + n;
    const char *ls = s;
    size_t field = 0, total = 0;
    while (ls < end) {
        const char *nl = memchr(ls, '\n', (size_t)(end - ls));
        const char *le = nl ? nl : end;
        bool cont = le > ls && (*ls == ' ' || *ls == '\t');
        if (!cont)
            field = 0;
        if (cont || field_line(ls, (size_t)(le - ls))) {
            size_t k = eword_starts(ls, (size_t)(le - ls));
            field += k;
            total += k;
            if (field > EWORDS_FIELD_MAX || total > EWORDS_TOTAL_MAX)
                return (size_t)(ls - s);
        }
        ls = nl ? nl + 1 : end;
    }
    return n;
}

/* Where the body starts: after the blank line, or at 0 when no field was
 * found, since then the "header block" is really text. */
static size_t body_offset(const message_t *m, size_t n)
{
    size_t off = m->header_len;
    if (m->header_count == 0)
        return 0;
    if (off < n && m->raw[off] == '\r')
        off++;
    if (off < n && m->raw[off] == '\n')
        off++;
    return off;
}

/* GMime's reading of a message over borrowed bytes. */
typedef struct gm_view {
    GByteArray *ba;
    GMimeStream *st;
    GMimeParser *gp;
    GMimeMessage *gm;
} gm_view_t;

/* Reads s[0..n) as a message; v->gm is NULL when GMime finds none. The
 * byte array only borrows s: the stream is told it does not own it,
 * nothing writes to it, and it is released without freeing data. */
static void gm_open(gm_view_t *v, const char *s, size_t n)
{
    v->ba = g_byte_array_new_take((guint8 *)s, n);
    v->st = g_mime_stream_mem_new_with_byte_array(v->ba);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(v->st), FALSE);
    v->gp = g_mime_parser_new_with_stream(v->st);
    v->gm = g_mime_parser_construct_message(v->gp, NULL);
}

static void gm_close(gm_view_t *v)
{
    if (v->gm != NULL)
        g_object_unref(v->gm);
    g_object_unref(v->gp);
    g_object_unref(v->st);
    g_byte_array_free(v->ba, FALSE);
}

/*
 * A message/rfc822 part sent base64 or quoted-printable: GMime keeps it as
 * a leaf, but mail clients decode it and show the message inside, with its
 * attachments. Its decoded body is read as a message, and its parts become
 * the children of this one, so that every stage sees them.
 */
static void encoded_message(parser_t *p, long idx)
{
    const char *s = (const char *)p->m->parts[idx].data;
    size_t n = p->m->parts[idx].size;
    unsigned depth = p->m->parts[idx].depth;
    if (n == 0 || n > G_MAXUINT / 2 || !may_descend(p, depth))
        return;
    /* The same guard as for the whole message, with the levels left. */
    size_t cut = nesting_cut(s, n, p->lim.max_depth - depth);
    if (cut < n) {
        n = cut;
        truncate_msg(p, arena_printf(p->arena, "MIME nesting deeper than %u", p->lim.max_depth));
    }
    gm_view_t v;
    gm_open(&v, s, n);
    GMimeObject *body = v.gm ? g_mime_message_get_mime_part(v.gm) : NULL;
    if (body != NULL) {
        p->m->parts[idx].flags |= SMF_PART_MESSAGE;
        set_data(p, idx, empty_data, 0);
        p->tree_parts += tree_count(p, body, depth + 1);
        walk(p, body, idx, depth + 1);
    }
    gm_close(&v);
}

/* ------------------------------------------------------------------ */
/* S/MIME signed data                                                 */
/* ------------------------------------------------------------------ */

/* Whether a leaf is sent as an S/MIME message (application/pkcs7-mime or
 * its x- name), whose content is a MIME entity. */
static bool smime_part(const smf_part_t *pt)
{
    return strcmp(pt->content_type, "application/pkcs7-mime") == 0 ||
           strcmp(pt->content_type, "application/x-pkcs7-mime") == 0;
}

/* Whether a leaf may carry signed content in itself: an S/MIME message, or
 * a file named .p7m, a signed file the signer's tool opens. */
static bool signed_data_part(const smf_part_t *pt)
{
    static const char *const p7m[] = {".p7m"};
    return smime_part(pt) || name_ends_in(pt->filename, p7m, 1) ||
           name_ends_in(pt->other_filename, p7m, 1);
}

/* A name without its ".p7m" (and the dots and blanks Windows drops before
 * it), as the signer's tool saves the signed file; others as they are. */
static const char *without_p7m(parser_t *p, const char *name)
{
    static const char *const p7m[] = {".p7m"};
    if (!name_ends_in(name, p7m, 1))
        return name;
    size_t n = strlen(name);
    while (n > 0 && (name[n - 1] == '.' || name[n - 1] == ' '))
        n--;
    return arena_strndup(p->arena, name, n - 4);
}

/* The content of a signed file (report.pdf.p7m), or signed content that
 * is no MIME entity, is the file the signer's tool saves, report.pdf: the
 * child c is named so, for the checks of names, and typed by its content,
 * not as signed data. */
static void signed_file(parser_t *p, long c)
{
    if (c < 0)
        return;
    smf_part_t *cp = &p->m->parts[c];
    cp->content_type = "application/octet-stream";
    cp->filename = without_p7m(p, cp->filename);
    cp->other_filename = without_p7m(p, cp->other_filename);
}

/*
 * An S/MIME message signed in the opaque form carries the signed MIME
 * entity inside its DER, where no scanner looks: Thunderbird, Outlook and
 * the other clients that read S/MIME show that entity, attachments and
 * all, whether or not the signature verifies. The entity is read as a
 * message and its parts become children of this leaf, which keeps its
 * bytes (the certificates) and is scanned as well; the content of a
 * signed file (report.pdf.p7m) becomes one child as it is.
 */
static void signed_content(parser_t *p, long idx)
{
    const smf_part_t *pt = &p->m->parts[idx];
    unsigned depth = pt->depth;
    size_t n = 0;
    unsigned char *inner = cms_signed_content(pt->data, pt->size, &n);
    if (inner == NULL || n == 0 || n > G_MAXUINT / 2 || !may_descend(p, depth)) {
        free(inner);
        return;
    }
    char *s = arena_memdup(p->arena, inner, n);
    free(inner);
    size_t cut = nesting_cut(s, n, p->lim.max_depth - depth);
    if (cut < n) {
        n = cut;
        truncate_msg(p, arena_printf(p->arena, "MIME nesting deeper than %u", p->lim.max_depth));
    }
    if (!smime_part(pt)) {
        signed_file(p, add_variant(p, idx, (const unsigned char *)s, n));
        return;
    }
    gm_view_t v;
    gm_open(&v, s, n);
    GMimeObject *body = v.gm ? g_mime_message_get_mime_part(v.gm) : NULL;
    if (body != NULL) {
        p->tree_parts += tree_count(p, body, depth + 1);
        walk(p, body, idx, depth + 1);
    } else {
        signed_file(p, add_variant(p, idx, (const unsigned char *)s, n));
    }
    gm_close(&v);
}

/* Parses raw[0..n) with GMime over the caller's bytes, walks the tree,
 * then releases every GMime object. */
static void parse_mime(parser_t *p, const char *raw, size_t n)
{
    if (n == 0 || n > G_MAXUINT / 2) {
        /* GMime's streams take at most G_MAXUINT / 2 bytes; a larger
         * message (max_message_size above 2 GiB) is read only that far. */
        if (n > G_MAXUINT / 2)
            truncate_msg(p, arena_printf(p->arena, "message larger than %u bytes", G_MAXUINT / 2));
        whole_as_text(p, raw, n > G_MAXUINT / 2 ? G_MAXUINT / 2 : n);
        addresses(p, NULL);
        return;
    }
    gm_view_t v;
    gm_open(&v, raw, n);
    GMimeObject *body = v.gm ? g_mime_message_get_mime_part(v.gm) : NULL;
    if (body != NULL) {
        p->tree_parts += tree_count(p, body, 0);
        walk(p, body, -1, 0);
    } else
        whole_as_text(p, raw + body_offset(p->m, n), n - body_offset(p->m, n));
    addresses(p, v.gm);
    gm_close(&v);
}

/* Whether s[0..n) begins with "--" and one of the boundaries read; past
 * the boundaries kept, any "--" line may be one. */
static bool boundary_start(const parser_t *p, const char *s, size_t n)
{
    if (n < 3 || s[0] != '-' || s[1] != '-')
        return false;
    if (p->bounds_over)
        return true;
    for (size_t i = 0; i < p->bounds_n; i++) {
        size_t len = strlen(p->bounds[i]);
        if (n - 2 >= len && memcmp(s + 2, p->bounds[i], len) == 0)
            return true;
    }
    return false;
}

/*
 * GMime ends lines at LF only, while Thunderbird ends them at a CR alone as
 * well: "hello<CR>--boundary" starts a part for the reader that the parser
 * reads as text, and an attachment in it would reach no scanner decoded.
 * A boundary line next to a CR alone flags the message, which has the
 * antivirus stage scan it whole as well. Each CR is looked at once and
 * the lines between them do not overlap, so the pass is linear.
 */
static void cr_boundaries(parser_t *p, const char *s, size_t n)
{
    if (p->bounds_n == 0 && !p->bounds_over)
        return;
    const char *end = s + n;
    size_t candidates = 0;
    for (const char *cr = memchr(s, '\r', n); cr != NULL;
         cr = memchr(cr + 1, '\r', (size_t)(end - cr - 1))) {
        if (cr + 1 < end && cr[1] == '\n')
            continue;
        const char *ls = cr;
        while (ls > s && ls[-1] != '\n' && ls[-1] != '\r')
            ls--;
        bool before = (size_t)(cr - ls) >= 2 && ls[0] == '-' && ls[1] == '-';
        bool after = end - cr > 3 && cr[1] == '-' && cr[2] == '-';
        if (!before && !after)
            continue;
        /* Many "--" lines around lone CRs are hostile in themselves. */
        if (++candidates > CR_LINES_MAX || (before && boundary_start(p, ls, (size_t)(cr - ls))) ||
            (after && boundary_start(p, cr + 1, (size_t)(end - cr - 1)))) {
            truncate_msg(p, "a boundary line next to a CR alone: mail clients may read other "
                            "parts");
            return;
        }
    }
}

static void finish_text(parser_t *p)
{
    message_t *m = p->m;
    m->text = arena_strndup(p->arena, p->text.p ? p->text.p : "", p->text.len);
    m->text_len = p->text.len;
    m->urls = p->urls.items;
    m->url_count = p->urls.count;
    if (p->urls.over)
        m->urls_capped =
            arena_printf(p->arena, "more than %zu URLs: only the first %zu are checked",
                         p->urls.max, p->urls.max);
}

int message_parse(arena_t *arena, const char *raw, size_t len, const message_limits_t *lim,
                  message_t **out)
{
    parser_t p = {.arena = arena};
    if (lim != NULL)
        p.lim = *lim;
    else
        message_limits_default(&p.lim);
    if (p.lim.max_parts < 1)
        p.lim.max_parts = 1;
    p.html_left = p.lim.max_size;
    message_t *m = arena_calloc(arena, 1, sizeof(*m));
    p.m = m;
    if (raw == NULL)
        len = 0;
    m->raw = raw ? raw : (const char *)empty_data;
    m->raw_len = len;
    size_t n = len;
    if (n > p.lim.max_size) {
        n = p.lim.max_size;
        truncate_msg(&p, arena_printf(arena, "message larger than %zu bytes", p.lim.max_size));
    }
    /* Lines ended by CR alone read as one header line: the body and its
     * parts would reach no scanner, while a reader that takes CR as a line
     * end shows them. */
    if (n > 0 && memchr(m->raw, '\n', n) == NULL && memchr(m->raw, '\r', n) != NULL)
        truncate_msg(&p, "lines end in CR alone: the MIME structure cannot be read");
    size_t cut = nesting_cut(m->raw, n, p.lim.max_depth + 1);
    if (cut < n) {
        n = cut;
        truncate_msg(&p, arena_printf(arena, "MIME nesting deeper than %u", p.lim.max_depth));
    }
    cut = eword_cut(m->raw, n);
    if (cut < n) {
        n = cut;
        truncate_msg(&p, "too many encoded words in header fields");
    }
    url_set_init(&p.urls, arena, MESSAGE_MAX_URLS);
    m->header_len = header_block_len(m->raw, n);
    parse_headers(&p, m->raw, m->header_len);
    const char *subject = message_header(m, "Subject", 0);
    m->subject = subject ? subject : "";
    size_t start = begin_segment(&p);
    sb_put(&p.text, m->subject, strlen(m->subject));
    end_segment(&p, 0, start);
    /* Of two Subject fields some clients show the second: the text holds
     * each, so that what any reader shows reaches the rules. */
    for (size_t i = 1; (subject = message_header(m, "Subject", i)) != NULL; i++) {
        size_t mark = p.text.len;
        start = begin_segment(&p);
        sb_put(&p.text, subject, strlen(subject));
        end_segment(&p, mark, start);
    }
    parse_mime(&p, m->raw, n);
    cr_boundaries(&p, m->raw, n);
    finish_text(&p);
    free(p.text.p);
    free(p.scratch.p);
    *out = m;
    return 0;
}
