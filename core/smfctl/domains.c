/*
 * domains.c - `smfctl domains`: the policy each hosted domain gets, as the
 * engine resolves it (a domain's own policy starts from the default one
 * and changes only what it names).
 */
#include "config.h"
#include "jsontext.h"
#include "smfctl.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const direction_names[2] = {"inbound", "outbound"};

/* A threshold as the configuration reads it: a score, or off. */
static void threshold(char *buf, size_t len, double score)
{
    if (score > 0)
        snprintf(buf, len, "%g", score);
    else
        snprintf(buf, len, "off");
}

static json_t *direction_json(const config_t *c, const policy_dir_t *d)
{
    json_t *stages = json_array();
    for (size_t i = 0; i < d->nstages; i++)
        json_array_append_new(stages, json_string(c->modules[d->stages[i]].name));
    const policy_rules_t *r = &d->rules;
    json_t *o =
        json_pack("{s:o, s:f, s:f, s:f, s:s, s:s, s:s, s:s}", "stages", stages, "add_header_score",
                  r->add_header_score, "quarantine_score", r->quarantine_score, "reject_score",
                  r->reject_score, "virus_action", action_name(r->virus_action),
                  "unscannable_action", action_name(r->unscannable_action), "block_action",
                  action_name(r->block_action), "spam_action", action_name(r->spam_action));
    /* The configuration's text need not be UTF-8: jsontext_new() keeps the
     * field, each bad byte as \xHH, where json_string() would drop it. */
    json_object_set_new(o, "reject_text", jsontext_new(d->reject_text));
    return o;
}

static json_t *policy_json(const config_t *c, const char *domain, const policy_t *p)
{
    /* A domain named on the command line may not be UTF-8 either; refused
     * by json_pack(), its whole policy went missing from the list. */
    json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "domain", jsontext_new(domain), "policy",
                          jsontext_new(p->domain), "inbound", direction_json(c, &p->dir[0]),
                          "outbound", direction_json(c, &p->dir[1]));
    json_object_set_new(o, "delivery", jsontext_new(p->delivery));
    return o;
}

/* "*" when a domain's setting differs from the default policy's. */
static const char *mark(bool differs)
{
    return differs ? "*" : "";
}

static bool same_stages(const policy_dir_t *a, const policy_dir_t *b)
{
    return a->nstages == b->nstages &&
           (a->nstages == 0 || memcmp(a->stages, b->stages, a->nstages * sizeof(size_t)) == 0);
}

static void print_direction(const config_t *c, int k, const policy_dir_t *d,
                            const policy_dir_t *def)
{
    char stages[1024] = "", h[32], q[32], r[32];
    for (size_t i = 0; i < d->nstages; i++) {
        size_t used = strlen(stages);
        snprintf(stages + used, sizeof(stages) - used, "%s%s", i ? " > " : "",
                 c->modules[d->stages[i]].name);
    }
    const policy_rules_t *x = &d->rules, *y = &def->rules;
    threshold(h, sizeof(h), x->add_header_score);
    threshold(q, sizeof(q), x->quarantine_score);
    threshold(r, sizeof(r), x->reject_score);
    printf("  %-9s stages%s %s\n", direction_names[k], mark(!same_stages(d, def)),
           stages[0] ? stages : "(none)");
    printf("            add_header%s %s, quarantine%s %s, reject%s %s\n",
           mark(x->add_header_score != y->add_header_score), h,
           mark(x->quarantine_score != y->quarantine_score), q,
           mark(x->reject_score != y->reject_score), r);
    if (d->reject_text != NULL)
        printf("            reject_text%s \"%s\"\n",
               mark(def->reject_text == NULL || strcmp(d->reject_text, def->reject_text) != 0),
               d->reject_text);
    printf("            virus%s %s, unscannable%s %s, block%s %s, spam%s %s\n",
           mark(x->virus_action != y->virus_action), action_name(x->virus_action),
           mark(x->unscannable_action != y->unscannable_action), action_name(x->unscannable_action),
           mark(x->block_action != y->block_action), action_name(x->block_action),
           mark(x->spam_action != y->spam_action), action_name(x->spam_action));
}

static void print_policy(const config_t *c, const char *domain, const policy_t *p)
{
    const policy_t *def = &c->defpol;
    if (strcmp(domain, p->domain) == 0)
        printf("%s%s\n", domain, p == def ? " (every domain without a policy of its own)" : "");
    else
        printf("%s: the default policy (no policy of its own)\n", domain);
    for (int k = 0; k < 2; k++)
        print_direction(c, k, &p->dir[k], &def->dir[k]);
    bool differs = (p->delivery == NULL) != (def->delivery == NULL) ||
                   (p->delivery != NULL && strcmp(p->delivery, def->delivery) != 0);
    printf("  delivery%s  %s\n\n", mark(differs), p->delivery ? p->delivery : "(none)");
}

/* One policy, printed or added to arr (NULL: printed). */
static void show(const config_t *c, const char *name, const policy_t *p, json_t *arr)
{
    if (arr != NULL)
        json_array_append_new(arr, policy_json(c, name, p));
    else
        print_policy(c, name, p);
}

/* The name smfd looks policies up by: lower case, without a final dot. */
static void normalise(const char *in, char *out, size_t len)
{
    snprintf(out, len, "%s", in);
    for (char *s = out; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    size_t n = strlen(out);
    if (n > 1 && out[n - 1] == '.')
        out[n - 1] = '\0';
}

const char smfctl_domains_usage[] =
    "usage: smfctl domains [--json] [DOMAIN...]\n"
    "\n"
    "Without DOMAIN: the default policy and every domain's own policy. With DOMAIN: the\n"
    "policy that domain's mail gets. '*' marks a setting that differs from the default.";

int smfctl_domains(const smfctl_t *ctl, int argc, char **argv)
{
    bool as_json = false;
    int ndomains = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (argv[i][0] == '-')
            return smfctl_fail(2, "domains: unknown option '%s'\n%s", argv[i],
                               smfctl_domains_usage);
        else
            argv[++ndomains] = argv[i]; /* Domains first, in order. */
    }
    char err[2048];
    config_t *c;
    if (config_load(ctl->config, ctl->overrides, ctl->noverrides, &c, err, sizeof(err)) != 0)
        return smfctl_fail(2, "%s", err);
    json_t *arr = as_json ? json_array() : NULL;
    if (ndomains == 0) {
        /* No domain named: the default, then each policy of its own. */
        show(c, c->defpol.domain, &c->defpol, arr);
        for (size_t i = 0; i < c->npolicies; i++)
            show(c, c->policies[i].domain, &c->policies[i], arr);
    }
    for (int i = 1; i <= ndomains; i++) {
        char name[256];
        normalise(argv[i], name, sizeof(name));
        show(c, name, config_policy(c, name), arr);
    }
    if (as_json) {
        char *s = json_dumps(arr, JSON_INDENT(2));
        puts(s);
        free(s);
    }
    json_decref(arr);
    config_free(&c);
    return 0;
}
