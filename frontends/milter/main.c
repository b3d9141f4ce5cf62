/*
 * main.c - smf-milter, the Postfix/Sendmail front end of SecureMailFlow:
 * reads the options, opens the MTA socket (with permissions the MTA's user
 * can use), connects the engine link and hands control to libmilter.
 */
#include "smf_milter.h"
#include "zmqaddr.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define DEFAULT_SOCKET "unix:/run/smf/milter.sock"
#define DEFAULT_ENDPOINT "ipc:///run/smf/scan.sock"
#define DEFAULT_TIMEOUT_MS 30000
/* Well under Postfix's milter_command_timeout (30 s), which covers MAIL FROM and RCPT TO. */
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
/* The auth module's default authserv_id (modules/auth/README.md). */
#define DEFAULT_AUTHSERV_ID "smf"
/* The engine's own default max_message_size (etc/smfd.conf). */
#define DEFAULT_MAX_SIZE (50UL * 1024 * 1024)

milter_opts_t milter_opts;
static bool use_syslog;

void milter_log(int priority, const char *fmt, ...)
{
    static const char *names[] = {"emerg",   "alert",  "crit", "error",
                                  "warning", "notice", "info", "debug"};
    va_list ap;
    va_start(ap, fmt);
    if (use_syslog) {
        vsyslog(priority, fmt, ap);
    } else {
        char line[2048];
        vsnprintf(line, sizeof line, fmt, ap);
        fprintf(stderr, "smf-milter[%ld] %s: %s\n", (long)getpid(), names[priority & 7], line);
    }
    va_end(ap);
}

