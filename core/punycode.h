/*
 * punycode.h - the Punycode encoding of RFC 3492, which writes a label of
 * any script in the letters, digits and hyphens a DNS name holds: the part
 * of an IDN A-label after "xn--".
 */
#ifndef SMF_PUNYCODE_H
#define SMF_PUNYCODE_H

#include <stddef.h>

/*
 * Encodes the n code points at cp into out (room for outlen bytes, a NUL
 * included) and returns the length written, or -1 when it does not fit or
 * a delta overflows. The code points are taken as they are: mapping and
 * lower-casing are the caller's. Basic (ASCII) code points are copied in
 * order, then a '-' if there were any, then the others' deltas.
 */
long punycode_encode(const unsigned *cp, size_t n, char *out, size_t outlen);

#endif
