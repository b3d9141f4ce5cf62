/*
 * fuzz_dns.h - a DNS server in the fuzz input, for the targets that run a
 * module's DNS checks whole (fuzz_spfdns.c, fuzz_dmarc.c, fuzz_reputation.c).
 *
 * The seam: the modules' DNS clients (modules/auth/adns.c,
 * modules/reputation/dns.c) hand every question to c-ares with ares_query()
 * and get the reply, as raw bytes, in the callback they gave it; they wait
 * with cares_poll(), give up with ares_cancel() and keep time with
 * cares_now_ms(). A target includes the client's .c file after this header
 * with those four names defined to the fuzz_ ones below, so that nothing of
 * the module changes but where the bytes come from: the replies are built
 * from lines of the input, go through the same callback, the same reply
 * parsers (c-ares' and the module's), the per-message and shared caches, and
 * reach the evaluator as a real server's would. The clock is this file's:
 * waiting for a query the input never answers takes no real time, and the
 * budget runs out exactly.
 *
 * The answers: one line each, given to the questions in the order they are
 * sent (the first line to the first question, whatever its name). A line
 * names the records it holds; the reply is built for the question's name
 * and type, so that records of another type than asked can be given too:
 *
 *   TXT text<TAB>text...     one TXT record per text; a 0x1f byte starts a
 *                            new string of the same record, and strings are
 *                            cut at 255 bytes as DNS requires
 *   A addr...   AAAA addr... addresses, written as inet_pton() reads them
 *   MX pref host pref host   mail exchangers and their preferences
 *   PTR host...              names of an address
 *   CNAME host               an alias, without the records it points to
 *   NODATA | NXDOMAIN | SERVFAIL | REFUSED   a reply without records
 *   TIMEOUT                  no reply: c-ares gives up (ARES_ETIMEOUT) in
 *                            the next wait, after 1.5 s of its tries
 *   SILENT                   no reply, and c-ares waits on: only the
 *                            deadline ends the query (ARES_ECANCELLED)
 *
 * Lines that start with none of these words (comments among them) are
 * skipped. A question asked after the last line is answered NXDOMAIN. Each
 * record has a TTL of 300 s, so that a shared cache keeps it.
 *
 * fuzz_dns_replay() makes the next run answer by name instead: each
 * question gets the line its name and type got in the run before (NXDOMAIN
 * for one not asked then), so that a second check of the same message, from
 * the shared cache and the server together, can be compared with the first.
 */
#ifndef SMF_FUZZ_DNS_H
#define SMF_FUZZ_DNS_H

#include "cares.h"
#include "fuzz_common.h"

#include <ares.h>
#include <arpa/inet.h>
#include <strings.h>

#define FUZZ_DNS_MAX_LINES 256
#define FUZZ_DNS_MAX_ASKED 512
#define FUZZ_DNS_MAX_REPLY 8192
#define FUZZ_DNS_TTL 300

/* One question sent and not answered yet. */
typedef struct fuzz_dns_query {
    struct fuzz_dns_query *next;
    ares_callback cb;
    void *arg;
    int silent;  /* SILENT: only the deadline ends it. */
    int timeout; /* TIMEOUT: c-ares gives up on it. */
    int len;
    unsigned char reply[];
} fuzz_dns_query_t;

static struct {
    const char *lines[FUZZ_DNS_MAX_LINES];
    size_t lens[FUZZ_DNS_MAX_LINES];
    size_t nlines, next;
    long now; /* Milliseconds on this file's clock. */
    fuzz_dns_query_t *open, **open_tail;
    /* The questions of this run and of the one before, by name and type. */
    struct fuzz_dns_asked {
        char name[256];
        int type;
        long line; /* -1: after the last line. */
    } asked[FUZZ_DNS_MAX_ASKED], before[FUZZ_DNS_MAX_ASKED];
    size_t nasked, nbefore;
    int replay;
    int unmatched; /* In a replay, questions the run before did not ask. */
} fuzz_dns;

