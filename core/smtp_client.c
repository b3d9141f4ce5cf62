/*
 * smtp_client.c - a small, strict SMTP client: resolve and connect with a timeout,
 * EHLO (HELO if refused), MAIL, RCPT for each recipient, DATA with CRLF line
 * ends and dot-stuffing, QUIT; as many transactions as the server's limit on
 * recipients in one asks for.
 */
#include "smtp_client.h"
#include "errbuf.h"

#include <smf/module.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096
#define OUT_CHUNK 65536
/* The longest line SMTP carries, without its CRLF (RFC 5321 4.5.3.1.6). */
#define SMTP_LINE_MAX 998

typedef struct conn {
    int fd;
    int timeout_ms;
    int64_t step_end; /* Monotonic ms by which the current step must be done. */
    int step_ms;      /* That step's budget, for the message when it runs out. */
    const char *peer; /* "host port", for messages. */
    char in[LINE_MAX_LEN];
    size_t inlen;
    char *err;
    size_t errlen;
} conn_t;

/* A reply: its code and its text, continuation lines joined by '\n'. */
typedef struct reply {
    int code;
    char text[2048];
} reply_t;

/* ---- targets ------------------------------------------------------ */

static int copy_part(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n == 0 || n >= dstlen)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static bool valid_port(const char *p)
{
    size_t n = strspn(p, "0123456789");
    long v = n > 0 && n <= 5 && p[n] == '\0' ? strtol(p, NULL, 10) : 0;
    return v >= 1 && v <= 65535;
}

int smtp_target_parse(const char *spec, char host[SMTP_HOST_MAX], char port[8], char *err,
                      size_t errlen)
{
    const char *rest;
    if (spec == NULL || spec[0] == '\0')
        return errbuf_fail(err, errlen, "empty delivery target");
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || copy_part(host, SMTP_HOST_MAX, spec + 1, (size_t)(close - spec - 1)))
            return errbuf_fail(err, errlen, "delivery target '%s': expected [address]:port", spec);
        rest = close + 1;
    } else {
        const char *colon = strchr(spec, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return errbuf_fail(err, errlen,
                               "delivery target '%s': write an IPv6 address in brackets, "
                               "e.g. [::1]:25",
                               spec);
        size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
        if (copy_part(host, SMTP_HOST_MAX, spec, n) != 0)
            return errbuf_fail(err, errlen, "delivery target '%s': bad host", spec);
        rest = spec + n;
    }
    if (strpbrk(host, " \t\r\n/") != NULL)
        return errbuf_fail(err, errlen, "delivery target '%s': bad host", spec);
    if (rest[0] == '\0') {
        snprintf(port, 8, "%s", SMTP_DEFAULT_PORT);
        return 0;
    }
    if (rest[0] != ':' || !valid_port(rest + 1))
        return errbuf_fail(err, errlen, "delivery target '%s': expected a port 1-65535 after ':'",
                           spec);
    snprintf(port, 8, "%s", rest + 1);
    return 0;
}

/* ---- the connection ------------------------------------------------- */

/* Waits until fd is ready for events; 0, or -1 with errno (ETIMEDOUT). */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    do
        rc = poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        errno = ETIMEDOUT;
    return rc > 0 ? 0 : -1;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    int so_err = errno;
    if (so_err == EINPROGRESS && wait_fd(fd, POLLOUT, timeout_ms) == 0) {
        socklen_t len = sizeof(so_err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len) != 0)
            so_err = errno;
        if (so_err == 0)
            return fd;
    } else if (so_err == EINPROGRESS) {
        so_err = errno;
    }
    close(fd);
    errno = so_err;
    return -1;
}

/* ---- the name lookup ------------------------------------------------ */

/*
 * getaddrinfo() has no timeout and cannot be interrupted: a resolver that
 * does not answer would hold the client for as long as the system's resolver
 * settings say, whatever the client's timeout. So a name is looked up on a
 * thread of its own, and the client waits for it no longer than its
 * timeout. A lookup given up runs on to its end; whichever of the two lets
 * go of it last frees it.
 */
typedef struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int refs;
    bool done;
    int rc;
    struct addrinfo *res;
    char host[SMTP_HOST_MAX];
    char port[8];
} lookup_t;

static const struct addrinfo lookup_hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};

