/*
 * html.c - reduces HTML to the text a reader sees, for content rules.
 *
 * It is a single forward pass that never backtracks, so hostile input
 * (unclosed tags and quotes, stray '<', huge attributes) costs linear time.
 * The text is never longer than the HTML, so one buffer of the input's
 * size holds it.
 */
#include "message.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TAG_DATA_MAX 4

/* Runs of hidden text moved after the visible text, at most; past them,
 * hidden text stays where it is. */
#define HIDDEN_RUNS_MAX 64

/* How far past its start tag the end of a hidden element is looked for. */
#define HIDDEN_SCAN_MAX 8192

/* Classes a <style> sheet hides, kept at most, and the longest name kept. */
#define HIDDEN_CLASSES_MAX 16
#define CLASS_NAME_MAX 40

typedef struct html_state {
    const char *p; /* Next input byte. */
    const char *end;
    char *out;
    size_t len;
    int pending;   /* Separator owed before the next visible character. */
    int no_dquote; /* No '"' left after p: a search for one already failed. */
    int no_squote;
    int in_cond; /* Inside an Outlook conditional comment, <!--[if ...]>. */
    url_set_t *urls;
    arena_t *arena;
    const html_sink_t *sink;
    unsigned depth; /* Of srcdoc pages this one is within. */
    /* The last value attr_value() decoded into the arena, and its copy:
     * the readers of one attribute share a single copy. */
    const char *memo_v;
    size_t memo_n;
    const char *memo_d;
    size_t memo_len;
    /* The data: URIs of the tag being read, given to the sink with the
     * tag's download name once all its attributes are read. */
    const char *data_v[TAG_DATA_MAX];
    size_t data_n[TAG_DATA_MAX];
    size_t data_count;
    const char *download;
    size_t download_len;
    /* The src of the <script> tag being read, when it is a data: URI. */
    const char *script_src;
    size_t script_src_len;
    /* The type attribute of the tag being read, entity-decoded, or NULL. */
    const char *type;
    size_t type_len;
    /* Of a <meta> tag: its http-equiv is "refresh", and its content. */
    int refresh;
    const char *content;
    size_t content_len;
    /* The tag being read has a style that hides it (css_hides()). */
    int css_hidden;
    /* Text of elements hidden by their style, kept out of line and put after
     * the rest (hidden_text()). */
    const char *hidden_from[HIDDEN_RUNS_MAX];
    const char *hidden_to[HIDDEN_RUNS_MAX];
    size_t hidden_count;
    /* Bytes still to spend looking for the end of hidden elements that
     * turn out to have none it can find: the page's length, so that the
     * scan stays linear however many such elements it holds. */
    size_t hidden_budget;
    /* Classes whose rule in a <style> sheet hides their elements
     * (style_sheet()), as an inline style does. */
    char hidden_class[HIDDEN_CLASSES_MAX][CLASS_NAME_MAX + 1];
    size_t hidden_class_count;
} html_state_t;

enum { SEP_NONE, SEP_SPACE, SEP_LINE };

#define TAG_NAME_MAX 16
#define ENTITY_NAME_MAX 24
#define COND_MAX 128

typedef struct entity {
    const char *name;
    unsigned cp;
    unsigned cp2; /* A second character, of the few that stand for two; else 0. */
} entity_t;

/* The named entities that mail actually uses. Each name with its '&' and
 * ';' is at least as long as its UTF-8 form, which keeps the output no
 * longer than the input. */
static const entity_t entities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},      {"apos", '\''},
    {"nbsp", ' '},     {"copy", 0xa9},    {"reg", 0xae},     {"trade", 0x2122},  {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201c},
    {"rdquo", 0x201d}, {"sbquo", 0x201a}, {"bdquo", 0x201e}, {"bull", 0x2022},   {"middot", 0xb7},
    {"euro", 0x20ac},  {"pound", 0xa3},   {"yen", 0xa5},     {"cent", 0xa2},     {"sect", 0xa7},
    {"para", 0xb6},    {"deg", 0xb0},     {"plusmn", 0xb1},  {"times", 0xd7},    {"divide", 0xf7},
    {"laquo", 0xab},   {"raquo", 0xbb},   {"iexcl", 0xa1},   {"iquest", 0xbf},   {"shy", 0xad},
    {"zwj", 0x200d},   {"zwnj", 0x200c},  {"frac12", 0xbd},  {"frac14", 0xbc},   {"frac34", 0xbe},
    {"micro", 0xb5},   {"ordf", 0xaa},    {"ordm", 0xba},    {"szlig", 0xdf},    {"agrave", 0xe0},
    {"aacute", 0xe1},  {"acirc", 0xe2},   {"atilde", 0xe3},  {"auml", 0xe4},     {"aring", 0xe5},
    {"aelig", 0xe6},   {"ccedil", 0xe7},  {"egrave", 0xe8},  {"eacute", 0xe9},   {"ecirc", 0xea},
    {"euml", 0xeb},    {"igrave", 0xec},  {"iacute", 0xed},  {"icirc", 0xee},    {"iuml", 0xef},
    {"ntilde", 0xf1},  {"ograve", 0xf2},  {"oacute", 0xf3},  {"ocirc", 0xf4},    {"otilde", 0xf5},
    {"ouml", 0xf6},    {"oslash", 0xf8},  {"ugrave", 0xf9},  {"uacute", 0xfa},   {"ucirc", 0xfb},
    {"uuml", 0xfc},    {"yacute", 0xfd},  {"yuml", 0xff},    {"Agrave", 0xc0},   {"Aacute", 0xc1},
    {"Acirc", 0xc2},   {"Atilde", 0xc3},  {"Auml", 0xc4},    {"Aring", 0xc5},    {"AElig", 0xc6},
    {"Ccedil", 0xc7},  {"Egrave", 0xc8},  {"Eacute", 0xc9},  {"Ecirc", 0xca},    {"Euml", 0xcb},
    {"Igrave", 0xcc},  {"Iacute", 0xcd},  {"Icirc", 0xce},   {"Iuml", 0xcf},     {"Ntilde", 0xd1},
    {"Ograve", 0xd2},  {"Oacute", 0xd3},  {"Ocirc", 0xd4},   {"Otilde", 0xd5},   {"Ouml", 0xd6},
    {"Oslash", 0xd8},  {"Ugrave", 0xd9},  {"Uacute", 0xda},  {"Ucirc", 0xdb},    {"Uuml", 0xdc},
    {"Yacute", 0xdd},  {"ne", 0x2260},    {"le", 0x2264},    {"ge", 0x2265},     {"larr", 0x2190},
    {"rarr", 0x2192},  {"uarr", 0x2191},  {"darr", 0x2193},  {"hearts", 0x2665}, {"check", 0x2713},
    {"star", 0x2606},  {"infin", 0x221e},
};

