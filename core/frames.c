/*
 * frames.c - multipart receive with a cap, shared by the transport and the
 * workers.
 */
#include "frames.h"

#include <string.h>

size_t frames_recv(void *sock, zmq_msg_t *parts, size_t max, bool *overflow)
{
    size_t n = 0;
    int more = 1;
    if (overflow != NULL)
        *overflow = false;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, sock, 0) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (n < max) {
            parts[n++] = tmp;
            continue;
        }
        if (overflow != NULL)
            *overflow = true;
        zmq_msg_close(&tmp);
    }
    return n;
}

void frames_close(zmq_msg_t *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

void frames_send_str(void *sock, const char *s, int flags)
{
    zmq_send(sock, s, strlen(s), flags);
}
