/*
 * fsutil.c - mkdir -p, endpoint directories, and whether an ipc:// socket
 * file is still served.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int fs_mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int fs_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

int fs_refuse_links(const char *dir, const char *const *names, size_t nnames)
{
    int fd = open(dir, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    int rc = -1, e = 0;
    if (fd < 0 || fstat(fd, &st) != 0)
        e = errno;
    else if (S_ISLNK(st.st_mode))
        e = ELOOP;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else
        rc = 0;
    for (size_t i = 0; rc == 0 && i < nnames; i++) {
        if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            e = ELOOP;
            rc = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    errno = e;
    return rc;
}

int fs_prepare_endpoint(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) != 0)
        return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", endpoint + 6);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return fs_mkdirs(dir, 0755);
}

int fs_endpoint_in_use(const char *endpoint)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    if (strncmp(endpoint, "ipc://", 6) != 0 || strlen(endpoint + 6) >= sizeof(sa.sun_path) ||
        stat(endpoint + 6, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    memcpy(sa.sun_path, endpoint + 6, strlen(endpoint + 6) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    /* A listener accepts; a file left by a process that died refuses. */
    int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return live;
}
