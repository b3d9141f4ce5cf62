/*
 * transport.c - the one thread that owns the front-end sockets.
 *
 * It routes requests from the ROUTER endpoint to idle workers
 * (least-recently-used first), relays their replies back and publishes
 * their events on the PUB endpoint. It reads every request as it arrives,
 * stamps it and keeps it in a bounded backlog while no worker is idle, so
 * that timeouts count from arrival and an overloaded engine says "busy"
 * at once. Told to stop, it answers the waiting and new requests
 * "shutting_down", waits for the busy workers to finish and reply, then
 * stops them.
 */
#include "backlog.h"
#include "clock.h"
#include "engine.h"
#include "frames.h"
#include "fsutil.h"
#include "job.h"
#include "log.h"
#include "protocol.h"
#include "stats.h"
#include "xalloc.h"
#include "zmqaddr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define MAX_PARTS 24

typedef struct transport {
    engine_t *e;
    void *front, *pub, *back, *control;
    zmq_msg_t *idle; /* Identities of idle workers, a FIFO. */
    size_t nidle, head;
    size_t nworkers_seen;
    size_t busy;
    backlog_t backlog;
    bool draining;
} transport_t;

static void *front_socket, *pub_socket; /* Bound by transport_bind(). */

/*
 * Binds sock to ep. An ipc:// socket file takes the mode the umask leaves:
 * under umask 0 any local user could submit mail (which autolearn may learn
 * from) or read the verdict events. Whatever umask smfd was started with,
 * the file is made with no permission for others; the directory it is in
 * keeps the mode it was made with. The bind makes the file on this thread,
 * before zmq_bind() returns.
 */
static int bind_private(void *sock, const char *ep)
{
    mode_t old = umask(0);
    umask(old | S_IRWXO);
    int rc = zmq_bind(sock, ep);
    int e = zmq_errno();
    umask(old);
    errno = e;
    return rc;
}

