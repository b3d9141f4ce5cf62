/*
 * fsutil.h - small file-system helpers the engine needs in several places.
 */
#ifndef SMF_FSUTIL_H
#define SMF_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: 0 or -1 with errno set. */
int fs_mkdirs(const char *path, mode_t mode);
/* Creates the directory of an ipc:// endpoint's socket file; other
 * endpoints are left alone. 0 or -1 with errno set. */
int fs_prepare_endpoint(const char *endpoint);
/* Whether an ipc:// endpoint's socket file has a process listening on it:
 * binding there would take it away from that process. A stale file, or any
 * other kind of endpoint, is not in use. */
int fs_endpoint_in_use(const char *endpoint);

#endif
