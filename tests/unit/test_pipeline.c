/*
 * test_pipeline.c - whole requests through job_run() with test modules of
 * each kind: the lanes, the whitelist, fail-closed antivirus, deadlines,
 * per-domain policies and malformed requests, checked in the reply JSON.
 */
#include "check.h"
#include "clock.h"
#include "generation.h"
#include "job.h"
#include "message.h"
#include "stats.h"
#include "testconf.h"

#include <jansson.h>

static generation_t *gen;

static const char *conf_text =
    "modules = {tav, tlist, tcontent, tcontent2}\n"
    "tav { timeout_ms = 1000 }\n"
    "tlist { allow_sender = \"friend@example.net\"\n block_sender = \"foe@example.net\" }\n"
    "tcontent { score = 6\n scope = \"\" }\n"
    "tcontent2 { on_error = tempfail\n score = 0.5\n scope = \"letter\" }\n"
    "message_arena_limit = 1048576\n"
    "autolearn = true\nautolearn_spam_score = 5\nautolearn_ham_score = 0.1\n"
    "policy default { inbound { stages = {tav, tlist, tcontent, tcontent2} } }\n"
    "policy \"strict.example\" { inbound { quarantine_score = 5.5 } }\n"
    "policy \"Bücher.example.\" { inbound { quarantine_score = 5.5 } }\n";

typedef struct req {
    const char *sender;
    const char *rcpt;
    const char *direction;
    const char *body;
    long long deadline;
} req_t;

static json_t *run(const req_t *r, const char **kind)
{
    char env[1024];
    size_t raw_cap = strlen(r->body) + 4096;
    char *raw = malloc(raw_cap);
    snprintf(env, sizeof(env),
             "{\"sender\":\"%s\",\"recipients\":[%s],\"direction\":\"%s\",\"client_ip\":"
             "\"192.0.2.7\"%s%lld}",
             r->sender, r->rcpt ? r->rcpt : "\"user@example.com\"",
             r->direction ? r->direction : "inbound",
             r->deadline ? ",\"deadline\":" : ",\"x\":", r->deadline);
    snprintf(
        raw, raw_cap,
        "From: %s\r\nTo: user@example.com\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"
        "Content-Type: text/plain\r\n\r\n%s\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\nxyz\r\n--b1--\r\n",
        r->sender, r->body);
    frame_t f[5] = {
        {"SMF/1", 5}, {"SCAN", 4}, {"req-1", 5}, {env, strlen(env)}, {raw, strlen(raw)}};
    job_ctx_t ctx = {.gen = gen, .worker = 0, .arrived_ms = clock_wall_ms()};
    job_result_t res;
    job_run(&ctx, f, 5, &res);
    free(raw);
    *kind = res.kind;
    json_t *j = json_loads(res.json, 0, NULL);
    job_result_free(&res);
    return j;
}

static const char *action(json_t *j)
{
    return json_string_value(json_object_get(j, "action"));
}

static bool has_symbol(json_t *j, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "symbols"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return true;
    }
    return false;
}

/* A field of a stage's report in the verdict, or absent when the stage has none. */
static const char *stage_field(json_t *j, const char *module, const char *field, const char *absent)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "stages"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "module")), module) == 0)
            return json_string_value(json_object_get(s, field));
    }
    return absent;
}

static const char *stage_status(json_t *j, const char *module)
{
    return stage_field(j, module, "status", "(absent)");
}

static const char *stage_detail(json_t *j, const char *module)
{
    return stage_field(j, module, "detail", NULL);
}

typedef struct row {
    const char *what;
    req_t req;
    const char *want_action;
    const char *want_symbol;
    const char *stage;
    const char *stage_status;
    int smtp_code;
} row_t;

