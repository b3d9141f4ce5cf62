/*
 * smfd_main.c - the SecureMailFlow daemon: reads the configuration, loads
 * the modules, binds the endpoints and scans until told to stop.
 *
 * The main thread owns the signals: SIGHUP reloads (a new generation is
 * built beside the current one and swapped in; a failed reload keeps the
 * current one), SIGTERM and SIGINT drain in-flight requests and exit (a
 * second one exits at once).
 * Between signals it polls the reload_watch paths (a change reloads as
 * SIGHUP does) and purges quarantine entries past their retention.
 */
#include "clock.h"
#include "engine.h"
#include "autolearn.h"
#include "frames.h"
#include "fsutil.h"
#include "log.h"
#include "message.h"
#include "privdrop.h"
#include "quarantine.h"
#include "watch.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
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
    /* Listed but in no policy's stages: it loads, learns, and never scans. */
    for (size_t i = 0; i < c->nmodules; i++)
        if (c->modules[i].enabled && !config_module_staged(c, i))
            log_warn("module %s is loaded but no policy runs it: add it to the `stages` of the "
                     "policies that should use it",
                     c->modules[i].name);
    if (generation_new(c, kv, id, nworkers ? nworkers : (size_t)c->workers, &g, err, errlen) != 0)
        return NULL;
    return g;
}

/*
 * Whether smfd, running as the user that runs this, can write in dir, or
 * create it: the nearest part of the path that exists must let it in. A
 * path not yet there is fine when its parent is writable.
 */
static bool dir_writable(const char *dir, char *why, size_t whylen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (;;) {
        if (access(path, F_OK) == 0) {
            if (access(path, W_OK | X_OK) == 0)
                return true;
            snprintf(why, whylen, "%s: %s", path, strerror(errno));
            return false;
        }
        char *slash = strrchr(path, '/');
        if (slash == NULL || slash == path)
            return true;
        *slash = '\0';
    }
}

/* smfd -t: the stores must be usable by the user smfd will run as. When it
 * starts as root with `user` set it makes them the user's itself. */
static int check_dirs(const config_t *c)
{
    char err[512], why[PATH_MAX + 64];
    bool drop = false;
    if (privdrop_needed(&c->user, &drop, err, sizeof(err)) != 0 || drop)
        return 0;
    const char *dirs[2][2] = {{"data_dir", c->data_dir}, {"quarantine_dir", c->quarantine_dir}};
    int rc = 0;
    for (int i = 0; i < 2; i++)
        if (!dir_writable(dirs[i][1], why, sizeof(why))) {
            fprintf(stderr,
                    "smfd: %s %s cannot be written by this user (%s): give it to the user "
                    "that runs smfd, or start smfd as root with `user` set\n",
                    dirs[i][0], dirs[i][1], why);
            rc = 1;
        }
    return rc;
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
    if (rc == 0)
        rc = check_dirs(c);
    if (rc == 0) {
        printf("smfd: configuration %s is valid: %zu module(s):", c->path, c->nmodules);
        for (size_t i = 0; i < c->nmodules; i++)
            printf(" %s%s", c->modules[i].name, c->modules[i].enabled ? "" : "(disabled)");
        printf("; %zu domain polic%s besides the default; %ld worker(s)\n", c->npolicies,
               c->npolicies == 1 ? "y" : "ies", c->workers);
        /* A warning scrolls by easily: a missing signature file loads the
         * others, and the configuration is still valid. */
        unsigned long warned = log_problem_count();
        if (warned > 0)
            printf("smfd: %lu warning(s) above: read them before relying on this "
                   "configuration\n",
                   warned);
    }
    generation_release(&g);
    return rc;
}

/* Seconds between looks at the reload_watch paths, and between purges. */
#define WATCH_INTERVAL_S 2
#define PURGE_INTERVAL_S 3600

/* Says loudly that g, about to answer mail, tempfails all of it. */
static void warn_not_ready(const generation_t *g)
{
    const char *why;
    int m = generation_not_ready(g, &why);
    if (m >= 0)
        log_msg(SMF_LOG_ERROR, g->conf->modules[m].name,
                "ANTIVIRUS STAGE NOT READY, ALL MAIL WILL BE TEMPFAILED: %s", why);
}

/*
 * Whether a reload must keep cur rather than swap in g: an antivirus stage
 * that no longer starts (a database written half-way, say) would tempfail
 * all mail that cur still scans. When cur cannot scan either, g is no worse.
 */
