/*
 * engine_link.c - talks SMF/1 to one or more smfd scan endpoints.
 *
 * Threads: libmilter runs the callbacks of many MTA connections at once, each
 * connection's one at a time but not always on the same thread (a worker
 * pool), and a ZeroMQ socket must only be used by one thread at a time. Each
 * endpoint therefore has a pool of idle DEALER sockets: a callback borrows
 * one for the length of a single request and gives it back. The pool's mutex
 * is the full memory barrier ZeroMQ asks for when a socket changes threads,
 * and no two threads ever hold the same socket. Replies are matched by
 * request id: a late reply to an earlier, timed-out request on a borrowed
 * socket is read and dropped.
 *
 * Spreading and failover: each request starts at the next endpoint in turn.
 * An endpoint that is not connected (ZMQ_IMMEDIATE: the send would queue), is
 * shutting down, or does not answer within the timeout is skipped for the next
 * one; each attempt carries its own deadline of now + timeout. The
 * connection-stage checks (CONNECT) use the shorter connect timeout: the MTA
 * waits for them in the SMTP dialogue with a short command timeout of its own.
 *
 * A request already sent is watched (a ZeroMQ socket monitor, for the length
 * of the request): should the connection it went into drop meanwhile (ZMTP
 * heartbeats, the engine closing it), the reply can no longer come, since
 * the engine routes it to the connection the request came on, and the next
 * endpoint is tried at once rather than after the rest of the timeout.
 */
#include "smf_milter.h"
#include "zmqaddr.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define LINK_PROTO "SMF/1"
#define LINK_MAX_FRAMES 8

typedef struct link_pool {
    const char *endpoint;
    pthread_mutex_t mu;
    void **idle;
    size_t n_idle, cap;
} link_pool_t;

static void *link_ctx;
static link_pool_t *link_pools;
static size_t link_n_pools;
static int link_timeout_ms;
static int link_connect_timeout_ms;
static atomic_uint link_next_start;
static atomic_uint_fast64_t link_next_id;
static atomic_uint_fast64_t link_next_watch;

static double link_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int64_t link_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * How many ZeroMQ sockets the context may hold. libmilter runs each MTA
 * connection on its own thread with no cap of its own, and each request in
 * flight holds up to three sockets (the borrowed DEALER, its monitor and the
 * PAIR reading that), besides the idle ones kept per endpoint. ZeroMQ's
 * default of 1,023 would refuse sockets at a few hundred concurrent
 * connections; each socket takes at least one descriptor, so the process's
 * RLIMIT_NOFILE bounds them anyway, and is the limit used (never less than
 * the default, never more than the context supports).
 */
static int link_max_sockets(void *ctx)
{
    int want = ZMQ_MAX_SOCKETS_DFLT;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        want = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)INT_MAX ? INT_MAX
                                                                             : (int)rl.rlim_cur;
    /* A context that does not say its limit gets libzmq 4.3's: asked for
     * INT_MAX sockets, libzmq aborts while sizing its table. */
    int most = zmq_ctx_get(ctx, ZMQ_SOCKET_LIMIT);
    if (most <= 0)
        most = 65535;
    if (want > most)
        want = most;
    return want > ZMQ_MAX_SOCKETS_DFLT ? want : ZMQ_MAX_SOCKETS_DFLT;
}

int link_init(const milter_opts_t *o)
{
    link_ctx = zmq_ctx_new();
    if (!link_ctx)
        return -1;
    int max_sockets = link_max_sockets(link_ctx);
    if (zmq_ctx_set(link_ctx, ZMQ_MAX_SOCKETS, max_sockets) != 0)
        milter_log(LOG_WARNING, "cannot allow %d ZeroMQ sockets (%s): at most %d at once",
                   max_sockets, zmq_strerror(zmq_errno()), zmq_ctx_get(link_ctx, ZMQ_MAX_SOCKETS));
    link_pools = calloc(o->n_endpoints, sizeof *link_pools);
    if (!link_pools)
        return -1;
    for (size_t i = 0; i < o->n_endpoints; i++) {
        link_pools[i].endpoint = o->endpoints[i];
        pthread_mutex_init(&link_pools[i].mu, NULL);
    }
    link_n_pools = o->n_endpoints;
    link_timeout_ms = o->timeout_ms;
    link_connect_timeout_ms =
        o->connect_timeout_ms < o->timeout_ms ? o->connect_timeout_ms : o->timeout_ms;
    return 0;
}