static const row_t rows[] = {
    {"clean", {"a@example.net", NULL, NULL, "hello"}, "accept", NULL, "tcontent", "clean", 250},
    {"content score",
     {"a@example.net", NULL, NULL, "a trigger word"},
     "add_header",
     "T_HIT",
     "tcontent",
     "detected",
     250},
    {"certain spam",
     {"a@example.net", NULL, NULL, "GTUBE-LIKE"},
     "quarantine",
     NULL,
     "tcontent",
     "detected",
     250},
    {"virus",
     {"a@example.net", NULL, NULL, "VIRUS-MARK"},
     "quarantine",
     "TAV_INFECTED",
     "tcontent",
     "skipped",
     250},
    {"virus from a whitelisted sender",
     {"friend@example.net", NULL, NULL, "VIRUS-MARK trigger"},
     "quarantine",
     "TAV_INFECTED",
     "tlist",
     "skipped",
     250},
    {"outbound virus",
     {"a@example.net", NULL, "outbound", "VIRUS-MARK"},
     "reject",
     NULL,
     "tav",
     "detected",
     550},
    {"whitelist skips content",
     {"friend@example.net", NULL, NULL, "trigger"},
     "accept",
     "TLIST_ALLOW",
     "tcontent",
     "skipped",
     250},
    {"blacklist",
     {"foe@example.net", NULL, NULL, "hello"},
     "reject",
     NULL,
     "tcontent",
     "skipped",
     550},
    {"antivirus error fails closed",
     {"friend@example.net", NULL, NULL, "AV-FAIL"},
     "tempfail",
     "AV_ERROR",
     "tav",
     "error",
     451},
    {"a virus found before the antivirus stage failed is held as a virus",
     {"friend@example.net", NULL, NULL, "VIRUS-THEN-FAIL"},
     "quarantine",
     NULL,
     "tav",
     "detected",
     250},
    {"an antivirus stage over its timeout_ms fails closed",
     {"a@example.net", NULL, NULL, "AV-SLOW"},
     "tempfail",
     "AV_ERROR",
     "tav",
     "error",
     451},
    {"a virus found by an antivirus stage over its timeout_ms is held as a virus",
     {"a@example.net", NULL, NULL, "AV-SLOW VIRUS-MARK"},
     "quarantine",
     "TAV_INFECTED",
     "tav",
     "detected",
     250},
    {"antivirus skipped a part",
     {"a@example.net", NULL, NULL, "AV-LAZY"},
     "quarantine",
     "AV_UNSCANNABLE",
     "tav",
     "unscannable",
     250},
    {"antivirus returning a code the kit does not define fails closed",
     {"a@example.net", NULL, NULL, "AV-RETURNS-ONE"},
     "tempfail",
     "AV_ERROR",
     "tav",
     "error",
     451},
    {"a content stage returning -1 is an error",
     {"a@example.net", NULL, NULL, "RETURN-MINUS-ONE-tcontent2."},
     "tempfail",
     NULL,
     "tcontent2",
     "error",
     451},
    {"soft error, on_error tempfail",
     {"a@example.net", NULL, NULL, "SOFT-FAIL"},
     "tempfail",
     NULL,
     "tcontent2",
     "error",
     451},
    {"deadline passed",
     {"a@example.net", NULL, NULL, "VIRUS-MARK", 1000},
     "tempfail",
     "SMF_DEADLINE_EXPIRED",
     "tav",
     "(absent)",
     451},
    {"domain policy",
     {"a@example.net", "\"x@strict.example\"", NULL, "trigger"},
     "quarantine",
     "T_HIT",
     "tcontent",
     "detected",
     250},
    {"a note reaches the next stage",
     {"a@example.net", NULL, NULL, "NOTE-ME"},
     "accept",
     "T_NOTE",
     "tcontent2",
     "clean",
     250},
    {"a domain written from the root, in upper case",
     {"a@example.net", "\"x@STRICT.example.\"", NULL, "trigger"},
     "quarantine",
     "T_HIT",
     "tcontent",
     "detected",
     250},
    {"a policy in another script, the recipient's domain as its A-label",
     {"a@example.net", "\"x@xn--bcher-kva.example\"", NULL, "trigger"},
     "quarantine",
     "T_HIT",
     "tcontent",
     "detected",
     250},
    {"the recipient's domain in another script and in upper case",
     {"a@example.net", "\"x@BÜCHER.example\"", NULL, "trigger"},
     "quarantine",
     "T_HIT",
     "tcontent",
     "detected",
     250},
    {"most severe domain wins",
     {"a@example.net", "\"x@strict.example\",\"y@example.com\"", NULL, "trigger"},
     "quarantine",
     "T_HIT",
     "tcontent",
     "detected",
     250},
};

static void test_rows(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        const char *kind;
        json_t *j = run(&r->req, &kind);
        CHECK(strcmp(kind, "VERDICT") == 0, "%s: reply kind %s", r->what, kind);
        CHECK(strcmp(action(j), r->want_action) == 0, "%s: action %s, want %s", r->what, action(j),
              r->want_action);
        if (r->want_symbol)
            CHECK(has_symbol(j, r->want_symbol), "%s: no symbol %s", r->what, r->want_symbol);
        CHECK(strcmp(stage_status(j, r->stage), r->stage_status) == 0, "%s: stage %s is %s",
              r->what, r->stage, stage_status(j, r->stage));
        long code = (long)json_integer_value(json_object_get(json_object_get(j, "smtp"), "code"));
        CHECK(code == r->smtp_code, "%s: smtp code %ld, want %d", r->what, code, r->smtp_code);
        json_decref(j);
    }
}

/* An antivirus stage that starts before the deadline and ends after it is
 * not trusted, even though it stays within its own timeout_ms. */
