/*
 * privdrop.h - running as an unprivileged user (the `user` setting), for
 * smfd and for smfctl run as root.
 *
 * smfd, started as root with `user` set, makes the directories it writes
 * and gives them, with whatever root left in them, to that user and its
 * primary group; binds its endpoints (a privileged TCP port needs root) and
 * gives the ipc:// socket files to the user too; then switches to the user
 * for good, before any module is loaded or store opened, so that everything
 * those create belongs to the user and no module code runs as root.
 *
 * smfctl, run as root with `user` set, does the same for the commands that
 * open a store, without the endpoints: it first reads, as root, what only
 * root may read (the configuration, the files the operator names; `learn`
 * reads its files through a forked process that stays root), then makes
 * quarantine_dir and data_dir ready and switches for good before it opens
 * anything in them; `list export` first has a child process switch and
 * check that the store opens, then makes the operator's file as root. A
 * process that could become root again never opens a store: its files are
 * the user's, and LMDB trusts what it reads from them. Run by anyone but
 * root, smfctl does not switch.
 *
 * While still root, the directories given away may already belong to the
 * user, who could have planted links there. So every walk here goes one
 * path component at a time from open directories, follows a symbolic link
 * only where root alone could have made it, and changes the owner through
 * a descriptor of the very file it checked.
 */
#ifndef SMF_PRIVDROP_H
#define SMF_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The account smfd runs as (and smfctl run as root works as), resolved
 * when the configuration is loaded. */
typedef struct privdrop_user {
    const char *name; /* "" (or NULL): smfd stays the user that started it. */
    uid_t uid;
    gid_t gid; /* The user's primary group. */
} privdrop_user_t;

/*
 * Looks `name` up in the user database. Returns 0 with its uid and primary
 * gid, or -1 with err saying that no such user exists (or why the lookup
 * failed). A user with uid 0 is refused: switching to it would keep root.
 */
int privdrop_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/*
 * Whether the process must switch to u: true when a user is set and it runs
 * as root, false when none is set or it already runs as that user. Returns
 * -1 with err set when it runs as someone else, who cannot switch: smfd
 * refuses to start then; smfctl goes on as whoever runs it.
 */
int privdrop_needed(const privdrop_user_t *u, bool *needed, char *err, size_t errlen);

/*
 * For data_dir and quarantine_dir, while root (smfd at start, smfctl before
 * it opens a store): creates the directory with its missing parents (mode
 * 0700) and gives every directory it creates to u. The directory itself,
 * if root owns it, and every file and directory below it that root owns
 * (from a run as root, or an `smfctl` or `smfd -t` run by root) are given
 * to u; symbolic links, files with several hard links and other file
 * systems are left alone. *handed counts what changed owner. The root
 * directory and directories every user may write (/tmp) are refused. 0 or
 * -1 with err set.
 */
int privdrop_prepare_dir(const char *dir, const privdrop_user_t *u, size_t *handed, char *err,
                         size_t errlen);

/*
 * smfd only. For an ipc:// endpoint, while root: creates the socket file's
 * directory with its missing parents (mode 0755) and gives the directories
 * it creates to u. A directory that already exists keeps its owner (it may
 * be /run or /tmp). Other endpoints need nothing. 0 or -1 with err set.
 */
int privdrop_prepare_endpoint(const char *endpoint, const privdrop_user_t *u, char *err,
                              size_t errlen);

/*
 * smfd only. For an ipc:// endpoint just bound as root: gives the socket
 * file to u and its group, and lets the group read and write it, so that
 * front ends running as the user or in its group can connect. 0 or -1 with err set.
 */
int privdrop_give_socket(const char *endpoint, const privdrop_user_t *u, char *err, size_t errlen);

/*
 * Switches the whole process (every thread) to u for good: the user's
 * supplementary groups, its primary group, then its uid; then checks that
 * root cannot be regained. smfd calls it once its endpoints are bound;
 * smfctl before it opens a store. 0, or -1 with err set; neither goes on
 * after a failure.
 */
int privdrop_switch(const privdrop_user_t *u, char *err, size_t errlen);

#endif
