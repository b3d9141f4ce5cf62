/*
 * stage.h - what the engine says about the run a module's scan() is in.
 */
#ifndef SMF_COMMON_STAGE_H
#define SMF_COMMON_STAGE_H

#include <smf/module.h>

#include <stdbool.h>
#include <string.h>

/* A connection-stage check (CONNECT, at MAIL FROM or RCPT TO) runs before
 * there is a message; the engine says so in the note smfd.stage. An empty
 * message is still a message. */
static inline bool stage_is_connect_check(const smf_msg_t *msg)
{
    const char *stage = smf_msg_note(msg, "smfd.stage");
    return stage != NULL && strcmp(stage, "connect") == 0;
}

#endif
