/*
 * htmlfile.h - files that HTML carries inside itself: data: URIs, and long
 * base64 strings in scripts that JavaScript decodes and saves.
 *
 * A browser writes such a file to disk without the mail's MIME structure
 * ever naming it ("HTML smuggling"), so the parser turns each one into a
 * child part of the HTML part, for the stages to scan as any attachment.
 * Everything lives in the arena given to htmlfile_collect().
 */
#ifndef SMF_HTMLFILE_H
#define SMF_HTMLFILE_H

#include "arena.h"
#include "message.h"

#include <stddef.h>

/* Base64 characters a script string must hold to be taken for a file. */
#define HTMLFILE_SCRIPT_MIN 1024
/* Fewer will do, down to this many, for a quoted string when the page's
 * scripts decode base64 (atob(), a Uint8Array, a Blob), or when it decodes
 * to bytes that begin as a program, archive or document does: a file as
 * short as the EICAR test file is 92 characters of base64. */
#define HTMLFILE_SCRIPT_SHORT 64
/* Such shorter strings taken from one page at most, the longest first;
 * a page with more is not read whole (unread). */
#define HTMLFILE_SCRIPT_SHORT_MAX 16

typedef struct htmlfile {
    const char *content_type; /* "type/subtype", lower case. */
    const char *filename;     /* From the tag's download attribute, or "". */
    const char *src;          /* The encoded payload. */
    size_t src_len;
    int base64;      /* src is base64 (else percent-encoded). */
    int from_script; /* A string found in a <script>. */
    int shown_only;  /* An image the page only shows: it may stay in the HTML. */
    size_t size_max; /* Decoded bytes at most. */
} htmlfile_t;

typedef struct htmlfile_list {
    arena_t *arena;
    htmlfile_t *items; /* data: URIs in document order, then script strings, longest first. */
    size_t count;
    size_t cap;
    size_t room;     /* Parts the message has room for. */
    size_t reserved; /* Of them, those the rest of the message takes. */
    /* NULL, or why files the page carries were not listed: the parts
     * then do not cover the message. */
    const char *unread;
} htmlfile_list_t;

/*
 * Reads UTF-8 HTML as html_scan() does (text and URLs as it gives them)
 * and lists the files it carries in *files, which it initialises, for a
 * message with room for `room` more parts, `reserved` of which the parts
 * that come after this one in the message take (its text alternative, the
 * files attached after it, a preamble).
 *
 * Every file is listed up to one past the room, which is enough for the
 * caller to reach the part cap and so truncate the message, except images
 * the page only shows (shown_only): those that do not fit in the room the
 * other files and the reserved parts leave are not listed and stay inside
 * the HTML, which the stages still read whole. A newsletter of more inline
 * images than the part cap is then scanned, not held as unscannable. Such
 * an image is a data: URI of <img> or of a style sheet (or a table's
 * background), named PNG, GIF, JPEG or WebP, whose bytes begin as that
 * format does, with no download name, in a page that runs no script (a
 * <script> of a JSON type is data, not script): a
 * browser only draws it, never saves or runs it, and nothing in the page
 * can read it out.
 * Listing no more than this keeps a page of a million tiny data: URIs as
 * cheap as the files that can become parts. Returns the text, as
 * html_scan().
 */
char *htmlfile_collect(arena_t *arena, const char *html, size_t len, size_t room, size_t reserved,
                       size_t *out_len, url_set_t *urls, htmlfile_list_t *files);

/* Decodes f into out, which has room for f->size_max bytes; returns the
 * bytes written. Characters outside the encoding are skipped. */
size_t htmlfile_decode(const htmlfile_t *f, unsigned char *out);

#endif
