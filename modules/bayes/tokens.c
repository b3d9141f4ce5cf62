/*
 * tokens.c - what the classifier counts. Words of the decoded text (and,
 * as options, neighbour pairs and HTML markup), plus features of selected
 * headers, URLs and MIME parts, each prefixed by its source so that
 * "free" in a Subject and "free" in a body count apart. Only hashes are
 * kept.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* for memrchr() */
#endif
#include "tokens.h"

#include "lookalike.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Words longer than this become one "skip" token (base64 debris, hashes). */
#define WORD_MAX 24
/* Digit runs longer than this become one token per length. */
#define NUMBER_MAX 5
/*
 * Received fields read: the ones nearest the sender, at the bottom of the
 * chain. The top ones are the receiving site's own relays and delivery
 * (more of them in a mailbox the mail was learned from than in the MTA
 * that scans it), so they say when and where mail was collected, not
 * whether it is spam.
 */
#define RECEIVED_ORIGIN 2
/* URLs read at most per message. */
#define URL_MAX 100
/*
 * Budgets of the sources read before the text, so that a message cannot
 * crowd its own words out of max_tokens with features of its form (3,000
 * header fields of made-up names, a link with 3,000 path words, 1,000
 * attachments). Ordinary mail stays far below each: a few dozen header
 * names, a handful of words per link, a few parts. The header fields, the
 * parts, the links and the HTML markup each get a share of max_tokens, and
 * all of them together half of it; the other half is the text's.
 */
#define HEADER_NAMES_MAX 100 /* Distinct header-name tokens. */
#define URL_WORDS_MAX 24     /* Path words of one URL. */
#define PARTS_READ_MAX 100   /* MIME parts whose features are read. */
#define ATTNAME_WORDS_MAX 8  /* Words of one attachment's file name. */

static const uint64_t fnv_offset = 0xcbf29ce484222325ULL;
static const uint64_t fnv_prime = 0x100000001b3ULL;

/* U+2019, the typographic apostrophe (right single quotation mark), in UTF-8. */
static const char rsquo[] = "\xe2\x80\x99";

static bool is_rsquo(const char *s, size_t i, size_t n)
{
    return i + 3 <= n && memcmp(s + i, rsquo, 3) == 0;
}

/* Hashes s[0..n) lower-casing ASCII and reading U+2019 as "'", so that a
 * word typed with either apostrophe is the same token. */
static uint64_t fnv_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (is_rsquo(s, i, n)) {
            c = '\'';
            i += 2;
        }
        h = (h ^ c) * fnv_prime;
    }
    return h;
}

/* FNV spreads low bits poorly; a final avalanche makes every bit count. */
static uint64_t avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static uint64_t hash_token(const char *prefix, const char *s, size_t n)
{
    uint64_t h = fnv_bytes(fnv_offset, prefix, strlen(prefix));
    h = (h ^ 0x1f) * fnv_prime;
    return avalanche(fnv_bytes(h, s, n));
}

static uint64_t hash_pair(uint64_t a, uint64_t b)
{
    /* The rotation keeps "a b" and "b a" apart. */
    return avalanche(a ^ ((b << 29) | (b >> 35)) ^ 0x9e3779b97f4a7c15ULL);
}

/* Adds h once; returns its index in items, or BAYES_NO_TOKEN past the limit. */
static uint32_t add(bayes_tokens_t *t, uint64_t h)
{
    size_t i = (size_t)h & t->mask;
    while (t->slots[i] != 0) {
        if (t->items[t->slots[i] - 1] == h)
            return t->slots[i] - 1;
        i = (i + 1) & t->mask;
    }
    if (t->count >= t->limit || t->count >= t->cap)
        return BAYES_NO_TOKEN;
    t->items[t->count] = h;
    t->pairs[t->count][0] = t->pairs[t->count][1] = BAYES_NO_TOKEN;
    t->slots[i] = (uint32_t)++t->count;
    return (uint32_t)(t->count - 1);
}

/* Whether the source being read may still add tokens. */
static bool room(const bayes_tokens_t *t)
{
    return t->count < t->limit && t->count < t->cap;
}

/* Adds the pair of the words at indices a and b, remembering both. */
static void add_pair(bayes_tokens_t *t, uint32_t a, uint32_t b)
{
    size_t before = t->count;
    uint32_t i = add(t, hash_pair(t->items[a], t->items[b]));
    if (i != BAYES_NO_TOKEN && t->count > before) {
        t->pairs[i][0] = a;
        t->pairs[i][1] = b;
    }
}

