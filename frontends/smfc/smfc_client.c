/*
 * smfc_client.c - the scan loop: keeps up to -j requests in flight on one
 * DEALER socket, matches replies by request id, times out requests that get
 * no answer, and hands results to the report in input order.
 */
#include "smfc.h"
#include "zmqaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define SMFC_PROTO "SMF/1"
#define SMFC_MAX_FRAMES 8
/* An engine that answers "busy" is asked again after this long, doubled at
 * each refusal up to SMFC_RETRY_MAX_MS, within the message's timeout. */
#define SMFC_RETRY_FIRST_MS 50.0
#define SMFC_RETRY_MAX_MS 1000.0
/*
 * How many messages must wait out their timeout, with no answer from the
 * engine to anything, before it is deemed down and the rest are not sent.
 * One is not enough: an engine may fail to answer one message it chokes on
 * and answer the next, and with -j above 1 the other messages in flight
 * would show that; with -j 1 the next message, given its own timeout, does.
 *
 * An engine that has answered before may also die partway through a run.
 * Then it takes more timeouts in a row, with no answer in between, than
 * there can be messages in flight (-j): a merely slow engine may let all of
 * those time out, but it still answers them late, or answers the ones sent
 * after them; a dead one has then been silent for two whole timeouts.
 */
#define SMFC_UNANSWERED_MAX 2
/*
 * An engine deemed down may be restarting (an upgrade, new signatures): a
 * long batch waits for it rather than write off every message left.
 * Sending pauses, and the engine is asked with PING, which a worker
 * answers with PONG (STATS would not do: the transport thread answers it
 * even when no worker can scan). No message is used up by asking. The
 * first PING goes after SMFC_PROBE_FIRST_MS, each later one twice as long
 * after the last went unanswered, up to SMFC_PROBE_MAX_MS; each is given
 * SMFC_PROBE_TIMEOUT_MS (or --timeout, when shorter). A PONG, or a late
 * answer to a message, resumes the run; --down-wait after the engine was
 * deemed down, the rest are not sent. That wait is kept to: the last PING
 * goes early enough for its answer to come within it (the first at once
 * when the wait is shorter than one PING's), and none waits past it.
 */
#define SMFC_PROBE_FIRST_MS 1000.0
#define SMFC_PROBE_MAX_MS 30000.0
#define SMFC_PROBE_TIMEOUT_MS 2000.0

typedef struct smfc_slot {
    uint64_t seq;
    bool used, in_flight, done;
    char *label;
    double sent_ms, elapsed_ms;
    json_t *reply;
    char *code, *message;
    bool engine_error;
    /* Kept until the answer, to send again when the engine was busy. */
    char *env, *data;
    size_t len;
    double retry_at, backoff_ms; /* retry_at 0: not waiting to be sent again. */
    unsigned busy;
    bool not_sent; /* Failed without being sent: the engine was given up on. */
} smfc_slot_t;

typedef struct smfc_client {
    const smfc_opts_t *o;
    void *ctx, *sock;
    smfc_slot_t *slots;
    uint64_t next_seq, next_print;
    bool eof;
    bool answered;       /* The engine has answered at least once. */
    unsigned unanswered; /* Requests timed out since the engine last answered. */
    bool down;           /* Too many of those timed out: only probes are sent. */
    double down_since, probe_at, probe_backoff;
    bool probing; /* A PING is in flight, sent at probe_sent. */
    double probe_sent;
    uint64_t probes;   /* PINGs sent: the next one's number. */
    char *unreachable; /* Set once the engine is given up on: see above. */
    char id_prefix[32];
    smfc_input_t *in;
    smfc_report_t *report;
} smfc_client_t;

static char *smfc_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fputs("smfc: out of memory\n", stderr);
        exit(75);
    }
    return d;
}

