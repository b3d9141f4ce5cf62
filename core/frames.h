/*
 * frames.h - receiving and sending the multipart ZeroMQ messages that the
 * engine's threads pass around, with a cap on the number of parts kept.
 */
#ifndef SMF_FRAMES_H
#define SMF_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

/* Receives one whole multipart message, keeping at most max parts; the rest
 * are read and dropped, and *overflow says so (may be NULL). Returns the
 * number of parts kept; the caller closes them with frames_close(). */
size_t frames_recv(void *sock, zmq_msg_t *parts, size_t max, bool *overflow);
void frames_close(zmq_msg_t *parts, size_t n);
/* Sends a string frame; flags as for zmq_send (ZMQ_SNDMORE). */
void frames_send_str(void *sock, const char *s, int flags);

#endif