/* Bytes of a token's text an operator is shown at most. */
#define NAME_MAX_TEXT 40

/* The longest start of s[0..n), at most max bytes, that ends between two UTF-8 characters. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/*
 * Records the text of token h if it is one of the wanted ones and still
 * unnamed. Once all are named the reading stops (the limit is lowered to
 * what was read): the naming pass needs no more of the message.
 */
static void name_token(bayes_tokens_t *t, uint64_t h, const char *prefix, const char *s, size_t n)
{
    bayes_names_t *nm = t->names;
    size_t unnamed = 0;
    for (size_t k = 0; k < nm->count; k++) {
        unnamed += nm->text[k] == NULL && nm->want[k] != h;
        if (nm->want[k] != h || nm->text[k] != NULL)
            continue;
        const char *source = *prefix == '\0' ? "body" : prefix;
        if (strncmp(source, "h:", 2) == 0)
            source += 2;
        size_t len = utf8_prefix(s, n, NAME_MAX_TEXT);
        size_t size = strlen(source) + len + 8;
        char *out = smf_msg_alloc(t->msg, size);
        if (out != NULL)
            snprintf(out, size, "%s \"%.*s%s\"", source, (int)len, s, len < n ? "..." : "");
        nm->text[k] = out;
    }
    if (unnamed == 0)
        t->limit = t->count;
}

/* Adds the token h made of s[0..n) under prefix, naming it when asked to. */
static uint32_t add_text(bayes_tokens_t *t, uint64_t h, const char *prefix, const char *s, size_t n)
{
    if (t->names != NULL)
        name_token(t, h, prefix, s, n);
    return add(t, h);
}

static void add_str(bayes_tokens_t *t, const char *prefix, const char *s, size_t n)
{
    add_text(t, hash_token(prefix, s, n), prefix, s, n);
}

static bool word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c >= 0x80 || c == '$';
}

/* Characters that join two word runs into one word: "e-mail", "3.50", "o'clock"
 * (and U+2019, the typographic apostrophe: see word_end()). */
static bool joiner(unsigned char c)
{
    return c == '.' || c == '-' || c == '\'' || c == '@' || c == '_' || c == ',';
}

/*
 * The code point of the UTF-8 sequence at s[i] and its length in bytes. A
 * byte that starts no valid sequence reads as itself, one byte long, so
 * that text in an unknown 8-bit charset still makes words as before.
 */
static uint32_t utf8_at(const char *s, size_t i, size_t n, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s + i;
    size_t need = u[0] >= 0xf5 ? 1 : u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : u[0] >= 0xc2 ? 2 : 1;
    uint32_t cp = need == 4 ? u[0] & 0x07u : need == 3 ? u[0] & 0x0fu : u[0] & 0x1fu;
    if (u[0] < 0x80 || need == 1 || i + need > n) {
        *len = 1;
        return u[0];
    }
    for (size_t k = 1; k < need; k++) {
        if ((u[k] & 0xc0) != 0x80) {
            *len = 1;
            return u[0];
        }
        cp = (cp << 6) | (u[k] & 0x3fu);
    }
    *len = need;
    return cp;
}

/*
 * Scripts written without spaces between words (Chinese, Japanese, Thai,
 * Lao, Khmer, Myanmar) and Hangul, whose words carry their particles: their
 * text is read as pairs of neighbouring characters, since a run of them up
 * to the next punctuation would make one token no other message repeats.
 */
