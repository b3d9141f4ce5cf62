/*
 * smfc.c - the command-line scan client: parses options and hands the
 * paths to the scan loop. Usage is in smfc_usage() below.
 */
#include "smfc.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SMFC_DEFAULT_ENDPOINT "ipc:///run/smf/scan.sock"

enum {
    OPT_JSON = 256,
    OPT_DIRECTION,
    OPT_IP,
    OPT_HELO,
    OPT_FROM,
    OPT_RCPT,
    OPT_TIMEOUT,
    OPT_CLIENT_NAME,
    OPT_AUTH_USER,
    OPT_CURVE_SERVER,
    OPT_CURVE_KEY,
    OPT_DOWN_WAIT
};

static const struct option smfc_longopts[] = {
    {"endpoint", required_argument, NULL, 'e'},
    {"json", no_argument, NULL, OPT_JSON},
    {"jobs", required_argument, NULL, 'j'},
    {"direction", required_argument, NULL, OPT_DIRECTION},
    {"ip", required_argument, NULL, OPT_IP},
    {"helo", required_argument, NULL, OPT_HELO},
    {"client-name", required_argument, NULL, OPT_CLIENT_NAME},
    {"auth-user", required_argument, NULL, OPT_AUTH_USER},
    {"curve-server", required_argument, NULL, OPT_CURVE_SERVER},
    {"curve-key", required_argument, NULL, OPT_CURVE_KEY},
    {"from", required_argument, NULL, OPT_FROM},
    {"rcpt", required_argument, NULL, OPT_RCPT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"down-wait", required_argument, NULL, OPT_DOWN_WAIT},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

double smfc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void smfc_usage(FILE *f)
{
    fputs("usage: smfc [options] PATH...\n"
          "\n"
          "Sends mail to the SecureMailFlow engine (smfd) and prints its verdicts.\n"
          "PATH is a message file, a folder (scanned recursively, sorted, dotfiles\n"
          "skipped) or an mbox file (a file whose first line starts with \"From \";\n"
          "its messages are labelled PATH:1, PATH:2, ...; it is read a piece at a\n"
          "time, any size). PATH - reads standard input (a message or an mbox) to\n"
          "its end; so does a pipe such as /dev/stdin.\n"
          "\n"
          "options:\n"
          "  -e, --endpoint EP    engine endpoint (default: $SMF_ENDPOINT, else\n"
          "                       " SMFC_DEFAULT_ENDPOINT "); an ipc socket that is\n"
          "                       missing or a tcp port that refuses connections\n"
          "                       ends the run after 3 s: smfd is not there (a\n"
          "                       host name is looked up again within those 3 s\n"
          "                       while the resolver cannot answer yet)\n"
          "      --json           one JSON object per message per line on stdout\n"
          "  -j, --jobs N         requests in flight at once (default 8, at most 1000)\n"
          "      --direction D    inbound (default) or outbound\n"
          "      --ip A           SMTP client address (default 127.0.0.1; '' for unknown)\n"
          "      --helo H         HELO name (default localhost)\n"
          "      --client-name N  the client's reverse-DNS name (default localhost)\n"
          "      --auth-user U    SMTP AUTH user, for outbound mail (default none)\n"
          "      --curve-server K CURVE: the engine's public key (Z85, or a .pub file)\n"
          "      --curve-key FILE CURVE: this client's secret key file (smfctl keygen)\n"
          "      --from ADDR      envelope sender ('' for the null sender)\n"
          "      --rcpt ADDR      envelope recipient; repeat for more\n"
          "      --timeout MS     give up on a message after MS ms (default 60000); an\n"
          "                       engine that answers busy is asked again meanwhile.\n"
          "                       Each message sent gets its own timeout, whatever -j;\n"
          "                       once two got no answer from an engine that answered\n"
          "                       nothing, or more than N in a row from one that had\n"
          "                       answered (it stopped), the engine is deemed down\n"
          "      --down-wait MS   how long to wait for an engine deemed down to come\n"
          "                       back (default 300000, 5 minutes): sending pauses and\n"
          "                       the engine is asked with PING (no message is used\n"
          "                       up), after 1 s, then twice as long each time (at\n"
          "                       most 30 s), each given 2 s (or --timeout, if less);\n"
          "                       its PONG resumes the run (the last goes in time\n"
          "                       to be answered within the wait). Past it, or\n"
          "                       with 0, the rest are not sent: each is reported\n"
          "                       \"not sent\", with one line for all of them on stderr\n"
          "  -q, --quiet          print only failures (JSON output is still printed)\n"
          "  -h, --help           show this help\n"
          "\n"
          "Without --from, the sender comes from Return-Path or From; without --rcpt,\n"
          "the recipients come from To, Cc, Delivered-To and X-Original-To. A message\n"
          "without any recipient fails with \"no recipient: pass --rcpt\".\n"
          "\n"
          "exit status: 0 every message got a verdict, 1 some did not (each is named on\n"
          "stderr with the reason, those not sent in one line), 2 usage error.\n"
          "\n"
          "examples:\n"
          "  smfc message.eml\n"
          "  smfc --rcpt bob@example.com --from alice@example.net ~/Maildir/new\n"
          "  smfc -e tcp://scan1:7400 --json -j 32 --rcpt bob@example.com archive.mbox\n"
          "  smfc --json spam/ | jq -r 'select(.action == \"accept\") | .file'\n",
          f);
}

static int smfc_usage_error(const char *fmt, const char *arg)
{
    fputs("smfc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\ntry 'smfc --help'\n", stderr);
    return 2;
}

static bool smfc_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/*
 * Whether --ip is an address the engine can judge. Anything else reached
 * the engine as an unknown client, whose address checks (lists, history,
 * reverse DNS) then silently did not run: a typo changed the verdict.
 * "" still says that the client is unknown.
 */
static bool smfc_ip_ok(const char *s)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return *s == '\0' || inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/* Returns -1 when options are fine, else the exit code. */
static int smfc_parse_opt(smfc_opts_t *o, int opt, const char *arg)
{
    long v;
    switch (opt) {
    case 'e':
        o->endpoint = arg;
        break;
    case OPT_JSON:
        o->json = true;
        break;
    case 'j':
        if (!smfc_parse_long(arg, 1, SMFC_MAX_JOBS, &v))
            return smfc_usage_error("-j: expected a number from 1 to 1000, got '%s'", arg);
        o->jobs = (unsigned)v;
        break;
    case OPT_DIRECTION:
        if (strcmp(arg, "inbound") != 0 && strcmp(arg, "outbound") != 0)
            return smfc_usage_error("--direction: expected inbound or outbound, got '%s'", arg);
        o->direction = arg;
        break;
    case OPT_IP:
        if (!smfc_ip_ok(arg))
            return smfc_usage_error("--ip: expected an IPv4 or IPv6 address, got '%s'", arg);
        o->ip = arg;
        break;
    case OPT_HELO:
        o->helo = arg;
        break;
    case OPT_CLIENT_NAME:
        o->client_name = arg;
        break;
    case OPT_AUTH_USER:
        o->auth_user = arg;
        break;
    case OPT_CURVE_SERVER:
        o->curve_server = arg;
        break;
    case OPT_CURVE_KEY:
        o->curve_key = arg;
        break;
    case OPT_FROM:
        o->from = arg;
        break;
    case OPT_RCPT:
        if (!*arg)
            return smfc_usage_error("--rcpt: empty address%s", "");
        o->rcpts[o->nrcpts++] = arg;
        break;
    case OPT_TIMEOUT:
        if (!smfc_parse_long(arg, 1, 86400000, &v))
            return smfc_usage_error("--timeout: expected milliseconds (1 or more), got '%s'", arg);
        o->timeout_ms = v;
        break;
    case OPT_DOWN_WAIT:
        if (!smfc_parse_long(arg, 0, 86400000, &v))
            return smfc_usage_error("--down-wait: expected milliseconds (0 or more), got '%s'",
                                    arg);
        o->down_wait_ms = v;
        break;
    case 'q':
        o->quiet = true;
        break;
    case 'h':
        smfc_usage(stdout);
        return 0;
    default:
        fputs("try 'smfc --help'\n", stderr);
        return 2;
    }
    return -1;
}

/* Returns -1 when the options are usable, else the exit code. */
static int smfc_parse_args(smfc_opts_t *o, int argc, char **argv)
{
    int opt;
    while ((opt = getopt_long(argc, argv, "e:j:qh", smfc_longopts, NULL)) != -1) {
        int rc = smfc_parse_opt(o, opt, optarg);
        if (rc >= 0)
            return rc;
    }
    if (o->nrcpts > SMFC_MAX_RCPTS)
        return smfc_usage_error("too many --rcpt (at most %s)", "100");
    if (optind >= argc)
        return smfc_usage_error("no PATH given: name files, folders or mbox files%s", "");
    o->paths = argv + optind;
    o->npaths = (size_t)(argc - optind);
    return -1;
}

int main(int argc, char **argv)
{
    smfc_opts_t o = {.jobs = 8,
                     .timeout_ms = 60000,
                     .down_wait_ms = 300000,
                     .direction = "inbound",
                     .ip = "127.0.0.1",
                     .helo = "localhost",
                     .client_name = "localhost",
                     .auth_user = ""};
    const char *env = getenv("SMF_ENDPOINT");
    o.endpoint = env && *env ? env : SMFC_DEFAULT_ENDPOINT;
    /* At most one recipient per argument: argc bounds the list. */
    o.rcpts = calloc((size_t)argc, sizeof *o.rcpts);
    if (!o.rcpts)
        return 75;
    int rc = smfc_parse_args(&o, argc, argv);
    if (rc < 0)
        rc = smfc_client_run(&o);
    free(o.rcpts);
    return rc;
}
