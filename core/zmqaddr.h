/*
 * zmqaddr.h - what a ZeroMQ socket is told about the tcp:// endpoint it
 * binds or connects to. libc and libzmq only: smfc and smf-milter build it
 * in as well, so that every end of a link reads an endpoint alike.
 */
#ifndef SMF_ZMQADDR_H
#define SMF_ZMQADDR_H

#include <stdbool.h>

/*
 * Whether a tcp:// endpoint names an IPv6 address ("tcp://[::1]:7440", or
 * such a source address before ';'). ZeroMQ takes those only on a socket
 * with ZMQ_IPV6 set, and otherwise fails to bind and never connects, without
 * a word. Host names, interface names and "*" are not: with ZMQ_IPV6 set, a
 * name would resolve to its IPv6 address alone (localhost to ::1, while the
 * other end may be on 127.0.0.1), and "*" would listen on IPv6 as well.
 */
bool zmqaddr_is_ipv6(const char *endpoint);

/* Sets ZMQ_IPV6 on a socket about to bind or connect to endpoint when it
 * names an IPv6 address: 0, or -1 with zmq_errno() set. */
int zmqaddr_prepare(void *sock, const char *endpoint);

#endif
