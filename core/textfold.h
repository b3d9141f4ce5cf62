/*
 * textfold.h - characters a reader (or a browser) takes for an ASCII one in
 * another width or style: full-width forms, the mathematical alphanumerics,
 * circled, parenthesized and squared letters, small capitals. Shared by the
 * host names of URLs and lists (idna.c, as UTS 46 maps them) and by the text
 * the pattern and bayes modules read (modules/common/lookalike.c, which
 * compiles this file in).
 */
#ifndef SMF_TEXTFOLD_H
#define SMF_TEXTFOLD_H

#include <stddef.h>

/* A code point of the Basic Multilingual Plane and the ASCII character it
 * is drawn as; tables of them are sorted by code point. */
typedef struct textfold_pair {
    unsigned short cp;
    char ascii;
} textfold_pair_t;

/* The ASCII character of cp in the sorted table[0..n), else 0. */
char textfold_find(const textfold_pair_t *table, size_t n, unsigned cp);

/*
 * The ASCII character code point cp is drawn as in another width or style
 * ("ｖ" U+FF56 and "𝐯" U+1D42F are 'v', "！" U+FF01 is '!'), else 0. No
 * language is written in these forms: they are ASCII made to look bold,
 * wide or boxed where mail allows no markup.
 */
char textfold_ascii(unsigned cp);

/* Whether cp separates the labels of a host name as '.' does: the
 * ideographic, full-width and half-width full stops (U+3002, U+FF0E,
 * U+FF61), which browsers map to '.'. */
int textfold_label_dot(unsigned cp);

#endif
