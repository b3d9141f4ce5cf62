/*
 * rfc5322.h - what the modules that read structured header fields share
 * (auth for From, lists for Authentication-Results): taking out the
 * comments of a field value the way RFC 5322 defines them. Compiled into
 * each module that needs it; not part of the SDK.
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

#endif
