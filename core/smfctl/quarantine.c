/*
 * quarantine.c - `smfctl quarantine`: list, show, export, release, delete
 * and purge the per-domain quarantine stores that smfd writes. It works on
 * the stores directly, beside a running smfd, and publishes no events.
 */
#include "clock.h"
#include "config.h"
#include "idna.h"
#include "jsontext.h"
#include "log.h"
#include "protocol.h"
#include "quarantine.h"
#include "smfctl.h"
#include "smtp_client.h"
#include "xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* How long release waits for the delivery host at each step. */
#define RELEASE_TIMEOUT_MS 30000

const char smfctl_quarantine_usage[] =
    "usage: smfctl quarantine list [--domain D] [--since TIME] [--rcpt ADDR] [--json]\n"
    "       smfctl quarantine show ID [--domain D] [--json]\n"
    "       smfctl quarantine export ID [--domain D]\n"
    "       smfctl quarantine release ID [--domain D] [--learn-ham]\n"
    "       smfctl quarantine delete ID [--domain D] [--learn-spam]\n"
    "       smfctl quarantine purge --older-than DAYS\n"
    "TIME: 2024-05-01, 2024-05-01T12:00[:00][Z] (UTC), or 30m, 2h, 3d, 1w ago\n"
    "list --json prints one JSON object per entry and line (JSON Lines), as smfc\n"
    "--json does; show --json prints one document with every domain's copy.\n"
    "purge deletes every domain's entries stored more than DAYS days ago, released\n"
    "ones included, for good; --older-than 0 deletes every entry.";

/* ---- arguments ------------------------------------------------------ */

enum {
    A_ID = 1,
    A_DOMAIN = 2,
    A_SINCE = 4,
    A_RCPT = 8,
    A_JSON = 16,
    A_OLDER = 32,
    A_LEARN = 64,
    A_LEARN_SPAM = 128
};

typedef struct args {
    const char *id, *domain, *since, *rcpt, *older;
    bool json;
    bool learn_ham;  /* release: teach the classifiers the message was ham */
    bool learn_spam; /* delete: teach them it was spam */
} args_t;

/* "--name VALUE" or "--name=VALUE"; advances *i past what it used. */
static const char *opt_value(const char *name, int argc, char **argv, int *i)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int parse_args(int argc, char **argv, unsigned allowed, args_t *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((allowed & A_JSON) && strcmp(argv[i], "--json") == 0)
            a->json = true;
        else if ((allowed & A_LEARN) && strcmp(argv[i], "--learn-ham") == 0)
            a->learn_ham = true;
        else if ((allowed & A_LEARN_SPAM) && strcmp(argv[i], "--learn-spam") == 0)
            a->learn_spam = true;
        else if ((allowed & A_DOMAIN) && (v = opt_value("--domain", argc, argv, &i)))
            a->domain = v;
        else if ((allowed & A_SINCE) && (v = opt_value("--since", argc, argv, &i)))
            a->since = v;
        else if ((allowed & A_RCPT) && (v = opt_value("--rcpt", argc, argv, &i)))
            a->rcpt = v;
        else if ((allowed & A_OLDER) && (v = opt_value("--older-than", argc, argv, &i)))
            a->older = v;
        else if ((allowed & A_ID) && a->id == NULL && argv[i][0] != '-')
            a->id = argv[i];
        else
            return -1;
    }
    if ((allowed & A_ID) && a->id == NULL)
        return -1;
    return (allowed & A_OLDER) && a->older == NULL ? -1 : 0;
}

/* "3d", "2h", "30m", "45s", "1w": that long before now. */
static int parse_relative(const char *s, int64_t now, int64_t *out)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0 || end[0] == '\0' || end[1] != '\0')
        return -1;
    static const char units[] = "smhdw";
    static const int64_t ms[] = {1000, 60000, 3600000, 86400000, 604800000};
    const char *u = strchr(units, end[0]);
    if (u == NULL || end[0] == '\0' || n > INT64_MAX / ms[4])
        return -1;
    *out = now - n * ms[u - units];
    return 0;
}

/* An ISO date or date and time, read as UTC; a trailing Z is allowed. */
static int parse_iso(const char *s, int64_t *out)
{
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                                          "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm = {0};
        const char *end = strptime(s, formats[i], &tm);
        if (end != NULL && (end[0] == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
            *out = (int64_t)timegm(&tm) * 1000;
            return 0;
        }
    }
    return -1;
}

static int parse_time(const char *s, int64_t *out)
{
    return parse_relative(s, clock_wall_ms(), out) == 0 ? 0 : parse_iso(s, out);
}

