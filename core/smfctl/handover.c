/*
 * handover.c - what smfctl run as root leaves in the stores goes to smfd's
 * user.
 *
 * With `user` set, smfd runs as that user and opens the stores as it. A
 * command run as root (learn, list, quarantine) may create files there, a
 * lock file or a new store, that the running smfd could then not open
 * until its next start gives them away. So after such a command smfctl,
 * still root, gives the user what root owns in the two directories, as
 * smfd does at start and with the same care about links. smfctl itself
 * stays root throughout, so that it can still read the operator's files
 * and write where the operator asked.
 */
#include "config.h"
#include "privdrop.h"
#include "smfctl.h"

#include <stdio.h>
#include <sys/stat.h>

static int hand_over_dir(const char *dir, const privdrop_user_t *u)
{
    struct stat st;
    char err[2048];
    size_t handed = 0;
    /* A directory the command did not make is left for smfd to make. */
    if (dir == NULL || stat(dir, &st) != 0)
        return 0;
    if (privdrop_prepare_dir(dir, u, &handed, err, sizeof(err)) != 0)
        return smfctl_fail(1, "%s: run smfctl as %s (runuser -u %s -- smfctl ...)", err, u->name,
                           u->name);
    if (handed > 0)
        fprintf(stderr, "smfctl: %s: gave %zu path(s) created as root to user %s\n", dir, handed,
                u->name);
    return 0;
}

int smfctl_hand_over(const smfctl_t *ctl)
{
    char err[2048];
    config_t *c = NULL;
    bool needed = false;
    if (config_load_core(ctl->config, ctl->overrides, ctl->noverrides, &c, err, sizeof(err)) != 0)
        return smfctl_fail(2, "%s", err);
    /* No user set, or smfctl not root: what it made belongs to whoever ran
     * it, as smfd would find it. */
    int rc = 0;
    if (privdrop_needed(&c->user, &needed, err, sizeof(err)) == 0 && needed) {
        /* quarantine_dir first, as smfd does: it may be mounted inside data_dir. */
        rc = hand_over_dir(c->quarantine_dir, &c->user);
        if (rc == 0)
            rc = hand_over_dir(c->data_dir, &c->user);
    }
    config_free(&c);
    return rc;
}
