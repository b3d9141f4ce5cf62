/*
 * message.h - the parsed message: MIME tree, decoded headers, parts, text
 * and URLs.
 *
 * A message is parsed once per request, before any stage runs, and the
 * result is immutable afterwards: every pipeline run (one per recipient
 * policy) and every stage reads the same message_t. All of it lives in the
 * request's arena; the raw bytes are borrowed from the caller and must
 * outlive the message.
 *
 * Limits never make parsing fail: when one is reached the parser stops
 * descending, records why in `truncated`, and returns what it has, so that
 * the antivirus stage reports 'unscannable' instead of 'clean'.
 */
#ifndef SMF_MESSAGE_H
#define SMF_MESSAGE_H

#include "arena.h"
#include "smf/module.h"

#include <stddef.h>

typedef struct message_limits {
    size_t max_size;    /* Raw bytes parsed at most; past it: truncated. */
    unsigned max_depth; /* Deepest MIME nesting descended into. */
    size_t max_parts;   /* Parts (containers and leaves) recorded at most. */
} message_limits_t;

/* Defaults: 50 MiB, depth 30, 1000 parts. */
void message_limits_default(message_limits_t *lim);

typedef struct message_header {
    const char *name;  /* As written. */
    const char *value; /* Unfolded, RFC 2047 decoded, UTF-8. */
} message_header_t;

typedef struct message {
    const char *raw; /* Borrowed from the caller. */
    size_t raw_len;
    size_t header_len; /* Length of the raw header block, without the blank line. */

    message_header_t *headers; /* Top-level fields, in order. */
    size_t header_count;

    smf_part_t *parts; /* Depth first; parts[0] is the message itself. */
    size_t part_count;

    const char *subject; /* Decoded Subject, "" when absent. */
    const char *from;    /* Address of the first From mailbox, "" when none. */
    const char **to;     /* Addresses from To and Cc, NULL-terminated. */

    const char *text; /* See smf_msg_text(). NUL-terminated. */
    size_t text_len;

    const char **urls; /* Distinct URLs, url_count of them. */
    size_t url_count;

    const char *truncated;   /* NULL, or why the parts do not cover the message. */
    const char *urls_capped; /* NULL, or why some URLs were left out of urls. */
} message_t;

/*
 * Parses raw[0..len) into *out, allocating everything from `arena`.
 * Returns 0; malformed input still gives a message (perhaps one text part,
 * perhaps truncated). Never returns an error for bad mail.
 * Thread-safe: call message_init() once first.
 */
int message_parse(arena_t *arena, const char *raw, size_t len, const message_limits_t *lim,
                  message_t **out);

/* Initialises the parsing library once per process. Not thread-safe. */
void message_init(void);

/* Case-insensitive lookup of the nth top-level field; NULL when absent. */
const char *message_header(const message_t *m, const char *name, size_t n);

/* Reduces HTML to readable text (tags dropped, entities decoded, hidden
 * parts such as <style> and <script> skipped). Result in the arena. Also
 * adds href/src URLs to *urls when urls is not NULL. */
char *html_to_text(arena_t *arena, const char *html, size_t len, size_t *out_len);

/* URLs kept per message at most; further ones are left out, and
 * urls_capped says so. */
#define MESSAGE_MAX_URLS 1000

/*
 * A set of distinct URLs, filled while a message is parsed. Everything it
 * holds lives in `arena`. Scheme and host are lower-cased before the
 * duplicate check, so "HTTP://Example.COM/a" and "http://example.com/a"
 * are one URL; a host of another script is kept as its A-label (idna.h),
 * an IPv6 literal in its brackets; path and query are kept as written.
 */
typedef struct url_set {
    arena_t *arena;
    size_t max;         /* Cap on count. */
    size_t count;       /* URLs in items. */
    size_t cap;         /* Room in items. */
    const char **items; /* NUL-terminated URLs, in the order found. */
    unsigned *slots;    /* Open-addressing table: item index + 1, 0 when free. */
    size_t slot_count;  /* A power of two, or 0 before the first URL. */
    int over;           /* A URL not in items was found once count reached max. */
} url_set_t;

/* Makes an empty set that keeps at most `max` URLs. */
void url_set_init(url_set_t *s, arena_t *arena, size_t max);

/* Adds a link value (an href or src attribute, already entity-decoded) when
 * it is an absolute http, https or ftp URL or starts with "www.". Leading
 * and trailing blanks are ignored. Returns 1 when added, 0 otherwise; a new
 * URL past the cap sets `over`. */
int url_add_link(url_set_t *s, const char *value, size_t len);

/* Adds every http://, https://, ftp:// and www. URL found in UTF-8 text.
 * Trailing punctuation (a full stop ending a sentence, a closing
 * parenthesis without an opening one) is not part of the URL. A host may
 * hold letters of any script (valid UTF-8 only); a path ends at the first
 * non-ASCII byte. */
void url_scan_text(url_set_t *s, const char *text, size_t len);

/* As html_to_text(), and adds each href, src and action URL to *urls when
 * urls is not NULL. */
char *html_to_text_urls(arena_t *arena, const char *html, size_t len, size_t *out_len,
                        url_set_t *urls);

/*
 * What html_scan() hands over besides text and URLs: the places a browser
 * builds files from. Either call may be NULL. What they receive is
 * borrowed from the HTML (or the arena) for as long as both live.
 */
typedef struct html_sink {
    /* An attribute value that is a data: URI, entity-decoded and without
     * the blanks around it or the tabs and line breaks in it, on the tag
     * `tag` (lower case); `download` is that tag's download attribute,
     * entity-decoded, or NULL. */
    void (*data_uri)(void *ctx, const char *tag, const char *uri, size_t len, const char *download,
                     size_t download_len);
    /* Script: the content of a <script> element, as written, or an event
     * handler attribute's value or a javascript: URL, entity-decoded. */
    void (*script)(void *ctx, const char *body, size_t len);
    /* A <script> element's src that is a data: URI, as data_uri gives it:
     * the script a browser runs is that URI's content. */
    void (*script_uri)(void *ctx, const char *uri, size_t len);
    /* The content of a <script> element of a JSON type (JSON-LD, an import
     * map), as written: data a browser does not run, which a script of the
     * page may read. Given to `script` when NULL. */
    void (*script_data)(void *ctx, const char *body, size_t len);
    /* Style sheet text: a <style> element's content as written, or a
     * style attribute's value, entity-decoded. */
    void (*style)(void *ctx, const char *css, size_t len);
    /* An iframe's srcdoc nested deeper than HTML_SRCDOC_DEPTH: its page is
     * given to `script` whole, as written, but not read as a page. */
    void (*unread)(void *ctx);
    void *ctx;
} html_sink_t;

/* The levels of iframe srcdoc pages html_scan() reads as pages, within
 * the document and within each other. */
#define HTML_SRCDOC_DEPTH 2

/* As html_to_text_urls(), and gives `sink` (when not NULL) each data: URI,
 * script and style sheet of the document, in order, those of the pages of
 * its iframes' srcdoc included (their URLs too, not their text): a
 * browser builds such a page and runs it as it does the document. */
char *html_scan(arena_t *arena, const char *html, size_t len, size_t *out_len, url_set_t *urls,
                const html_sink_t *sink);

#endif