static bool unspaced_char(uint32_t cp)
{
    return (cp >= 0x0e00 && cp <= 0x0eff) || (cp >= 0x1000 && cp <= 0x109f) ||
           (cp >= 0x1780 && cp <= 0x17ff) || (cp >= 0x3040 && cp <= 0x30ff) ||
           (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
           (cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0xf900 && cp <= 0xfaff) ||
           (cp >= 0x20000 && cp <= 0x2ffff);
}

/*
 * Non-ASCII characters that separate words as a space does: the general
 * punctuation block (curly quotes, dashes, ellipsis, wide spaces), CJK
 * punctuation and full-width ASCII punctuation, and Latin-1's no-break
 * space, guillemets and inverted marks. Without this "free" in curly
 * quotes would be another word than "free".
 */
static bool punct_char(uint32_t cp)
{
    return cp == 0xa0 || cp == 0xa1 || cp == 0xab || cp == 0xb7 || cp == 0xbb || cp == 0xbf ||
           (cp >= 0x2000 && cp <= 0x206f) || (cp >= 0x3000 && cp <= 0x303f) ||
           (cp >= 0xff01 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
           (cp >= 0xff3b && cp <= 0xff40) || (cp >= 0xff5b && cp <= 0xff65);
}

typedef enum char_kind { CH_OTHER, CH_WORD, CH_UNSPACED } char_kind_t;

/* What the character at s[i] is to the tokenizer; its length in *len. */
static char_kind_t char_kind(const char *s, size_t i, size_t n, size_t *len)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *len = 1;
        return word_byte(c) ? CH_WORD : CH_OTHER;
    }
    uint32_t cp = utf8_at(s, i, n, len);
    return unspaced_char(cp) ? CH_UNSPACED : punct_char(cp) ? CH_OTHER : CH_WORD;
}

/* The end of the word starting at s[i], and its length in characters in *chars. */
static size_t word_end(const char *s, size_t i, size_t n, size_t *chars)
{
    size_t len;
    *chars = 0;
    while (i < n) {
        if (char_kind(s, i, n, &len) == CH_WORD) {
            i += len;
            ++*chars;
        } else if (joiner((unsigned char)s[i]) && i + 1 < n &&
                   char_kind(s, i + 1, n, &len) == CH_WORD) {
            i++;
            ++*chars;
        } else if (is_rsquo(s, i, n) && i + 3 < n && char_kind(s, i + 3, n, &len) == CH_WORD) {
            i += 3;
            ++*chars;
        } else {
            break;
        }
    }
    return i;
}

static bool all_digits(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((w[i] >= '0' && w[i] <= '9') || w[i] == '.' || w[i] == ','))
            return false;
    return true;
}

/*
 * One word's hash: the word itself, or its shape when it is too long to
 * matter. Length is counted in characters, so that a Cyrillic or Greek
 * word (two bytes a letter) is as long as a Latin one.
 */
static uint64_t word_hash(const char *prefix, const char *w, size_t n, size_t chars)
{
    char shape[16];
    if (all_digits(w, n) && n > NUMBER_MAX) {
        int k = snprintf(shape, sizeof(shape), "%zu", n);
        return hash_token("num", shape, (size_t)k);
    }
    if (chars > WORD_MAX) {
        int k = snprintf(shape, sizeof(shape), "%c%zu", w[0], chars / 8);
        return hash_token("skip", shape, (size_t)k);
    }
    return hash_token(prefix, w, n);
}

/*
 * Adds the run of unspaced script starting at s[i], whose first character
 * is len bytes long, as overlapping pairs of characters (a run of one as
 * that character), counting each in *words and stopping at max; returns
 * where it ends.
 */
static size_t add_unspaced_run(bayes_tokens_t *t, const char *prefix, const char *s, size_t i,
                               size_t len, size_t n, size_t *words, size_t max)
{
    size_t next_len;
    bool alone = true;
    while (i + len < n && char_kind(s, i + len, n, &next_len) == CH_UNSPACED && *words < max) {
        add_text(t, hash_token(prefix, s + i, len + next_len), prefix, s + i, len + next_len);
        ++*words;
        alone = false;
        i += len;
        len = next_len;
    }
    if (alone) {
        add_text(t, hash_token(prefix, s + i, len), prefix, s + i, len);
        ++*words;
    }
    return i + len;
}

/*
 * The text s[0..*n) as its reader sees it (lookalike.h), in the message's
 * memory: "vi\u200bagra", "ｖｉａｇｒａ" and "vіagra" with a Cyrillic і are the
 * word "viagra", not "vi" and "agra" or tokens no other mail shares. A word
 * of Latin letters disguised so (a Cyrillic or Greek letter drawn like a
 * Latin one, an invisible character between two letters) is written by no
 * one who means to be read, so it adds the token "word:disguised" as well.
 * Without memory the text is read as written.
 */
static const char *reader_view(bayes_tokens_t *t, const char *s, size_t *n)
{
    size_t from = smf_lookalike_first(s, *n);
    char *view;
    if (from == *n || (view = smf_msg_alloc(t->msg, *n)) == NULL)
        return s;
    unsigned found = 0;
    *n = smf_lookalike_view(s, *n, from, view, &found);
    if (found != 0)
        add_str(t, "word", "disguised", 9);
    return view;
}

