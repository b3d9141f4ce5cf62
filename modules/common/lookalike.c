/*
 * lookalike.c - text as its reader sees it (lookalike.h).
 */
#include "lookalike.h"
#include "textfold.h"
#include "utf8.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/*
 * The length of the UTF-8 sequence at s[0..n) a reader does not see (a
 * soft hyphen, a zero-width space or joiner, a direction mark, a word
 * joiner, a byte order mark), else 0.
 */
static size_t invisible(const unsigned char *s, size_t n)
{
    if (n >= 2 && ((s[0] == 0xc2 && s[1] == 0xad) || (s[0] == 0xcd && s[1] == 0x8f)))
        return 2; /* U+00AD, U+034F */
    if (n < 3)
        return 0;
    if ((s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0x8b && s[2] <= 0x8f) || /* U+200B-U+200F */
        (s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa0 && s[2] <= 0xa4) || /* U+2060-U+2064 */
        (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) ||                 /* U+FEFF */
        (s[0] == 0xe1 && s[1] == 0xa0 && s[2] == 0x8e))                   /* U+180E */
        return 3;
    return 0;
}

/*
 * The length of the UTF-8 sequence at s[0..n) that a reader sees as an ASCII
 * character, stored in *c: a space of another width (no-break, en, em, thin,
 * ideographic) as ' ', a full-width letter, digit or sign or a letter or
 * digit in another style as its ASCII one (textfold.h). Else 0.
 */
static size_t ascii_lookalike(const unsigned char *s, size_t n, char *c)
{
    unsigned cp;
    size_t len = s[0] >= 0x80 ? utf8_get(s, n, &cp) : 0;
    *c = ' ';
    if (len == 0)
        return 0;
    if (cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f || cp == 0x205f ||
        cp == 0x3000 || cp == 0x1680)
        return len;
    return (*c = textfold_ascii(cp)) != 0 ? len : 0;
}

/* Cyrillic, Greek and Latin letters drawn as an ASCII letter is in the
 * fonts mail clients use, by code point (sorted, for the search). */
