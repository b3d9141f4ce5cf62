/*
 * protocol.h - the wire format of docs/protocol.md: request envelopes in,
 * verdicts, errors and events out (JSON via jansson).
 *
 * Nothing here touches a socket: callers pass frames as byte ranges, so
 * the parsing can be tested without ZeroMQ.
 */
#ifndef SMF_PROTOCOL_H
#define SMF_PROTOCOL_H

#include "arena.h"
#include "smf/module.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_VERSION "SMF/1"
#define PROTOCOL_SCHEMA 1
#define PROTOCOL_MAX_ID 128
/* Largest envelope (frame 3): 10,000 recipients of 320 bytes fit; a larger
 * one is refused before it is parsed, which costs some 20 times its size. */
#define PROTOCOL_MAX_ENVELOPE (4u << 20)
/* Most recipients one request may name. */
#define PROTOCOL_MAX_RCPTS 10000

typedef struct frame {
    const void *data;
    size_t size;
} frame_t;

/* Error codes of ERROR replies. */
#define PERR_VERSION "bad_version"
#define PERR_COMMAND "bad_command"
#define PERR_FRAMES "bad_frames"
#define PERR_ENVELOPE "bad_envelope"
#define PERR_TOO_LARGE "too_large"
#define PERR_SHUTDOWN "shutting_down"
#define PERR_BUSY "busy"

/* What a request asks of the engine beyond the envelope the stages see. */
typedef struct protocol_request {
    int64_t deadline_ms; /* absolute, or 0 when the request gave none */
    /* The front end can deliver a message to some recipients and drop the
     * others ("split": true), so a recipient domain whose policy delivers
     * need not share another domain's quarantine. */
    bool split;
} protocol_request_t;

/*
 * Parses the envelope JSON of a SCAN or CONNECT request into *env (strings copied into
 * the arena) and *req. Recipients may be absent only when rcpt_required is false
 * (CONNECT). Returns 0, or -1 with *why set to a sentence (in the arena).
 */
int protocol_parse_envelope(arena_t *a, const frame_t *json, const char *request_id,
                            bool rcpt_required, smf_envelope_t *env, protocol_request_t *req,
                            int64_t now_ms, const char **why);

/* {"schema":1,"request_id":..,"error":..,"message":..}, malloc'ed. */
char *protocol_error_json(const char *request_id, const char *code, const char *message);

/* A request id safe to echo and to log: printable, at most 128 bytes. */
const char *protocol_request_id(arena_t *a, const frame_t *f);
/* The domain of a recipient address, in the arena: the name its policy and
 * every stage see ("" for an address without '@'). In lower case, without
 * a trailing dot, and as its A-label when written in another script. */
const char *protocol_rcpt_domain(arena_t *a, const char *addr);
/* Whether data[0..n) is such an id. */
bool protocol_id_ok(const void *data, size_t n);

#endif
