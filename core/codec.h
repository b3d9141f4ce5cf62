/*
 * codec.h - the character values the decoders of mail share: base64's
 * alphabet (RFC 4648) and hex digits, read the same way by the MIME parser
 * (base64 and quoted-printable bodies, encoded words) and by the reader of
 * files carried inside HTML (data: URIs, script strings).
 */
#ifndef SMF_CODEC_H
#define SMF_CODEC_H

/* Base64 alphabet to value + 1; 0 for anything else. */
extern const unsigned char codec_b64_rev[256];

/* The value of a hex digit, either case; -1 for anything else. */
int codec_hex_value(unsigned char c);

#endif