/*
 * Adds the words of s[0..n) under `prefix`, and with `pairs` each pair of
 * neighbouring words as well, up to max words (pairs of unspaced text each
 * count as one). One-letter words carry no signal and are skipped, without
 * breaking a pair chain; unspaced text breaks it, having pairs of its own.
 */
static void add_words_max(bayes_tokens_t *t, const char *prefix, const char *s, size_t n,
                          bool pairs, size_t max)
{
    uint32_t prev = BAYES_NO_TOKEN;
    size_t i = 0, words = 0;
    s = reader_view(t, s, &n);
    while (i < n && room(t) && words < max) {
        size_t len, chars;
        char_kind_t kind = char_kind(s, i, n, &len);
        if (kind == CH_UNSPACED) {
            i = add_unspaced_run(t, prefix, s, i, len, n, &words, max);
            prev = BAYES_NO_TOKEN;
            continue;
        }
        if (kind == CH_OTHER) {
            i += len;
            continue;
        }
        size_t end = word_end(s, i, n, &chars);
        if (chars >= 2) {
            words++;
            uint32_t w =
                add_text(t, word_hash(prefix, s + i, end - i, chars), prefix, s + i, end - i);
            if (w != BAYES_NO_TOKEN && pairs && t->bigrams && prev != BAYES_NO_TOKEN)
                add_pair(t, prev, w);
            prev = w;
        }
        i = end;
    }
}

static void add_words(bayes_tokens_t *t, const char *prefix, const char *s, size_t n, bool pairs)
{
    add_words_max(t, prefix, s, n, pairs, SIZE_MAX);
}

static const char *bucket(size_t n)
{
    return n == 0 ? "0" : n == 1 ? "1" : n == 2 ? "2" : n <= 5 ? "3-5" : n <= 10 ? "6-10" : "11+";
}

/* The domain of the first address in a header value, lower case by hashing. */
static void add_domain(bayes_tokens_t *t, const char *prefix, const char *v)
{
    const char *at = strrchr(v, '@');
    if (at == NULL)
        return;
    size_t n = strcspn(at + 1, "> \t\",;)");
    if (n > 0)
        add_str(t, prefix, at + 1, n);
}