static void test_deadline_during_antivirus(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "AV-NAP", clock_wall_ms() + 200};
    json_t *j = run(&r, &kind);
    CHECK(strcmp(action(j), "tempfail") == 0, "deadline during antivirus: action %s", action(j));
    CHECK(strcmp(stage_status(j, "tav"), "error") == 0, "deadline during antivirus: tav is %s",
          stage_status(j, "tav"));
    CHECK(has_symbol(j, "AV_ERROR"), "deadline during antivirus: no AV_ERROR");
    const char *text = json_string_value(json_object_get(json_object_get(j, "smtp"), "text"));
    CHECK(text != NULL && strstr(text, "Virus scanning") != NULL, "smtp text %s",
          text ? text : "(none)");
    json_decref(j);
    /* A virus found past the deadline is still held as a virus. */
    req_t v = {"a@example.net", NULL, NULL, "AV-NAP VIRUS-MARK", clock_wall_ms() + 200};
    j = run(&v, &kind);
    CHECK(strcmp(action(j), "quarantine") == 0, "virus past the deadline: action %s", action(j));
    json_decref(j);
}

static void test_details(void)
{
    const char *kind;
    req_t r = {"a@example.net", "\"x@strict.example\",\"y@example.com\"", NULL, "trigger"};
    json_t *j = run(&r, &kind);
    json_t *domains = json_object_get(j, "domains");
    CHECK(json_array_size(domains) == 2, "two domains, got %zu", json_array_size(domains));
    req_t v = {"a@example.net", NULL, NULL, "VIRUS-MARK"};
    json_decref(j);
    j = run(&v, &kind);
    CHECK(strcmp(json_string_value(json_object_get(j, "virus")), "Test.Virus") == 0, "virus name");
    json_decref(j);
    req_t h = {"a@example.net", NULL, NULL, "a trigger word"};
    j = run(&h, &kind);
    char *s = json_dumps(json_object_get(j, "headers"), 0);
    CHECK_CONTAINS(s, "X-SMF-Status");
    CHECK_CONTAINS(s, "X-Spam-Flag");
    free(s);
    json_decref(j);
}

static json_t *run_connect(const char *env, const char **kind)
{
    frame_t f[4] = {{"SMF/1", 5}, {"CONNECT", 7}, {"c-1", 3}, {env, strlen(env)}};
    job_ctx_t ctx = {.gen = gen, .worker = 0, .arrived_ms = clock_wall_ms()};
    job_result_t res;
    job_run(&ctx, f, 4, &res);
    *kind = res.kind;
    json_t *j = json_loads(res.json, 0, NULL);
    job_result_free(&res);
    return j;
}

/* The connection stage runs list and reputation stages only, with or
 * without recipients, and only reject or tempfail are final there. */
static void test_connect(void)
{
    const char *kind;
    json_t *j = run_connect("{\"client_ip\":\"192.0.2.1\",\"helo\":\"x\","
                            "\"sender\":\"foe@example.net\"}",
                            &kind);
    CHECK(strcmp(kind, "VERDICT") == 0, "connect reply kind %s", kind);
    CHECK(strcmp(action(j), "reject") == 0, "blacklisted sender at connect: %s", action(j));
    CHECK(strcmp(json_string_value(json_object_get(j, "stage")), "connect") == 0, "stage field");
    CHECK(strcmp(stage_status(j, "tlist"), "detected") == 0, "list stage ran");
    CHECK(strcmp(stage_status(j, "tav"), "(absent)") == 0, "antivirus does not run at connect");
    CHECK(strcmp(stage_status(j, "tcontent"), "(absent)") == 0, "content does not run");
    json_decref(j);
    j = run_connect("{\"sender\":\"friend@example.net\",\"recipients\":[\"a@strict.example\"]}",
                    &kind);
    CHECK(strcmp(action(j), "accept") == 0, "whitelisted sender at connect: %s", action(j));
    CHECK(has_symbol(j, "TLIST_ALLOW"), "connect symbols explained");
    json_decref(j);
    j = run_connect("{\"recipients\":\"nope\"}", &kind);
    CHECK(strcmp(kind, "ERROR") == 0, "bad recipients at connect: %s", kind);
    json_decref(j);
}

/* A list stage's health problem at the connection stage is counted and
 * published as at a scan. */
static void test_health_at_connect(void)
{
    char env[] = "{\"client_ip\":\"192.0.2.9\",\"helo\":\"HEALTH-ME\",\"sender\":\"a@x.example\"}";
    frame_t f[4] = {{"SMF/1", 5}, {"CONNECT", 7}, {"c-2", 3}, {env, strlen(env)}};
    job_ctx_t ctx = {.gen = gen, .worker = 0, .arrived_ms = clock_wall_ms()};
    job_result_t res;
    job_run(&ctx, f, 4, &res);
    size_t events = 0;
    for (size_t e = 0; e < res.nevents; e++)
        events += strcmp(res.events[e].topic, "health.tlist") == 0;
    CHECK(strcmp(res.kind, "VERDICT") == 0, "connect reply kind %s", res.kind);
    CHECK(events == 1, "health events at connect: %zu", events);
    job_result_free(&res);
}

