/*
 * lookalike.c - text as its reader sees it (lookalike.h).
 */
#include "lookalike.h"

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
 * The code point of the UTF-8 sequence of two to four bytes at s[0..n), its
 * length in *len; *len is 0 when the bytes are no such sequence.
 */
static uint32_t utf8_point(const unsigned char *s, size_t n, size_t *len)
{
    size_t k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    *len = 0;
    if (k == 0 || s[0] > 0xf4 || n < k)
        return 0;
    uint32_t cp = s[0] & (0x7fu >> k);
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[j] & 0x3f);
    }
    *len = k;
    return cp;
}

/* Letters outside the styled blocks that fonts draw as an ASCII letter in
 * another style: the small capitals (IPA and phonetic extensions) and the
 * letterlike symbols that fill the holes of the mathematical alphabets
 * (sorted by code point, for the search). */
static const struct {
    unsigned short cp;
    char ascii;
} styled_letters[] = {
    {0x0262, 'g'}, {0x026a, 'i'}, {0x0274, 'n'}, {0x0280, 'r'}, {0x028f, 'y'}, {0x0299, 'b'},
    {0x029c, 'h'}, {0x029f, 'l'}, {0x1d00, 'a'}, {0x1d04, 'c'}, {0x1d05, 'd'}, {0x1d07, 'e'},
    {0x1d0a, 'j'}, {0x1d0b, 'k'}, {0x1d0d, 'm'}, {0x1d0f, 'o'}, {0x1d18, 'p'}, {0x1d1b, 't'},
    {0x1d1c, 'u'}, {0x1d20, 'v'}, {0x1d21, 'w'}, {0x1d22, 'z'}, {0x2102, 'C'}, {0x210a, 'g'},
    {0x210b, 'H'}, {0x210c, 'H'}, {0x210d, 'H'}, {0x210e, 'h'}, {0x2110, 'I'}, {0x2111, 'I'},
    {0x2112, 'L'}, {0x2115, 'N'}, {0x2119, 'P'}, {0x211a, 'Q'}, {0x211b, 'R'}, {0x211c, 'R'},
    {0x211d, 'R'}, {0x2124, 'Z'}, {0x2128, 'Z'}, {0x212c, 'B'}, {0x212d, 'C'}, {0x212f, 'e'},
    {0x2130, 'E'}, {0x2131, 'F'}, {0x2133, 'M'}, {0x2134, 'o'}, {0xa730, 'f'}, {0xa731, 's'},
    {0xa7af, 'q'},
};

static char styled_letter(uint32_t cp)
{
    size_t lo = 0, hi = sizeof styled_letters / sizeof styled_letters[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (styled_letters[mid].cp == cp)
            return styled_letters[mid].ascii;
        if (styled_letters[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * The ASCII letter or digit the code point is in another style, else 0: the
 * mathematical alphanumerics (bold, italic, script, fraktur, double-struck,
 * sans-serif, monospace: "𝐅𝐑𝐄𝐄" is written with them to look bold where
 * mail allows no markup, a Subject), circled, parenthesized and squared
 * letters, small capitals. No language is written in them; they are a style.
 */
static char styled(uint32_t cp)
{
    if (cp >= 0x1d400 && cp <= 0x1d6a3) { /* 13 alphabets of A-Z a-z */
        uint32_t r = (cp - 0x1d400) % 52;
        return (char)(r < 26 ? 'A' + r : 'a' + r - 26);
    }
    if (cp >= 0x1d7ce && cp <= 0x1d7ff) /* 5 styles of 0-9 */
        return (char)('0' + (cp - 0x1d7ce) % 10);
    if (cp >= 0x249c && cp <= 0x24b5) /* parenthesized a-z */
        return (char)('a' + cp - 0x249c);
    if (cp >= 0x24b6 && cp <= 0x24e9) /* circled A-Z a-z */
        return (char)(cp < 0x24d0 ? 'A' + cp - 0x24b6 : 'a' + cp - 0x24d0);
    if (cp >= 0x1f130 && cp <= 0x1f189 && (cp - 0x1f130) % 32 < 26) /* squared, negative */
        return (char)('A' + (cp - 0x1f130) % 32);
    return cp <= 0xffff ? styled_letter(cp) : 0;
}

/*
 * The length of the UTF-8 sequence at s[0..n) that a reader sees as an ASCII
 * character, stored in *c: a space of another width (no-break, en, em, thin,
 * ideographic) as ' ', a full-width letter, digit or sign (U+FF01-U+FF5E) as
 * its ASCII one, a letter or digit in another style (styled()) as its plain
 * one. Else 0.
 */
static size_t ascii_lookalike(const unsigned char *s, size_t n, char *c)
{
    size_t len;
    uint32_t cp = utf8_point(s, n, &len);
    *c = ' ';
    if (len == 0)
        return 0;
    if (cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f || cp == 0x205f ||
        cp == 0x3000 || cp == 0x1680)
        return len;
    if (cp >= 0xff01 && cp <= 0xff5e) {
        *c = (char)(cp - 0xff01 + '!');
        return len;
    }
    return (*c = styled(cp)) != 0 ? len : 0;
}

/* Cyrillic, Greek and Latin letters drawn as an ASCII letter is in the
 * fonts mail clients use, by code point (sorted, for the search). */
static const struct {
    unsigned short cp;
    char ascii;
} confusables[] = {
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
    size_t lo = 0, hi = sizeof confusables / sizeof confusables[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (confusables[mid].cp == cp)
            return confusables[mid].ascii;
        if (confusables[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
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
