/*
 * action.c - names of actions, as they appear in replies, logs and config.
 */
#include "action.h"

#include <string.h>

static const char *const names[ACTION_COUNT] = {"accept", "add_header", "quarantine", "tempfail",
                                                "reject"};

const char *action_name(action_t a)
{
    if ((unsigned)a >= ACTION_COUNT)
        return "unknown";
    return names[a];
}

int action_parse(const char *name)
{
    for (int i = 0; i < ACTION_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}
