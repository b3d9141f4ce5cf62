/*
 * smuggle.c - HTML smuggling: an HTML or SVG attachment whose script turns
 * a base64 string into a file (atob, a Blob) and saves it (msSaveOrOpenBlob,
 * URL.createObjectURL, a download attribute), so that the browser writes a
 * file that no MIME part names. The engine's parser finds such files and
 * hands each to the stages as a child part of the page (SMF_PART_DERIVED,
 * no name); this only says the page is built to save one.
 */
#include "attachment.h"

#include <string.h>
#include <strings.h>

/* Case-insensitive search of a literal in s[0..n). */
static const unsigned char *att_find_ci(const unsigned char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (strncasecmp((const char *)s + i, lit, k) == 0)
            return s + i;
    return NULL;
}

/* The first of the literals found in s[0..n), or NULL. */
static const char *att_any(const unsigned char *s, size_t n, const char *const *lits)
{
    for (size_t i = 0; lits[i] != NULL; i++)
        if (att_find_ci(s, n, lits[i]) != NULL)
            return lits[i];
    return NULL;
}

/* Whether a name ends in one of the extensions; Windows drops trailing
 * dots and blanks from a name it saves. */
static int att_name_ends_in(const char *name, const char *const *ext, size_t count)
{
    size_t n = strlen(name);
    while (n > 0 && (name[n - 1] == '.' || name[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < count; i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && strncasecmp(name + n - k, ext[i], k) == 0)
            return 1;
    }
    return 0;
}

/* Whether either of a part's names (filename=, Content-Type name=) ends in
 * one of the extensions: a client may save it under either. */
static int att_named(const smf_part_t *p, const char *const *ext, size_t count)
{
    return att_name_ends_in(p->filename, ext, count) ||
           att_name_ends_in(p->other_filename, ext, count);
}

/* Whether a part is a page a browser opens and runs the scripts of: HTML
 * or SVG, by its type or its name. */
static int att_is_page(const smf_part_t *p)
{
    static const char *const ext[] = {".html", ".htm", ".xhtml", ".shtml", ".svg"};
    return strcmp(p->content_type, "text/html") == 0 ||
           strcmp(p->content_type, "image/svg+xml") == 0 || (p->flags & SMF_PART_HTML) ||
           att_named(p, ext, sizeof(ext) / sizeof(ext[0]));
}

/* Whether data begins as a program, an archive or a document does. */
static int att_file_head(const unsigned char *d, size_t n)
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
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
        if (n >= heads[i].len && memcmp(d, heads[i].magic, heads[i].len) == 0)
            return 1;
    return 0;
}

/* Whether a part is an image that begins as its type says: what a page
 * shows, not a file it saves. SVG is left out too: a page's icons. */
static int att_true_image(const smf_part_t *p)
{
    const unsigned char *b = p->data;
    size_t n = p->size;
    const char *t = p->content_type;
    if (strcmp(t, "image/svg+xml") == 0)
        return 1;
    if (strcmp(t, "image/png") == 0)
        return n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(t, "image/gif") == 0)
        return n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0);
    if (strcmp(t, "image/jpeg") == 0 || strcmp(t, "image/jpg") == 0)
        return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
    if (strcmp(t, "image/webp") == 0)
        return n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0;
    return 0;
}

/* Whether a part the parser made of a page is a script: a data: URI of a
 * JavaScript type, as <script src="data:..."> runs one. */
static int att_script(const smf_part_t *c)
{
    static const char *const types[] = {"text/javascript", "application/javascript",
                                        "application/x-javascript", "text/ecmascript",
                                        "application/ecmascript"};
    if (!(c->flags & SMF_PART_DERIVED))
        return 0;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(c->content_type, types[i]) == 0)
            return 1;
    return 0;
}

/*
 * The largest file the parser found in the page p that the page could save
 * without a name of its own: a child part it made (SMF_PART_DERIVED), with
 * no name, that is no image the page shows; a script of the page only when
 * there is no other, since the file a script builds is what it saves.
 * NULL when there is none; *head says whether any such file begins as a
 * program, archive or document.
 */
static const smf_part_t *att_carried(smf_msg_t *msg, const smf_part_t *p, int *head)
{
    const smf_part_t *best = NULL;
    size_t count = smf_msg_part_count(msg);
    *head = 0;
    for (size_t i = p->index + 1; i < count; i++) {
        const smf_part_t *c = smf_msg_part(msg, i);
        if (c == NULL || c->depth <= p->depth)
            break; /* Past the page's descendants. */
        if (c->parent != (long)p->index || !(c->flags & SMF_PART_DERIVED) ||
            c->filename[0] != '\0' || c->size == 0 || att_true_image(c))
            continue;
        /* The page itself read on past the end of its base64, as some
         * clients save it: no file of its own. */
        if (p->size > 0 && c->size >= p->size && memcmp(c->data, p->data, p->size) == 0)
            continue;
        if (att_file_head(c->data, c->size))
            *head = 1;
        int better = best == NULL || (att_script(best) && !att_script(c)) ||
                     (att_script(best) == att_script(c) && c->size > best->size);
        if (better)
            best = c;
    }
    return best;
}

/* Whether c may stand in a JavaScript identifier (ASCII). */
static int att_ident(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

/*
 * The first of the names found in s[0..n) as a script writes them: in
 * their case, as JavaScript reads names, and whole, with no letter or
 * digit next to them. The base64 of a page's images and fonts holds
 * "atob" or "ATOB" now and then; there it has letters on both sides.
 */
static const char *att_any_name(const unsigned char *s, size_t n, const char *const *names)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t k = strlen(names[i]), at = 0;
        const unsigned char *hit;
        while (at < n && (hit = memmem(s + at, n - at, names[i], k)) != NULL) {
            size_t h = (size_t)(hit - s);
            int whole =
                (h == 0 || !att_ident(s[h - 1])) &&
                (!att_ident((unsigned char)names[i][k - 1]) || h + k == n || !att_ident(s[h + k]));
            if (whole)
                return names[i];
            at = h + 1;
        }
    }
    return NULL;
}