static void lookup_unref(lookup_t *l)
{
    pthread_mutex_lock(&l->lock);
    bool last = --l->refs == 0;
    pthread_mutex_unlock(&l->lock);
    if (!last)
        return;
    if (l->res != NULL)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->done_cv);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void *lookup_run(void *arg)
{
    lookup_t *l = arg;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->host, l->port, &lookup_hints, &res);

    pthread_mutex_lock(&l->lock);
    l->rc = rc;
    l->res = res;
    l->done = true;
    pthread_cond_signal(&l->done_cv);
    pthread_mutex_unlock(&l->lock);
    lookup_unref(l);
    return NULL;
}

static lookup_t *lookup_new(const char *host, const char *port)
{
    lookup_t *l = calloc(1, sizeof(*l));
    pthread_condattr_t ca;

    if (l == NULL)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    l->refs = 2; /* The caller's and the thread's. */
    snprintf(l->host, sizeof(l->host), "%s", host);
    snprintf(l->port, sizeof(l->port), "%s", port);
    return l;
}

/* Starts l's thread, detached: nobody waits for a lookup given up. */
static int lookup_start(lookup_t *l)
{
    pthread_attr_t attr;
    pthread_t t;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, lookup_run, l);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Waits for l until timeout_ms has passed; whether it is done. When it is,
 * its outcome is the caller's: rc, and res to free. */
static bool lookup_wait(lookup_t *l, int timeout_ms, int *rc, struct addrinfo **res)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->lock);
    while (!l->done && pthread_cond_timedwait(&l->done_cv, &l->lock, &until) != ETIMEDOUT)
        ;
    bool done = l->done;
    if (done) {
        *rc = l->rc;
        *res = l->res;
        l->res = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    return done;
}