static void *link_socket_new(const char *endpoint)
{
    void *s = zmq_socket(link_ctx, ZMQ_DEALER);
    if (!s) {
        int err = zmq_errno();
        milter_log(LOG_ERR,
                   "cannot create a ZeroMQ socket for engine %s: %s%s; the request is not sent "
                   "there (tempfail unless another engine answers)",
                   endpoint, zmq_strerror(err),
                   err == EMFILE ? " (too many sockets or descriptors open at once: raise the "
                                   "process's open-file limit)"
                                 : "");
        return NULL;
    }
    int zero = 0, one = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    /* Only queue to a connected engine, so that a down endpoint is noticed at once. */
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    /* A tcp:// engine whose host vanished (no FIN, no RST) leaves a connection
     * TCP keepalive would notice after hours: ZMTP heartbeats drop it within
     * seconds, and ZMQ_IMMEDIATE then sends the next message elsewhere. */
    int ivl = 1000, ttl = 3000;
    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &ttl, sizeof ttl);
    if (zmqaddr_prepare(s, endpoint) != 0 || zmq_connect(s, endpoint) != 0) {
        milter_log(LOG_ERR, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void *link_borrow(link_pool_t *p)
{
    void *s = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n_idle > 0)
        s = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->mu);
    return s ? s : link_socket_new(p->endpoint);
}

static void link_return(link_pool_t *p, void *s)
{
    pthread_mutex_lock(&p->mu);
    if (p->n_idle == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        void **idle = realloc(p->idle, cap * sizeof *idle);
        if (idle) {
            p->idle = idle;
            p->cap = cap;
        }
    }
    if (p->n_idle < p->cap) {
        p->idle[p->n_idle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (s)
        zmq_close(s);
}

/* Waits until the socket has a connected peer to send to, or the grace ends. */
static bool link_writable(void *s, int grace_ms)
{
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLOUT};
    return zmq_poll(&it, 1, grace_ms) == 1 && (it.revents & ZMQ_POLLOUT);
}

/* SCAN sends the message as its last frame; CONNECT (raw NULL) has none. */
static int link_send(void *s, const char *rid, const char *env, const char *raw, size_t len)
{
    const int f = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    const char *command = raw != NULL ? "SCAN" : "CONNECT";
    if (zmq_send(s, LINK_PROTO, strlen(LINK_PROTO), f) < 0)
        return -1;
    /* ZeroMQ sends a multipart message atomically once its first frame is queued. */
    if (zmq_send(s, command, strlen(command), f) < 0 || zmq_send(s, rid, strlen(rid), f) < 0 ||
        zmq_send(s, env, strlen(env), raw != NULL ? f : ZMQ_DONTWAIT) < 0)
        return -1;
    if (raw != NULL && zmq_send(s, raw, len, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

/* Reads one multipart reply; returns the number of frames (extra ones are dropped). */
static int link_recv(void *s, zmq_msg_t *frames, int max)
{
    int n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < max)
            frames[n++] = m;
        else
            zmq_msg_close(&m);
    }
    return n;
}

static bool frame_is(zmq_msg_t *f, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(f) == n && memcmp(zmq_msg_data(f), s, n) == 0;
}

typedef enum attempt {
    ATTEMPT_DONE,     /* out is filled */
    ATTEMPT_NEXT,     /* try the next endpoint */
    ATTEMPT_DROPPED,  /* the connection the request went into dropped: the next */
    ATTEMPT_DECLINED, /* the engine refused to start on it (busy, stopping): the next */
    ATTEMPT_BAD_SOCK, /* the socket is in doubt: close it, try the next endpoint */
} attempt_t;

/*
 * Starts watching the socket's connections for one request: the monitor's
 * end, a PAIR socket that gets an event for each connection dropped from
 * now on. NULL when it cannot be set up: the request then waits for its
 * reply or its timeout, as it would unwatched. A monitor lives for one
 * request only, so that its events (each one the monitor sends, blocking,
 * from a ZeroMQ I/O thread) never pile up behind an idle socket.
 */
static void *link_watch(void *s)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://smf-milter-watch-%ld-%" PRIuFAST64, (long)getpid(),
             atomic_fetch_add(&link_next_watch, 1));
    if (zmq_socket_monitor(s, ep, ZMQ_EVENT_DISCONNECTED) != 0)
        return NULL;
    void *mon = zmq_socket(link_ctx, ZMQ_PAIR);
    if (mon == NULL)
        milter_log(LOG_WARNING,
                   "cannot create a ZeroMQ socket to watch a request: %s; a dropped "
                   "connection is noticed at the timeout only",
                   zmq_strerror(zmq_errno()));
    int zero = 0;
    if (mon != NULL &&
        (zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(mon, ep) != 0)) {
        zmq_close(mon);
        mon = NULL;
    }
    if (mon == NULL)
        zmq_socket_monitor(s, NULL, 0);
    return mon;
}

