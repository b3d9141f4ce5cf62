/*
 * test_config.c - configuration errors and loader refusals, each checked
 * for the words an operator needs to fix it; and what a valid file gives.
 */
#include "check.h"
#include "testconf.h"

#include <pwd.h>
#include <sys/stat.h>

static const char *dir;

typedef struct refusal {
    const char *what;
    const char *text;
    const char *expect[3];
} refusal_t;

static const refusal_t refusals[] = {
    {"wrong ABI major",
     "modules = {bad_major}",
     {"bad_major.so", "built for module ABI 99.6", "this engine provides ABI 1.6"}},
    {"newer ABI minor",
     "modules = {bad_minor}",
     {"bad_minor.so", "built for module ABI 1.99", "newer than this engine's ABI 1.6"}},
    {"larger descriptor", "modules = {bad_size}", {"bad_size.so", "larger than the", "ABI 1.6"}},
    {"descriptor shorter than its ABI",
     "modules = {short_size}",
     {"short_size.so", "but ABI 1.6 defines", "not built with SMF_ABI_INIT"}},
    {"no descriptor", "modules = {no_symbol}", {"no_symbol.so", "does not export 'smf_module'"}},
    {"option outside conf",
     "modules = {bad_option}",
     {"bad_option.so", "option 'far'", "outside its conf_size"}},
    /* Where offset plus size wraps around, the value would land before the struct. */
    {"option offset that wraps",
     "modules = {wrap_option}",
     {"wrap_option.so", "option 'before'", "outside its conf_size"}},
    {"option at an offset its type cannot sit at",
     "modules = {misaligned_option}",
     {"misaligned_option.so", "option 'odd'", "not aligned"}},
    /* A default that does not parse as its type would reach the module as 0. */
    {"integer option whose default is not a number",
     "modules = {bad_int_default}",
     {"bad_int_default.so (bad_int_default)", "option 'count' has the default \"abc\"",
      "not an integer"}},
    {"float option whose default has trailing text",
     "modules = {bad_float_default}",
     {"bad_float_default.so", "option 'ratio' has the default \"0.5x\"", "not a finite number"}},
    {"boolean option whose default is neither",
     "modules = {bad_bool_default}",
     {"bad_bool_default.so", "option 'strict' has the default \"maybe\"", "not a boolean"}},
    /* libconfuse would abort the process on a list default it cannot parse. */
    {"list option whose default is never closed",
     "modules = {bad_list_default}",
     {"bad_list_default.so", "option 'names' has the default \"{a, b\"", "not a list"}},
    /* Empty is an empty list; a blank alone is no list to libconfuse, which aborts. */
    {"list option whose default is a blank",
     "modules = {blank_list_default}",
     {"blank_list_default.so", "option 'names' has the default \" \"", "not a list"}},
    {"a call the engine does not provide",
     "modules = {undefined_call}",
     {"undefined_call.so", "smf_msg_not_in_this_engine", "does not provide"}},
    {"missing module", "modules = {nosuch}", {"nosuch.so", "cannot open it"}},
    /* A file name is a file beside the configuration, not module_dir/x.so.so. */
    {"module by file name", "modules = {\"nosuch.so\"}", {"/tmp/nosuch.so:", "cannot open it"}},
    {"misspelt module option",
     "modules = {tcontent}\ntcontent {\n  scroe = 2\n}",
     {"smf-test-conf", "no such option 'scroe'"}},
    {"misspelt core setting", "modules = {}\nworkerz = 2", {":4:", "no such option 'workerz'"}},
    {"section of a module not loaded",
     "modules = {}\ntcontent {\n  score = 2\n}",
     {":4:", "no such option 'tcontent'", "name the module in `modules`"}},
    /* Found only at the next setting, 5 lines on: the line shown is the culprit's. */
    {"value of the wrong type",
     "modules = {}\nworkers = two\n# a\n# b\n# c\n#d\nmax_message_size = 65536",
     {":4:", "invalid integer value for option 'workers'"}},
    {"value of the wrong type among several of its name",
     "modules = {}\npolicy \"a.example\" {\n inbound {\n  add_header_score = abc\n }\n}\n"
     "policy \"b.example\" {\n inbound {\n  add_header_score = 5\n }\n}",
     {":6:", "invalid floating point value for option 'add_header_score'"}},
    /* Comments above do not move the line shown. */
    {"stray closing brace below comments",
     "modules = {}\n# a\n// b\nworkers = 2 # c\n/* d\n e */\n}\nworkers = 3",
     {":9:", "unexpected closing brace"}},
    {"misspelt setting below comments",
     "modules = {}\n# a\n# b\n# c\n# d\n/* e */ workerz = 2\n# f\nworkers = 3",
     {":8:", "no such option 'workerz'"}},
    /* libconfuse reads the string on to the next quote and stumbles lines later. */
    {"string without its closing quote",
     "modules = {}\n# a\nlisten = \"ipc:///tmp/a.sock\n# b\npublish = \"ipc:///tmp/b.sock\"\n"
     "# c\ndata_dir = \"/tmp\"\nworkers = 2",
     {":5:", "(`listen = \"ipc:///tmp/a.sock`) is not closed on it"}},
    /* One more quote left open, and the string runs to the end of the file. */
    {"string without its closing quote at the end",
     "modules = {}\npolicy default {\n  reject_text = \"no\n}\nworkers = 2",
     {":5:", "(`reject_text = \"no`) is not closed on it"}},
    /* libconfuse reads the second word as the next option's name and stumbles
     * at the token after it, lines later. */
    {"value of two words",
     "modules = {}\n# a\nworkers = 0 0\n# b\n\ndata_dir = \"/tmp\"",
     {":5:", "`workers = 0 0`: more than one word after `=`"}},
    {"quoted value with a word after it",
     "modules = {}\nlisten = \"ipc:///tmp/a.sock\" b # c\nworkers = 2",
     {":4:", "`listen = \"ipc:///tmp/a.sock\" b # c`: more than one word"}},
    {"value of two words at the end of the file",
     "modules = {}\nworkers = 2\ndata_dir = /tmp/a b",
     {":5:", "`data_dir = /tmp/a b`: more than one word"}},
    /* Braces in comments and strings do not count; the unclosed one is named. */
    {"missing closing brace",
     "modules = {}\npolicy default {\n inbound {\n  add_header_score = 5\n  # } a comment\n"
     "  reject_text = \"a } b\" /* } */\n }\n",
     {":4:", "opened here (`policy default {`) is never closed"}},
    /* libconfuse itself notices this one, at the end of the file. */
    {"missing closing brace before another section",
     "modules = {}\npolicy default {\n inbound {\n  add_header_score = 5\n }\n"
     "policy \"a.example\" {\n}\n",
     {"premature end of file", "opened on line 4 (`policy default {`) is never closed"}},
    {"negative refit interval",
     "modules = {}\nautolearn_refit_interval = -5",
     {"autolearn_refit_interval = -5", "0 (never)"}},
    {"antivirus left out",
     "modules = {tav, tcontent}\npolicy default { inbound { stages = {tcontent} } }",
     {"policy default inbound", "leaves out 'tav'", "cannot be skipped"}},
    {"antivirus after a list",
     "modules = {tav, tlist}\npolicy default { inbound { stages = {tlist, tav} } }",
     {"puts 'tav'", "after 'tlist'", "must come first"}},
    {"antivirus disabled",
     "modules = {tav}\ntav { enabled = false }",
     {"tav", "cannot be disabled"}},
    {"antivirus on_error accept", "modules = {tav}\ntav { on_error = accept }", {"fails closed"}},
    {"virus accepted",
     "modules = {}\npolicy default { inbound { virus_action = accept } }",
     {"virus_action = \"accept\"", "expected one of quarantine, reject"}},
    {"unscannable accepted",
     "modules = {}\npolicy \"a.example\" { outbound { unscannable_action = accept } }",
     {"policy a.example outbound", "unscannable_action = \"accept\"",
      "quarantine, tempfail, reject"}},
    {"unknown stage",
     "modules = {tcontent}\npolicy default { inbound { stages = {tcontent, x} } }",
     {"stage 'x' is not a loaded module"}},
    {"module listed twice", "modules = {tcontent, tcontent}", {"'tcontent' is listed twice"}},
    {"bad on_error",
     "modules = {tcontent}\ntcontent { on_error = maybe }",
     {"on_error = \"maybe\"", "accept or tempfail"}},
    {"negative retention",
     "modules = {}\nquarantine_retention_days = -1",
     {"quarantine_retention_days = -1", "0 (keep forever)"}},
    {"tiny quarantine map",
     "modules = {}\nquarantine_map_size = 1000",
     {"quarantine_map_size = 1000", "at least 65536"}},
    {"delivery port out of range",
     "modules = {}\npolicy \"a.example\" { delivery = \"[192.0.2.1]:99999\" }",
     {"policy a.example: delivery", "[192.0.2.1]:99999", "port 1-65535"}},
    {"delivery IPv6 without brackets",
     "modules = {}\npolicy default { delivery = \"::1:25\" }",
     {"policy default: delivery", "IPv6 address in brackets"}},
    {"empty reload_watch path",
     "modules = {}\nreload_watch = {\"\"}",
     {"reload_watch", "empty path"}},
    {"unknown user",
     "modules = {}\nuser = \"smf-no-such-user\"",
     {"user = \"smf-no-such-user\"", "no such user"}},
    {"user root", "modules = {}\nuser = \"root\"", {"user = \"root\"", "uid 0"}},
    {"threshold not a number",
     "modules = {}\npolicy default { inbound { quarantine_score = nan } }",
     {"option 'quarantine_score': nan", "finite number"}},
    {"module score infinite",
     "modules = {tcontent}\ntcontent { score = inf }",
     {"option 'score': inf", "finite number"}},
    {"one domain, two spellings of its policy",
     "modules = {}\npolicy \"B\u00fccher.example\" {}\npolicy \"xn--bcher-kva.example.\" {}",
     {"policy \"xn--bcher-kva.example.\"", "xn--bcher-kva.example has a policy already"}},
};