static const char *iso_time(int64_t ms, char buf[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* ---- the store -------------------------------------------------------- */

typedef struct store {
    const smfctl_t *ctl;
    config_t *conf;
    quarantine_t *q;
} store_t;

static int store_open(const smfctl_t *ctl, store_t *s)
{
    char err[2048];
    memset(s, 0, sizeof(*s));
    s->ctl = ctl;
    if (config_load(ctl->config, ctl->overrides, ctl->noverrides, &s->conf, err, sizeof(err)) != 0)
        return smfctl_fail(2, "%s", err);
    int rc = smfctl_become_user(s->conf);
    if (rc != 0) {
        config_free(&s->conf);
        return rc;
    }
    log_set_level(SMF_LOG_ERROR);
    if (quarantine_open(s->conf->quarantine_dir, &s->q, err, sizeof(err)) != 0) {
        config_free(&s->conf);
        return smfctl_fail(1, "%s", err);
    }
    quarantine_set_mapsize(s->q, s->conf->quarantine_map_size);
    return 0;
}

static void store_close(store_t *s)
{
    quarantine_close(&s->q);
    config_free(&s->conf);
}

/* The store's name of a domain given on the command line, which names it as
 * the engine does a recipient's ("Bücher.example." is xn--bcher-kva.example). */
static const char *domain_arg(const char *d, char buf[256])
{
    char name[1024];
    if (d != NULL && idna_domain(d, strlen(d), name, sizeof(name)) >= 0)
        d = name;
    /* A name the engine cannot make a folder of is kept with the invalid ones. */
    return d ? quarantine_domain_name(d, buf) : NULL;
}

/* ---- list ------------------------------------------------------------- */

typedef struct lister {
    const char *rcpt;
    bool json;
    size_t count;
} lister_t;

static bool has_rcpt(const json_t *meta, const char *rcpt)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(meta, "recipients"), i, r)
    {
        if (json_is_string(r) && strcasecmp(json_string_value(r), rcpt) == 0)
            return true;
    }
    return false;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The addresses of the metadata's array key, comma-separated. */
static char *addresses_text(const json_t *meta, const char *key)
{
    size_t i, len = 1;
    json_t *r;
    json_t *list = json_object_get(meta, key);
    json_array_foreach(list, i, r) len +=
        strlen(json_string_value(r) ? json_string_value(r) : "") + 2;
    char *s = xcalloc(1, len);
    json_array_foreach(list, i, r)
    {
        if (i > 0)
            strcat(s, ",");
        strcat(s, json_string_value(r) ? json_string_value(r) : "");
    }
    return s;
}

static char *rcpt_text(const json_t *meta)
{
    return addresses_text(meta, "recipients");
}

/*
 * The text of a printout, escaped for the terminal (smfctl_text): most of
 * what a store holds came from the mail's sender. The copies are freed
 * together once the printout is done.
 */
typedef struct shown {
    char **v;
    size_t n;
} shown_t;

static const char *shown(shown_t *sh, const char *s)
{
    sh->v = xrealloc(sh->v, (sh->n + 1) * sizeof(char *));
    return sh->v[sh->n++] = smfctl_text(s);
}

static void shown_free(shown_t *sh)
{
    for (size_t i = 0; i < sh->n; i++)
        free(sh->v[i]);
    free(sh->v);
    sh->v = NULL;
    sh->n = 0;
}

static void print_row(const char *domain, const char *id, int64_t t, size_t size,
                      const json_t *meta)
{
    char tb[32], *to = rcpt_text(meta);
    const char *sender = jstr(meta, "sender");
    shown_t sh = {0};
    printf("%-20s %-20s %-20s %8zu %-11s %-24s %-24s %s\n", shown(&sh, id), shown(&sh, domain),
           iso_time(t, tb), size, shown(&sh, jstr(meta, "state")),
           shown(&sh, sender[0] ? sender : "<>"), shown(&sh, to), shown(&sh, jstr(meta, "reason")));
    shown_free(&sh);
    free(to);
}

/* One entry as smfctl shows it in JSON: the stored metadata plus where and when. */
static json_t *entry_json(const char *domain, const char *id, int64_t t, size_t size, json_t *meta)
{
    char tb[32];
    json_t *o = json_is_object(meta) ? json_deep_copy(meta) : json_object();
    json_object_set_new(o, "id", jsontext_new(id));
    json_object_set_new(o, "domain", jsontext_new(domain));
    json_object_set_new(o, "time", json_integer(t));
    json_object_set_new(o, "time_iso", json_string(iso_time(t, tb)));
    json_object_set_new(o, "size", json_integer((json_int_t)size));
    return o;
}

/*
 * One entry as one compact line (JSON Lines), as `smfc --json` prints its
 * verdicts: a script reads entries as they come and a long list is never
 * held whole. Takes o.
 */
static void print_json_line(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    if (text != NULL)
        puts(text);
    free(text);
    json_decref(o);
}

static int list_one(const char *domain, const char *id, int64_t t, size_t size, const char *mj,
                    void *arg)
{
    lister_t *l = arg;
    json_t *meta = json_loads(mj, 0, NULL);
    if (l->rcpt == NULL || has_rcpt(meta, l->rcpt)) {
        if (l->json)
            print_json_line(entry_json(domain, id, t, size, meta));
        else
            print_row(domain, id, t, size, meta);
        l->count++;
    }
    json_decref(meta);
    return 0;
}

static int cmd_list(store_t *s, const args_t *a)
{
    int64_t since = 0;
    if (a->since != NULL && parse_time(a->since, &since) != 0)
        return smfctl_fail(2,
                           "--since %s: expected a date (2024-05-01, 2024-05-01T12:00Z) or an "
                           "age (30m, 2h, 3d, 1w)",
                           a->since);
    char dbuf[256];
    const char *domain = domain_arg(a->domain, dbuf);
    /* A recipient lives in its own domain's store only. */
    const char *at = a->rcpt ? strrchr(a->rcpt, '@') : NULL;
    if (domain == NULL && at != NULL)
        domain = domain_arg(at + 1, dbuf);
    lister_t l = {.rcpt = a->rcpt, .json = a->json};
    if (!a->json)
        printf("%-20s %-20s %-20s %8s %-11s %-24s %-24s %s\n", "ID", "DOMAIN", "TIME", "SIZE",
               "STATE", "FROM", "TO", "REASON");
    int rc = quarantine_list(s->q, domain, since, list_one, &l);
    if (rc == SMF_ENOENT)
        rc = 0; /* No store for that domain yet: nothing quarantined. */
    if (rc != 0)
        return smfctl_fail(1, "cannot list the quarantine: %s", smf_strerror(rc));
    /* A full disk or a closed pipe shows only when the buffer is written. */
    if (fflush(stdout) != 0 || ferror(stdout))
        return smfctl_fail(1, "standard output: %s", strerror(errno));
    return 0;
}

/* ---- finding an entry ------------------------------------------------- */

/* One domain's copy of an entry. */
typedef struct copy {
    char domain[256];
    char *meta;
    json_t *json;
    char *raw;
    size_t raw_len;
} copy_t;

typedef struct copies {
    copy_t *v;
    size_t n;
    bool unread; /* A store could not be read: the copies may not be all. */
} copies_t;

static int dir_filter(const struct dirent *d)
{
    return d->d_name[0] != '.' && (d->d_type == DT_DIR || d->d_type == DT_UNKNOWN) &&
           quarantine_is_domain_folder(d->d_name);
}

static void add_copy(store_t *s, copies_t *c, const char *domain, const char *id, bool raw)
{
    copy_t k = {0};
    int rc = quarantine_get(s->q, domain, id, &k.meta, raw ? &k.raw : NULL, raw ? &k.raw_len : NULL,
                            NULL);
    if (rc == SMF_EIO)
        c->unread = true; /* The store said why on stderr. */
    if (rc != 0)
        return;
    snprintf(k.domain, sizeof(k.domain), "%s", domain);
    k.json = json_loads(k.meta, 0, NULL);
    c->v = xrealloc(c->v, (c->n + 1) * sizeof(copy_t));
    c->v[c->n++] = k;
}

static void add_every_copy(store_t *s, copies_t *c, const char *id, bool raw)
{
    struct dirent **names;
    int n = scandir(s->conf->quarantine_dir, &names, dir_filter, alphasort);
    if (n < 0) {
        smfctl_fail(1, "cannot read the quarantine folder %s: %s", s->conf->quarantine_dir,
                    strerror(errno));
        c->unread = true;
        return;
    }
    for (int i = 0; i < n; i++) {
        add_copy(s, c, names[i]->d_name, id, raw);
        free(names[i]);
    }
    free(names);
}

/* Every domain's copy of id, or only the named domain's. */
static int find_copies(store_t *s, const args_t *a, bool raw, copies_t *c)
{
    char dbuf[256];
    memset(c, 0, sizeof(*c));
    if (a->domain != NULL)
        add_copy(s, c, domain_arg(a->domain, dbuf), a->id, raw);
    else
        add_every_copy(s, c, a->id, raw);
    if (c->n > 0)
        return 0;
    if (c->unread)
        return smfctl_fail(1,
                           "%s not found in the stores that could be read; see above why the "
                           "others could not",
                           a->id);
    return smfctl_fail(1, "no quarantined message %s%s%s", a->id, a->domain ? " for " : "",
                       a->domain ? a->domain : "");
}

static void free_copies(copies_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].meta);
        free(c->v[i].raw);
        json_decref(c->v[i].json);
    }
    free(c->v);
}