static void smfc_slot_fail(smfc_slot_t *s, const char *code, const char *message)
{
    s->code = smfc_strdup(code);
    s->message = smfc_strdup(message);
    s->in_flight = false;
    s->done = true;
}

static int smfc_send_frame(void *sock, const void *data, size_t len, bool more)
{
    return zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* Sends the slot's request; its time counts from the first send. */
static void smfc_send(smfc_client_t *c, smfc_slot_t *s)
{
    char id[64];
    int idlen = snprintf(id, sizeof id, "%s%" PRIu64, c->id_prefix, s->seq);
    if (s->busy == 0)
        s->sent_ms = smfc_now_ms();
    s->retry_at = 0;
    if (smfc_send_frame(c->sock, SMFC_PROTO, strlen(SMFC_PROTO), true) < 0 ||
        smfc_send_frame(c->sock, "SCAN", 4, true) < 0 ||
        smfc_send_frame(c->sock, id, (size_t)idlen, true) < 0 ||
        smfc_send_frame(c->sock, s->env, strlen(s->env), true) < 0 ||
        smfc_send_frame(c->sock, s->data, s->len, false) < 0) {
        char why[256];
        snprintf(why, sizeof why, "cannot send to %s: %s", c->o->endpoint,
                 zmq_strerror(zmq_errno()));
        smfc_slot_fail(s, "send_failed", why);
        return;
    }
    s->in_flight = true;
}

/* Takes the next message into a free slot and sends it, or records why not. */
static bool smfc_start_one(smfc_client_t *c)
{
    smfc_msg_t msg;
    if (!smfc_input_next(c->in, &msg)) {
        c->eof = true;
        return false;
    }
    smfc_slot_t *s = &c->slots[c->next_seq % c->o->jobs];
    memset(s, 0, sizeof *s);
    s->used = true;
    s->seq = c->next_seq++;
    s->label = msg.label;
    msg.label = NULL;
    const char *why = NULL;
    char *env = NULL;
    if (msg.error)
        smfc_slot_fail(s, "read_error", msg.error);
    else if (c->unreachable) {
        smfc_slot_fail(s, "no_answer", c->unreachable);
        s->not_sent = true;
    } else if (!(env = smfc_envelope_build(c->o, msg.data, msg.len, &why)))
        smfc_slot_fail(s, "no_recipient", why);
    else {
        s->env = env;
        s->data = msg.data;
        s->len = msg.len;
        env = msg.data = NULL;
        smfc_send(c, s);
    }
    free(env);
    smfc_msg_clear(&msg);
    return true;
}

static bool smfc_any_in_flight(smfc_client_t *c)
{
    for (unsigned i = 0; i < c->o->jobs; i++)
        if (c->slots[i].in_flight)
            return true;
    return false;
}

static double smfc_probe_timeout(const smfc_client_t *c)
{
    double t = (double)c->o->timeout_ms;
    return t < SMFC_PROBE_TIMEOUT_MS ? t : SMFC_PROBE_TIMEOUT_MS;
}

/* When --down-wait, counted from the engine being deemed down, is over. */
static double smfc_down_deadline(const smfc_client_t *c)
{
    return c->down_since + (double)c->o->down_wait_ms;
}

/*
 * When the next PING goes: after the back-off, but never so late that its
 * answer could not come within --down-wait. The first goes at once when the
 * wait is shorter than one PING's; once the last has gone, a later one
 * would only start past the wait, which ends the run's wait first.
 */
static double smfc_next_probe(const smfc_client_t *c, double now, bool first)
{
    double at = now + c->probe_backoff, last = smfc_down_deadline(c) - smfc_probe_timeout(c);
    if (at > last) {
        if (last > now)
            at = last;
        else if (first)
            at = now;
    }
    return at;
}

static void smfc_probe_failed(smfc_client_t *c, double now);

/* Asks an engine deemed down whether it is back: a PING, no message. */
static void smfc_probe(smfc_client_t *c)
{
    char id[64];
    int idlen = snprintf(id, sizeof id, "%sping-%" PRIu64, c->id_prefix, c->probes++);
    c->probe_sent = smfc_now_ms();
    c->probing = true;
    if (smfc_send_frame(c->sock, SMFC_PROTO, strlen(SMFC_PROTO), true) < 0 ||
        smfc_send_frame(c->sock, "PING", 4, true) < 0 ||
        smfc_send_frame(c->sock, id, (size_t)idlen, false) < 0) {
        c->probing = false;
        smfc_probe_failed(c, smfc_now_ms());
    }
}

/* The window counts unprinted messages, so out-of-order replies stay
 * bounded. While the engine is deemed down, no message goes: a PING asks
 * whether it is back, when its time has come. */
static void smfc_fill(smfc_client_t *c)
{
    while (!c->eof && c->next_seq - c->next_print < c->o->jobs) {
        if (c->down && !c->unreachable) {
            if (!c->probing && smfc_now_ms() >= c->probe_at)
                smfc_probe(c);
            return;
        }
        smfc_start_one(c);
    }
}

static void smfc_flush(smfc_client_t *c)
{
    for (;;) {
        smfc_slot_t *s = &c->slots[c->next_print % c->o->jobs];
        if (!s->used || s->seq != c->next_print || !s->done)
            return;
        smfc_result_t res = {s->label,      s->reply,        s->code,    s->message,
                             s->elapsed_ms, s->engine_error, s->not_sent};
        smfc_report_result(c->report, &res);
        json_decref(s->reply);
        free(s->label);
        free(s->code);
        free(s->message);
        free(s->env);
        free(s->data);
        memset(s, 0, sizeof *s);
        c->next_print++;
    }
}

/* Whether a reply's request id is one of this run's. */
static bool smfc_id_ours(const smfc_client_t *c, zmq_msg_t *idf)
{
    size_t plen = strlen(c->id_prefix), len = zmq_msg_size(idf);
    return len > plen && len <= 40 && memcmp(zmq_msg_data(idf), c->id_prefix, plen) == 0;
}

/* Finds the in-flight slot a reply's request id names, or NULL for a stale reply. */
static smfc_slot_t *smfc_slot_for(smfc_client_t *c, zmq_msg_t *idf)
{
    size_t plen = strlen(c->id_prefix), len = zmq_msg_size(idf);
    const char *id = zmq_msg_data(idf);
    if (!smfc_id_ours(c, idf))
        return NULL;
    char num[48];
    memcpy(num, id + plen, len - plen);
    num[len - plen] = '\0';
    char *end;
    uint64_t seq = strtoull(num, &end, 10);
    smfc_slot_t *s = &c->slots[seq % c->o->jobs];
    if (*end || !s->used || s->seq != seq || !s->in_flight)
        return NULL;
    return s;
}

static bool smfc_frame_is(zmq_msg_t *f, const char *s)
{
    return zmq_msg_size(f) == strlen(s) && memcmp(zmq_msg_data(f), s, strlen(s)) == 0;
}

/* Whether a reply's request id is one of this run's PINGs. */
static bool smfc_is_probe(const smfc_client_t *c, zmq_msg_t *idf)
{
    size_t plen = strlen(c->id_prefix);
    return smfc_id_ours(c, idf) && zmq_msg_size(idf) > plen + 5 &&
           memcmp((const char *)zmq_msg_data(idf) + plen, "ping-", 5) == 0;
}

/* Whether it is the PING now in flight (the last one sent). */
static bool smfc_is_current_probe(const smfc_client_t *c, zmq_msg_t *idf)
{
    char id[64];
    if (c->probes == 0)
        return false;
    snprintf(id, sizeof id, "%sping-%" PRIu64, c->id_prefix, c->probes - 1);
    return smfc_frame_is(idf, id);
}

/*
 * "busy": the engine did not start on the message, so it is asked again a
 * little later, for as long as the message's timeout allows (the timeout
 * then ends it as for an engine that does not answer).
 */
static bool smfc_retry_later(smfc_client_t *c, smfc_slot_t *s, const char *code)
{
    if (code == NULL || strcmp(code, "busy") != 0)
        return false;
    s->busy++;
    s->backoff_ms = s->backoff_ms > 0 ? s->backoff_ms * 2 : SMFC_RETRY_FIRST_MS;
    if (s->backoff_ms > SMFC_RETRY_MAX_MS)
        s->backoff_ms = SMFC_RETRY_MAX_MS;
    double now = smfc_now_ms(), deadline = s->sent_ms + (double)c->o->timeout_ms;
    s->retry_at = now + s->backoff_ms;
    /* The last try comes just before the timeout rather than not at all. */
    if (s->retry_at >= deadline - SMFC_RETRY_FIRST_MS)
        s->retry_at = deadline - SMFC_RETRY_FIRST_MS;
    return s->retry_at > now;
}

static void smfc_take_error(smfc_client_t *c, smfc_slot_t *s, json_t *body)
{
    const char *code = json_string_value(json_object_get(body, "error"));
    const char *msg = json_string_value(json_object_get(body, "message"));
    if (smfc_retry_later(c, s, code))
        return;
    smfc_slot_fail(s, code ? code : "engine_error", msg ? msg : "the engine gave no reason");
    s->engine_error = true;
}

/* An answer, to anything of ours: the engine is there, and a run that
 * was waiting for it goes on. */
static void smfc_heard(smfc_client_t *c)
{
    c->answered = true;
    c->unanswered = 0;
    c->probing = false;
    if (c->down && !c->unreachable) {
        char note[300];
        snprintf(note, sizeof note, "%s answers again after %.0f s: sending resumes",
                 c->o->endpoint, (smfc_now_ms() - c->down_since) / 1000.0);
        smfc_report_note(c->report, note);
        c->down = false;
    }
}

static void smfc_handle_reply(smfc_client_t *c, zmq_msg_t *f, int n)
{
    if (n < 3 || !smfc_frame_is(&f[0], SMFC_PROTO)) {
        fprintf(stderr, "smfc: warning: ignored a malformed reply (%d frames)\n", n);
        return;
    }
    /* The answer to a PING: PONG says a worker can scan. Anything else
     * (busy, shutting down) is not yet the engine's return. */
    if (smfc_is_probe(c, &f[2])) {
        if (smfc_frame_is(&f[1], "PONG"))
            smfc_heard(c);
        else if (c->probing && smfc_is_current_probe(c, &f[2])) {
            c->probing = false;
            smfc_probe_failed(c, smfc_now_ms());
        }
        return;
    }
    smfc_slot_t *s = smfc_slot_for(c, &f[2]);
    /* The answer to one of ours that already timed out: too late for it,
     * but the engine is there, and the messages after it are sent. */
    if (!s) {
        if (smfc_id_ours(c, &f[2]))
            smfc_heard(c);
        return;
    }
    smfc_heard(c);
    s->elapsed_ms = smfc_now_ms() - s->sent_ms;
    /* A reply that names its request but lacks the body: that request fails
     * now, rather than wait out its timeout as if the engine were not there. */
    if (n < 4) {
        smfc_slot_fail(s, "bad_reply", "the engine's reply has no body");
        return;
    }
    json_t *body = json_loadb(zmq_msg_data(&f[3]), zmq_msg_size(&f[3]), 0, NULL);
    if (!json_is_object(body))
        smfc_slot_fail(s, "bad_reply", "the engine's reply is not a JSON object");
    else if (smfc_frame_is(&f[1], "ERROR"))
        smfc_take_error(c, s, body);
    else if (!smfc_frame_is(&f[1], "VERDICT") || !json_is_string(json_object_get(body, "action")))
        smfc_slot_fail(s, "bad_reply", "the engine's reply is not a verdict");
    else {
        s->reply = json_incref(body);
        s->in_flight = false;
        s->done = true;
    }
    json_decref(body);
}

/* Reads every reply that is already waiting. */
static void smfc_receive(smfc_client_t *c)
{
    for (;;) {
        zmq_msg_t f[SMFC_MAX_FRAMES];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, c->sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&f[i]);
                return;
            }
            more = zmq_msg_more(&part);
            if (n < SMFC_MAX_FRAMES)
                f[n++] = part;
            else
                zmq_msg_close(&part);
        }
        smfc_handle_reply(c, f, n);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

