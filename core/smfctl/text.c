/*
 * text.c - text from the stores made safe for the operator's terminal.
 *
 * What smfctl prints from a quarantine entry came, mostly, from whoever
 * sent the mail: the envelope sender and recipients, the HELO name, the
 * message's own From: and Subject:, a module's detail. Printed raw, an
 * escape sequence there would drive the operator's terminal (set its
 * title, move the cursor, answer back) and a line end would forge a line
 * of output. So control characters become \xNN: the C0 controls, DEL, and
 * the C1 controls whether they come as UTF-8 (U+0080 to U+009F, which
 * terminals in UTF-8 mode obey) or as bytes that are not UTF-8 at all,
 * which are shown the same way. A backslash is doubled, so that what reads
 * \x1b was an escape character and not those four characters. The
 * characters that change how the rest of a line is shown without showing
 * themselves (bidirectional overrides and isolates, zero-width characters)
 * are escaped as well, byte by byte: a U+202E in a file name or sender
 * turns "gnp.exe" into what reads "exe.png". Valid UTF-8 otherwise stays
 * as it is, readable.
 */
#include "smfctl.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

static size_t put_hex(char *o, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        o[4 * i] = '\\';
        o[4 * i + 1] = 'x';
        o[4 * i + 2] = hex[s[i] >> 4];
        o[4 * i + 3] = hex[s[i] & 15];
    }
    return 4 * n;
}

/* Whether a character is a C1 control, or one that changes how text around
 * it reads while showing nothing itself. */
static bool hidden(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x180e ||
           (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

char *smfctl_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)(s != NULL ? s : "");
    size_t n = strlen((const char *)u);
    /* Every byte grows to at most four: \xNN. */
    char *out = xmalloc(4 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '\\') {
            *o++ = '\\';
            *o++ = '\\';
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            *o++ = (char)c;
            i++;
        } else if (c < 0x80) {
            o += put_hex(o, u + i, 1);
            i++;
        } else {
            unsigned cp = 0;
            size_t k = utf8_get(u + i, n - i, &cp);
            if (k == 0)
                k = 1; /* Not UTF-8: the byte alone. */
            if (k == 1 || hidden(cp)) {
                o += put_hex(o, u + i, k);
            } else {
                memcpy(o, u + i, k);
                o += k;
            }
            i += k;
        }
    }
    *o = '\0';
    return out;
}
