/*
 * cares.h - what the modules that ask DNS (reputation, auth) share about
 * driving c-ares: opening a channel on an optional "addr:port" server, one
 * poll round over its sockets, and the monotonic clock their deadlines use.
 * Compiled into each module that needs it; not part of the SDK.
 */
#ifndef SMF_MODULES_CARES_H
#define SMF_MODULES_CARES_H

#include <ares.h>
#include <stddef.h>
#include <stdint.h>

/* The EDNS0 UDP payload size we offer: the DNS flag day 2020 value, safe from fragmentation. */
#define CARES_EDNS_PAYLOAD 1232

/*
 * Opens a channel that hands SERVFAIL and REFUSED back as answers (both
 * callers want to see them), offers EDNS0 and falls back to TCP for answers
 * that arrive truncated. server: "addr:port" ("[::1]:53"), or NULL or "" for
 * the system resolver; its port serves both UDP and TCP. Returns 0 or -1
 * with a reason in err.
 */
int cares_open(ares_channel *ch, const char *server, long timeout_ms, long tries, char *err,
               size_t errlen);

/* One poll round over the channel's sockets, at most wait_ms long. */
void cares_poll(ares_channel ch, long wait_ms);

/* Milliseconds on the monotonic clock. */
long cares_now_ms(void);

/* Whether a 16-byte address is an IPv4-mapped one. */
int cares_is_v4(const uint8_t ip[16]);

/* Writes an IPv4 address (4 bytes, network order) as IPv4-mapped. */
void cares_map_v4(uint8_t out[16], const void *v4);

/* Whether a DNS name is domain or one of its subdomains, ignoring case and a
 * final dot: 1 or 0. */
int cares_in_domain(const char *name, const char *domain);

#endif
