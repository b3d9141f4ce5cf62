/*
 * url.c - finds URLs in message text and keeps the distinct ones.
 *
 * Content stages (lists, reputation, patterns) look URLs up by host, so the
 * set lower-cases scheme and host and drops duplicates before they do. A
 * host of another script is kept as its A-label ("xn--..."), the only form
 * DNS lists and list entries hold; an IPv6 literal is kept in its brackets.
 */
#include "idna.h"
#include "message.h"
#include "utf8.h"

#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>

#define URL_FIRST_SLOTS 64

void url_set_init(url_set_t *s, arena_t *arena, size_t max)
{
    memset(s, 0, sizeof(*s));
    s->arena = arena;
    s->max = max;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Case-insensitive prefix test; `lit` is lower case. */
static int has_prefix(const char *p, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (lower((unsigned char)p[i]) != lit[i])
            return 0;
    return 1;
}

/* Length of the scheme and "://" when the URL has one of ours, else 0. */
static size_t scheme_len(const char *p, size_t n)
{
    if (has_prefix(p, n, "http://"))
        return 7;
    if (has_prefix(p, n, "https://"))
        return 8;
    if (has_prefix(p, n, "ftp://"))
        return 6;
    return 0;
}

/* FNV-1a from a start the kernel chose at random for this process (the
 * AT_RANDOM bytes): a sender cannot work out offline a thousand URLs that
 * all land in one run of the table and make each look-up walk it. */
static uint32_t hash(const char *p, size_t n)
{
    static uint32_t seed; /* Every thread computes the same value; stored atomically. */
    uint32_t h = __atomic_load_n(&seed, __ATOMIC_RELAXED);
    if (h == 0) {
        const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
        h = 2166136261u;
        if (r != NULL)
            memcpy(&h, r, sizeof(h));
        h |= 1;
        __atomic_store_n(&seed, h, __ATOMIC_RELAXED);
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* Index of the free or matching slot for p[0..n). */
static size_t slot_of(const url_set_t *s, const char *p, size_t n)
{
    size_t mask = s->slot_count - 1;
    size_t i = hash(p, n) & mask;
    while (s->slots[i] != 0) {
        const char *u = s->items[s->slots[i] - 1];
        if (strncmp(u, p, n) == 0 && u[n] == '\0')
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

/* Keeps the table at most half full so that probes stay short. */
static void grow_slots(url_set_t *s)
{
    size_t old_count = s->slot_count;
    unsigned *old = s->slots;
    s->slot_count = old_count ? old_count * 2 : URL_FIRST_SLOTS;
    s->slots = arena_calloc(s->arena, s->slot_count, sizeof(*s->slots));
    for (size_t i = 0; i < old_count; i++) {
        if (old[i] == 0)
            continue;
        const char *u = s->items[old[i] - 1];
        s->slots[slot_of(s, u, strlen(u))] = old[i];
    }
}

static void grow_items(url_set_t *s)
{
    size_t cap = s->cap ? s->cap * 2 : 16;
    const char **items = arena_alloc(s->arena, cap * sizeof(*items));
    if (s->count > 0)
        memcpy(items, s->items, s->count * sizeof(*items));
    s->items = items;
    s->cap = cap;
}

static int hex_digit(int c)
{
    c = lower(c);
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte a "%XX" at p[0..n) stands for, when it is one a host name may
 * hold (a letter, a digit, '.', '-' or '_', or with `high` a byte of a
 * UTF-8 sequence); -1 otherwise. */
static int host_escape(const char *p, size_t n, int high)
{
    if (n < 3 || p[0] != '%' || hex_digit((unsigned char)p[1]) < 0 ||
        hex_digit((unsigned char)p[2]) < 0)
        return -1;
    int c = hex_digit((unsigned char)p[1]) << 4 | hex_digit((unsigned char)p[2]);
    return is_alnum(c) || c == '.' || c == '-' || c == '_' || (high && c >= 0x80) ? c : -1;
}

/* Copies p[0..n) to d with the escapes host_escape() accepts decoded;
 * returns the length written. */
static size_t host_unescape(const char *p, size_t n, char *d, int high)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int c = host_escape(p + i, n - i, high);
        if (c >= 0)
            i += 2;
        d[w++] = (char)(c >= 0 ? c : (unsigned char)p[i]);
    }
    return w;
}

/* Hosts longer than this keep the form they are written in (less their
 * escapes of name characters): no DNS name is as long. */
#define HOST_FORM_MAX 1024

/*
 * The host p[0..n) in the one form every stage sees, and its length in
 * *len: escapes of name characters decoded as a browser decodes them
 * ("http://%65vil.example/" is http://evil.example/), then each label
 * lower-cased and, when it is not ASCII, written as its A-label, so that
 * "ex%C3%A4mple.com" and "EXÄMPLE.com" are both xn--exmple-cua.com. A host
 * that is no valid UTF-8, even once decoded, keeps its other escapes and
 * bytes as written, with ASCII lower-cased. The result is in buf (room for
 * HOST_FORM_MAX bytes) or in the arena.
 */
static const char *host_form(arena_t *a, const char *p, size_t n, char *buf, size_t *len)
{
    if (n < HOST_FORM_MAX) {
        char raw[HOST_FORM_MAX];
        long w = idna_host(raw, host_unescape(p, n, raw, 1), buf, HOST_FORM_MAX);
        if (w >= 0) {
            *len = (size_t)w;
            return buf;
        }
    }
    char *d = arena_alloc(a, n + 1);
    *len = host_unescape(p, n, d, 0);
    for (size_t i = 0; i < *len; i++)
        d[i] = (char)lower((unsigned char)d[i]);
    return d;
}

/* Where the host at u[host..end) ends: after the ']' of an IPv6 literal,
 * else at the port's ':'. */
static size_t host_end(const char *u, size_t host, size_t end)
{
    const char *close = host < end && u[host] == '[' ? memchr(u + host, ']', end - host) : NULL;
    if (close != NULL)
        return (size_t)(close - u) + 1;
    const char *colon = memchr(u + host, ':', end - host);
    return colon != NULL ? (size_t)(colon - u) : end;
}

/*
 * Copies the URL with scheme and host (after any user info) lower-cased and
 * the host in the form host_form() gives, so that every stage sees one
 * form of the host. Escapes elsewhere stay as written.
 */
static char *normalise(arena_t *a, const char *p, size_t n)
{
    size_t scheme = scheme_len(p, n), host = scheme, end = scheme;
    while (end < n && p[end] != '/' && p[end] != '?' && p[end] != '#')
        end++;
    for (size_t i = host; i < end; i++)
        if (p[i] == '@')
            host = i + 1;
    size_t hend = host_end(p, host, end), hlen;
    char buf[HOST_FORM_MAX];
    const char *h = host_form(a, p + host, hend - host, buf, &hlen);
    char *u = arena_alloc(a, host + hlen + (n - hend) + 1);
    for (size_t i = 0; i < host; i++)
        u[i] = i < scheme ? (char)lower((unsigned char)p[i]) : p[i];
    memcpy(u + host, h, hlen);
    size_t w = host + hlen;
    for (size_t i = hend; i < end; i++)
        u[w++] = (char)lower((unsigned char)p[i]);
    memcpy(u + w, p + end, n - end);
    u[w + n - end] = '\0';
    return u;
}

/* Records whether p[0..n), met once the set is full, is a URL the set does
 * not hold. Once one is found the answer is known, and no further URL costs
 * a look-up. */
static void note_over(url_set_t *s, const char *p, size_t n)
{
    if (s->over)
        return;
    if (s->slot_count == 0) {
        s->over = 1;
        return;
    }
    char *u = normalise(s->arena, p, n);
    s->over = s->slots[slot_of(s, u, strlen(u))] == 0;
}

static int url_set_add(url_set_t *s, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (s->count >= s->max) {
        note_over(s, p, n);
        return 0;
    }
    if ((s->count + 1) * 2 > s->slot_count)
        grow_slots(s);
    char *u = normalise(s->arena, p, n);
    size_t i = slot_of(s, u, strlen(u)); /* Decoding and A-labels change its length. */
    if (s->slots[i] != 0)
        return 0;
    if (s->count == s->cap)
        grow_items(s);
    s->items[s->count++] = u;
    s->slots[i] = (unsigned)s->count;
    return 1;
}

/* Whether a host (or user info) can start at p[0..n): a letter or digit, a
 * non-ASCII byte, a percent escape, which browsers decode in host names
 * ("http://%65vil.example/" goes to evil.example), or the '[' of an IPv6
 * literal ("http://[2001:db8::1]/"). */
static int host_start(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    if (is_alnum(c) || c >= 0x80)
        return 1;
    if (c == '[')
        return n >= 2 && (hex_digit((unsigned char)p[1]) >= 0 || p[1] == ':');
    return c == '%' && n >= 3 && hex_digit((unsigned char)p[1]) >= 0 &&
           hex_digit((unsigned char)p[2]) >= 0;
}

/* Whether p[0..n) starts like one of the URLs we keep: a known scheme
 * followed by a host character, or "www." followed by one. */
static size_t url_start(const char *p, size_t n)
{
    size_t k = scheme_len(p, n);
    if (k == 0 && has_prefix(p, n, "www."))
        k = 4;
    if (k == 0 || k >= n || !host_start(p + k, n - k))
        return 0;
    return k;
}

/*
 * A link as a browser follows it: tab, CR and LF are dropped wherever they
 * are ("http://evil&#10;.com/" goes to evil.com), and in the URLs we keep a
 * backslash is a slash ("http:\\evil.com\\@bank.example/").
 */
static const char *link_clean(arena_t *a, const char *v, size_t *len)
{
    size_t n = *len;
    if (memchr(v, '\t', n) == NULL && memchr(v, '\r', n) == NULL && memchr(v, '\n', n) == NULL &&
        memchr(v, '\\', n) == NULL)
        return v;
    char *d = arena_alloc(a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\t' || v[i] == '\r' || v[i] == '\n')
            continue;
        d[k++] = v[i] == '\\' ? '/' : v[i];
    }
    d[k] = '\0';
    *len = k;
    return d;
}

/*
 * A browser reads the host of an http, https or ftp link after any number
 * of slashes, none included: "http:evil.example/", "http:/evil.example" and
 * "https:///evil.example" all go to evil.example. Such a link is written
 * with the two slashes that make it a URL for the stages.
 */
static const char *link_slashes(arena_t *a, const char *v, size_t *len)
{
    static const char *const schemes[] = {"http:", "https:", "ftp:"};
    size_t n = *len;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t k = strlen(schemes[i]);
        if (!has_prefix(v, n, schemes[i]))
            continue;
        size_t j = k;
        while (j < n && v[j] == '/')
            j++;
        if (j - k == 2 || j == n)
            return v;
        char *d = arena_alloc(a, k + 2 + (n - j) + 1);
        memcpy(d, v, k);
        memcpy(d + k, "//", 2);
        memcpy(d + k + 2, v + j, n - j);
        d[k + 2 + n - j] = '\0';
        *len = k + 2 + n - j;
        return d;
    }
    return v;
}

int url_add_link(url_set_t *s, const char *value, size_t len)
{
    while (len > 0 && (unsigned char)*value <= ' ') {
        value++;
        len--;
    }
    value = link_clean(s->arena, value, &len);
    value = link_slashes(s->arena, value, &len);
    size_t n = 0;
    while (n < len && (unsigned char)value[n] > ' ' && value[n] != 0x7f)
        n++;
    if (url_start(value, n) == 0)
        return 0;
    return url_set_add(s, value, n);
}

/* Characters that end a URL in running text. */
static int url_char(unsigned char c)
{
    if (c <= ' ' || c >= 0x7f)
        return 0;
    return strchr("<>\"'`{}|\\^", c) == NULL;
}

/* Drops punctuation that more likely ends the sentence than the URL; a
 * closing parenthesis stays when the URL opened one, and a closing bracket
 * when it opened one (the end of an IPv6 literal, "http://[::1]"). */
static size_t trim_tail(const char *p, size_t n)
{
    long depth = 0, brackets = 0;
    for (size_t i = 0; i < n; i++) {
        depth += (p[i] == '(') - (p[i] == ')');
        brackets += (p[i] == '[') - (p[i] == ']');
    }
    while (n > 0) {
        char c = p[n - 1];
        if ((c == ')' && depth >= 0) || (c == ']' && brackets >= 0))
            break;
        if (strchr(".,;:!?)]*", c) == NULL)
            break;
        depth += c == ')';
        brackets += c == ']';
        n--;
    }
    return n;
}

/*
 * Whether code point cp may be part of a host name in running text: letters
 * and marks of any script may, the punctuation, symbols and spaces of the
 * blocks below may not (a quote, a dash, an ideographic full stop ends the
 * URL as a blank does). Private-use and special code points end it too.
 */
static int host_letter(unsigned cp)
{
    static const unsigned stops[][2] = {
        {0x80, 0xbf},        {0xd7, 0xd7},     {0xf7, 0xf7},     {0x2000, 0x2bff},
        {0x2e00, 0x2e7f},    {0x3000, 0x303f}, {0xd800, 0xf8ff}, {0xfe10, 0xfe1f},
        {0xfe30, 0xfe6f},    {0xfeff, 0xfeff}, {0xff00, 0xff0f}, {0xff1a, 0xff20},
        {0xff3b, 0xff40},    {0xff5b, 0xff65}, {0xfff0, 0xffff}, {0x1f000, 0x1faff},
        {0xe0000, 0x10ffff},
    };
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
        if (cp >= stops[i][0] && cp <= stops[i][1])
            return 0;
    return 1;
}

/*
 * Where the scheme-and-host part that starts at p ends in running text: at
 * the '/', '?' or '#' of the path, or at the first byte no URL holds. Valid
 * UTF-8 letters are part of it (an IDN host); anything else non-ASCII ends
 * it, as it ends the path.
 */
static const char *authority_end(const char *p, const char *end)
{
    while (p < end && *p != '/' && *p != '?' && *p != '#') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x80) {
            if (!url_char(c))
                break;
            p++;
            continue;
        }
        unsigned cp;
        size_t k = utf8_get((const unsigned char *)p, (size_t)(end - p), &cp);
        if (k == 0 || !host_letter(cp))
            break;
        p += k;
    }
    return p;
}

/*
 * A host glued to the text after it: when the host's non-ASCII is a run at
 * its end that follows ASCII in the same label ("http://example.com查看",
 * "http://example.comздесь"), or that makes a last label after an ASCII
 * name ("www.example.edu.去查询", a sentence after a full stop), the run is
 * taken as the text. No top-level domain mixes ASCII and other scripts, and
 * ASCII names under the top-level domains of other scripts are rare next
 * to text written without spaces.
 */
static const char *unglue(const char *st, const char *e)
{
    const char *t = e;
    while (t > st && (unsigned char)t[-1] >= 0x80)
        t--;
    if (t == e || t == st || (!is_alnum((unsigned char)t[-1]) && t[-1] != '.'))
        return e;
    /* What must be ASCII for the cut: the run's label, or all the host
     * before it when the run is a label of its own. */
    const char *from = t[-1] == '.' ? st : t;
    while (from > st && from[-1] != '.' && from[-1] != '@')
        from--;
    for (const char *q = from; q < t; q++)
        if ((unsigned char)*q >= 0x80)
            return e;
    return t;
}

/* The start of an http, https or ftp URL whose "://" is at c, or NULL.
 * Nothing starts before `floor`, and a URL starts a word. */
static const char *scheme_start(const char *floor, const char *c)
{
    static const char *const schemes[] = {"https", "http", "ftp"};
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(schemes[i]);
        const char *st = c - k;
        if (c - floor < (long)k)
            continue;
        size_t j = 0;
        while (j < k && lower((unsigned char)st[j]) == schemes[i][j])
            j++;
        if (j == k)
            return st;
    }
    return NULL;
}

