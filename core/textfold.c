/*
 * textfold.c - characters drawn as an ASCII one in another width or style
 * (textfold.h).
 */
#include "textfold.h"

#include <stddef.h>

/* Letters outside the styled blocks that fonts draw as an ASCII letter in
 * another style: the small capitals (IPA and phonetic extensions) and the
 * letterlike symbols that fill the holes of the mathematical alphabets
 * (sorted by code point, for the search). */
static const textfold_pair_t styled_letters[] = {
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

char textfold_find(const textfold_pair_t *table, size_t n, unsigned cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (table[mid].cp == cp)
            return table[mid].ascii;
        if (table[mid].cp < cp)
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
static char styled(unsigned cp)
{
    if (cp >= 0x1d400 && cp <= 0x1d6a3) { /* 13 alphabets of A-Z a-z */
        unsigned r = (cp - 0x1d400) % 52;
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
    return cp <= 0xffff
               ? textfold_find(styled_letters, sizeof styled_letters / sizeof styled_letters[0], cp)
               : 0;
}

char textfold_ascii(unsigned cp)
{
    if (cp >= 0xff01 && cp <= 0xff5e) /* full-width '!' to '~' */
        return (char)(cp - 0xff01 + '!');
    return styled(cp);
}

int textfold_label_dot(unsigned cp)
{
    return cp == 0x3002 || cp == 0xff0e || cp == 0xff61;
}
