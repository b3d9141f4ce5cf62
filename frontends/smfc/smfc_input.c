/*
 * smfc_input.c - turns command-line paths into messages: plain files,
 * folders walked recursively in sorted order, and mbox files cut into
 * their messages. Files are read lazily, one at a time, as the scan needs them;
 * an mbox a piece at a time, so that one of many gigabytes takes the memory
 * of its longest message, not its size.
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
/* An input is read this much at a time at first: all of a message file, or
 * the first messages of an mbox (more when one message is longer). */
#ifndef SMFC_CHUNK
#define SMFC_CHUNK ((size_t)16 << 20)
#endif

typedef struct smfc_entry {
    char *path;
    char *error; /* Set when the path could not be listed. */
} smfc_entry_t;

struct smfc_input {
    smfc_entry_t *entries;
    size_t n, cap, next;
    size_t emitted;
    size_t label_width;
    /* The mbox being cut, if any: the piece of it in memory, the reader over
     * that piece, and the file, open until its end is read. */
    char *mbox;
    size_t mbox_cap, mbox_len;
    int mbox_fd;
    bool mbox_eof;
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
    in->mbox_fd = -1;
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

/* Reads fd into buf[*len..cap) until it is full or the input ends (*eof);
 * false with errno when reading fails. */
static bool smfc_fill(int fd, char *buf, size_t cap, size_t *len, bool *eof)
{
    while (*len < cap) {
        ssize_t r = read(fd, buf + *len, cap - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return false;
        if (r == 0) {
            *eof = true; /* The end, or a file that shrank: what is there is all. */
            break;
        }
        *len += (size_t)r;
    }
    return true;
}

/* Doubles the buffer of cap bytes (and one for a NUL); NULL, buf kept,
 * past limit. */
static char *smfc_grow(char *buf, size_t *cap, size_t limit)
{
    if (*cap >= limit)
        return NULL;
    *cap *= 2;
    return smfc_xalloc(buf, *cap + 1);
}

static void smfc_close(int fd)
{
    if (fd != STDIN_FILENO)
        close(fd);
}

/* The rest of a message file whose first cap bytes are in buf, to its end.
 * NULL with *error when it is too large or reading fails. */
static char *smfc_read_rest(int fd, char *buf, size_t cap, size_t *len, bool eof, char **error)
{
    while (!eof) {
        char *grown = *len == cap ? smfc_grow(buf, &cap, SMFC_MAX_FILE) : buf;
        if (grown == NULL) {
            *error = smfc_xstrdup("file too large");
            free(buf);
            return NULL;
        }
        buf = grown;
        if (!smfc_fill(fd, buf, cap, len, &eof)) {
            *error = smfc_errorf("cannot read", errno);
            free(buf);
            return NULL;
        }
    }
    buf[*len] = '\0';
    return buf;
}

/* Opens a path ("-" being standard input) that is a file or a pipe;
 * folders and devices are refused. -1 with *error when it cannot be read.
 * *size is a file's size, 0 for a pipe. */
static int smfc_open(const char *path, size_t *size, char **error)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    const char *why = NULL;
    if (fd < 0) {
        *error = smfc_errorf("cannot open", errno);
        return -1;
    }
    if (fstat(fd, &st) < 0)
        why = "cannot stat";
    else if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        why = "not a regular file";
    if (why != NULL) {
        *error = smfc_xstrdup(why);
        smfc_close(fd);
        return -1;
    }
    *size = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
    return fd;
}

/*
 * Reads the entry at path: its first piece, and then either the rest of a
 * message file, returned, or nothing more of an mbox, which becomes the
 * input's mbox (NULL, *error unset). NULL with *error when reading fails.
 */
static char *smfc_read_entry(smfc_input_t *in, const char *path, size_t *len, char **error)
{
    size_t size, cap = SMFC_CHUNK;
    int fd = smfc_open(path, &size, error);
    if (fd < 0)
        return NULL;
    char *buf = smfc_xalloc(NULL, cap + 1);
    bool eof = false;
    *len = 0;
    if (!smfc_fill(fd, buf, cap, len, &eof)) {
        *error = smfc_errorf("cannot read", errno);
        free(buf);
        smfc_close(fd);
        return NULL;
    }
    if (mbox_is(buf, *len)) {
        in->mbox = buf;
        in->mbox_cap = cap;
        in->mbox_len = *len;
        in->mbox_fd = fd;
        in->mbox_eof = eof;
        in->reader = (mbox_t){buf, *len, 0};
        in->mbox_count = 0;
        in->mbox_path = path;
        return NULL;
    }
    /* A message file: a regular one has its size, the whole buffer at once. */
    if (size > SMFC_MAX_FILE) {
        *error = smfc_xstrdup("file too large");
        free(buf);
        buf = NULL;
    } else if (!eof && size >= cap) {
        /* One byte more than its size: the read that finds the end fits. */
        cap = size + 1;
        buf = smfc_xalloc(buf, cap + 1);
    }
    if (buf != NULL)
        buf = smfc_read_rest(fd, buf, cap, len, eof, error);
    smfc_close(fd);
    return buf;
}

static void smfc_mbox_end(smfc_input_t *in)
{
    free(in->mbox);
    in->mbox = NULL;
    if (in->mbox_fd >= 0)
        smfc_close(in->mbox_fd);
    in->mbox_fd = -1;
}

/*
 * Keeps the messages of the mbox from the one that starts at `start` and
 * reads more after them, with room for a message longer than the piece.
 * False when that fails: the rest of the mbox is then not read, and *error
 * says why.
 */
static bool smfc_mbox_more(smfc_input_t *in, size_t start, char **error)
{
    memmove(in->mbox, in->mbox + start, in->mbox_len - start);
    in->mbox_len -= start;
    if (in->mbox_len == in->mbox_cap) {
        char *grown = smfc_grow(in->mbox, &in->mbox_cap, SMFC_MAX_FILE);
        if (grown == NULL) {
            *error = smfc_xstrdup("message too large; the rest of the mbox is not read");
            return false;
        }
        in->mbox = grown;
    }
    if (!smfc_fill(in->mbox_fd, in->mbox, in->mbox_cap, &in->mbox_len, &in->mbox_eof)) {
        char what[64];
        snprintf(what, sizeof what, "cannot read after message %zu", in->mbox_count);
        *error = smfc_errorf(what, errno);
        return false;
    }
    in->reader = (mbox_t){in->mbox, in->mbox_len, 0};
    return true;
}

static char *smfc_mbox_label(const smfc_input_t *in, size_t n)
{
    size_t llen = strlen(in->mbox_path) + 24;
    char *label = smfc_xalloc(NULL, llen);
    snprintf(label, llen, "%s:%zu", in->mbox_path, n);
    return label;
}

/*
 * Cuts the next message out of the current mbox; false when it is used up.
 * A message ends at a separator (mbox.h), which needs the line after a
 * "From " line: one that reaches the end of the piece in memory is cut
 * again once more is read. A read that fails gives a message with an error,
 * and ends the mbox.
 */
static bool smfc_mbox_next(smfc_input_t *in, smfc_msg_t *msg)
{
    const char *raw;
    size_t rlen;
    char *error = NULL;
    while (in->mbox != NULL) {
        size_t start = in->reader.off;
        bool got = mbox_next(&in->reader, &raw, &rlen);
        if (got && (in->reader.off < in->mbox_len || in->mbox_eof)) {
            msg->data = smfc_xalloc(NULL, rlen + 1);
            msg->len = mbox_unescape(raw, rlen, msg->data);
            msg->label = smfc_mbox_label(in, ++in->mbox_count);
            return true;
        }
        if (!got && in->mbox_eof)
            break;
        if (!smfc_mbox_more(in, got ? start : in->mbox_len, &error)) {
            msg->label = smfc_mbox_label(in, in->mbox_count + 1);
            msg->error = error;
            smfc_mbox_end(in);
            return true;
        }
    }
    smfc_mbox_end(in);
    return false;
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
        char *data = smfc_read_entry(in, e->path, &len, &error);
        if (data == NULL && error == NULL)
            continue; /* An mbox: its messages come next. */
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
    bool more_mbox = in->mbox && (!in->mbox_eof || in->reader.off < in->reader.len);
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
    smfc_mbox_end(in);
    free(in);
    *inp = NULL;
}
