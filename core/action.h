/*
 * action.h - what the engine tells the front end to do with a message.
 *
 * The enum order is the severity order used whenever two verdicts meet
 * (two lanes, two recipient domains): the more severe one wins.
 */
#ifndef SMF_ACTION_H
#define SMF_ACTION_H

typedef enum action {
    ACTION_ACCEPT = 0,
    ACTION_ADD_HEADER = 1,
    ACTION_QUARANTINE = 2,
    ACTION_TEMPFAIL = 3,
    ACTION_REJECT = 4
} action_t;

#define ACTION_COUNT 5

/* The SDK's SMF_ACTION_* constants are these same values; verdict() relies
 * on it. */
_Static_assert(ACTION_REJECT == 4 && ACTION_QUARANTINE == 2, "actions match SMF_ACTION_*");

const char *action_name(action_t a);
/* Parses an action name; -1 when unknown. */
int action_parse(const char *name);

static inline action_t action_max(action_t a, action_t b)
{
    return a > b ? a : b;
}

#endif
