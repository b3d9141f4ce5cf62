/*
 * user.c - smfctl run as root works on the stores as smfd's user.
 *
 * With `user` set, smfd runs as that user, and quarantine_dir and data_dir
 * are the user's: whoever takes over smfd (it parses hostile mail) can put
 * symbolic links there. smfctl run as root and opening a store through
 * such a link would write where the link points, as root: overwrite any
 * file with an LMDB lock header, or create one. So a command that opens a
 * store first reads, as root, what only root may read (the configuration,
 * the CURVE keys, the files the operator named), then makes the two
 * directories ready as smfd does at start, and then switches to the user
 * for good, before it opens anything in them. What it creates there
 * belongs to the user too, so the running smfd can open it.
 */
#include "config.h"
#include "privdrop.h"
#include "smfctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The directories were made ready by this run (smfctl_check_as_user). */
static bool smfctl_prepared;

/* Makes quarantine_dir and data_dir ready as smfd does; 0 or an exit status. */
static int smfctl_prepare(const config_t *c)
{
    char err[2048];
    /* quarantine_dir first, as smfd does: it may be mounted inside data_dir.
     * Each is made if missing and given to the user with what root left in
     * it, never following a link the user could have made. */
    const char *dirs[2] = {c->quarantine_dir, c->data_dir};
    for (int i = 0; i < 2 && !smfctl_prepared; i++) {
        size_t handed = 0;
        if (privdrop_prepare_dir(dirs[i], &c->user, &handed, err, sizeof(err)) != 0)
            return smfctl_fail(1, "%s", err);
        if (handed > 0)
            fprintf(stderr, "smfctl: %s: gave %zu path(s) owned by root to user %s\n", dirs[i],
                    handed, c->user.name);
    }
    smfctl_prepared = true;
    return 0;
}

int smfctl_become_user(const config_t *c)
{
    char err[2048];
    bool needed = false;
    /* No user set, or smfctl not root: it opens the stores as whoever runs
     * it, as before; a user other than smfd's may well be refused there. */
    if (privdrop_needed(&c->user, &needed, err, sizeof(err)) != 0 || !needed)
        return 0;
    int rc = smfctl_prepare(c);
    if (rc != 0)
        return rc;
    if (privdrop_switch(&c->user, err, sizeof(err)) != 0)
        return smfctl_fail(1, "cannot switch to user %s: %s", c->user.name, err);
    return 0;
}

int smfctl_check_as_user(const config_t *c, int (*check)(void *), void *arg)
{
    char err[2048];
    bool needed = false;
    if (privdrop_needed(&c->user, &needed, err, sizeof(err)) != 0 || !needed)
        return check(arg);
    int rc = smfctl_prepare(c);
    if (rc != 0)
        return rc;
    /* Not the user's ids with root kept: a process that can become root
     * again must not read the store, whose files the user may rewrite
     * while it reads them. The check runs in a child that switched for
     * good; what it prints is not printed twice. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return smfctl_fail(1, "cannot fork: %s", strerror(errno));
    if (pid == 0) {
        rc = privdrop_switch(&c->user, err, sizeof(err)) != 0
                 ? smfctl_fail(1, "cannot switch to user %s: %s", c->user.name, err)
                 : check(arg);
        fflush(NULL);
        _exit(rc);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return smfctl_fail(1, "cannot wait for process %ld: %s", (long)pid, strerror(errno));
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return smfctl_fail(1, "the process that opened the store as user %s ended by signal %d",
                       c->user.name, WTERMSIG(st));
}
