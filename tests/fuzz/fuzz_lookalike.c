/*
 * fuzz_lookalike.c - the reader's view of text (modules/common/lookalike.c)
 * over arbitrary bytes. The pattern and bayes modules read every text of a
 * mail through it. Its promises: the view is never longer than the text;
 * text before the first change is kept; and valid UTF-8 (what the engine
 * hands the stages: core/message.c makes every text so) stays valid UTF-8
 * and its view is a fixed point, since a word that a second reading would
 * still change was read with other word bounds or another script than the
 * first. Broken UTF-8 is not: dropping an invisible character can join the
 * broken bytes around it into a character.
 */
#include "fuzz_common.h"
#include "lookalike.h"

#include <stdbool.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
        if (k == 0 || n - i < k)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return false;
        i += k;
    }
    return true;
}

/* The view of s[0..n) in a new buffer, its length in *len. */
static char *view_of(const char *s, size_t n, size_t *len)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        abort();
    size_t from = smf_lookalike_first(s, n);
    FUZZ_CHECK(from <= n);
    unsigned found = 0;
    *len = smf_lookalike_view(s, n, from, out, &found);
    FUZZ_CHECK(*len <= n);
    FUZZ_CHECK(memcmp(out, s, from) == 0);
    FUZZ_CHECK(from < n || (*len == n && memcmp(out, s, n) == 0));
    /* The first change is a change: a text the view keeps needs no copy. */
    FUZZ_CHECK(from == n || *len != n || memcmp(out, s, n) != 0);
    FUZZ_CHECK((found & ~(unsigned)(SMF_LOOKALIKE_MIXED | SMF_LOOKALIKE_INVISIBLE)) == 0);
    return out;
}

/* Characters the view treats each in its own way, for texts of valid UTF-8
 * that random bytes rarely make: ASCII letters, digits, a space and a sign;
 * invisible ones; other spaces; full-width letters and signs; Cyrillic and
 * Greek look-alikes and other letters; styled letters and digits; Thai. */
static const char *const palette[] = {
    "a",      "Z",      "7",          " ",          "!",          "-",      "\n",
    "\u200b", "\u00ad", "\ufeff",     "\u2060",     "\u00a0",     "\u3000", "\uff41",
    "\uff01", "\uff10", "\u0430",     "\u0435",     "\u0440",     "\u043c", "\u0456",
    "\u03bf", "\u03ba", "\u0131",     "\U0001d400", "\U0001d7ce", "\u2119", "\ua730",
    "\u1d07", "\u24d0", "\U0001f170", "\u0e2a",     "\u00e9",     "\u2122",
};

/* The view's promises for the text s[0..n). */
static void check_text(const char *s, size_t n)
{
    size_t len, again_len;
    char *view = view_of(s, n, &len);
    if (valid_utf8((const unsigned char *)s, n)) {
        FUZZ_CHECK(valid_utf8((const unsigned char *)view, len));
        char *again = view_of(view, len, &again_len);
        FUZZ_CHECK(again_len == len && memcmp(again, view, len) == 0);
        free(again);
    }
    free(view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input as bytes, then as a text of the palette's characters, one a byte. */
    check_text((const char *)data, size);
    char *text = malloc(size * 4 + 1);
    if (text == NULL)
        abort();
    size_t n = 0, count = sizeof palette / sizeof palette[0];
    for (size_t i = 0; i < size; i++) {
        const char *c = palette[data[i] % count];
        memcpy(text + n, c, strlen(c));
        n += strlen(c);
    }
    check_text(text, n);
    free(text);
    return 0;
}