/* The addresses of host, within timeout_ms: 0, or SMF_EIO with the reason in c->err. */
static int resolve(conn_t *c, const char *host, const char *port, struct addrinfo **res)
{
    struct addrinfo numeric = lookup_hints;
    int rc;

    /* An address (the default delivery host is one) needs no resolver, nor a thread. */
    numeric.ai_flags |= AI_NUMERICHOST;
    if (getaddrinfo(host, port, &numeric, res) == 0)
        return 0;
    lookup_t *l = lookup_new(host, port);
    if (l == NULL) {
        errbuf_fail(c->err, c->errlen, "cannot resolve %s: out of memory", host);
        return SMF_EIO;
    }
    if ((rc = lookup_start(l)) != 0) {
        l->refs = 1; /* No thread holds it. */
        lookup_unref(l);
        errbuf_fail(c->err, c->errlen, "cannot resolve %s: %s", host, strerror(rc));
        return SMF_EIO;
    }
    bool done = lookup_wait(l, c->timeout_ms, &rc, res);
    lookup_unref(l);
    if (!done) {
        errbuf_fail(c->err, c->errlen, "cannot resolve %s: no answer within %d ms", host,
                    c->timeout_ms);
        return SMF_EIO;
    }
    if (rc != 0) {
        errbuf_fail(c->err, c->errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return SMF_EIO;
    }
    return 0;
}

/* Tries each address of host in turn, as an MTA does. */
static int conn_open(conn_t *c, const char *host, const char *port)
{
    struct addrinfo *res;
    int rc = resolve(c, host, port, &res);
    if (rc != 0)
        return rc;
    c->fd = -1;
    int last = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        c->fd = connect_one(ai, c->timeout_ms);
        if (c->fd < 0)
            last = errno;
    }
    freeaddrinfo(res);
    if (c->fd >= 0)
        return 0;
    errbuf_fail(c->err, c->errlen, "cannot connect to %s: %s", c->peer, strerror(last));
    return SMF_EIO;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A step (sending one command or chunk, reading one whole reply) has its
 * budget in all, not per wait: a server that sends a byte now and then
 * must not hold the client for ever.
 */
static void step_begin(conn_t *c, int ms)
{
    c->step_ms = ms;
    c->step_end = now_ms() + ms;
}

static int step_left(const conn_t *c)
{
    int64_t left = c->step_end - now_ms();
    return left > 0 ? (int)left : 0;
}

static int io_fail(conn_t *c, const char *what)
{
    if (errno == ETIMEDOUT)
        errbuf_fail(c->err, c->errlen, "%s: no answer within %d ms %s", c->peer, c->step_ms, what);
    else
        errbuf_fail(c->err, c->errlen, "%s: connection failed %s: %s", c->peer, what,
                    errno ? strerror(errno) : "closed by the server");
    return SMF_EIO;
}

static int write_all(conn_t *c, const char *buf, size_t len, const char *what)
{
    step_begin(c, c->timeout_ms);
    while (len > 0) {
        if (wait_fd(c->fd, POLLOUT, step_left(c)) != 0)
            return io_fail(c, what);
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return io_fail(c, what);
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one line without its line end into line (LINE_MAX_LEN bytes). */
static int read_line(conn_t *c, char *line, const char *what)
{
    for (;;) {
        char *lf = memchr(c->in, '\n', c->inlen);
        if (lf != NULL) {
            size_t n = (size_t)(lf - c->in);
            size_t keep = n > 0 && c->in[n - 1] == '\r' ? n - 1 : n;
            memcpy(line, c->in, keep);
            line[keep] = '\0';
            memmove(c->in, lf + 1, c->inlen - n - 1);
            c->inlen -= n + 1;
            return 0;
        }
        if (c->inlen == sizeof(c->in)) {
            errbuf_fail(c->err, c->errlen, "%s: reply line too long %s", c->peer, what);
            return SMF_EFAIL;
        }
        if (wait_fd(c->fd, POLLIN, step_left(c)) != 0)
            return io_fail(c, what);
        ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return io_fail(c, what);
        }
        c->inlen += (size_t)n;
    }
}

/* Reads a whole reply within ms, following "250-" continuation lines. */
static int read_reply_within(conn_t *c, reply_t *r, const char *what, int ms)
{
    char line[LINE_MAX_LEN];
    size_t used = 0;
    r->text[0] = '\0';
    step_begin(c, ms);
    for (;;) {
        int rc = read_line(c, line, what);
        if (rc != 0)
            return rc;
        bool ok = strlen(line) >= 3 && line[0] >= '2' && line[0] <= '5' &&
                  strspn(line, "0123456789") >= 3 &&
                  (line[3] == '\0' || line[3] == ' ' || line[3] == '-');
        if (!ok) {
            errbuf_fail(c->err, c->errlen, "%s: not an SMTP reply %s: \"%.80s\"", c->peer, what,
                        line);
            return SMF_EFAIL;
        }
        r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        int n = snprintf(r->text + used, sizeof(r->text) - used, "%s%s", used ? "\n" : "", line);
        if (n > 0 && (size_t)n < sizeof(r->text) - used)
            used += (size_t)n;
        if (line[3] != '-')
            return 0;
    }
}

static int read_reply(conn_t *c, reply_t *r, const char *what)
{
    return read_reply_within(c, r, what, c->timeout_ms);
}

/* The last line of a reply, for messages. */
static const char *last_line(const reply_t *r)
{
    const char *nl = strrchr(r->text, '\n');
    return nl ? nl + 1 : r->text;
}

/* Sends a command line and checks that the reply's first digit is want. */
static int command(conn_t *c, reply_t *r, int want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int command(conn_t *c, reply_t *r, int want, const char *fmt, ...)
{
    char line[1100], what[1104];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2) {
        errbuf_fail(c->err, c->errlen, "SMTP command too long");
        return SMF_EINVAL;
    }
    snprintf(what, sizeof(what), "to %s", line);
    memcpy(line + n, "\r\n", 3);
    int rc = write_all(c, line, (size_t)n + 2, what);
    if (rc == 0)
        rc = read_reply(c, r, what);
    if (rc == 0 && r->code / 100 != want) {
        errbuf_fail(c->err, c->errlen, "%s refused %s: %s", c->peer, what + 3, last_line(r));
        rc = SMF_EFAIL;
    }
    return rc;
}

/* ---- the message ---------------------------------------------------- */

/*
 * Sends the message as DATA wants it: every line ends in CRLF (a bare LF
 * or a bare CR becomes CRLF), a line starting with '.' gets one more, and
 * the message ends with a line break and ".". A bare CR must not pass: a
 * server that took "<CR>.<CR>" for the end of the data would read what
 * follows as commands, a second message smuggled in from our address. Nor
 * may a NUL, which SMTP data cannot carry: a server that drops it would
 * read "<CRLF>NUL.<CRLF>" as the end of the data. It is left out, so that
 * the dot after it is stuffed as the first of its line.
 *
 * A line longer than SMTP's 998 bytes is broken as Postfix's client breaks
 * it, with a CRLF and a space: a server that reads a line into a buffer of
 * 1000 bytes and takes the rest for the next line would otherwise read a
 * ".<CRLF>" placed right after the 1000th byte as the end of the data.
 */
static int send_body(conn_t *c, const char *data, size_t len)
{
    static const char *const what = "while sending the message";
    char out[OUT_CHUNK + 16];
    size_t n = 0, col = 0; /* col: bytes sent of the current line. */
    bool cr = false;       /* A CR was read and not yet sent. */
    for (size_t i = 0; i < len; i++) {
        if (n >= OUT_CHUNK) {
            if (write_all(c, out, n, what) != 0)
                return SMF_EIO;
            n = 0;
        }
        char ch = data[i];
        if (ch == '\0')
            continue;
        if (cr || ch == '\n') {
            /* A CR ends a line whatever follows it: CRLF, or a bare CR. */
            out[n++] = '\r';
            out[n++] = '\n';
            col = 0;
            cr = false;
            if (ch == '\n')
                continue;
        }
        if (ch == '\r') {
            cr = true;
            continue;
        }
        if (col == 0 && ch == '.') {
            out[n++] = '.';
            col++;
        }
        if (col == SMTP_LINE_MAX) {
            memcpy(out + n, "\r\n ", 3);
            n += 3;
            col = 1;
        }
        out[n++] = ch;
        col++;
    }
    if (cr || col > 0) {
        out[n++] = '\r';
        out[n++] = '\n';
    }
    memcpy(out + n, ".\r\n", 3);
    return write_all(c, out, n + 3, what);
}

/* ---- the session ---------------------------------------------------- */

static bool has_8bit(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] & 0x80)
            return true;
    return false;
}

