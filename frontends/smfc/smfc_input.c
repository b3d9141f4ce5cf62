/*
 * smfc_input.c - turns command-line paths into messages: plain files,
 * folders walked recursively in sorted order, and mbox files cut into
 * their messages. Files are read lazily, one at a time, as the scan needs them.
 */
#include "smfc.h"

#include "mbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Folders nested deeper than this are not entered: it stops symlink loops. */
#define SMFC_MAX_DEPTH 64
/* A message larger than this cannot be scanned anyway. */
#define SMFC_MAX_FILE ((size_t)1 << 31)

typedef struct smfc_entry {
    char *path;
    char *error; /* Set when the path could not be listed. */
} smfc_entry_t;

struct smfc_input {
    smfc_entry_t *entries;
    size_t n, cap, next;
    size_t emitted;
    size_t label_width;
    /* The mbox being cut, if any, and the reader over it. */
    char *mbox;
    mbox_t reader;
    size_t mbox_count;
    const char *mbox_path;
};

static void *smfc_xalloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fputs("smfc: out of memory\n", stderr);
        exit(75);
    }
    return q;
}

static char *smfc_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(smfc_xalloc(NULL, n), s, n);
}

static char *smfc_errorf(const char *what, int err)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s: %s", what, strerror(err));
    return smfc_xstrdup(buf);
}

static void smfc_input_add(smfc_input_t *in, const char *path, char *error)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->entries = smfc_xalloc(in->entries, in->cap * sizeof *in->entries);
    }
    in->entries[in->n].path = smfc_xstrdup(path);
    in->entries[in->n].error = error;
    in->n++;
    /* Room for an mbox suffix (":123"), since files are only read later. */
    size_t w = strlen(path) + 4;
    if (w > in->label_width)
        in->label_width = w;
}

