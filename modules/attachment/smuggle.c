/*
 * smuggle.c - HTML smuggling: an HTML attachment whose script turns a long
 * base64 string into a file (atob, a Blob) and saves it (msSaveOrOpenBlob,
 * URL.createObjectURL, a download attribute), so that the browser writes a
 * file that no MIME part names. The engine hands the decoded string to the
 * stages as a part of its own; this only says the page is built to do so.
 */
#include "attachment.h"

#include <string.h>
#include <strings.h>

/* Base64 characters a string must hold to count as a smuggled file, as
 * the engine's parser counts them (HTMLFILE_SCRIPT_MIN). */
#define ATT_SMUGGLE_MIN 1024

static int att_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static int att_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

static int att_quote(unsigned char c)
{
    return c == '"' || c == '\'' || c == '`';
}

/* Where the join of two pieces of one string ends ("..." + "...", a line
 * continuation, blanks), or at when there is none. */
static size_t att_join_end(const unsigned char *s, size_t n, size_t at)
{
    size_t i = at;
    if (i < n && att_quote(s[i])) {
        size_t j = i + 1;
        while (j < n && att_blank(s[j]))
            j++;
        if (j >= n || s[j] != '+')
            return at;
        j++;
        while (j < n && att_blank(s[j]))
            j++;
        return j < n && att_quote(s[j]) ? j + 1 : at;
    }
    while (i < n && (att_blank(s[i]) || (s[i] == '\\' && i + 1 < n && att_blank(s[i + 1]))))
        i += s[i] == '\\' ? 2 : 1;
    return i;
}

/* The longest base64 string in s[0..n), joins included, in characters. */
static size_t att_longest_b64(const unsigned char *s, size_t n)
{
    size_t best = 0, i = 0;
    while (i < n) {
        if (!att_b64_char(s[i])) {
            i++;
            continue;
        }
        size_t count = 0;
        for (;;) {
            while (i < n && att_b64_char(s[i])) {
                count++;
                i++;
            }
            size_t j = att_join_end(s, n, i);
            if (j == i || j >= n || !att_b64_char(s[j]))
                break;
            i = j;
        }
        if (count > best)
            best = count;
    }
    return best;
}

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

/* Whether a part is an HTML file a browser opens: its type or its name. */
static int att_is_html(const smf_part_t *p)
{
    if (strcmp(p->content_type, "text/html") == 0 || (p->flags & SMF_PART_HTML))
        return 1;
    size_t n = strlen(p->filename);
    while (n > 0 && (p->filename[n - 1] == '.' || p->filename[n - 1] == ' '))
        n--;
    static const char *const ext[] = {".html", ".htm", ".xhtml", ".shtml"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && strncasecmp(p->filename + n - k, ext[i], k) == 0)
            return 1;
    }
    return 0;
}

int att_check_smuggling(att_ctx_t *ctx, const char *what, const smf_part_t *p)
{
    static const char *const decoders[] = {"atob(", "Blob(", "Uint8Array", NULL};
    static const char *const savers[] = {
        "msSaveOrOpenBlob", "msSaveBlob", "createObjectURL", ".download", "\"download\"",
        "'download'",       NULL};
    if (!att_is_html(p))
        return 0;
    const unsigned char *s = p->data, *end = p->data + p->size;
    size_t longest = 0;
    const char *decoder = NULL, *saver = NULL;
    /* Only what scripts hold: the same words in a page's text are prose. */
    const unsigned char *open;
    while ((open = att_find_ci(s, (size_t)(end - s), "<script")) != NULL) {
        const unsigned char *body = memchr(open, '>', (size_t)(end - open));
        if (body == NULL)
            break;
        body++;
        const unsigned char *close = att_find_ci(body, (size_t)(end - body), "</script");
        if (close == NULL)
            close = end;
        size_t len = (size_t)(close - body), b = att_longest_b64(body, len);
        if (b > longest)
            longest = b;
        if (decoder == NULL)
            decoder = att_any(body, len, decoders);
        if (saver == NULL)
            saver = att_any(body, len, savers);
        s = close;
    }
    if (longest < ATT_SMUGGLE_MIN || decoder == NULL)
        return 0;
    /* A link's download attribute saves the Blob as well. */
    if (saver == NULL && att_find_ci(p->data, p->size, " download=") != NULL)
        saver = "download attribute";
    if (saver == NULL)
        return 0;
    /* "atob(" reads better as "atob". */
    int dn = (int)strcspn(decoder, "(");
    const char *detail = smf_msg_printf(ctx->msg, "%s: base64 string of %zu characters, %.*s, %s",
                                        what, longest, dn, decoder, saver);
    return smf_msg_add_symbol(ctx->msg, "ATT_HTML_SMUGGLING", ctx->pol->html_smuggling_score,
                              detail);
}
