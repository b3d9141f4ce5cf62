/*
 * tmod.c - modules built for the engine's own tests. One source, many
 * variants chosen at build time: stages of each kind that react to marker
 * words in the message, and descriptors built to be refused by the loader.
 */
#include <smf/module.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct conf {
    double score;
    const char *allow_sender;
    const char *block_sender;
    const char *scope;
    long count;
    int flag;
    const char *const *names;
} conf_t;

static const smf_option_t options[] = {
    {"score", SMF_OPT_FLOAT, "3.5", offsetof(conf_t, score), "Score of T_HIT."},
    {"allow_sender", SMF_OPT_STRING, NULL, offsetof(conf_t, allow_sender), "Whitelisted sender."},
    {"block_sender", SMF_OPT_STRING, NULL, offsetof(conf_t, block_sender), "Blacklisted sender."},
    {"scope", SMF_OPT_STRING, NULL, offsetof(conf_t, scope),
     "What scope() answers: unset for NULL, \"letter\" for the recipient domain's first "
     "letter, else the text itself."},
#ifdef TMOD_BAD_OPTION
    {"far", SMF_OPT_INT, "1", sizeof(conf_t) + 64, "Stored outside conf_size."},
#endif
#ifdef TMOD_WRAP_OPTION
    {"before", SMF_OPT_INT, "1", (size_t)-2, "Stored before the struct: offset + size wraps."},
#endif
#ifdef TMOD_MISALIGNED_OPTION
    {"odd", SMF_OPT_FLOAT, "1", 1, "A double at an odd offset."},
#endif
#ifdef TMOD_BAD_INT_DEFAULT
    {"count", SMF_OPT_INT, "abc", offsetof(conf_t, count), "An integer whose default is not one."},
#endif
#ifdef TMOD_BAD_FLOAT_DEFAULT
    {"ratio", SMF_OPT_FLOAT, "0.5x", offsetof(conf_t, score), "A float with trailing text."},
#endif
#ifdef TMOD_BAD_LIST_DEFAULT
    {"names", SMF_OPT_LIST, "{a, b", offsetof(conf_t, names), "A list never closed."},
#endif
#ifdef TMOD_BLANK_LIST_DEFAULT
    {"names", SMF_OPT_LIST, " ", offsetof(conf_t, names), "A list default of a blank alone."},
#endif
#ifdef TMOD_BAD_BOOL_DEFAULT
    {"strict", SMF_OPT_BOOL, "maybe", offsetof(conf_t, flag), "A boolean that is neither."},
#endif
    SMF_OPTIONS_END};

#ifdef TMOD_UNDEFINED_CALL
/* A call no engine provides, as a module built for a newer SDK makes. */
int smf_msg_not_in_this_engine(smf_msg_t *msg);
#endif

/* What the report calls of the last scope() on this thread returned, for
 * scan() to show as T_SCOPE_RC: the engine refuses them there. */
static __thread char scope_rcs[128];

static int init(smf_init_t *ctx, const void *conf, void **state)
{
    *state = (void *)conf;
    return 0;
}

static __attribute__((unused)) int has(smf_msg_t *msg, const char *word)
{
    return strstr(smf_msg_text(msg, NULL), word) != NULL;
}

