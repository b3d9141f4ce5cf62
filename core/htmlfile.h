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
 * scripts decode base64 (atob(), a Uint8Array, a Blob): a file as short as
 * the EICAR test file is 92 characters of base64. */
#define HTMLFILE_SCRIPT_SHORT 64
/* Such shorter strings taken from one page at most, the longest first. */
#define HTMLFILE_SCRIPT_SHORT_MAX 16

typedef struct htmlfile {
    const char *content_type; /* "type/subtype", lower case. */
    const char *filename;     /* From the tag's download attribute, or "". */
    const char *src;          /* The encoded payload. */
    size_t src_len;
    int base64;      /* src is base64 (else percent-encoded). */
    int from_script; /* A string found in a <script>. */
    size_t size_max; /* Decoded bytes at most. */
} htmlfile_t;

typedef struct htmlfile_list {
    arena_t *arena;
    htmlfile_t *items; /* data: URIs in document order, then script strings, longest first. */
    size_t count;
    size_t cap;
    size_t max; /* Files listed at most; those past it are left out. */
} htmlfile_list_t;

/*
 * Reads UTF-8 HTML as html_scan() does (text and URLs as it gives them)
 * and lists the files it carries in *files, which it initialises: at most
 * max_files of them, the first found, so that a page of a million tiny
 * data: URIs costs no more than the files that can become parts. Returns
 * the text, as html_scan().
 */
char *htmlfile_collect(arena_t *arena, const char *html, size_t len, size_t max_files,
                       size_t *out_len, url_set_t *urls, htmlfile_list_t *files);

/* Decodes f into out, which has room for f->size_max bytes; returns the
 * bytes written. Characters outside the encoding are skipped. */
size_t htmlfile_decode(const htmlfile_t *f, unsigned char *out);

#endif