/* How many of s[0..len) are c. */
static size_t count_in(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

static size_t count_char(const char *s, char c)
{
    return count_in(s, strlen(s), c);
}

/* Host names and IP addresses of a Received field; an IP address keeps its /24. */
static void add_received(bayes_tokens_t *t, const char *v)
{
    size_t n = strlen(v), i = 0;
    while (i < n) {
        size_t chars, end = word_end(v, i, n, &chars), len = end - i;
        if (len == 0) {
            i++;
            continue;
        }
        /* Host names and addresses; not mail addresses ("for <user@site>"
         * names the recipient, the same for all of a mailbox's mail). */
        if (memchr(v + i, '.', len) != NULL && memchr(v + i, '@', len) == NULL && len <= 64) {
            if (all_digits(v + i, len) && count_in(v + i, len, '.') == 3)
                len = (size_t)((const char *)memrchr(v + i, '.', len) - (v + i));
            add_str(t, "rcvd", v + i, len);
        }
        i = end;
    }
}

/* Headers whose whole value is tokenized as words, under the header's name. */
static const char *const word_headers[] = {"subject",           "x-mailer",
                                           "user-agent",        "x-mimeole",
                                           "organization",      "x-priority",
                                           "x-msmail-priority", "importance",
                                           "content-type",      "content-transfer-encoding",
                                           "mime-version",      NULL};

static bool in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

/*
 * Fields written after the MTA: by final delivery (Return-Path,
 * Delivered-To, Exim's Delivery-Date, Sieve's X-Sieve...) and by mail
 * clients and mailbox formats (Status, X-Keywords...). Mail learned from a
 * mailbox has them, mail the MTA scans does not, so a weight learned for
 * them would shift every scanned message; the envelope sender stands in for
 * Return-Path. scripts/eval --as-mta reads this list from here.
 */
static const char *const after_mta_headers[] = {"return-path",
                                                "delivered-to",
                                                "x-original-to",
                                                "x-delivered-to",
                                                "delivery-date",
                                                "x-sieve",
                                                "envelope-to",
                                                "x-envelope-to",
                                                "x-envelope-from",
                                                "x-rcpt-to",
                                                "status",
                                                "x-status",
                                                "x-keywords",
                                                "x-uid",
                                                "x-mozilla-status",
                                                "x-mozilla-status2",
                                                "x-mozilla-keys",
                                                "content-length",
                                                "lines",
                                                "x-imap",
                                                "x-imapbase",
                                                "x-gmail-labels",
                                                "x-gm-thrid",
                                                NULL};

/*
 * Fields a mailing list writes into every message it relays, spam or ham
 * (and every List- field). They say which way a message came, not what it
 * is: learned from a site's list mail, mostly ham, they pull the spam the
 * lists relay towards ham. The words and links of the message still count.
 */
static const char *const list_headers[] = {
    "precedence", "errors-to",    "sender",         "x-beenthere", "x-mailman-version",
    "x-loop",     "mailing-list", "x-mailing-list", "x-list",      "x-original-sender",
    NULL};

static bool list_header(const char *lname)
{
    return strncmp(lname, "list-", 5) == 0 || in_list(list_headers, lname);
}

/* The position of the next Received field, counted from the top, and how
 * many the message has. */
typedef struct received_pos {
    size_t next, total;
} received_pos_t;

static void add_header(bayes_tokens_t *t, const char *lname, const char *v, received_pos_t *rp)
{
    char prefix[80];
    snprintf(prefix, sizeof(prefix), "h:%s", lname);
    /* Made-up field names say little past the first hundred; the values of
     * the fields read below still count after them. */
    if (t->header_names < HEADER_NAMES_MAX) {
        size_t before = t->count;
        add_str(t, "hn", lname, strlen(lname));
        t->header_names += t->count > before;
    }
    if (in_list(word_headers, lname)) {
        add_words(t, prefix, v, strlen(v), strcmp(lname, "subject") == 0);
    } else if (strcmp(lname, "from") == 0 || strcmp(lname, "reply-to") == 0 ||
               strcmp(lname, "message-id") == 0) {
        add_domain(t, prefix, v);
        if (strcmp(lname, "from") == 0)
            add_words(t, prefix, v, strlen(v), false);
    } else if (strcmp(lname, "to") == 0 || strcmp(lname, "cc") == 0) {
        const char *b = bucket(count_char(v, '@'));
        add_str(t, prefix, b, strlen(b));
    } else if (strcmp(lname, "received") == 0 && rp->next++ + RECEIVED_ORIGIN >= rp->total) {
        add_received(t, v);
    }
}

static size_t count_received(smf_msg_t *msg, size_t count)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;
        if (smf_msg_header_at(msg, i, &name, &value) == 0 && strcasecmp(name, "received") == 0)
            n++;
    }
    return n;
}

/* The envelope sender's domain, or the null sender of bounces. */
static void add_envelope(smf_msg_t *msg, bayes_tokens_t *t)
{
    const smf_envelope_t *env = smf_msg_envelope(msg);
    if (env == NULL || env->sender == NULL)
        return;
    if (env->sender[0] == '\0')
        add_str(t, "env:from", "<>", 2);
    else
        add_domain(t, "env:from", env->sender);
}

