/*
 * av_scratch.c - the folder of this process's libclamav scratch files.
 *
 * libclamav makes a scratch directory for every scan call in the engine's
 * tmp dir and removes it after the scan. A process that dies in the middle
 * of one (kill -9, a crash) leaves it behind, and in /dev/shm that is
 * memory nobody frees. The scans of one process therefore go in a folder
 * of its own, tmp_dir/smf-av.PID: when the module next starts, a folder
 * whose process is gone is removed, which names shared with clamd and
 * other scanners (their directories are named as ours are) could not tell.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "av.h"

#define AV_SCRATCH_PREFIX "smf-av."

/* The folders in use, with how many engines use each: a reload opens the
 * new engine before the old one closes, often on the same folder. */
#define AV_SCRATCH_MAX 16
static struct {
    char path[AV_SCRATCH_PATH_MAX];
    unsigned users;
} av_folders[AV_SCRATCH_MAX];
static pthread_mutex_t av_folders_lock = PTHREAD_MUTEX_INITIALIZER;

static int av_remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* The pid a folder name gives, or 0 when the name is not one of ours. */
static pid_t av_folder_pid(const char *name)
{
    if (strncmp(name, AV_SCRATCH_PREFIX, strlen(AV_SCRATCH_PREFIX)) != 0)
        return 0;
    const char *digits = name + strlen(AV_SCRATCH_PREFIX);
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (errno != 0 || end == digits || *end != '\0' || pid <= 0 || pid > 0x7fffffffL)
        return 0;
    return (pid_t)pid;
}

/* Removes the folders in base of processes that are gone, and only those
 * of this user: another user's are not ours to judge. */
static void av_sweep(const char *base)
{
    DIR *d = opendir(base);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = av_folder_pid(e->d_name);
        if (pid == 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[AV_SCRATCH_PATH_MAX];
        struct stat sb;
        if (snprintf(path, sizeof(path), "%s/%s", base, e->d_name) >= (int)sizeof(path) ||
            lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
            continue;
        /* Physical walk: a link inside is removed, never followed. */
        nftw(path, av_remove_one, 16, FTW_DEPTH | FTW_PHYS);
        smf_log(NULL, SMF_LOG_INFO, "removed %s, left by process %ld that is gone", path,
                (long)pid);
    }
    closedir(d);
}

int av_scratch_open(smf_init_t *init, const char *base, char *out)
{
    if (snprintf(out, AV_SCRATCH_PATH_MAX, "%s/" AV_SCRATCH_PREFIX "%ld", base, (long)getpid()) >=
        AV_SCRATCH_PATH_MAX) {
        smf_init_fail(init, "tmp_dir path too long: %s", base);
        return SMF_EINVAL;
    }
    pthread_mutex_lock(&av_folders_lock);
    int rc = SMF_ENOMEM, free_slot = -1;
    for (int i = 0; i < AV_SCRATCH_MAX; i++) {
        if (av_folders[i].users > 0 && strcmp(av_folders[i].path, out) == 0) {
            av_folders[i].users++;
            pthread_mutex_unlock(&av_folders_lock);
            return 0;
        }
        if (av_folders[i].users == 0 && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0) {
        smf_init_fail(init, "more than %d tmp_dir folders in use at once", AV_SCRATCH_MAX);
    } else {
        av_sweep(base);
        struct stat sb;
        int made = mkdir(out, 0700), err = errno;
        /* One of this pid's, left by an earlier process that had it, is
         * taken as it is: only this user can have made it. */
        if (made != 0 && !(err == EEXIST && lstat(out, &sb) == 0 && S_ISDIR(sb.st_mode) &&
                           sb.st_uid == geteuid())) {
            /* libclamav would fail every scan there: init says so instead. */
            smf_init_fail(init,
                          "tmp_dir %s: cannot make a directory in it (%s); libclamav makes one "
                          "there for every scan: let the user smfd runs as write it, or choose "
                          "another",
                          base, strerror(err));
            rc = SMF_EINVAL;
        } else {
            snprintf(av_folders[free_slot].path, AV_SCRATCH_PATH_MAX, "%s", out);
            av_folders[free_slot].users = 1;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&av_folders_lock);
    return rc;
}

void av_scratch_close(const char *dir)
{
    pthread_mutex_lock(&av_folders_lock);
    for (int i = 0; i < AV_SCRATCH_MAX; i++) {
        if (av_folders[i].users > 0 && strcmp(av_folders[i].path, dir) == 0) {
            /* The last engine on it is closed: no scan runs there any more. */
            if (--av_folders[i].users == 0)
                nftw(dir, av_remove_one, 16, FTW_DEPTH | FTW_PHYS);
            break;
        }
    }
    pthread_mutex_unlock(&av_folders_lock);
}
