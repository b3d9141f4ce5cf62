/*
 * main.c - smfctl, the operator's tool: reads the same configuration as
 * smfd and dispatches to one command group per file.
 *
 *   smfctl [-c FILE] [-o name=value]... COMMAND [ARGS]
 */
#include "log.h"
#include "message.h"
#include "smfctl.h"
#include "xalloc.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Each command group adds one line here. */
static const smfctl_command_t commands[] = {
    {"modules", smfctl_modules,
     "modules [--json]      the configured modules: kind, version, ABI, whether policy\n"
     "                        can override them, whether they are enabled and start",
     smfctl_modules_usage},
    {"domains", smfctl_domains,
     "domains [--json] [DOMAIN...]  the policy each domain gets: stages, thresholds,\n"
     "                        actions, delivery",
     smfctl_domains_usage},
    {"list", smfctl_list, "list add|del|show|import|export ...  allow and block lists",
     smfctl_list_usage},
    {"quarantine", smfctl_quarantine, "quarantine list|show|export|release|delete|purge ...",
     smfctl_quarantine_usage},
    {"learn", smfctl_learn,
     "learn --spam|--ham [--by WHO] [--domain D] PATH...  teach the classifiers\n"
     "                        (learn --refit: refit their models only)",
     smfctl_learn_usage},
    {"unlearn", smfctl_learn, "unlearn PATH...|--all  undo what learn taught", smfctl_learn_usage},
    {"keygen", smfctl_keygen, "keygen [PREFIX]       a CURVE key pair (PREFIX.key, PREFIX.pub)",
     smfctl_keygen_usage},
    {"stats", smfctl_stats,
     "stats [--json] [--curve-key FILE]  what the running smfd has done: actions,\n"
     "                        stages, health",
     smfctl_stats_usage},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Whether stderr ends in a progress line that has no line break yet. */
static bool progress_open;

void smfctl_progress_open(bool open)
{
    progress_open = open;
}

int smfctl_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* A message written after it would be read as part of the count. */
    if (progress_open)
        fputs("\r\033[K", stderr);
    progress_open = false;
    fputs("smfctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

/*
 * Whether a command's arguments ask for its usage: --help or -h anywhere
 * before a "--", so that `smfctl list add --help` works as well as
 * `smfctl list --help`. Help is answered before the command runs: it must
 * not need a readable configuration, nor touch a store.
 */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: smfctl [-c FILE] [-o name=value]... COMMAND [ARGS]\n"
               "\n"
               "The SecureMailFlow operator's tool. It reads the same configuration as smfd.\n"
               "\n"
               "  -c FILE        configuration file (default /etc/smf/smfd.conf)\n"
               "  -o name=value  override a top-level setting, as with smfd -o\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "\n`smfctl COMMAND --help` prints the command's own usage.\n");
    fprintf(f, "\nRun as root with `user` set, list, quarantine, learn and unlearn switch to that\n"
               "user, after reading the configuration and the files named, before they open a\n"
               "store.\n");
    fprintf(f, "\nExit status: 0 success, 1 the command failed, 2 usage or configuration "
               "error.\n");
}

int main(int argc, char **argv)
{
    smfctl_t ctl = {.config = "/etc/smf/smfd.conf"};
    log_set_program("smfctl");
    ctl.overrides = xcalloc((size_t)argc + 1, sizeof(char *));
    int c;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "+c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            ctl.config = optarg;
            break;
        case 'o':
            ctl.overrides[ctl.noverrides++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    message_init();
    int rc = -1;
    for (size_t i = 0; i < NCOMMANDS && rc < 0; i++) {
        if (strcmp(argv[optind], commands[i].name) != 0)
            continue;
        if (wants_help(argc - optind, argv + optind)) {
            puts(commands[i].help);
            rc = 0;
            break;
        }
        rc = commands[i].run(&ctl, argc - optind, argv + optind);
    }
    if (rc < 0) {
        fprintf(stderr, "smfctl: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        rc = 2;
    }
    free(ctl.overrides);
    return rc;
}
