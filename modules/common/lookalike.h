/*
 * lookalike.h - text as its reader sees it: the character tables of what a
 * mail client shows as nothing, as an ASCII character, or (inside a Latin
 * word) as a Latin letter. Compiled into each module that reads text a
 * person reads (pattern, bayes), so that all of them read the same words.
 */
#ifndef SMF_LOOKALIKE_H
#define SMF_LOOKALIKE_H

#include <stddef.h>

/* What smf_lookalike_view() found in a word that holds ASCII letters (or
 * letters read as them: full-width, in another style). */
#define SMF_LOOKALIKE_MIXED 0x1u     /* a Cyrillic or Greek letter drawn like a Latin one */
#define SMF_LOOKALIKE_INVISIBLE 0x2u /* an invisible character between two of its letters */

/*
 * Where the view of the UTF-8 text s[0..n) first differs from the text:
 * the start of the word holding the first character the view changes, or
 * n when it changes nothing (text of Cyrillic or Greek words alone, like
 * ASCII, needs no view).
 */
size_t smf_lookalike_first(const char *s, size_t n);

/*
 * Writes to out (room for n bytes: the view is never longer) s[0..from)
 * as it is, then the view of s[from..n): soft hyphens, zero-width
 * characters, direction marks and the like dropped; spaces of other widths
 * as ' '; full-width ASCII as ASCII; letters and digits in another style
 * (mathematical bold, script, double-struck..., circled, squared, small
 * capitals: "𝐅𝐑𝐄𝐄") as plain ones; and, inside a word that also holds
 * ASCII letters (or full-width or styled ones), Cyrillic and Greek letters
 * drawn like Latin ones as those ("vіagra" with a Cyrillic і). A word of Cyrillic or Greek alone is left
 * as it is: it is the text of another language, not a disguise. Returns
 * the view's length; ORs into *found the SMF_LOOKALIKE_ flags of what it
 * met in words that hold ASCII letters, where it is a disguise.
 */
size_t smf_lookalike_view(const char *s, size_t n, size_t from, char *out, unsigned *found);

#endif