/* verdict() (ABI 1.2) hears the final action of messages its stage
 * scanned, and nothing of those where it was skipped. */
static void test_note_rules(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "NOTE-ME"};
    json_t *j = run(&r, &kind);
    CHECK(has_symbol(j, "T_NOTED"), "own note set, another's refused with SMF_EPERM");
    json_decref(j);
    req_t plain = {"a@example.net", NULL, NULL, "hello"};
    j = run(&plain, &kind);
    CHECK(!has_symbol(j, "T_NOTE"), "notes do not outlive their message");
    json_decref(j);
}

/* A health problem is counted every time, but logged and published as an
 * event at most once a minute; STATS reports it with the counters. */
static void test_health_and_stats(void)
{
    char env[] = "{\"recipients\":[\"u@example.com\"]}";
    char raw[] = "Subject: x\r\n\r\nHEALTH-ME\r\n";
    size_t events[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        frame_t f[5] = {
            {"SMF/1", 5}, {"SCAN", 4}, {"h", 1}, {env, strlen(env)}, {raw, strlen(raw)}};
        job_ctx_t ctx = {.gen = gen, .arrived_ms = clock_wall_ms()};
        job_result_t res;
        job_run(&ctx, f, 5, &res);
        for (size_t e = 0; e < res.nevents; e++)
            if (strcmp(res.events[e].topic, "health.tcontent") == 0)
                events[i]++;
        job_result_free(&res);
    }
    CHECK(events[0] == 1 && events[1] == 0, "health events: %zu then %zu", events[0], events[1]);
    frame_t f[3] = {{"SMF/1", 5}, {"STATS", 5}, {"s", 1}};
    job_ctx_t ctx = {.gen = gen, .arrived_ms = clock_wall_ms()};
    job_result_t res;
    job_run(&ctx, f, 3, &res);
    CHECK(strcmp(res.kind, "STATS") == 0, "STATS reply kind %s", res.kind);
    json_t *j = json_loads(res.json, 0, NULL);
    json_t *h = json_array_get(json_object_get(j, "health"), 0);
    CHECK(h && json_integer_value(json_object_get(h, "count")) == 2, "problem counted twice");
    CHECK(json_integer_value(json_object_get(j, "messages")) >= 2, "messages counted");
    json_decref(j);
    job_result_free(&res);
}

/* A problem longer than STATS keeps is cut between characters, so that its
 * text stays UTF-8; texts that differ only past the cut count as one. */
static void test_long_health_problem(void)
{
    char text[400] = "disk", other[416];
    while (strlen(text) < 380)
        strcat(text, "\xc3\xa9"); /* é: a cut at 191 bytes falls inside one */
    snprintf(other, sizeof(other), "%s and more", text);
    uint64_t count;
    stats_health("tlong", text, clock_wall_ms(), &count);
    stats_health("tlong", other, clock_wall_ms(), &count);
    CHECK(count == 2, "the two texts are one problem: count %llu", (unsigned long long)count);
    json_t *j = stats_json();
    const char *kept = NULL;
    json_t *h;
    size_t i;
    json_array_foreach(json_object_get(j, "health"), i, h)
    {
        if (strcmp(json_string_value(json_object_get(h, "module")), "tlong") == 0)
            kept = json_string_value(json_object_get(h, "problem"));
    }
    CHECK(kept != NULL && strstr(kept, "\\x") == NULL && strlen(kept) >= 188 &&
              strncmp(kept, text, strlen(kept)) == 0,
          "a long problem is cut between characters: %s", kept ? kept : "(none)");
    json_decref(j);
}

/* What the learning test module (tcontent2) was taught so far. */
static void learned(long *spam, long *ham)
{
    const char *kind;
    req_t ask = {"a@example.net", NULL, NULL, "REPORT-LEARNED trigger"};
    json_t *j = run(&ask, &kind);
    *spam = *ham = -1;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "symbols"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), "T_LEARNED") == 0)
            sscanf(json_string_value(json_object_get(s, "detail")), "spam=%ld ham=%ld", spam, ham);
    }
    json_decref(j);
}