/* Spellings browsers accept as well: the upper-case legacy ones, and the
 * long names of the zero-width characters that split words in spam. */
static const entity_t more_entities[] = {
    {"AMP", '&'},
    {"LT", '<'},
    {"GT", '>'},
    {"QUOT", '"'},
    {"NoBreak", 0x2060},
    {"ZeroWidthSpace", 0x200b},
    {"NegativeVeryThinSpace", 0x200b},
    {"NegativeThinSpace", 0x200b},
    {"NegativeMediumSpace", 0x200b},
    {"NegativeThickSpace", 0x200b},
    {"ThickSpace", 0x205f, 0x200a},
};

/*
 * The HTML5 names of ASCII characters, which browsers know only with ';'.
 * Written into a data: URI they stand for its syntax and payload alike
 * ("data&colon;", "&semi;base64", "&plus;" in base64), so each must be
 * undone there as a browser undoes it. "&fjlig;" stands for two letters,
 * as it spells a word: "&fjlig;ord" is "fjord".
 */
static const entity_t ascii_entities[] = {
    {"Tab", '\t'},
    {"NewLine", '\n'},
    {"excl", '!'},
    {"num", '#'},
    {"dollar", '$'},
    {"percnt", '%'},
    {"lpar", '('},
    {"rpar", ')'},
    {"ast", '*'},
    {"midast", '*'},
    {"plus", '+'},
    {"comma", ','},
    {"period", '.'},
    {"sol", '/'},
    {"colon", ':'},
    {"semi", ';'},
    {"equals", '='},
    {"quest", '?'},
    {"commat", '@'},
    {"lsqb", '['},
    {"lbrack", '['},
    {"bsol", '\\'},
    {"rsqb", ']'},
    {"rbrack", ']'},
    {"Hat", '^'},
    {"lowbar", '_'},
    {"UnderBar", '_'},
    {"grave", '`'},
    {"DiacriticalGrave", '`'},
    {"lcub", '{'},
    {"lbrace", '{'},
    {"verbar", '|'},
    {"vert", '|'},
    {"VerticalLine", '|'},
    {"rcub", '}'},
    {"rbrace", '}'},
    {"fjlig", 'f', 'j'},
};

/* HTML maps numeric references 0x80-0x9f as windows-1252 bytes. */
static const unsigned short c1_map[32] = {
    0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd, 0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
};

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Characters that only hide words from filters are dropped. */
static int invisible(unsigned cp)
{
    return cp == 0xad || (cp >= 0x200b && cp <= 0x200d) || cp == 0xfeff || cp == 0x2060;
}

static unsigned sanitise_cp(unsigned long cp)
{
    if (cp >= 0x80 && cp <= 0x9f)
        return c1_map[cp - 0x80];
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0xfffd;
    return (unsigned)cp;
}

/* The entry of table t named q[0..n), or NULL. */
static const entity_t *find_entity(const entity_t *t, size_t count, const char *q, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (n > 0 && t[i].name[0] == q[0] && strlen(t[i].name) == n && memcmp(t[i].name, q, n) == 0)
            return &t[i];
    return NULL;
}

/*
 * Decodes the character reference at p ('&'). Returns the bytes consumed
 * (0 when it is not a reference) and the code point in *cp, with a second
 * one in *cp2 for a reference that stands for two (else 0). Reads at most
 * a few dozen bytes, whatever follows.
 */
static size_t entity_decode(const char *p, const char *end, unsigned *cp, unsigned *cp2)
{
    *cp2 = 0;
    const char *q = p + 1;
    if (q < end && *q == '#') {
        q++;
        int hex = q < end && lower((unsigned char)*q) == 'x';
        q += hex;
        /* Browsers read every digit, leading zeros included; a value past
         * U+10FFFF stops growing and becomes U+FFFD. */
        unsigned long v = 0;
        int digits = 0;
        for (; q < end; q++, digits++) {
            int c = lower((unsigned char)*q);
            int d = (c >= '0' && c <= '9') ? c - '0' : (hex && c >= 'a' && c <= 'f') ? c - 87 : -1;
            if (d < 0)
                break;
            if (v <= 0x10ffff)
                v = v * (hex ? 16 : 10) + (unsigned long)d;
        }
        if (digits == 0)
            return 0;
        if (q < end && *q == ';')
            q++;
        *cp = sanitise_cp(v);
        return (size_t)(q - p);
    }
    size_t n = 0;
    while (q + n < end && n < ENTITY_NAME_MAX &&
           (is_alpha((unsigned char)q[n]) || (q[n] >= '0' && q[n] <= '9')))
        n++;
    int semi = q + n < end && q[n] == ';';
    const entity_t *e = find_entity(entities, sizeof(entities) / sizeof(entities[0]), q, n);
    if (e == NULL)
        e = find_entity(more_entities, sizeof(more_entities) / sizeof(more_entities[0]), q, n);
    /* Without ';' only the ASCII ones are recognised, as browsers do. */
    if (e == NULL || (!semi && e->cp >= 0x80)) {
        if (!semi)
            return 0;
        e = find_entity(ascii_entities, sizeof(ascii_entities) / sizeof(ascii_entities[0]), q, n);
        if (e == NULL)
            return 0;
    }
    *cp = e->cp;
    *cp2 = e->cp2;
    return 1 + n + (size_t)semi;
}

/* Pays the separator owed, then leaves room for a visible character. */
static void flush_sep(html_state_t *st)
{
    if (st->pending != SEP_NONE && st->len > 0)
        st->out[st->len++] = st->pending == SEP_LINE ? '\n' : ' ';
    st->pending = SEP_NONE;
}

