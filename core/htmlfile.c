/*
 * htmlfile.c - finds the files HTML carries inside itself and decodes them:
 * data: URIs (RFC 2397, read as browsers read them) and long base64 strings
 * in scripts, which atob() turns into a Blob that the page saves.
 */
#include "htmlfile.h"
#include "codec.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

/* A type that would be no file name's type: the payload is then plain text. */
#define TYPE_MAX 127

typedef struct blob {
    const char *s; /* The base64 characters, joins left out, in the arena. */
    size_t n;
    int head;         /* A whole string that begins as a program, archive or document. */
    const char *type; /* An image's type, for a data: URI's payload that begins as one. */
} blob_t;

typedef struct collector {
    htmlfile_list_t *files;
    blob_t *blobs;
    size_t blob_count;
    size_t blob_cap;
    int decodes;   /* A script of the page decodes base64. */
    int scripts;   /* The page runs script. */
    size_t shown;  /* Files listed that are images the page only shows. */
    size_t others; /* Other files listed. */
} collector_t;

/* The tag given for a data: URI of a style sheet: by address, since no
 * tag of the page can be it. */
static const char css_tag[] = "style";

/* A base64 character's value, -1 for anything else. */
static int b64_value(unsigned char c)
{
    return codec_b64_rev[c] - 1;
}

static int blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/* A new entry of the list, or NULL when it holds as many files of the
 * kind as it may: one past the room, enough to reach the part cap. */
static htmlfile_t *add_file(collector_t *c, int shown_only)
{
    htmlfile_list_t *l = c->files;
    size_t *listed = shown_only ? &c->shown : &c->others;
    if (*listed > l->room)
        return NULL;
    (*listed)++;
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        htmlfile_t *v = arena_alloc(l->arena, l->cap * sizeof(*v));
        if (l->count > 0)
            memcpy(v, l->items, l->count * sizeof(*v));
        l->items = v;
    }
    htmlfile_t *f = &l->items[l->count++];
    memset(f, 0, sizeof(*f));
    return f;
}

/* The media type of a data: URI's header ("image/png;name=x"), lower case,
 * in t (TYPE_MAX + 1 bytes); "text/plain" when it names none, as browsers
 * read it. */
static const char *uri_type(char *t, const char *h, size_t n)
{
    size_t i = 0;
    while (i < n && blank((unsigned char)h[i]))
        i++;
    size_t e = i;
    while (e < n && h[e] != ';')
        e++;
    while (e > i && blank((unsigned char)h[e - 1]))
        e--;
    if (e == i || e - i > TYPE_MAX || memchr(h + i, '/', e - i) == NULL)
        return "text/plain";
    for (size_t k = 0; k < e - i; k++)
        t[k] = (char)(h[i + k] >= 'A' && h[i + k] <= 'Z' ? h[i + k] + 32 : h[i + k]);
    t[e - i] = '\0';
    return t;
}

/* Whether the bytes b[0..n) begin as a file of the image type does. */
static int image_bytes(const char *type, const unsigned char *b, size_t n)
{
    if (strcmp(type, "image/png") == 0)
        return n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(type, "image/gif") == 0)
        return n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0);
    if (strcmp(type, "image/jpeg") == 0 || strcmp(type, "image/jpg") == 0)
        return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
    if (strcmp(type, "image/webp") == 0)
        return n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0;
    return 0;
}

/* Payload characters decoded to find what a file begins as. */
#define HEAD_SRC 64

/*
 * Whether f, found on the tag `tag`, is an image that a page without
 * script only draws: on an element that shows it as an image, of a raster
 * type (SVG is a document and may hold script) whose bytes begin as that
 * type does, without a download name.
 */
static int shown_image(const char *tag, int download, const htmlfile_t *f)
{
    static const char *const shows[] = {"img", "body", "table", "tr", "td", "th"};
    int shown = tag == css_tag;
    for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]) && !shown; i++)
        shown = strcmp(tag, shows[i]) == 0;
    if (!shown || download)
        return 0;
    htmlfile_t head = *f;
    if (head.src_len > HEAD_SRC)
        head.src_len = HEAD_SRC;
    head.size_max = head.src_len;
    unsigned char b[HEAD_SRC];
    return image_bytes(f->content_type, b, htmlfile_decode(&head, b));
}