/* Sends again the requests whose wait after "busy" is over; returns ms
 * until the next such send (or `cap`). */
static long smfc_resend(smfc_client_t *c, long cap)
{
    double now = smfc_now_ms(), next = (double)cap;
    for (unsigned i = 0; i < c->o->jobs; i++) {
        smfc_slot_t *s = &c->slots[i];
        if (!s->in_flight || s->retry_at == 0)
            continue;
        if (s->retry_at <= now)
            smfc_send(c, s);
        else if (s->retry_at - now < next)
            next = s->retry_at - now;
    }
    return (long)next + 1;
}

/* How many timeouts in a row, with no answer in between, make the engine
 * deemed down: see SMFC_UNANSWERED_MAX. */
static unsigned smfc_unanswered_max(const smfc_client_t *c)
{
    return c->answered ? c->o->jobs + 1 : SMFC_UNANSWERED_MAX;
}

/* What the engine did, for the notes and the reason of the messages not
 * sent: those were never waited for, so it must not say they were. */
static void smfc_down_reason(const smfc_client_t *c, char *why, size_t len)
{
    if (c->answered)
        snprintf(why, len,
                 "%s stopped answering: no answer to %u earlier messages in a row, each given "
                 "%ld ms: is smfd still running?",
                 c->o->endpoint, c->unanswered, c->o->timeout_ms);
    else
        snprintf(why, len,
                 "%s gave no answer to %u earlier messages, each given %ld ms: is smfd running?",
                 c->o->endpoint, c->unanswered, c->o->timeout_ms);
}

