/*
 * ratelimit.c - sliding-hour counters: this hour's count plus the last
 * hour's, weighted by how much of it still lies inside the window. A
 * message scanned once per recipient domain counts once as a message; a
 * connection check (MAIL FROM, RCPT TO) counts nothing.
 */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

#define HOUR_MS 3600000LL

/* One counter record, as stored (host byte order). */
typedef struct rep_rate {
    int64_t hour; /* now_ms / HOUR_MS of `cur`. */
    uint32_t cur_msgs, cur_rcpts, prev_msgs, prev_rcpts;
    uint64_t last_request; /* Hash of the last request counted as a message. */
} rep_rate_t;

uint64_t rep_request_hash(const smf_envelope_t *env)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = env->request_id; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (const char *p = env->queue_id; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h | 1; /* 0 means "none". */
}

/* Moves the window to the current hour. A clock stepped back a little, or
 * a worker that read the time just before another counted into the next
 * hour, keeps the counts: a limit must not start again from nothing on
 * either. Counts stamped hours ahead (a clock that ran fast, then was set
 * right) start again, or they would not decay until that hour came. */
#define RATE_MAX_STEP_BACK 2

static void rate_roll(rep_rate_t *r, int64_t hour)
{
    /* Counts stamped a little ahead keep their hour: stamped back to this
     * one, a record another worker already moved into the next hour would
     * have those counts taken for the last hour's at its next count there,
     * and the last hour's dropped. The sweep stamps now only records further
     * ahead than a count at the turn of the hour leaves (rep_rate_ahead). */
    if (hour <= r->hour && r->hour - hour <= RATE_MAX_STEP_BACK)
        return;
    if (r->hour == hour - 1) {
        r->prev_msgs = r->cur_msgs;
        r->prev_rcpts = r->cur_rcpts;
    } else {
        r->prev_msgs = r->prev_rcpts = 0;
    }
    r->cur_msgs = r->cur_rcpts = 0;
    r->hour = hour;
}

/* The last hour's share still inside the sliding window. */
static double rate_estimate(uint32_t cur, uint32_t prev, int64_t now_ms)
{
    double elapsed = (double)(now_ms % HOUR_MS) / (double)HOUR_MS;

    return cur + prev * (1.0 - elapsed);
}

/* What one count needs inside the store's lock, and what it leaves after. */
typedef struct rate_step {
    int64_t hour;
    uint64_t request;
    uint32_t rcpts;
    rep_rate_t after;
} rate_step_t;

/* Rolls the window and counts this request, as one locked step (smf_kv_update):
 * workers counting the same sender at once must not lose each other's counts. */
static int rate_apply(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen)
{
    rate_step_t *step = arg;
    rep_rate_t r = {0};
    if (old != NULL && oldlen == sizeof(r))
        memcpy(&r, old, sizeof(r));
    rate_roll(&r, step->hour);
    if (r.last_request != step->request)
        r.cur_msgs++;
    r.last_request = step->request;
    r.cur_rcpts += step->rcpts;
    memcpy(out, &r, sizeof(r));
    *outlen = sizeof(r);
    step->after = r;
    return 0;
}