/* ---- show ------------------------------------------------------------- */

/* A header's value as stored (unfolded, not decoded), or "". */
static void header_value(const char *raw, size_t len, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name), o = 0;
    bool in = false;
    for (size_t i = 0; i < len;) {
        const char *line = raw + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) + 1 : len - i;
        i += ll;
        if (line[0] == '\n' || line[0] == '\r')
            break; /* The blank line that ends the header. */
        bool cont = line[0] == ' ' || line[0] == '\t';
        if (in && !cont)
            break;
        if (!in && !cont && ll > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            in = true;
            line += n + 1;
            ll -= n + 1;
        } else if (!in) {
            continue;
        }
        for (size_t k = 0; k < ll && o + 1 < outlen; k++) {
            char ch = line[k] == '\t' ? ' ' : line[k];
            if (ch != '\r' && ch != '\n' && (o > 0 || ch != ' '))
                out[o++] = ch;
        }
    }
    out[o] = '\0';
}

static void print_symbols(const json_t *meta)
{
    size_t i;
    json_t *sym;
    json_array_foreach(json_object_get(meta, "symbols"), i, sym)
    {
        shown_t sh = {0};
        printf("%-12s%s %.2f %s%s%s\n", i == 0 ? "symbols" : "", shown(&sh, jstr(sym, "name")),
               json_number_value(json_object_get(sym, "score")), shown(&sh, jstr(sym, "module")),
               jstr(sym, "detail")[0] ? " " : "", shown(&sh, jstr(sym, "detail")));
        shown_free(&sh);
    }
}

