/*
 * flowed.h - text/plain; format=flowed (RFC 3676) read as a mail client
 * shows it: soft line breaks joined, space-stuffing undone.
 */
#ifndef SMF_FLOWED_H
#define SMF_FLOWED_H

#include <stddef.h>

/*
 * Unwraps the flowed text s[0..n) (UTF-8 or any ASCII-compatible charset,
 * lines ended by LF) in place and returns its new length, never more than
 * n. A line that ends in a space, other than the signature separator
 * "-- ", is joined with the next line of the same quote depth; with delsp
 * (delsp=yes) that space is dropped, so "vi \nagra" reads "viagra" as the
 * reader sees it. The space a sender stuffs before an unquoted line is
 * dropped, and so are the quote marks of the lines joined to another.
 */
size_t flowed_unwrap(char *s, size_t n, int delsp);

#endif