static void test_refusals(void)
{
    char err[2048];
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        config_t *c = testconf_load(dir, refusals[i].text, NULL, 0, err, sizeof(err));
        CHECK(c == NULL, "%s: loaded, expected a refusal", refusals[i].what);
        for (int k = 0; k < 3 && refusals[i].expect[k]; k++)
            CHECK(strstr(err, refusals[i].expect[k]) != NULL, "%s: \"%s\" not in: %s",
                  refusals[i].what, refusals[i].expect[k], err);
        config_free(&c);
    }
}

static void test_writable_module(void)
{
    char src[512], dst[] = "/tmp/smf-writable.XXXXXX", cmd[1200], err[2048], text[600];
    snprintf(src, sizeof(src), "%s/tcontent.so", dir);
    CHECK(mkdtemp(dst) != NULL, "mkdtemp");
    snprintf(cmd, sizeof(cmd), "cp %s %s/tcontent.so && chmod 0666 %s/tcontent.so", src, dst, dst);
    CHECK(system(cmd) == 0, "copy module");
    snprintf(text, sizeof(text), "modules = {\"%s/tcontent.so\"}", dst);
    config_t *c = testconf_load(dir, text, NULL, 0, err, sizeof(err));
    CHECK(c == NULL, "world-writable module was loaded");
    CHECK_CONTAINS(err, "group- or world-writable (mode 0666)");
    CHECK_CONTAINS(err, "chmod go-w");
    snprintf(cmd, sizeof(cmd), "chmod 0644 %s/tcontent.so", dst);
    CHECK(system(cmd) == 0, "chmod");
    c = testconf_load(dir, text, NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "module by path after chmod: %s", err);
    config_free(&c);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dst);
    CHECK(system(cmd) == 0, "cleanup");
}