static void show_text(const copy_t *c, const char *id, int64_t time_ms)
{
    char tb[32], from[256], subject[512], *to = rcpt_text(c->json);
    const json_t *m = c->json;
    shown_t sh = {0};
    header_value(c->raw, c->raw_len, "From", from, sizeof(from));
    header_value(c->raw, c->raw_len, "Subject", subject, sizeof(subject));
    printf("%-12s%s\n%-12s%s\n%-12s%s\n%-12s%zu bytes\n", "id", shown(&sh, id), "domain",
           shown(&sh, c->domain), "time", iso_time(time_ms, tb), "size", c->raw_len);
    printf("%-12s%s\n", "state", shown(&sh, jstr(m, "state")));
    json_t *st = json_object_get(m, "state_time_ms");
    if (json_is_integer(st))
        printf("%-12s%s\n", "state time", iso_time(json_integer_value(st), tb));
    printf("%-12s%s\n%-12s%s\n%-12s%s\n", "reason", shown(&sh, jstr(m, "reason")), "direction",
           shown(&sh, jstr(m, "direction")), "sender",
           shown(&sh, jstr(m, "sender")[0] ? jstr(m, "sender") : "<>"));
    printf("%-12s%s\n", "recipients", shown(&sh, to));
    /* A release that reached only some of them says whom: the next goes to the others. */
    if (json_array_size(json_object_get(m, "delivered_to")) > 0) {
        char *got = addresses_text(m, "delivered_to");
        printf("%-12s%s\n", "delivered", shown(&sh, got));
        free(got);
    }
    printf("%-12s%s (helo %s)\n", "client", shown(&sh, jstr(m, "client_ip")),
           shown(&sh, jstr(m, "helo")));
    if (json_is_string(json_object_get(m, "virus")))
        printf("%-12s%s\n", "virus", shown(&sh, jstr(m, "virus")));
    printf("%-12s%.2f\n%-12s%s\n%-12s%s\n", "score", json_number_value(json_object_get(m, "score")),
           "From:", shown(&sh, from), "Subject:", shown(&sh, subject));
    shown_free(&sh);
    print_symbols(m);
    free(to);
}

static int cmd_show(store_t *s, const args_t *a)
{
    copies_t c;
    if (find_copies(s, a, true, &c) != 0)
        return 1;
    json_t *arr = json_array();
    for (size_t i = 0; i < c.n; i++) {
        /* The copy's time, by its id (the stores are keyed by id). */
        int64_t time_ms;
        quarantine_time(s->q, c.v[i].domain, a->id, &time_ms);
        if (a->json) {
            json_t *o = entry_json(c.v[i].domain, a->id, time_ms, c.v[i].raw_len, c.v[i].json);
            char subject[512];
            header_value(c.v[i].raw, c.v[i].raw_len, "Subject", subject, sizeof(subject));
            /* JSON holds UTF-8 only: an 8-bit Subject (or one cut inside a
             * character) keeps its other characters, each bad byte as \xHH,
             * rather than going missing. */
            json_object_set_new(o, "subject", jsontext_new(subject));
            json_array_append_new(arr, o);
        } else {
            if (i > 0)
                putchar('\n');
            show_text(&c.v[i], a->id, time_ms);
        }
    }
    if (a->json) {
        char *out = json_dumps(arr, JSON_INDENT(2));
        puts(out ? out : "[]");
        free(out);
    }
    json_decref(arr);
    /* What was shown may be only some of the domains' copies. */
    int rc = c.unread ? 1 : 0;
    free_copies(&c);
    return rc;
}