static bool reload_refused(const generation_t *cur, const generation_t *g)
{
    const char *why, *cur_why;
    int m = generation_not_ready(g, &why);
    if (m < 0 || generation_not_ready(cur, &cur_why) >= 0)
        return false;
    log_error("reload failed, generation %lu stays: module %s cannot scan: %s", cur->id,
              g->conf->modules[m].name, why);
    return true;
}

static void reload(engine_t *e, const options_t *o, unsigned long *gen_id, const char *why)
{
    char err[2048];
    generation_t *cur = engine_current(e);
    log_info("reloading %s (generation %lu is current): %s", o->config, cur->id, why);
    generation_t *g = load(o, e->kv, *gen_id + 1, e->nworkers, err, sizeof(err));
    if (g == NULL) {
        log_error("reload failed, generation %lu stays: %s", cur->id, err);
        generation_release(&cur);
        return;
    }
    if (reload_refused(cur, g)) {
        generation_release(&g);
        generation_release(&cur);
        return;
    }
    warn_not_ready(g);
    if (strcmp(g->conf->listen, e->listen) != 0 || strcmp(g->conf->publish, e->publish) != 0 ||
        (size_t)g->conf->workers != e->nworkers || g->conf->max_queued != e->max_queued ||
        g->conf->max_queued_size != e->max_queued_size)
        log_warn("listen, publish, workers, max_queued and max_queued_size change only at restart");
    /* The socket's frame limit was set from it at start. */
    if (g->conf->limits.max_size > e->max_message_size)
        log_warn("max_message_size grows only at restart: until then messages over %zu bytes "
                 "cannot reach the engine",
                 e->max_message_size);
    if (strcmp(g->conf->user.name, e->user) != 0)
        log_warn("user changes only at restart; until then smfd stays %s",
                 e->user[0] ? e->user : "the user that started it");
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

/* Drops quarantine entries older than the current retention. */
static void purge_expired(engine_t *e)
{
    generation_t *g = engine_current(e);
    long days = g->conf->quarantine_retention_days;
    generation_release(&g);
    if (days <= 0)
        return;
    size_t removed = 0;
    int rc = quarantine_purge(e->quarantine, clock_wall_ms() - (int64_t)days * 86400000, &removed);
    if (rc != 0)
        log_error("quarantine: purge failed after %zu entries: %s", removed, smf_strerror(rc));
    else if (removed > 0)
        log_info("quarantine: purged %zu entr%s older than %ld day(s)", removed,
                 removed == 1 ? "y" : "ies", days);
}

/* Follows the current generation's reload_watch list; a changed list
 * starts from the paths' state now. */
static void update_watch(engine_t *e, watch_t **w)
{
    generation_t *g = engine_current(e);
    const config_t *c = g->conf;
    if (!watch_same(*w, c->reload_watch, c->nreload_watch)) {
        watch_destroy(w);
        *w = watch_new(c->reload_watch, c->nreload_watch);
        for (size_t i = 0; i < c->nreload_watch; i++)
            log_debug("reload_watch: watching %s", c->reload_watch[i]);
    }
    generation_release(&g);
}

/*
 * Refits the classifiers' models over what smfd autolearned, on this
 * (the main) thread: the workers scan on meanwhile. Returns when to look
 * again.
 */
static double refit_autolearned(engine_t *e)
{
    generation_t *g = engine_current(e);
    long every = g->conf->autolearn ? g->conf->autolearn_refit_s : 0;
    if (every > 0)
        autolearn_refit(g);
    generation_release(&g);
    /* Off, the setting is read again at the next watch tick (a reload may turn it on). */
    return clock_mono_ms() + (every > 0 ? (double)every : WATCH_INTERVAL_S) * 1000.0;
}

static void send_event(const char *topic, const char *json, void *sock)
{
    frames_send_str(sock, "EVENT", ZMQ_SNDMORE);
    frames_send_str(sock, topic, ZMQ_SNDMORE);
    frames_send_str(sock, json, 0);
}

/* Publishes the quarantine changes smfctl and smfd recorded since the last
 * tick (releases, deletions, purges), through the transport, which owns
 * the PUB socket. A purge of many entries is spread over several ticks. */
static void publish_changes(engine_t *e, void *sock)
{
    for (int batch = 0; e->quarantine != NULL && batch < 10; batch++)
        if (quarantine_events(e->quarantine, 1000, send_event, sock) < 1000)
            break;
}

/* Waits for a signal while doing the periodic work; returns the signal
 * that ends the loop (TERM or INT). */
static int main_loop(engine_t *e, const options_t *o, const sigset_t *sigs, unsigned long *gen_id,
                     void *events)
{
    watch_t *w = NULL;
    update_watch(e, &w);
    purge_expired(e);
    double next_purge = clock_mono_ms() + PURGE_INTERVAL_S * 1000.0;
    double next_refit = clock_mono_ms();
    for (;;) {
        struct timespec ts = {WATCH_INTERVAL_S, 0};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            watch_destroy(&w);
            return sig;
        }
        if (sig == SIGHUP) {
            reload(e, o, gen_id, "SIGHUP");
        } else if (sig < 0 && errno == EAGAIN) {
            const char *changed = watch_poll(w);
            if (changed != NULL) {
                char why[4200];
                snprintf(why, sizeof(why), "reload_watch: %s changed", changed);
                log_info("%s", why);
                reload(e, o, gen_id, why);
            }
        }
        update_watch(e, &w);
        publish_changes(e, events);
        /* The store's commits are not synced one by one (workers write
         * reputation and learning counts at mail speed); flushing them at
         * each tick bounds what a crash of the machine can lose. */
        kv_sync(e->kv);
        if (clock_mono_ms() >= next_purge) {
            purge_expired(e);
            next_purge = clock_mono_ms() + PURGE_INTERVAL_S * 1000.0;
        }
        if (clock_mono_ms() >= next_refit)
            next_refit = refit_autolearned(e);
    }
}

