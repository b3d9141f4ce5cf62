/*
 * fuzz_mbox.c - the mbox splitter (core/mbox.c) over arbitrary bytes. smfc
 * scans and smfctl learns each message of an mbox file, which holds mail
 * from anyone: mbox_next() must cut it into pieces that lie within the
 * buffer, in order, and always move on; mbox_unescape() must write no more
 * than it was given room for (the message's length and a NUL).
 */
#include "fuzz_common.h"
#include "mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    (void)mbox_is(buf, size);
    mbox_t m = {buf, size, 0};
    const char *msg;
    size_t len, before = 0, count = 0;
    while (mbox_next(&m, &msg, &len)) {
        FUZZ_CHECK(m.off > before && m.off <= size);
        FUZZ_CHECK(msg >= buf && len <= size && (size_t)(msg - buf) <= size - len);
        before = m.off;
        char *out = malloc(len + 1);
        FUZZ_CHECK(out != NULL);
        size_t n = mbox_unescape(msg, len, out);
        FUZZ_CHECK(n <= len && out[n] == '\0');
        fuzz_touch(out, n);
        free(out);
        FUZZ_CHECK(++count <= size + 1);
    }
    return 0;
}