/* ---- export ----------------------------------------------------------- */

static int cmd_export(store_t *s, const args_t *a)
{
    char dbuf[256], *raw;
    size_t len;
    int rc = quarantine_get(s->q, domain_arg(a->domain, dbuf), a->id, NULL, &raw, &len, NULL);
    if (rc == SMF_ENOENT || rc == SMF_EINVAL)
        return smfctl_fail(1, "no quarantined message %s%s%s", a->id, a->domain ? " for " : "",
                           a->domain ? a->domain : "");
    if (rc != 0)
        return smfctl_fail(1, "cannot read %s: %s", a->id, smf_strerror(rc));
    size_t w = fwrite(raw, 1, len, stdout);
    free(raw);
    if (w != len || fflush(stdout) != 0)
        return smfctl_fail(1, "cannot write the message to standard output");
    return 0;
}

/* ---- release ---------------------------------------------------------- */

/*
 * Whether an address read back from a record is not the one that was sent:
 * a front end writes each byte that is not UTF-8 as \xHH (docs/protocol.md),
 * and smf-milter once wrote it as U+FFFD, which copies quarantined then
 * still keep. No mailbox is named with U+FFFD.
 */
static bool inexact(const char *a)
{
    return a != NULL && (jsontext_has_escape(a) || strstr(a, "\xef\xbf\xbd") != NULL);
}

/* Whether the metadata lists the copy's recipients as release needs them:
 * one address or more, each a string. Only a store damaged on disk, or
 * written by another program, holds anything else. */
static bool recipients_listed(const json_t *m)
{
    const json_t *list = json_object_get(m, "recipients");
    size_t i;
    json_t *r;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return false;
    json_array_foreach(list, i, r)
    {
        if (!json_is_string(r) || json_string_length(r) == 0)
            return false;
    }
    return true;
}

/*
 * The first address of the envelope that release must not use, or NULL:
 * read back, it is another address, and mail sent to it could reach
 * someone else or bounce.
 */
static const char *inexact_address(const json_t *m)
{
    if (inexact(jstr(m, "sender")))
        return jstr(m, "sender");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(m, "recipients"), i, r)
    {
        if (inexact(json_string_value(r)))
            return json_string_value(r);
    }
    return NULL;
}

/* Says why smtp_send() did not deliver a copy: why, escaped for the terminal. */
static void release_failed(int rc, const char *id, const char *domain, const char *why,
                           const char *target)
{
    /* Released again, a message the host did take would arrive twice. */
    if (rc == SMF_ETIMEDOUT)
        smfctl_fail(1,
                    "%s (%s) may have been delivered: %s; it stays quarantined, not marked "
                    "released: look for it in the log of %s before releasing it again",
                    id, domain, why, target);
    else if (rc == SMF_EIO)
        smfctl_fail(1,
                    "%s (%s) not released, it stays quarantined: %s (is %s the domain's "
                    "delivery host, listening and without smf-milter? see docs/postfix.md)",
                    id, domain, why, target);
    else
        smfctl_fail(1, "%s (%s) not released, it stays quarantined: %s", id, domain, why);
}

/*
 * Where a copy is delivered: its domain's policy's delivery host. The copy
 * of the domains that cannot name a folder holds recipients of several,
 * and each may have a policy of its own (a name with '_'): it goes where
 * all of theirs send it, and nowhere when they differ (NULL).
 */
static const char *copy_target(const store_t *s, const copy_t *c, const char *const *rcpt, size_t n)
{
    if (strcmp(c->domain, QUARANTINE_INVALID_DOMAIN) != 0)
        return config_policy(s->conf, c->domain)->delivery;
    arena_t *a = arena_new(1024);
    const char *target = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = config_policy(s->conf, protocol_rcpt_domain(a, rcpt[i]))->delivery;
        if (target != NULL && strcmp(target, t) != 0) {
            target = NULL;
            break;
        }
        target = t;
    }
    arena_destroy(&a);
    return n == 0 ? config_policy(s->conf, c->domain)->delivery : target;
}

