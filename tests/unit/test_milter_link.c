/*
 * test_milter_link.c - smf-milter's engine link: its ZeroMQ context allows as
 * many sockets as the descriptor limit, not ZeroMQ's default 1,023, and a
 * socket it cannot create is said in the log; an engine on an IPv6 address
 * is reached. The file is built in whole, to reach its static parts. And the
 * client address from the {client_addr} macro, Sendmail's "IPv6:" form too.
 */
#include "engine_link.c"

#include "check.h"

#include <netinet/in.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/socket.h>

milter_opts_t milter_opts;

static char last_log[1024];

void milter_log(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof last_log, fmt, ap);
    va_end(ap);
    (void)priority;
}

/* Whether this machine has the IPv6 loopback address to listen on. */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* An engine listening on tcp://[::1]: the request's socket connects to it. */
static void check_ipv6_engine(void)
{
    if (!have_ipv6_loopback()) {
        printf("this machine has no IPv6 loopback address ::1: the IPv6 check is skipped\n");
        return;
    }
    void *engine = zmq_socket(link_ctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    zmq_setsockopt(engine, ZMQ_IPV6, &one, sizeof one);
    zmq_setsockopt(engine, ZMQ_LINGER, &zero, sizeof zero);
    CHECK(zmq_bind(engine, "tcp://[::1]:*") == 0, "bind [::1]: %s", zmq_strerror(zmq_errno()));
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(engine, ZMQ_LAST_ENDPOINT, ep, &len);
    void *s = link_socket_new(ep);
    CHECK(s != NULL, "socket for %s: %s", ep, last_log);
    /* ZMQ_IMMEDIATE: writable once connected to the engine, not before. */
    CHECK(s != NULL && link_writable(s, 5000), "%s not connected to within 5 s", ep);
    if (s)
        zmq_close(s);
    zmq_close(engine);
}

/* The address envelope_client_addr() makes of macro; "" when it refuses it. */
static const char *client_addr(const char *macro)
{
    static char out[INET6_ADDRSTRLEN];
    int rc = envelope_client_addr(macro, out, sizeof out);
    CHECK((rc == 0) == (out[0] != '\0'), "%s: returned %d with \"%s\"", macro, rc, out);
    return out;
}

static void check_client_addr(void)
{
    CHECK(strcmp(client_addr("192.0.2.7"), "192.0.2.7") == 0, "IPv4");
    CHECK(strcmp(client_addr("2001:db8::1"), "2001:db8::1") == 0, "IPv6");
    /* Sendmail's form of an IPv6 client, whatever the prefix's case. */
    CHECK(strcmp(client_addr("IPv6:2001:db8::1"), "2001:db8::1") == 0, "IPv6: prefix");
    CHECK(strcmp(client_addr("ipv6:2001:DB8:0:0:0:0:0:1"), "2001:db8::1") == 0, "ipv6: prefix");
    CHECK(strcmp(client_addr("IPV6:::ffff:192.0.2.7"), "::ffff:192.0.2.7") == 0, "v4-mapped");
    /* Longer than INET6_ADDRSTRLEN with its prefix, and still taken. */
    CHECK(strcmp(client_addr("IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"),
                 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == 0,
          "longest IPv6");
    const char *bad[] = {NULL,
                         "",
                         "unknown",
                         "IPv6:",
                         "IPv6:192.0.2.7",
                         "IPv4:192.0.2.7",
                         "[192.0.2.7]",
                         "2001:db8::1 ",
                         "IPv6:IPv6:::1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(client_addr(bad[i])[0] == '\0', "\"%s\" taken as %s", bad[i] ? bad[i] : "(null)",
              client_addr(bad[i]));
    /* A trusted IPv6 network matches the address the prefix came with. */
    milter_net_t net;
    CHECK(envelope_parse_net("2001:db8::/32", &net) == 0, "parse 2001:db8::/32");
    milter_opts.trusted = &net;
    milter_opts.n_trusted = 1;
    CHECK(envelope_trusted(client_addr("IPv6:2001:db8::1")), "IPv6: client not trusted");
    milter_opts.trusted = NULL;
    milter_opts.n_trusted = 0;
}

/* As many sockets as 400 MTA connections' requests hold at once. */
#define MANY 1200

int main(void)
{
    check_client_addr();
    static const char *endpoints[] = {"inproc://smf-test-link"};
    milter_opts_t o = {
        .endpoints = endpoints, .n_endpoints = 1, .timeout_ms = 100, .connect_timeout_ms = 100};
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 &&
        (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur)) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096 ? 4096 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    CHECK(link_init(&o) == 0, "link_init");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 2 * MANY) {
        CHECK(zmq_ctx_get(link_ctx, ZMQ_MAX_SOCKETS) >= 2 * MANY, "max sockets %d",
              zmq_ctx_get(link_ctx, ZMQ_MAX_SOCKETS));
        static void *socks[MANY];
        int made = 0;
        for (int i = 0; i < MANY; i++)
            made += (socks[i] = link_socket_new(endpoints[0])) != NULL;
        CHECK(made == MANY, "%d of %d sockets made: %s", made, MANY, last_log);
        for (int i = 0; i < MANY; i++)
            if (socks[i])
                zmq_close(socks[i]);
    } else {
        printf("descriptor limit below %d: the many-sockets check is skipped\n", 2 * MANY);
    }
    /* Only an IPv6 address makes a socket IPv6: a name or "*" stays IPv4. */
    CHECK(zmqaddr_is_ipv6("tcp://[::1]:7440") && zmqaddr_is_ipv6("tcp://::1:7440") &&
              zmqaddr_is_ipv6("tcp://[fe80::1%lo]:7440") &&
              zmqaddr_is_ipv6("tcp://[::1]:0;127.0.0.1:7440"),
          "IPv6 endpoints");
    CHECK(!zmqaddr_is_ipv6("tcp://127.0.0.1:7440") && !zmqaddr_is_ipv6("tcp://localhost:7440") &&
              !zmqaddr_is_ipv6("tcp://*:7440") && !zmqaddr_is_ipv6("ipc:///run/a:b:c") &&
              !zmqaddr_is_ipv6("tcp://eth0;192.0.2.1:7440"),
          "IPv4 endpoints");
    check_ipv6_engine();
    zmq_ctx_term(link_ctx);

    /* A context with room for one socket: the request's socket is refused. */
    link_ctx = zmq_ctx_new();
    zmq_ctx_set(link_ctx, ZMQ_MAX_SOCKETS, 1);
    void *only = zmq_socket(link_ctx, ZMQ_DEALER);
    CHECK(only != NULL, "the one socket");
    last_log[0] = '\0';
    json_t *env = json_pack("{s:[s]}", "recipients", "a@example.com");
    link_reply_t r;
    link_scan(env, "Subject: x\r\n\r\nbody\r\n", 20, &r);
    CHECK(r.status == LINK_NO_ANSWER, "status %d", (int)r.status);
    CHECK_CONTAINS(last_log, "cannot create a ZeroMQ socket for engine inproc://smf-test-link");
    CHECK_CONTAINS(last_log, "tempfail unless another engine answers");
    json_decref(env);
    zmq_close(only);
    zmq_ctx_term(link_ctx);
    return check_done();
}
