/*
 * stats.c - engine counters under one mutex: each update is a handful of
 * additions, far cheaper than the scan it counts.
 */
#include "stats.h"
#include "clock.h"
#include "jsontext.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_MODULES 64
#define MAX_PROBLEMS 256
#define HEALTH_QUIET_MS 60000

typedef struct stage_stats {
    char name[64];
    uint64_t status[STAGE_SKIPPED + 1];
    double ms;
} stage_stats_t;

typedef struct problem {
    char module[64];
    char text[192];
    uint64_t count;
    int64_t first_ms, last_ms, told_ms;
} problem_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t by_action[ACTION_COUNT];
static double total_ms;
static stage_stats_t stages[MAX_MODULES];
static size_t nstages;
static problem_t problems[MAX_PROBLEMS];
static size_t nproblems;
static size_t queue_now, queue_peak;
static uint64_t busy_refusals;
static int64_t busy_told_ms;

void stats_message(action_t action, double ms)
{
    pthread_mutex_lock(&lock);
    if ((unsigned)action < ACTION_COUNT)
        by_action[action]++;
    total_ms += ms;
    pthread_mutex_unlock(&lock);
}

static stage_stats_t *stage_slot(const char *module)
{
    for (size_t i = 0; i < nstages; i++)
        if (strcmp(stages[i].name, module) == 0)
            return &stages[i];
    if (nstages == MAX_MODULES)
        return NULL;
    stage_stats_t *s = &stages[nstages++];
    snprintf(s->name, sizeof(s->name), "%s", module);
    return s;
}

void stats_stages(const stage_report_t *st, size_t n)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        /* A stage that ran once for several recipient domains counts once. */
        stage_stats_t *s = st[i].replayed ? NULL : stage_slot(st[i].module);
        if (s != NULL && (unsigned)st[i].status <= STAGE_SKIPPED) {
            s->status[st[i].status]++;
            s->ms += st[i].ms;
        }
    }
    pthread_mutex_unlock(&lock);
}

/*
 * Copies text into a field of `size` bytes. A text too long is cut before
 * the character the field's end falls in, not inside it: STATS would show
 * the bytes of half a character as \xHH escapes.
 */
static void copy_text(char *field, size_t size, const char *text)
{
    size_t n = strlen(text), cut = n < size ? n : size - 1;
    /* A character has at most three bytes after its first; text that is not
     * UTF-8 may have any number of such bytes in a row. */
    for (int k = 0; cut < n && k < 3 && cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80; k++)
        cut--;
    memcpy(field, text, cut);
    field[cut] = '\0';
}

static problem_t *problem_slot(const char *module, const char *text)
{
    /* Texts that differ only past what a slot keeps are one problem. */
    char kept[sizeof(problems[0].text)];
    copy_text(kept, sizeof(kept), text);
    for (size_t i = 0; i < nproblems; i++)
        if (strcmp(problems[i].module, module) == 0 && strcmp(problems[i].text, kept) == 0)
            return &problems[i];
    /* A full table keeps counting into its last slot rather than losing
     * the fact that something is wrong. */
    problem_t *p = &problems[nproblems < MAX_PROBLEMS ? nproblems++ : MAX_PROBLEMS - 1];
    memset(p, 0, sizeof(*p));
    copy_text(p->module, sizeof(p->module), module);
    copy_text(p->text, sizeof(p->text), text);
    return p;
}

bool stats_health(const char *module, const char *problem, int64_t now_ms, uint64_t *count)
{
    pthread_mutex_lock(&lock);
    problem_t *p = problem_slot(module, problem);
    if (p->count++ == 0)
        p->first_ms = now_ms;
    p->last_ms = now_ms;
    bool tell = p->told_ms == 0 || now_ms - p->told_ms >= HEALTH_QUIET_MS;
    if (tell)
        p->told_ms = now_ms;
    *count = p->count;
    pthread_mutex_unlock(&lock);
    return tell;
}

void stats_queue(size_t waiting)
{
    pthread_mutex_lock(&lock);
    queue_now = waiting;
    if (waiting > queue_peak)
        queue_peak = waiting;
    pthread_mutex_unlock(&lock);
}

bool stats_busy_refusal(void)
{
    int64_t now = clock_wall_ms();
    pthread_mutex_lock(&lock);
    bool tell = busy_refusals == 0 || now - busy_told_ms >= HEALTH_QUIET_MS;
    busy_refusals++;
    if (tell)
        busy_told_ms = now;
    pthread_mutex_unlock(&lock);
    return tell;
}

json_t *stats_json(void)
{
    pthread_mutex_lock(&lock);
    json_t *actions = json_object();
    uint64_t messages = 0;
    for (int a = 0; a < ACTION_COUNT; a++) {
        json_object_set_new(actions, action_name((action_t)a),
                            json_integer((json_int_t)by_action[a]));
        messages += by_action[a];
    }
    json_t *st = json_array();
    for (size_t i = 0; i < nstages; i++) {
        json_t *o = json_pack("{s:s, s:f}", "module", stages[i].name, "ms", stages[i].ms);
        for (int k = 0; k <= STAGE_SKIPPED; k++)
            json_object_set_new(o, stage_status_name((stage_status_t)k),
                                json_integer((json_int_t)stages[i].status[k]));
        json_array_append_new(st, o);
    }
    json_t *health = json_array();
    for (size_t i = 0; i < nproblems; i++)
        json_array_append_new(health,
                              json_pack("{s:s, s:o, s:I, s:I, s:I}", "module", problems[i].module,
                                        "problem", jsontext_new(problems[i].text), "count",
                                        (json_int_t)problems[i].count, "first",
                                        (json_int_t)problems[i].first_ms, "last",
                                        (json_int_t)problems[i].last_ms));
    json_t *queue = json_pack("{s:I, s:I, s:I}", "waiting", (json_int_t)queue_now, "peak",
                              (json_int_t)queue_peak, "refused_busy", (json_int_t)busy_refusals);
    json_t *o = json_pack("{s:i, s:I, s:o, s:f, s:o, s:o, s:o}", "schema", 1, "messages",
                          (json_int_t)messages, "actions", actions, "engine_ms", total_ms, "stages",
                          st, "health", health, "queue", queue);
    pthread_mutex_unlock(&lock);
    return o;
}
