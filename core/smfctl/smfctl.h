/*
 * smfctl.h - the operator's tool: what every command receives, and the
 * table of commands. Each command group lives in a file of its own.
 */
#ifndef SMF_SMFCTL_H
#define SMF_SMFCTL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct smfctl {
    const char *config; /* -c FILE */
    char **overrides;   /* -o name=value, as for smfd */
    size_t noverrides;
} smfctl_t;

/* A command: argv[0] is the command's own name. Returns the exit status:
 * 0 success, 1 failure, 2 usage or configuration error. */
typedef int (*smfctl_fn)(const smfctl_t *ctl, int argc, char **argv);

typedef struct smfctl_command {
    const char *name;
    smfctl_fn run;
    const char *usage; /* One or more lines for `smfctl --help`. */
    const char *help;  /* The command's own usage, for `smfctl COMMAND --help`. */
} smfctl_command_t;

/* Each command's usage, printed by `smfctl COMMAND --help` and after a
 * usage error. */
extern const char smfctl_modules_usage[];
extern const char smfctl_list_usage[];
extern const char smfctl_quarantine_usage[];
extern const char smfctl_learn_usage[];
extern const char smfctl_keygen_usage[];
extern const char smfctl_stats_usage[];
extern const char smfctl_domains_usage[];

int smfctl_modules(const smfctl_t *ctl, int argc, char **argv);
int smfctl_list(const smfctl_t *ctl, int argc, char **argv);
int smfctl_quarantine(const smfctl_t *ctl, int argc, char **argv);
int smfctl_learn(const smfctl_t *ctl, int argc, char **argv);
/* smfctl learn for another command (a quarantine release): its --domain is
 * the quarantine's, not the operator's, so it is not warned about. */
int smfctl_learn_as(const smfctl_t *ctl, int argc, char **argv, bool domain_implied);
int smfctl_keygen(const smfctl_t *ctl, int argc, char **argv);
int smfctl_stats(const smfctl_t *ctl, int argc, char **argv);
int smfctl_domains(const smfctl_t *ctl, int argc, char **argv);

struct config;

/*
 * For a command about to open a store: run as root with `user` set, makes
 * quarantine_dir and data_dir ready as smfd does at start (created if
 * missing, what root owns in them given to the user, no link followed) and
 * switches to the user for good, so that no link the user put there can
 * make root write elsewhere. Call it once the files only root may read are
 * read or open. Otherwise (no user, not root, already the user) does
 * nothing. Returns 0, or an exit status after printing why.
 */
int smfctl_become_user(const struct config *c);

/*
 * For a command that must make a file as root only once it knows that the
 * store opens (an export): runs check(arg), which opens the store and
 * returns 0 or an exit status, as smfctl_become_user would leave smfctl,
 * after making the directories ready. Run as root with `user` set, that is
 * in a child process switched to the user for good, so that smfctl itself
 * stays root and never reads the store while it could become root again.
 * Returns what check returned, or an exit status after printing why.
 */
int smfctl_check_as_user(const struct config *c, int (*check)(void *), void *arg);

/*
 * Text from a store (mostly from the mail's sender) as it may be shown on a
 * terminal: control characters, C1 controls, bidirectional and zero-width
 * format characters and bytes that are not UTF-8 become \xNN (each byte),
 * a backslash becomes \\, and the rest of valid UTF-8 stays.
 * NULL reads as "". Returns a new string for the caller to free.
 */
char *smfctl_text(const char *s);

/* Says whether stderr ends in a progress line ("\r..." with no line break):
 * smfctl_fail() then clears it before its message. */
void smfctl_progress_open(bool open);

/* Prints "smfctl: " and the message on stderr, on a line of its own;
 * returns status. */
int smfctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