/* Byte order, not the locale's, so that runs are reproducible everywhere. */
static int smfc_name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int smfc_not_dotfile(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void smfc_input_walk(smfc_input_t *in, const char *dir, int depth)
{
    struct dirent **names;
    int n = scandir(dir, &names, smfc_not_dotfile, smfc_name_cmp);
    if (n < 0) {
        smfc_input_add(in, dir, smfc_errorf("cannot list folder", errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
        char *path = smfc_xalloc(NULL, len);
        bool slash = dir[0] && dir[strlen(dir) - 1] == '/';
        snprintf(path, len, "%s%s%s", dir, slash ? "" : "/", names[i]->d_name);
        struct stat st, lst;
        if (stat(path, &st) < 0) {
            smfc_input_add(in, path, smfc_errorf("cannot stat", errno));
        } else if (S_ISREG(st.st_mode)) {
            smfc_input_add(in, path, NULL);
        } else if (S_ISDIR(st.st_mode) && lstat(path, &lst) == 0 && !S_ISLNK(lst.st_mode) &&
                   depth < SMFC_MAX_DEPTH) {
            /* Symlinked folders are not followed: they may loop or leave the tree. */
            smfc_input_walk(in, path, depth + 1);
        }
        free(path);
        free(names[i]);
    }
    free(names);
}

smfc_input_t *smfc_input_new(char **paths, size_t npaths)
{
    smfc_input_t *in = smfc_xalloc(NULL, sizeof *in);
    memset(in, 0, sizeof *in);
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (strcmp(paths[i], "-") == 0)
            smfc_input_add(in, paths[i], NULL); /* Standard input, read in turn. */
        else if (stat(paths[i], &st) < 0)
            smfc_input_add(in, paths[i], smfc_errorf("cannot open", errno));
        else if (S_ISDIR(st.st_mode))
            smfc_input_walk(in, paths[i], 0);
        else
            smfc_input_add(in, paths[i], NULL);
    }
    return in;
}

/*
 * Reads fd to its end, or to `size` bytes when it is a regular file of that
 * size; a pipe (standard input, "<(...)") has no size known beforehand and
 * grows the buffer as it comes. NULL with *error when reading fails.
 */
static char *smfc_read_fd(int fd, bool regular, size_t size, size_t *len, char **error)
{
    size_t cap = regular ? size : 65536, got = 0;
    char *buf = smfc_xalloc(NULL, cap + 1);
    while (!regular || got < size) {
        if (got == cap) {
            if (cap >= SMFC_MAX_FILE) {
                *error = smfc_xstrdup("file too large");
                free(buf);
                return NULL;
            }
            cap *= 2;
            buf = smfc_xalloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *error = smfc_errorf("cannot read", errno);
            free(buf);
            return NULL;
        }
        if (r == 0)
            break; /* The end, or a file that shrank: send what is there. */
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Reads a whole file, "-" being standard input. Folders and devices are
 * refused; pipes are read to their end. */
static char *smfc_read_file(const char *path, size_t *len, char **error)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error = smfc_errorf("cannot open", errno);
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) < 0)
        why = "cannot stat";
    else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        why = "not a regular file";
    else if (S_ISREG(st.st_mode) && (size_t)st.st_size > SMFC_MAX_FILE)
        why = "file too large";
    char *buf = why ? NULL : smfc_read_fd(fd, S_ISREG(st.st_mode), (size_t)st.st_size, len, error);
    if (why)
        *error = smfc_xstrdup(why);
    if (!is_stdin)
        close(fd);
    return buf;
}

/* Cuts the next message out of the current mbox; false when it is used up. */
static bool smfc_mbox_next(smfc_input_t *in, smfc_msg_t *msg)
{
    const char *raw;
    size_t rlen;
    if (!in->mbox || !mbox_next(&in->reader, &raw, &rlen)) {
        free(in->mbox);
        in->mbox = NULL;
        return false;
    }
    msg->data = smfc_xalloc(NULL, rlen + 1);
    msg->len = mbox_unescape(raw, rlen, msg->data);
    in->mbox_count++;
    size_t llen = strlen(in->mbox_path) + 24;
    msg->label = smfc_xalloc(NULL, llen);
    snprintf(msg->label, llen, "%s:%zu", in->mbox_path, in->mbox_count);
    return true;
}

bool smfc_input_next(smfc_input_t *in, smfc_msg_t *msg)
{
    memset(msg, 0, sizeof *msg);
    for (;;) {
        if (smfc_mbox_next(in, msg)) {
            in->emitted++;
            return true;
        }
        if (in->next >= in->n)
            return false;
        smfc_entry_t *e = &in->entries[in->next++];
        if (e->error) {
            msg->label = smfc_xstrdup(e->path);
            msg->error = smfc_xstrdup(e->error);
            in->emitted++;
            return true;
        }
        size_t len = 0;
        char *error = NULL;
        char *data = smfc_read_file(e->path, &len, &error);
        if (data && mbox_is(data, len)) {
            in->mbox = data;
            in->reader = (mbox_t){data, len, 0};
            in->mbox_count = 0;
            in->mbox_path = e->path;
            continue;
        }
        msg->label = smfc_xstrdup(e->path);
        msg->data = data;
        msg->len = len;
        msg->error = error;
        in->emitted++;
        return true;
    }
}

size_t smfc_input_total(const smfc_input_t *in)
{
    bool more_mbox = in->mbox && in->reader.off < in->reader.len;
    return in->emitted + (in->n - in->next) + (more_mbox ? 1 : 0);
}

size_t smfc_input_label_width(const smfc_input_t *in)
{
    return in->label_width;
}

void smfc_msg_clear(smfc_msg_t *msg)
{
    free(msg->label);
    free(msg->data);
    free(msg->error);
    memset(msg, 0, sizeof *msg);
}

void smfc_input_destroy(smfc_input_t **inp)
{
    smfc_input_t *in = *inp;
    if (!in)
        return;
    for (size_t i = 0; i < in->n; i++) {
        free(in->entries[i].path);
        free(in->entries[i].error);
    }
    free(in->entries);
    free(in->mbox);
    free(in);
    *inp = NULL;
}
