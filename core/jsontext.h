/*
 * jsontext.h - text from outside (envelopes, headers, file names, what
 * modules write) as JSON strings. jansson refuses bytes that are not UTF-8,
 * and a field set to that refusal silently disappears; these calls always
 * give a string, with each such byte written as the four characters \xHH.
 */
#ifndef SMF_JSONTEXT_H
#define SMF_JSONTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * A new JSON string holding s: s itself when it is UTF-8, else s with every
 * byte that starts no valid UTF-8 sequence written as \x and two lower-case
 * hex digits ("\x84.exe" for the CP437 name of "ä.exe"). NULL gives JSON
 * null. The escape is for reading, not a way back: a backslash already in
 * s stays as it is. Returns a new reference, or NULL when out of memory.
 */
json_t *jsontext_new(const char *s);

/* The same for n bytes at s, which may hold NUL bytes (written \x00). */
json_t *jsontext_newn(const char *s, size_t n);

/*
 * Whether s holds what jsontext_new writes for a byte that is not UTF-8.
 * An address read back from JSON that does may not be the one that was
 * sent: it must not be used to deliver mail.
 */
bool jsontext_has_escape(const char *s);

#endif