/* Gives the engine up: the messages not yet sent are not sent. Said once
 * as it happens, so that a long run's end is explained before its list
 * of unsent messages; the report sums them up in one line at the end. */
static void smfc_give_up(smfc_client_t *c)
{
    char why[512], waited[64] = "", note[700];
    smfc_down_reason(c, why, sizeof why);
    if (c->o->down_wait_ms > 0)
        snprintf(waited, sizeof waited, " (waited %.0f s for it)",
                 (smfc_now_ms() - c->down_since) / 1000.0);
    snprintf(note, sizeof note, "the messages not yet sent are not sent: %s%s", why, waited);
    smfc_report_note(c->report, note);
    snprintf(note, sizeof note, "not sent: %s%s", why, waited);
    c->unreachable = smfc_strdup(note);
}

/* Deems the engine down: sending pauses, and probes follow (see
 * SMFC_PROBE_FIRST_MS), unless --down-wait is 0. */
static void smfc_deem_down(smfc_client_t *c, double now)
{
    c->down = true;
    c->down_since = now;
    c->probe_backoff = SMFC_PROBE_FIRST_MS;
    c->probe_at = smfc_next_probe(c, now, true);
    if (c->o->down_wait_ms <= 0) {
        smfc_give_up(c);
        return;
    }
    char why[512], note[700];
    smfc_down_reason(c, why, sizeof why);
    snprintf(note, sizeof note,
             "%s; sending pauses, and the engine is pinged until it answers, for up to %ld s", why,
             c->o->down_wait_ms / 1000);
    smfc_report_note(c->report, note);
}