static void put_space(html_state_t *st)
{
    if (st->pending == SEP_NONE)
        st->pending = SEP_SPACE;
}

static void put_cp(html_state_t *st, unsigned cp)
{
    if (cp == ' ' || cp == 0xa0 || is_space((int)cp)) {
        put_space(st);
        return;
    }
    /* Control characters are not text, whether literal or by reference. */
    if (invisible(cp) || cp < 0x20 || cp == 0x7f)
        return;
    flush_sep(st);
    st->len += utf8_put(st->out + st->len, cp);
}

/* Finds the first case-insensitive match of `lit` (lower case, starting
 * with '<') at or after p; NULL when there is none. */
static const char *find_ci(const char *p, const char *end, const char *lit)
{
    size_t k = strlen(lit);
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        if ((size_t)(end - p) < k)
            return NULL;
        size_t i = 1;
        while (i < k && lower((unsigned char)p[i]) == lit[i])
            i++;
        if (i == k)
            return p;
        p++;
    }
    return NULL;
}

/* Finds quote character q at or after p, remembering a failed search so
 * that later quotes in the same document are not searched for again. */
static const char *find_quote(html_state_t *st, const char *p, char q)
{
    int *none = q == '"' ? &st->no_dquote : &st->no_squote;
    if (*none)
        return NULL;
    const char *r = memchr(p, q, (size_t)(st->end - p));
    if (r == NULL)
        *none = 1;
    return r;
}

static int is_link_attr(const char *name, size_t n)
{
    static const char *const names[] = {"href", "src", "action"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t k = strlen(names[i]);
        if (n != k)
            continue;
        size_t j = 0;
        while (j < k && lower((unsigned char)name[j]) == names[i][j])
            j++;
        if (j == k)
            return 1;
    }
    return 0;
}

/* An attribute value as a browser reads it: entity-decoded, in the arena
 * when it holds a reference, else v itself. Never longer than v. */
static const char *attr_value(html_state_t *st, const char *v, size_t n, size_t *out)
{
    if (memchr(v, '&', n) == NULL) {
        *out = n;
        return v;
    }
    if (v == st->memo_v && n == st->memo_n) {
        *out = st->memo_len;
        return st->memo_d;
    }
    char *d = arena_alloc(st->arena, n + 1);
    size_t len = 0;
    const char *p = v;
    const char *end = v + n;
    while (p < end) {
        unsigned cp, cp2;
        size_t k = *p == '&' ? entity_decode(p, end, &cp, &cp2) : 0;
        if (k == 0) {
            d[len++] = *p++;
            continue;
        }
        len += utf8_put(d + len, cp);
        if (cp2 != 0)
            len += utf8_put(d + len, cp2);
        p += k;
    }
    st->memo_v = v;
    st->memo_n = n;
    st->memo_d = d;
    st->memo_len = len;
    *out = len;
    return d;
}

/* Entity-decodes an attribute value, then offers it as a link. */
static void add_link(html_state_t *st, const char *v, size_t n)
{
    size_t len;
    const char *d = attr_value(st, v, n, &len);
    url_add_link(st->urls, d, len);
}

static int name_is(const char *name, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)name[i]) != lit[i])
            return 0;
    return 1;
}

static int tab_or_newline(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\r';
}

/*
 * A URL as the URL parser reads it: without the control characters and
 * spaces around it, and without any tab or line break inside it, so that
 * "da&#10;ta:" is a data: URI and ";base&#9;64" its base64 mark. The copy
 * goes in the arena when there is anything to remove inside.
 */
static const char *url_cleaned(html_state_t *st, const char *d, size_t *len)
{
    size_t n = *len;
    while (n > 0 && (unsigned char)*d <= ' ')
        d++, n--;
    while (n > 0 && (unsigned char)d[n - 1] <= ' ')
        n--;
    size_t k = 0;
    while (k < n && !tab_or_newline((unsigned char)d[k]))
        k++;
    if (k < n) {
        char *c = arena_alloc(st->arena, n);
        memcpy(c, d, k);
        for (size_t i = k; i < n; i++)
            if (!tab_or_newline((unsigned char)d[i]))
                c[k++] = d[i];
        d = c;
        n = k;
    }
    *len = n;
    return d;
}

/* Keeps a value that is a data: URI, read as the URL parser reads it
 * (url_cleaned()), for the sink; one past what a tag keeps goes at once,
 * without the tag's download name. Returns the URI so read, *len bytes,
 * or NULL when the value is none. */
static const char *keep_uri(html_state_t *st, const char *tag, const char *d, size_t *len);

static const char *keep_data(html_state_t *st, const char *tag, const char *v, size_t n,
                             size_t *len)
{
    size_t skip = 0;
    while (skip < n && (unsigned char)v[skip] <= ' ')
        skip++;
    if (skip == n || (v[skip] != 'd' && v[skip] != 'D' && v[skip] != '&'))
        return NULL; /* Spares decoding the references of every other value. */
    return keep_uri(st, tag, attr_value(st, v, n, len), len);
}

/* As keep_data(), for the URL d[0..*len), its references already undone. */
static const char *keep_uri(html_state_t *st, const char *tag, const char *d, size_t *len)
{
    size_t i = 0, k = 0;
    while (i < *len && (unsigned char)d[i] <= ' ')
        i++;
    /* The scheme, tabs and line breaks in it left out, is "data:". */
    for (; i < *len && k < 5; i++)
        if (!tab_or_newline((unsigned char)d[i]) && lower((unsigned char)d[i]) != "data:"[k++])
            return NULL;
    if (k < 5)
        return NULL;
    d = url_cleaned(st, d, len);
    if (st->data_count == TAG_DATA_MAX) {
        st->sink->data_uri(st->sink->ctx, tag, d, *len, NULL, 0);
        return d;
    }
    st->data_v[st->data_count] = d;
    st->data_n[st->data_count++] = *len;
    return d;
}

/*
 * Takes the URLs of a srcset, split into its candidates as browsers split
 * it: each is a URL, which runs to a blank (commas that end it are no part
 * of it; those inside are, as a data: URI holds them), then its
 * descriptors ("2x", "100w") up to a comma outside parentheses. Each is a
 * link of the message, and a data: URI a file of the page too.
 */
