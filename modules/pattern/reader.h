/*
 * reader.h - a text as its reader sees it, for the rules that read text a
 * person reads (subject, header, headers, body): what a mail client shows as
 * nothing dropped, what it shows as an ASCII character made that character.
 */
#ifndef PAT_READER_H
#define PAT_READER_H

#include <stddef.h>

/*
 * The UTF-8 text data[0..*len) as its reader sees it, written to *buf
 * (grown with realloc to *cap bytes; the caller frees it), its length in
 * *len: soft hyphens, zero-width characters, direction marks and the like
 * dropped; spaces of other widths as ' '; full-width ASCII and letters in
 * another style ("𝐅𝐑𝐄𝐄", circled, small capitals) as ASCII; and,
 * inside a word that also holds ASCII letters, Cyrillic and Greek letters
 * drawn like Latin ones as those ("vіagra" with a Cyrillic і, "PayPaI"
 * written "РayPal"). A word of Cyrillic or Greek alone is left as it is:
 * it is the text of another language, not a disguise.
 *
 * Returns *buf, or NULL (and *len unchanged) when the text holds nothing
 * to change or memory ran out: the text as written is then all there is.
 */
const char *pat_reader_view(char **buf, size_t *cap, const char *data, size_t *len);

#endif