/* Whether the header ends in ";base64", blanks around it allowed. */
static int uri_base64(const char *h, size_t n)
{
    while (n > 0 && blank((unsigned char)h[n - 1]))
        n--;
    if (n < 7 || strncasecmp(h + n - 6, "base64", 6) != 0)
        return 0;
    n -= 6;
    while (n > 0 && blank((unsigned char)h[n - 1]))
        n--;
    return n > 0 && h[n - 1] == ';';
}

/* A file name is kept whole up to this length, else by its end, which
 * holds the extension a browser saves it with. */
#define NAME_MAX_KEPT 1024

static const char *download_name(arena_t *a, const char *d, size_t n)
{
    /* A name of blanks only is none: the browser names the file itself. */
    size_t k = 0;
    while (d != NULL && k < n && blank((unsigned char)d[k]))
        k++;
    if (d == NULL || k == n)
        return "";
    if (n > NAME_MAX_KEPT) {
        d += n - NAME_MAX_KEPT;
        n = NAME_MAX_KEPT;
        /* Start on a character, not inside one. */
        while (n > 0 && ((unsigned char)*d & 0xc0) == 0x80)
            d++, n--;
    }
    return arena_strndup(a, d, n);
}

/* Reads the data: URI uri[0..len) into *u (type in `type`, TYPE_MAX + 1
 * bytes); returns 0 when a browser makes no file of it. */
static int uri_file(const char *uri, size_t len, char *type, htmlfile_t *u)
{
    /* A fragment is no part of the file a browser makes of the URI. */
    const char *hash = memchr(uri, '#', len);
    if (hash != NULL)
        len = (size_t)(hash - uri);
    const char *comma = memchr(uri, ',', len);
    if (comma == NULL)
        return 0; /* Browsers load nothing from it. */
    const char *h = uri + 5;
    size_t hn = (size_t)(comma - h);
    size_t body = (size_t)(uri + len - (comma + 1));
    if (body == 0)
        return 0;
    *u = (htmlfile_t){.content_type = uri_type(type, h, hn),
                      .src = comma + 1,
                      .src_len = body,
                      .base64 = uri_base64(h, hn)};
    u->size_max = u->base64 ? body / 4 * 3 + 3 : body;
    return 1;
}

static void on_data_uri(void *ctx, const char *tag, const char *uri, size_t len,
                        const char *download, size_t download_len)
{
    collector_t *c = ctx;
    char type[TYPE_MAX + 1];
    htmlfile_t u;
    if (!uri_file(uri, len, type, &u))
        return;
    u.shown_only = shown_image(tag, download != NULL, &u);
    htmlfile_t *f = add_file(c, u.shown_only);
    if (f == NULL)
        return;
    *f = u;
    if (f->content_type == type)
        f->content_type = arena_strdup(c->files->arena, type);
    f->filename = download_name(c->files->arena, download, download_len);
}

/*
 * The character a style sheet holds at s[i], with its escapes undone as a
 * CSS tokenizer undoes them ("\\64 ata:" is "data:"), and the bytes it
 * takes in *len. An escaped line break, which only continues a string,
 * is -1 with its length.
 */
static long css_char(const char *s, size_t n, size_t i, size_t *len)
{
    *len = 1;
    if (s[i] != '\\')
        return (unsigned char)s[i];
    if (i + 1 >= n)
        return 0xfffd;
    size_t j = i + 1;
    if (s[j] == '\n' || s[j] == '\f' || s[j] == '\r') {
        *len = s[j] == '\r' && j + 1 < n && s[j + 1] == '\n' ? 3 : 2;
        return -1;
    }
    unsigned long v = 0;
    while (j < n && j < i + 7 && codec_hex_value((unsigned char)s[j]) >= 0)
        v = v * 16 + (unsigned long)codec_hex_value((unsigned char)s[j++]);
    if (j == i + 1) {
        *len = 2;
        return (unsigned char)s[j];
    }
    /* One blank after a hex escape belongs to it. */
    if (j < n && s[j] == '\r' && j + 1 < n && s[j + 1] == '\n')
        j += 2;
    else if (j < n && blank((unsigned char)s[j]))
        j++;
    *len = j - i;
    return v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0xfffd : (long)v;
}

/* Whether the CSS value at s[i..end) starts with "data:", escapes undone,
 * blanks before it skipped. */
