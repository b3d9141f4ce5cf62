/*
 * fuzz_cms.c - the reader of S/MIME signed data (core/cms.c) over arbitrary
 * bytes. An attachment named .p7m or sent as application/pkcs7-mime is the
 * sender's to write: the BER reader must stay within the input, end on any
 * nesting and length, and give back no more content than the input holds
 * (the pieces of an OCTET STRING are joined, never multiplied).
 */
#include "cms.h"
#include "fuzz_common.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = 12345;
    unsigned char *content = cms_signed_content(data, size, &len);
    if (content == NULL) {
        FUZZ_CHECK(len == 0);
        return 0;
    }
    FUZZ_CHECK(len <= size);
    fuzz_touch(content, len);
    free(content);
    return 0;
}
