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

#endif