static int att_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* "</script" or "</style" when the tag name at s is script or style,
 * whose content is code up to that end tag; else NULL. */
static const char *att_raw_end(const unsigned char *s, size_t n)
{
    static const char *const names[] = {"script", "style"};
    static const char *const ends[] = {"</script", "</style"};
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(names[i]);
        if (n > k && strncasecmp((const char *)s, names[i], k) == 0 &&
            (att_blank(s[k]) || s[k] == '>' || s[k] == '/'))
            return ends[i];
    }
    return NULL;
}

/*
 * Whether a tag of the page has a download attribute, with a value or
 * none, wherever it stands among the tag's attributes: <a download
 * href="data:..."> saves its file as surely as <a href=... download="x">.
 * A tag opens at '<' and a letter and ends at '>' outside a quoted value,
 * so that the word in the page's text ("Download our app") is no attribute;
 * the code of a <script> or <style> element is skipped to its end tag, as
 * "i<n; ... download = 1" is no tag either.
 */
static int att_download_attr(const unsigned char *s, size_t n)
{
    static const char word[] = "download";
    const size_t k = sizeof(word) - 1;
    int in_tag = 0;
    const char *raw = NULL; /* The end tag of the element the tag opens. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!in_tag) {
            in_tag =
                c == '<' && i + 1 < n && ((s[i + 1] | 0x20) >= 'a' && (s[i + 1] | 0x20) <= 'z');
            raw = in_tag ? att_raw_end(s + i + 1, n - i - 1) : NULL;
            continue;
        }
        if (c == '>') {
            in_tag = 0;
            if (raw != NULL) {
                const unsigned char *e = att_find_ci(s + i + 1, n - i - 1, raw);
                i = e != NULL ? (size_t)(e - s) - 1 : n;
            }
        } else if (c == '=') {
            /* A value is skipped whole: a '>' in quotes ends no tag, and
             * "href=/files/download" names no attribute. */
            size_t j = i + 1;
            while (j < n && att_blank(s[j]))
                j++;
            if (j < n && (s[j] == '"' || s[j] == '\'')) {
                const unsigned char *q = memchr(s + j + 1, s[j], n - j - 1);
                i = q != NULL ? (size_t)(q - s) : n;
            } else {
                while (j < n && !att_blank(s[j]) && s[j] != '>')
                    j++;
                i = j - 1;
            }
        } else if ((att_blank(s[i - 1]) || s[i - 1] == '/' || s[i - 1] == '"' ||
                    s[i - 1] == '\'') &&
                   n - i >= k && strncasecmp((const char *)s + i, word, k) == 0 &&
                   (n - i == k || att_blank(s[i + k]) || s[i + k] == '=' || s[i + k] == '>' ||
                    s[i + k] == '/')) {
            return 1;
        }
    }
    return 0;
}

int att_check_smuggling(att_ctx_t *ctx, const char *what, const smf_part_t *p)
{
    static const char *const decoders[] = {
        "atob", "Blob(", "Uint8Array", "Buffer.from", "base64ToArrayBuffer", NULL};
    static const char *const savers[] = {
        "msSaveOrOpenBlob", "msSaveBlob", "createObjectURL", ".download", "\"download\"",
        "'download'",       NULL};
    if (!att_is_page(p))
        return 0;
    int head;
    const smf_part_t *file = att_carried(ctx->msg, p, &head);
    if (file == NULL)
        return 0;
    /* Scripts run in <script> elements, event handlers and javascript:
     * URLs alike: the words are looked for in the whole page, and in the
     * scripts it runs by data: URI, which the parser made parts of it. */
    const char *saver = att_any(p->data, p->size, savers);
    if (saver == NULL && att_download_attr(p->data, p->size))
        saver = "download attribute";
    /* A page that names no decoder may still get one by another name
     * (window['at' + 'ob']): then the file must begin as a program, an
     * archive or a document does. */
    const char *decoder = att_any_name(p->data, p->size, decoders);
    size_t count = smf_msg_part_count(ctx->msg);
    for (size_t i = p->index + 1; i < count && (saver == NULL || decoder == NULL); i++) {
        const smf_part_t *c = smf_msg_part(ctx->msg, i);
        if (c == NULL || c->depth <= p->depth)
            break;
        if (c->parent != (long)p->index || !att_script(c))
            continue;
        if (saver == NULL)
            saver = att_any(c->data, c->size, savers);
        if (decoder == NULL)
            decoder = att_any_name(c->data, c->size, decoders);
    }
    if (saver == NULL)
        return 0;
    if (decoder == NULL && !head)
        return 0;
    if (decoder == NULL)
        decoder = "base64";
    /* "Blob(" reads better as "Blob". */
    int dn = (int)strcspn(decoder, "(");
    /* The file's length in base64 characters, padding left out. */
    size_t chars = (file->size * 4 + 2) / 3;
    const char *detail = smf_msg_printf(ctx->msg, "%s: base64 string of %zu characters, %.*s, %s",
                                        what, chars, dn, decoder, saver);
    return smf_msg_add_symbol(ctx->msg, "ATT_HTML_SMUGGLING", ctx->pol->html_smuggling_score,
                              detail);
}