/* A module built for an older minor loads; what it lacks reads as NULL. */
static void test_old_minor(void)
{
    char err[2048];
    config_t *c = testconf_load(dir, "modules = {old_minor}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "ABI 1.0 module refused: %s", err);
    if (c == NULL)
        return;
    const smf_module_t *d = c->modules[0].lib.desc;
    CHECK(d->abi.minor == 0 && d->learn == NULL, "1.0 descriptor widened with learn = NULL");
    CHECK(d->scan != NULL && strcmp(d->name, "old_minor") == 0, "1.0 descriptor fields kept");
    config_free(&c);
    c = testconf_load(dir, "modules = {minor1}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "ABI 1.1 module refused: %s", err);
    if (c == NULL)
        return;
    d = c->modules[0].lib.desc;
    CHECK(d->abi.minor == 1 && d->verdict == NULL, "1.1 descriptor widened with verdict = NULL");
    config_free(&c);
    c = testconf_load(dir, "modules = {minor2}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "ABI 1.2 module refused: %s", err);
    if (c == NULL)
        return;
    d = c->modules[0].lib.desc;
    CHECK(d->abi.minor == 2 && d->fit == NULL, "1.2 descriptor widened with fit = NULL");
    config_free(&c);
    c = testconf_load(dir, "modules = {minor3}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "ABI 1.3 module refused: %s", err);
    if (c == NULL)
        return;
    d = c->modules[0].lib.desc;
    CHECK(d->abi.minor == 3 && d->scope == NULL, "1.3 descriptor widened with scope = NULL");
    config_free(&c);
    /* 1.5 added a call, not a field: a 1.4 descriptor has the size of today's. */
    c = testconf_load(dir, "modules = {minor4}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "ABI 1.4 module refused: %s", err);
    if (c == NULL)
        return;
    CHECK(c->modules[0].lib.desc->abi.minor == 4, "1.4 descriptor loaded");
    config_free(&c);
    /* 1.6 added a field to smf_part_t, which the engine allocates: the
     * descriptor, and so a 1.5 module, stay as they were. */
    c = testconf_load(dir, "modules = {minor5}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "ABI 1.5 module refused: %s", err);
    if (c == NULL)
        return;
    CHECK(c->modules[0].lib.desc->abi.minor == 5, "1.5 descriptor loaded");
    config_free(&c);
}

static void test_valid(void)
{
    char err[2048];
    const char *text = "modules = {tav, tlist, tcontent, tcontent2}\n"
                       "tcontent { score = 7.5 }\n"
                       "tcontent2 { enabled = false }\n"
                       "policy default { inbound { stages = {tav, tlist, tcontent, tcontent2}\n"
                       "  quarantine_score = 12 } }\n"
                       "policy \"Example.ORG\" { inbound { reject_score = 15 } }\n";
    char *ov[] = {"workers=3", "listen=ipc:///tmp/x.sock", "module_dir=."};
    config_t *c = testconf_load(dir, text, ov, 2, err, sizeof(err));
    CHECK(c != NULL, "valid config refused: %s", err);
    if (c == NULL)
        return;
    CHECK(c->workers == 3, "-o workers=3 gave %ld", c->workers);
    CHECK(strcmp(c->listen, "ipc:///tmp/x.sock") == 0, "-o listen gave %s", c->listen);
    CHECK(c->nmodules == 4 && c->modules[0].hard && !c->modules[1].hard, "modules and kinds");
    CHECK(*(double *)c->modules[2].conf == 7.5, "module option filled");
    const policy_t *d = config_policy(c, "nosuch.example");
    CHECK(strcmp(d->domain, "default") == 0, "fallback policy");
    CHECK(d->dir[0].nstages == 3, "disabled module left out of the stages: %zu", d->dir[0].nstages);
    CHECK(d->dir[0].rules.quarantine_score == 12, "default quarantine_score");
    const policy_t *p = config_policy(c, "example.org");
    CHECK(strcmp(p->domain, "example.org") == 0, "domain policy found, lower-cased");
    CHECK(p->dir[0].rules.reject_score == 15, "domain override");
    CHECK(p->dir[0].rules.quarantine_score == 12, "inherited from the default policy");
    CHECK(p->dir[0].nstages == 3, "inherited stages");
    CHECK(p->dir[1].rules.virus_action == ACTION_REJECT, "outbound virus rejected by default");
    config_free(&c);

    char *bad[] = {"nosuch=1"};
    c = testconf_load(dir, "modules = {}", bad, 1, err, sizeof(err));
    CHECK(c == NULL, "-o with an unknown setting accepted");
    CHECK_CONTAINS(err, "'nosuch' is not a top-level setting");
}

/* Quarantine retention and size, reload_watch, and delivery inheritance. */
static void test_quarantine_settings(void)
{
    char err[2048];
    config_t *c = testconf_load(dir, "modules = {}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "empty config refused: %s", err);
    if (c == NULL)
        return;
    CHECK(c->quarantine_retention_days == 30, "default retention %ld",
          c->quarantine_retention_days);
    CHECK(c->quarantine_map_size == (size_t)16 << 30, "default map size %zu",
          c->quarantine_map_size);
    CHECK(c->nreload_watch == 1 && strcmp(c->reload_watch[0], "/var/lib/clamav") == 0,
          "default reload_watch");
    CHECK(strcmp(c->defpol.delivery, "[127.0.0.1]:10026") == 0, "default delivery %s",
          c->defpol.delivery);
    CHECK(strcmp(config_policy(c, "x.example")->delivery, "[127.0.0.1]:10026") == 0,
          "fallback policy delivery");
    config_free(&c);

    const char *text = "modules = {}\nquarantine_retention_days = 7\n"
                       "quarantine_map_size = 1048576\n"
                       "reload_watch = {\"db\", \"/srv/clamav\"}\n"
                       "policy default { delivery = \"[192.0.2.5]:2525\" }\n"
                       "policy \"a.example\" { inbound { reject_score = 30 } }\n"
                       "policy \"b.example\" { delivery = \"mx.b.example\" }\n";
    char *ov[] = {"quarantine_retention_days=0"};
    c = testconf_load(dir, text, NULL, 0, err, sizeof(err));
    CHECK(c != NULL, "quarantine settings refused: %s", err);
    if (c == NULL)
        return;
    CHECK(c->quarantine_retention_days == 7, "retention %ld", c->quarantine_retention_days);
    CHECK(c->quarantine_map_size == 1048576, "map size %zu", c->quarantine_map_size);
    CHECK(c->nreload_watch == 2, "two watched paths: %zu", c->nreload_watch);
    CHECK(strcmp(c->reload_watch[0], "/tmp/db") == 0, "relative watch path resolved: %s",
          c->reload_watch[0]);
    CHECK(strcmp(c->reload_watch[1], "/srv/clamav") == 0, "absolute watch path kept");
    CHECK(strcmp(config_policy(c, "a.example")->delivery, "[192.0.2.5]:2525") == 0,
          "delivery inherited from the default policy: %s",
          config_policy(c, "a.example")->delivery);
    CHECK(strcmp(config_policy(c, "b.example")->delivery, "mx.b.example") == 0,
          "domain delivery: %s", config_policy(c, "b.example")->delivery);
    config_free(&c);

    c = testconf_load(dir, text, ov, 1, err, sizeof(err));
    CHECK(c != NULL && c->quarantine_retention_days == 0, "-o quarantine_retention_days=0: %s",
          err);
    config_free(&c);
}

/* `user` is empty by default and resolved to the account's ids when set,
 * in the file or with -o; reading only the core settings resolves it too. */
static void test_user(void)
{
    char err[2048];
    config_t *c = testconf_load(dir, "modules = {}", NULL, 0, err, sizeof(err));
    CHECK(c != NULL && strcmp(c->user.name, "") == 0, "default user: %s", err);
    config_free(&c);
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL)
        return;
    char *ov[] = {"user=nobody"};
    c = testconf_load(dir, "modules = {tcontent}", ov, 1, err, sizeof(err));
    CHECK(c != NULL, "user = nobody refused: %s", err);
    if (c == NULL)
        return;
    CHECK(strcmp(c->user.name, "nobody") == 0 && c->user.uid == pw->pw_uid &&
              c->user.gid == pw->pw_gid,
          "user nobody resolved to %u/%u", (unsigned)c->user.uid, (unsigned)c->user.gid);
    config_free(&c);

    /* smfd's first read at start opens no module: a missing one is no error yet. */
    const char *path = testconf_write(dir, "modules = {nosuch}\nuser = \"nobody\"");
    int rc = config_load_core(path, NULL, 0, &c, err, sizeof(err));
    unlink(path);
    CHECK(rc == 0, "core settings refused: %s", err);
    if (rc != 0)
        return;
    CHECK(c->nmodules == 0 && c->user.uid == pw->pw_uid, "core settings: %zu module(s), uid %u",
          c->nmodules, (unsigned)c->user.uid);
    config_free(&c);
}

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : ".";
    test_refusals();
    test_writable_module();
    test_old_minor();
    test_valid();
    test_quarantine_settings();
    test_user();
    return check_done();
}