/* A PING that got no PONG: the next goes later, unless the wait is over. */
static void smfc_probe_failed(smfc_client_t *c, double now)
{
    if (now >= smfc_down_deadline(c)) {
        smfc_give_up(c);
        return;
    }
    c->probe_backoff *= 2;
    if (c->probe_backoff > SMFC_PROBE_MAX_MS)
        c->probe_backoff = SMFC_PROBE_MAX_MS;
    c->probe_at = smfc_next_probe(c, now, false);
}

/* Fails requests past their timeout; returns ms until the next one expires. */
static long smfc_expire(smfc_client_t *c)
{
    double now = smfc_now_ms(), next = c->o->timeout_ms;
    char why[512];
    snprintf(why, sizeof why, "no answer from %s within %ld ms: is smfd running?", c->o->endpoint,
             c->o->timeout_ms);
    for (unsigned i = 0; i < c->o->jobs; i++) {
        smfc_slot_t *s = &c->slots[i];
        if (!s->in_flight)
            continue;
        double left = s->sent_ms + (double)c->o->timeout_ms - now;
        if (left <= 0) {
            s->elapsed_ms = now - s->sent_ms;
            smfc_slot_fail(s, "no_answer", why);
            /* An engine that answered none of several messages in a
             * row will not answer the rest either, for now. The messages
             * sent before it was deemed down time out on their own. */
            c->unanswered++;
            if (!c->unreachable && !c->down && c->unanswered >= smfc_unanswered_max(c))
                smfc_deem_down(c, now);
        } else if (left < next) {
            next = left;
        }
    }
    if (c->probing) {
        /* A PING is not waited for past --down-wait. */
        double until = c->probe_sent + smfc_probe_timeout(c), end = smfc_down_deadline(c);
        double left = (until < end ? until : end) - now;
        if (left <= 0) {
            c->probing = false;
            smfc_probe_failed(c, now);
        } else if (left < next)
            next = left;
    }
    /* Waiting for the next PING: the wait ends at --down-wait all the same. */
    if (c->down && !c->unreachable && !c->probing && !c->eof) {
        double left = smfc_down_deadline(c) - now;
        if (left <= 0)
            smfc_give_up(c);
        else if (left < next)
            next = left;
    }
    return (long)next + 1;
}