static void keep_srcset(html_state_t *st, const char *tag, const char *v, size_t n)
{
    size_t len;
    const char *d = attr_value(st, v, n, &len);
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_space((unsigned char)d[i]) || d[i] == ','))
            i++;
        size_t start = i;
        while (i < len && !is_space((unsigned char)d[i]))
            i++;
        size_t end = i;
        if (end > start && d[end - 1] == ',') {
            while (end > start && d[end - 1] == ',')
                end--;
        } else {
            int parens = 0;
            for (; i < len && (parens || d[i] != ','); i++)
                parens = d[i] == '(' ? 1 : d[i] == ')' ? 0 : parens;
        }
        size_t url_len = end - start;
        if (url_len > 0 && st->urls != NULL)
            url_add_link(st->urls, d + start, url_len);
        if (url_len > 0 && st->sink != NULL && st->sink->data_uri != NULL)
            keep_uri(st, tag, d + start, &url_len);
    }
}

/*
 * The URL of a <meta http-equiv="refresh">'s content c[0..n), read as
 * browsers read it ("5; url='...'", "0,URL=...", ".5 ..."): its start,
 * its length in *len; NULL when the content gives none.
 */
static const char *refresh_url(const char *c, size_t n, size_t *len)
{
    size_t i = 0;
    while (i < n && is_space((unsigned char)c[i]))
        i++;
    size_t digits = i;
    while (i < n && c[i] >= '0' && c[i] <= '9')
        i++;
    if (i == digits && (i >= n || c[i] != '.'))
        return NULL;
    while (i < n && ((c[i] >= '0' && c[i] <= '9') || c[i] == '.'))
        i++;
    if (i < n) {
        if (c[i] != ';' && c[i] != ',' && !is_space((unsigned char)c[i]))
            return NULL;
        while (i < n && is_space((unsigned char)c[i]))
            i++;
        if (i < n && (c[i] == ';' || c[i] == ','))
            i++;
        while (i < n && is_space((unsigned char)c[i]))
            i++;
    }
    if (i >= n)
        return NULL;
    /* "url =" is skipped when whole; when only a part of it ("ur") is
     * written, that is the URL's start, and no quote is skipped. */
    size_t url = i;
    if (n - i >= 3 && name_is(c + i, 3, "url")) {
        size_t j = i + 3;
        while (j < n && is_space((unsigned char)c[j]))
            j++;
        if (j < n && c[j] == '=') {
            j++;
            while (j < n && is_space((unsigned char)c[j]))
                j++;
            url = j;
        }
    }
    if (url < n && (c[url] == '"' || c[url] == '\'') &&
        (url > i || lower((unsigned char)c[i]) != 'u')) {
        const char *q = memchr(c + url + 1, c[url], n - url - 1);
        *len = (q != NULL ? (size_t)(q - c) : n) - (url + 1);
        return c + url + 1;
    }
    *len = n - url;
    return c + url;
}

/* Gives the sink the data: URIs of the tag just read. */
static void flush_data(html_state_t *st, const char *tag)
{
    for (size_t i = 0; i < st->data_count; i++)
        st->sink->data_uri(st->sink->ctx, tag, st->data_v[i], st->data_n[i], st->download,
                           st->download_len);
    st->data_count = 0;
    st->download = NULL;
    st->download_len = 0;
}

/*
 * Whether an attribute holds script a browser runs: an event handler
 * (onload, onclick, ...) or a javascript: or vbscript: URL. Such code
 * builds and saves files as a <script> does.
 */
static const char *attr_script(html_state_t *st, const char *name, size_t name_len, const char *v,
                               size_t n, size_t *len)
{
    if (name_len > 2 && lower((unsigned char)name[0]) == 'o' &&
        lower((unsigned char)name[1]) == 'n')
        return attr_value(st, v, n, len);
    size_t skip = 0;
    while (skip < n && (unsigned char)v[skip] <= ' ')
        skip++;
    int c = skip < n ? lower((unsigned char)v[skip]) : 0;
    if (c != 'j' && c != 'v' && c != '&')
        return NULL; /* Spares decoding the references of every other value. */
    const char *d = url_cleaned(st, attr_value(st, v, n, len), len);
    if ((*len >= 11 && name_is(d, 11, "javascript:")) || (*len >= 9 && name_is(d, 9, "vbscript:")))
        return d;
    return NULL;
}

static char *scan(arena_t *arena, const char *html, size_t len, size_t *out_len, url_set_t *urls,
                  const html_sink_t *sink, unsigned depth);

/*
 * An iframe's srcdoc: a page of the same origin that the browser builds
 * and runs as it does the document. Its data: URIs, scripts, style sheets
 * and links are the document's; its text is left out. The page counts as
 * script (it may hold any), so that no image of the document is taken for
 * one the page only shows. Past HTML_SRCDOC_DEPTH it goes to the script
 * sink whole and the sink is told that a page went unread.
 */
static void srcdoc(html_state_t *st, const char *v, size_t n)
{
    size_t len;
    const char *d = attr_value(st, v, n, &len);
    const html_sink_t *sink = st->sink;
    if (st->depth >= HTML_SRCDOC_DEPTH) {
        if (sink != NULL && sink->script != NULL)
            sink->script(sink->ctx, d, len);
        if (sink != NULL && sink->unread != NULL)
            sink->unread(sink->ctx);
        return;
    }
    if (sink != NULL && sink->script != NULL)
        sink->script(sink->ctx, "", 0);
    scan(st->arena, d, len, NULL, st->urls, sink, st->depth + 1);
}

/* Reads one attribute at st->p; returns 0 at the end of the tag. */
/* Whether s[i..n), after blanks, starts with word (in any case), then
 * blanks; where it ends, else 0. */
static size_t css_word(const char *s, size_t n, size_t i, const char *word)
{
    size_t k = strlen(word);
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    if (n - i < k || strncasecmp(s + i, word, k) != 0)
        return 0;
    i += k;
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    return i;
}

/* Whether a declaration value at s[i..n) is a zero: "0", "0px", "0.0em",
 * up to ';', '!' or the end. */
