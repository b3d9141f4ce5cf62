/*
 * modules.c - `smfctl modules`: what the configuration loads, and whether
 * each module starts.
 */
#include "config.h"
#include "generation.h"
#include "log.h"
#include "smfctl.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void print_row(const module_conf_t *m, const char *abi, const char *status)
{
    const smf_module_t *d = m->lib.desc;
    printf("%-12s %-11s %-9s %-5s %-15s %-8s %s\n", d->name, modload_kind_name(d->kind),
           d->version ? d->version : "-", abi, m->hard ? "no (antivirus)" : "yes",
           m->enabled ? "yes" : "no", status);
}

static json_t *row_json(const module_conf_t *m, const char *abi, const char *status, bool ok)
{
    const smf_module_t *d = m->lib.desc;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:b}", "name", d->name, "kind",
                     modload_kind_name(d->kind), "version", d->version ? d->version : "", "abi",
                     abi, "path", m->lib.path, "overridable", !m->hard, "enabled", m->enabled,
                     "status", status, "description", d->description ? d->description : "", "ok",
                     ok);
}

const char smfctl_modules_usage[] = "usage: smfctl modules [--json]";

int smfctl_modules(const smfctl_t *ctl, int argc, char **argv)
{
    bool as_json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !as_json))
        return smfctl_fail(2, "%s", smfctl_modules_usage);
    char err[2048];
    config_t *c;
    generation_t *g;
    if (config_load(ctl->config, ctl->overrides, ctl->noverrides, &c, err, sizeof(err)) != 0)
        return smfctl_fail(2, "%s", err);
    log_set_level(SMF_LOG_ERROR);
    if (generation_new(c, NULL, 0, 1, &g, err, sizeof(err)) != 0)
        return smfctl_fail(1, "%s", err);
    int rc = 0;
    json_t *arr = json_array();
    if (!as_json)
        printf("%-12s %-11s %-9s %-5s %-15s %-8s %s\n", "MODULE", "KIND", "VERSION", "ABI",
               "OVERRIDABLE", "ENABLED", "STATUS");
    for (size_t i = 0; i < g->conf->nmodules; i++) {
        const module_conf_t *m = &g->conf->modules[i];
        const char *status = g->init_errors[i] ? g->init_errors[i] : m->enabled ? "ok" : "-";
        char abi[16];
        snprintf(abi, sizeof(abi), "%u.%u", m->lib.desc->abi.major, m->lib.desc->abi.minor);
        if (g->init_errors[i] != NULL)
            rc = 1;
        if (as_json)
            json_array_append_new(arr, row_json(m, abi, status, g->init_errors[i] == NULL));
        else
            print_row(m, abi, status);
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