int transport_bind(engine_t *e, char *err, size_t errlen)
{
    front_socket = zmq_socket(e->zctx, ZMQ_ROUTER);
    pub_socket = zmq_socket(e->zctx, ZMQ_PUB);
    /* ZeroMQ drops the connection of a client that sends a frame over this
     * limit, with every reply it waits for, so it admits the largest frame
     * a request may hold plus 1 MiB (a message somewhat too large still
     * hears too_large). The envelope may hold 4 MiB whatever
     * max_message_size says: a small one must not cut that short. */
    size_t largest =
        e->max_message_size > PROTOCOL_MAX_ENVELOPE ? e->max_message_size : PROTOCOL_MAX_ENVELOPE;
    int64_t maxsize = (int64_t)largest + 1024 * 1024;
    int linger = 2000;
    zmq_setsockopt(front_socket, ZMQ_MAXMSGSIZE, &maxsize, sizeof(maxsize));
    zmq_setsockopt(front_socket, ZMQ_LINGER, &linger, sizeof(linger));
    /* Replies that cannot be delivered are reported (see reply_start). */
    int mandatory = 1;
    zmq_setsockopt(front_socket, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof(mandatory));
    zmq_setsockopt(pub_socket, ZMQ_LINGER, &linger, sizeof(linger));
    const char *eps[2] = {e->listen, e->publish};
    void *socks[2] = {front_socket, pub_socket};
    if (e->curve.enabled && (curve_server_socket(front_socket, &e->curve) != 0 ||
                             curve_server_socket(pub_socket, &e->curve) != 0)) {
        snprintf(err, errlen, "cannot set up CURVE on the endpoints: %s",
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (fs_prepare_endpoint(eps[i]) != 0) {
            snprintf(err, errlen, "cannot create the directory for %s: %s", eps[i],
                     strerror(errno));
            return -1;
        }
        /* ZeroMQ would unlink a live socket file and bind anew, silently
         * taking the endpoint from the smfd that serves it. */
        if (fs_endpoint_in_use(eps[i])) {
            snprintf(err, errlen,
                     "cannot bind %s (%s): a running process (another smfd?) listens there; "
                     "stop it first or choose another endpoint",
                     eps[i], i == 0 ? "listen" : "publish");
            return -1;
        }
        if (zmqaddr_prepare(socks[i], eps[i]) != 0 || bind_private(socks[i], eps[i]) != 0) {
            snprintf(err, errlen, "cannot bind %s (%s): %s; is another smfd running there?", eps[i],
                     i == 0 ? "listen" : "publish", zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

static void push_idle(transport_t *t, zmq_msg_t *id)
{
    size_t cap = t->e->nworkers + 1;
    zmq_msg_t *slot = &t->idle[(t->head + t->nidle) % cap];
    zmq_msg_init(slot);
    zmq_msg_copy(slot, id);
    t->nidle++;
}

/*
 * Starts a reply to the client whose identity is id. The endpoint is in
 * ROUTER_MANDATORY mode, so a client that is gone, or that stopped reading
 * until its queue filled, is reported instead of its reply vanishing; the
 * send never waits, since one such client must not stall every other.
 * Returns false (with the reason logged) when the reply cannot go out.
 */
static bool reply_start(transport_t *t, zmq_msg_t *id, const char *kind, const char *rid)
{
    if (zmq_msg_send(id, t->front, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        return true;
    int err = zmq_errno();
    log_warn("request %s: %s reply dropped: %s", rid[0] ? rid : "(no id)", kind,
             err == EHOSTUNREACH ? "the client disconnected before it came"
             : err == EAGAIN     ? "the client does not read its replies (its queue is full)"
                                 : zmq_strerror(err));
    return false;
}

/* Answers a front-end request directly, for refusals the transport makes. */
static void refuse(transport_t *t, zmq_msg_t *p, size_t n, size_t first, const char *code,
                   const char *why)
{
    char rid[PROTOCOL_MAX_ID + 1] = "";
    /* Only an id the workers would echo: anything else goes back empty. */
    if (n > first + 2 && protocol_id_ok(zmq_msg_data(&p[first + 2]), zmq_msg_size(&p[first + 2]))) {
        memcpy(rid, zmq_msg_data(&p[first + 2]), zmq_msg_size(&p[first + 2]));
        rid[zmq_msg_size(&p[first + 2])] = '\0';
    }
    if (!reply_start(t, &p[0], "ERROR", rid))
        return;
    char *json = protocol_error_json(rid, code, why);
    if (first == 2)
        zmq_send(t->front, "", 0, ZMQ_SNDMORE);
    frames_send_str(t->front, PROTOCOL_VERSION, ZMQ_SNDMORE);
    frames_send_str(t->front, "ERROR", ZMQ_SNDMORE);
    frames_send_str(t->front, rid, ZMQ_SNDMORE);
    frames_send_str(t->front, json, 0);
    free(json);
}

/* Hands a request to the idle worker that has waited longest. */
static void dispatch(transport_t *t, zmq_msg_t *p, size_t n, size_t first, int64_t arrived)
{
    size_t cap = t->e->nworkers + 1;
    zmq_msg_t *w = &t->idle[t->head];
    t->head = (t->head + 1) % cap;
    t->nidle--;
    zmq_msg_send(w, t->back, ZMQ_SNDMORE);
    zmq_msg_close(w);
    frames_send_str(t->back, "JOB", ZMQ_SNDMORE);
    zmq_msg_send(&p[0], t->back, ZMQ_SNDMORE);
    frames_send_str(t->back, first == 2 ? "E" : "N", ZMQ_SNDMORE);
    zmq_send(t->back, &arrived, sizeof(arrived), first < n ? ZMQ_SNDMORE : 0);
    for (size_t i = first; i < n; i++)
        zmq_msg_send(&p[i], t->back, i + 1 < n ? ZMQ_SNDMORE : 0);
    t->busy++;
}

/* Gives waiting requests to the workers that are free, oldest first. */
static void dispatch_waiting(transport_t *t)
{
    if (t->nidle == 0 || t->backlog.count == 0)
        return;
    while (t->nidle > 0 && t->backlog.count > 0) {
        backlog_entry_t *q = backlog_pop(&t->backlog);
        dispatch(t, q->parts, q->n, q->first, q->arrived_ms);
        backlog_entry_free(q);
    }
    stats_queue(t->backlog.count);
}

/* Answers every waiting request "shutting_down": they were not started,
 * so another node can take them at once. */
static void refuse_waiting(transport_t *t)
{
    backlog_entry_t *q;
    while ((q = backlog_pop(&t->backlog)) != NULL) {
        refuse(t, q->parts, q->n, q->first, PERR_SHUTDOWN,
               "the engine is stopping; try another node");
        backlog_entry_free(q);
    }
    stats_queue(0);
}

static void refuse_busy(transport_t *t, zmq_msg_t *p, size_t n, size_t first)
{
    char why[200];
    snprintf(why, sizeof(why),
             "the engine is busy: all %zu worker(s) are scanning and %zu request(s) wait "
             "(max_queued = %zu); try again shortly or send to another node",
             t->e->nworkers, t->backlog.count, t->backlog.max_count);
    refuse(t, p, n, first, PERR_BUSY, why);
    if (stats_busy_refusal())
        log_warn("refusing requests: %zu wait for %zu worker(s) (max_queued = %zu, "
                 "max_queued_size = %zu); raise them, add workers or nodes",
                 t->backlog.count, t->e->nworkers, t->backlog.max_count, t->backlog.max_bytes);
}

static bool frame_eq(zmq_msg_t *f, const char *s)
{
    return zmq_msg_size(f) == strlen(s) && memcmp(zmq_msg_data(f), s, strlen(s)) == 0;
}

/* A well-formed STATS, which the transport answers itself: what the engine
 * is doing matters most when every worker is busy scanning. */
static bool is_stats(zmq_msg_t *p, size_t n, size_t first)
{
    return n == first + 3 && frame_eq(&p[first], PROTOCOL_VERSION) &&
           frame_eq(&p[first + 1], "STATS") &&
           protocol_id_ok(zmq_msg_data(&p[first + 2]), zmq_msg_size(&p[first + 2]));
}

static void answer_stats(transport_t *t, zmq_msg_t *p, size_t first)
{
    char rid[PROTOCOL_MAX_ID + 1];
    snprintf(rid, sizeof(rid), "%.*s", (int)zmq_msg_size(&p[first + 2]),
             (const char *)zmq_msg_data(&p[first + 2]));
    if (!reply_start(t, &p[0], "STATS", rid))
        return;
    /* No reference held: releasing the last one would run a whole
     * generation's teardown here, with every request waiting. */
    unsigned long id;
    size_t nworkers;
    engine_current_id(t->e, &id, &nworkers);
    job_result_t r;
    job_stats(id, nworkers, rid, (long)t->busy, &r);
    if (first == 2)
        zmq_send(t->front, "", 0, ZMQ_SNDMORE);
    frames_send_str(t->front, PROTOCOL_VERSION, ZMQ_SNDMORE);
    frames_send_str(t->front, r.kind, ZMQ_SNDMORE);
    frames_send_str(t->front, r.request_id, ZMQ_SNDMORE);
    frames_send_str(t->front, r.json, 0);
    job_result_free(&r);
}

static void from_front(transport_t *t)
{
    zmq_msg_t p[MAX_PARTS];
    bool overflow;
    size_t n = frames_recv(t->front, p, MAX_PARTS, &overflow);
    if (n < 1)
        return;
    int64_t now = clock_wall_ms();
    /* A REQ client puts an empty delimiter after its identity. */
    size_t first = n > 1 && zmq_msg_size(&p[1]) == 0 ? 2 : 1;
    if (overflow)
        refuse(t, p, n, first, PERR_FRAMES, "too many frames");
    else if (is_stats(p, n, first))
        answer_stats(t, p, first);
    else if (t->draining)
        refuse(t, p, n, first, PERR_SHUTDOWN, "the engine is stopping; try another node");
    else if (t->nidle > 0 && t->backlog.count == 0)
        dispatch(t, p, n, first, now);
    else if (backlog_admits(&t->backlog, backlog_size_of(p, n))) {
        backlog_push(&t->backlog, p, n, first, now);
        stats_queue(t->backlog.count);
    } else
        refuse_busy(t, p, n, first);
    frames_close(p, n);
}

static void relay_reply(transport_t *t, zmq_msg_t *p, size_t n)
{
    /* p: worker id, REPLY, client id, delimiter flag, kind, request id, json */
    if (n != 7)
        return;
    char rid[PROTOCOL_MAX_ID + 1], kind[16];
    snprintf(rid, sizeof(rid), "%.*s", (int)zmq_msg_size(&p[5]), (const char *)zmq_msg_data(&p[5]));
    snprintf(kind, sizeof(kind), "%.*s", (int)zmq_msg_size(&p[4]),
             (const char *)zmq_msg_data(&p[4]));
    if (!reply_start(t, &p[2], kind, rid))
        return;
    if (zmq_msg_size(&p[3]) == 1 && *(char *)zmq_msg_data(&p[3]) == 'E')
        zmq_send(t->front, "", 0, ZMQ_SNDMORE);
    frames_send_str(t->front, PROTOCOL_VERSION, ZMQ_SNDMORE);
    zmq_msg_send(&p[4], t->front, ZMQ_SNDMORE);
    zmq_msg_send(&p[5], t->front, ZMQ_SNDMORE);
    zmq_msg_send(&p[6], t->front, 0);
}

static void from_back(transport_t *t)
{
    zmq_msg_t p[MAX_PARTS];
    bool overflow;
    size_t n = frames_recv(t->back, p, MAX_PARTS, &overflow);
    if (n < 2) {
        frames_close(p, n);
        return;
    }
    const char *kind = zmq_msg_data(&p[1]);
    size_t klen = zmq_msg_size(&p[1]);
    if (klen == 5 && memcmp(kind, "READY", 5) == 0) {
        push_idle(t, &p[0]);
        t->nworkers_seen++;
    } else if (klen == 5 && memcmp(kind, "EVENT", 5) == 0 && n == 4) {
        zmq_msg_send(&p[2], t->pub, ZMQ_SNDMORE);
        zmq_msg_send(&p[3], t->pub, 0);
    } else if (klen == 5 && memcmp(kind, "REPLY", 5) == 0) {
        relay_reply(t, p, n);
        push_idle(t, &p[0]);
        t->busy--;
    }
    frames_close(p, n);
    dispatch_waiting(t);
}

static void from_control(transport_t *t)
{
    char buf[16];
    int n = zmq_recv(t->control, buf, sizeof(buf), 0);
    if (n == 4 && memcmp(buf, "STOP", 4) == 0) {
        t->draining = true;
        log_info("stopping: %zu request(s) in flight, %zu waiting answered shutting_down", t->busy,
                 t->backlog.count);
        refuse_waiting(t);
    }
}

/* Requests already queued on the endpoint when the last scan finished are
 * answered "shutting_down" rather than dropped with the socket, so that
 * every front end hears back at once. A client that keeps sending cannot
 * hold the engine up: the loop ends after a quiet 50 ms or two seconds. */
static void refuse_queued(transport_t *t)
{
    double until = clock_mono_ms() + 2000;
    zmq_pollitem_t item = {t->front, 0, ZMQ_POLLIN, 0};
    while (clock_mono_ms() < until && zmq_poll(&item, 1, 50) > 0)
        from_front(t);
}

static void stop_workers(transport_t *t)
{
    /* Every worker is idle now; each gets a STOP. */
    size_t cap = t->e->nworkers + 1;
    while (t->nidle > 0) {
        zmq_msg_t *w = &t->idle[t->head];
        t->head = (t->head + 1) % cap;
        t->nidle--;
        zmq_msg_send(w, t->back, ZMQ_SNDMORE);
        zmq_msg_close(w);
        frames_send_str(t->back, "STOP", 0);
    }
}

void *transport_main(void *arg)
{
    transport_t t = {.e = arg, .front = front_socket, .pub = pub_socket};
    t.idle = xcalloc(t.e->nworkers + 1, sizeof(zmq_msg_t));
    backlog_init(&t.backlog, t.e->max_queued, t.e->max_queued_size);
    t.back = zmq_socket(t.e->zctx, ZMQ_ROUTER);
    t.control = zmq_socket(t.e->zctx, ZMQ_PAIR);
    zmq_bind(t.back, ENGINE_BACKEND);
    zmq_bind(t.control, ENGINE_CONTROL);
    for (;;) {
        zmq_pollitem_t items[3] = {
            {t.back, 0, ZMQ_POLLIN, 0}, {t.control, 0, ZMQ_POLLIN, 0}, {t.front, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 3, 500) < 0 && zmq_errno() != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            from_back(&t);
        if (items[1].revents & ZMQ_POLLIN)
            from_control(&t);
        if (items[2].revents & ZMQ_POLLIN)
            from_front(&t);
        if (t.draining && t.busy == 0 && t.nworkers_seen >= t.e->nworkers)
            break;
    }
    refuse_queued(&t);
    stop_workers(&t);
    backlog_free(&t.backlog);
    zmq_close(t.back);
    zmq_close(t.control);
    zmq_close(t.front);
    zmq_close(t.pub);
    free(t.idle);
    return NULL;
}
