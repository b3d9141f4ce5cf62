/*
 * verdict.c - the two-lane merge of stage results into one action.
 */
#include "verdict.h"

void policy_rules_default(policy_rules_t *r, bool outbound)
{
    r->add_header_score = 5.0;
    r->quarantine_score = 10.0;
    r->reject_score = 0.0;
    /* Outbound, a virus is rejected so that the sender learns at once that
     * the message did not leave. */
    r->virus_action = outbound ? ACTION_REJECT : ACTION_QUARANTINE;
    r->unscannable_action = ACTION_QUARANTINE;
    r->block_action = ACTION_REJECT;
    r->spam_action = ACTION_QUARANTINE;
}

static action_t hard_lane(const verdict_input_t *in, const policy_rules_t *r, const char **why)
{
    if (in->virus) {
        *why = "virus";
        return r->virus_action;
    }
    if (in->hard_error) {
        /* Fail closed: an antivirus that could not answer never lets mail in. */
        *why = "antivirus error";
        return ACTION_TEMPFAIL;
    }
    if (in->hard_unscannable) {
        *why = "unscannable";
        /* Accept is not an unscannable action whatever the policy says. */
        return action_max(r->unscannable_action, ACTION_QUARANTINE);
    }
    *why = "clean";
    return ACTION_ACCEPT;
}

static action_t score_action(double score, const policy_rules_t *r)
{
    if (r->reject_score > 0 && score >= r->reject_score)
        return ACTION_REJECT;
    if (r->quarantine_score > 0 && score >= r->quarantine_score)
        return ACTION_QUARANTINE;
    if (r->add_header_score > 0 && score >= r->add_header_score)
        return ACTION_ADD_HEADER;
    return ACTION_ACCEPT;
}

static action_t soft_lane(const verdict_input_t *in, const policy_rules_t *r, const char **why)
{
    switch (in->force) {
    case SOFT_ALLOW:
        /* A whitelist lowers everything in the soft lane, errors included. */
        *why = "whitelist";
        return ACTION_ACCEPT;
    case SOFT_BLOCK:
        *why = "blacklist";
        return r->block_action;
    case SOFT_SPAM:
        *why = "spam";
        return action_max(r->spam_action, score_action(in->score, r));
    case SOFT_NONE:
        break;
    }
    action_t a = score_action(in->score, r);
    *why = a == ACTION_ACCEPT ? "clean" : "score";
    if (in->soft_tempfail && a < ACTION_TEMPFAIL) {
        *why = "stage error";
        a = ACTION_TEMPFAIL;
    }
    return a;
}

verdict_t verdict_merge(const verdict_input_t *in, const policy_rules_t *r)
{
    verdict_t v;
    const char *hard_why, *soft_why;
    v.hard = hard_lane(in, r, &hard_why);
    v.soft = soft_lane(in, r, &soft_why);
    /* The hard lane decides when it is the more severe, and on a tie unless
     * both accept (a clean message is explained by the soft lane). */
    bool hard = v.hard > v.soft || (v.hard == v.soft && v.hard != ACTION_ACCEPT);
    v.action = hard ? v.hard : v.soft;
    v.lane = hard ? LANE_HARD : LANE_SOFT;
    v.why = hard ? hard_why : soft_why;
    return v;
}
