/*
 * policy.c - the attachment module's settings per recipient domain. The
 * global options make one policy; each "DOMAIN[, DOMAIN]: key=value; ..."
 * entry (domain_policy, policy_file) starts from it and overrides some keys.
 */
#include "attachment.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest entry or policy-file line. */
#define ATT_POLICY_LINE 4096

/* Where an entry comes from, for messages: "domain_policy entry 2" or "FILE:LINE". */
typedef struct src {
    smf_init_t *init;
    char where[4200];
} src_t;

static void trim(char **s)
{
    char *end;

    while (isspace((unsigned char)**s))
        (*s)++;
    end = *s + strlen(*s);
    while (end > *s && isspace((unsigned char)end[-1]))
        *--end = '\0';
}

static void free_blocked(att_policy_t *p)
{
    for (size_t i = 0; i < p->blocked_count; i++)
        free(p->blocked[i]);
    free(p->blocked);
    p->blocked = NULL;
    p->blocked_count = 0;
}

/* Stores one blocked extension as "exe", whatever the operator wrote ("EXE", ".exe"). */
static int add_blocked(src_t *s, att_policy_t *p, const char *ext)
{
    const char *e = ext[0] == '.' ? ext + 1 : ext;
    char **n, *copy;

    if (e[0] == '\0' || strlen(e) >= 32 || strpbrk(e, "./\\ ") != NULL) {
        smf_init_fail(s->init, "%sblocked_extensions: invalid entry '%s'", s->where, ext);
        return SMF_EINVAL;
    }
    if ((n = realloc(p->blocked, (p->blocked_count + 1) * sizeof(*n))) == NULL ||
        (copy = strdup(e)) == NULL) {
        if (n != NULL)
            p->blocked = n;
        smf_init_fail(s->init, "out of memory");
        return SMF_ENOMEM;
    }
    p->blocked = n;
    for (char *c = copy; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    p->blocked[p->blocked_count++] = copy;
    return 0;
}

static int parse_action(src_t *s, const char *v, att_action_t *out)
{
    if (strcmp(v, "score") == 0)
        *out = ATT_ACTION_SCORE;
    else if (strcmp(v, "quarantine") == 0)
        *out = ATT_ACTION_QUARANTINE;
    else if (strcmp(v, "reject") == 0)
        *out = ATT_ACTION_REJECT;
    else {
        smf_init_fail(s->init, "%sblocked_action must be score, quarantine or reject, not '%s'",
                      s->where, v);
        return SMF_EINVAL;
    }
    return 0;
}

static int check_limits(src_t *s, const att_policy_t *p)
{
    if (p->archive_max_depth < 1 || p->archive_max_entries < 1 || p->archive_max_expanded < 1) {
        smf_init_fail(s->init,
                      "%sarchive_max_depth, archive_max_entries and archive_max_expanded "
                      "must be at least 1",
                      s->where);
        return SMF_EINVAL;
    }
    return 0;
}

/* The per-domain keys that hold a number, and where each is kept. */
typedef struct num_key {
    const char *name;
    size_t offset;
    int integer; /* long when set, else double. */
} num_key_t;

static const num_key_t num_keys[] = {
    {"blocked_score", offsetof(att_policy_t, blocked_score), 0},
    {"double_ext_score", offsetof(att_policy_t, double_ext_score), 0},
    {"archive_blocked_score", offsetof(att_policy_t, archive_blocked_score), 0},
    {"encrypted_score", offsetof(att_policy_t, encrypted_score), 0},
    {"type_mismatch_score", offsetof(att_policy_t, type_mismatch_score), 0},
    {"limit_score", offsetof(att_policy_t, limit_score), 0},
    {"damaged_score", offsetof(att_policy_t, damaged_score), 0},
    {"macro_score", offsetof(att_policy_t, macro_score), 0},
    {"zip_name_mismatch_score", offsetof(att_policy_t, zip_name_mismatch_score), 0},
    {"zip_concatenated_score", offsetof(att_policy_t, zip_concatenated_score), 0},
    {"html_smuggling_score", offsetof(att_policy_t, html_smuggling_score), 0},
    {"tnef_checksum_score", offsetof(att_policy_t, tnef_checksum_score), 0},
    {"archive_max_depth", offsetof(att_policy_t, archive_max_depth), 1},
    {"archive_max_entries", offsetof(att_policy_t, archive_max_entries), 1},
    {"archive_max_expanded", offsetof(att_policy_t, archive_max_expanded), 1},
};

static int set_number(src_t *s, att_policy_t *p, const num_key_t *k, const char *v)
{
    char *end;
    double d;
    long l;

    errno = 0;
    if (k->integer) {
        l = strtol(v, &end, 10);
        if (errno == 0 && end != v && *end == '\0') {
            *(long *)(void *)((char *)p + k->offset) = l;
            return 0;
        }
    } else {
        d = strtod(v, &end);
        if (errno == 0 && end != v && *end == '\0' && isfinite(d)) {
            *(double *)(void *)((char *)p + k->offset) = d;
            return 0;
        }
    }
    smf_init_fail(s->init, "%s%s: bad number '%s'", s->where, k->name, v);
    return SMF_EINVAL;
}

/* "exe, scr,js": replaces the list; an empty value blocks nothing. */
static int set_extensions(src_t *s, att_policy_t *p, char *v)
{
    int rc = 0;

    free_blocked(p);
    for (char *save = NULL, *e = strtok_r(v, ",", &save); rc == 0 && e != NULL;
         e = strtok_r(NULL, ",", &save)) {
        trim(&e);
        if (e[0] != '\0')
            rc = add_blocked(s, p, e);
    }
    return rc;
}

static int set_key(src_t *s, att_policy_t *p, const char *key, char *v)
{
    for (size_t i = 0; i < sizeof(num_keys) / sizeof(num_keys[0]); i++) {
        if (strcmp(key, num_keys[i].name) == 0)
            return set_number(s, p, &num_keys[i], v);
    }
    if (strcmp(key, "blocked_extensions") == 0)
        return set_extensions(s, p, v);
    if (strcmp(key, "blocked_action") == 0)
        return parse_action(s, v, &p->blocked_action);
    if (strcmp(key, "block_archives") == 0) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            smf_init_fail(s->init, "%sblock_archives must be true or false", s->where);
            return SMF_EINVAL;
        }
        p->block_archives = v[0] == 't';
        return 0;
    }
    smf_init_fail(s->init, "%sunknown setting '%s'", s->where, key);
    return SMF_EINVAL;
}

