/*
 * smfctl_main.c - the operator's tool. It reads the same configuration as
 * smfd and acts on the engine's modules and stores.
 *
 *   smfctl [-c FILE] [-o name=value]... modules [--json]
 */
#include "config.h"
#include "generation.h"
#include "log.h"
#include "message.h"
#include "xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: smfctl [-c FILE] [-o name=value]... COMMAND [ARGS]\n"
               "\n"
               "The SecureMailFlow operator's tool. It reads the same configuration as smfd.\n"
               "\n"
               "  -c FILE        configuration file (default /etc/smf/smfd.conf)\n"
               "  -o name=value  override a top-level setting, as with smfd -o\n"
               "\n"
               "Commands:\n"
               "  modules [--json]   list the configured modules: kind, version, ABI,\n"
               "                     whether they can be overridden by policy, whether\n"
               "                     they are enabled, and whether they start (each module\n"
               "                     is initialised once to check, e.g. that the antivirus\n"
               "                     stage finds its signatures)\n"
               "\n"
               "Exit status: 0 success, 1 a module cannot start or the command failed,\n"
               "2 usage or configuration error.\n");
}

static int cmd_modules(const char *config, char **ov, size_t nov, bool as_json)
{
    char err[2048];
    config_t *c;
    generation_t *g;
    if (config_load(config, ov, nov, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "smfctl: %s\n", err);
        return 2;
    }
    log_set_level(SMF_LOG_ERROR);
    if (generation_new(c, NULL, 0, 1, &g, err, sizeof(err)) != 0) {
        fprintf(stderr, "smfctl: %s\n", err);
        return 1;
    }
    int rc = 0;
    json_t *arr = json_array();
    if (!as_json)
        printf("%-12s %-11s %-9s %-5s %-15s %-8s %s\n", "MODULE", "KIND", "VERSION", "ABI",
               "OVERRIDABLE", "ENABLED", "STATUS");
    for (size_t i = 0; i < g->conf->nmodules; i++) {
        const module_conf_t *m = &g->conf->modules[i];
        const smf_module_t *d = m->lib.desc;
        const char *status = g->init_errors[i] ? g->init_errors[i] : m->enabled ? "ok" : "-";
        if (g->init_errors[i])
            rc = 1;
        char abi[16];
        snprintf(abi, sizeof(abi), "%u.%u", d->abi.major, d->abi.minor);
        if (as_json) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:b}", "name",
                               d->name, "kind", modload_kind_name(d->kind), "version",
                               d->version ? d->version : "", "abi", abi, "path", m->lib.path,
                               "overridable", !m->hard, "enabled", m->enabled, "status", status,
                               "description", d->description ? d->description : "", "ok",
                               g->init_errors[i] == NULL));
        } else {
            printf("%-12s %-11s %-9s %-5s %-15s %-8s %s\n", d->name, modload_kind_name(d->kind),
                   d->version ? d->version : "-", abi, m->hard ? "no (antivirus)" : "yes",
                   m->enabled ? "yes" : "no", status);
        }
    }
    if (as_json) {
        char *s = json_dumps(arr, JSON_INDENT(2));
        puts(s);
        free(s);
    }
    json_decref(arr);
    generation_release(&g);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config = "/etc/smf/smfd.conf";
    char **ov = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t nov = 0;
    int c;
    while ((c = getopt(argc, argv, "+c:o:h")) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'o':
            ov[nov++] = optarg;
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
    const char *cmd = argv[optind];
    int rc;
    if (strcmp(cmd, "modules") == 0) {
        bool as_json = optind + 1 < argc && strcmp(argv[optind + 1], "--json") == 0;
        rc = cmd_modules(config, ov, nov, as_json);
    } else {
        fprintf(stderr, "smfctl: unknown command '%s'\n", cmd);
        usage(stderr);
        rc = 2;
    }
    free(ov);
    return rc;
}