/* Autolearn teaches confident verdicts once, and nothing uncertain. */
static void test_autolearn(void)
{
    const char *kind;
    long spam0, ham0, spam, ham;
    req_t first = {"a@example.net", NULL, NULL, "hello al-0"};
    json_decref(run(&first, &kind));
    learned(&spam0, &ham0);
    CHECK(spam0 >= 0 && ham0 >= 1, "clean mail was autolearned as ham: %ld %ld", spam0, ham0);
    const char *bodies[] = {
        "GTUBE-LIKE trigger al-1",  /* quarantine, 6 points outside the learner: spam */
        "GTUBE-LIKE trigger al-1",  /* the same message again: known, not taught twice */
        "hello al-2",               /* accept, 0 points: ham */
        "a trigger word al-3",      /* add_header: uncertain, nothing */
        "VIRUS-MARK al-4",          /* a virus: nothing */
        "AV-LAZY al-5",             /* unscannable: nothing */
        "FAIL-ONLY-tcontent. al-6", /* accepted with a stage failed: uncertain, nothing */
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        req_t r = {"a@example.net", NULL, NULL, bodies[i]};
        json_decref(run(&r, &kind));
    }
    /* A list entry decided and the content stages were skipped: whatever
     * the words are, they were never judged (a forged allowed sender). */
    req_t allowed = {"friend@example.net", NULL, NULL, "hello al-7"};
    json_decref(run(&allowed, &kind));
    req_t blocked = {"foe@example.net", NULL, NULL, "GTUBE-LIKE trigger al-8"};
    json_decref(run(&blocked, &kind));
    learned(&spam, &ham);
    CHECK(spam == spam0 + 1, "spam autolearned once: %ld -> %ld", spam0, spam);
    CHECK(ham == ham0 + 1, "ham autolearned once: %ld -> %ld", ham0, ham);
}

/* Scores no sum can hold are held to SMF_SCORE_MAX each: the reply is a
 * verdict with a finite score, not a JSON error or a crash. */
static void test_huge_scores(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "HUGE-SCORES"};
    json_t *j = run(&r, &kind);
    CHECK(j != NULL && strcmp(kind, "VERDICT") == 0, "a verdict: %s", kind);
    double score = json_number_value(json_object_get(j, "score"));
    CHECK(score >= 2 * SMF_SCORE_MAX, "score %g", score);
    CHECK(json_object_get(j, "smtp") != NULL, "the reply has its smtp object");
    json_decref(j);
}

/* A stage that fails takes its symbols with it: they neither show nor count. */
static void test_failed_stage_symbols_dropped(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "FAIL-AFTER-SYMBOL"};
    json_t *j = run(&r, &kind);
    char *s = json_dumps(json_object_get(j, "symbols"), 0);
    CHECK(s != NULL && strstr(s, "T_PARTIAL") == NULL, "symbols %s", s ? s : "(none)");
    CHECK(json_number_value(json_object_get(j, "score")) < 5, "score %g",
          json_number_value(json_object_get(j, "score")));
    free(s);
    json_decref(j);
}

/* The detail of a symbol, or NULL when the run has no such symbol. */
static const char *symbol_detail(json_t *j, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "symbols"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return json_string_value(json_object_get(s, "detail"));
    }
    return NULL;
}

static long tav_calls(json_t *j)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "symbols"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), "TAV_CALLS") == 0)
            return atol(json_string_value(json_object_get(s, "detail")));
    }
    return -1;
}

/* How often STATS says a stage ran, whatever its outcome. */
static long stage_runs(const char *module)
{
    frame_t f[3] = {{"SMF/1", 5}, {"STATS", 5}, {"s", 1}};
    job_ctx_t ctx = {.gen = gen, .arrived_ms = clock_wall_ms()};
    job_result_t res;
    long runs = -1;
    size_t i;
    json_t *st;
    job_run(&ctx, f, 3, &res);
    json_t *j = json_loads(res.json, 0, NULL);
    json_array_foreach(json_object_get(j, "stages"), i, st)
    {
        if (strcmp(json_string_value(json_object_get(st, "module")), module) != 0)
            continue;
        const char *key;
        json_t *v;
        runs = 0;
        json_object_foreach(st, key, v)
        {
            if (json_is_integer(v))
                runs += (long)json_integer_value(v);
        }
    }
    json_decref(j);
    job_result_free(&res);
    return runs;
}

/* The antivirus stage scans a message for three recipient domains once, and
 * each domain's run gets its outcome: the same virus, the same failure. */
static void test_antivirus_once_per_message(void)
{
    const char *kind, *three = "\"a@one.example\",\"b@two.example\",\"c@three.example\"";
    req_t one = {"a@example.net", NULL, NULL, "AV-COUNT"};
    req_t many = {"a@example.net", three, NULL, "AV-COUNT"};
    long runs = stage_runs("tav");
    json_t *j = run(&one, &kind);
    long before = tav_calls(j);
    json_decref(j);
    j = run(&many, &kind);
    CHECK(tav_calls(j) == before + 1, "calls %ld after %ld", tav_calls(j), before);
    json_decref(j);
    j = run(&one, &kind);
    CHECK(tav_calls(j) == before + 2, "calls %ld, want %ld", tav_calls(j), before + 2);
    json_decref(j);
    /* And STATS counts the runs it made, not the domains that got its outcome. */
    CHECK(stage_runs("tav") == runs + 3, "STATS counts %ld runs, want %ld", stage_runs("tav"),
          runs + 3);
    req_t virus = {"a@example.net", three, NULL, "VIRUS-MARK"};
    j = run(&virus, &kind);
    CHECK(strcmp(action(j), "quarantine") == 0 && has_symbol(j, "TAV_INFECTED"), "virus: %s",
          action(j));
    CHECK(json_string_value(json_object_get(j, "virus")) != NULL, "no virus named");
    json_decref(j);
    req_t fail = {"a@example.net", three, NULL, "AV-FAIL"};
    j = run(&fail, &kind);
    CHECK(strcmp(action(j), "tempfail") == 0, "failure: %s", action(j));
    json_decref(j);
}

