/*
 * test_smtp.c - the release client against small SMTP servers on loopback
 * that misbehave in ways a real one might: a reply that trickles in a line
 * at a time and never ends; and against a resolver that does not answer.
 */
#include "check.h"
#include "smtp_client.h"

#include <smf/module.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct server {
    int listen_fd;
    int port;
    int lines; /* continuation lines to trickle after the greeting's first */
    int gap_ms;
} server_t;

/* Greets with "220-" and then one more "220-" line every gap_ms, never the last. */
static void *trickle(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    for (int i = 0; i < s->lines; i++) {
        if (send(fd, "220-still here\r\n", 16, MSG_NOSIGNAL) != 16)
            break;
        usleep((useconds_t)s->gap_ms * 1000);
    }
    close(fd);
    return NULL;
}

/*
 * The resolver, as the client sees it: this program's getaddrinfo() comes
 * before the C library's. The name hung.test is a resolver that does not
 * answer for seconds (a dead DNS server behind resolv.conf); every other name
 * is looked up for real.
 */
#define HUNG_NAME "hung.test"
#define HUNG_MS 3000

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    bool numeric = hints != NULL && (hints->ai_flags & AI_NUMERICHOST);
    /* A numeric-only lookup never asks the resolver, hung or not. */
    if (node != NULL && strcmp(node, HUNG_NAME) == 0 && !numeric) {
        usleep(HUNG_MS * 1000);
        return EAI_AGAIN;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

static int listen_loopback(server_t *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(s->listen_fd, 1) != 0 || getsockname(s->listen_fd, (struct sockaddr *)&a, &len))
        return -1;
    s->port = ntohs(a.sin_port);
    return 0;
}

/*
 * Runs one delivery of a one-line message to a server thread running fn on
 * a loopback port, with timeout_ms per step. Returns smtp_send()'s code
 * (the reason in err), or 1 when the server could not start.
 */
static int deliver_to_host(server_t *s, const char *host, void *(*fn)(void *), int timeout_ms,
                           char *err, size_t errlen)
{
    pthread_t t;
    if (listen_loopback(s) != 0 || pthread_create(&t, NULL, fn, s) != 0) {
        CHECK(0, "cannot start the test server");
        return 1;
    }
    char target[64];
    snprintf(target, sizeof(target), "%s:%d", host, s->port);
    const char *rcpt[] = {"u@example.org"};
    smtp_mail_t m = {.sender = "a@example.net", .rcpt = rcpt, .nrcpt = 1, .data = "x\n", .len = 2};
    int rc = smtp_send(target, &m, timeout_ms, err, errlen);
    pthread_join(t, NULL);
    close(s->listen_fd);
    return rc;
}

static int deliver_to(server_t *s, void *(*fn)(void *), int timeout_ms, char *err, size_t errlen)
{
    return deliver_to_host(s, "[127.0.0.1]", fn, timeout_ms, err, errlen);
}

/* Each step has the timeout in all: a reply that keeps coming a line at a
 * time still times out, rather than holding smfctl for as long as it goes on. */
static void test_trickling_reply_times_out(void)
{
    server_t s = {.lines = 40, .gap_ms = 100};
    char err[512] = "";
    int rc = deliver_to(&s, trickle, 500, err, sizeof(err));
    CHECK(rc == SMF_EIO, "rc %d: %s", rc, err);
    CHECK_CONTAINS(err, "no answer within 500 ms before its greeting");
}

/* Refuses the recipient, then never answers QUIT. */
static void *refuse_then_hang(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    char buf[512];
    static const char *const replies[] = {"220 ok\r\n", "250 ok\r\n", "250 ok\r\n",
                                          "550 5.1.1 no such user\r\n"};
    if (fd < 0)
        return NULL;
    send(fd, replies[0], strlen(replies[0]), MSG_NOSIGNAL);
    for (int i = 1; i < 4; i++) {
        if (recv(fd, buf, sizeof(buf), 0) <= 0)
            break;
        send(fd, replies[i], strlen(replies[i]), MSG_NOSIGNAL);
    }
    /* QUIT arrives and gets no answer until the client has gone. */
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
    return NULL;
}

/* The ten minutes the end of the data may take apply to it alone, not to the
 * QUIT that follows a refusal. */