static void usage(FILE *out)
{
    fputs("usage: smf-milter [options]\n"
          "\n"
          "Milter for Postfix and Sendmail: hands every message to the SecureMailFlow engine\n"
          "(smfd) at end of DATA and applies its verdict.\n"
          "\n"
          "  -s, --socket SPEC        where the MTA connects: unix:PATH (default " DEFAULT_SOCKET
          ")\n"
          "                           or inet:PORT@HOST, inet6:PORT@HOST (TCP_NODELAY is set;\n"
          "                           prefer unix)\n"
          "      --socket-mode MODE   permissions of a unix socket, octal (default 0660)\n"
          "      --socket-group GRP   group of a unix socket (default: postfix, if it exists)\n"
          "  -e, --endpoint EP        smfd scan endpoint, repeatable (default " DEFAULT_ENDPOINT
          ");\n"
          "                           requests go to each in turn; one that is down or silent\n"
          "                           is skipped for the next\n"
          "  -t, --timeout MS         per engine attempt; the request's deadline (default 30000)\n"
          "      --connect-timeout MS the same for the checks at RCPT TO (or MAIL FROM)\n"
          "                           (default 5000, at most --timeout)\n"
          "      --max-size SIZE      refuse larger messages with 552 5.3.4 as they arrive,\n"
          "                           without buffering them; bytes, or with K, M or G\n"
          "                           (default 50M, the engine's default max_message_size;\n"
          "                           keep it at most the engine's)\n"
          "      --trusted CIDR       clients in this network send outbound mail, repeatable;\n"
          "                           SMTP AUTH users always do; everyone else is inbound\n"
          "      --on-quarantine ACT  drop (default): discard the MTA's copy, the engine keeps\n"
          "                           it; hold: also put it in the MTA's hold queue\n"
          "      --authserv-id ID     the auth module's authserv_id (default " DEFAULT_AUTHSERV_ID
          "): incoming\n"
          "                           Authentication-Results with it are removed, as are\n"
          "                           X-SMF-Status and X-Spam-Flag; \"\" for the engine's only\n"
          "      --no-connect-check   do not ask the engine's list and reputation stages at\n"
          "                           each RCPT TO (a blacklisted source is then refused at\n"
          "                           the end of DATA instead)\n"
          "      --no-rcpt-check      ask them once at MAIL FROM instead, with the default\n"
          "                           policy and the global lists only (a domain's allow\n"
          "                           entries cannot override a global block there)\n"
          "      --noop               accept every message without asking the engine\n"
          "                           (to measure the milter's own cost)\n"
          "  -f, --foreground         stay in the foreground and log to stderr\n"
          "  -h, --help               this text\n"
          "\n"
          "No answer within the timeout from any endpoint, or an engine ERROR: the client gets\n"
          "451 4.7.1 and keeps the message. Set milter_default_action = tempfail in Postfix so\n"
          "that a stopped smf-milter does not let mail through either.\n",
          out);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("smf-milter: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void add_trusted(const char *spec)
{
    milter_net_t *t =
        realloc(milter_opts.trusted, (milter_opts.n_trusted + 1) * sizeof *milter_opts.trusted);
    if (!t)
        die("out of memory");
    milter_opts.trusted = t;
    if (envelope_parse_net(spec, &t[milter_opts.n_trusted]) != 0)
        die("--trusted %s: expected ADDRESS or ADDRESS/PREFIX", spec);
    milter_opts.n_trusted++;
}

/* Whether text is a port number, 1 to 65535. */
static bool is_port(const char *text, size_t len)
{
    if (len == 0 || len > 5 || strspn(text, "0123456789") < len)
        return false;
    long port = strtol(text, NULL, 10);
    return port >= 1 && port <= 65535;
}

/* The forms libmilter listens on; anything else is refused at start,
 * rather than failing as "cannot listen" later. */
static void check_socket_spec(const char *spec)
{
    const char *rest = NULL;
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0)
        rest = strchr(spec, ':') + 1;
    else if (spec[0] == '/')
        rest = spec;
    if (rest != NULL) {
        if (rest[0] != '/')
            die("--socket %s: a unix socket needs an absolute path (unix:/run/smf/milter.sock)",
                spec);
        return;
    }
    if (strncmp(spec, "inet:", 5) == 0 || strncmp(spec, "inet6:", 6) == 0) {
        const char *port = strchr(spec, ':') + 1;
        if (is_port(port, strcspn(port, "@")))
            return;
    }
    die("--socket %s: expected unix:PATH, inet:PORT@HOST or inet6:PORT@HOST", spec);
}

/* An engine endpoint as smfd's `listen` setting writes it. A host that
 * does not resolve now may later: said, not refused. */
static void check_endpoint(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 && ep[6] != '\0')
        return;
    const char *colon = strncmp(ep, "tcp://", 6) == 0 ? strrchr(ep + 6, ':') : NULL;
    if (colon == NULL || colon == ep + 6 || !is_port(colon + 1, strlen(colon + 1)))
        die("--endpoint %s: expected ipc://PATH or tcp://HOST:PORT, as smfd's listen setting", ep);
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - (ep + 6)), ep + 6);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    /* Looked up as ZeroMQ will: IPv4, unless the endpoint names an IPv6 address. */
    bool v6 = zmqaddr_is_ipv6(ep);
    struct addrinfo hints = {.ai_family = v6 ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = v6 ? AI_V4MAPPED : 0},
                    *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        fprintf(stderr, "smf-milter: warning: --endpoint %s: %s does not resolve now (%s)\n", ep,
                host, gai_strerror(rc));
    else
        freeaddrinfo(res);
}

static void add_endpoint(const char *ep)
{
    const char **e = realloc(milter_opts.endpoints,
                             (milter_opts.n_endpoints + 1) * sizeof *milter_opts.endpoints);
    if (!e)
        die("out of memory");
    milter_opts.endpoints = e;
    e[milter_opts.n_endpoints++] = ep;
}

enum {
    OPT_TRUSTED = 256,
    OPT_ON_QUARANTINE,
    OPT_NOOP,
    OPT_SOCKET_MODE,
    OPT_SOCKET_GROUP,
    OPT_NO_CONNECT_CHECK,
    OPT_NO_RCPT_CHECK,
    OPT_MAX_SIZE,
    OPT_CONNECT_TIMEOUT,
    OPT_AUTHSERV_ID
};

/* Milliseconds > 0, or exits naming the option. */
static int parse_ms(const char *opt, const char *arg)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || errno || v <= 0 || v > 86400000)
        die("%s %s: expected milliseconds > 0", opt, arg);
    return (int)v;
}