static void smfc_loop(smfc_client_t *c)
{
    for (;;) {
        smfc_fill(c);
        smfc_flush(c);
        smfc_report_progress(c->report, (size_t)c->next_print, smfc_input_total(c->in), false);
        if (c->eof && c->next_print == c->next_seq)
            return;
        long wait = smfc_resend(c, smfc_expire(c));
        if (!smfc_any_in_flight(c) && !c->probing) {
            /* Waiting to probe an engine deemed down: nothing to poll. */
            double until = c->probe_at - smfc_now_ms();
            if (c->down && !c->unreachable && !c->eof && until > 0)
                usleep((useconds_t)((until < 200 ? until : 200) * 1000));
            continue; /* Expiry may have finished the window: refill. */
        }
        zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, wait < 200 ? wait : 200);
        if (rc < 0 && zmq_errno() != EINTR) {
            fprintf(stderr, "smfc: poll: %s\n", zmq_strerror(zmq_errno()));
            exit(1);
        }
        if (rc > 0)
            smfc_receive(c);
    }
}

/* How long a missing ipc socket may take to appear (an smfd starting). */
#define SMFC_IPC_WAIT_MS 3000

/*
 * A missing ipc socket means smfd is not running, or is still starting:
 * wait a little for it, then say so rather than let every message wait
 * out the whole timeout. -1 when it never appeared.
 */
static int smfc_check_ipc(const char *endpoint, long timeout_ms)
{
    struct stat st;
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@')
        return 0;
    long wait = timeout_ms < SMFC_IPC_WAIT_MS ? timeout_ms : SMFC_IPC_WAIT_MS;
    for (long waited = 0; stat(endpoint + 6, &st) < 0; waited += 100) {
        if (waited >= wait) {
            fprintf(stderr,
                    "smfc: %s does not exist: smfd is not running, or listens elsewhere "
                    "(its `listen` setting; give it with -e)\n",
                    endpoint + 6);
            return -1;
        }
        usleep(100 * 1000);
    }
    return 0;
}

