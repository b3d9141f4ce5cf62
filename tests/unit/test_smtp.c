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

int main(void)
{
    test_trickling_reply_times_out();
    test_quit_keeps_the_step_timeout();
    test_hung_resolver_times_out();
    test_name_is_resolved();
    test_address_longer_than_smtp_allows();
    return check_done();
}
