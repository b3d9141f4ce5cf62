/*
 * zap.c - the ZAP handler thread: libzmq asks it, during each CURVE
 * handshake on the engine's endpoints, whether a client key may connect.
 *
 * It answers from the allow-list of the generation current at that moment,
 * so a reload that changes curve_clients_file takes effect for the next
 * connection. It owns its socket alone, like every thread here.
 */
#include "engine.h"
#include "frames.h"
#include "log.h"

#include <stdatomic.h>
#include <string.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

static void *zap_socket;

int zap_bind(engine_t *e)
{
    zap_socket = zmq_socket(e->zctx, ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(zap_socket, ZMQ_LINGER, &linger, sizeof(linger));
    return zmq_bind(zap_socket, ZAP_ENDPOINT);
}

static bool key_allowed(engine_t *e, const zmq_msg_t *key)
{
    if (zmq_msg_size(key) != 32)
        return false;
    generation_t *g = engine_current(e);
    bool ok = curve_allowed(&g->conf->curve, zmq_msg_data((zmq_msg_t *)key));
    generation_release(&g);
    return ok;
}

/* Request: version, request id, domain, address, identity, mechanism,
 * credentials. Reply: version, request id, status, text, user id, metadata. */
static void answer(engine_t *e)
{
    zmq_msg_t p[8];
    size_t n = frames_recv(zap_socket, p, 8, NULL);
    bool ok = n >= 7 && zmq_msg_size(&p[5]) == 5 && memcmp(zmq_msg_data(&p[5]), "CURVE", 5) == 0 &&
              key_allowed(e, &p[6]);
    if (!ok) {
        char addr[64] = "?";
        if (n >= 4 && zmq_msg_size(&p[3]) < sizeof(addr)) {
            memcpy(addr, zmq_msg_data(&p[3]), zmq_msg_size(&p[3]));
            addr[zmq_msg_size(&p[3])] = '\0';
        }
        log_warn("refused a front end from %s: its CURVE key is not in curve_clients_file", addr);
    }
    frames_send_str(zap_socket, "1.0", ZMQ_SNDMORE);
    if (n >= 2)
        zmq_msg_send(&p[1], zap_socket, ZMQ_SNDMORE);
    else
        frames_send_str(zap_socket, "", ZMQ_SNDMORE);
    frames_send_str(zap_socket, ok ? "200" : "400", ZMQ_SNDMORE);
    frames_send_str(zap_socket, ok ? "OK" : "client key not allowed", ZMQ_SNDMORE);
    frames_send_str(zap_socket, "", ZMQ_SNDMORE);
    frames_send_str(zap_socket, "", 0);
    frames_close(p, n);
}

void *zap_main(void *arg)
{
    engine_t *e = arg;
    zmq_pollitem_t item = {zap_socket, 0, ZMQ_POLLIN, 0};
    while (!atomic_load(&e->stopping)) {
        if (zmq_poll(&item, 1, 200) > 0)
            answer(e);
    }
    zmq_close(zap_socket);
    return NULL;
}
