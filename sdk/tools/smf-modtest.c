/*
 * smf-modtest - runs one module over mail files, exactly as the engine
 * would (same loader, same option parsing, same MIME parser, same
 * classification of results), and prints one JSON line per file.
 *
 * It is the harness module authors test with: no daemon, no sockets.
 */
#include "action.h"
#include "clock.h"
#include "config.h"
#include "generation.h"
#include "jsontext.h"
#include "log.h"
#include "message.h"
#include "protocol.h"
#include "scanctx.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct args {
    const char *module;
    int final_action;        /* -1: do not call verdict(); else SMF_ACTION_*. */
    const char *final_virus; /* For verdict(): the virus name, or NULL. */
    const char **notes;      /* --note KEY=VALUE, as an earlier stage would leave them. */
    size_t nnotes;
    char *options;        /* "name = value" lines. */
    const char **optargs; /* The -o arguments, one per line of options. */
    size_t noptargs;
    const char *config_dir;
    const char *data_dir;
    smf_envelope_t env;
    const char **rcpt;
    size_t nrcpt;
    long deadline_ms; /* --deadline: from the start of each scan. */
    int connect;      /* --connect: a connection-stage check, as smfd runs it. */
    long pause_ms;    /* --pause: between one file's scan and the next. */
} args_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: smf-modtest -m MODULE.so [-o option=value]... [options] FILE.eml...\n"
            "\n"
            "Loads a SecureMailFlow module as smfd would, scans each file with it and prints\n"
            "one JSON object per file: status (clean, detected, unscannable, error), symbols,\n"
            "verdict, virus, headers, parts scanned, milliseconds.\n"
            "\n"
            "  -m, --module FILE      the module's shared object\n"
            "  -o, --option N=V       a module option, in configuration syntax:\n"
            "                         -o max_size=10 -o 'words={cheap, free}'\n"
            "  --config-dir DIR       what smf_init_config_dir() returns (default: .)\n"
            "  --data-dir DIR         what smf_init_data_dir() returns (default: a fresh\n"
            "                         directory in $TMPDIR or /tmp, removed afterwards)\n"
            "  --from ADDR            envelope sender (default sender@example.net)\n"
            "  --rcpt ADDR            envelope recipient, repeatable (default user@example.com)\n"
            "  --ip A, --helo H       client address and HELO (default 192.0.2.1,\n"
            "                         mail.example.net)\n"
            "  --client-name N        the client's reverse-DNS name (default none)\n"
            "  --final ACTION         after each scan, tell the module this final verdict\n"
            "                         (its verdict() callback): accept, add_header,\n"
            "                         quarantine, tempfail or reject; score = its symbols\n"
            "  --final-virus NAME     with --final: the virus the verdict names\n"
            "  --note KEY=VALUE       a note an earlier stage left (smf_msg_note), e.g.\n"
            "                         --note 'auth.results=spf=pass smtp.mailfrom=a@b.example'\n"
            "  --connect              scan as a connection-stage check before the message\n"
            "                         (protocol CONNECT): the note smfd.stage=connect; give\n"
            "                         an empty FILE, as smfd hands the stage no message\n"
            "  --direction D          inbound (default) or outbound\n"
            "  --auth-user U          authenticated user (default none)\n"
            "  --deadline MS          the message's deadline, from the start of each scan\n"
            "                         (default 60000): smf_msg_time_left_ms() counts down\n"
            "  --pause MS             wait MS milliseconds between files, for what a module\n"
            "                         keeps over time (a cache's TTLs, decaying counts)\n"
            "\n"
            "Exit status: 0 every file scanned, 1 a scan failed, 2 usage or init error.\n");
}

static void add_option(args_t *a, const char *nv)
{
    const char *eq = strchr(nv, '=');
    if (eq == NULL) {
        fprintf(stderr, "smf-modtest: -o %s: expected name=value\n", nv);
        exit(2);
    }
    a->optargs[a->noptargs++] = nv;
    size_t old = a->options ? strlen(a->options) : 0;
    a->options = xrealloc(a->options, old + strlen(nv) + 8);
    sprintf(a->options + old, "%.*s = %s\n", (int)(eq - nv), nv, eq + 1);
}

