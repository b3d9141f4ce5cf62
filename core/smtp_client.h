/*
 * smtp_client.h - hands one message to one SMTP server: the small client
 * that releases quarantined mail to a domain's delivery host.
 *
 * It speaks plain SMTP (RFC 5321) to exactly the host it is given: no MX
 * lookup, no TLS, no AUTH. Every step has a timeout. A host that takes
 * fewer recipients in one transaction than the message has gets them in
 * several, one after the other on the same connection (RFC 5321
 * 4.5.3.1.10); a recipient the host refuses does not keep the message from
 * the others, and the caller learns which recipients got it.
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

/* What became of one recipient. */
typedef enum smtp_rcpt_state {
    SMTP_RCPT_NOT_SENT = 0, /* Not delivered: not tried, or its transaction failed before the
                             * message went whole (a refused sender, a lost connection). */
    SMTP_RCPT_DELIVERED,    /* The server accepted the message for it. */
    SMTP_RCPT_REFUSED,      /* The server refused the recipient, or the message sent to it. */
    SMTP_RCPT_UNKNOWN,      /* The message went whole but no reply to it came: it may have it. */
} smtp_rcpt_state_t;

typedef struct smtp_rcpt_result {
    smtp_rcpt_state_t state;
    char reply[512]; /* REFUSED: the sentence that says so, quoting the server's reply. */
} smtp_rcpt_result_t;

/* One message and its envelope; everything is borrowed for the call. */
typedef struct smtp_mail {
    const char *helo;        /* Our name in EHLO/HELO; NULL: this host's name. */
    const char *sender;      /* MAIL FROM address without <>; "" is the null sender. */
    const char *const *rcpt; /* RCPT TO addresses without <>; at least one. */
    size_t nrcpt;
    const char *data; /* The raw message; line ends (LF, CR) become CRLF, dots are stuffed,
                       * NULs are left out, lines past 998 bytes broken with CRLF SP. */
    size_t len;
    smtp_rcpt_result_t *result; /* NULL, or nrcpt entries: what became of each recipient. */
    /* NULL, or called after each transaction the server accepted, with the
     * indices into rcpt of the n recipients it took the message for: the
     * caller can record them before the next transaction begins, so that a
     * process stopped midway still knows who got the message. */
    void (*delivered)(void *arg, const size_t *idx, size_t n);
    void *delivered_arg;
} smtp_mail_t;

/*
 * Delivers m to target (see smtp_target_parse) with timeout_ms for the
 * name lookup (a thread of its own, given up when it takes longer), the
 * connection and for each step in all (sending a command or a 64 KiB
 * chunk of the message, reading a whole reply), except the reply to the
 * end of the data, which may take SMTP_FINAL_REPLY_MS.
 *
 * The recipients go in one transaction while the server takes them. A 452
 * (or the 552 RFC 821 named) to a RCPT after others were taken ends that
 * transaction's recipients: the message goes to those, and the rest go in
 * the next transaction, until the server took every one. The same reply to
 * the first RCPT of a transaction is no limit but a refusal of that
 * recipient, as any other reply is; the others still get the message.
 *
 * Returns 0 once the server accepted the message for every recipient;
 * otherwise a negative code and a sentence in err that names the step and
 * quotes the server's reply (the first refusal, when recipients were
 * refused), and m->result says which recipients got the message all the same:
 * SMF_EINVAL  bad target or envelope (nothing was sent);
 * SMF_EIO     no connection, a network error or a timeout;
 * SMF_EFAIL   the server refused the message, the sender or a recipient;
 * SMF_ETIMEDOUT  the message was sent whole but no reply to it came (a
 *             timeout, a closed connection or a reply past reading): the
 *             server may have accepted it for that transaction's recipients.
 */
int smtp_send(const char *target, const smtp_mail_t *m, int timeout_ms, char *err, size_t errlen);

#endif
