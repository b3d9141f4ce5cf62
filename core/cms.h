/*
 * cms.h - the content of a CMS/PKCS #7 SignedData (RFC 5652).
 */
#ifndef SMF_CMS_H
#define SMF_CMS_H

#include <stddef.h>

/*
 * The content a SignedData in der[0..n) carries in itself (ContentInfo {
 * signedData, [0] SignedData { ..., encapContentInfo { type, [0] OCTET
 * STRING } ... } }), in BER or DER. Returns a copy for the caller to free,
 * its length in *len; NULL when der is none or carries no content (a
 * detached signature, encrypted data).
 */
unsigned char *cms_signed_content(const unsigned char *der, size_t n, size_t *len);

#endif