/*
 * A content stage that names a scope scans a message once per scope: tcontent
 * ("" for every domain) once for three domains, tcontent2 (the domain's first
 * letter) once for one.example and other.example and once for two.example.
 * Each run gets the scan's symbols, notes and verdict, and its own policy
 * still decides; what scope() tried to report reaches nothing.
 */
static void test_scope_once_per_scope(void)
{
    const char *kind;
    const char *three = "\"a@one.example\",\"b@other.example\",\"c@two.example\"";
    long c1 = stage_runs("tcontent"), c2 = stage_runs("tcontent2");
    req_t plain = {"a@example.net", three, NULL, "hello"};
    json_t *j = run(&plain, &kind);
    CHECK(stage_runs("tcontent") == c1 + 1, "tcontent ran %ld times, want 1",
          stage_runs("tcontent") - c1);
    CHECK(stage_runs("tcontent2") == c2 + 2, "tcontent2 ran %ld times, want 2",
          stage_runs("tcontent2") - c2);
    CHECK(!has_symbol(j, "T_FROM_SCOPE") && !has_symbol(j, "T_SCOPE_NOTE"),
          "scope() reported into the run");
    json_decref(j);
    /* A replayed run keeps the symbol and the note the stage left for the
     * next one (tcontent2 reports it as T_NOTE in every domain's run). */
    req_t noted = {"a@example.net", "\"a@one.example\",\"b@strict.example\"", NULL,
                   "trigger NOTE-ME"};
    j = run(&noted, &kind);
    CHECK(strcmp(action(j), "quarantine") == 0, "strict.example's policy: %s", action(j));
    CHECK(has_symbol(j, "T_HIT") && has_symbol(j, "T_NOTE"), "replayed run lost its symbols");
    json_decref(j);
    /* Both stages react to it, and both replay it for other.example. */
    req_t spam = {"a@example.net", "\"a@one.example\",\"b@other.example\"", NULL, "GTUBE-LIKE"};
    long before = stage_runs("tcontent");
    j = run(&spam, &kind);
    CHECK(strcmp(action(j), "quarantine") == 0, "replayed certain spam: %s", action(j));
    CHECK(stage_runs("tcontent") == before + 1, "tcontent ran %ld times for a certain spam",
          stage_runs("tcontent") - before);
    json_t *d;
    size_t i;
    CHECK(json_array_size(json_object_get(j, "domains")) == 2, "%zu domains",
          json_array_size(json_object_get(j, "domains")));
    json_array_foreach(json_object_get(j, "domains"), i, d)
    {
        CHECK(strcmp(json_string_value(json_object_get(d, "action")), "quarantine") == 0,
              "domain %zu: %s", i, json_string_value(json_object_get(d, "action")));
    }
    json_decref(j);
}

/* A refusal's reason cut to the reply's 512 bytes inside a character still
 * gives the front end its smtp object, with a valid text. */
static void test_long_reason(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "LONG-REASON"};
    json_t *j = run(&r, &kind);
    json_t *smtp = json_object_get(j, "smtp");
    CHECK(json_integer_value(json_object_get(smtp, "code")) == 550, "a 550 reply: %s",
          j ? "no smtp object" : "no reply");
    const char *text = json_string_value(json_object_get(smtp, "text"));
    CHECK(text != NULL && strstr(text, "blocked: \xe2\x82\xac") != NULL, "text %s", text);
    json_decref(j);
}

/* A message is autolearned in one store transaction with its registry
 * entry: a module that fails half-way, or leaves its own batch open, has
 * written nothing; one that commits its own batch is part of the whole. */
static void test_autolearn_is_atomic(void)
{
    const char *kind;
    long spam0, ham0, spam, ham;
    learned(&spam0, &ham0);
    const char *none[] = {"hello LEARN-FAILS al-6", "hello LEARN-LEAVES-OPEN al-7"};
    for (size_t i = 0; i < 2; i++) {
        req_t r = {"a@example.net", NULL, NULL, none[i]};
        json_decref(run(&r, &kind));
        learned(&spam, &ham);
        CHECK(spam == spam0 && ham == ham0, "%s: nothing written: %ld %ld -> %ld %ld", none[i],
              spam0, ham0, spam, ham);
    }
    req_t nests = {"a@example.net", NULL, NULL, "hello LEARN-NESTS al-8"};
    json_decref(run(&nests, &kind));
    learned(&spam, &ham);
    CHECK(ham == ham0 + 1, "a module's own batch commits with the message: %ld -> %ld", ham0, ham);
    /* Nothing was left open: the next message is learned as usual. */
    req_t next = {"a@example.net", NULL, NULL, "hello al-9"};
    json_decref(run(&next, &kind));
    learned(&spam, &ham);
    CHECK(ham == ham0 + 2, "learning goes on: %ld -> %ld", ham0, ham);
}

