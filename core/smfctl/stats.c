/*
 * stats.c - `smfctl stats [--json]`: asks the running smfd (over its scan
 * endpoint, request STATS) what it has done since it started: messages per
 * action, each stage's outcomes and time, and health problems.
 */
#include "config.h"
#include "smfctl.h"
#include "zmqaddr.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define STATS_TIMEOUT_MS 5000

static void *connect_engine(void *zctx, const config_t *c, const char *client_key)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    if (c->curve.enabled) {
        char secret[CURVE_Z85_LEN + 1], public[CURVE_Z85_LEN + 1];
        if (client_key == NULL || curve_read_key(client_key, secret) != 0 ||
            zmq_curve_public(public, secret) != 0) {
            zmq_close(s);
            smfctl_fail(2, "the endpoint uses CURVE: pass --curve-key FILE with a key pair "
                           "listed in curve_clients_file");
            return NULL;
        }
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->curve.public, 41);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, public, 41);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 41);
    }
    zmqaddr_prepare(s, c->listen);
    zmq_connect(s, c->listen);
    return s;
}

/* Sends STATS and returns the reply's JSON, or NULL after saying why. */
static json_t *ask(void *s, const char *endpoint)
{
    const char *frames[3] = {"SMF/1", "STATS", "smfctl-stats"};
    for (int i = 0; i < 3; i++)
        zmq_send(s, frames[i], strlen(frames[i]), i < 2 ? ZMQ_SNDMORE : 0);
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, STATS_TIMEOUT_MS) <= 0) {
        smfctl_fail(1, "no answer from %s within %d ms: is smfd running?", endpoint,
                    STATS_TIMEOUT_MS);
        return NULL;
    }
    zmq_msg_t m[4];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, s, 0) < 0) {
            zmq_msg_close(&tmp);
            break;
        }
        more = zmq_msg_more(&tmp);
        if (n < 4)
            m[n++] = tmp;
        else
            zmq_msg_close(&tmp);
    }
    json_t *reply = NULL;
    if (n == 4 && zmq_msg_size(&m[1]) == 5 && memcmp(zmq_msg_data(&m[1]), "STATS", 5) == 0)
        reply = json_loadb(zmq_msg_data(&m[3]), zmq_msg_size(&m[3]), 0, NULL);
    else
        smfctl_fail(1, "%s did not answer STATS as expected: %.*s", endpoint,
                    n == 4 ? (int)zmq_msg_size(&m[3]) : 0,
                    n == 4 ? (const char *)zmq_msg_data(&m[3]) : "");
    for (int i = 0; i < n; i++)
        zmq_msg_close(&m[i]);
    return reply;
}

static long long num(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static void print_table(json_t *st)
{
    json_t *actions = json_object_get(st, "actions");
    long long messages = num(st, "messages");
    printf("smfd %s, generation %lld, %lld worker(s)\n",
           json_string_value(json_object_get(st, "version")), num(st, "generation"),
           num(st, "workers"));
    printf("messages  %lld: accept %lld, add_header %lld, quarantine %lld, tempfail %lld, "
           "reject %lld; %.2f ms each in the engine\n",
           messages, num(actions, "accept"), num(actions, "add_header"), num(actions, "quarantine"),
           num(actions, "tempfail"), num(actions, "reject"),
           messages ? json_number_value(json_object_get(st, "engine_ms")) / (double)messages : 0);
    json_t *queue = json_object_get(st, "queue");
    printf("queue     %lld being scanned, %lld waiting for a worker (peak %lld), %lld refused "
           "busy\n",
           num(queue, "in_flight"), num(queue, "waiting"), num(queue, "peak"),
           num(queue, "refused_busy"));
    printf("\n%-12s %9s %9s %12s %7s %8s %10s\n", "STAGE", "CLEAN", "DETECTED", "UNSCANNABLE",
           "ERROR", "SKIPPED", "MS/SCAN");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(st, "stages"), i, s)
    {
        long long ran =
            num(s, "clean") + num(s, "detected") + num(s, "unscannable") + num(s, "error");
        printf("%-12s %9lld %9lld %12lld %7lld %8lld %10.3f\n",
               json_string_value(json_object_get(s, "module")), num(s, "clean"), num(s, "detected"),
               num(s, "unscannable"), num(s, "error"), num(s, "skipped"),
               ran ? json_number_value(json_object_get(s, "ms")) / (double)ran : 0);
    }
    json_t *health = json_object_get(st, "health");
    printf("\nhealth: %s\n", json_array_size(health) ? "" : "no problem reported");
    json_array_foreach(health, i, s)
    {
        time_t last = (time_t)(num(s, "last") / 1000);
        char when[32];
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&last));
        printf("  %s: %s (%lld time(s), last %s UTC)\n",
               json_string_value(json_object_get(s, "module")),
               json_string_value(json_object_get(s, "problem")), num(s, "count"), when);
    }
}

const char smfctl_stats_usage[] = "usage: smfctl stats [--json] [--curve-key FILE]";

int smfctl_stats(const smfctl_t *ctl, int argc, char **argv)
{
    bool as_json = false;
    const char *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[i], "--curve-key") == 0 && i + 1 < argc)
            key = argv[++i];
        else
            return smfctl_fail(2, "%s", smfctl_stats_usage);
    }
    char err[2048];
    config_t *c;
    if (config_load(ctl->config, ctl->overrides, ctl->noverrides, &c, err, sizeof(err)) != 0)
        return smfctl_fail(2, "%s", err);
    void *zctx = zmq_ctx_new();
    void *s = connect_engine(zctx, c, key);
    json_t *st = s ? ask(s, c->listen) : NULL;
    int rc = st ? 0 : s ? 1 : 2;
    if (st != NULL && as_json) {
        char *text = json_dumps(st, JSON_INDENT(2));
        puts(text);
        free(text);
    } else if (st != NULL) {
        print_table(st);
    }
    json_decref(st);
    if (s)
        zmq_close(s);
    zmq_ctx_term(zctx);
    config_free(&c);
    return rc;
}