static void link_unwatch(void *s, void *mon)
{
    if (mon == NULL)
        return;
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(mon);
}

/* Whether the watch reported a connection dropped; reads every event waiting. */
static bool link_dropped(void *mon)
{
    bool dropped = false;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return dropped;
        }
        /* An event is two frames: its number and value (6 bytes), then the endpoint. */
        uint16_t event = 0;
        if (zmq_msg_size(&m) >= sizeof event)
            memcpy(&event, zmq_msg_data(&m), sizeof event);
        if (event == ZMQ_EVENT_DISCONNECTED)
            dropped = true;
        while (zmq_msg_more(&m)) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, mon, 0) < 0)
                break;
        }
        zmq_msg_close(&m);
    }
}

/* Waits for the reply to rid until deadline_ms, dropping replies to other ids.
 * A connection dropped (mon, when not NULL) ends the wait once no reply is
 * left to read: the one to rid cannot come any more. */
static attempt_t link_wait(void *s, void *mon, const char *rid, double deadline_ms,
                           link_reply_t *out)
{
    bool dropped = false;
    for (;;) {
        int left = (int)(deadline_ms - link_now_ms());
        if (left <= 0)
            return ATTEMPT_NEXT;
        zmq_pollitem_t it[2] = {{.socket = s, .events = ZMQ_POLLIN},
                                {.socket = mon, .events = ZMQ_POLLIN}};
        int rc = zmq_poll(it, mon != NULL && !dropped ? 2 : 1, dropped ? 0 : left);
        if (rc < 0 && zmq_errno() != EINTR)
            return ATTEMPT_BAD_SOCK;
        if (rc == 0 && dropped)
            return ATTEMPT_DROPPED;
        if (rc <= 0)
            continue;
        if (!(it[0].revents & ZMQ_POLLIN)) {
            dropped = link_dropped(mon);
            continue;
        }
        zmq_msg_t f[LINK_MAX_FRAMES];
        int n = link_recv(s, f, LINK_MAX_FRAMES);
        bool ours = n == 4 && frame_is(&f[0], LINK_PROTO) && frame_is(&f[2], rid);
        attempt_t result = ATTEMPT_DONE;
        if (ours) {
            json_error_t jerr;
            json_t *body = json_loadb(zmq_msg_data(&f[3]), zmq_msg_size(&f[3]), 0, &jerr);
            bool verdict = frame_is(&f[1], "VERDICT");
            const char *err = json_string_value(json_object_get(body, "error"));
            if (!body || (!verdict && !frame_is(&f[1], "ERROR"))) {
                milter_log(LOG_WARNING, "request %s: unreadable reply from the engine", rid);
                json_decref(body);
                result = ATTEMPT_NEXT;
            } else if (!verdict && err &&
                       (strcmp(err, "shutting_down") == 0 || strcmp(err, "busy") == 0)) {
                /* The engine did not start on it: another can take it now. */
                milter_log(LOG_INFO, "request %s: the engine answered %s; trying the next", rid,
                           err);
                json_decref(body);
                result = ATTEMPT_DECLINED;
            } else {
                out->status = verdict ? LINK_VERDICT : LINK_ERROR;
                out->body = body;
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        if (ours)
            return result;
        /* Anything else is the late answer to an abandoned request: dropped. */
    }
}

static attempt_t link_attempt(link_pool_t *p, void *s, json_t *env, const char *raw, size_t len,
                              int timeout_ms, link_reply_t *out)
{
    int grace = timeout_ms < LINK_CONNECT_GRACE_MS ? timeout_ms : LINK_CONNECT_GRACE_MS;
    if (!link_writable(s, grace)) {
        milter_log(LOG_WARNING, "engine %s is not connected", p->endpoint);
        return ATTEMPT_NEXT;
    }
    char rid[64];
    snprintf(rid, sizeof rid, "milter-%ld-%" PRIuFAST64, (long)getpid(),
             atomic_fetch_add(&link_next_id, 1));
    json_object_set_new(env, "deadline", json_integer(link_wall_ms() + timeout_ms));
    char *text = json_dumps(env, JSON_COMPACT);
    if (!text)
        return ATTEMPT_NEXT;
    double deadline = link_now_ms() + timeout_ms;
    void *mon = link_watch(s);
    int rc = link_send(s, rid, text, raw, len);
    free(text);
    if (rc < 0) {
        milter_log(LOG_WARNING, "cannot send to %s: %s", p->endpoint, zmq_strerror(zmq_errno()));
        link_unwatch(s, mon);
        return ATTEMPT_BAD_SOCK;
    }
    attempt_t a = link_wait(s, mon, rid, deadline, out);
    link_unwatch(s, mon);
    if (a == ATTEMPT_DROPPED) {
        milter_log(LOG_WARNING,
                   "request %s: the link to engine %s dropped after %.0f ms; trying the next", rid,
                   p->endpoint, timeout_ms - (deadline - link_now_ms()));
        return ATTEMPT_NEXT;
    }
    if (a == ATTEMPT_NEXT && !out->body)
        milter_log(LOG_WARNING, "request %s: engine %s gave no usable answer within %d ms", rid,
                   p->endpoint, timeout_ms);
    return a;
}

/* One request, failing over between endpoints; raw NULL sends a CONNECT. */
static void link_request(json_t *env, const char *raw, size_t len, int timeout_ms,
                         link_reply_t *out)
{
    memset(out, 0, sizeof *out);
    out->status = LINK_NO_ANSWER;
    double t0 = link_now_ms();
    unsigned start = atomic_fetch_add(&link_next_start, 1);
    for (size_t i = 0; i < link_n_pools; i++) {
        link_pool_t *p = &link_pools[(start + i) % link_n_pools];
        out->endpoint = p->endpoint;
        void *s = link_borrow(p);
        if (!s)
            continue;
        attempt_t a = link_attempt(p, s, env, raw, len, timeout_ms, out);
        if (a == ATTEMPT_BAD_SOCK)
            zmq_close(s);
        else
            link_return(p, s);
        if (a == ATTEMPT_DONE)
            break;
    }
    out->ms = link_now_ms() - t0;
}

void link_scan(json_t *env, const char *raw, size_t len, link_reply_t *out)
{
    link_request(env, raw ? raw : "", len, link_timeout_ms, out);
}

void link_connect(json_t *env, link_reply_t *out)
{
    link_request(env, NULL, 0, link_connect_timeout_ms, out);
}

void link_shutdown(void)
{
    for (size_t i = 0; i < link_n_pools; i++) {
        link_pool_t *p = &link_pools[i];
        pthread_mutex_lock(&p->mu);
        for (size_t j = 0; j < p->n_idle; j++)
            zmq_close(p->idle[j]);
        p->n_idle = 0;
        pthread_mutex_unlock(&p->mu);
    }
    /* A callback still blocked on a socket gets ETERM instead of hanging the exit. */
    if (link_ctx)
        zmq_ctx_shutdown(link_ctx);
}