static int css_is_data(const char *s, size_t end, size_t i)
{
    size_t k = 0, u;
    while (i < end && k < 5) {
        long c = css_char(s, end, i, &u);
        i += u;
        if (c < 0 || (k == 0 && c <= ' ') || c == '\t' || c == '\n' || c == '\r')
            continue;
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != "data:"[k++])
            return 0;
    }
    return k == 5;
}

/* Gives the data: URI of the CSS value s[i..end) to the collector, its
 * escapes undone, as the URL parser then reads it. */
static void css_uri(collector_t *c, const char *s, size_t i, size_t end)
{
    if (!css_is_data(s, end, i))
        return;
    /* An escape as short as "\\0" stands for U+FFFD, three bytes. */
    char *d = arena_alloc(c->files->arena, 3 * (end - i) + 1);
    size_t k = 0, u;
    while (i < end) {
        long ch = css_char(s, end, i, &u);
        int raw = s[i] != '\\' || (u == 2 && ch >= 0x80); /* A byte of UTF-8 as written. */
        i += u;
        if (ch < 0 || ch == '\t' || ch == '\n' || ch == '\r' || (k == 0 && ch <= ' '))
            continue;
        if (raw)
            d[k++] = (char)ch;
        else
            k += utf8_put(d + k, (unsigned)ch);
    }
    while (k > 0 && (unsigned char)d[k - 1] <= ' ')
        k--;
    on_data_uri(c, css_tag, d, k, NULL, 0);
}

/* Where the CSS string opened at s[i] ends: its closing quote, a line
 * break (which ends it unclosed) or the end. */
static size_t css_string_end(const char *s, size_t n, size_t i)
{
    char q = s[i++];
    while (i < n && s[i] != q && s[i] != '\n' && s[i] != '\r' && s[i] != '\f')
        i += s[i] == '\\' && i + 1 < n ? 2 : 1;
    return i;
}

/*
 * The data: URIs of a style sheet: in url(...) and in strings, which
 * @import and image-set() take for URLs. One pass over the text, comments
 * skipped, each character looked at a bounded number of times.
 */
static void on_style(void *ctx, const char *css, size_t len)
{
    collector_t *c = ctx;
    size_t i = 0;
    while (i < len) {
        if (css[i] == '/' && i + 1 < len && css[i + 1] == '*') {
            const char *e = memmem(css + i + 2, len - i - 2, "*/", 2);
            i = e != NULL ? (size_t)(e - css) + 2 : len;
        } else if (css[i] == '"' || css[i] == '\'') {
            size_t e = css_string_end(css, len, i);
            css_uri(c, css, i + 1, e);
            i = e < len ? e + 1 : len;
        } else if (i + 4 <= len && strncasecmp(css + i, "url(", 4) == 0) {
            size_t j = i + 4;
            while (j < len && blank((unsigned char)css[j]))
                j++;
            if (j < len && (css[j] == '"' || css[j] == '\'')) {
                i = j; /* A string, read as one just above. */
                continue;
            }
            size_t e = j, u;
            while (e < len && css[e] != ')' && !blank((unsigned char)css[e])) {
                css_char(css, len, e, &u); /* An escape's blank is its own. */
                e += u;
            }
            css_uri(c, css, j, e);
            i = e;
        } else {
            i++;
        }
    }
}

/*
 * What is known of an array of strings in a script (["...", "..."]):
 * whether it is joined with an empty string, which makes its pieces one
 * string, as atob() then receives it. The look from any comma between its
 * pieces ends where the look from its first comma ends (`to`), so one
 * answer serves them all and a script is still read in one pass.
 */
typedef struct array_memo {
    const char *s;
    size_t from, to;
    int joined;
} array_memo_t;

static size_t skip_blanks(const char *s, size_t n, size_t i)
{
    while (i < n && blank((unsigned char)s[i]))
        i++;
    return i;
}

static int quote(char c)
{
    return c == '"' || c == '\'' || c == '`';
}

/* Whether s[i..n) is ".join('')" (any quotes, blanks between). */
static int joined_empty(const char *s, size_t n, size_t i)
{
    static const char *const parts[] = {".", "join", "("};
    for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
        size_t w = strlen(parts[k]);
        i = skip_blanks(s, n, i);
        if (n - i < w || memcmp(s + i, parts[k], w) != 0)
            return 0;
        i += w;
    }
    i = skip_blanks(s, n, i);
    if (i + 1 >= n || !quote(s[i]) || s[i + 1] != s[i])
        return 0;
    i = skip_blanks(s, n, i + 2);
    return i < n && s[i] == ')';
}

