/*
 * privdrop.c - resolving `user`, handing directories and sockets to it,
 * and switching to it (see privdrop.h for the order smfd and smfctl do
 * this in).
 */
#include "privdrop.h"
#include "errbuf.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The stores and the modules' caches keep to a few levels under data_dir;
 * refusing much deeper trees bounds the descriptors the walk holds open. */
#define HANDOVER_MAX_DEPTH 32

int privdrop_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t size = hint > 0 ? (size_t)hint : 16384;
    struct passwd pw, *found = NULL;
    char *buf = NULL;
    int rc;
    do {
        free(buf);
        buf = malloc(size);
        if (buf == NULL) {
            rc = ENOMEM;
            break;
        }
        rc = getpwnam_r(name, &pw, buf, size, &found);
        size *= 2;
    } while (rc == ERANGE && size <= (size_t)1 << 20);
    if (found == NULL) {
        free(buf);
        /* glibc reports a missing user as no entry, some NSS modules as ENOENT. */
        if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
            return errbuf_fail(err, errlen,
                               "user = \"%s\": no such user on this system; create it "
                               "(useradd --system %s) or correct the name",
                               name, name);
        return errbuf_fail(err, errlen, "user = \"%s\": cannot look the user up: %s", name,
                           strerror(rc));
    }
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    free(buf);
    if (*uid == 0)
        return errbuf_fail(err, errlen,
                           "user = \"%s\": that user is root (uid 0), so nothing would be "
                           "dropped; name an unprivileged user, or leave user empty to run as "
                           "started",
                           name);
    return 0;
}

/* The name of the user this program runs as, for messages. */
static void current_user(char *out, size_t outlen)
{
    uid_t uid = geteuid();
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL)
        snprintf(out, outlen, "%s (uid %u)", pw.pw_name, (unsigned)uid);
    else
        snprintf(out, outlen, "uid %u", (unsigned)uid);
}

int privdrop_needed(const privdrop_user_t *u, bool *needed, char *err, size_t errlen)
{
    *needed = false;
    if (u->name == NULL || u->name[0] == '\0' || geteuid() == u->uid)
        return 0;
    if (geteuid() == 0) {
        *needed = true;
        return 0;
    }
    char who[320];
    current_user(who, sizeof(who));
    return errbuf_fail(err, errlen,
                       "user = \"%s\" needs %s to start as root; it runs as %s: start it as "
                       "root or as %s",
                       u->name, log_program_name(), who, u->name);
}

/* ---- walking paths while root ------------------------------------------ */

/* A directory only root can change: a link in it was put there by root. */
static bool root_only(const struct stat *st)
{
    return st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* Gives the file open as fd (O_PATH) to u, when root owns it. */
static int give(int fd, const struct stat *st, const char *path, const privdrop_user_t *u,
                size_t *handed, char *err, size_t errlen)
{
    if (st->st_uid != 0)
        return 0;
    if (fchownat(fd, "", u->uid, u->gid, AT_EMPTY_PATH) != 0)
        return errbuf_fail(err, errlen, "cannot give %s to user %s: %s", path, u->name,
                           strerror(errno));
    if (handed != NULL)
        (*handed)++;
    return 0;
}

/*
 * Opens the directory `path` (absolute) with O_PATH, one component at a
 * time from "/". With `create`, a missing component is made with `mode`
 * and given to u. A symbolic link is followed only in a directory that
 * root alone can change: elsewhere the user could have made it, to point
 * smfd at a file of its choosing. Returns the descriptor, or -1 with err.
 */
static int open_dir(const char *path, bool create, mode_t mode, const privdrop_user_t *u, char *err,
                    size_t errlen)
{
    char buf[PATH_MAX], at[PATH_MAX] = "";
    if (path[0] != '/')
        return errbuf_fail(err, errlen, "%s: expected an absolute path", path);
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return errbuf_fail(err, errlen, "%s: path too long", path);
    int dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat dst;
    if (dfd < 0 || fstat(dfd, &dst) != 0) {
        errbuf_fail(err, errlen, "cannot open /: %s", strerror(errno));
        goto fail;
    }
    char *save = NULL;
    for (char *comp = strtok_r(buf, "/", &save); comp != NULL; comp = strtok_r(NULL, "/", &save)) {
        size_t n = strlen(at);
        snprintf(at + n, sizeof(at) - n, "/%s", comp);
        bool made = false;
        if (create) {
            if (mkdirat(dfd, comp, mode) == 0)
                made = true;
            else if (errno != EEXIST) {
                errbuf_fail(err, errlen, "cannot create %s: %s", at, strerror(errno));
                goto fail;
            }
        }
        int fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            errbuf_fail(err, errlen, "cannot open %s: %s", at, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto fail;
        }
        if (S_ISLNK(st.st_mode)) {
            close(fd);
            if (!root_only(&dst)) {
                errbuf_fail(err, errlen,
                            "%s is a symbolic link in a directory that users other than root "
                            "can change; %s does not follow it while it is root: name the "
                            "directory it points to instead",
                            at, log_program_name());
                goto fail;
            }
            fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0 || fstat(fd, &st) != 0) {
                errbuf_fail(err, errlen, "cannot open %s: %s", at, strerror(errno));
                if (fd >= 0)
                    close(fd);
                goto fail;
            }
        }
        if (!S_ISDIR(st.st_mode)) {
            errbuf_fail(err, errlen, "%s is not a directory", at);
            close(fd);
            goto fail;
        }
        if (made && give(fd, &st, at, u, NULL, err, errlen) != 0) {
            close(fd);
            goto fail;
        }
        close(dfd);
        dfd = fd;
        dst = st;
    }
    return dfd;
fail:
    if (dfd >= 0)
        close(dfd);
    return -1;
}