/* Whether a line after the first of the EHLO reply ("250-NAME ...") names
 * the extension. A line shorter than its code and separator (a hostile
 * server's "25") names none; the name is only read within its line. */
static bool has_extension(const reply_t *ehlo, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = strchr(ehlo->text, '\n'); l != NULL; l = strchr(l + 1, '\n')) {
        size_t len = strcspn(l + 1, "\n");
        if (len >= 4 + n && strncasecmp(l + 5, name, n) == 0 && (len == 4 + n || l[5 + n] == ' '))
            return true;
    }
    return false;
}

/*
 * An address must not be able to smuggle a command into the session: not
 * by a line end, nor by closing its path early, nor by a length past what
 * SMTP allows (RFC 5321 4.5.3.1.3: a path of 256 octets with its <>), which
 * keeps every command within the 512 octets a server must read as one line
 * (4.5.3.1.4): a server that took the rest of a longer one for another
 * command would run what the sender wrote there.
 */
static int check_address(const char *a, char *err, size_t errlen)
{
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
            return errbuf_fail(err, errlen, "address '%s' has characters SMTP cannot carry", a);
    if (strlen(a) > SMTP_ADDRESS_MAX)
        return errbuf_fail(err, errlen, "address longer than the %d bytes SMTP allows: %.40s...",
                           SMTP_ADDRESS_MAX, a);
    return 0;
}

