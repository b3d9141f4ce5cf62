/*
 * smf_milter.h - what the parts of smf-milter share: the options, the
 * per-connection state libmilter hands to each callback, the engine link
 * (ZeroMQ) and the envelope builder.
 */
#ifndef SMF_MILTER_H
#define SMF_MILTER_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One --trusted network: family AF_INET or AF_INET6, address bytes, prefix length. */
typedef struct milter_net {
    int family;
    unsigned char addr[16];
    int prefix;
} milter_net_t;

typedef struct milter_opts {
    const char *socket;     /* libmilter connection spec: unix:PATH or inet:PORT@HOST */
    const char **endpoints; /* smfd scan endpoints, tried in turn */
    size_t n_endpoints;
    int timeout_ms;         /* per attempt: the request's deadline is now + this */
    int connect_timeout_ms; /* the same for the connection-stage checks, at most timeout_ms */
    size_t max_size;        /* larger messages are refused with 552, never buffered whole */
    milter_net_t *trusted;  /* clients sending outbound mail */
    size_t n_trusted;
    bool hold;               /* quarantine -> Postfix hold queue instead of discard */
    const char *authserv_id; /* incoming Authentication-Results with it are removed */
    bool foreground;
    bool noop;          /* accept everything without asking the engine */
    bool connect_check; /* ask the connection stage before DATA (default on) */
    bool rcpt_check;    /* at each RCPT TO with its policy (default), else at MAIL FROM */
    mode_t socket_mode;
    const char *socket_group; /* NULL: group "postfix" when it exists */
} milter_opts_t;

/* Set once by main() before libmilter starts its threads; read-only afterwards. */
extern milter_opts_t milter_opts;

/* How long a request waits for a (re)connecting endpoint before trying the next. */
#define LINK_CONNECT_GRACE_MS 500

/* Severity-tagged log line: stderr in the foreground, syslog as a daemon. */
void milter_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* State of one MTA connection; a new message starts at each MAIL FROM. */
typedef struct milter_conn {
    char client_ip[INET6_ADDRSTRLEN];
    char *client_name;
    char *helo;
    bool leadspc; /* header values keep their leading space (SMFIP_HDR_LEADSPC) */
    bool delrcpt; /* the MTA lets the milter remove recipients (SMFIF_DELRCPT) */
    char *sender;
    char **rcpts;
    size_t n_rcpts, cap_rcpts;
    char *auth_user;
    char *queue_id;
    char *raw; /* the message rebuilt from header pairs and body chunks */
    size_t len, cap;
    size_t n_status, n_flag; /* the message's own X-SMF-Status, X-Spam-Flag fields */
    size_t n_forged;         /* those and its Authentication-Results in --authserv-id */
    char **authres_ids;      /* the authserv-id of each Authentication-Results (or NULL) */
    size_t n_authres, cap_authres;
    bool oom;     /* an allocation failed for this message: tempfail it */
    bool too_big; /* the message passed max_size: refused, its bytes dropped */
} milter_conn_t;

/* The libmilter descriptor with every callback. */
struct smfiDesc;
extern struct smfiDesc milter_desc;

/* ---- engine link (engine_link.c) ---- */

typedef enum link_status {
    LINK_VERDICT,   /* reply holds a VERDICT body */
    LINK_ERROR,     /* reply holds an ERROR body */
    LINK_NO_ANSWER, /* no endpoint answered in time */
} link_status_t;

typedef struct link_reply {
    link_status_t status;
    json_t *body;         /* owned by the caller; NULL for LINK_NO_ANSWER */
    const char *endpoint; /* the endpoint that answered, or the last one tried */
    double ms;            /* time spent, all attempts */
} link_reply_t;

/* Creates the ZeroMQ context; sockets are made on demand. Returns 0 or -1. */
int link_init(const milter_opts_t *o);

/* Sends one SCAN of raw (len bytes) and waits for its reply, failing over
 * between endpoints, each attempt for up to timeout_ms. env is borrowed (its
 * "deadline" is set per attempt). Thread-safe. */
void link_scan(json_t *env, const char *raw, size_t len, link_reply_t *out);

/* The connection-stage check: CONNECT with what the session told so far,
 * each attempt for up to connect_timeout_ms. Thread-safe. */
void link_connect(json_t *env, link_reply_t *out);

/* Closes idle sockets and the context; no link_scan may run any more. */
void link_shutdown(void);

/* ---- envelope (envelope.c) ---- */

/* Parses ADDR or ADDR/PREFIX into net. Returns 0 or -1. */
int envelope_parse_net(const char *spec, milter_net_t *net);

/* The client's address from the MTA's {client_addr} macro (may be NULL), in
 * inet_ntop's form in out, which holds size bytes (INET6_ADDRSTRLEN will do):
 * "1.2.3.4", "2001:db8::1", or Sendmail's "IPv6:2001:db8::1" in any case.
 * Returns 0, or -1 with out empty when macro is no address. */
int envelope_client_addr(const char *macro, char *out, size_t size);

/* True when ip (text form) lies in one of the --trusted networks. */
bool envelope_trusted(const char *ip);

/* The envelope JSON for conn's current message; NULL when out of memory. */
json_t *envelope_build(const milter_conn_t *conn);

#endif