typedef struct walk {
    const privdrop_user_t *u;
    dev_t dev; /* The file system of the top directory; others are left alone. */
    size_t handed;
    char path[PATH_MAX]; /* Of the entry at hand, for messages. */
    char *err;
    size_t errlen;
} walk_t;

/* Looks at one entry of a directory being walked; a directory is walked in turn. */
static int walk_dir(walk_t *w, int dfd, int depth);

static int walk_entry(walk_t *w, int dfd, const char *name, int depth)
{
    int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? 0
                   : errbuf_fail(w->err, w->errlen, "cannot open %s: %s", w->path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = errbuf_fail(w->err, w->errlen, "cannot look at %s: %s", w->path, strerror(errno));
    } else if (S_ISLNK(st.st_mode) || st.st_uid != 0) {
        /* A link is never followed, and what root does not own stays as it
         * is; a directory of the user's is still walked, since an `smfctl`
         * run as root may have left a file of root's in it. */
        if (S_ISDIR(st.st_mode) && st.st_uid == w->u->uid && st.st_dev == w->dev)
            rc = walk_dir(w, fd, depth + 1);
    } else if (st.st_dev != w->dev) {
        log_warn("%s is on another file system; left owned by root", w->path);
    } else if (S_ISDIR(st.st_mode)) {
        rc = give(fd, &st, w->path, w->u, &w->handed, w->err, w->errlen);
        if (rc == 0)
            rc = walk_dir(w, fd, depth + 1);
    } else if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
        rc = give(fd, &st, w->path, w->u, &w->handed, w->err, w->errlen);
    } else if (S_ISREG(st.st_mode)) {
        /* Another name of the file may be anywhere on the file system. */
        log_warn("%s has %lu hard links; left owned by root (chown it by hand if user %s needs "
                 "it)",
                 w->path, (unsigned long)st.st_nlink, w->u->name);
    }
    close(fd);
    return rc;
}

static int walk_dir(walk_t *w, int dfd, int depth)
{
    if (depth > HANDOVER_MAX_DEPTH)
        return errbuf_fail(w->err, w->errlen,
                           "%s is more than %d directories deep; give it to user %s by hand "
                           "(chown -R) or move it out",
                           w->path, HANDOVER_MAX_DEPTH, w->u->name);
    int rfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
    if (d == NULL) {
        int e = errno;
        if (rfd >= 0)
            close(rfd);
        return errbuf_fail(w->err, w->errlen, "cannot read %s: %s", w->path, strerror(e));
    }
    size_t len = strlen(w->path);
    int rc = 0;
    struct dirent *de = NULL;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(w->path + len, sizeof(w->path) - len, "/%s", de->d_name) >=
            (int)(sizeof(w->path) - len)) {
            w->path[len] = '\0';
            rc = errbuf_fail(w->err, w->errlen, "%s: a name in it is too long", w->path);
            break;
        }
        rc = walk_entry(w, dirfd(d), de->d_name, depth);
        w->path[len] = '\0';
    }
    if (rc == 0 && de == NULL && errno != 0)
        rc = errbuf_fail(w->err, w->errlen, "cannot read %s: %s", w->path, strerror(errno));
    closedir(d);
    return rc;
}

