/*
 * smfd_main.c - the SecureMailFlow daemon: reads the configuration, loads
 * the modules, binds the endpoints and scans until told to stop.
 *
 * The main thread owns the signals: SIGHUP reloads (a new generation is
 * built beside the current one and swapped in; a failed reload keeps the
 * current one), SIGTERM and SIGINT drain in-flight requests and exit.
 */
#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "message.h"
#include "quarantine.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: smfd [-c FILE] [-o name=value]... [-t]\n"
               "\n"
               "The SecureMailFlow scanning engine. Runs in the foreground and logs to stderr.\n"
               "\n"
               "  -c FILE        configuration file (default /etc/smf/smfd.conf)\n"
               "  -o name=value  override a top-level setting of the file, e.g.\n"
               "                 -o listen=ipc:///tmp/smf/scan.sock -o workers=4\n"
               "  -t             check the configuration and the modules, then exit:\n"
               "                 0 when smfd would start, 1 with the reason otherwise\n"
               "  -V             print the version\n"
               "  -h             this help\n"
               "\n"
               "Signals: HUP reloads the configuration and modules without dropping mail;\n"
               "TERM or INT answer the requests in flight and exit.\n"
               "Protocol: docs/protocol.md. Operations: docs/operations.md.\n");
}

typedef struct options {
    const char *config;
    char **overrides;
    size_t noverrides;
    bool check;
} options_t;

static void parse_args(int argc, char **argv, options_t *o)
{
    o->config = "/etc/smf/smfd.conf";
    o->overrides = xcalloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        }
    int c;
    while ((c = getopt(argc, argv, "c:o:tVh")) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'o':
            o->overrides[o->noverrides++] = optarg;
            break;
        case 't':
            o->check = true;
            break;
        case 'V':
            printf("smfd %s (module ABI %d.%d)\n", SMF_VERSION, SMF_ABI_MAJOR, SMF_ABI_MINOR);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "smfd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        exit(2);
    }
}

static generation_t *load(const options_t *o, kv_t *kv, unsigned long id, size_t nworkers,
                          char *err, size_t errlen)
{
    config_t *c;
    generation_t *g;
    if (config_load(o->config, o->overrides, o->noverrides, &c, err, errlen) != 0)
        return NULL;
    log_set_level((smf_log_level_t)c->log_level);
    if (generation_new(c, kv, id, nworkers ? nworkers : (size_t)c->workers, &g, err, errlen) != 0)
        return NULL;
    return g;
}

static int check_only(const options_t *o)
{
    char err[2048];
    generation_t *g = load(o, NULL, 0, 1, err, sizeof(err));
    if (g == NULL) {
        fprintf(stderr, "smfd: %s\n", err);
        return 1;
    }
    const config_t *c = g->conf;
    int rc = 0;
    for (size_t i = 0; i < c->nmodules; i++)
        if (g->init_errors[i] != NULL) {
            fprintf(stderr, "smfd: %s: module %s cannot scan: %s\n", c->path, c->modules[i].name,
                    g->init_errors[i]);
            rc = 1;
        }
    if (rc == 0) {
        printf("smfd: configuration %s is valid: %zu module(s):", c->path, c->nmodules);
        for (size_t i = 0; i < c->nmodules; i++)
            printf(" %s%s", c->modules[i].name, c->modules[i].enabled ? "" : "(disabled)");
        printf("; %zu domain polic%s besides the default; %ld worker(s)\n", c->npolicies,
               c->npolicies == 1 ? "y" : "ies", c->workers);
    }
    generation_release(&g);
    return rc;
}

static void reload(engine_t *e, const options_t *o, unsigned long *gen_id)
{
    char err[2048];
    generation_t *cur = engine_current(e);
    log_info("reloading %s (generation %lu is current)", o->config, cur->id);
    generation_t *g = load(o, e->kv, *gen_id + 1, e->nworkers, err, sizeof(err));
    if (g == NULL) {
        log_error("reload failed, generation %lu stays: %s", cur->id, err);
        generation_release(&cur);
        return;
    }
    if (strcmp(g->conf->listen, e->listen) != 0 || strcmp(g->conf->publish, e->publish) != 0 ||
        (size_t)g->conf->workers != e->nworkers)
        log_warn("listen, publish and workers change only at restart");
    (*gen_id)++;
    generation_release(&cur);
    engine_swap(e, g);
    log_info("generation %lu is current", *gen_id);
}

static void start_threads(engine_t *e, pthread_t *transport, pthread_t *workers, worker_arg_t *args)
{
    if (pthread_create(transport, NULL, transport_main, e) != 0)
        log_fatal("cannot start the transport thread");
    for (size_t i = 0; i < e->nworkers; i++) {
        args[i] = (worker_arg_t){e, i};
        if (pthread_create(&workers[i], NULL, worker_main, &args[i]) != 0)
            log_fatal("cannot start worker thread %zu", i);
    }
}

static int serve(const options_t *o)
{
    char err[2048];
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    /* Only the main thread takes signals; the threads it starts inherit the mask. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    config_t *first;
    if (config_load(o->config, o->overrides, o->noverrides, &first, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    char kvdir[4096];
    snprintf(kvdir, sizeof(kvdir), "%s/kv", first->data_dir);
    engine_t e = {.nworkers = (size_t)first->workers};
    if (kv_open(kvdir, &e.kv, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    if (quarantine_open(first->quarantine_dir, &e.quarantine, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    e.listen = xstrdup(first->listen);
    e.publish = xstrdup(first->publish);
    e.max_message_size = first->limits.max_size;
    config_free(&first);

    unsigned long gen_id = 1;
    generation_t *g = load(o, e.kv, gen_id, e.nworkers, err, sizeof(err));
    if (g == NULL)
        log_fatal("%s", err);
    pthread_mutex_init(&e.lock, NULL);
    e.current = g;
    e.zctx = zmq_ctx_new();
    if (transport_bind(&e, err, sizeof(err)) != 0)
        log_fatal("%s", err);

    pthread_t transport;
    pthread_t *workers = xcalloc(e.nworkers, sizeof(pthread_t));
    worker_arg_t *args = xcalloc(e.nworkers, sizeof(worker_arg_t));
    start_threads(&e, &transport, workers, args);
    void *control = zmq_socket(e.zctx, ZMQ_PAIR);
    zmq_connect(control, ENGINE_CONTROL);
    log_info("smfd %s ready: listen=%s publish=%s workers=%zu modules=%zu", SMF_VERSION, e.listen,
             e.publish, e.nworkers, g->conf->nmodules);

    for (;;) {
        int sig;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&e, o, &gen_id);
            continue;
        }
        log_info("signal %d: draining and stopping", sig);
        break;
    }
    zmq_send(control, "STOP", 4, 0);
    pthread_join(transport, NULL);
    for (size_t i = 0; i < e.nworkers; i++)
        pthread_join(workers[i], NULL);
    zmq_close(control);
    zmq_ctx_term(e.zctx);
    engine_swap(&e, NULL);
    quarantine_close(&e.quarantine);
    kv_close(&e.kv);
    free(workers);
    free(args);
    free((void *)e.listen);
    free((void *)e.publish);
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    options_t o = {0};
    parse_args(argc, argv, &o);
    message_init();
    int rc = o.check ? check_only(&o) : serve(&o);
    free(o.overrides);
    return rc;
}