/* "52428800", "50M", "1G": a size in bytes, at least 1024. Returns 0 or -1. */
static int parse_size(const char *arg, size_t *out)
{
    char *end;
    errno = 0;
    /* strtoull() takes "-1" as the largest number: no limit at all. */
    if (arg[0] < '0' || arg[0] > '9')
        return -1;
    unsigned long long v = strtoull(arg, &end, 10);
    unsigned shift = 0;
    if (end == arg || errno)
        return -1;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end || v > (SIZE_MAX >> shift) || (v << shift) < 1024)
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"socket", required_argument, NULL, 's'},
        {"endpoint", required_argument, NULL, 'e'},
        {"timeout", required_argument, NULL, 't'},
        {"trusted", required_argument, NULL, OPT_TRUSTED},
        {"on-quarantine", required_argument, NULL, OPT_ON_QUARANTINE},
        {"noop", no_argument, NULL, OPT_NOOP},
        {"no-connect-check", no_argument, NULL, OPT_NO_CONNECT_CHECK},
        {"no-rcpt-check", no_argument, NULL, OPT_NO_RCPT_CHECK},
        {"max-size", required_argument, NULL, OPT_MAX_SIZE},
        {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
        {"authserv-id", required_argument, NULL, OPT_AUTHSERV_ID},
        {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
        {"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
        {"foreground", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    milter_opts.socket = DEFAULT_SOCKET;
    milter_opts.timeout_ms = DEFAULT_TIMEOUT_MS;
    milter_opts.max_size = DEFAULT_MAX_SIZE;
    milter_opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    milter_opts.socket_mode = 0660;
    milter_opts.authserv_id = DEFAULT_AUTHSERV_ID;
    milter_opts.connect_check = true;
    milter_opts.rcpt_check = true;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "s:e:t:fh", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            milter_opts.socket = optarg;
            break;
        case 'e':
            add_endpoint(optarg);
            break;
        case 't':
            milter_opts.timeout_ms = parse_ms("--timeout", optarg);
            break;
        case OPT_CONNECT_TIMEOUT:
            milter_opts.connect_timeout_ms = parse_ms("--connect-timeout", optarg);
            break;
        case OPT_MAX_SIZE:
            if (parse_size(optarg, &milter_opts.max_size) != 0)
                die("--max-size %s: expected a size of at least 1024 bytes, such as 52428800 "
                    "or 50M",
                    optarg);
            break;
        case OPT_AUTHSERV_ID:
            milter_opts.authserv_id = optarg;
            break;
        case OPT_TRUSTED:
            add_trusted(optarg);
            break;
        case OPT_ON_QUARANTINE:
            if (strcmp(optarg, "drop") && strcmp(optarg, "hold"))
                die("--on-quarantine %s: expected drop or hold", optarg);
            milter_opts.hold = strcmp(optarg, "hold") == 0;
            break;
        case OPT_NOOP:
            milter_opts.noop = true;
            break;
        case OPT_NO_CONNECT_CHECK:
            milter_opts.connect_check = false;
            milter_opts.rcpt_check = false;
            break;
        case OPT_NO_RCPT_CHECK:
            milter_opts.rcpt_check = false;
            break;
        case OPT_SOCKET_MODE:
            milter_opts.socket_mode = (mode_t)strtol(optarg, &end, 8);
            if (*end || milter_opts.socket_mode > 0777)
                die("--socket-mode %s: expected an octal mode such as 0660", optarg);
            break;
        case OPT_SOCKET_GROUP:
            milter_opts.socket_group = optarg;
            break;
        case 'f':
            milter_opts.foreground = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument %s (see --help)", argv[optind]);
    if (milter_opts.n_endpoints == 0)
        add_endpoint(DEFAULT_ENDPOINT);
    check_socket_spec(milter_opts.socket);
    for (size_t i = 0; i < milter_opts.n_endpoints; i++)
        check_endpoint(milter_opts.endpoints[i]);
}

/* Postfix's milter_content_timeout by default, in ms. */
#define POSTFIX_CONTENT_TIMEOUT_MS 300000L

/*
 * One message may wait endpoints x (--timeout + the reconnect grace) when
 * every engine is silent. Past Postfix's content timeout, Postfix gives up
 * first and applies milter_default_action, and smf-milter's own tempfail
 * never reaches the client: said once at start, where the operator looks.
 */
static void warn_worst_wait(const milter_opts_t *o)
{
    long worst = (long)o->n_endpoints * ((long)o->timeout_ms + LINK_CONNECT_GRACE_MS);
    if (o->noop || worst < POSTFIX_CONTENT_TIMEOUT_MS)
        return;
    milter_log(LOG_WARNING,
               "with %zu engine endpoint(s) and --timeout %d ms a message may wait %ld s, at or "
               "past Postfix's default milter_content_timeout (300 s): lower --timeout, or raise "
               "milter_content_timeout in main.cf above it (docs/postfix.md)",
               o->n_endpoints, o->timeout_ms, (worst + 999) / 1000);
}

/* The path of a unix socket spec, or NULL for inet sockets. */
static const char *unix_path(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
        return spec + 6;
    return spec[0] == '/' ? spec : NULL;
}

/* Creates the socket's directory (like /run/smf) when it is missing. */
static void make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            die("cannot create %s: %s", dir, strerror(errno));
        *p = '/';
    }
}

/* Lets the MTA's user (postfix) connect to the unix socket. */
static void set_socket_access(const char *path)
{
    const char *group = milter_opts.socket_group;
    struct group *gr = getgrnam(group ? group : "postfix");
    if (group && !gr)
        die("--socket-group %s: no such group", group);
    if (gr && chown(path, (uid_t)-1, gr->gr_gid) != 0)
        die("cannot give %s to group %s: %s", path, gr->gr_name, strerror(errno));
    if (chmod(path, milter_opts.socket_mode) != 0)
        die("cannot chmod %s: %s", path, strerror(errno));
}

/*
 * libmilter keeps its listening socket to itself; find it among our open
 * descriptors. Linux copies TCP_NODELAY to every accepted connection, which
 * avoids the Nagle + delayed-ACK stall on each milter exchange.
 */
static void set_listener_nodelay(void)
{
    for (int fd = 3; fd < 1024; fd++) {
        int listening = 0;
        socklen_t len = sizeof listening;
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
            continue;
        if (getsockname(fd, (struct sockaddr *)&sa, &salen) != 0 ||
            (sa.ss_family != AF_INET && sa.ss_family != AF_INET6))
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

static void open_mta_socket(void)
{
    const char *path = unix_path(milter_opts.socket);
    if (path)
        make_parent(path);
    if (smfi_setconn((char *)milter_opts.socket) != MI_SUCCESS)
        die("bad socket %s", milter_opts.socket);
    /* true: remove a stale unix socket left by an earlier run. */
    if (smfi_opensocket(1) != MI_SUCCESS)
        die("cannot listen on %s (in use, or no permission?)", milter_opts.socket);
    if (path)
        set_socket_access(path);
    else
        set_listener_nodelay();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (smfi_register(milter_desc) != MI_SUCCESS)
        die("libmilter refused the filter description");
    open_mta_socket();
    if (!milter_opts.foreground) {
        if (daemon(0, 0) != 0)
            die("cannot become a daemon: %s", strerror(errno));
        openlog("smf-milter", LOG_PID, LOG_MAIL);
        use_syslog = true;
    }
    /* The ZeroMQ threads must not take libmilter's stop signals: block them first. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGHUP);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (link_init(&milter_opts) != 0) {
        milter_log(LOG_ERR, "cannot start ZeroMQ");
        return 1;
    }
    milter_log(LOG_INFO,
               "listening on %s, %zu engine endpoint(s), timeout %d ms, max size %zu bytes%s",
               milter_opts.socket, milter_opts.n_endpoints, milter_opts.timeout_ms,
               milter_opts.max_size, milter_opts.noop ? ", NOOP: mail is not scanned" : "");
    warn_worst_wait(&milter_opts);
    int rc = smfi_main();
    link_shutdown();
    /* The MTA then gets "connection refused" at once rather than a stale socket. */
    const char *path = unix_path(milter_opts.socket);
    if (path)
        unlink(path);
    milter_log(LOG_INFO, "stopped");
    return rc == MI_SUCCESS ? 0 : 1;
}