static const textfold_pair_t confusables[] = {
    {0x0131, 'i'}, {0x0391, 'A'}, {0x0392, 'B'}, {0x0395, 'E'}, {0x0396, 'Z'}, {0x0397, 'H'},
    {0x0399, 'I'}, {0x039a, 'K'}, {0x039c, 'M'}, {0x039d, 'N'}, {0x039f, 'O'}, {0x03a1, 'P'},
    {0x03a4, 'T'}, {0x03a5, 'Y'}, {0x03a7, 'X'}, {0x03b1, 'a'}, {0x03b9, 'i'}, {0x03ba, 'k'},
    {0x03bd, 'v'}, {0x03bf, 'o'}, {0x03c1, 'p'}, {0x03c4, 't'}, {0x03c5, 'u'}, {0x03c7, 'x'},
    {0x0405, 'S'}, {0x0406, 'I'}, {0x0408, 'J'}, {0x0410, 'A'}, {0x0412, 'B'}, {0x0415, 'E'},
    {0x041a, 'K'}, {0x041c, 'M'}, {0x041d, 'H'}, {0x041e, 'O'}, {0x0420, 'P'}, {0x0421, 'C'},
    {0x0422, 'T'}, {0x0425, 'X'}, {0x0430, 'a'}, {0x0435, 'e'}, {0x043e, 'o'}, {0x0440, 'p'},
    {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'},
    {0x04bb, 'h'}, {0x0501, 'd'}, {0x051b, 'q'}, {0x051d, 'w'},
};

/* The ASCII letter the two-byte UTF-8 letter at s[0..n) is drawn as, else 0. */
static char confusable(const unsigned char *s, size_t n)
{
    if (n < 2 || s[0] < 0xc4 || s[0] > 0xd4 || (s[1] & 0xc0) != 0x80)
        return 0;
    unsigned cp = (unsigned)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    return textfold_find(confusables, sizeof confusables / sizeof confusables[0], cp);
}

static bool ascii_letter(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool ascii_alnum(unsigned char c)
{
    return ascii_letter(c) || (c >= '0' && c <= '9');
}

/* Whether the byte at s[0..n) continues a word: an ASCII letter or digit,
 * or a character outside ASCII that the reader does not see as an ASCII
 * space or sign (a full-width "！" parts words as "!" does), so the view's
 * words are the text's. */
static bool word_byte(const unsigned char *s, size_t n)
{
    char c;
    if (s[0] < 0x80)
        return ascii_alnum(s[0]);
    return ascii_lookalike(s, n, &c) == 0 || ascii_alnum((unsigned char)c);
}

/* The end of the word at s[i..n), and in *found what it hides if it holds
 * ASCII letters (or letters read as them: full-width, styled): letters drawn
 * like them, invisible characters between its visible ones (at its edges
 * they hide nothing). */
static size_t word_end(const unsigned char *s, size_t n, size_t i, unsigned *found)
{
    bool ascii = false, alike = false, inner = false, seen = false, pending = false;
    size_t k;
    char c;
    while (i < n && word_byte(s + i, n - i)) {
        if ((k = invisible(s + i, n - i)) > 0) {
            pending = seen;
            i += k;
            continue;
        }
        inner |= pending;
        pending = false;
        seen = true;
        if (s[i] < 0x80) {
            ascii |= ascii_letter(s[i]);
            i++;
            continue;
        }
        alike |= confusable(s + i, n - i) != 0;
        ascii |= ascii_lookalike(s + i, n - i, &c) > 0 && ascii_letter((unsigned char)c);
        i++;
        while (i < n && (s[i] & 0xc0) == 0x80)
            i++;
    }
    *found = !ascii ? 0 : (alike ? SMF_LOOKALIKE_MIXED : 0) | (inner ? SMF_LOOKALIKE_INVISIBLE : 0);
    return i;
}

/* The start of the word that holds s[i]. */
static size_t word_start(const unsigned char *s, size_t n, size_t i)
{
    while (i > 0 && word_byte(s + i - 1, n - i + 1))
        i--;
    return i;
}

size_t smf_lookalike_first(const char *data, size_t n)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t own_script_until = 0;
    char c;
    for (size_t i = 0; i < n; i++) {
        /* Most text is ASCII: eight bytes at a time while no byte of them is
         * above it. */
        uint64_t w;
        while (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ULL) == 0))
            i += 8;
        if (i == n)
            break;
        if (s[i] < 0xc2)
            continue;
        if (invisible(s + i, n - i) > 0 || ascii_lookalike(s + i, n - i, &c) > 0)
            return word_start(s, n, i);
        /* A Cyrillic or Greek letter changes only in a Latin word: one word
         * of Russian text read twice, not all of it copied unchanged. */
        if (i >= own_script_until && confusable(s + i, n - i) != 0) {
            size_t start = word_start(s, n, i);
            unsigned hides = 0;
            own_script_until = word_end(s, n, start, &hides);
            if (hides & SMF_LOOKALIKE_MIXED)
                return start;
        }
    }
    return n;
}

size_t smf_lookalike_view(const char *data, size_t n, size_t from, char *out, unsigned *found)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = from, o = from, word = from, k;
    unsigned hides = 0;
    char c;
    memcpy(out, data, from);
    while (i < n) {
        if (i >= word) {
            hides = 0;
            word = word_byte(s + i, n - i) ? word_end(s, n, i, &hides) : i + 1;
            *found |= hides;
        }
        if ((k = invisible(s + i, n - i)) > 0) {
            i += k;
        } else if ((k = ascii_lookalike(s + i, n - i, &c)) > 0) {
            out[o++] = c;
            i += k;
        } else if ((hides & SMF_LOOKALIKE_MIXED) && (c = confusable(s + i, n - i)) != 0) {
            out[o++] = c;
            i += 2;
        } else {
            out[o++] = (char)s[i++];
        }
    }
    return o;
}