/* Waits for the transport to finish the requests in flight; false when a
 * second TERM or INT comes first, since whoever sent it wants smfd gone
 * now (a scan can wait long on a slow DNS list or a huge message). */
static bool drained(pthread_t transport, const sigset_t *sigs)
{
    for (;;) {
        struct timespec slice = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(sigs, NULL, &slice);
        if (sig == SIGTERM || sig == SIGINT)
            return false;
        if (pthread_tryjoin_np(transport, NULL) == 0)
            return true;
    }
}

/* Started as root with `user` set: the directories smfd writes, and those
 * of its ipc:// endpoints, are made and given to the user before the
 * endpoints are bound. */
static void prepare_for_user(const config_t *c)
{
    char err[2048];
    /* quarantine_dir first: when it is a file system of its own mounted
     * inside data_dir, it is then the user's before data_dir is walked. */
    const char *dirs[2] = {c->quarantine_dir, c->data_dir};
    for (int i = 0; i < 2; i++) {
        size_t handed = 0;
        if (privdrop_prepare_dir(dirs[i], &c->user, &handed, err, sizeof(err)) != 0)
            log_fatal("%s", err);
        if (handed > 0)
            log_info("%s: gave %zu path(s) owned by root to user %s", dirs[i], handed,
                     c->user.name);
    }
    const char *eps[2] = {c->listen, c->publish};
    for (int i = 0; i < 2; i++)
        if (privdrop_prepare_endpoint(eps[i], &c->user, err, sizeof(err)) != 0)
            log_fatal("%s", err);
}

/* Once the endpoints are bound: their socket files go to the user, then
 * smfd becomes the user for good. */
static void become_user(const config_t *c)
{
    char err[2048];
    const char *eps[2] = {c->listen, c->publish};
    for (int i = 0; i < 2; i++)
        if (privdrop_give_socket(eps[i], &c->user, err, sizeof(err)) != 0)
            log_fatal("%s", err);
    if (privdrop_switch(&c->user, err, sizeof(err)) != 0)
        log_fatal("cannot drop root privileges: %s", err);
    log_info("running as user %s (uid %u, gid %u)", c->user.name, (unsigned)c->user.uid,
             (unsigned)c->user.gid);
}

static void bind_endpoints(engine_t *e)
{
    char err[2048];
    if (transport_bind(e, err, sizeof(err)) != 0)
        log_fatal("%s", err);
}