/* "key=value; key=value" applied to p. */
static int apply_settings(src_t *s, att_policy_t *p, char *text)
{
    int rc = 0;

    for (char *save = NULL, *kv = strtok_r(text, ";", &save); rc == 0 && kv != NULL;
         kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '='), *key = kv, *val;
        trim(&key);
        if (key[0] == '\0')
            continue;
        if (eq == NULL) {
            smf_init_fail(s->init, "%sexpected key=value, not '%s'", s->where, key);
            return SMF_EINVAL;
        }
        *eq = '\0';
        val = eq + 1;
        trim(&key);
        trim(&val);
        rc = set_key(s, p, key, val);
    }
    return rc < 0 ? rc : check_limits(s, p);
}

/* A copy of the global policy that a domain's settings then change. */
static int copy_policy(src_t *s, const att_policy_t *from, att_policy_t *to)
{
    *to = *from;
    to->blocked = NULL;
    to->blocked_count = 0;
    for (size_t i = 0; i < from->blocked_count; i++) {
        int rc = add_blocked(s, to, from->blocked[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int valid_domain(const char *d)
{
    const char *host = strncmp(d, "*.", 2) == 0 ? d + 2 : d;

    if (host[0] == '\0' || host[0] == '.')
        return 0;
    for (; *host != '\0'; host++) {
        if (!isalnum((unsigned char)*host) && *host != '-' && *host != '.')
            return 0;
    }
    return 1;
}

/* Adds one domain with its own policy; each domain may appear once. */
static int add_domain(src_t *s, att_state_t *st, const char *domain, char *settings)
{
    att_domain_t *n;
    char *copy;
    int rc;

    if (!valid_domain(domain)) {
        smf_init_fail(s->init, "%sbad domain '%s'", s->where, domain);
        return SMF_EINVAL;
    }
    for (size_t i = 0; i < st->domain_count; i++) {
        if (strcasecmp(st->domains[i].domain, domain) == 0) {
            smf_init_fail(s->init, "%sdomain '%s' has a policy already", s->where, domain);
            return SMF_EINVAL;
        }
    }
    if ((n = realloc(st->domains, (st->domain_count + 1) * sizeof(*n))) == NULL ||
        (copy = strdup(domain)) == NULL) {
        if (n != NULL)
            st->domains = n;
        smf_init_fail(s->init, "out of memory");
        return SMF_ENOMEM;
    }
    st->domains = n;
    n = &st->domains[st->domain_count++];
    memset(n, 0, sizeof(*n));
    n->domain = copy;
    for (char *c = copy; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    /* The engine names a recipient domain without its trailing dot. */
    size_t len = strlen(copy);
    if (len > 1 && copy[len - 1] == '.')
        copy[len - 1] = '\0';
    if ((rc = copy_policy(s, &st->global, &n->pol)) < 0)
        return rc;
    return apply_settings(s, &n->pol, settings);
}

/* "DOMAIN[, DOMAIN...]: settings". Each domain parses its own copy of the settings. */
static int add_entry(src_t *s, att_state_t *st, const char *entry)
{
    char line[ATT_POLICY_LINE], settings[ATT_POLICY_LINE], *colon, *domains = line;
    int rc = 0;

    if (strlen(entry) >= sizeof(line)) {
        smf_init_fail(s->init, "%stoo long", s->where);
        return SMF_EINVAL;
    }
    strcpy(line, entry);
    if ((colon = strchr(line, ':')) == NULL) {
        smf_init_fail(s->init, "%sexpected 'DOMAIN: key=value; ...'", s->where);
        return SMF_EINVAL;
    }
    *colon = '\0';
    int ndomains = 0;
    for (char *save = NULL, *d = strtok_r(domains, ", \t", &save); rc == 0 && d != NULL;
         d = strtok_r(NULL, ", \t", &save)) {
        strcpy(settings, colon + 1);
        rc = add_domain(s, st, d, settings);
        ndomains++;
    }
    /* Settings for no domain would never apply, and their typos never be seen. */
    if (rc == 0 && ndomains == 0) {
        smf_init_fail(s->init, "%sno domain before ':'", s->where);
        return SMF_EINVAL;
    }
    return rc;
}

static int load_file(src_t *s, att_state_t *st, const char *name)
{
    char path[4096], buf[ATT_POLICY_LINE];
    unsigned lineno = 0;
    int rc = 0;
    FILE *f;

    if (name[0] == '/')
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "%s/%s", smf_init_config_dir(s->init), name);
    if ((f = fopen(path, "r")) == NULL) {
        smf_init_fail(s->init, "policy_file %s: %s", path, strerror(errno));
        return SMF_EIO;
    }
    while (rc == 0 && fgets(buf, sizeof(buf), f) != NULL) {
        char *line = buf;
        lineno++;
        snprintf(s->where, sizeof(s->where), "%s:%u: ", path, lineno);
        trim(&line);
        if (line[0] != '\0' && line[0] != '#')
            rc = add_entry(s, st, line);
    }
    fclose(f);
    return rc;
}

/* The global policy: the module's options as they are. */
static int load_global(src_t *s, const att_conf_t *c, att_policy_t *p)
{
    int rc;

    *p = (att_policy_t){.blocked_score = c->blocked_score,
                        .double_ext_score = c->double_ext_score,
                        .archive_blocked_score = c->archive_blocked_score,
                        .encrypted_score = c->encrypted_score,
                        .type_mismatch_score = c->type_mismatch_score,
                        .limit_score = c->limit_score,
                        .damaged_score = c->damaged_score,
                        .macro_score = c->macro_score,
                        .zip_name_mismatch_score = c->zip_name_mismatch_score,
                        .zip_concatenated_score = c->zip_concatenated_score,
                        .html_smuggling_score = c->html_smuggling_score,
                        .tnef_checksum_score = c->tnef_checksum_score,
                        .archive_max_depth = c->archive_max_depth,
                        .archive_max_entries = c->archive_max_entries,
                        .archive_max_expanded = c->archive_max_expanded,
                        .block_archives = c->block_archives};
    for (size_t i = 0; c->blocked_extensions != NULL && c->blocked_extensions[i] != NULL; i++) {
        if ((rc = add_blocked(s, p, c->blocked_extensions[i])) < 0)
            return rc;
    }
    if ((rc = parse_action(s, c->blocked_action != NULL ? c->blocked_action : "score",
                           &p->blocked_action)) < 0)
        return rc;
    return check_limits(s, p);
}

int att_policies_load(smf_init_t *init, const att_conf_t *c, att_state_t *st)
{
    src_t s = {init, ""};
    int rc;

    if ((rc = load_global(&s, c, &st->global)) < 0)
        return rc;
    for (size_t i = 0; c->domain_policy != NULL && c->domain_policy[i] != NULL; i++) {
        snprintf(s.where, sizeof(s.where), "domain_policy entry %zu: ", i + 1);
        if ((rc = add_entry(&s, st, c->domain_policy[i])) < 0)
            return rc;
    }
    if (c->policy_file != NULL && c->policy_file[0] != '\0')
        return load_file(&s, st, c->policy_file);
    return 0;
}

void att_policies_free(att_state_t *st)
{
    free_blocked(&st->global);
    for (size_t i = 0; i < st->domain_count; i++) {
        free(st->domains[i].domain);
        free_blocked(&st->domains[i].pol);
    }
    free(st->domains);
    st->domains = NULL;
    st->domain_count = 0;
}

/* Whether "*.example.com" covers domain; returns the length of its suffix, else 0. */
static size_t wildcard_match(const char *pattern, const char *domain)
{
    size_t plen, dlen = strlen(domain);

    if (strncmp(pattern, "*.", 2) != 0)
        return 0;
    plen = strlen(pattern + 1); /* ".example.com" */
    return dlen > plen && strcasecmp(domain + dlen - plen, pattern + 1) == 0 ? plen : 0;
}

const att_policy_t *att_policy_for(const att_state_t *st, const char *domain)
{
    const att_policy_t *best = &st->global;
    size_t best_len = 0;

    for (size_t i = 0; i < st->domain_count; i++) {
        const att_domain_t *d = &st->domains[i];
        size_t n;
        if (strcasecmp(d->domain, domain) == 0)
            return &d->pol;
        /* The closest parent wins: *.mail.example.com before *.example.com. */
        if ((n = wildcard_match(d->domain, domain)) > best_len) {
            best = &d->pol;
            best_len = n;
        }
    }
    return best;
}