static int css_zero(const char *s, size_t n, size_t i)
{
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    size_t digits = 0;
    for (; i < n && (s[i] == '0' || s[i] == '.'); i++)
        digits += s[i] == '0';
    while (i < n && is_alpha((unsigned char)s[i]))
        i++; /* A unit. */
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    return digits > 0 && (i == n || s[i] == ';' || s[i] == '!');
}

/*
 * Whether an inline style hides its element from the reader: display:none,
 * visibility:hidden, font-size:0 or opacity:0, in any of its declarations.
 */
static int css_hides(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t d, v;
        if ((d = css_word(s, n, i, "display")) > 0 && d < n && s[d] == ':' &&
            (v = css_word(s, n, d + 1, "none")) > 0 && (v == n || s[v] == ';' || s[v] == '!'))
            return 1;
        if ((d = css_word(s, n, i, "visibility")) > 0 && d < n && s[d] == ':' &&
            (v = css_word(s, n, d + 1, "hidden")) > 0 && (v == n || s[v] == ';' || s[v] == '!'))
            return 1;
        if ((((d = css_word(s, n, i, "font-size")) > 0) ||
             (d = css_word(s, n, i, "opacity")) > 0) &&
            d < n && s[d] == ':' && css_zero(s, n, d + 1))
            return 1;
        const char *semi = memchr(s + i, ';', n - i);
        i = semi != NULL ? (size_t)(semi - s) + 1 : n;
    }
    return 0;
}

static int class_char(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Whether a class attribute's value v[0..n) names a class a sheet hides.
 * Compared without regard to case, as browsers do for mail without a
 * doctype (quirks mode). */
static int class_hides(const html_state_t *st, const char *v, size_t n)
{
    for (size_t i = 0; i < n;) {
        while (i < n && is_space((unsigned char)v[i]))
            i++;
        size_t start = i;
        while (i < n && !is_space((unsigned char)v[i]))
            i++;
        for (size_t k = 0; k < st->hidden_class_count && i > start; k++)
            if (strlen(st->hidden_class[k]) == i - start &&
                strncasecmp(st->hidden_class[k], v + start, i - start) == 0)
                return 1;
    }
    return 0;
}

/*
 * Keeps the class of a selector sel[0..n) that names one class alone,
 * ".name" or "tag.name" (blanks around it aside): a rule with a descendant,
 * an attribute, a pseudo-class or two classes applies to fewer elements
 * than the class, and taking it for all of them would hide visible text.
 */
static void keep_hidden_class(html_state_t *st, const char *sel, size_t n)
{
    while (n > 0 && is_space((unsigned char)sel[n - 1]))
        n--;
    size_t i = 0;
    while (i < n && is_space((unsigned char)sel[i]))
        i++;
    while (i < n && is_alpha((unsigned char)sel[i]))
        i++; /* A tag name. */
    if (i >= n || sel[i] != '.')
        return;
    size_t start = ++i;
    while (i < n && class_char((unsigned char)sel[i]))
        i++;
    if (i != n || i == start || i - start > CLASS_NAME_MAX ||
        st->hidden_class_count == HIDDEN_CLASSES_MAX)
        return;
    memcpy(st->hidden_class[st->hidden_class_count], sel + start, i - start);
    st->hidden_class[st->hidden_class_count++][i - start] = '\0';
}

/*
 * Reads a <style> sheet s[0..n) for the top-level rules that hide a class
 * (css_hides() on their declarations: ".pre { display: none }"), so that
 * an element of that class is hidden as if its style said so. Rules inside
 * an at-rule (@media, @supports) apply only sometimes and are not taken;
 * comments are skipped.
 */
static void style_sheet(html_state_t *st, const char *s, size_t n)
{
    size_t sel = 0, block = 0, depth = 0;
    int nested = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
            const char *e = memmem(s + i + 2, n - i - 2, "*/", 2);
            i = e != NULL ? (size_t)(e - s) + 1 : n;
            continue;
        }
        if (s[i] == '{') {
            nested |= depth > 0;
            if (depth++ == 0)
                block = i + 1;
        } else if (s[i] == '}' && depth > 0 && --depth == 0) {
            if (!nested && memchr(s + sel, '@', block - sel) == NULL &&
                css_hides(s + block, i - block)) {
                for (size_t a = sel, b; a < block - 1; a = b + 1) {
                    const char *comma = memchr(s + a, ',', block - 1 - a);
                    b = comma != NULL ? (size_t)(comma - s) : block - 1;
                    keep_hidden_class(st, s + a, b - a);
                }
            }
            nested = 0;
            sel = i + 1;
        } else if (s[i] == ';' && depth == 0) {
            sel = i + 1; /* An at-rule without a block: @import ...; */
        }
    }
}