static void add_headers(smf_msg_t *msg, bayes_tokens_t *t)
{
    add_envelope(msg, t);
    size_t count = smf_msg_header_count(msg);
    received_pos_t rp = {0, count_received(msg, count)};
    for (size_t i = 0; i < count && room(t); i++) {
        const char *name, *value;
        char lname[64];
        if (smf_msg_header_at(msg, i, &name, &value) != 0)
            continue;
        size_t n = strlen(name);
        if (n == 0 || n >= sizeof(lname))
            continue;
        for (size_t k = 0; k <= n; k++)
            lname[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
        /* Another filter's verdict is not evidence about the mail itself,
         * and smfd's own (X-SMF-Status, in the mail it passed) would teach
         * the classifier its earlier verdicts: the delivered copy of a
         * message would not have the tokens of the one smfd scanned. */
        if (strncmp(lname, "x-spam", 6) == 0 || strncmp(lname, "x-smf-", 6) == 0 ||
            in_list(after_mta_headers, lname) || list_header(lname))
            continue;
        add_header(t, lname, value, &rp);
    }
}

/*
 * Adds what the parts are and how many, within [cap - 2]: the two counts get
 * the last room. Parts the engine derived for its scanners (a preamble, a
 * file inside HTML) are not the message's structure as its sender wrote it:
 * the usual "This is a multi-part message" preamble would add a text part
 * to the mail of some mailers only. They are left out, words and counts.
 */
static void add_parts(smf_msg_t *msg, bayes_tokens_t *t)
{
    size_t all = smf_msg_part_count(msg), count = 0, attachments = 0, cap = t->cap;
    t->cap = cap - 2;
    for (size_t i = 0; i < all; i++) {
        const smf_part_t *p = smf_msg_part(msg, i);
        if (p->flags & SMF_PART_DERIVED)
            continue;
        count++;
        if (count > PARTS_READ_MAX || !room(t)) {
            /* Past what is read, a part still counts in the numbers. */
            attachments += (p->flags & SMF_PART_ATTACHMENT) || p->filename[0] != '\0';
            continue;
        }
        add_str(t, (p->flags & SMF_PART_MULTIPART) ? "mp" : "part", p->content_type,
                strlen(p->content_type));
        if (p->charset[0] != '\0')
            add_str(t, "charset", p->charset, strlen(p->charset));
        if (p->flags & SMF_PART_UNDECODED)
            add_str(t, "part", "undecoded", 9);
        if (!(p->flags & SMF_PART_ATTACHMENT) && p->filename[0] == '\0')
            continue;
        attachments++;
        add_str(t, "att", p->content_type, strlen(p->content_type));
        const char *dot = strrchr(p->filename, '.');
        if (dot != NULL)
            add_str(t, "attext", dot + 1, strlen(dot + 1));
        add_words_max(t, "attname", p->filename, strlen(p->filename), false, ATTNAME_WORDS_MAX);
    }
    t->cap = cap;
    add_str(t, "parts", bucket(count), strlen(bucket(count)));
    add_str(t, "atts", bucket(attachments), strlen(bucket(attachments)));
}

/* Length of the host at the start of a URL's remainder: an IPv6 literal
 * with its brackets, or up to the port, path, query or fragment. */
static size_t url_host_len(const char *host)
{
    if (host[0] == '[') {
        size_t n = strcspn(host, "]/?#");
        return host[n] == ']' ? n + 1 : n;
    }
    return strcspn(host, "/?#:");
}

/* Whether a host has a label of another script (an "xn--" A-label, the
 * form the engine keeps such hosts in). */
static bool url_host_idn(const char *host, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if ((i == 0 || host[i - 1] == '.') && strncmp(host + i, "xn--", 4) == 0)
            return true;
    return false;
}

/* Adds the host, its registered-looking domain and the path words of a URL;
 * an address (IPv4 or an IPv6 literal) is one token, and a host with a
 * label of another script adds one more, as phishing favours look-alikes. */
static void add_url(bayes_tokens_t *t, const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t hlen = url_host_len(host);
    if (hlen == 0)
        return;
    if (all_digits(host, hlen) || host[0] == '[') {
        add_str(t, "url", "ip", 2);
    } else {
        if (url_host_idn(host, hlen))
            add_str(t, "url", "idn", 3);
        add_str(t, "url", host, hlen);
        const char *last = NULL, *second = NULL;
        for (const char *p = host; p < host + hlen; p++)
            if (*p == '.') {
                second = last;
                last = p;
            }
        if (second != NULL)
            add_str(t, "urld", second + 1, (size_t)(host + hlen - second - 1));
    }
    const char *path = host + hlen;
    add_words_max(t, "urlp", path, strlen(path), false, URL_WORDS_MAX);
}

/* Adds the URLs' features within [cap - 1]: their number gets the last room. */
static void add_urls(smf_msg_t *msg, bayes_tokens_t *t)
{
    size_t count = smf_msg_url_count(msg), cap = t->cap;
    t->cap = cap - 1;
    for (size_t i = 0; i < count && i < URL_MAX && room(t); i++)
        add_url(t, smf_msg_url(msg, i));
    t->cap = cap;
    add_str(t, "urls", bucket(count), strlen(bucket(count)));
}

static bool name_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* Presentation attributes whose values say something (red text, tiny fonts). */
static bool telling_attribute(const char *a, size_t n)
{
    static const char *const names[] = {"color",  "bgcolor", "size",   "face", "align",
                                        "border", "width",   "height", NULL};
    for (const char *const *p = names; *p; p++)
        if (strlen(*p) == n && strncasecmp(*p, a, n) == 0)
            return true;
    return false;
}

/* The attributes of one tag: names, and values of the telling ones. */
static size_t add_attributes(bayes_tokens_t *t, const char *s, size_t i, size_t n, const char *tag)
{
    char prefix[48];
    while (i < n && s[i] != '>' && room(t)) {
        if (!name_byte((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t a = i;
        while (i < n && name_byte((unsigned char)s[i]))
            i++;
        size_t alen = i - a;
        snprintf(prefix, sizeof(prefix), "attr:%s", tag);
        add_str(t, prefix, s + a, alen);
        if (i < n && s[i] == '=' && telling_attribute(s + a, alen)) {
            size_t v = ++i;
            if (v < n && (s[v] == '"' || s[v] == '\''))
                v = ++i;
            while (i < n && name_byte((unsigned char)s[i]))
                i++;
            snprintf(prefix, sizeof(prefix), "attrv:%.*s", (int)(alen < 16 ? alen : 16), s + a);
            add_str(t, prefix, s + v, i - v);
        }
    }
    return i;
}

/* Tag names and attributes of each HTML part the sender wrote (not those
 * found inside one): the markup spam was written with. */
static void add_html(smf_msg_t *msg, bayes_tokens_t *t, size_t max)
{
    size_t count = smf_msg_part_count(msg);
    for (size_t p = 0; p < count && room(t); p++) {
        const smf_part_t *part = smf_msg_part(msg, p);
        if (!(part->flags & SMF_PART_HTML) || (part->flags & SMF_PART_DERIVED))
            continue;
        const char *s = (const char *)part->data;
        size_t n = part->size < max ? part->size : max;
        for (size_t i = 0; i < n && room(t); i++) {
            if (s[i] != '<')
                continue;
            size_t a = i + 1 + (i + 1 < n && s[i + 1] == '/');
            size_t e = a;
            while (e < n && name_byte((unsigned char)s[e]) && e - a < 16)
                e++;
            if (e == a)
                continue;
            char tag[20];
            size_t k;
            for (k = 0; k < e - a; k++)
                tag[k] = (char)(s[a + k] >= 'A' && s[a + k] <= 'Z' ? s[a + k] + 32 : s[a + k]);
            tag[k] = '\0';
            add_str(t, "tag", s + i + 1, e - i - 1);
            i = add_attributes(t, s, e, n, tag);
        }
    }
}

/* The budget of the next source: `share` more tokens, up to `end` in all
 * (limit is at least 16, so that a source always has room for its counts). */
static size_t section_cap(const bayes_tokens_t *t, size_t share, size_t end)
{
    size_t cap = t->count + share;
    cap = cap < end ? cap : end;
    return cap > t->count + 2 ? cap : t->count + 2;
}

int bayes_tokenize(smf_msg_t *msg, const bayes_tok_opts_t *o, bayes_tokens_t *t)
{
    size_t slots = 64;
    while (slots < o->limit * 2)
        slots *= 2;
    t->items = smf_msg_alloc(msg, o->limit * sizeof(uint64_t));
    t->pairs = smf_msg_alloc(msg, o->limit * sizeof(t->pairs[0]));
    t->slots = smf_msg_alloc(msg, slots * sizeof(uint32_t));
    if (t->items == NULL || t->pairs == NULL || t->slots == NULL)
        return SMF_ENOMEM;
    memset(t->slots, 0, slots * sizeof(uint32_t));
    t->mask = slots - 1;
    t->count = 0;
    t->limit = o->limit;
    t->header_names = 0;
    t->bigrams = o->bigrams;
    t->names = o->names;
    t->msg = msg;
    /* Structure first, so that a huge text cannot crowd it out of the limit;
     * each source within its budget, so that the structure cannot crowd out
     * the text either (see HEADER_NAMES_MAX). */
    size_t structure = o->limit / 2;
    t->cap = section_cap(t, o->limit / 4, structure);
    add_headers(msg, t);
    t->cap = section_cap(t, o->limit / 8, structure);
    add_parts(msg, t);
    t->cap = section_cap(t, o->limit / 4, structure);
    add_urls(msg, t);
    t->cap = section_cap(t, o->limit / 8, structure);
    if (o->html_tags)
        add_html(msg, t, o->max_text);
    t->cap = o->limit;
    size_t len;
    const char *text = smf_msg_text(msg, &len);
    add_words(t, "", text, len < o->max_text ? len : o->max_text, true);
    return 0;
}