/* Whether an earlier release delivered the copy to rcpt already. */
static bool delivered_before(const json_t *m, const char *rcpt)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(m, "delivered_to"), i, r)
    {
        if (json_is_string(r) && strcmp(json_string_value(r), rcpt) == 0)
            return true;
    }
    return false;
}

/* One line of a partial release's report: the recipient and what became of it. */
static void report_rcpt(const char *what, const char *rcpt, const char *why)
{
    char *shown_rcpt = smfctl_text(rcpt), *shown_why = smfctl_text(why ? why : "");
    smfctl_fail(1, "  %s %s%s%s", what, shown_rcpt, why ? ": " : "", shown_why);
    free(shown_rcpt);
    free(shown_why);
}

/* When the host refused several recipients one by one, each refusal is
 * quoted, since they may differ (one mailbox full, another unknown); false,
 * and nothing said, otherwise. */
static bool refused_each(const char *id, const char *domain, const char *target,
                         const char *const *rcpt, const smtp_rcpt_result_t *res, size_t n)
{
    size_t refused = 0;
    for (size_t i = 0; i < n; i++)
        refused += res[i].state == SMTP_RCPT_REFUSED;
    if (refused < 2)
        return false;
    smfctl_fail(1,
                "%s (%s) not released, it stays quarantined: %s refused %zu of its %zu "
                "recipient(s):",
                id, domain, target, refused, n);
    for (size_t i = 0; i < n; i++)
        if (res[i].state == SMTP_RCPT_REFUSED)
            report_rcpt("not delivered to", rcpt[i], res[i].reply);
        else
            report_rcpt("not delivered to", rcpt[i], NULL);
    return true;
}

/* Who got a copy, recorded after each transaction the host accepted (see
 * smtp_mail_t.delivered): a release stopped midway, by a signal or a lost
 * connection, leaves a record of the recipients that have the message. */
typedef struct delivery_record {
    store_t *s;
    const copy_t *c;
    const char *id;
    const char *const *rcpt;
    int rc; /* The first failure to record, or 0. */
} delivery_record_t;

static void record_delivered(void *arg, const size_t *idx, size_t n)
{
    delivery_record_t *d = arg;
    const char **got = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        got[i] = d->rcpt[idx[i]];
    int rc = quarantine_mark_delivered(d->s->q, d->c->domain, d->id, got, n);
    if (rc != 0 && d->rc == 0)
        d->rc = rc;
    free(got);
}

/*
 * Says what a release that reached some recipients and not the others did:
 * who got the message, who did not and why, and who may have. Those that
 * got it were recorded (record_rc says whether that failed), so that
 * releasing the copy again sends it to the others only; those that may
 * have are not, and the operator is told to look before releasing it again.
 */
static int release_partly(const copy_t *c, const char *id, const char *target,
                          const char *const *rcpt, const smtp_rcpt_result_t *res, size_t n,
                          const char *why, int record_rc)
{
    size_t ngot = 0, nunknown = 0;
    for (size_t i = 0; i < n; i++) {
        ngot += res[i].state == SMTP_RCPT_DELIVERED;
        nunknown += res[i].state == SMTP_RCPT_UNKNOWN;
    }
    smfctl_fail(1,
                "%s (%s) delivered to %zu of its %zu recipient(s) not yet delivered to by %s; "
                "it stays quarantined, and releasing it again sends it to the others only:",
                id, c->domain, ngot, n, target);
    for (size_t i = 0; i < n; i++) {
        if (res[i].state == SMTP_RCPT_DELIVERED)
            report_rcpt("delivered to", rcpt[i], NULL);
        else if (res[i].state == SMTP_RCPT_REFUSED)
            report_rcpt("not delivered to", rcpt[i], res[i].reply);
        else if (res[i].state == SMTP_RCPT_UNKNOWN)
            report_rcpt("may have been delivered to", rcpt[i], why);
        else
            report_rcpt("not delivered to", rcpt[i], why);
    }
    if (nunknown > 0)
        smfctl_fail(1,
                    "look for the message in the log of %s before releasing it again, or those "
                    "that may have it may get it twice",
                    target);
    if (record_rc != 0)
        smfctl_fail(1,
                    "%s (%s): cannot record whom it was delivered to: %s; releasing it again "
                    "would send it to them twice: export it and deliver it by hand to the others",
                    id, c->domain, smf_strerror(record_rc));
    return 1;
}

/* Marks a copy that every recipient got released. */
static int release_done(store_t *s, const copy_t *c, const char *id, const char *target, size_t n,
                        size_t before)
{
    int rc = quarantine_mark(s->q, c->domain, id, "released");
    if (rc != 0)
        return smfctl_fail(1, "%s (%s) was delivered to %s but cannot be marked released: %s", id,
                           c->domain, target, smf_strerror(rc));
    printf("released %s (%s): %zu recipient(s) to %s", id, c->domain, n, target);
    if (before > 0)
        printf(", %zu more by an earlier release", before);
    putchar('\n');
    return 0;
}