static int attribute(html_state_t *st, const char *tag)
{
    const char *p = st->p;
    while (p < st->end && (is_space((unsigned char)*p) || *p == '/'))
        p++;
    if (p >= st->end || *p == '>') {
        st->p = p;
        return 0;
    }
    const char *name = p;
    while (p < st->end && !is_space((unsigned char)*p) && *p != '=' && *p != '>' && *p != '/')
        p++;
    size_t name_len = (size_t)(p - name);
    if (name_len == 0)
        p++; /* A stray '=' or quote: skip it. */
    while (p < st->end && is_space((unsigned char)*p))
        p++;
    const char *v = NULL;
    size_t vlen = 0;
    if (name_len > 0 && p < st->end && *p == '=') {
        p++;
        while (p < st->end && is_space((unsigned char)*p))
            p++;
        const char *close = NULL;
        if (p < st->end && (*p == '"' || *p == '\''))
            close = find_quote(st, p + 1, *p);
        if (close != NULL) {
            v = p + 1;
            vlen = (size_t)(close - v);
            p = close + 1;
        } else {
            /* Unquoted, or a quote that never closes: up to a blank or '>'. */
            v = p;
            while (p < st->end && !is_space((unsigned char)*p) && *p != '>')
                p++;
            vlen = (size_t)(p - v);
        }
    }
    if (v != NULL && st->urls != NULL && is_link_attr(name, name_len))
        add_link(st, v, vlen);
    const char *code;
    size_t code_len;
    if (v != NULL && st->sink != NULL && st->sink->script != NULL &&
        (code = attr_script(st, name, name_len, v, vlen, &code_len)) != NULL)
        st->sink->script(st->sink->ctx, code, code_len);
    if (v != NULL && (st->sink != NULL || st->urls != NULL) && name_is(name, name_len, "srcdoc"))
        srcdoc(st, v, vlen);
    if (v != NULL && st->hidden_class_count > 0 && name_is(name, name_len, "class"))
        st->css_hidden |= class_hides(st, v, vlen);
    if (v != NULL && name_is(name, name_len, "style")) {
        size_t len;
        const char *d = attr_value(st, v, vlen, &len);
        st->css_hidden |= css_hides(d, len);
        if (st->sink != NULL && st->sink->style != NULL)
            st->sink->style(st->sink->ctx, d, len);
    }
    if (v != NULL && (st->sink != NULL || st->urls != NULL) && strcmp(tag, "meta") == 0) {
        size_t len;
        if (name_is(name, name_len, "http-equiv")) {
            const char *d = url_cleaned(st, attr_value(st, v, vlen, &len), &len);
            st->refresh = name_is(d, len, "refresh");
        } else if (name_is(name, name_len, "content")) {
            st->content = attr_value(st, v, vlen, &st->content_len);
        }
    }
    if (v != NULL && st->sink != NULL && st->type == NULL && name_is(name, name_len, "type"))
        st->type = attr_value(st, v, vlen, &st->type_len); /* The first one counts. */
    if (v != NULL && (st->urls != NULL || (st->sink != NULL && st->sink->data_uri != NULL)) &&
        (name_is(name, name_len, "srcset") || name_is(name, name_len, "imagesrcset")))
        keep_srcset(st, tag, v, vlen);
    else if (v != NULL && st->sink != NULL && st->sink->data_uri != NULL) {
        size_t len;
        const char *d;
        if (name_is(name, name_len, "download"))
            st->download = attr_value(st, v, vlen, &st->download_len);
        else if ((d = keep_data(st, tag, v, vlen, &len)) != NULL && strcmp(tag, "script") == 0 &&
                 name_is(name, name_len, "src"))
            st->script_src = d, st->script_src_len = len;
    }
    st->p = p;
    return 1;
}

static int tag_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name[0] == list[i][0] && strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* Tags that start a new line of text. */
static int is_block(const char *name)
{
    static const char *const block[] = {
        "br",         "p",    "div",   "tr",      "li",      "h1",     "h2",     "h3",   "h4",
        "h5",         "h6",   "hr",    "table",   "ul",      "ol",     "dl",     "dt",   "dd",
        "blockquote", "pre",  "title", "section", "article", "header", "footer", "form", "center",
        "address",    "main", "nav",   "aside",   "caption", "head",   "body",
    };
    return tag_in(name, block, sizeof(block) / sizeof(block[0]));
}

static int is_cell(const char *name)
{
    static const char *const cell[] = {"td", "th", "img", "input", "option"};
    return tag_in(name, cell, sizeof(cell) / sizeof(cell[0]));
}

/*
 * Whether a <script> of the type attribute t[0..n) holds data a browser
 * does not run: a JSON type ("application/json", "application/ld+json",
 * any "+json", parameters aside), an import map or speculation rules,
 * which are JSON too. Browsers run none of any type but JavaScript's and
 * "module"; the other ones (templates, "text/plain") are still read as
 * script, since a script of the page inserts a template's markup, whose
 * event handlers then run.
 */
static int script_is_data(const char *t, size_t n)
{
    if (t == NULL)
        return 0;
    const char *semi = memchr(t, ';', n);
    if (semi != NULL)
        n = (size_t)(semi - t);
    while (n > 0 && is_space((unsigned char)*t))
        t++, n--;
    while (n > 0 && is_space((unsigned char)t[n - 1]))
        n--;
    if (name_is(t, n, "importmap") || name_is(t, n, "speculationrules"))
        return 1;
    return n > 5 && memchr(t, '/', n - 4) != NULL &&
           (name_is(t + n - 5, 5, "/json") || name_is(t + n - 5, 5, "+json"));
}

/*
 * Skips what a reader never sees: the content of script, style, the title
 * (shown in the window's title bar, not the page) and the like, up to their
 * end tag. Text elsewhere in <head> is shown, as browsers show it.
 */
static void skip_hidden(html_state_t *st, const char *name)
{
    static const char *const hidden[] = {"script", "style", "template", "title"};
    /* Word's <xml> data islands sit in conditional comments, which only
     * Outlook reads, and it hides them; elsewhere <xml> is an unknown
     * element whose text browsers show. */
    int xml = st->in_cond && strcmp(name, "xml") == 0;
    if (!xml && !tag_in(name, hidden, sizeof(hidden) / sizeof(hidden[0])))
        return;
    char lit[TAG_NAME_MAX + 3] = "</";
    strcat(lit, name);
    size_t k = strlen(lit);
    /* Only an end tag whose name ends there closes the element, as in a
     * browser: "</scriptx>" in a script's comment or string does not. */
    const char *e = st->p;
    while ((e = find_ci(e, st->end, lit)) != NULL && e + k < st->end &&
           !is_space((unsigned char)e[k]) && e[k] != '/' && e[k] != '>')
        e++;
    if (e == NULL)
        e = st->end;
    if (st->sink != NULL && strcmp(name, "script") == 0) {
        void (*read)(void *, const char *, size_t) = st->sink->script;
        if (st->sink->script_data != NULL && script_is_data(st->type, st->type_len))
            read = st->sink->script_data;
        if (read != NULL)
            read(st->sink->ctx, st->p, (size_t)(e - st->p));
    }
    if (st->sink != NULL && st->sink->style != NULL && strcmp(name, "style") == 0)
        st->sink->style(st->sink->ctx, st->p, (size_t)(e - st->p));
    if (strcmp(name, "style") == 0)
        style_sheet(st, st->p, (size_t)(e - st->p));
    st->p = e;
}

/*
 * Where a comment whose text starts at p ends, as browsers read it: at "-->",
 * at "--!>", or at once for "<!-->" and "<!--->". Text hidden in a comment a
 * browser has already closed would otherwise escape the filter.
 */
