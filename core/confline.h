/*
 * confline.h - pointing at the line of smfd.conf a libconfuse error is
 * about, rather than the line where libconfuse noticed it.
 */
#ifndef SMF_CONFLINE_H
#define SMF_CONFLINE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The line to report for libconfuse's message `msg`, which it gave at line
 * `reported` of the file at `path`: for an unknown option or a value of the
 * wrong type, the last line at or before `reported` that sets or opens the
 * option the message names (*section says whether it opens a section).
 * Otherwise, or when the file cannot be read, `reported` itself.
 */
int confline_culprit(const char *path, const char *msg, int reported, bool *section);

/*
 * For a file that ends inside a section: the line of the outermost `{`
 * still open at the end (comments and quoted strings skipped), and that
 * line's text, trimmed, in text (at most textlen bytes with the NUL).
 * Returns 0 when every `{` is closed or the file cannot be read.
 */
int confline_unclosed(const char *path, char *text, size_t textlen);

/*
 * The first line of path on which a quoted string opens and does not
 * close, its text (trimmed) into text; 0 when every string closes on its
 * own line. libconfuse reads a string on over line ends, so a missing
 * quote shows only as an odd token lines further on.
 */
int confline_open_string(const char *path, char *text, size_t textlen);

/*
 * The first line of path, up to line `reported`, that gives an option more
 * than one word of value (`workers = 0 0`, a value with a blank and no
 * quotes), its text (trimmed) into text; 0 when there is none. libconfuse
 * reads the second word as the next option's name and reports the token
 * after it, on a later line.
 */
int confline_value_run_on(const char *path, int reported, char *text, size_t textlen);

/*
 * libconfuse 3.3 counts more than one line for a comment: two more for
 * each `#` or `//` comment and one more for each block comment, so the
 * lines it reports drift further from the truth down a commented file.
 * Given those two extras (as measured on the library in use; 0 and 0
 * when it counts right), returns the line of path that libconfuse's
 * `reported` stands for.
 */
int confline_real(const char *path, int reported, int line_extra, int block_extra);

#endif
