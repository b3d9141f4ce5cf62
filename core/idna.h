/*
 * idna.h - a host name in any script turned into the ASCII form DNS and
 * list entries hold: each label lower-cased and, when it is not ASCII,
 * written as "xn--" and its Punycode (the A-label of IDNA).
 *
 * As browsers map a name (UTS 46), full-width and styled letters, digits
 * and '-' are the ASCII ones and the ideographic, full-width and half-width
 * full stops separate labels (textfold.h): "ｐａｙｐａｌ。com" is paypal.com.
 * Lower-casing covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic,
 * where look-alike hosts come from; other letters are kept as written.
 * There is no Unicode normalisation (NFC) and no full case folding, and the
 * IDNA 2008 rules on which code points a label may hold are not checked: a
 * name a registry would refuse still gets an A-label, which no list holds.
 */
#ifndef SMF_IDNA_H
#define SMF_IDNA_H

#include <stddef.h>

/*
 * Writes the ASCII form of the host at host[0..n) (UTF-8) into out (room for
 * outlen bytes, a NUL included) and returns its length; -1 when the host is
 * not valid UTF-8, a label has more than 256 code points, or the result does
 * not fit. ASCII labels ("xn--" ones included) are only lower-cased.
 */
long idna_host(const char *host, size_t n, char *out, size_t outlen);

/*
 * The name the engine gives a domain, wherever one is compared: a
 * recipient's, a policy's, an operator's --domain. One trailing dot is
 * dropped ("example.com." is example.com written from the root), then as
 * idna_host(): lower case, an A-label for a label in another script.
 */
long idna_domain(const char *name, size_t n, char *out, size_t outlen);

/* The lower-case form of code point cp, as far as the ranges above go. */
unsigned idna_lower(unsigned cp);

#endif