static const char *comment_end(const char *p, const char *end)
{
    if (p < end && *p == '>')
        return p + 1;
    if (end - p >= 2 && p[0] == '-' && p[1] == '>')
        return p + 2;
    while ((p = memmem(p, (size_t)(end - p), "--", 2)) != NULL) {
        if (end - p >= 3 && p[2] == '>')
            return p + 3;
        if (end - p >= 4 && p[2] == '!' && p[3] == '>')
            return p + 4;
        p++;
    }
    return end;
}

/* Whether s[0..n) starts with lit, ignoring case. */
static int starts_ci(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (lower((unsigned char)s[i]) != lit[i])
            return 0;
    return 1;
}

/*
 * Where "<!--[if mso]>" at s ends, or NULL when s starts no conditional
 * comment. The condition is short and holds no "--": one that does ended
 * the comment for a browser, which then shows what follows. Looking no
 * further than COND_MAX bytes keeps the pass linear.
 */
static const char *cond_open_end(const char *s, size_t n)
{
    if (!starts_ci(s, n, "<!--[if"))
        return NULL;
    const char *e = memmem(s, n < COND_MAX ? n : COND_MAX, "]>", 2);
    if (e == NULL || memmem(s + 4, (size_t)(e - (s + 4)), "--", 2) != NULL)
        return NULL;
    return e;
}

/*
 * Comments, doctype and processing instructions at st->p ("<!" or "<?").
 * Outlook shows what an "<!--[if mso]>" comment holds, up to "<![endif]":
 * browsers hide it, but text written only for Outlook readers must reach
 * the content rules, so only the "<!--[if ...]>" and "<![endif]-->" are
 * skipped.
 */
static void skip_markup_decl(html_state_t *st)
{
    size_t left = (size_t)(st->end - st->p);
    const char *cond = cond_open_end(st->p, left);
    if (cond != NULL) {
        st->p = cond + 2;
        st->in_cond = 1;
        return;
    }
    if (starts_ci(st->p, left, "<![endif"))
        st->in_cond = 0;
    if (st->end - st->p >= 4 && memcmp(st->p, "<!--", 4) == 0) {
        st->p = comment_end(st->p + 4, st->end);
        return;
    }
    const char *e = memchr(st->p, '>', (size_t)(st->end - st->p));
    st->p = e != NULL ? e + 1 : st->end;
}

/*
 * Inline elements that may sit inside a hidden one without moving its end:
 * a browser neither closes the hidden element at them nor carries them
 * past it.
 */
static int is_phrasing(const char *name)
{
    static const char *const phrasing[] = {
        "a",    "abbr",   "b",      "bdi", "bdo", "big",  "br",   "cite", "code", "del",  "dfn",
        "em",   "font",   "i",      "img", "ins", "kbd",  "mark", "q",    "s",    "samp", "small",
        "span", "strike", "strong", "sub", "sup", "time", "tt",   "u",    "var",  "wbr",
    };
    return tag_in(name, phrasing, sizeof(phrasing) / sizeof(phrasing[0]));
}

/* The end of the tag whose name ends at p: its '>' outside quotes, or NULL
 * before limit. */
static const char *tag_close(const char *p, const char *limit)
{
    char quote = 0;
    for (; p < limit; p++) {
        if (quote != 0)
            quote = *p == quote ? 0 : quote;
        else if (*p == '"' || *p == '\'')
            quote = *p;
        else if (*p == '>')
            return p;
    }
    return NULL;
}

/*
 * The end tag of the element `name` whose content starts at st->p, found
 * through inline elements only and the same element nested, or NULL: a
 * comment, a stray '<', a block or any other element inside, or no end
 * within HIDDEN_SCAN_MAX bytes, and where a browser ends it depends on more
 * than its end tag. *stop is how far the search read.
 */
static const char *hidden_end(const html_state_t *st, const char *name, const char **stop)
{
    const char *p = st->p, *limit = st->end;
    if ((size_t)(limit - p) > HIDDEN_SCAN_MAX)
        limit = p + HIDDEN_SCAN_MAX;
    size_t depth = 1;
    *stop = limit;
    while ((p = memchr(p, '<', (size_t)(limit - p))) != NULL) {
        const char *lt = p++;
        int closing = p < limit && *p == '/';
        p += closing;
        if (p == limit || !is_alpha((unsigned char)*p)) {
            *stop = p; /* A comment, a declaration, a stray '<'. */
            return NULL;
        }
        /* The tag's name as tag() reads it, to a blank, '/' or '>'. */
        char inner[TAG_NAME_MAX + 1];
        size_t n = 0;
        for (; p < limit && !is_space((unsigned char)*p) && *p != '/' && *p != '>'; p++)
            if (n < TAG_NAME_MAX)
                inner[n++] = (char)lower((unsigned char)*p);
        inner[n] = '\0';
        int same = strcmp(inner, name) == 0;
        if (p == limit || (!same && !is_phrasing(inner))) {
            *stop = p;
            return NULL;
        }
        if (same && closing && --depth == 0)
            return lt;
        depth += same && !closing;
        if ((p = tag_close(p, limit)) == NULL)
            break;
    }
    return NULL; /* Read to the limit. */
}

/*
 * An element its style hides ("vi<span style=\"display:none\">xq</span>agra"):
 * its content is moved out of line, after the rest of the page, so that the
 * visible words around it join as the reader sees them and what was hidden
 * still reaches the rules and tokens (a newsletter's hidden preview text is
 * shown in the message list). Inline elements inside it move with it
 * (hidden_end()); an element with anything else inside is left in place:
 * where a browser ends it then depends on more than its end tag, and
 * guessing wrong would hide visible text.
 */
static void hide_text(html_state_t *st, const char *name)
{
    const char *stop;
    if (st->hidden_count == HIDDEN_RUNS_MAX || st->hidden_budget == 0)
        return;
    const char *end = hidden_end(st, name, &stop);
    if (end == NULL) {
        size_t spent = (size_t)(stop - st->p);
        st->hidden_budget -= spent < st->hidden_budget ? spent : st->hidden_budget;
        return;
    }
    if (end == st->p)
        return;
    st->hidden_from[st->hidden_count] = st->p;
    st->hidden_to[st->hidden_count++] = end;
    st->p = end;
}

