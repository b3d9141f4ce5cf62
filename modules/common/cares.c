/*
 * cares.c - the c-ares plumbing the DNS-using modules share.
 */
#include "cares.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int cares_is_v4(const uint8_t ip[16])
{
    return memcmp(ip, v4_mapped, 12) == 0;
}

void cares_map_v4(uint8_t out[16], const void *v4)
{
    memcpy(out, v4_mapped, 12);
    memcpy(out + 12, v4, 4);
}

long cares_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cares_open(ares_channel *ch, const char *server, long timeout_ms, long tries, char *err,
               size_t errlen)
{
    struct ares_options o = {0};
    /*
     * EDNS0 lets answers up to CARES_EDNS_PAYLOAD bytes come over UDP, which
     * long SPF and DKIM records need. Longer ones arrive truncated, and c-ares
     * then asks again over TCP by itself: ARES_FLAG_IGNTC stays off for that.
     */
    o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS;
    o.ednspsz = CARES_EDNS_PAYLOAD;
    o.timeout = (int)timeout_ms;
    o.tries = (int)tries;
    *ch = NULL;
    int rc = ares_init_options(
        ch, &o, ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    /* The csv form gives the server's port to both UDP and TCP, so the TCP retry reaches it. */
    if (rc == ARES_SUCCESS && server != NULL && server[0] != '\0')
        rc = ares_set_servers_ports_csv(*ch, server);
    if (rc == ARES_SUCCESS)
        return 0;
    snprintf(err, errlen, "DNS client: %s%s%s", ares_strerror(rc),
             server != NULL ? " for server " : "", server != NULL ? server : "");
    if (*ch != NULL)
        ares_destroy(*ch);
    *ch = NULL;
    return -1;
}

void cares_poll(ares_channel ch, long wait_ms)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd fds[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0;
    struct timeval max = {wait_ms / 1000, (wait_ms % 1000) * 1000}, tv, *t;

    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        /* Not c-ares' own macros: they shift a signed 1 into the sign bit. */
        unsigned readable = ((unsigned)bits >> i) & 1u;
        unsigned writable = ((unsigned)bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;
        if (!readable && !writable)
            continue;
        fds[n].fd = socks[i];
        fds[n].events = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
        fds[n++].revents = 0;
    }
    t = ares_timeout(ch, &max, &tv);
    int ready = poll(fds, (nfds_t)n, (int)(t->tv_sec * 1000 + t->tv_usec / 1000));
    if (ready <= 0) {
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        return;
    }
    for (int i = 0; i < n; i++)
        ares_process_fd(
            ch, (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
            (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
}

int cares_in_domain(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (d > 0 && domain[d - 1] == '.')
        d--;
    if (d == 0 || n < d || strncasecmp(name + n - d, domain, d) != 0)
        return 0;
    return n == d || name[n - d - 1] == '.';
}
