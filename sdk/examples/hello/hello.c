/*
 * hello.c - the SDK's example module: flags mail that mentions a configured
 * word and stamps every message with a greeting header. Read it top to
 * bottom; it shows every piece a real module needs and nothing more.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* for strcasestr() */
#endif
#include <smf/module.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The options, as the engine stores them. The engine fills this struct from
 * the `hello { ... }` section of smfd.conf using the table below and keeps it
 * alive until fini(), so the module may keep pointers into it.
 */
typedef struct hello_conf {
    const char *greeting;     /* SMF_OPT_STRING */
    double score;             /* SMF_OPT_FLOAT */
    const char *const *words; /* SMF_OPT_LIST: NULL-terminated */
} hello_conf_t;

/* Defaults are written exactly as an operator would write them. */
static const smf_option_t hello_options[] = {
    {"greeting", SMF_OPT_STRING, "hello from smf", offsetof(hello_conf_t, greeting),
     "Value of the X-Hello header added to every message."},
    {"score", SMF_OPT_FLOAT, "1.5", offsetof(hello_conf_t, score), "Score of HELLO_WORD."},
    {"words", SMF_OPT_LIST, "{hello, world}", offsetof(hello_conf_t, words),
     "Words that trigger HELLO_WORD (case-insensitive)."},
    SMF_OPTIONS_END};

/* init() runs on the main thread. Our state is just the options. */
static int hello_init(smf_init_t *init, const void *conf, void **state)
{
    const hello_conf_t *c = conf;

    /* Refuse a bad configuration here, with a reason: never at scan time. */
    if (c->score < 0) {
        smf_init_fail(init, "score must not be negative (got %g)", c->score);
        return SMF_EINVAL;
    }
    *state = (void *)c;
    return 0;
}

/* Nothing was allocated, but a real module frees its state here. */
static void hello_fini(void *state)
{
    (void)state;
}

/* Returns the first configured word found in text, or NULL. */
static const char *hello_find_word(const hello_conf_t *c, const char *text)
{
    for (size_t i = 0; c->words != NULL && c->words[i] != NULL; i++) {
        if (c->words[i][0] != '\0' && strcasestr(text, c->words[i]) != NULL)
            return c->words[i];
    }
    return NULL;
}

/*
 * scan() runs on worker threads, many at once: it only reads the shared
 * state. Findings go through smf_msg_* calls; the return value says only
 * whether the scan itself worked.
 */
static int hello_scan(smf_msg_t *msg, void *state, void *tstate)
{
    const hello_conf_t *c = state;
    size_t len;
    const char *text = smf_msg_text(msg, &len); /* Subject + decoded text, NUL-terminated. */
    const char *word = hello_find_word(c, text);
    int rc;

    (void)tstate; /* No per-thread state: thread_init is NULL below. */
    if (word != NULL) {
        /* The detail is copied by the engine, so a stack buffer is fine. */
        rc = smf_msg_add_symbol(msg, "HELLO_WORD", c->score, word);
        if (rc < 0)
            return rc;
    }
    if (c->greeting != NULL && c->greeting[0] != '\0')
        return smf_msg_add_header(msg, "X-Hello", c->greeting);
    return 0;
}

/* The one exported symbol. The ABI header must come first. */
SMF_MODULE_EXPORT const smf_module_t smf_module = {
    .abi = SMF_ABI_INIT,
    .name = "hello",
    .version = "1.0.0",
    .description = "Example module: flags configured words, adds X-Hello",
    .kind = SMF_KIND_CONTENT,
    .options = hello_options,
    .conf_size = sizeof(hello_conf_t),
    .init = hello_init,
    .fini = hello_fini,
    .thread_init = NULL,
    .thread_fini = NULL,
    .scan = hello_scan,
};