static int parse_args(int argc, char **argv, args_t *a)
{
    static const struct option longopts[] = {{"module", required_argument, 0, 'm'},
                                             {"option", required_argument, 0, 'o'},
                                             {"config-dir", required_argument, 0, 'C'},
                                             {"data-dir", required_argument, 0, 'D'},
                                             {"from", required_argument, 0, 'f'},
                                             {"rcpt", required_argument, 0, 'r'},
                                             {"ip", required_argument, 0, 'i'},
                                             {"helo", required_argument, 0, 'H'},
                                             {"direction", required_argument, 0, 'd'},
                                             {"auth-user", required_argument, 0, 'u'},
                                             {"client-name", required_argument, 0, 'N'},
                                             {"final", required_argument, 0, 'F'},
                                             {"final-virus", required_argument, 0, 'V'},
                                             {"note", required_argument, 0, 'T'},
                                             {"deadline", required_argument, 0, 'L'},
                                             {"pause", required_argument, 0, 'P'},
                                             {"connect", no_argument, 0, 'K'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    a->config_dir = ".";
    a->final_action = -1;
    a->deadline_ms = 60000;
    a->env = (smf_envelope_t){.queue_id = "",
                              .client_ip = "192.0.2.1",
                              .client_name = "",
                              .helo = "mail.example.net",
                              .sender = "sender@example.net",
                              .auth_user = ""};
    a->rcpt = xcalloc((size_t)argc + 2, sizeof(char *));
    a->notes = xcalloc((size_t)argc + 1, sizeof(char *));
    a->optargs = xcalloc((size_t)argc + 1, sizeof(char *));
    int c;
    while ((c = getopt_long(argc, argv, "m:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            a->module = optarg;
            break;
        case 'o':
            add_option(a, optarg);
            break;
        case 'C':
            a->config_dir = optarg;
            break;
        case 'D':
            a->data_dir = optarg;
            break;
        case 'f':
            a->env.sender = optarg;
            break;
        case 'r':
            a->rcpt[a->nrcpt++] = optarg;
            break;
        case 'i':
            a->env.client_ip = optarg;
            break;
        case 'H':
            a->env.helo = optarg;
            break;
        case 'N':
            a->env.client_name = optarg;
            break;
        case 'F':
            if ((a->final_action = action_parse(optarg)) < 0) {
                fprintf(stderr,
                        "smf-modtest: --final %s: accept, add_header, quarantine, "
                        "tempfail or reject\n",
                        optarg);
                return -1;
            }
            break;
        case 'V':
            a->final_virus = optarg;
            break;
        case 'T':
            if (strchr(optarg, '=') == NULL) {
                fprintf(stderr, "smf-modtest: --note %s: expected KEY=VALUE\n", optarg);
                return -1;
            }
            a->notes[a->nnotes++] = optarg;
            break;
        case 'u':
            a->env.auth_user = optarg;
            break;
        case 'K':
            a->connect = 1;
            break;
        case 'L': {
            char *end;
            a->deadline_ms = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || a->deadline_ms < 0) {
                fprintf(stderr, "smf-modtest: --deadline %s: expected milliseconds\n", optarg);
                return -1;
            }
            break;
        }
        case 'P': {
            char *end;
            a->pause_ms = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || a->pause_ms < 0) {
                fprintf(stderr, "smf-modtest: --pause %s: expected milliseconds\n", optarg);
                return -1;
            }
            break;
        }
        case 'd':
            if (strcmp(optarg, "inbound") != 0 && strcmp(optarg, "outbound") != 0) {
                fprintf(stderr, "smf-modtest: --direction: inbound or outbound\n");
                return -1;
            }
            a->env.direction = strcmp(optarg, "outbound") == 0 ? SMF_DIR_OUTBOUND : SMF_DIR_INBOUND;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (a->module == NULL || optind >= argc) {
        fprintf(stderr, "smf-modtest: %s\n",
                a->module == NULL ? "-m MODULE.so is required" : "no mail file given");
        return -1;
    }
    if (a->nrcpt == 0)
        a->rcpt[a->nrcpt++] = "user@example.com";
    a->env.rcpt = a->rcpt;
    a->env.rcpt_count = a->nrcpt;
    return 0;
}

/*
 * The path to hand the loader for -m NAME: dlopen() searches the library path for a name without
 * a slash, but an author who names an existing file means the file in the current directory.
 */
static const char *module_path(const char *name, arena_t *mem)
{
    struct stat st;
    if (strchr(name, '/') != NULL || stat(name, &st) != 0)
        return name;
    return arena_printf(mem, "./%s", name);
}

/*
 * Prints why the -o options were refused. The configuration parser names
 * the line of the text made from them, "[buf]:N:", which means nothing on a
 * command line: the Nth -o argument is named instead, with the options the
 * module takes.
 */
static void option_error(const args_t *a, const smf_module_t *d, const char *err)
{
    const char *at = strstr(err, "[buf]:");
    char *end;
    long line = at != NULL ? strtol(at + 6, &end, 10) : 0;
    if (line < 1 || (size_t)line > a->noptargs || strncmp(end, ": ", 2) != 0) {
        fprintf(stderr, "smf-modtest: %s\n", err);
        return;
    }
    fprintf(stderr, "smf-modtest: -o %s: %s; module %s takes:", a->optargs[line - 1], end + 2,
            d->name);
    for (const smf_option_t *o = d->options; o != NULL && o->name != NULL; o++)
        fprintf(stderr, "%s %s", o == d->options ? "" : ",", o->name);
    fprintf(stderr, "%s\n", d->options == NULL || d->options->name == NULL ? " no options" : "");
}

/* A one-module configuration, as config_load would make it; NULL after
 * saying why the module or its options were refused. */
static config_t *one_module_config(const args_t *a, const char *data_dir)
{
    char err[2048];
    config_t *c = xcalloc(1, sizeof(*c));
    c->mem = arena_new(4096);
    c->dir = a->config_dir;
    c->data_dir = data_dir;
    c->arena_limit = 64 * 1024 * 1024;
    message_limits_default(&c->limits);
    c->nmodules = 1;
    c->modules = arena_calloc(c->mem, 1, sizeof(module_conf_t));
    module_conf_t *m = &c->modules[0];
    if (modload_open(module_path(a->module, c->mem), &m->lib, err, sizeof(err)) != 0) {
        fprintf(stderr, "smf-modtest: %s\n", err);
        config_free(&c);
        return NULL;
    }
    if (config_module_options(m->lib.desc, a->options ? a->options : "", c->mem, &m->conf, err,
                              sizeof(err)) != 0) {
        option_error(a, m->lib.desc, err);
        config_free(&c);
        return NULL;
    }
    m->name = m->lib.desc->name;
    m->hard = m->lib.desc->kind == SMF_KIND_ANTIVIRUS;
    m->enabled = true;
    return c;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static const char *force_name(soft_force_t f)
{
    return f == SOFT_ALLOW ? "allow" : f == SOFT_BLOCK ? "block" : f == SOFT_SPAM ? "spam" : NULL;
}

static json_t *result_json(const char *file, const smf_module_t *d, const smf_msg_t *x,
                           const stage_outcome_t *o)
{
    /* What the module wrote goes through jsontext_new(), as in smfd's
     * replies: a detail that is not UTF-8 (a file name from an archive)
     * would otherwise lose its whole symbol. */
    json_t *syms = json_array(), *hdrs = json_array();
    for (size_t i = 0; i < x->nsymbols; i++)
        json_array_append_new(
            syms, json_pack("{s:o, s:f, s:o}", "name", jsontext_new(x->symbols[i].name), "score",
                            x->symbols[i].score, "detail", jsontext_new(x->symbols[i].detail)));
    for (size_t i = 0; i < x->nheaders; i++)
        json_array_append_new(hdrs,
                              json_pack("{s:o, s:o}", "name", jsontext_new(x->headers[i].name),
                                        "value", jsontext_new(x->headers[i].value)));
    size_t scanned = 0;
    for (size_t i = 0; i < x->m->part_count; i++)
        scanned += x->scanned[i];
    const char *verdict = force_name(x->force);
    json_t *o_json = json_pack(
        "{s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:f}", "file",
        jsontext_new(file), "module", d->name, "status", stage_status_name(o->status), "error",
        o->status == STAGE_ERROR ? jsontext_new(o->detail ? o->detail : smf_strerror(o->rc))
                                 : json_null(),
        "symbols", syms, "verdict", verdict ? json_string(verdict) : json_null(), "virus",
        jsontext_new(x->stage_virus), "unscannable",
        o->status == STAGE_UNSCANNABLE ? jsontext_new(o->detail) : json_null(), "headers", hdrs,
        "parts", (json_int_t)x->m->part_count, "parts_scanned", (json_int_t)scanned, "truncated",
        jsontext_new(x->m->truncated), "ms", o->ms);
    json_t *notes = json_object();
    for (const struct note *n = x->notes; n != NULL; n = n->next) {
        /* A key must be UTF-8 too; it is written the same way. */
        json_t *key = jsontext_new(n->key);
        if (json_is_string(key))
            json_object_set_new(notes, json_string_value(key), jsontext_new(n->value));
        json_decref(key);
    }
    json_object_set_new(o_json, "notes", notes);
    json_t *health = json_array();
    for (const struct health_report *h = x->health; h != NULL; h = h->next)
        json_array_append_new(health, jsontext_new(h->problem));
    json_object_set_new(o_json, "health", health);
    return o_json;
}

/* As the engine does after the merge: the module hears the final verdict. */
static void tell_final(generation_t *g, smf_msg_t *x, const args_t *a)
{
    double score = 0;
    for (size_t i = 0; i < x->nsymbols; i++)
        score += x->symbols[i].score;
    smf_final_t final = {a->final_action, score, a->final_virus};
    void *tstate;
    if (generation_tstate(g, 0, 0, &tstate) == 0)
        scanctx_verdict(x, g->conf->modules[0].lib.desc, g->states[0], tstate, g->dbis[0], &final);
}

static int scan_file(generation_t *g, const args_t *a, const char *path)
{
    size_t len;
    char *raw = read_file(path, &len);
    if (raw == NULL) {
        fprintf(stderr, "smf-modtest: %s: %s\n", path, strerror(errno));
        return 1;
    }
    arena_t *arena = arena_new(16384);
    message_t *m;
    message_parse(arena, raw, len, &g->conf->limits, &m);
    smf_envelope_t env = a->env;
    env.request_id = path;
    smf_msg_t x;
    scanctx_init(&x, arena, m, &env, protocol_rcpt_domain(arena, env.rcpt[0]),
                 clock_wall_ms() + a->deadline_ms, g->conf->arena_limit, g->kv);
    for (size_t i = 0; i < a->nnotes; i++) {
        const char *eq = strchr(a->notes[i], '=');
        scanctx_note(&x, arena_strndup(arena, a->notes[i], (size_t)(eq - a->notes[i])), eq + 1);
    }
    if (a->connect)
        scanctx_note(&x, "smfd.stage", "connect");
    stage_outcome_t o = {STAGE_ERROR, NULL, SMF_EFAIL, 0};
    void *tstate;
    if (generation_tstate(g, 0, 0, &tstate) == 0)
        o = scanctx_stage(&x, g->conf->modules[0].lib.desc, g->states[0], tstate, g->dbis[0]);
    else
        o.detail = "thread_init failed";
    if (a->final_action >= 0 && o.status != STAGE_ERROR)
        tell_final(g, &x, a);
    json_t *j = result_json(path, g->conf->modules[0].lib.desc, &x, &o);
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    puts(s);
    free(s);
    json_decref(j);
    arena_destroy(&arena);
    free(raw);
    return o.status == STAGE_ERROR ? 1 : 0;
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* Sleeps ms milliseconds, whatever signals come. */
static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    args_t a = {0};
    log_set_program("smf-modtest");
    if (parse_args(argc, argv, &a) != 0) {
        usage(stderr);
        return 2;
    }
    message_init();
    /* The temporary data directory goes where the user keeps temporary
     * files, and is removed however the run ends. */
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir == NULL || *tmpdir == '\0')
        tmpdir = "/tmp";
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/smf-modtest.XXXXXX", tmpdir);
    const char *data_dir = a.data_dir;
    if (data_dir == NULL && (data_dir = mkdtemp(tmp)) == NULL) {
        fprintf(stderr, "smf-modtest: cannot make a temporary directory in %s: %s\n", tmpdir,
                strerror(errno));
        return 2;
    }
    char err[2048], kvdir[4200];
    snprintf(kvdir, sizeof(kvdir), "%s/kv", data_dir);
    kv_t *kv = NULL;
    generation_t *g = NULL;
    config_t *conf = NULL;
    int rc = 0;
    if (kv_open(kvdir, &kv, err, sizeof(err)) != 0) {
        fprintf(stderr, "smf-modtest: %s\n", err);
        rc = 2;
    } else if ((conf = one_module_config(&a, data_dir)) == NULL) {
        rc = 2;
    } else if (generation_new(conf, kv, 1, 1, &g, err, sizeof(err)) != 0) {
        fprintf(stderr, "smf-modtest: %s\n", err);
        rc = 2;
    } else if (g->init_errors[0] != NULL) {
        fprintf(stderr, "smf-modtest: module %s: init failed: %s\n", g->conf->modules[0].name,
                g->init_errors[0]);
        rc = 2;
    } else {
        for (int i = optind; i < argc; i++) {
            if (i > optind && a.pause_ms > 0)
                pause_ms(a.pause_ms);
            rc |= scan_file(g, &a, argv[i]);
        }
    }
    if (g != NULL)
        generation_release(&g);
    if (kv != NULL)
        kv_close(&kv);
    if (a.data_dir == NULL)
        nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(a.options);
    free(a.optargs);
    free(a.rcpt);
    free(a.notes);
    return rc;
}