/* The words an answer line starts with: the type of its records (0 for
 * none, -1 for TIMEOUT, -2 for SILENT) and the reply's RCODE. */
static const struct fuzz_dns_kind {
    const char *word;
    int type, rcode;
} fuzz_dns_kinds[] = {{"TXT", 16, 0},     {"A", 1, 0},       {"AAAA", 28, 0},    {"MX", 15, 0},
                      {"PTR", 12, 0},     {"CNAME", 5, 0},   {"NODATA", 0, 0},   {"NXDOMAIN", 0, 3},
                      {"SERVFAIL", 0, 2}, {"REFUSED", 0, 5}, {"TIMEOUT", -1, 0}, {"SILENT", -2, 0}};

/* The kind of a line s[0..n) by its first word (up to the first space),
 * and that word's length in *wl; NULL for none. */
static const struct fuzz_dns_kind *fuzz_dns_kind(const char *s, size_t n, size_t *wl)
{
    *wl = 0;
    while (*wl < n && s[*wl] != ' ')
        ++*wl;
    for (size_t k = 0; k < sizeof(fuzz_dns_kinds) / sizeof(fuzz_dns_kinds[0]); k++)
        if (strlen(fuzz_dns_kinds[k].word) == *wl && memcmp(fuzz_dns_kinds[k].word, s, *wl) == 0)
            return &fuzz_dns_kinds[k];
    return NULL;
}

/* Takes the answer lines of text[0..len): they must outlive the run. */
static void fuzz_dns_reset(const char *text, size_t len)
{
    fuzz_dns.nlines = fuzz_dns.next = fuzz_dns.nasked = fuzz_dns.nbefore = 0;
    fuzz_dns.replay = fuzz_dns.unmatched = 0;
    fuzz_dns.now = 1000000;
    fuzz_dns.open = NULL;
    fuzz_dns.open_tail = &fuzz_dns.open;
    for (size_t start = 0; start < len && fuzz_dns.nlines < FUZZ_DNS_MAX_LINES;) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        size_t wl;
        if (fuzz_dns_kind(text + start, end - start, &wl) != NULL) {
            fuzz_dns.lines[fuzz_dns.nlines] = text + start;
            fuzz_dns.lens[fuzz_dns.nlines++] = end - start;
        }
        start = end + 1;
    }
}

/* Answers the next run by name, as this one was answered. */
static inline void fuzz_dns_replay(void)
{
    memcpy(fuzz_dns.before, fuzz_dns.asked, fuzz_dns.nasked * sizeof(fuzz_dns.asked[0]));
    fuzz_dns.nbefore = fuzz_dns.nasked;
    fuzz_dns.nasked = 0;
    fuzz_dns.replay = 1;
}

/* ---- building a reply ------------------------------------------------ */

typedef struct fuzz_dns_buf {
    unsigned char b[FUZZ_DNS_MAX_REPLY];
    int len, full;
} fuzz_dns_buf_t;

static void fuzz_dns_put(fuzz_dns_buf_t *r, const void *p, size_t n)
{
    if (r->full || (size_t)r->len + n > sizeof(r->b)) {
        r->full = 1;
        return;
    }
    memcpy(r->b + r->len, p, n);
    r->len += (int)n;
}

static void fuzz_dns_put16(fuzz_dns_buf_t *r, unsigned v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    fuzz_dns_put(r, b, 2);
}

/* A name in wire form: empty labels are left out, long ones cut to 63. */
static void fuzz_dns_put_name(fuzz_dns_buf_t *r, const char *s, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n;) {
        size_t l = 0;
        while (i + l < n && s[i + l] != '.')
            l++;
        size_t keep = l > 63 ? 63 : l;
        if (keep > 0 && total + 1 + keep <= 255) {
            unsigned char len = (unsigned char)keep;
            fuzz_dns_put(r, &len, 1);
            fuzz_dns_put(r, s + i, keep);
            total += 1 + keep;
        }
        i += l + 1;
    }
    fuzz_dns_put(r, "", 1);
}

