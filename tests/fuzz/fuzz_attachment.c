/*
 * fuzz_attachment.c - the whole attachment module (modules/attachment) over
 * one attachment whose bytes are the input: a message of two parts, a
 * multipart/mixed container and "fuzz.zip", is handed to the module's scan()
 * as the engine runs a stage (scanctx_stage). The module decides from the
 * bytes what they are, so this reaches its archive walk through libarchive
 * (nested archives, encrypted entries, limits), the zip name walker, the
 * gzip member reader, the OLE2 macro check and libmagic's file types, all
 * over data a sender chooses. The limits are the defaults but for the bytes
 * expanded, lowered so that a small bomb is not a timeout.
 */
#include "attachment.h"
#include "clock.h"
#include "fuzz_common.h"
#include "message.h"
#include "scanctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const smf_module_t smf_module;

static att_state_t *state;
static void *tstate;

static int setup(void)
{
    static const char *const blocked[] = {"exe", "scr", "js", "vbs", "bat", "lnk", "iso", "one",
                                          NULL};
    att_conf_t conf = {.blocked_extensions = blocked,
                       .blocked_score = 10,
                       .double_ext_score = 6,
                       .archive_blocked_score = 8,
                       .encrypted_score = 2,
                       .type_mismatch_score = 10,
                       .limit_score = 2,
                       .damaged_score = 1,
                       .macro_score = 5,
                       .zip_name_mismatch_score = 6,
                       .zip_concatenated_score = 6,
                       .archive_max_depth = 3,
                       .archive_max_entries = 1000,
                       .archive_max_expanded = 4 << 20,
                       .blocked_action = "score"};
    if ((state = calloc(1, sizeof(*state))) == NULL || att_policies_load(NULL, &conf, state) != 0 ||
        smf_module.thread_init(state, &tstate) != 0) {
        fprintf(stderr, "fuzz_attachment: cannot set the module up (libmagic's database?)\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready)
        ready = !setup();
    arena_t *arena = arena_new(4096);
    smf_part_t parts[2] = {
        {.index = 0,
         .parent = -1,
         .depth = 0,
         .flags = SMF_PART_MULTIPART,
         .content_type = "multipart/mixed",
         .filename = "",
         .charset = "",
         .other_filename = "",
         .data = (const unsigned char *)"",
         .size = 0},
        {.index = 1,
         .parent = 0,
         .depth = 1,
         .flags = SMF_PART_ATTACHMENT,
         .content_type = "application/octet-stream",
         .filename = "fuzz.zip",
         .charset = "",
         .other_filename = "",
         .data = data,
         .size = size},
    };
    static const char *const to[] = {"user@example.org", NULL};
    message_t m = {.raw = "",
                   .parts = parts,
                   .part_count = 2,
                   .subject = "",
                   .from = "sender@example.com",
                   .to = (const char **)to,
                   .text = "",
                   .truncated = NULL};
    static const char *const rcpt[] = {"user@example.org"};
    smf_envelope_t env = {.request_id = "fuzz",
                          .queue_id = "",
                          .client_ip = "192.0.2.1",
                          .client_name = "",
                          .helo = "client.example.com",
                          .sender = "sender@example.com",
                          .auth_user = "",
                          .rcpt = rcpt,
                          .rcpt_count = 1};
    smf_msg_t x;
    scanctx_init(&x, arena, &m, &env, "example.org", clock_wall_ms() + 60000, 64 << 20, NULL);
    stage_outcome_t o = scanctx_stage(&x, &smf_module, state, tstate, 0);
    (void)o;
    for (size_t i = 0; i < x.nsymbols; i++) {
        fuzz_touch_str(x.symbols[i].name);
        fuzz_touch_str(x.symbols[i].detail);
    }
    arena_destroy(&arena);
    return 0;
}