/*
 * Whether the comma at s[at] parts two pieces of an array of strings that
 * the script joins with an empty string: the pieces (strings, joined by
 * "+" or not) run on to the array's ']', and ".join('')" follows it.
 */
static int array_joined(const char *s, size_t n, size_t at, array_memo_t *m)
{
    if (m->s == s && at >= m->from && at < m->to)
        return m->joined;
    size_t i = at;
    while (i < n && (s[i] == ',' || s[i] == '+')) {
        char sep = s[i];
        i = skip_blanks(s, n, i + 1);
        if (i >= n || (sep == ',' && s[i] == ']') || !quote(s[i]))
            break;
        char q = s[i++];
        while (i < n && s[i] != q && (s[i] != '\n' || q == '`'))
            i += s[i] == '\\' ? 2 : 1;
        if (i >= n || s[i] != q)
            break;
        i = skip_blanks(s, n, i + 1);
    }
    *m = (array_memo_t){s, at, i > at ? i : at + 1,
                        i < n && s[i] == ']' && joined_empty(s, n, i + 1)};
    return m->joined;
}

/* Where the join of two pieces of one string ends ("..." + "...", the
 * pieces of an array joined with an empty string, a line continuation,
 * blanks), or at when there is none. */
static size_t join_end(const char *s, size_t n, size_t at, array_memo_t *m)
{
    size_t i = at;
    if (i < n && quote(s[i])) {
        size_t j = skip_blanks(s, n, i + 1);
        if (j < n && (s[j] == '+' || (s[j] == ',' && array_joined(s, n, j, m)))) {
            j = skip_blanks(s, n, j + 1);
            if (j < n && quote(s[j]))
                return j + 1;
        }
        return at;
    }
    while (i < n && (blank((unsigned char)s[i]) ||
                     (s[i] == '\\' && i + 1 < n && (s[i + 1] == '\n' || s[i + 1] == '\r'))))
        i += s[i] == '\\' ? 2 : 1;
    return i;
}