static void test_quit_keeps_the_step_timeout(void)
{
    server_t s = {0};
    char err[512] = "";
    time_t t0 = time(NULL);
    int rc = deliver_to(&s, refuse_then_hang, 500, err, sizeof(err));
    CHECK(rc == SMF_EFAIL, "rc %d: %s", rc, err);
    CHECK(time(NULL) - t0 < 60, "QUIT waited %ld s", (long)(time(NULL) - t0));
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A resolver that does not answer costs the client its timeout, not the
 * resolver's own: release says so and the message stays quarantined. */
static void test_hung_resolver_times_out(void)
{
    const char *rcpt[] = {"u@example.org"};
    smtp_mail_t m = {.sender = "a@example.net", .rcpt = rcpt, .nrcpt = 1, .data = "x\n", .len = 2};
    char err[512] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = smtp_send(HUNG_NAME ":25", &m, 300, err, sizeof(err));
    long ms = elapsed_ms(&t0);
    CHECK(rc == SMF_EIO, "rc %d: %s", rc, err);
    CHECK_CONTAINS(err, "cannot resolve " HUNG_NAME ": no answer within 300 ms");
    CHECK(ms < HUNG_MS / 2, "the lookup held the client %ld ms", ms);
}

/* A name that resolves in time is delivered to as before, through the same lookup. */
static void test_name_is_resolved(void)
{
    server_t s = {0};
    char err[512] = "";
    int rc = deliver_to_host(&s, "localhost", refuse_then_hang, 500, err, sizeof(err));
    CHECK(rc == SMF_EFAIL, "rc %d: %s", rc, err);
    CHECK_CONTAINS(err, "550 5.1.1 no such user");
}

/* An address past the 256 octets of an SMTP path (with its <>) is refused
 * before anything is sent: every command fits in the 512 octets a server
 * must read as one line. One that fits goes on, here to a closed port. */
static void test_address_longer_than_smtp_allows(void)
{
    char longest[SMTP_ADDRESS_MAX + 2], err[512];
    memset(longest, 'a', SMTP_ADDRESS_MAX);
    memcpy(longest + SMTP_ADDRESS_MAX - 12, "@example.org", 13);
    char over[sizeof(longest) + 1];
    snprintf(over, sizeof(over), "a%s", longest);
    const char *rcpt[] = {"u@example.org"};
    for (int i = 0; i < 2; i++) {
        smtp_mail_t m = {.sender = over, .rcpt = rcpt, .nrcpt = 1, .data = "x\n", .len = 2};
        if (i == 1) {
            m.sender = "a@example.net";
            rcpt[0] = over;
        }
        int rc = smtp_send("[127.0.0.1]:1", &m, 500, err, sizeof(err));
        CHECK(rc == SMF_EINVAL, "rc %d: %s", rc, err);
        CHECK_CONTAINS(err, "longer than the 254 bytes SMTP allows");
    }
    rcpt[0] = longest;
    smtp_mail_t m = {.sender = longest, .rcpt = rcpt, .nrcpt = 1, .data = "x\n", .len = 2};
    int rc = smtp_send("[127.0.0.1]:1", &m, 500, err, sizeof(err));
    CHECK(rc == SMF_EIO, "rc %d: %s", rc, err);
}

/* Reads one command line from fd into buf (without CRLF); its length, or -1. */
static int read_command(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        if (recv(fd, buf + n, 1, 0) != 1)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        n--;
    buf[n] = '\0';
    return (int)n;
}

/*
 * Takes one recipient per connection in all, as a host whose limit counts a
 * connection's recipients would: the second RCPT gets 452, and so does
 * every RCPT after the first message, the first of its transaction too.
 */
static void *one_recipient_per_connection(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    char line[1100];
    int taken = 0;
    bool data = false;
    if (fd < 0)
        return NULL;
    send(fd, "220 ok\r\n", 8, MSG_NOSIGNAL);
    while (read_command(fd, line, sizeof(line)) >= 0) {
        const char *reply = "250 ok\r\n";
        if (data) {
            if (strcmp(line, ".") != 0)
                continue;
            data = false;
        } else if (strncmp(line, "RCPT", 4) == 0) {
            reply = taken++ == 0 ? "250 ok\r\n" : "452 4.5.3 Too many recipients\r\n";
        } else if (strcmp(line, "DATA") == 0) {
            reply = "354 go on\r\n";
            data = true;
        } else if (strcmp(line, "QUIT") == 0) {
            send(fd, "221 bye\r\n", 9, MSG_NOSIGNAL);
            break;
        }
        send(fd, reply, strlen(reply), MSG_NOSIGNAL);
    }
    close(fd);
    return NULL;
}

/* A 452 to the first RCPT of a transaction is no limit on recipients: the
 * recipient is refused, rather than tried in one more transaction after
 * another for ever, and the one the host took is said to have the message. */
static void test_452_to_a_first_rcpt_refuses_it(void)
{
    server_t s = {0};
    pthread_t t;
    char err[512] = "", target[64];
    if (listen_loopback(&s) != 0 || pthread_create(&t, NULL, one_recipient_per_connection, &s)) {
        CHECK(0, "cannot start the test server");
        return;
    }
    snprintf(target, sizeof(target), "[127.0.0.1]:%d", s.port);
    const char *rcpt[] = {"a@example.org", "b@example.org"};
    smtp_rcpt_result_t res[2];
    smtp_mail_t m = {.sender = "s@example.net",
                     .rcpt = rcpt,
                     .nrcpt = 2,
                     .data = "x\n",
                     .len = 2,
                     .result = res};
    int rc = smtp_send(target, &m, 2000, err, sizeof(err));
    pthread_join(t, NULL);
    close(s.listen_fd);
    CHECK(rc == SMF_EFAIL, "rc %d: %s", rc, err);
    CHECK_CONTAINS(err, "RCPT TO:<b@example.org>: 452 4.5.3");
    CHECK(res[0].state == SMTP_RCPT_DELIVERED, "a: %d", res[0].state);
    CHECK(res[1].state == SMTP_RCPT_REFUSED, "b: %d", res[1].state);
    CHECK_CONTAINS(res[1].reply, "452 4.5.3 Too many recipients");
}

int main(void)
{
    test_trickling_reply_times_out();
    test_quit_keeps_the_step_timeout();
    test_hung_resolver_times_out();
    test_name_is_resolved();
    test_address_longer_than_smtp_allows();
    test_452_to_a_first_rcpt_refuses_it();
    return check_done();
}
