/*
 * smtp_client.h - hands one message to one SMTP server: the small client
 * that releases quarantined mail to a domain's delivery host.
 *
 * It speaks plain SMTP (RFC 5321) to exactly the host it is given: no MX
 * lookup, no TLS, no AUTH. Every step has a timeout. A message is either
 * accepted for all its recipients or not delivered at all.
 *
 * Threads: no shared state; calls may run concurrently. A host name is
 * looked up on a thread of its own; one that outlasts its call's timeout
 * runs on, detached, until the resolver gives up, and frees what it holds.
 */
#ifndef SMF_SMTP_CLIENT_H
#define SMF_SMTP_CLIENT_H

#include <stddef.h>

/* Longest host name or address accepted in a target. */
#define SMTP_HOST_MAX 256
/* Longest address, without its <> (RFC 5321 4.5.3.1.3). */
#define SMTP_ADDRESS_MAX 254
/* Port used when a target names none. */
#define SMTP_DEFAULT_PORT "25"
/* How long the reply to the end of the data may take, at least (RFC 5321
 * 4.5.3.2.6): the server may be scanning the message meanwhile. */
#define SMTP_FINAL_REPLY_MS 600000

/*
 * Splits a delivery target: "[192.0.2.1]:25", "[::1]:2525", "[192.0.2.1]",
 * "mx.example.com:25" or "mx.example.com". Brackets are needed around an
 * IPv6 address. host needs SMTP_HOST_MAX bytes, port 8. 0, or -1 with the
 * reason in err.
 */
int smtp_target_parse(const char *spec, char host[SMTP_HOST_MAX], char port[8], char *err,
                      size_t errlen);

/* One message and its envelope; everything is borrowed for the call. */
typedef struct smtp_mail {
    const char *helo;        /* Our name in EHLO/HELO; NULL: this host's name. */
    const char *sender;      /* MAIL FROM address without <>; "" is the null sender. */
    const char *const *rcpt; /* RCPT TO addresses without <>; at least one. */
    size_t nrcpt;
    const char *data; /* The raw message; line ends (LF, CR) become CRLF, dots are stuffed,
                       * NULs are left out, lines past 998 bytes broken with CRLF SP. */
    size_t len;
} smtp_mail_t;

/*
 * Delivers m to target (see smtp_target_parse) with timeout_ms for the
 * name lookup (a thread of its own, given up when it takes longer), the
 * connection and for each step in all (sending a command or a 64 KiB
 * chunk of the message, reading a whole reply), except the reply to the
 * end of the data, which may take SMTP_FINAL_REPLY_MS. Returns 0 once the server accepted the
 * message for every recipient; otherwise a negative code and a sentence in
 * err that names the step and quotes the server's reply:
 * SMF_EINVAL  bad target or envelope (nothing was sent);
 * SMF_EIO     no connection, a network error or a timeout;
 * SMF_EFAIL   the server refused the message, the sender or a recipient;
 * SMF_ETIMEDOUT  the message was sent whole but no reply to it came (a
 *             timeout, a closed connection or a reply past reading): the
 *             server may have accepted it.
 */
int smtp_send(const char *target, const smtp_mail_t *m, int timeout_ms, char *err, size_t errlen);

#endif
