/*
 * verdict.h - the merge: from what the stages found to one action.
 *
 * Two lanes. The hard lane carries antivirus-kind results and can only
 * raise the verdict: a virus, an antivirus error or an unscannable message
 * each map to a severe action, and nothing in the soft lane lowers it. The
 * soft lane carries every other stage: forced verdicts (whitelist,
 * blacklist, certain spam) and the summed score against the policy's
 * thresholds. The final action is the more severe of the two.
 *
 * verdict_merge() is a pure function of its two arguments, so the whole
 * decision table can be tested without running a stage.
 */
#ifndef SMF_VERDICT_H
#define SMF_VERDICT_H

#include "action.h"

#include <stdbool.h>

/* What a policy says for one direction of one domain. */
typedef struct policy_rules {
    double add_header_score;     /* <= 0 disables the threshold. */
    double quarantine_score;     /* <= 0 disables. */
    double reject_score;         /* <= 0 disables. */
    action_t virus_action;       /* quarantine or reject. */
    action_t unscannable_action; /* quarantine, tempfail or reject: never accept. */
    action_t block_action;       /* What a blacklist entry does. */
    action_t spam_action;        /* What a certain-spam verdict (GTUBE) does. */
} policy_rules_t;

typedef enum soft_force {
    SOFT_NONE = 0,
    SOFT_ALLOW, /* A whitelist entry matched. */
    SOFT_BLOCK, /* A blacklist entry matched. */
    SOFT_SPAM   /* A stage is certain the message is spam. */
} soft_force_t;

/* What the stages of one pipeline run found. */
typedef struct verdict_input {
    bool virus;            /* An antivirus stage found a virus. */
    bool hard_error;       /* An antivirus stage failed or timed out. */
    bool hard_unscannable; /* An antivirus stage could not scan everything. */
    soft_force_t force;    /* The first forced soft verdict, if any. */
    bool soft_tempfail;    /* A soft stage failed with on_error = tempfail. */
    double score;          /* Sum of the symbols' scores. */
} verdict_input_t;

typedef enum verdict_lane { LANE_SOFT = 0, LANE_HARD = 1 } verdict_lane_t;

typedef struct verdict {
    action_t action;
    action_t hard;       /* The hard lane's action on its own. */
    action_t soft;       /* The soft lane's action on its own. */
    verdict_lane_t lane; /* Which lane decided (hard on a tie). */
    const char *why;     /* Static text: "virus", "score", "whitelist", ... */
} verdict_t;

verdict_t verdict_merge(const verdict_input_t *in, const policy_rules_t *rules);

/* The rules a policy starts from before the configuration overrides them. */
void policy_rules_default(policy_rules_t *rules, bool outbound);

#endif