static int check_mail(const smtp_mail_t *m, char *err, size_t errlen)
{
    if (m->nrcpt == 0 || m->rcpt == NULL || m->data == NULL)
        return errbuf_fail(err, errlen, "nothing to deliver: no recipient or no message");
    if (check_address(m->sender ? m->sender : "", err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < m->nrcpt; i++) {
        if (m->rcpt[i] == NULL || m->rcpt[i][0] == '\0')
            return errbuf_fail(err, errlen, "empty recipient");
        if (check_address(m->rcpt[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int greet(conn_t *c, const char *helo, reply_t *ehlo)
{
    int rc = read_reply(c, ehlo, "before its greeting");
    if (rc != 0)
        return rc;
    if (ehlo->code != 220) {
        errbuf_fail(c->err, c->errlen, "%s does not accept mail: %s", c->peer, last_line(ehlo));
        return SMF_EFAIL;
    }
    rc = command(c, ehlo, 2, "EHLO %s", helo);
    /* A server that does not know EHLO answers 5xx; such a server gets HELO. */
    if (rc == SMF_EFAIL && ehlo->code / 100 == 5) {
        rc = command(c, ehlo, 2, "HELO %s", helo);
        ehlo->text[0] = '\0';
    }
    return rc;
}

/* Whether the sender or a recipient is an internationalized address (RFC 6531). */
static bool envelope_8bit(const smtp_mail_t *m)
{
    const char *sender = m->sender ? m->sender : "";
    if (has_8bit(sender, strlen(sender)))
        return true;
    for (size_t i = 0; i < m->nrcpt; i++)
        if (has_8bit(m->rcpt[i], strlen(m->rcpt[i])))
            return true;
    return false;
}

/* Whether the server can take m: 8-bit data and UTF-8 addresses need extensions. */
static int check_extensions(conn_t *c, const smtp_mail_t *m, const reply_t *ehlo, bool *eight,
                            bool *intl)
{
    *eight = has_8bit(m->data, m->len);
    /* RFC 6152: 8-bit data goes only to a server that offers to take it. */
    if (*eight && !has_extension(ehlo, "8BITMIME")) {
        errbuf_fail(c->err, c->errlen,
                    "%s does not offer 8BITMIME and the message has 8-bit data: deliver to a "
                    "host that takes it (Postfix does)",
                    c->peer);
        return SMF_EFAIL;
    }
    /* RFC 6531: a UTF-8 address goes only to a server that offers SMTPUTF8,
     * and the transaction must say so (Postfix refuses the address else). */
    *intl = envelope_8bit(m);
    if (*intl && !has_extension(ehlo, "SMTPUTF8")) {
        errbuf_fail(c->err, c->errlen,
                    "%s does not offer SMTPUTF8 and an address of the envelope is not ASCII: "
                    "deliver to a host that takes it (Postfix with smtputf8_enable does)",
                    c->peer);
        return SMF_EFAIL;
    }
    return 0;
}

/* The delivery of one message, transaction after transaction. */
typedef struct session {
    conn_t *c;
    const smtp_mail_t *m;
    smtp_rcpt_result_t *res; /* m->nrcpt entries. */
    size_t *taken;           /* The current transaction's recipients, by index. */
    bool eight, intl;
    char refusal[1024]; /* The first refusal of a recipient, for err. */
} session_t;

static void set_result(session_t *s, size_t i, smtp_rcpt_state_t state)
{
    s->res[i].state = state;
    if (state == SMTP_RCPT_REFUSED)
        snprintf(s->res[i].reply, sizeof(s->res[i].reply), "%s", s->c->err);
}

/* Gives the current transaction's recipients their state. */
static void set_taken(session_t *s, size_t ntaken, smtp_rcpt_state_t state)
{
    for (size_t k = 0; k < ntaken; k++)
        set_result(s, s->taken[k], state);
}

/* Whether a refusal of a RCPT after others were taken is the server's limit
 * on recipients in one transaction: RFC 5321 4.5.3.1.10 asks for 452, and
 * asks a client to take RFC 821's 552 for it the same way. */
static bool recipient_limit(const reply_t *r)
{
    return r->code == 452 || r->code == 552;
}

/* RCPT for each recipient still to be delivered, as many as the server takes
 * in this transaction; their indices go to s->taken. 0, or the code that
 * ends the session. */
static int recipients(session_t *s, size_t *ntaken)
{
    reply_t r;
    *ntaken = 0;
    for (size_t i = 0; i < s->m->nrcpt; i++) {
        if (s->res[i].state != SMTP_RCPT_NOT_SENT)
            continue;
        int rc = command(s->c, &r, 2, "RCPT TO:<%s>", s->m->rcpt[i]);
        if (rc == 0) {
            s->taken[(*ntaken)++] = i;
            continue;
        }
        /* 421: the server is closing the connection. */
        if (rc != SMF_EFAIL || r.code == 421)
            return rc;
        if (*ntaken > 0 && recipient_limit(&r))
            break; /* The rest go in the next transaction. */
        set_result(s, i, SMTP_RCPT_REFUSED);
        if (s->refusal[0] == '\0')
            snprintf(s->refusal, sizeof(s->refusal), "%s", s->c->err);
    }
    s->c->err[0] = '\0';
    return 0;
}

/*
 * One transaction: the message to as many of the recipients still to be
 * delivered as the server takes at once. After the reply to the data the
 * server is ready for the next MAIL (RFC 5321 4.1.1.4). 0 when the
 * transaction ended as SMTP says (the message delivered, or every recipient
 * tried refused), else the code that ends the session.
 */
static int transaction(session_t *s)
{
    conn_t *c = s->c;
    const smtp_mail_t *m = s->m;
    reply_t r;
    size_t ntaken = 0;
    int rc = command(c, &r, 2, "MAIL FROM:<%s>%s%s", m->sender ? m->sender : "",
                     s->eight ? " BODY=8BITMIME" : "", s->intl ? " SMTPUTF8" : "");
    if (rc == 0)
        rc = recipients(s, &ntaken);
    if (rc != 0)
        return rc;
    if (ntaken == 0)
        return 0; /* Every one refused: there is no message to send, nor anyone left. */
    rc = command(c, &r, 3, "DATA");
    if (rc == SMF_EFAIL)
        set_taken(s, ntaken, SMTP_RCPT_REFUSED);
    if (rc == 0)
        rc = send_body(c, m->data, m->len);
    if (rc != 0)
        return rc;
    /* The server may run its content checks now: RFC 5321 gives it ten
     * minutes, and giving up sooner could see it deliver a message we then
     * report as not delivered, and an operator release it twice. */
    rc = read_reply_within(c, &r, "after the message",
                           c->timeout_ms > SMTP_FINAL_REPLY_MS ? c->timeout_ms
                                                               : SMTP_FINAL_REPLY_MS);
    /* The message went whole: without a reply one can read, the server
     * may still have taken it, and the caller must not say it did not. */
    if (rc != 0) {
        set_taken(s, ntaken, SMTP_RCPT_UNKNOWN);
        return SMF_ETIMEDOUT;
    }
    if (r.code / 100 != 2) {
        errbuf_fail(c->err, c->errlen, "%s refused the message: %s", c->peer, last_line(&r));
        set_taken(s, ntaken, SMTP_RCPT_REFUSED);
        return SMF_EFAIL;
    }
    set_taken(s, ntaken, SMTP_RCPT_DELIVERED);
    if (m->delivered != NULL)
        m->delivered(m->delivered_arg, s->taken, ntaken);
    return 0;
}

/* Transactions until every recipient was delivered to or refused. */
static int deliver(session_t *s, const reply_t *ehlo)
{
    int rc = check_extensions(s->c, s->m, ehlo, &s->eight, &s->intl);
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < s->m->nrcpt; i++)
            left += s->res[i].state == SMTP_RCPT_NOT_SENT;
        /* Each transaction delivers to a recipient or refuses one: this ends. */
        if (rc != 0 || left == 0)
            break;
        rc = transaction(s);
    }
    if (rc == 0 && s->refusal[0] != '\0') {
        snprintf(s->c->err, s->c->errlen, "%s", s->refusal);
        rc = SMF_EFAIL;
    }
    return rc;
}

int smtp_send(const char *target, const smtp_mail_t *m, int timeout_ms, char *err, size_t errlen)
{
    char host[SMTP_HOST_MAX], port[8], peer[SMTP_HOST_MAX + 16], myname[256] = "localhost";
    for (size_t i = 0; m->result != NULL && i < m->nrcpt; i++)
        m->result[i] = (smtp_rcpt_result_t){SMTP_RCPT_NOT_SENT, ""};
    if (smtp_target_parse(target, host, port, err, errlen) != 0 || check_mail(m, err, errlen) != 0)
        return SMF_EINVAL;
    const char *helo = m->helo;
    if (helo == NULL) {
        if (gethostname(myname, sizeof(myname) - 1) != 0 || myname[0] == '\0')
            snprintf(myname, sizeof(myname), "localhost");
        helo = myname;
    }
    snprintf(peer, sizeof(peer), "%s port %s", host, port);
    conn_t c = {.fd = -1,
                .timeout_ms = timeout_ms > 0 ? timeout_ms : 30000,
                .peer = peer,
                .err = err,
                .errlen = errlen};
    session_t s = {.c = &c, .m = m, .res = m->result};
    s.taken = calloc(m->nrcpt, sizeof(size_t));
    if (s.res == NULL)
        s.res = calloc(m->nrcpt, sizeof(smtp_rcpt_result_t));
    int rc = s.taken == NULL || s.res == NULL ? SMF_EIO : conn_open(&c, host, port);
    if (s.taken == NULL || s.res == NULL)
        errbuf_fail(err, errlen, "out of memory");
    reply_t ehlo;
    if (rc == 0)
        rc = greet(&c, helo, &ehlo);
    if (rc == 0)
        rc = deliver(&s, &ehlo);
    /* Once the message is accepted, a failed QUIT changes nothing; a
     * connection that failed or hung gets none. */
    if (c.fd >= 0 && rc != SMF_EIO && rc != SMF_ETIMEDOUT) {
        char saved[1024];
        snprintf(saved, sizeof(saved), "%s", err);
        reply_t r;
        command(&c, &r, 2, "QUIT");
        snprintf(err, errlen, "%s", rc == 0 ? "" : saved);
    }
    if (c.fd >= 0)
        close(c.fd);
    if (s.res != m->result)
        free(s.res);
    free(s.taken);
    return rc;
}