/* Starts a record owned by the question's name (a pointer to offset 12). */
static int fuzz_dns_rr_start(fuzz_dns_buf_t *r, int type)
{
    static const unsigned char owner[2] = {0xc0, 0x0c};
    fuzz_dns_put(r, owner, 2);
    fuzz_dns_put16(r, (unsigned)type);
    fuzz_dns_put16(r, 1);
    fuzz_dns_put16(r, FUZZ_DNS_TTL >> 16);
    fuzz_dns_put16(r, FUZZ_DNS_TTL & 0xffff);
    fuzz_dns_put16(r, 0); /* rdlength, set by fuzz_dns_rr_end() */
    return r->len;
}

static void fuzz_dns_rr_end(fuzz_dns_buf_t *r, int start, unsigned *count)
{
    if (r->full)
        return;
    unsigned n = (unsigned)(r->len - start);
    r->b[start - 2] = (unsigned char)(n >> 8);
    r->b[start - 1] = (unsigned char)n;
    ++*count;
}

/* The words of a line after its first, one at a time: 0 at the end. */
static size_t fuzz_dns_word(const char *s, size_t n, size_t *pos, const char **word)
{
    while (*pos < n && s[*pos] == ' ')
        ++*pos;
    *word = s + *pos;
    size_t start = *pos;
    while (*pos < n && s[*pos] != ' ')
        ++*pos;
    return *pos - start;
}

static void fuzz_dns_put_txt(fuzz_dns_buf_t *r, const char *s, size_t n, unsigned *count)
{
    int start = fuzz_dns_rr_start(r, 16);
    size_t i = 0;
    do {
        size_t l = 0;
        while (i + l < n && s[i + l] != '\x1f' && l < 255)
            l++;
        unsigned char len = (unsigned char)l;
        fuzz_dns_put(r, &len, 1);
        fuzz_dns_put(r, s + i, l);
        i += l;
        if (i < n && s[i] == '\x1f')
            i++;
    } while (i < n);
    fuzz_dns_rr_end(r, start, count);
}

/* The records of one answer line after its keyword. */
static unsigned fuzz_dns_records(fuzz_dns_buf_t *r, int type, const char *s, size_t n)
{
    unsigned count = 0;
    size_t pos = 0, wl;
    const char *w;
    char text[64];

    if (type == 16) {
        for (size_t i = 0; i <= n && count < 64;) {
            size_t l = 0;
            while (i + l < n && s[i + l] != '\t')
                l++;
            fuzz_dns_put_txt(r, s + i, l, &count);
            i += l + 1;
        }
        return count;
    }
    while ((wl = fuzz_dns_word(s, n, &pos, &w)) > 0 && count < 64) {
        int start;
        if (type == 1 || type == 28) {
            unsigned char addr[16];
            if (wl >= sizeof(text))
                continue;
            memcpy(text, w, wl);
            text[wl] = '\0';
            if (inet_pton(type == 1 ? AF_INET : AF_INET6, text, addr) != 1)
                continue;
            start = fuzz_dns_rr_start(r, type);
            fuzz_dns_put(r, addr, type == 1 ? 4 : 16);
        } else if (type == 15) {
            const char *host;
            size_t hl = fuzz_dns_word(s, n, &pos, &host);
            start = fuzz_dns_rr_start(r, type);
            unsigned pref = 0;
            for (size_t i = 0; i < wl && w[i] >= '0' && w[i] <= '9'; i++)
                pref = (pref * 10 + (unsigned)(w[i] - '0')) & 0xffff;
            fuzz_dns_put16(r, pref);
            fuzz_dns_put_name(r, host, hl);
        } else {
            start = fuzz_dns_rr_start(r, type);
            fuzz_dns_put_name(r, w, wl);
        }
        fuzz_dns_rr_end(r, start, &count);
    }
    return count;
}

/* Builds the reply of an answer line to the question in qbuf (a query of
 * qlen bytes as c-ares makes it); *noreply is 1 for TIMEOUT, 2 for SILENT. */
