/*
 * zmqaddr.c - what a ZeroMQ socket is told about its tcp:// endpoint.
 */
#include "zmqaddr.h"

#include <string.h>
#include <zmq.h>

/* An IPv6 address is written in brackets, or has at least two colons
 * (one more than "host:port"); nothing else does. */
static bool names_ipv6(const char *p, size_t n)
{
    size_t colons = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '[')
            return true;
        colons += p[i] == ':';
    }
    return colons >= 2;
}

bool zmqaddr_is_ipv6(const char *endpoint)
{
    if (endpoint == NULL || strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    /* "tcp://SOURCE;HOST:PORT": either address may be the IPv6 one. */
    for (const char *p = endpoint + 6;;) {
        size_t n = strcspn(p, ";");
        if (names_ipv6(p, n))
            return true;
        if (p[n] == '\0')
            return false;
        p += n + 1;
    }
}

int zmqaddr_prepare(void *sock, const char *endpoint)
{
    int one = 1;
    if (!zmqaddr_is_ipv6(endpoint))
        return 0;
    return zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one);
}
