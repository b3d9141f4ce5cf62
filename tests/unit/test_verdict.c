/*
 * test_verdict.c - the two-lane merge, by table and exhaustively.
 *
 * The table pins the decisions an operator relies on; the exhaustive part
 * walks every combination of inputs and policies and checks the rules
 * that must never break: nothing lowers the hard lane, a virus is never
 * accepted, an antivirus error is never accepted, unscannable is never
 * accepted.
 */
#include "check.h"
#include "verdict.h"

typedef struct row {
    const char *what;
    verdict_input_t in;
    bool outbound;
    action_t want;
} row_t;

static const row_t table[] = {
    {"clean", {0}, false, ACTION_ACCEPT},
    {"score under add_header", {.score = 4.9}, false, ACTION_ACCEPT},
    {"score at add_header", {.score = 5}, false, ACTION_ADD_HEADER},
    {"score at quarantine", {.score = 10}, false, ACTION_QUARANTINE},
    {"reject off by default", {.score = 500}, false, ACTION_QUARANTINE},
    {"virus inbound", {.virus = true}, false, ACTION_QUARANTINE},
    {"virus outbound", {.virus = true}, true, ACTION_REJECT},
    {"virus from whitelisted sender",
     {.virus = true, .force = SOFT_ALLOW},
     false,
     ACTION_QUARANTINE},
    {"virus, whitelisted, negative score",
     {.virus = true, .force = SOFT_ALLOW, .score = -100},
     false,
     ACTION_QUARANTINE},
    {"av error", {.hard_error = true}, false, ACTION_TEMPFAIL},
    {"av error, whitelisted", {.hard_error = true, .force = SOFT_ALLOW}, false, ACTION_TEMPFAIL},
    {"av error and spam", {.hard_error = true, .score = 12}, false, ACTION_TEMPFAIL},
    {"unscannable", {.hard_unscannable = true}, false, ACTION_QUARANTINE},
    {"unscannable, whitelisted",
     {.hard_unscannable = true, .force = SOFT_ALLOW},
     false,
     ACTION_QUARANTINE},
    {"whitelist lowers spam score", {.force = SOFT_ALLOW, .score = 50}, false, ACTION_ACCEPT},
    {"whitelist lowers stage error",
     {.force = SOFT_ALLOW, .soft_tempfail = true},
     false,
     ACTION_ACCEPT},
    {"blacklist", {.force = SOFT_BLOCK}, false, ACTION_REJECT},
    {"blacklist and virus", {.force = SOFT_BLOCK, .virus = true}, false, ACTION_REJECT},
    {"certain spam", {.force = SOFT_SPAM}, false, ACTION_QUARANTINE},
    {"soft error with on_error tempfail", {.soft_tempfail = true}, false, ACTION_TEMPFAIL},
    {"soft error, spam score", {.soft_tempfail = true, .score = 11}, false, ACTION_TEMPFAIL},
};

static void run_table(void)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        policy_rules_t r;
        policy_rules_default(&r, table[i].outbound);
        verdict_t v = verdict_merge(&table[i].in, &r);
        CHECK(v.action == table[i].want, "%s: got %s, want %s", table[i].what,
              action_name(v.action), action_name(table[i].want));
    }
}

static void check_invariants(const verdict_input_t *in, const policy_rules_t *r)
{
    verdict_t v = verdict_merge(in, r);
    CHECK(v.action >= v.hard && v.action >= v.soft, "final below a lane");
    CHECK(v.action == (v.hard > v.soft ? v.hard : v.soft), "final is not the max of the lanes");
    if (in->virus)
        CHECK(v.action >= r->virus_action && v.action >= ACTION_QUARANTINE, "virus lowered");
    if (in->hard_error && !in->virus)
        CHECK(v.action >= ACTION_TEMPFAIL, "antivirus error not tempfailed");
    if (in->hard_unscannable)
        CHECK(v.action >= ACTION_QUARANTINE, "unscannable accepted");
    if (in->force == SOFT_ALLOW && !in->virus && !in->hard_error && !in->hard_unscannable)
        CHECK(v.action == ACTION_ACCEPT, "whitelist did not accept");
    if (in->force == SOFT_BLOCK)
        CHECK(v.action >= r->block_action, "blacklist lowered");
}

static void run_exhaustive(void)
{
    static const double scores[] = {-50, 0, 4.99, 5, 9.99, 10, 19.99, 20, 1000};
    static const action_t virus_actions[] = {ACTION_QUARANTINE, ACTION_REJECT};
    static const action_t unscannable_actions[] = {ACTION_QUARANTINE, ACTION_TEMPFAIL,
                                                   ACTION_REJECT, ACTION_ACCEPT};
    size_t combos = 0;
    for (int bits = 0; bits < 16; bits++)
        for (int force = SOFT_NONE; force <= SOFT_SPAM; force++)
            for (size_t s = 0; s < sizeof(scores) / sizeof(scores[0]); s++)
                for (size_t va = 0; va < 2; va++)
                    for (size_t ua = 0; ua < 4; ua++)
                        for (int reject_on = 0; reject_on < 2; reject_on++) {
                            verdict_input_t in = {.virus = bits & 1,
                                                  .hard_error = bits & 2,
                                                  .hard_unscannable = bits & 4,
                                                  .soft_tempfail = bits & 8,
                                                  .force = (soft_force_t)force,
                                                  .score = scores[s]};
                            policy_rules_t r;
                            policy_rules_default(&r, false);
                            r.virus_action = virus_actions[va];
                            r.unscannable_action = unscannable_actions[ua];
                            r.reject_score = reject_on ? 20 : 0;
                            check_invariants(&in, &r);
                            combos++;
                        }
    CHECK(combos == 16 * 4 * 9 * 2 * 4 * 2, "walked %zu combinations", combos);
}

int main(void)
{
    run_table();
    run_exhaustive();
    return check_done();
}