static int scan(smf_msg_t *msg, void *state, void *tstate)
{
    const conf_t *c = state;
    (void)c;
#ifdef TMOD_UNDEFINED_CALL
    if (has(msg, "NEVER"))
        return smf_msg_not_in_this_engine(msg);
#endif
#if TMOD_KIND == 2
    static long calls;
    long n = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    if (has(msg, "AV-COUNT"))
        smf_msg_add_symbol(msg, "TAV_CALLS", 0, smf_msg_printf(msg, "%ld", n));
    if (has(msg, "AV-FAIL"))
        return SMF_EFAIL;
    if (!has(msg, "AV-LAZY"))
        for (size_t i = 0; i < smf_msg_part_count(msg); i++)
            smf_msg_part_scanned(msg, i);
    /* Every part accounted for, then a return value the kit does not define. */
    if (has(msg, "AV-RETURNS-ONE"))
        return 1;
    /* Over the stage's timeout_ms (1000 in test_pipeline.c), with a virus
     * found or without. */
    if (has(msg, "AV-SLOW")) {
        struct timespec t = {1, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    /* Under the stage's timeout_ms, over a short request deadline. */
    if (has(msg, "AV-NAP")) {
        struct timespec t = {0, 400 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    /* A virus found, then a failure (a later part that could not be read). */
    if (has(msg, "VIRUS-THEN-FAIL")) {
        smf_msg_set_virus(msg, "Test.Virus");
        return SMF_EFAIL;
    }
    if (has(msg, "VIRUS-MARK")) {
        smf_msg_add_symbol(msg, "TAV_INFECTED", 0, "Test.Virus");
        return smf_msg_set_virus(msg, "Test.Virus");
    }
#elif TMOD_KIND == 3
    const char *from = smf_msg_envelope(msg)->sender;
    if (strcmp(smf_msg_envelope(msg)->helo, "HEALTH-ME") == 0)
        smf_health(msg, "test list is down");
    if (c->block_sender && strcmp(from, c->block_sender) == 0)
        smf_msg_set_verdict(msg, SMF_VERDICT_BLOCK, "sender is blacklisted");
    if (c->allow_sender && strcmp(from, c->allow_sender) == 0) {
        smf_msg_add_symbol(msg, "TLIST_ALLOW", -20, from);
        smf_msg_set_verdict(msg, SMF_VERDICT_ALLOW, "sender is whitelisted");
    }
#else
    if (has(msg, "SOFT-FAIL") || has(msg, "FAIL-ONLY-" TMOD_NAME "."))
        return SMF_EFAIL;
    if (has(msg, "RETURN-MINUS-ONE-" TMOD_NAME "."))
        return -1;
    /* Long details until the message arena is full; then a verdict, which
     * must still hold when its reason no longer fits. */
    if (has(msg, "FILL-ARENA-" TMOD_NAME ".")) {
        static char detail[65536];
        memset(detail, 'd', sizeof(detail) - 1);
        for (int i = 0; i < 64; i++) {
            char name[16];
            snprintf(name, sizeof(name), "T_FILL_%d", i);
            if (smf_msg_add_symbol(msg, name, 0, detail) == SMF_ENOMEM)
                return smf_msg_set_verdict(msg, SMF_VERDICT_BLOCK, detail);
        }
    }
    if (has(msg, "SCOPE-RC"))
        smf_msg_add_symbol(msg, "T_SCOPE_RC", 0, scope_rcs);
    /* Outputs a module does not want may be NULL. */
    if (has(msg, "NULL-OUTPUTS")) {
        const char *name = NULL;
        smf_msg_raw(msg, NULL);
        smf_msg_raw_headers(msg, NULL);
        smf_msg_text(msg, NULL);
        if (smf_msg_header_at(msg, 0, NULL, NULL) == 0 &&
            smf_msg_header_at(msg, 0, &name, NULL) == 0 && name != NULL)
            smf_msg_add_symbol(msg, "T_NULL_OUTPUTS", 0, name);
    }
    /* Symbol names of the longest length allowed and one byte more. */
    if (has(msg, "NAME-LIMIT")) {
        char name[SMF_SYMBOL_NAME_MAX + 2];
        memset(name, 'N', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        int over = smf_msg_add_symbol(msg, name, 0, NULL);
        name[SMF_SYMBOL_NAME_MAX] = '\0';
        int at = smf_msg_add_symbol(msg, name, 0, NULL);
        smf_msg_add_symbol(msg, "T_NAME_LIMIT", 0, smf_msg_printf(msg, "at=%d over=%d", at, over));
    }
    if (has(msg, "FAIL-AFTER-SYMBOL")) {
        smf_msg_add_symbol(msg, "T_PARTIAL", 5, "said before failing");
        return SMF_EFAIL;
    }
    if (has(msg, "trigger"))
        smf_msg_add_symbol(msg, "T_HIT", c->score, "the word trigger");
    /* A refusal whose reason the reply must cut, inside a character. */
    if (has(msg, "LONG-REASON")) {
        char reason[1024] = "blocked: ";
        for (int i = 0; i < 300; i++)
            strcat(reason, "\xe2\x82\xac"); /* U+20AC, three bytes */
        smf_msg_set_verdict(msg, SMF_VERDICT_BLOCK, reason);
    }
    /* Two scores whose sum no double can hold. */
    if (has(msg, "HUGE-SCORES")) {
        smf_msg_add_symbol(msg, "T_HUGE_1", 1e308, NULL);
        smf_msg_add_symbol(msg, "T_HUGE_2", 1e308, NULL);
    }
    if (has(msg, "HEALTH-ME"))
        smf_health(msg, "test dependency is down");
    if (has(msg, "GTUBE-LIKE"))
        smf_msg_set_verdict(msg, SMF_VERDICT_SPAM, "test spam string");
    /* Notes: tcontent leaves one, tcontent2 (after it) reports it; and no
     * stage may write under another's name. */
    if (has(msg, "NOTE-ME") && smf_msg_set_note(msg, TMOD_NAME ".seen", "yes") == 0 &&
        smf_msg_set_note(msg, "tav.seen", "forged") == SMF_EPERM)
        smf_msg_add_symbol(msg, "T_NOTED", 0, TMOD_NAME);
    if (smf_msg_note(msg, TMOD_NAME ".from_scope") != NULL)
        smf_msg_add_symbol(msg, "T_SCOPE_NOTE", 0, "a note set in scope() reached scan()");
    const char *note = smf_msg_note(msg, "tcontent.seen");
    if (note != NULL && strcmp(TMOD_NAME, "tcontent2") == 0)
        smf_msg_add_symbol(msg, "T_NOTE", 0, note);
    const void *last;
    size_t len;
    if (has(msg, "REPORT-LEARNED") && smf_kv_get(msg, "learned", 7, &last, &len) == 0 &&
        len == 2 * sizeof(long)) {
        const long *n = last;
        smf_msg_add_symbol(msg, "T_LEARNED", 0,
                           smf_msg_printf(msg, "spam=%ld ham=%ld", n[0], n[1]));
    }
    /* Walks the store (smf_kv_next, ABI 1.5): T_WALK lists the keys met, in
     * order, and how the walk ended; T_WALK_RESUME, where a walk resumed
     * after a key the store lacks goes on, and what an over-long one gets. */
    if (has(msg, "WALK-KV")) {
        char seen[1024] = "";
        size_t used = 0, klen = 0, alen = 0, vlen;
        const void *key = NULL, *after = NULL, *val;
        int rc;
        while ((rc = smf_kv_next(msg, after, alen, &key, &klen, &val, &vlen)) == 0 &&
               used < sizeof(seen) - 64) {
            int n = klen > 32 ? snprintf(seen + used, sizeof(seen) - used, "<%zu bytes> ", klen)
                              : snprintf(seen + used, sizeof(seen) - used, "%.*s=%.*s ", (int)klen,
                                         (const char *)key, (int)vlen, (const char *)val);
            used += n > 0 ? (size_t)n : 0;
            after = key;
            alen = klen;
        }
        smf_msg_add_symbol(msg, "T_WALK", 0,
                           smf_msg_printf(msg, "%send=%s", seen, smf_strerror(rc)));
        char far[256];
        memset(far, 'z', sizeof(far));
        int gone = smf_kv_next(msg, "aa", 2, &key, &klen, &val, &vlen);
        int over = smf_kv_next(msg, far, sizeof(far), &key, &klen, &val, &vlen);
        smf_msg_add_symbol(msg, "T_WALK_RESUME", 0,
                           smf_msg_printf(msg, "after aa: %.*s; after 256 bytes: %s",
                                          gone == 0 ? (int)klen : 0,
                                          gone == 0 ? (const char *)key : "", smf_strerror(over)));
    }
    /* The store's copies count against the module's share of the arena:
     * with it used up, a read fails instead of growing the arena. Logged,
     * since a symbol would not fit either. */
    if (has(msg, "KV-ARENA-FULL")) {
        for (size_t chunk = 1 << 20; chunk > 0;)
            if (smf_msg_alloc(msg, chunk) == NULL)
                chunk /= 2;
        const void *key, *val;
        size_t klen, vlen;
        smf_log(msg, SMF_LOG_WARN, "arena used up: next %s, get %s",
                smf_strerror(smf_kv_next(msg, NULL, 0, &key, &klen, &val, &vlen)),
                smf_strerror(smf_kv_get(msg, "a", 1, &val, &vlen)));
    }
    if (has(msg, "REPORT-LAST") && smf_kv_get(msg, "last", 4, &last, &len) == 0)
        smf_msg_add_symbol(msg, "T_LAST", 0,
                           smf_msg_printf(msg, "%.*s", (int)len, (const char *)last));
#endif
    return 0;
}

/* The scope the configuration names (ABI 1.4). What it reports is
 * refused: the attempts below must not reach the run. */
static const char *scope(smf_msg_t *msg, void *state, void *tstate)
{
    const conf_t *c = state;
    (void)tstate;
    int rc[6] = {
        smf_msg_add_symbol(msg, "T_FROM_SCOPE", 50, "reported from scope()"),
        smf_msg_set_note(msg, TMOD_NAME ".from_scope", "yes"),
        smf_msg_add_header(msg, "X-From-Scope", "yes"),
        smf_msg_set_verdict(msg, SMF_VERDICT_BLOCK, "blocked from scope()"),
        smf_msg_set_unscannable(msg, "unscannable from scope()"),
        smf_msg_part_scanned(msg, 0),
    };
    snprintf(scope_rcs, sizeof(scope_rcs), "%d %d %d %d %d %d", rc[0], rc[1], rc[2], rc[3], rc[4],
             rc[5]);
    if (c->scope == NULL)
        return NULL;
    if (strcmp(c->scope, "letter") == 0)
        return smf_msg_printf(msg, "%.1s", smf_msg_domain(msg));
    return c->scope;
}

#if TMOD_KIND == 1
/* Remembers the last final verdict in the module's store, so that a later
 * scan can report it (symbol T_LAST) and a test can see verdict() ran. */
static void verdict(smf_msg_t *msg, void *state, void *tstate, const smf_final_t *final)
{
    char line[128];
    int n = snprintf(line, sizeof(line), "action=%d score=%.1f virus=%s", final->action,
                     final->score, final->virus ? final->virus : "-");
    smf_kv_put(msg, "last", 4, line, (size_t)n);
    /* Too late to change anything: the engine must ignore it. */
    smf_msg_add_symbol(msg, "T_HIT", 999, "raised after the verdict");
}
#endif

#ifdef TMOD_LEARNS
/*
 * Counts what it was taught, so that a test can see autolearn at work.
 * LEARN-FAILS writes its count and then fails; LEARN-NESTS writes it in a
 * batch of its own (checking that a second begin is refused);
 * LEARN-LEAVES-OPEN writes it in a batch it never ends.
 */
static int learn(smf_msg_t *msg, void *state, void *tstate, int klass, int delta)
{
    const void *v;
    size_t len;
    long counts[2] = {0, 0};
    bool nests = has(msg, "LEARN-NESTS"), open = has(msg, "LEARN-LEAVES-OPEN");
    if ((nests || open) && smf_kv_begin(msg) != 0)
        return SMF_EIO;
    if (nests && smf_kv_begin(msg) != SMF_EINVAL)
        return SMF_EIO;
    if (smf_kv_get(msg, "learned", 7, &v, &len) == 0 && len == sizeof(counts))
        memcpy(counts, v, sizeof(counts));
    counts[klass == SMF_CLASS_SPAM ? 0 : 1] += delta;
    int rc = smf_kv_put(msg, "learned", 7, counts, sizeof(counts));
    if (rc == 0 && has(msg, "LEARN-FAILS"))
        return SMF_EIO;
    return rc == 0 && nests ? smf_kv_commit(msg) : rc;
}
#endif

#ifndef TMOD_MAJOR
#define TMOD_MAJOR SMF_ABI_MAJOR
#endif
#ifndef TMOD_MINOR
#define TMOD_MINOR SMF_ABI_MINOR
#endif
#ifndef TMOD_EXTRA_SIZE
#define TMOD_EXTRA_SIZE 0
#endif
#ifndef TMOD_SYMBOL
#define TMOD_SYMBOL smf_module
#endif

SMF_MODULE_EXPORT const smf_module_t TMOD_SYMBOL = {
    .abi = {TMOD_MAJOR, TMOD_MINOR, (uint32_t)((int)sizeof(smf_module_t) + TMOD_EXTRA_SIZE)},
    .name = TMOD_NAME,
    .version = "1.0",
    .description = "test module",
    .kind = TMOD_KIND,
    .options = options,
    .conf_size = sizeof(conf_t),
    .init = init,
    .scan = scan,
    .scope = scope,
#if TMOD_KIND == 1
    .verdict = verdict,
#endif
#ifdef TMOD_LEARNS
    .learn = learn,
#endif
};