/*
 * Delivers one domain's copy to that domain's delivery host, to each
 * recipient an earlier release did not deliver it to. It is marked released
 * once every recipient got it.
 */
static int release_copy(store_t *s, const copy_t *c, const char *id)
{
    const json_t *m = c->json;
    if (!json_is_object(m))
        return smfctl_fail(1, "%s (%s): damaged metadata, not released", id, c->domain);
    if (!recipients_listed(m))
        return smfctl_fail(1,
                           "%s (%s): damaged metadata, not released: its recipients are not a "
                           "list of addresses; export the message and deliver it by hand",
                           id, c->domain);
    if (strcmp(jstr(m, "state"), "released") == 0)
        return smfctl_fail(1, "%s (%s) was already released; export it to send it again", id,
                           c->domain);
    const char *bad = inexact_address(m);
    if (bad != NULL) {
        char *shown_bad = smfctl_text(bad);
        smfctl_fail(1,
                    "%s (%s) not released, it stays quarantined: the address %s was not UTF-8 "
                    "and is kept with its bad bytes written another way, not as sent; export "
                    "the message and deliver it by hand",
                    id, c->domain, shown_bad);
        free(shown_bad);
        return 1;
    }
    const json_t *list = json_object_get(m, "recipients");
    size_t n = json_array_size(list), npending = 0;
    const char **rcpt = xcalloc(n + 1, sizeof(char *));
    const char **pending = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        rcpt[i] = json_string_value(json_array_get(list, i));
        if (rcpt[i] == NULL || !delivered_before(m, rcpt[i]))
            pending[npending++] = rcpt[i];
    }
    const char *target = copy_target(s, c, rcpt, n);
    free(rcpt);
    if (target == NULL) {
        free(pending);
        return smfctl_fail(1,
                           "%s (%s) not released, it stays quarantined: its recipients' domains "
                           "have policies that deliver to different hosts; export the message "
                           "and deliver it by hand",
                           id, c->domain);
    }
    /* Every recipient got it, but the copy could not be marked released then. */
    if (n > 0 && npending == 0) {
        free(pending);
        return release_done(s, c, id, target, 0, n);
    }
    smtp_rcpt_result_t *res = xcalloc(npending + 1, sizeof(*res));
    delivery_record_t record = {s, c, id, pending, 0};
    smtp_mail_t mail = {.sender = jstr(m, "sender"),
                        .rcpt = pending,
                        .nrcpt = npending,
                        .data = c->raw,
                        .len = c->raw_len,
                        .result = res,
                        .delivered = record_delivered,
                        .delivered_arg = &record};
    char err[1024];
    int rc = smtp_send(target, &mail, RELEASE_TIMEOUT_MS, err, sizeof(err));
    bool some = false;
    for (size_t i = 0; i < npending; i++)
        some |= res[i].state == SMTP_RCPT_DELIVERED;
    /* The reason quotes the envelope, the sender's to choose, and the
     * server's reply, which may quote it again. */
    char *why = smfctl_text(err);
    if (rc == 0)
        rc = release_done(s, c, id, target, npending, n - npending);
    else if (some)
        rc = release_partly(c, id, target, pending, res, npending, err, record.rc);
    else {
        if (!refused_each(id, c->domain, target, pending, res, npending))
            release_failed(rc, id, c->domain, why, target);
        rc = 1;
    }
    free(why);
    free(res);
    free(pending);
    return rc;
}

/*
 * An operator's judgement of a quarantined message: a released one was
 * wrongly held (--learn-ham), a deleted one rightly (--learn-spam). The
 * classifiers learn it through `smfctl learn` itself, so that the same
 * registry keeps it idempotent and records who taught it; the domain whose
 * quarantine held it is the domain it is taught for.
 */
static int learn_copy(store_t *s, const copy_t *c, const char *id, bool spam)
{
    char path[] = "/tmp/smf-quarantine.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return smfctl_fail(1, "%s: cannot write a temporary file to learn from: %m", id);
    FILE *f = fdopen(fd, "wb");
    size_t w = fwrite(c->raw, 1, c->raw_len, f);
    int closed = fclose(f);
    int rc = 1;
    if (w == c->raw_len && closed == 0) {
        char *argv[] = {"learn",    spam ? "--spam" : "--ham",
                        "--by",     spam ? "quarantine-delete" : "quarantine-release",
                        "--domain", (char *)c->domain,
                        path,       NULL};
        rc = smfctl_learn_as(s->ctl, 7, argv, true);
    }
    unlink(path);
    return rc;
}