/* The key-value store and the quarantine, fixed for the life of the process. */
static void open_stores(engine_t *e, const config_t *c)
{
    char err[2048], kvdir[4096];
    snprintf(kvdir, sizeof(kvdir), "%s/kv", c->data_dir);
    if (kv_open(kvdir, &e->kv, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    if (quarantine_open(c->quarantine_dir, &e->quarantine, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    /* The store's size is fixed for the life of the process. */
    quarantine_set_mapsize(e->quarantine, c->quarantine_map_size);
}

/* The most descriptors smfd asks for when its hard limit has none. */
#define OPEN_FILES_WANTED 65536

/*
 * Raises the soft limit of open descriptors to the hard one. Each client of
 * the ipc:// or tcp:// socket holds one, and libzmq aborts the process when
 * accept() finds none left; the soft limit is often 1,024 where the hard
 * one is far higher (smfd.service sets both).
 */
static void raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? OPEN_FILES_WANTED : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_msg(SMF_LOG_DEBUG, "smfd", "open descriptors allowed: %llu (was %llu)",
                    (unsigned long long)want, (unsigned long long)was);
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
    raise_open_files();

    /*
     * The order matters when smfd starts as root with `user` set: the core
     * settings are read without loading any module; the directories are
     * given to the user; the endpoints are bound while smfd is still root
     * (a TCP port below 1024 needs it); then smfd becomes the user, and only
     * after that opens the stores and loads the first generation, so that
     * every file they create is the user's and no module runs as root.
     * Without `user` the endpoints are bound last, as before: a
     * configuration whose modules fail to load never takes over the ipc://
     * path of an smfd that is running.
     */
    config_t *first;
    if (config_load_core(o->config, o->overrides, o->noverrides, &first, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    log_set_level((smf_log_level_t)first->log_level);
    bool drop;
    if (privdrop_needed(&first->user, &drop, err, sizeof(err)) != 0)
        log_fatal("%s", err);
    if (drop)
        prepare_for_user(first);
    engine_t e = {.nworkers = (size_t)first->workers};
    e.listen = xstrdup(first->listen);
    e.publish = xstrdup(first->publish);
    e.user = xstrdup(first->user.name);
    e.max_message_size = first->limits.max_size;
    e.max_queued = first->max_queued;
    e.max_queued_size = first->max_queued_size;
    /* The server's key is fixed for the life of the process; the allow-list
     * is read from the current generation at each handshake. */
    e.curve = first->curve;
    e.curve.clients = NULL;
    e.curve.nclients = 0;
    pthread_mutex_init(&e.lock, NULL);
    e.zctx = zmq_ctx_new();
    /* Handshakes wait for the ZAP thread, which starts once a generation is current. */
    if (e.curve.enabled && zap_bind(&e) != 0)
        log_fatal("cannot start the CURVE access check: %s", zmq_strerror(zmq_errno()));
    if (drop) {
        bind_endpoints(&e);
        become_user(first);
    }
    open_stores(&e, first);
    config_free(&first);

    unsigned long gen_id = 1;
    generation_t *g = load(o, e.kv, gen_id, e.nworkers, err, sizeof(err));
    if (g == NULL)
        log_fatal("%s", err);
    warn_not_ready(g);
    if (!drop)
        bind_endpoints(&e);
    e.current = g;
    pthread_t zap;
    if (e.curve.enabled) {
        if (pthread_create(&zap, NULL, zap_main, &e) != 0)
            log_fatal("cannot start the CURVE access check thread");
        log_info("CURVE on: server public key %s", e.curve.public);
    }

    pthread_t transport;
    pthread_t *workers = xcalloc(e.nworkers, sizeof(pthread_t));
    worker_arg_t *args = xcalloc(e.nworkers, sizeof(worker_arg_t));
    start_threads(&e, &transport, workers, args);
    void *control = zmq_socket(e.zctx, ZMQ_PAIR);
    zmq_connect(control, ENGINE_CONTROL);
    log_info("smfd %s ready: listen=%s publish=%s workers=%zu modules=%zu", SMF_VERSION, e.listen,
             e.publish, e.nworkers, g->conf->nmodules);

    /* The main thread's own way to the PUB socket, for quarantine changes. */
    void *events = zmq_socket(e.zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(events, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_connect(events, ENGINE_BACKEND);
    int sig = main_loop(&e, o, &sigs, &gen_id, events);
    zmq_close(events);
    log_info("signal %d: draining and stopping (a second one stops at once)", sig);
    zmq_send(control, "STOP", 4, 0);
    if (!drained(transport, &sigs)) {
        log_warn("second signal: stopping without waiting for the scans in flight; their front "
                 "ends get no answer and will try again");
        kv_sync(e.kv);
        _exit(1);
    }
    for (size_t i = 0; i < e.nworkers; i++)
        pthread_join(workers[i], NULL);
    zmq_close(control);
    atomic_store(&e.stopping, true);
    if (e.curve.enabled)
        pthread_join(zap, NULL);
    zmq_ctx_term(e.zctx);
    engine_swap(&e, NULL);
    quarantine_close(&e.quarantine);
    kv_close(&e.kv);
    free(workers);
    free(args);
    free((void *)e.listen);
    free((void *)e.publish);
    free((void *)e.user);
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
