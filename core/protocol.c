/*
 * protocol.c - parsing request envelopes and writing error replies.
 */
#include "protocol.h"
#include "idna.h"

#include "xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

static const char *copy_string(arena_t *a, json_t *obj, const char *key, const char **why, bool *ok)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return "";
    if (!json_is_string(v)) {
        *why = arena_printf(a, "%s: expected a string", key);
        *ok = false;
        return "";
    }
    return arena_strndup(a, json_string_value(v), json_string_length(v));
}

static int read_recipients(arena_t *a, json_t *obj, bool required, smf_envelope_t *env,
                           const char **why)
{
    json_t *r = json_object_get(obj, "recipients");
    size_t n = json_is_array(r) ? json_array_size(r) : 0;
    /* null counts as absent, as for every other field. */
    if (!required && (r == NULL || json_is_null(r) || (json_is_array(r) && n == 0))) {
        env->rcpt = arena_calloc(a, 1, sizeof(char *));
        env->rcpt_count = 0;
        return 0;
    }
    if (n > PROTOCOL_MAX_RCPTS) {
        *why = "recipients: more than 10000; send the message in several requests";
        return -1;
    }
    if (n == 0) {
        *why = "recipients: expected a non-empty array of strings";
        return -1;
    }
    const char **list = arena_calloc(a, n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(r, i);
        if (!json_is_string(s) || json_string_length(s) == 0) {
            *why = "recipients: expected a non-empty array of strings";
            return -1;
        }
        list[i] = arena_strndup(a, json_string_value(s), json_string_length(s));
    }
    env->rcpt = list;
    env->rcpt_count = n;
    return 0;
}

static int read_direction(json_t *obj, smf_envelope_t *env, const char **why)
{
    json_t *d = json_object_get(obj, "direction");
    env->direction = SMF_DIR_INBOUND;
    if (d == NULL || json_is_null(d))
        return 0;
    const char *s = json_is_string(d) ? json_string_value(d) : "";
    if (strcmp(s, "inbound") == 0)
        return 0;
    if (strcmp(s, "outbound") == 0) {
        env->direction = SMF_DIR_OUTBOUND;
        return 0;
    }
    *why = "direction: expected \"inbound\" or \"outbound\"";
    return -1;
}

static int read_deadline(json_t *obj, int64_t now_ms, int64_t *deadline_ms, const char **why)
{
    json_t *d = json_object_get(obj, "deadline");
    json_t *t = json_object_get(obj, "timeout_ms");
    bool has_d = d != NULL && !json_is_null(d), has_t = t != NULL && !json_is_null(t);
    *deadline_ms = 0;
    /* Each field given is checked, the one that does not apply too: a
     * front end that sends a wrong one learns of it at once. */
    if (has_d && !json_is_integer(d)) {
        *why = "deadline: expected an integer (Unix time in milliseconds)";
        return -1;
    }
    /* Before 1970 no answer is useful, and time left would overflow. */
    if (has_d && json_integer_value(d) < 0) {
        *why = "deadline: expected Unix time in milliseconds, not negative";
        return -1;
    }
    /* Up to a day: enough for any scan, and the sum cannot overflow. */
    if (has_t &&
        (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > 86400000)) {
        *why = "timeout_ms: expected milliseconds from 0 to 86400000";
        return -1;
    }
    /* 0 would read as no deadline at all: any time before now has passed
     * alike, so the first millisecond stands for it. */
    if (has_d)
        *deadline_ms = json_integer_value(d) > 0 ? json_integer_value(d) : 1;
    else if (has_t)
        *deadline_ms = now_ms + json_integer_value(t);
    return 0;
}

/* "split": a boolean; absent or null is false, as for older front ends. */
static int read_split(json_t *obj, bool *split, const char **why)
{
    json_t *s = json_object_get(obj, "split");
    *split = json_is_true(s);
    if (s == NULL || json_is_null(s) || json_is_boolean(s))
        return 0;
    *why = "split: expected true or false";
    return -1;
}

