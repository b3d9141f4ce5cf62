/*
 * mbox.h - cutting an mbox file into its messages. smfc scans them and
 * smfctl learns them; both read the file through these calls, so that the
 * message a site learns is byte for byte the one it scanned. Depends on
 * libc only, since smfc links nothing of the engine.
 */
#ifndef SMF_MBOX_H
#define SMF_MBOX_H

#include <stdbool.h>
#include <stddef.h>

/* A reader over an mbox held in memory; the caller keeps buf alive. */
typedef struct mbox {
    const char *buf;
    size_t len, off;
} mbox_t;

/* Whether buf[0..len) is an mbox: its first line starts with "From ". */
bool mbox_is(const char *buf, size_t len);

/*
 * The next message of m, still escaped: *msg points into m->buf for *len
 * bytes, without its "From " line and without the blank line that ends
 * it. False when the mbox is used up. An empty message is still one. A
 * "From " line ends a message only when the line after it is a header
 * field or another "From " line: one inside a body that was not quoted
 * stays in it.
 */
bool mbox_next(mbox_t *m, const char **msg, size_t *len);

/*
 * Undoes mboxrd escaping: a line of one or more '>' before "From " loses
 * one '>'. Writes the result and a terminating NUL into dst, which must
 * hold len + 1 bytes, and returns the result's length.
 */
size_t mbox_unescape(const char *src, size_t len, char *dst);

#endif