static void fuzz_dns_reply(long line, const unsigned char *qbuf, int qlen, fuzz_dns_buf_t *r,
                           int *noreply)
{
    const char *s = line >= 0 ? fuzz_dns.lines[line] : "NXDOMAIN";
    size_t n = line >= 0 ? fuzz_dns.lens[line] : 8, wl;
    const struct fuzz_dns_kind *kind = fuzz_dns_kind(s, n, &wl);
    int type = kind->type, rcode = kind->rcode;
    unsigned count = 0;

    *noreply = type < 0 ? -type : 0;
    memset(r, 0, sizeof(*r));
    fuzz_dns_put(r, qbuf, (size_t)qlen);
    r->b[2] = 0x81;                          /* QR, RD */
    r->b[3] = (unsigned char)(0x80 | rcode); /* RA */
    if (type > 0)
        count = fuzz_dns_records(r, type, s + wl + (wl < n), n - wl - (wl < n));
    r->b[6] = (unsigned char)(count >> 8);
    r->b[7] = (unsigned char)count;
}

/* The status c-ares gives a reply's callback (ares_query.c, qcallback()). */
static int fuzz_dns_status(const unsigned char *reply)
{
    int ancount = reply[6] << 8 | reply[7];
    switch (reply[3] & 15) {
    case 0:
        return ancount > 0 ? ARES_SUCCESS : ARES_ENODATA;
    case 1:
        return ARES_EFORMERR;
    case 2:
        return ARES_ESERVFAIL;
    case 3:
        return ARES_ENOTFOUND;
    case 4:
        return ARES_ENOTIMP;
    case 5:
        return ARES_EREFUSED;
    default:
        return ARES_EBADRESP;
    }
}

/* ---- what the module calls ------------------------------------------- */

/* The line that answers a question, and the note of it for a replay. */
static long fuzz_dns_pick(const char *name, int type)
{
    long line = -1;
    if (fuzz_dns.replay) {
        size_t i = 0;
        while (i < fuzz_dns.nbefore &&
               !(fuzz_dns.before[i].type == type && strcasecmp(fuzz_dns.before[i].name, name) == 0))
            i++;
        if (i < fuzz_dns.nbefore)
            line = fuzz_dns.before[i].line;
        else
            fuzz_dns.unmatched++;
    } else if (fuzz_dns.next < fuzz_dns.nlines) {
        line = (long)fuzz_dns.next++;
    }
    /* FUZZ_DNS_TRACE=1 in the environment shows the dialogue, to write seeds by. */
    if (getenv("FUZZ_DNS_TRACE") != NULL)
        fprintf(stderr, "dns: %s type %d <- %.*s\n", name, type,
                line >= 0 ? (int)fuzz_dns.lens[line] : 8,
                line >= 0 ? fuzz_dns.lines[line] : "NXDOMAIN");
    if (fuzz_dns.nasked < FUZZ_DNS_MAX_ASKED) {
        struct fuzz_dns_asked *a = &fuzz_dns.asked[fuzz_dns.nasked++];
        snprintf(a->name, sizeof(a->name), "%s", name);
        a->type = type;
        a->line = line;
    }
    return line;
}

static void fuzz_ares_query(ares_channel channel, const char *name, int dnsclass, int type,
                            ares_callback cb, void *arg)
{
    unsigned char *qbuf = NULL;
    int qlen = 0;
    (void)channel;

    /* As c-ares does: a name it cannot send is answered at once. */
    int rc = ares_create_query(name, dnsclass, type, 0, 1, &qbuf, &qlen, 0);
    if (rc != ARES_SUCCESS) {
        cb(arg, rc, 0, NULL, 0);
        return;
    }
    FUZZ_CHECK(qlen >= 12);
    fuzz_dns_buf_t *r = malloc(sizeof(*r));
    FUZZ_CHECK(r != NULL);
    int noreply;
    fuzz_dns_reply(fuzz_dns_pick(name, type), qbuf, qlen, r, &noreply);
    ares_free_string(qbuf);
    fuzz_dns_query_t *q = malloc(sizeof(*q) + (size_t)r->len);
    FUZZ_CHECK(q != NULL);
    *q = (fuzz_dns_query_t){
        .cb = cb, .arg = arg, .timeout = noreply == 1, .silent = noreply == 2, .len = r->len};
    memcpy(q->reply, r->b, (size_t)r->len);
    free(r);
    *fuzz_dns.open_tail = q;
    fuzz_dns.open_tail = &q->next;
}