/*
 * Releases take turns: two operators releasing one message at once would
 * both read "quarantined", both deliver, and the recipient get it twice.
 * The lock is a dot-file, which no listing takes for a domain's folder.
 */
static int release_lock(const store_t *s)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/.release.lock", s->conf->quarantine_dir);
    /* Never through a link: quarantine_dir is smfd's user's to write. */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return smfctl_fail(-1, "cannot open %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            smfctl_fail(0, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

static int cmd_release(store_t *s, const args_t *a)
{
    copies_t c;
    int lock = release_lock(s);
    if (lock < 0)
        return 1;
    /* Read under the lock, so that a release that just finished shows. */
    if (find_copies(s, a, true, &c) != 0) {
        close(lock);
        return 1;
    }
    int status = c.unread ? 1 : 0; /* A copy in an unread store stays held. */
    bool learned = false;          /* Each domain's copy is the same message: learn it once. */
    for (size_t i = 0; i < c.n; i++) {
        if (release_copy(s, &c.v[i], a->id) != 0) {
            status = 1;
        } else if (a->learn_ham && !learned) {
            learned = true;
            status |= learn_copy(s, &c.v[i], a->id, false);
        }
    }
    free_copies(&c);
    close(lock);
    return status;
}

/* ---- delete and purge ------------------------------------------------- */

/* Teaches the classifiers a quarantined message was spam, before it goes. */
static int learn_deleted(store_t *s, const args_t *a)
{
    copies_t c;
    if (find_copies(s, a, true, &c) != 0)
        return 1;
    /* Each domain's copy is the same message: learn it once. */
    int rc = c.n > 0 ? learn_copy(s, &c.v[0], a->id, true) : 1;
    free_copies(&c);
    return rc;
}

static int cmd_delete(store_t *s, const args_t *a)
{
    char dbuf[256];
    /* A message that could not be learned stays, so that nothing is lost. */
    if (a->learn_spam && learn_deleted(s, a) != 0)
        return smfctl_fail(1, "%s: not deleted, since it could not be learned as spam", a->id);
    int rc = quarantine_delete(s->q, domain_arg(a->domain, dbuf), a->id);
    if (rc == SMF_ENOENT || rc == SMF_EINVAL)
        return smfctl_fail(1, "no quarantined message %s%s%s", a->id, a->domain ? " for " : "",
                           a->domain ? a->domain : "");
    if (rc != 0)
        return smfctl_fail(1, "cannot delete %s: %s", a->id, smf_strerror(rc));
    printf("deleted %s%s%s\n", a->id, a->domain ? " for " : "", a->domain ? a->domain : "");
    return 0;
}

static int cmd_purge(store_t *s, const args_t *a)
{
    char *end;
    long days = strtol(a->older, &end, 10);
    if (end == a->older || *end != '\0' || days < 0 || days > 36500)
        return smfctl_fail(2, "--older-than %s: expected a number of days (0 to 36500)", a->older);
    size_t removed = 0;
    int rc = quarantine_purge(s->q, clock_wall_ms() - (int64_t)days * 86400000, &removed);
    if (rc != 0)
        return smfctl_fail(1, "purged %zu entries, but not every domain's: %s", removed,
                           smf_strerror(rc));
    printf("purged %zu entr%s older than %ld day(s)\n", removed, removed == 1 ? "y" : "ies", days);
    return 0;
}

/* ---- dispatch --------------------------------------------------------- */

typedef struct sub {
    const char *name;
    unsigned allowed;
    int (*run)(store_t *s, const args_t *a);
} sub_t;

static const sub_t subs[] = {
    {"list", A_DOMAIN | A_SINCE | A_RCPT | A_JSON, cmd_list},
    {"show", A_ID | A_DOMAIN | A_JSON, cmd_show},
    {"export", A_ID | A_DOMAIN, cmd_export},
    {"release", A_ID | A_DOMAIN | A_LEARN, cmd_release},
    {"delete", A_ID | A_DOMAIN | A_LEARN_SPAM, cmd_delete},
    {"purge", A_OLDER, cmd_purge},
};

int smfctl_quarantine(const smfctl_t *ctl, int argc, char **argv)
{
    const sub_t *sub = NULL;
    for (size_t i = 0; argc > 1 && i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            sub = &subs[i];
    args_t a;
    if (sub == NULL || parse_args(argc, argv, sub->allowed, &a) != 0)
        return smfctl_fail(2, "%s", smfctl_quarantine_usage);
    store_t s;
    int rc = store_open(ctl, &s);
    if (rc != 0)
        return rc;
    rc = sub->run(&s, &a);
    store_close(&s);
    return rc;
}