static void test_verdict_callback(void)
{
    const char *kind;
    req_t first = {"a@example.net", NULL, NULL, "a trigger word"};
    json_t *reply = run(&first, &kind);
    char *syms = json_dumps(json_object_get(reply, "symbols"), 0);
    CHECK(syms != NULL && strstr(syms, "999") == NULL, "verdict() changed the reply: %s", syms);
    free(syms);
    json_decref(reply);
    req_t ask = {"a@example.net", NULL, NULL, "REPORT-LAST"};
    json_t *j = run(&ask, &kind);
    char *s = json_dumps(json_object_get(j, "symbols"), 0);
    CHECK_CONTAINS(s, "action=1 score=6.0 virus=-");
    free(s);
    json_decref(j);
    /* The last message above (REPORT-LAST, accepted) is now the last verdict;
     * a virus skips tcontent, so its verdict must not reach it. */
    req_t virus = {"a@example.net", NULL, NULL, "VIRUS-MARK"};
    json_decref(run(&virus, &kind));
    j = run(&ask, &kind);
    s = json_dumps(json_object_get(j, "symbols"), 0);
    CHECK_CONTAINS(s, "action=0 score=0.0 virus=-");
    free(s);
    json_decref(j);
}

/* A return value outside 0 and the SMF_E* codes is an error that names it. */
static void test_bad_return_explained(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "RETURN-MINUS-ONE-tcontent2."};
    json_t *j = run(&r, &kind);
    CHECK_CONTAINS(stage_detail(j, "tcontent2"), "scan() returned -1");
    json_decref(j);
}

/* What a module reports is copied into the message arena and counts
 * against its cap, like what it allocates. */
static void test_reports_capped(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "FILL-ARENA-tcontent."};
    json_t *j = run(&r, &kind);
    size_t i, fills = 0;
    json_t *s;
    json_array_foreach(json_object_get(j, "symbols"), i, s)
    {
        fills += strncmp(json_string_value(json_object_get(s, "name")), "T_FILL_", 7) == 0;
    }
    CHECK(fills > 0 && fills < 16, "%zu symbols of 64 KiB in a 1 MiB arena", fills);
    CHECK(strcmp(action(j), "reject") == 0, "the verdict set past the cap holds: %s", action(j));
    json_decref(j);
}

/* More URLs than the message keeps: the reply says some were left out,
 * with no score; at the cap exactly it says nothing. */
static void test_url_limit(void)
{
    for (int extra = 0; extra < 2; extra++) {
        size_t cap = 32 * (MESSAGE_MAX_URLS + 1), n = 0;
        char *body = malloc(cap);
        body[0] = '\0';
        for (int i = 0; i < MESSAGE_MAX_URLS + extra; i++)
            n += (size_t)snprintf(body + n, cap - n, "http://h%d.example/\r\n", i);
        const char *kind;
        req_t r = {"a@example.net", NULL, NULL, body};
        json_t *j = run(&r, &kind);
        CHECK(has_symbol(j, "MSG_URL_LIMIT") == (extra == 1), "%d URLs: MSG_URL_LIMIT %s",
              MESSAGE_MAX_URLS + extra, has_symbol(j, "MSG_URL_LIMIT") ? "present" : "absent");
        CHECK(strcmp(action(j), "accept") == 0, "many URLs alone are accepted: %s", action(j));
        json_decref(j);
        free(body);
    }
}

typedef struct bad {
    const char *what;
    frame_t f[5];
    size_t n;
    const char *code;
} bad_t;

/*
 * What scope() reports about the message is refused, as the kit's header
 * says, not taken and dropped in silence: each call returns SMF_EPERM
 * (tcontent shows what its scope() got back as T_SCOPE_RC).
 */
static void test_scope_refuses_reports(void)
{
    const char *kind;
    req_t r = {"a@example.net", "\"a@one.example\",\"b@two.example\"", NULL, "SCOPE-RC"};
    json_t *j = run(&r, &kind);
    char want[128];
    snprintf(want, sizeof(want), "%d %d %d %d %d %d", SMF_EPERM, SMF_EPERM, SMF_EPERM, SMF_EPERM,
             SMF_EPERM, SMF_EPERM);
    const char *got = symbol_detail(j, "T_SCOPE_RC");
    CHECK(got != NULL && strcmp(got, want) == 0, "scope()'s reports returned \"%s\", want \"%s\"",
          got ? got : "(no symbol)", want);
    CHECK(!has_symbol(j, "T_FROM_SCOPE"), "scope() reported into the run");
    CHECK(strcmp(action(j), "accept") == 0, "a verdict set in scope() counted: %s", action(j));
    json_decref(j);
}