/* The value of the n hex digits at s, or -1. */
static int hex_run(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = codec_hex_value((unsigned char)s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* The value of the escape "\u{H...}" whose digits start at s[i], or -1;
 * the bytes from the backslash to the closing brace in *len. JavaScript
 * takes any number of leading zeros, up to the code point 0x10ffff. */
static int braced_hex(const char *s, size_t n, size_t i, size_t *len)
{
    size_t j = i;
    long v = 0;
    int d;
    while (j < n && (d = codec_hex_value((unsigned char)s[j])) >= 0 && v <= 0x10ffff)
        v = v * 16 + d, j++;
    if (j == i || j >= n || s[j] != '}' || v > 0x10ffff)
        return -1;
    *len = j + 1 - (i - 3);
    return (int)v;
}

/*
 * The base64 character a script's string holds at s[i], written as itself
 * or as a string escape, with the bytes it takes in *len; -1 for anything
 * else. JSON encoders write '/' as "\/", and "\x2b", "\u002f" or
 * "\u{2f}" are what JavaScript makes of them too, as is "\A" of any
 * character that starts no escape of its own, so the string atob()
 * receives is whole.
 */
static int script_char(const char *s, size_t n, size_t i, size_t *len)
{
    unsigned char c = (unsigned char)s[i];
    *len = 1;
    if (b64_value(c) >= 0)
        return c;
    if (c != '\\' || i + 1 >= n)
        return -1;
    unsigned char e = (unsigned char)s[i + 1];
    int v = -1;
    if (e == 'x' && i + 3 < n)
        v = hex_run(s + i + 2, 2), *len = 4;
    else if (e == 'u' && i + 2 < n && s[i + 2] == '{')
        v = braced_hex(s, n, i + 3, len);
    else if (e == 'u' && i + 5 < n)
        v = hex_run(s + i + 2, 4), *len = 6;
    else if (b64_value(e) >= 0 && !(e >= '0' && e <= '9') && strchr("bfnrtvxu", e) == NULL)
        v = e, *len = 2; /* "\/", "\+", "\A": the character itself. */
    return v >= 0 && v < 0x80 && b64_value((unsigned char)v) >= 0 ? v : -1;
}

/*
 * One run of base64 from `at`: its characters, across the joins that
 * split a long string in a script, up to padding or anything else.
 * Writes the characters to out when not NULL; returns where it ends and
 * the count in *count.
 */
static size_t run(const char *s, size_t n, size_t at, char *out, size_t *count, array_memo_t *m)
{
    size_t i = at, k = 0, u;
    for (;;) {
        int ch;
        while (i < n && (ch = script_char(s, n, i, &u)) >= 0) {
            if (out != NULL)
                out[k] = (char)ch;
            k++;
            i += u;
        }
        if (i < n && s[i] == '=')
            break;
        size_t j = join_end(s, n, i, m);
        if (j == i || j >= n || script_char(s, n, j, &u) < 0)
            break;
        i = j;
    }
    while (i < n && s[i] == '=')
        i++;
    *count = k;
    return i;
}

/* Whether a script decodes base64 into bytes, as a page does that builds
 * a file from a string. */
static int script_decodes(const char *body, size_t len)
{
    static const char *const words[] = {"atob", "Uint8Array", "Blob", "Buffer.from",
                                        "base64ToArrayBuffer"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (memmem(body, len, words[i], strlen(words[i])) != NULL)
            return 1;
    return 0;
}

/* The header of a data: URI written in a script's string ("data:" to
 * ";base64,") is read up to this length. */
#define DATA_HEAD_MAX 256

/* Where the data: URI written in a script's string starts whose base64
 * payload begins at body[at] ('data:...;base64,...', opened by a quote),
 * or `at` when the run is no such payload. */
static size_t data_header(const char *body, size_t at)
{
    if (at < 7 || strncasecmp(body + at - 7, "base64,", 7) != 0)
        return at;
    /* The URI's header is looked for back to its quote, no further than a
     * header runs, so that no character is read twice over. */
    size_t stop = at - 7 > DATA_HEAD_MAX ? at - 7 - DATA_HEAD_MAX : 0, i = at - 7;
    while (i > stop && !quote(body[i - 1]) && !blank((unsigned char)body[i - 1]))
        i--;
    return i > 0 && quote(body[i - 1]) && at - i >= 12 && strncasecmp(body + i, "data:", 5) == 0
               ? i
               : at;
}

/* Whether the run of base64 body[at..end) is a whole quoted string (its
 * padding included), as a string handed to atob() is written, or the
 * payload of a data: URI written in one ('data:...;base64,...'), which
 * fetch() decodes. */
static int whole_string(const char *body, size_t len, size_t at, size_t end)
{
    int opened = at > 0 && (quote(body[at - 1]) || data_header(body, at) < at);
    return opened && end < len && quote(body[end]);
}

static size_t b64_decode(const unsigned char *s, size_t n, unsigned char *out);

/* Base64 characters decoded to know what a string begins as: the
 * longest signature below is 8 bytes. */
#define HEAD_CHARS 12

/* Whether the base64 characters s[0..n) decode to bytes that begin as a
 * program (MZ, ELF), an archive (zip, 7z, rar) or a document (PDF, OLE2)
 * does: what no token of a script is, and what a page that saves a file
 * carries, whatever it decodes it with. */
static int file_head(const char *s, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
    } heads[] = {{"MZ", 2},
                 {"PK\x03\x04", 4},
                 {"7z\xbc\xaf\x27\x1c", 6},
                 {"Rar!\x1a\x07", 6},
                 {"%PDF-", 5},
                 {"\x7f"
                  "ELF",
                  4},
                 {"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8}};
    unsigned char b[HEAD_CHARS];
    size_t k = b64_decode((const unsigned char *)s, n < HEAD_CHARS ? n : HEAD_CHARS, b);
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
        if (k >= heads[i].len && memcmp(b, heads[i].magic, heads[i].len) == 0)
            return 1;
    return 0;
}

/* Base64 characters decoded to know whether a payload begins as an image:
 * WebP's signature ends at its 12th byte. */
#define IMAGE_CHARS 16

/*
 * The type of the data: URI whose base64 payload, s[0..n) as the run at
 * body[at] holds it, a script's string carries, when it is an image that
 * begins as its type says (as an <img>'s would be); else NULL. A script
 * that sets an <img>'s source from a list of icons carries as many.
 */
static const char *script_image(collector_t *c, const char *body, size_t at, const char *s,
                                size_t n)
{
    size_t h = data_header(body, at);
    if (h == at)
        return NULL;
    char t[TYPE_MAX + 1];
    const char *type = uri_type(t, body + h + 5, at - 1 - (h + 5));
    unsigned char b[IMAGE_CHARS];
    size_t k = b64_decode((const unsigned char *)s, n < IMAGE_CHARS ? n : IMAGE_CHARS, b);
    return image_bytes(type, b, k) ? arena_strdup(c->files->arena, type) : NULL;
}

/* Lists the base64 strings of a script, or of data a script may read. */
static void read_strings(collector_t *c, const char *body, size_t len)
{
    array_memo_t memo = {0};
    size_t i = 0;
    while (i < len) {
        size_t u;
        if (script_char(body, len, i, &u) < 0) {
            i++;
            continue;
        }
        size_t count;
        size_t end = run(body, len, i, NULL, &count, &memo);
        if (count >= HTMLFILE_SCRIPT_MIN ||
            (count >= HTMLFILE_SCRIPT_SHORT && whole_string(body, len, i, end))) {
            char *copy = arena_alloc(c->files->arena, count);
            run(body, len, i, copy, &count, &memo);
            int head = count < HTMLFILE_SCRIPT_MIN && file_head(copy, count);
            const char *type = script_image(c, body, i, copy, count);
            if (c->blob_count == c->blob_cap) {
                c->blob_cap = c->blob_cap ? c->blob_cap * 2 : 4;
                blob_t *v = arena_alloc(c->files->arena, c->blob_cap * sizeof(*v));
                if (c->blob_count > 0)
                    memcpy(v, c->blobs, c->blob_count * sizeof(*v));
                c->blobs = v;
            }
            c->blobs[c->blob_count++] = (blob_t){copy, count, head, type};
        }
        i = end > i ? end : i + 1;
    }
}

/*
 * The src of a <script> that is a data: URI: the script a browser runs,
 * read as an inline one is. Browsers run a script of any type but those
 * they refuse to take for one: an image, audio, video or CSV. The file
 * itself is listed by on_data_uri(), as any data: URI is; its decoded
 * copy is no longer than the URI.
 */
static void on_script(void *ctx, const char *body, size_t len)
{
    collector_t *c = ctx;
    c->scripts = 1;
    if (!c->decodes)
        c->decodes = script_decodes(body, len);
    read_strings(c, body, len);
}

/*
 * A <script> of a JSON type: no script of the page, whose images it leaves
 * only shown and whose words ("atob" in a JSON value) decode nothing. Its
 * strings are read all the same: a script of the page may parse the data
 * and decode a file from it, and a long one is a file whatever reads it.
 */
static void on_script_data(void *ctx, const char *body, size_t len)
{
    read_strings(ctx, body, len);
}

static void on_script_uri(void *ctx, const char *uri, size_t len)
{
    collector_t *c = ctx;
    char type[TYPE_MAX + 1];
    htmlfile_t u;
    if (!uri_file(uri, len, type, &u))
        return;
    static const char *const refused[] = {"image/", "audio/", "video/", "text/csv"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strncmp(u.content_type, refused[i], strlen(refused[i])) == 0)
            return;
    char *code = arena_alloc(c->files->arena, u.size_max + 1);
    on_script(c, code, htmlfile_decode(&u, (unsigned char *)code));
}

static int longer_first(const void *a, const void *b)
{
    const blob_t *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : (x->s > y->s) - (x->s < y->s);
}

#define STR_(x) #x
#define STR(x) STR_(x)

static void on_unread(void *ctx)
{
    collector_t *c = ctx;
    c->files->unread = "iframe srcdoc pages nested deeper than " STR(HTML_SRCDOC_DEPTH);
}

/*
 * Leaves out of the list the images the page only shows that do not fit
 * in the room the other files and the parts after the page leave, keeping
 * the first in document order; in a page that runs script every file
 * counts as any other.
 */
static void fit_shown(collector_t *c)
{
    htmlfile_list_t *l = c->files;
    size_t taken = c->others + l->reserved;
    size_t keep = taken >= c->others && l->room > taken ? l->room - taken : 0, k = 0;
    for (size_t i = 0; i < l->count; i++) {
        htmlfile_t *f = &l->items[i];
        if (c->scripts)
            f->shown_only = 0;
        else if (f->shown_only && keep == 0)
            continue;
        else if (f->shown_only)
            keep--;
        l->items[k++] = *f;
    }
    l->count = k;
}

/* Why a page of more short strings than are taken is not read whole. */
static const char too_many_decoded[] = "more than " STR(
    HTMLFILE_SCRIPT_SHORT_MAX) " short base64 strings in the scripts of a page that decodes base64";
static const char too_many_heads[] = "more than " STR(
    HTMLFILE_SCRIPT_SHORT_MAX) " short base64 strings that begin as a program, archive or "
                               "document in the scripts of a page";

char *htmlfile_collect(arena_t *arena, const char *html, size_t len, size_t room, size_t reserved,
                       size_t *out_len, url_set_t *urls, htmlfile_list_t *files)
{
    memset(files, 0, sizeof(*files));
    files->arena = arena;
    files->room = room;
    files->reserved = reserved;
    collector_t c = {.files = files};
    html_sink_t sink = {.data_uri = on_data_uri,
                        .script = on_script,
                        .script_uri = on_script_uri,
                        .script_data = on_script_data,
                        .style = on_style,
                        .unread = on_unread,
                        .ctx = &c};
    char *text = html_scan(arena, html, len, out_len, urls, &sink);
    /* The longest strings first: a cap then leaves out the short ones,
     * while a page's payload is its longest string. */
    if (c.blob_count > 1)
        qsort(c.blobs, c.blob_count, sizeof(*c.blobs), longer_first);
    /* A shorter string is taken only from a page that decodes base64, or
     * when it begins as a program, archive or document does (a page may
     * reach its decoder by a name no word above finds), and only so many
     * of them: without that, the words and tokens of scripts would be
     * parts, as many as the part cap allows, and then past it. A page with
     * more does not pass for read: any of those left out may be the file
     * it saves. */
    size_t shorter = 0;
    for (size_t i = 0; i < c.blob_count; i++) {
        if (c.blobs[i].n < HTMLFILE_SCRIPT_MIN && !c.decodes && !c.blobs[i].head)
            continue;
        /* An image, as a page's <img> would show it, is no token: it
         * counts as other data: URIs do, against the part cap only. */
        if (c.blobs[i].n < HTMLFILE_SCRIPT_MIN && c.blobs[i].type == NULL &&
            shorter++ == HTMLFILE_SCRIPT_SHORT_MAX) {
            /* Said as the strings were taken: in a page that names no
             * decoder, only those that begin as a file were. */
            files->unread = c.decodes ? too_many_decoded : too_many_heads;
            break;
        }
        htmlfile_t *f = add_file(&c, 0);
        if (f == NULL)
            break;
        f->content_type = c.blobs[i].type != NULL ? c.blobs[i].type : "application/octet-stream";
        f->filename = "";
        f->src = c.blobs[i].s;
        f->src_len = c.blobs[i].n;
        f->base64 = 1;
        f->from_script = 1;
        f->size_max = c.blobs[i].n / 4 * 3 + 3;
    }
    fit_shown(&c);
    return text;
}

/* Base64 that skips what is not of its alphabet and stops at padding. */
static size_t b64_decode(const unsigned char *s, size_t n, unsigned char *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return k;
}

size_t htmlfile_decode(const htmlfile_t *f, unsigned char *out)
{
    const unsigned char *s = (const unsigned char *)f->src;
    size_t n = f->src_len, k = 0;
    /* Browsers undo percent escapes first, in base64 payloads too. */
    int escaped = memchr(s, '%', n) != NULL;
    unsigned char *plain = escaped && f->base64 ? xmalloc(n) : out;
    if (!escaped) {
        if (!f->base64)
            memcpy(out, s, n);
        return f->base64 ? b64_decode(s, n, out) : n;
    }
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = codec_hex_value(s[i + 1])) >= 0 &&
            (lo = codec_hex_value(s[i + 2])) >= 0) {
            plain[k++] = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else {
            plain[k++] = s[i];
        }
    }
    if (!f->base64)
        return k;
    size_t r = b64_decode(plain, k, out);
    free(plain);
    return r;
}
