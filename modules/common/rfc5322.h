/*
 * rfc5322.h - what the modules that read structured header fields share
 * (auth for From, lists for From and Authentication-Results): a field's
 * value as written, and taking out the comments of a field value the way
 * RFC 5322 defines them. Compiled into each module that needs it; not
 * part of the SDK.
 */
#ifndef SMF_MODULES_RFC5322_H
#define SMF_MODULES_RFC5322_H

#include <stddef.h>

/* With rfc5322_strip_comments(): blanks and ';' inside quoted strings
 * become '_', so that a split on them finds only the field's own. */
#define RFC5322_MASK_QUOTED 1

/*
 * Copies a field value into out (outlen bytes, NUL-terminated, cut when it
 * does not fit) with each comment, nested ones and quoted pairs included,
 * replaced by one blank. Quoted strings are kept with their quotes and
 * quoted pairs (\"), so that a later scan can still skip them whole. out
 * is never longer than in.
 */
void rfc5322_strip_comments(const char *in, char *out, size_t outlen, int flags);

/*
 * The value of the n-th field called name (any case; n = 0 is the first) in
 * the raw header block h[0..len), as written: unfolded (its line breaks
 * dropped), leading blanks skipped, not RFC 2047 decoded; a string the
 * caller frees, or NULL when there is no such field or no memory. The
 * engine's decoded values are what a reader is shown, but the structure of
 * an address field (where its angle brackets, commas and '@' are) is in the
 * raw value: an encoded word in a display name may decode to any of them.
 */
char *rfc5322_raw_field(const char *h, size_t len, const char *name, size_t n);

#endif