/* The start of a "www." URL whose dot is at c, or NULL. */
static const char *www_start(const char *floor, const char *c)
{
    if (c - floor < 3)
        return NULL;
    for (int i = 1; i <= 3; i++)
        if (lower((unsigned char)c[-i]) != 'w')
            return NULL;
    return c - 3;
}

static const char *next_of(const char *p, const char *end, char ch)
{
    return p < end ? memchr(p, ch, (size_t)(end - p)) : NULL;
}

/* Adds the URL starting at st when there is one; returns where it ends. */
static const char *take_url(url_set_t *s, const char *text, const char *st, const char *end)
{
    if (st == NULL || (st > text && is_alnum((unsigned char)st[-1])))
        return NULL;
    size_t k = url_start(st, (size_t)(end - st));
    if (k == 0)
        return NULL;
    /* Non-ASCII may be part of the host, never of the path: a path's raw
     * UTF-8 ends the URL, as it always has. */
    const char *e = authority_end(st + k, end);
    if (e < end && (*e == '/' || *e == '?' || *e == '#'))
        while (e < end && url_char((unsigned char)*e))
            e++;
    else
        e = unglue(st + k, e);
    size_t n = trim_tail(st, (size_t)(e - st));
    if (n > k)
        url_set_add(s, st, n);
    return e;
}

/* Only ':' and '.' can anchor a URL, and memchr() finds them much faster
 * than a look at every byte would. */
void url_scan_text(url_set_t *s, const char *text, size_t len)
{
    const char *end = text + len, *floor = text;
    const char *colon = next_of(text, end, ':');
    const char *dot = next_of(text, end, '.');
    /* Past the cap the scan goes on only until a URL the set lacks is
     * found, so that the message can say some were left out. */
    while ((colon != NULL || dot != NULL) && (s->count < s->max || !s->over)) {
        int is_colon = colon != NULL && (dot == NULL || colon < dot);
        const char *c = is_colon ? colon : dot;
        const char *st = NULL;
        if (is_colon && end - c >= 3 && c[1] == '/' && c[2] == '/')
            st = scheme_start(floor, c);
        else if (!is_colon)
            st = www_start(floor, c);
        const char *e = take_url(s, text, st, end);
        if (e != NULL)
            floor = e;
        const char *from = floor > c + 1 ? floor : c + 1;
        if (colon != NULL && colon < from)
            colon = next_of(from, end, ':');
        if (dot != NULL && dot < from)
            dot = next_of(from, end, '.');
    }
}
