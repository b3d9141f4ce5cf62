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

#include <stdio.h>

/* The directories were made ready by this run (smfctl_act_as_user). */
static bool smfctl_prepared;
/* Acting as the user with root kept, and what gives it back. */
static bool smfctl_acting;
static privdrop_saved_t smfctl_saved;

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
    /* Root again first, if acting as the user (smfctl_act_as_user). */
    int rc = smfctl_root_again();
    if (rc != 0)
        return rc;
    /* No user set, or smfctl not root: it opens the stores as whoever runs
     * it, as before; a user other than smfd's may well be refused there. */
    if (privdrop_needed(&c->user, &needed, err, sizeof(err)) != 0 || !needed)
        return 0;
    rc = smfctl_prepare(c);
    if (rc != 0)
        return rc;
    if (privdrop_switch(&c->user, err, sizeof(err)) != 0)
        return smfctl_fail(1, "cannot switch to user %s: %s", c->user.name, err);
    return 0;
}

int smfctl_act_as_user(const config_t *c)
{
    char err[2048];
    bool needed = false;
    if (smfctl_acting || privdrop_needed(&c->user, &needed, err, sizeof(err)) != 0 || !needed)
        return 0;
    int rc = smfctl_prepare(c);
    if (rc != 0)
        return rc;
    if (privdrop_assume(&c->user, &smfctl_saved, err, sizeof(err)) != 0)
        return smfctl_fail(1, "%s", err);
    smfctl_acting = true;
    return 0;
}

int smfctl_root_again(void)
{
    char err[2048];
    if (!smfctl_acting)
        return 0;
    smfctl_acting = false;
    if (privdrop_restore(&smfctl_saved, err, sizeof(err)) != 0)
        return smfctl_fail(1, "%s", err);
    return 0;
}
