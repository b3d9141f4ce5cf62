/*
 * bench_lists.c - how fast the lists module checks a message against a big
 * store: loads lists.so as smfd does, scans one message over and over with
 * changing client addresses and senders, and prints checks per second and
 * raw key reads per second. Run by scripts/bench-lists; not a test.
 *
 *   bench_lists MODULE.so DATA_DIR SECONDS
 */
#include "clock.h"
#include "config.h"
#include "generation.h"
#include "listkeys.h"
#include "log.h"
#include "message.h"
#include "scanctx.h"
#include "xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVARIANTS 4096

static const char mail[] = "From: a@example.net\r\nSubject: hello\r\n\r\nJust text.\r\n";

/* The lists module alone, as smf-modtest configures it. */
static generation_t *load(const char *module, const char *data_dir, kv_t *kv)
{
    char err[2048];
    config_t *c = xcalloc(1, sizeof(*c));
    generation_t *g;

    c->mem = arena_new(4096);
    c->dir = ".";
    c->data_dir = data_dir;
    c->arena_limit = 64 * 1024 * 1024;
    message_limits_default(&c->limits);
    c->nmodules = 1;
    c->modules = arena_calloc(c->mem, 1, sizeof(module_conf_t));
    module_conf_t *m = &c->modules[0];
    if (modload_open(module, &m->lib, err, sizeof(err)) != 0 ||
        config_module_options(m->lib.desc, "", c->mem, &m->conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_lists: %s\n", err);
        exit(2);
    }
    m->name = m->lib.desc->name;
    m->enabled = true;
    if (generation_new(c, kv, 1, 1, &g, err, sizeof(err)) != 0 || g->init_errors[0] != NULL) {
        fprintf(stderr, "bench_lists: %s\n",
                g != NULL && g->init_errors[0] ? g->init_errors[0] : err);
        exit(2);
    }
    return g;
}

/* Client addresses and senders: every other one is listed by scripts/bench-lists. */
static void variants(char (*ips)[64], char (*senders)[128])
{
    srand(42);
    for (int i = 0; i < NVARIANTS; i++) {
        unsigned r = (unsigned)rand();
        if (i % 2 == 0)
            snprintf(ips[i], 64, "10.%u.%u.%u", (r >> 16) & 0x0f, (r >> 8) & 0xff, r & 0xff);
        else
            snprintf(ips[i], 64, "172.%u.%u.%u", 16 + (r >> 16) % 16, (r >> 8) & 0xff, r & 0xff);
        snprintf(senders[i], 128, "user%u@host%u.sender%u.test", r % 1000, r % 7, r % 100000);
    }
}

/* Scans for `seconds`; returns scans done and counts the verdicts. */
static long run_scans(generation_t *g, kv_t *kv, double seconds, long *blocked)
{
    static char ips[NVARIANTS][64], senders[NVARIANTS][128];
    const char *rcpt[1] = {"user@example.com"};
    smf_envelope_t env = {.request_id = "b",
                          .queue_id = "",
                          .client_name = "",
                          .helo = "mx.test",
                          .auth_user = "",
                          .rcpt_count = 1,
                          .rcpt = rcpt};
    void *tstate;
    long n = 0;
    /* Parsed once: the figure is the list check, not the MIME parser. */
    arena_t *keep = arena_new(16384);
    message_t *m;

    message_parse(keep, mail, sizeof(mail) - 1, &g->conf->limits, &m);
    variants(ips, senders);
    generation_tstate(g, 0, 0, &tstate);
    int64_t end = clock_wall_ms() + (int64_t)(seconds * 1000);
    while (n % 256 != 0 || clock_wall_ms() < end) {
        arena_t *arena = arena_new(16384);
        smf_msg_t x;
        env.client_ip = ips[n % NVARIANTS];
        env.sender = senders[n % NVARIANTS];
        scanctx_init(&x, arena, m, &env, "example.com", clock_wall_ms() + 60000,
                     g->conf->arena_limit, kv);
        scanctx_stage(&x, g->conf->modules[0].lib.desc, g->states[0], tstate, g->dbis[0]);
        *blocked += x.force == SOFT_BLOCK;
        arena_destroy(&arena);
        n++;
    }
    arena_destroy(&keep);
    return n;
}

/* Raw exact-key reads of listed /32 entries, the unit every check is made of. */
static long run_reads(kv_t *kv, unsigned dbi, double seconds)
{
    arena_t *arena = arena_new(1 << 20);
    uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0}, key[LISTKEY_MAX];
    long n = 0;
    int64_t end = clock_wall_ms() + (int64_t)(seconds * 1000);

    while (n % 1024 != 0 || clock_wall_ms() < end) {
        const void *v;
        size_t vlen;
        unsigned r = (unsigned)rand();
        ip[13] = (uint8_t)((r >> 16) & 0x0f);
        ip[14] = (uint8_t)(r >> 8);
        ip[15] = (uint8_t)r;
        kv_get(kv, dbi, key, listkey_ip_key("global", ip, 128, key), arena, SIZE_MAX, &v, &vlen);
        if (++n % 4096 == 0) {
            arena_destroy(&arena);
            arena = arena_new(1 << 20);
        }
    }
    arena_destroy(&arena);
    return n;
}

int main(int argc, char **argv)
{
    char err[512], kvdir[4200];
    kv_t *kv;
    long blocked = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: bench_lists MODULE.so DATA_DIR SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[3]);
    message_init();
    log_set_level(SMF_LOG_ERROR);
    snprintf(kvdir, sizeof(kvdir), "%s/kv", argv[2]);
    if (kv_open(kvdir, &kv, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_lists: %s\n", err);
        return 2;
    }
    generation_t *g = load(argv[1], argv[2], kv);
    double t0 = clock_mono_ms();
    long scans = run_scans(g, kv, seconds, &blocked);
    double dt = (clock_mono_ms() - t0) / 1e3;
    printf("message checks: %ld in %.2f s = %.0f per second (%.1f us each), %ld blocked\n", scans,
           dt, scans / dt, dt * 1e6 / (double)scans, blocked);
    t0 = clock_mono_ms();
    long reads = run_reads(kv, g->dbis[0], seconds);
    dt = (clock_mono_ms() - t0) / 1e3;
    printf("raw key reads:  %ld in %.2f s = %.0f per second\n", reads, dt, reads / dt);
    generation_release(&g);
    kv_close(&kv);
    return 0;
}
