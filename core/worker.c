/*
 * worker.c - a worker thread: takes jobs from the transport over inproc,
 * runs each with a reference to the generation current at that moment,
 * and sends back the events and the reply.
 */
#include "clock.h"
#include "engine.h"
#include "frames.h"
#include "job.h"
#include "log.h"
#include "xalloc.h"

#include <string.h>
#include <zmq.h>

#define MAX_FRAMES 16

static void send_result(void *sock, zmq_msg_t *client, zmq_msg_t *delim, const job_result_t *r)
{
    for (size_t i = 0; i < r->nevents; i++) {
        frames_send_str(sock, "EVENT", ZMQ_SNDMORE);
        frames_send_str(sock, r->events[i].topic, ZMQ_SNDMORE);
        frames_send_str(sock, r->events[i].json, 0);
    }
    frames_send_str(sock, "REPLY", ZMQ_SNDMORE);
    zmq_msg_send(client, sock, ZMQ_SNDMORE);
    zmq_msg_send(delim, sock, ZMQ_SNDMORE);
    frames_send_str(sock, r->kind, ZMQ_SNDMORE);
    frames_send_str(sock, r->request_id, ZMQ_SNDMORE);
    frames_send_str(sock, r->json, 0);
}

static void handle(engine_t *e, size_t index, void *sock, zmq_msg_t *p, size_t n)
{
    /* p: JOB, client id, delimiter flag, arrival time, request frames. */
    frame_t frames[MAX_FRAMES];
    size_t nf = 0;
    for (size_t i = 4; i < n; i++, nf++) {
        frames[nf].data = zmq_msg_data(&p[i]);
        frames[nf].size = zmq_msg_size(&p[i]);
    }
    int64_t arrived = 0;
    if (zmq_msg_size(&p[3]) == sizeof(arrived))
        memcpy(&arrived, zmq_msg_data(&p[3]), sizeof(arrived));
    int64_t now = clock_wall_ms();
    job_ctx_t ctx = {.gen = engine_current(e),
                     .worker = index,
                     .quarantine = e->quarantine,
                     .arrived_ms = arrived,
                     .queued_ms = now > arrived ? (double)(now - arrived) : 0.0};
    job_result_t r;
    job_run(&ctx, frames, nf, &r);
    generation_release(&ctx.gen);
    send_result(sock, &p[1], &p[2], &r);
    job_result_free(&r);
}

void *worker_main(void *arg)
{
    worker_arg_t *wa = arg;
    engine_t *e = wa->engine;
    void *sock = zmq_socket(e->zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(sock, ENGINE_BACKEND) != 0)
        log_fatal("worker %zu: cannot connect to the transport: %s", wa->index,
                  zmq_strerror(zmq_errno()));
    frames_send_str(sock, "READY", 0);
    for (;;) {
        zmq_msg_t p[MAX_FRAMES + 4];
        size_t n = frames_recv(sock, p, MAX_FRAMES + 4, NULL);
        bool stop = n == 0 || zmq_msg_size(&p[0]) != 3;
        if (!stop && n >= 4)
            handle(e, wa->index, sock, p, n);
        else if (!stop)
            frames_send_str(sock, "READY", 0);
        frames_close(p, n);
        if (stop)
            break;
    }
    zmq_close(sock);
    return NULL;
}
