/*
 * fuzz_envelope.c - the SMF/1 envelope parser (core/protocol.c) over
 * arbitrary bytes. Frame 3 of every SCAN and CONNECT request is JSON a
 * front end sends (docs/protocol.md), and anything that can reach the scan
 * endpoint can send anything. protocol_parse_envelope() runs as for a SCAN
 * (recipients required) and as for a CONNECT; an accepted envelope is read
 * whole, each recipient's domain taken as the pipeline takes it, and a
 * refused one must say why. The ERROR reply is then built with that reason
 * and the input as the request id, as smfd answers a bad request.
 */
#include "fuzz_common.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_envelope(arena_t *a, const smf_envelope_t *env)
{
    fuzz_touch_str(env->request_id);
    fuzz_touch_str(env->queue_id);
    fuzz_touch_str(env->client_ip);
    fuzz_touch_str(env->client_name);
    fuzz_touch_str(env->helo);
    fuzz_touch_str(env->sender);
    fuzz_touch_str(env->auth_user);
    FUZZ_CHECK(env->rcpt_count <= PROTOCOL_MAX_RCPTS);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        fuzz_touch_str(env->rcpt[i]);
        fuzz_touch_str(protocol_rcpt_domain(a, env->rcpt[i]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_t *a = arena_new(size * 4 + 4096);
    frame_t f = {data, size};
    for (int required = 1; required >= 0; required--) {
        smf_envelope_t env;
        protocol_request_t req;
        const char *why = NULL;
        int rc =
            protocol_parse_envelope(a, &f, "fuzz-1", required, &env, &req, 1700000000000, &why);
        FUZZ_CHECK(rc == 0 || rc == -1);
        if (rc == 0) {
            FUZZ_CHECK(!required || env.rcpt_count > 0);
            read_envelope(a, &env);
        } else {
            FUZZ_CHECK(why != NULL && why[0] != '\0');
            const char *id = protocol_request_id(a, &f);
            char *reply = protocol_error_json(id != NULL ? id : "", PERR_ENVELOPE, why);
            FUZZ_CHECK(reply != NULL);
            fuzz_touch_str(reply);
            free(reply);
        }
    }
    arena_destroy(&a);
    return 0;
}