/* Outputs a module does not want may be NULL, and a symbol name may be
 * SMF_SYMBOL_NAME_MAX bytes long, not one more. */
static void test_null_outputs_and_name_limit(void)
{
    const char *kind;
    req_t r = {"a@example.net", NULL, NULL, "NULL-OUTPUTS NAME-LIMIT"};
    json_t *j = run(&r, &kind);
    const char *name = symbol_detail(j, "T_NULL_OUTPUTS");
    CHECK(name != NULL && strcmp(name, "From") == 0, "first header name: %s",
          name ? name : "(no symbol)");
    char want[64];
    snprintf(want, sizeof(want), "at=0 over=%d", SMF_EINVAL);
    const char *got = symbol_detail(j, "T_NAME_LIMIT");
    CHECK(got != NULL && strcmp(got, want) == 0, "name limit: %s, want %s",
          got ? got : "(no symbol)", want);
    json_decref(j);
}

static void test_malformed(void)
{
    static const char env[] = "{\"recipients\":[\"u@example.com\"]}";
    const bad_t bad[] = {
        {"two frames", {{"SMF/1", 5}, {"SCAN", 4}}, 2, "bad_frames"},
        {"bad version",
         {{"SMF/9", 5}, {"SCAN", 4}, {"r", 1}, {env, sizeof(env) - 1}, {"x", 1}},
         5,
         "bad_version"},
        {"bad command",
         {{"SMF/1", 5}, {"EAT", 3}, {"r", 1}, {env, sizeof(env) - 1}, {"x", 1}},
         5,
         "bad_command"},
        {"scan without message",
         {{"SMF/1", 5}, {"SCAN", 4}, {"r", 1}, {env, sizeof(env) - 1}},
         4,
         "bad_frames"},
        {"connect with a message",
         {{"SMF/1", 5}, {"CONNECT", 7}, {"r", 1}, {env, sizeof(env) - 1}, {"x", 1}},
         5,
         "bad_frames"},
        {"envelope not JSON",
         {{"SMF/1", 5}, {"SCAN", 4}, {"r", 1}, {"{no", 3}, {"x", 1}},
         5,
         "bad_envelope"},
        {"no recipients",
         {{"SMF/1", 5}, {"SCAN", 4}, {"r", 1}, {"{}", 2}, {"x", 1}},
         5,
         "bad_envelope"},
        {"binary request id",
         {{"SMF/1", 5}, {"SCAN", 4}, {"\x01\x02", 2}, {"{}", 2}, {"x", 1}},
         5,
         "bad_frames"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        job_ctx_t ctx = {.gen = gen, .arrived_ms = clock_wall_ms()};
        job_result_t res;
        job_run(&ctx, bad[i].f, bad[i].n, &res);
        CHECK(strcmp(res.kind, "ERROR") == 0, "%s: kind %s", bad[i].what, res.kind);
        json_t *j = json_loads(res.json, 0, NULL);
        const char *code = json_string_value(json_object_get(j, "error"));
        CHECK(code && strcmp(code, bad[i].code) == 0, "%s: error %s, want %s", bad[i].what,
              code ? code : "(none)", bad[i].code);
        json_decref(j);
        job_result_free(&res);
    }
}

int main(int argc, char **argv)
{
    char err[2048];
    message_init();
    config_t *c = testconf_load(argc > 1 ? argv[1] : ".", conf_text, NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "config: %s", err);
    char kvdir[] = "/tmp/smf-test-kv.XXXXXX";
    kv_t *kv = NULL;
    if (mkdtemp(kvdir) == NULL || kv_open(kvdir, &kv, err, sizeof(err)) != 0) {
        fprintf(stderr, "kv: %s\n", err);
        return 1;
    }
    if (c == NULL || generation_new(c, kv, 1, 1, &gen, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return check_done() | 1;
    }
    test_rows();
    test_deadline_during_antivirus();
    test_details();
    test_connect();
    test_verdict_callback();
    test_note_rules();
    test_health_and_stats();
    test_long_health_problem();
    test_health_at_connect();
    test_autolearn();
    test_autolearn_is_atomic();
    test_huge_scores();
    test_long_reason();
    test_failed_stage_symbols_dropped();
    test_antivirus_once_per_message();
    test_scope_once_per_scope();
    test_scope_refuses_reports();
    test_null_outputs_and_name_limit();
    test_malformed();
    test_bad_return_explained();
    test_reports_capped();
    test_url_limit();
    generation_release(&gen);
    kv_close(&kv);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", kvdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", kvdir);
    return check_done();
}