int privdrop_prepare_dir(const char *dir, const privdrop_user_t *u, size_t *handed, char *err,
                         size_t errlen)
{
    *handed = 0;
    int fd = open_dir(dir, true, 0700, u, err, errlen);
    if (fd < 0)
        return -1;
    struct stat st, root;
    int rc = 0;
    if (fstat(fd, &st) != 0 || stat("/", &root) != 0)
        rc = errbuf_fail(err, errlen, "cannot look at %s: %s", dir, strerror(errno));
    else if (st.st_dev == root.st_dev && st.st_ino == root.st_ino)
        rc = errbuf_fail(err, errlen,
                         "%s is the root directory; data_dir and quarantine_dir each need a "
                         "directory of their own",
                         dir);
    else if (st.st_mode & S_IWOTH)
        rc = errbuf_fail(err, errlen,
                         "%s may be written by every user; data_dir and quarantine_dir each "
                         "need a directory of their own (such as %s/smf)",
                         dir, dir);
    else if (st.st_uid == 0 || st.st_uid == u->uid) {
        walk_t w = {.u = u, .dev = st.st_dev, .err = err, .errlen = errlen};
        snprintf(w.path, sizeof(w.path), "%s", dir);
        rc = give(fd, &st, dir, u, &w.handed, err, errlen);
        if (rc == 0)
            rc = walk_dir(&w, fd, 0);
        *handed = w.handed;
    }
    /* A directory another user owns is left as it is: if the user cannot write
     * it, opening the store there says so. */
    close(fd);
    return rc;
}

/* The absolute path of an ipc:// endpoint's socket file, or NULL for
 * other endpoints and abstract sockets (ipc://@name), which have none. */
static const char *socket_path(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] != '/')
        return NULL;
    return endpoint + 6;
}

/* Splits a socket path into its directory (in dir) and its name. */
static const char *split(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1; /* A socket in "/" itself. */
    if (n >= dirlen)
        n = dirlen - 1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return slash + 1;
}

int privdrop_prepare_endpoint(const char *endpoint, const privdrop_user_t *u, char *err,
                              size_t errlen)
{
    const char *path = socket_path(endpoint);
    if (path == NULL)
        return 0;
    char dir[PATH_MAX];
    split(path, dir, sizeof(dir));
    int fd = open_dir(dir, true, 0755, u, err, errlen);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int privdrop_give_socket(const char *endpoint, const privdrop_user_t *u, char *err, size_t errlen)
{
    const char *path = socket_path(endpoint);
    if (path == NULL)
        return 0;
    char dir[PATH_MAX];
    const char *name = split(path, dir, sizeof(dir));
    int dfd = open_dir(dir, false, 0, u, err, errlen);
    if (dfd < 0)
        return -1;
    int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return errbuf_fail(err, errlen, "cannot open the socket %s: %s", path, strerror(e));
    }
    int rc = 0;
    if (!S_ISSOCK(st.st_mode)) {
        rc = errbuf_fail(err, errlen, "%s is not the socket smfd bound there", path);
    } else if ((rc = give(fd, &st, path, u, NULL, err, errlen)) == 0) {
        /* A descriptor opened with O_PATH cannot be chmod'ed directly; its
         * /proc name reaches the same file, and never another one. */
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (chmod(proc, (st.st_mode & 07777) | S_IRGRP | S_IWGRP) != 0)
            rc = errbuf_fail(err, errlen, "cannot let group %u connect to %s: %s", (unsigned)u->gid,
                             path, strerror(errno));
    }
    close(fd);
    return rc;
}

int privdrop_switch(const privdrop_user_t *u, char *err, size_t errlen)
{
    /* Groups first: once the uid changes, the right to change them is gone. */
    if (initgroups(u->name, u->gid) != 0)
        return errbuf_fail(err, errlen, "cannot set the supplementary groups of user %s: %s",
                           u->name, strerror(errno));
    if (setgid(u->gid) != 0)
        return errbuf_fail(err, errlen, "cannot switch to group %u of user %s: %s",
                           (unsigned)u->gid, u->name, strerror(errno));
    if (setuid(u->uid) != 0)
        return errbuf_fail(err, errlen, "cannot switch to user %s (uid %u): %s", u->name,
                           (unsigned)u->uid, strerror(errno));
    if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid || getegid() != u->gid)
        return errbuf_fail(err, errlen,
                           "switched to user %s, yet runs as uid %u/%u gid %u/%u (real/effective)",
                           u->name, (unsigned)getuid(), (unsigned)geteuid(), (unsigned)getgid(),
                           (unsigned)getegid());
    if (setuid(0) == 0)
        return errbuf_fail(err, errlen, "switched to user %s, yet could become root again",
                           u->name);
    return 0;
}