/* Takes the open queries out of the list (those added by callbacks from
 * now on wait for the next round). */
static fuzz_dns_query_t *fuzz_dns_take(void)
{
    fuzz_dns_query_t *all = fuzz_dns.open;
    fuzz_dns.open = NULL;
    fuzz_dns.open_tail = &fuzz_dns.open;
    return all;
}

static void fuzz_dns_requeue(fuzz_dns_query_t *q)
{
    q->next = NULL;
    *fuzz_dns.open_tail = q;
    fuzz_dns.open_tail = &q->next;
}

/* One round: every reply due arrives, and c-ares gives up on the queries
 * answered TIMEOUT, which takes the time of its tries; without any of
 * these, the time waited passes. */
static void fuzz_cares_poll(ares_channel channel, long wait_ms)
{
    int answered = 0, timed_out = 0;
    (void)channel;
    for (fuzz_dns_query_t *q = fuzz_dns_take(), *next; q != NULL; q = next) {
        next = q->next;
        if (q->silent) {
            fuzz_dns_requeue(q);
            continue;
        }
        answered = 1;
        timed_out |= q->timeout;
        if (q->timeout)
            q->cb(q->arg, ARES_ETIMEOUT, 0, NULL, 0);
        else
            q->cb(q->arg, fuzz_dns_status(q->reply), 0, q->reply, q->len);
        free(q);
    }
    if (timed_out)
        fuzz_dns.now += 1500;
    else if (!answered)
        fuzz_dns.now += wait_ms > 0 ? wait_ms : 1;
}

static void fuzz_ares_cancel(ares_channel channel)
{
    (void)channel;
    for (fuzz_dns_query_t *q = fuzz_dns_take(), *next; q != NULL; q = next) {
        next = q->next;
        q->cb(q->arg, ARES_ECANCELLED, 0, NULL, 0);
        free(q);
    }
}

static long fuzz_cares_now_ms(void)
{
    return fuzz_dns.now;
}

/* Whether every question was answered or cancelled: a module must not
 * leave one open past its message. */
static inline int fuzz_dns_idle(void)
{
    return fuzz_dns.open == NULL;
}

/* Whether answer line `line` (an index of fuzz_dns.asked[].line) is an A
 * or AAAA line that gives ip (16 bytes, IPv4-mapped for A). */
static inline int fuzz_dns_line_has_addr(long line, const uint8_t ip[16])
{
    if (line < 0)
        return 0;
    const char *s = fuzz_dns.lines[line], *w;
    size_t n = fuzz_dns.lens[line], pos, wl;
    const struct fuzz_dns_kind *kind = fuzz_dns_kind(s, n, &pos);
    int v4 = kind->type == 1;
    if (!v4 && kind->type != 28)
        return 0;
    while ((wl = fuzz_dns_word(s, n, &pos, &w)) > 0) {
        char text[64];
        uint8_t addr[16] = {[10] = 0xff, [11] = 0xff};
        if (wl >= sizeof(text))
            continue;
        memcpy(text, w, wl);
        text[wl] = '\0';
        if (inet_pton(v4 ? AF_INET : AF_INET6, text, v4 ? addr + 12 : addr) == 1 &&
            memcmp(addr, ip, 16) == 0)
            return 1;
    }
    return 0;
}

#define ares_query fuzz_ares_query
#define ares_cancel fuzz_ares_cancel
#define cares_poll fuzz_cares_poll
#define cares_now_ms fuzz_cares_now_ms

#endif