/* The counts as they stand, rolled to the current hour, without a write. */
static int rate_peek(smf_msg_t *msg, const char *key, size_t klen, int64_t hour, rep_rate_t *r)
{
    const void *val;
    size_t vlen;
    int rc = smf_kv_get(msg, key, klen, &val, &vlen);
    memset(r, 0, sizeof(*r));
    if (rc == SMF_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (vlen == sizeof(*r))
        memcpy(r, val, sizeof(*r));
    rate_roll(r, hour);
    return 0;
}

/* The longest key the store takes. */
#define RATE_KEY_MAX 255

/*
 * The key a name counts under, "r\tWHO\tNAME"; its length, or -1. A name
 * too long for a key (a sender address can be longer than 255 bytes)
 * counts under its first bytes and a hash of the whole, "r\tWHO#\tNAME...
 * #HASH": skipped instead, it would send without a limit. The '#' after
 * WHO keeps such keys apart from every name's own.
 */
static int rate_key(char key[RATE_KEY_MAX + 1], const char *who, const char *name)
{
    int klen = snprintf(key, RATE_KEY_MAX + 1, "r\t%s\t%s", who, name);
    uint64_t h = 1469598103934665603ULL;

    if (klen < 0 || klen <= RATE_KEY_MAX)
        return klen;
    for (const char *p = name; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    /* "r\t" WHO "#\t" CUT "#" 16 hex digits. */
    int cut = RATE_KEY_MAX - (int)strlen(who) - 2 - 2 - 1 - 16;
    if (cut < 0)
        return -1;
    return snprintf(key, RATE_KEY_MAX + 1, "r\t%s#\t%.*s#%016llx", who, cut, name,
                    (unsigned long long)h);
}

int rep_rate_count(smf_msg_t *msg, const char *who, const char *name, const rep_rate_limits_t *lim,
                   int64_t now_ms, bool count, const char **detail)
{
    const smf_envelope_t *env = smf_msg_envelope(msg);
    char key[RATE_KEY_MAX + 1];
    int klen = rate_key(key, who, name);
    int rc;
    rep_rate_t r;

    if (klen <= 0 || klen > RATE_KEY_MAX || name[0] == '\0')
        return 0;
    rate_step_t step = {now_ms / HOUR_MS, rep_request_hash(env), (uint32_t)env->rcpt_count};
    if (count) {
        if ((rc = smf_kv_update(msg, key, (size_t)klen, rate_apply, &step)) < 0)
            return rc;
        r = step.after;
    } else {
        if ((rc = rate_peek(msg, key, (size_t)klen, step.hour, &r)) < 0)
            return rc;
        /* What the message this check is for would bring. */
        r.cur_msgs++;
        r.cur_rcpts += step.rcpts;
    }

    double msgs = rate_estimate(r.cur_msgs, r.prev_msgs, now_ms);
    double rcpts = rate_estimate(r.cur_rcpts, r.prev_rcpts, now_ms);
    if (lim->messages > 0 && msgs > (double)lim->messages) {
        *detail = smf_msg_printf(msg, "%s %s: %.0f messages in the last hour, limit %ld", who, name,
                                 msgs, lim->messages);
        return 1;
    }
    if (lim->recipients > 0 && rcpts > (double)lim->recipients) {
        *detail = smf_msg_printf(msg, "%s %s: %.0f recipients in the last hour, limit %ld", who,
                                 name, rcpts, lim->recipients);
        return 1;
    }
    return 0;
}

bool rep_rate_stale(const void *val, size_t vlen, int64_t now_ms)
{
    rep_rate_t r;

    if (vlen != sizeof(r))
        return true;
    memcpy(&r, val, sizeof(r));
    rate_roll(&r, now_ms / HOUR_MS);
    return r.cur_msgs == 0 && r.cur_rcpts == 0 && r.prev_msgs == 0 && r.prev_rcpts == 0;
}

/* How far ahead of the sweep's clock the hour a record is stamped with may
 * begin and still be a count at the turn of the hour: by a worker whose
 * clock read the new hour a moment before the sweep's (read at the start of
 * its message) did. */
#define RATE_AHEAD_SLACK_MS (5 * 60 * 1000LL)

bool rep_rate_ahead(const void *val, size_t vlen, int64_t now_ms, void *out, size_t *outlen)
{
    rep_rate_t r;
    int64_t hour = now_ms / HOUR_MS;

    if (vlen != sizeof(r))
        return false;
    memcpy(&r, val, sizeof(r));
    if (r.hour <= (now_ms + RATE_AHEAD_SLACK_MS) / HOUR_MS)
        return false;
    /* Counts stamped a little ahead are this hour's, so that they leave the
     * window an hour from now; further ahead, they start again (rate_roll). */
    if (r.hour - hour <= RATE_MAX_STEP_BACK)
        r.hour = hour;
    else
        rate_roll(&r, hour);
    memcpy(out, &r, sizeof(r));
    *outlen = sizeof(r);
    return true;
}
