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

/* Whether a part ends in one of the extensions; Windows drops trailing
 * dots and blanks from a name it saves. */
static int att_named(const smf_part_t *p, const char *const *ext, size_t count)
{
    size_t n = strlen(p->filename);
    while (n > 0 && (p->filename[n - 1] == '.' || p->filename[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < count; i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && strncasecmp(p->filename + n - k, ext[i], k) == 0)
            return 1;
    }
    return 0;
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

/*
 * The largest file the parser found in the page p that the page could save
 * without a name of its own: a child part it made (SMF_PART_DERIVED), with
 * no name, that is no image the page shows. NULL when there is none; *head
 * says whether any such file begins as a program, archive or document.
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
        if (best == NULL || c->size > best->size)
            best = c;
    }
    return best;
}

int att_check_smuggling(att_ctx_t *ctx, const char *what, const smf_part_t *p)
{
    static const char *const decoders[] = {
        "atob", "Blob(", "Uint8Array", "Buffer.from", "base64ToArrayBuffer", NULL};
    static const char *const savers[] = {"msSaveOrOpenBlob", "msSaveBlob",   "createObjectURL",
                                         ".download",        "\"download\"", "'download'",
                                         " download=",       " download>",   NULL};
    if (!att_is_page(p))
        return 0;
    int head;
    const smf_part_t *file = att_carried(ctx->msg, p, &head);
    if (file == NULL)
        return 0;
    /* Scripts run in <script> elements, event handlers and javascript:
     * URLs alike: the words are looked for in the whole page. */
    const char *saver = att_any(p->data, p->size, savers);
    if (saver == NULL)
        return 0;
    /* A page that names no decoder may still get one by another name
     * (window['at' + 'ob']): then the file must begin as a program, an
     * archive or a document does. */
    const char *decoder = att_any(p->data, p->size, decoders);
    if (decoder == NULL && !head)
        return 0;
    if (decoder == NULL)
        decoder = "base64";
    /* "Blob(" reads better as "Blob", " download=" as "download attribute". */
    int dn = (int)strcspn(decoder, "(");
    if (saver[0] == ' ')
        saver = "download attribute";
    /* The file's length in base64 characters, padding left out. */
    size_t chars = (file->size * 4 + 2) / 3;
    const char *detail = smf_msg_printf(ctx->msg, "%s: base64 string of %zu characters, %.*s, %s",
                                        what, chars, dn, decoder, saver);
    return smf_msg_add_symbol(ctx->msg, "ATT_HTML_SMUGGLING", ctx->pol->html_smuggling_score,
                              detail);
}