/*
 * The host and port of "tcp://host:port" (an IPv6 host in brackets); false
 * for any other shape, such as one with a source address ("tcp://src;host:
 * port"), which is left to ZeroMQ to judge.
 */
static bool smfc_tcp_target(const char *endpoint, char host[256], char port[32])
{
    if (strncmp(endpoint, "tcp://", 6) != 0 || strchr(endpoint, ';') != NULL)
        return false;
    const char *h = endpoint + 6, *colon = strrchr(h, ':');
    if (colon == NULL)
        return false;
    size_t hl = (size_t)(colon - h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    size_t pl = strlen(colon + 1);
    if (hl == 0 || hl >= 256 || pl == 0 || pl >= 32)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return true;
}

/* 0 when a TCP connection to ai is accepted within wait_ms, else the errno. */
static int smfc_tcp_connects(const struct addrinfo *ai, long wait_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        err = errno;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (err == EINPROGRESS) {
            err = ETIMEDOUT;
            socklen_t len = sizeof err;
            if (poll(&pfd, 1, (int)wait_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        }
    }
    close(fd);
    return err;
}

/*
 * A tcp:// endpoint that refuses connections or cannot be reached means
 * smfd is not running there (or is still starting): as for a missing ipc
 * socket, wait a little, then say so, rather than let each message wait out
 * the timeout and the run then wait --down-wait for an engine that was never
 * up. A name that does not resolve is said at once, unless the resolver
 * only could not answer for now (EAI_AGAIN): that is asked again within the
 * same wait, as a refused connection is. -1 on either.
 *
 * The address tried is the one ZeroMQ connects to: the name's first IPv4
 * address, or its first IPv6 one for an endpoint that names an IPv6 address
 * (see zmqaddr_is_ipv6). An engine at one of its other addresses would
 * pass a check that tried them all, and then never be reached.
 */
static int smfc_check_tcp(const char *endpoint, long timeout_ms)
{
    char host[256], port[32];
    if (!smfc_tcp_target(endpoint, host, port))
        return 0;
    long wait = timeout_ms < SMFC_IPC_WAIT_MS ? timeout_ms : SMFC_IPC_WAIT_MS;
    /* One deadline for the lookup and every attempt: an address that lets a
     * connection attempt hang takes its time from the wait, not once per
     * retry. */
    double end = smfc_now_ms() + (double)wait;
    bool v6 = zmqaddr_is_ipv6(endpoint);
    struct addrinfo hints = {.ai_family = v6 ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = v6 ? AI_V4MAPPED : 0},
                    *res = NULL;
    int gai;
    while ((gai = getaddrinfo(host, port, &hints, &res)) == EAI_AGAIN) {
        double left = end - smfc_now_ms();
        if (left <= 0)
            break;
        usleep((useconds_t)((left < 100 ? left : 100) * 1000));
    }
    if (gai != 0) {
        fprintf(stderr, "smfc: %s: cannot resolve %s: %s\n", endpoint, host, gai_strerror(gai));
        return -1;
    }
    /* An attempt started near the deadline still gets a fair try. */
    long fair = wait < 1000 ? wait : 1000;
    int err;
    for (;;) {
        double left = end - smfc_now_ms();
        err = smfc_tcp_connects(res, left > (double)fair ? (long)left : fair);
        left = end - smfc_now_ms();
        if (err == 0 || left <= 0)
            break;
        usleep((useconds_t)((left < 100 ? left : 100) * 1000));
    }
    freeaddrinfo(res);
    if (err == 0)
        return 0;
    fprintf(stderr,
            "smfc: cannot connect to %s: %s: smfd is not running, or listens elsewhere "
            "(its `listen` setting; give it with -e)\n",
            endpoint, strerror(err));
    return -1;
}

/* A key given on the command line is either the 40 Z85 characters or the
 * name of a file holding them (as written by `smfctl keygen`). */
static int smfc_read_key(const char *arg, char out[41])
{
    if (strlen(arg) == 40 && zmq_z85_decode((uint8_t[32]){0}, arg) != NULL) {
        memcpy(out, arg, 41);
        return 0;
    }
    FILE *f = fopen(arg, "r");
    if (f == NULL)
        return -1;
    char line[256];
    int rc = -1;
    while (rc != 0 && fgets(line, sizeof line, f) != NULL) {
        /* Z85 uses '#': a comment is "# ..." and a key is a 40-character word. */
        if (line[0] == '#' && (line[1] == ' ' || line[1] == '\n'))
            continue;
        size_t n = strcspn(line, " \t\r\n");
        if (n == 40) {
            memcpy(out, line, 40);
            out[40] = '\0';
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* CURVE: this client's key pair and the engine's public key. */
static int smfc_curve(smfc_client_t *c)
{
    char server[41], secret[41], public[41];
    if (smfc_read_key(c->o->curve_server, server) != 0) {
        fprintf(stderr, "smfc: --curve-server %s: not a Z85 public key nor a file with one\n",
                c->o->curve_server);
        return -1;
    }
    if (c->o->curve_key == NULL || smfc_read_key(c->o->curve_key, secret) != 0 ||
        zmq_curve_public(public, secret) != 0) {
        fprintf(stderr, "smfc: --curve-key: a file with this client's secret key is needed "
                        "(make one with `smfctl keygen PREFIX`)\n");
        return -1;
    }
    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, server, 41);
    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, public, 41);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, secret, 41);
    return 0;
}

static int smfc_connect(smfc_client_t *c)
{
    c->ctx = zmq_ctx_new();
    c->sock = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
    if (!c->sock) {
        fprintf(stderr, "smfc: cannot create a ZeroMQ socket: %s\n", zmq_strerror(zmq_errno()));
        return -1;
    }
    int linger = 0, timeout = (int)c->o->timeout_ms;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    if (c->o->curve_server != NULL && smfc_curve(c) != 0)
        return -1;
    if (zmqaddr_prepare(c->sock, c->o->endpoint) != 0 || zmq_connect(c->sock, c->o->endpoint) < 0) {
        fprintf(stderr, "smfc: cannot connect to %s: %s\n", c->o->endpoint,
                zmq_strerror(zmq_errno()));
        return -1;
    }
    if (smfc_check_ipc(c->o->endpoint, c->o->timeout_ms) != 0 ||
        smfc_check_tcp(c->o->endpoint, c->o->timeout_ms) != 0)
        return -2;
    return 0;
}

int smfc_client_run(const smfc_opts_t *o)
{
    smfc_client_t c;
    memset(&c, 0, sizeof c);
    c.o = o;
    snprintf(c.id_prefix, sizeof c.id_prefix, "smfc-%ld-", (long)getpid());
    c.slots = calloc(o->jobs, sizeof *c.slots);
    int rc = c.slots != NULL ? smfc_connect(&c) : -1;
    if (rc < 0) {
        free(c.slots);
        /* No engine to ask: no message got a verdict. */
        return rc == -2 ? 1 : 2;
    }
    c.in = smfc_input_new(o->paths, o->npaths);
    c.report = smfc_report_new(o, smfc_input_label_width(c.in));
    smfc_loop(&c);
    size_t failed = smfc_report_finish(c.report);
    smfc_report_destroy(&c.report);
    smfc_input_destroy(&c.in);
    zmq_close(c.sock);
    zmq_ctx_term(c.ctx);
    free(c.slots);
    free(c.unreachable);
    return failed ? 1 : 0;
}
