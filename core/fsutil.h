/*
 * fsutil.h - small file-system helpers the engine needs in several places.
 */
#ifndef SMF_FSUTIL_H
#define SMF_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: 0 or -1 with errno set. */
int fs_mkdirs(const char *path, mode_t mode);
/* Makes the entries of directory dir (files created or renamed in it)
 * durable, as fsync() does a file's data: 0 or -1 with errno set. */
int fs_sync_dir(const char *dir);
/*
 * For an LMDB environment about to be opened, whose files LMDB opens by
 * name and would follow a link to: 0 when dir is a directory and not a
 * symbolic link, and none of the names in it (that exist) is a link; -1
 * with errno ELOOP when one is, or ENOTDIR, or the error that kept dir
 * from being looked at.
 */
int fs_refuse_links(const char *dir, const char *const *names, size_t nnames);
/* Creates the directory of an ipc:// endpoint's socket file; other
 * endpoints are left alone. 0 or -1 with errno set. */
int fs_prepare_endpoint(const char *endpoint);
/* Whether an ipc:// endpoint's socket file has a process listening on it:
 * binding there would take it away from that process. A stale file, or any
 * other kind of endpoint, is not in use. */
int fs_endpoint_in_use(const char *endpoint);

#endif