/* Handles the tag at st->p ('<' followed by a letter or '/'). */
static void tag(html_state_t *st)
{
    const char *p = st->p + 1;
    int closing = *p == '/';
    p += closing;
    char name[TAG_NAME_MAX + 1];
    size_t n = 0;
    /* A tag name runs to a blank, '/' or '>', as browsers read it: <style-x>
     * is a custom element whose text is shown, not a <style>. */
    while (p < st->end && !is_space((unsigned char)*p) && *p != '/' && *p != '>') {
        if (n < TAG_NAME_MAX)
            name[n++] = (char)lower((unsigned char)*p);
        p++;
    }
    name[n] = '\0';
    st->p = p;
    st->type = NULL;
    st->refresh = 0;
    st->content = NULL;
    st->css_hidden = 0;
    while (attribute(st, name))
        ;
    /* A page that refreshes goes to its URL as a link would: it is a link
     * of the message, and a data: URI there a file the page opens. */
    size_t url_len;
    const char *url = st->refresh && st->content != NULL
                          ? refresh_url(st->content, st->content_len, &url_len)
                          : NULL;
    if (url != NULL && st->urls != NULL)
        url_add_link(st->urls, url, url_len);
    if (url != NULL && st->sink != NULL && st->sink->data_uri != NULL)
        keep_uri(st, name, url, &url_len);
    if (st->data_count > 0 || st->download != NULL)
        flush_data(st, name);
    /* Browsers fetch no src of a script that is data. */
    if (st->script_src != NULL && !closing && st->sink->script_uri != NULL &&
        !script_is_data(st->type, st->type_len))
        st->sink->script_uri(st->sink->ctx, st->script_src, st->script_src_len);
    st->script_src = NULL;
    if (st->p < st->end)
        st->p++; /* The '>'. */
    if (is_block(name))
        st->pending = SEP_LINE;
    else if (is_cell(name))
        put_space(st);
    if (!closing && st->css_hidden)
        hide_text(st, name);
    if (!closing)
        skip_hidden(st, name);
}

/*
 * A non-ASCII character written as itself. Zero-width characters are
 * dropped as they are when written as references: "V\u200bIAGRA" shows as
 * one word and must reach the content rules as one. Bytes that are not
 * UTF-8 are kept for the caller's replacement.
 */
static void literal_char(html_state_t *st)
{
    unsigned cp;
    size_t k = utf8_get((const unsigned char *)st->p, (size_t)(st->end - st->p), &cp);
    if (k > 0 && invisible(cp)) {
        st->p += k;
        return;
    }
    if (k == 0)
        k = 1;
    flush_sep(st);
    memcpy(st->out + st->len, st->p, k);
    st->len += k;
    st->p += k;
}

static void text_byte(html_state_t *st)
{
    unsigned char c = (unsigned char)*st->p;
    if (is_space(c)) {
        put_space(st);
        st->p++;
    } else if (c == 0xc2 && st->p + 1 < st->end && (unsigned char)st->p[1] == 0xa0) {
        put_space(st); /* A literal no-break space. */
        st->p += 2;
    } else if (c == '&') {
        unsigned cp, cp2;
        size_t k = entity_decode(st->p, st->end, &cp, &cp2);
        if (k == 0) {
            flush_sep(st);
            st->out[st->len++] = '&';
            st->p++;
        } else {
            put_cp(st, cp);
            if (cp2 != 0)
                put_cp(st, cp2);
            st->p += k;
        }
    } else if (c < 0x20 || c == 0x7f) {
        st->p++; /* Control characters are not text. */
    } else if (c >= 0x80) {
        literal_char(st);
    } else {
        flush_sep(st);
        st->out[st->len++] = (char)c;
        st->p++;
    }
}

char *html_to_text_urls(arena_t *arena, const char *html, size_t len, size_t *out_len,
                        url_set_t *urls)
{
    return html_scan(arena, html, len, out_len, urls, NULL);
}

/* Reads what starts at st->p: a byte of text, a tag, a comment. */
static void step(html_state_t *st)
{
    const char *next = st->p + 1;
    if (*st->p != '<')
        text_byte(st);
    else if (next < st->end && (*next == '!' || *next == '?'))
        skip_markup_decl(st);
    else if (next < st->end && (is_alpha((unsigned char)*next) || *next == '/'))
        tag(st);
    else
        text_byte(st); /* A stray '<' is text. */
}

/* The hidden runs, each on a line of its own after the visible text, read
 * as the page is: the inline elements inside them give their links. A
 * hidden element inside one adds a run of its own, read after. */
static void hidden_text(html_state_t *st)
{
    const char *end = st->end;
    for (size_t i = 0; i < st->hidden_count; i++) {
        st->pending = SEP_LINE;
        st->p = st->hidden_from[i];
        st->end = st->hidden_to[i];
        while (st->p < st->end)
            step(st);
    }
    st->end = end;
    st->p = end;
}

static char *scan(arena_t *arena, const char *html, size_t len, size_t *out_len, url_set_t *urls,
                  const html_sink_t *sink, unsigned depth)
{
    html_state_t st = {.p = html,
                       .end = html + len,
                       .urls = urls,
                       .arena = arena,
                       .sink = sink,
                       .depth = depth,
                       .hidden_budget = len};
    /* The text of a srcdoc page is not kept: it needs no room in the arena. */
    st.out = depth > 0 ? xmalloc(len + 1) : arena_alloc(arena, len + 1);
    while (st.p < st.end)
        step(&st);
    hidden_text(&st);
    st.out[st.len] = '\0';
    if (out_len != NULL)
        *out_len = st.len;
    if (depth > 0) {
        free(st.out);
        return NULL;
    }
    return st.out;
}

char *html_scan(arena_t *arena, const char *html, size_t len, size_t *out_len, url_set_t *urls,
                const html_sink_t *sink)
{
    return scan(arena, html, len, out_len, urls, sink, 0);
}

char *html_to_text(arena_t *arena, const char *html, size_t len, size_t *out_len)
{
    return html_to_text_urls(arena, html, len, out_len, NULL);
}