/*
 * "client_ip": an IPv4 or IPv6 address as inet_pton reads it, or "" (or
 * absent) for a client not known. Anything else ("unknown", a name, an
 * address literal in brackets) would reach the modules as an unknown
 * client, whose address checks (lists, DNS lists, history, SPF) would then
 * silently not run: the front end learns of it instead.
 */
static int read_client_ip(const smf_envelope_t *env, const char **why)
{
    unsigned char addr[sizeof(struct in6_addr)];
    const char *s = env->client_ip;

    if (s[0] == '\0' || inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
        return 0;
    *why = "client_ip: expected an IPv4 or IPv6 address (192.0.2.1, 2001:db8::1), or \"\" for "
           "an unknown client";
    return -1;
}

int protocol_parse_envelope(arena_t *a, const frame_t *f, const char *request_id,
                            bool rcpt_required, smf_envelope_t *env, protocol_request_t *req,
                            int64_t now_ms, const char **why)
{
    json_error_t jerr;
    memset(env, 0, sizeof(*env));
    memset(req, 0, sizeof(*req));
    if (f->size > PROTOCOL_MAX_ENVELOPE) {
        *why = "the envelope is larger than 4 MiB";
        return -1;
    }
    json_t *obj = json_loadb(f->data, f->size, JSON_REJECT_DUPLICATES, &jerr);
    if (obj == NULL || !json_is_object(obj)) {
        *why = obj == NULL ? arena_printf(a, "not JSON: %s", jerr.text)
                           : "the envelope must be a JSON object";
        json_decref(obj);
        return -1;
    }
    bool ok = true;
    env->request_id = request_id;
    env->queue_id = copy_string(a, obj, "queue_id", why, &ok);
    env->client_ip = copy_string(a, obj, "client_ip", why, &ok);
    env->client_name = copy_string(a, obj, "client_name", why, &ok);
    env->helo = copy_string(a, obj, "helo", why, &ok);
    env->sender = copy_string(a, obj, "sender", why, &ok);
    env->auth_user = copy_string(a, obj, "auth_user", why, &ok);
    int rc = ok ? 0 : -1;
    if (rc == 0)
        rc = read_client_ip(env, why);
    if (rc == 0)
        rc = read_recipients(a, obj, rcpt_required, env, why);
    if (rc == 0)
        rc = read_direction(obj, env, why);
    if (rc == 0)
        rc = read_deadline(obj, now_ms, &req->deadline_ms, why);
    if (rc == 0)
        rc = read_split(obj, &req->split, why);
    json_decref(obj);
    return rc;
}

char *protocol_error_json(const char *request_id, const char *code, const char *message)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "schema", PROTOCOL_SCHEMA, "request_id",
                          request_id, "error", code, "message", message);
    /* Text that is not UTF-8 cannot go into JSON; the reply must still go
     * out, so it goes without the id and with a message of its own. */
    if (o == NULL)
        o = json_pack("{s:i, s:s, s:s, s:s}", "schema", PROTOCOL_SCHEMA, "request_id", "", "error",
                      code, "message", "the request's text is not UTF-8");
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s != NULL ? s : xstrdup("{}");
}

bool protocol_id_ok(const void *data, size_t n)
{
    if (n == 0 || n > PROTOCOL_MAX_ID)
        return false;
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 32 || p[i] >= 127)
            return false;
    return true;
}

const char *protocol_request_id(arena_t *a, const frame_t *f)
{
    return protocol_id_ok(f->data, f->size) ? arena_strndup(a, f->data, f->size) : NULL;
}

const char *protocol_rcpt_domain(arena_t *a, const char *addr)
{
    const char *at = strrchr(addr, '@');
    const char *d = at ? at + 1 : "";
    size_t n = strlen(d);
    if (n > 0 && d[n - 1] == '>')
        n--;
    /* The same policy, quarantine and lists for "Bücher.example." and
     * "xn--bcher-kva.example". */
    char name[1024];
    long len = idna_domain(d, n, name, sizeof(name));
    if (len >= 0)
        return arena_strndup(a, name, (size_t)len);
    /* Not UTF-8: kept in lower case, and quarantined with invalid domains. */
    if (n > 1 && d[n - 1] == '.')
        n--;
    char *s = arena_strndup(a, d, n);
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}
