/*
 * learn.c - `smfctl learn` and `smfctl unlearn`: feed mail an operator
 * classified to every module that learns (a classifier), once per message,
 * with a registry of what was learned, by whom and when.
 */
#include "clock.h"
#include "config.h"
#include "generation.h"
#include "idna.h"
#include "learnreg.h"
#include "refit.h"
#include "log.h"
#include "mbox.h"
#include "message.h"
#include "privdrop.h"
#include "scanctx.h"
#include "smfctl.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REGISTRY LEARNREG_NAMESPACE
#define HASH_LEN LEARNREG_KEY_LEN

typedef struct learn_opts {
    bool unlearn;
    bool all;        /* unlearn --all: forget everything the classifiers learned. */
    bool refit_only; /* --refit: learn nothing, refit the modules' models. */
    int klass;       /* SMF_CLASS_SPAM or SMF_CLASS_HAM when learning. */
    const char *by;
    const char *domain;  /* --domain: the recipient domain's model; "" site-wide. */
    bool domain_implied; /* The domain came with a quarantined message, not from the operator. */
    char **paths;
    size_t npaths;
} learn_opts_t;

/* Which file a listed path was when the walk found it. */
typedef struct listed_id {
    dev_t dev;
    ino_t ino;
    bool inside; /* Found inside a folder, not named by the operator. */
} listed_id_t;

typedef struct file_list {
    char **items;
    listed_id_t *ids; /* One per item. */
    size_t n, cap;
    size_t skipped; /* Paths inside the folders that could not be read. */
} file_list_t;

/*
 * Run as root with `user` set, smfctl learns as that user (user.c), yet the
 * files the operator named may be readable by root alone: /root/spam.mbox,
 * a user's Maildir. A process forked before the switch stays root for
 * them, and does nothing else: asked for the i-th file of the list walked
 * before the switch, it opens that file and hands the descriptor over. It
 * parses nothing and opens no other path, whatever it is asked.
 */
typedef struct opener {
    pid_t pid;
    int sock; /* -1: the files are opened directly. */
} opener_t;

typedef struct learn_run {
    const learn_opts_t *o;
    opener_t *opener;
    const file_list_t *files;
    generation_t *g;
    unsigned registry;
    size_t learned, known, moved, unlearned, unknown, failed, messages;
    size_t unread; /* Files and folders not read: none of their messages is counted. */
    size_t files_done, files_total;
    GPtrArray *domains; /* Models this run changed ("" for the site-wide one), to refit. */
    double started, last_progress;
    bool progress;
    bool full; /* The store is full: the rest would fail the same way, and is not tried. */
} learn_run_t;

/* Who is learning: --by, else the user behind sudo, else the login. */
static const char *default_by(void)
{
    const char *u = getenv("SUDO_USER");
    if (u != NULL && *u != '\0')
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_name : "unknown";
}

/*
 * Whether d can name a recipient domain: letters, digits, '-', '_' (the
 * quarantine's folder for invalid domains is "_invalid_") and UTF-8 beyond
 * ASCII, in labels none of which is empty, not starting with '-'. Every
 * quarantine folder's name passes, for release --learn-ham. The registry
 * stores the domain as JSON text, which must be UTF-8: a name that is not
 * would be taught to a model that no entry remembers.
 */
static bool domain_valid(const char *d, size_t n)
{
    if (n == 0 || n > 253 || d[0] == '-' || !g_utf8_validate(d, (gssize)n, NULL))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.' && (i == 0 || d[i - 1] == '.'))
            return false;
        if (c < 0x80 && c != '.' && c != '-' && c != '_' && !g_ascii_isalnum((char)c))
            return false;
    }
    return true;
}

/* A domain name as the engine's policies know it: lower case, no dot at the
 * end, a name in another script as its A-label (the scan of mail for
 * bücher.example asks the model of xn--bcher-kva.example). */
static const char *domain_arg(const char *d)
{
    size_t n = strlen(d);
    if (!domain_valid(d, n > 1 && d[n - 1] == '.' ? n - 1 : n))
        return NULL;
    static char name[256]; /* One --domain a run. */
    long len = idna_domain(d, n, name, sizeof(name));
    return len >= 0 && len <= 253 ? name : NULL;
}

/* Says why --domain d is refused; bytes that are not UTF-8 show as U+FFFD. */
static int refuse_domain(const char *d)
{
    char *shown = g_utf8_make_valid(d, -1);
    smfctl_fail(2,
                "learn: --domain %s: expected a domain name (labels of letters, digits and "
                "hyphens, or UTF-8, separated by dots); nothing was learned",
                shown);
    g_free(shown);
    return 2;
}

const char smfctl_learn_usage[] =
    "usage: smfctl learn --spam|--ham [--by WHO] [--domain D] PATH...\n"
    "       smfctl learn --refit [--domain D]\n"
    "       smfctl unlearn [--by WHO] PATH...\n"
    "       smfctl unlearn --all\n"
    "PATH: files, folders (recursively) and mbox files. Each message is learned\n"
    "once; learning it as the other class moves it. --by names who classified\n"
    "it (default: the sudo user, else the login). After a run that changed\n"
    "anything, models fitted over all learned mail (the bayes module's logistic\n"
    "model) are refitted; --refit does only that, for mail smfd autolearned.\n"
    "--domain teaches (or refits) that recipient domain's own model, for\n"
    "classifiers with per-domain models (bayes: per_domain = true); a message\n"
    "belongs to one model at a time. unlearn notes in the registry who\n"
    "unlearned a message, so that smfd's autolearn leaves it be; learning it\n"
    "again by hand replaces the note. unlearn --all forgets everything the\n"
    "classifiers learned (all domains) and the registry of learned messages,\n"
    "to start training afresh; lists and sender reputation stay.";

static int parse_opts(int argc, char **argv, learn_opts_t *o)
{
    o->unlearn = strcmp(argv[0], "unlearn") == 0;
    o->by = NULL;
    o->domain = "";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (!o->unlearn &&
                   (strcmp(argv[i], "--spam") == 0 || strcmp(argv[i], "--ham") == 0)) {
            int k = learnreg_class_parse(argv[i] + 2);
            if (o->klass != 0 && o->klass != k)
                return smfctl_fail(2, "learn: give --spam or --ham, not both");
            o->klass = k;
        } else if (!o->unlearn && strcmp(argv[i], "--domain") == 0 && i + 1 < argc) {
            if ((o->domain = domain_arg(argv[++i])) == NULL)
                return refuse_domain(argv[i]);
        } else if (o->unlearn && strcmp(argv[i], "--all") == 0) {
            o->all = true;
        } else if (!o->unlearn && strcmp(argv[i], "--refit") == 0) {
            o->refit_only = true;
        } else if (strcmp(argv[i], "--by") == 0 && i + 1 < argc) {
            o->by = argv[++i];
        } else if (strncmp(argv[i], "--by=", 5) == 0) {
            o->by = argv[i] + 5;
        } else {
            return smfctl_fail(2, "%s: unknown option %s", argv[0], argv[i]);
        }
    }
    if (o->refit_only) {
        if (o->klass != 0 || i < argc)
            return smfctl_fail(2, "learn: --refit takes no class and no path");
        return 0;
    }
    if (o->all) {
        if (i < argc)
            return smfctl_fail(2, "unlearn: --all takes no path");
        return 0;
    }
    if (!o->unlearn && o->klass == 0)
        return smfctl_fail(2, "usage: smfctl learn --spam|--ham [--by WHO] [--domain D] PATH...");
    if (i >= argc)
        return smfctl_fail(2, "%s: no file or folder given", argv[0]);
    o->paths = argv + i;
    o->npaths = (size_t)(argc - i);
    if (o->by == NULL)
        o->by = default_by();
    return 0;
}

/* ---- finding the mail ----------------------------------------------- */

static void list_add(file_list_t *l, const char *path, const struct stat *st, bool inside)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->items = xrealloc(l->items, l->cap * sizeof(char *));
        l->ids = xrealloc(l->ids, l->cap * sizeof(listed_id_t));
    }
    l->ids[l->n] = (listed_id_t){st->st_dev, st->st_ino, inside};
    l->items[l->n++] = xstrdup(path);
}

static void list_free(file_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    free(l->ids);
}

/* The folders a walk is inside, from the one named down, so that a link
 * leading back up is seen before it is walked round and round. */
typedef struct walk_up {
    dev_t dev;
    ino_t ino;
    const struct walk_up *up;
} walk_up_t;

static bool walked_above(const walk_up_t *up, const struct stat *st)
{
    for (; up != NULL; up = up->up)
        if (up->dev == st->st_dev && up->ino == st->st_ino)
            return true;
    return false;
}

/*
 * A path that cannot be read. One the operator named is a usage error, and
 * nothing is learned; one found inside a folder (a dangling link, a folder
 * of another user) is skipped and counted as failed, and the rest of the
 * folder is still learned, as a file that cannot be read is.
 */
static int walk_failed(file_list_t *l, const char *path, const walk_up_t *up)
{
    int e = errno;
    if (up == NULL)
        return smfctl_fail(-1, "%s: %s", path, strerror(e));
    smfctl_fail(0, "%s: %s; skipped, the rest is read (fix or remove it, then run again)", path,
                strerror(e));
    l->skipped++;
    return 0;
}

static int walk_under(file_list_t *l, const char *path, const walk_up_t *here);

/*
 * A symbolic link found inside a folder is not followed. smfctl often runs
 * as root, and whoever can write in a folder the operator names (a user's
 * Maildir) could otherwise make it read any file on the system, such as
 * /etc/shadow, into the store. A path named on the command line is the
 * operator's own choice and is followed.
 */
static int walk_link(const char *path)
{
    fprintf(stderr,
            "smfctl: %s: a symbolic link inside a folder; skipped (links inside folders are not "
            "followed: name its target on the command line to learn it)\n",
            path);
    return 0;
}

static const char *special_kind(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a file";
}

/*
 * A FIFO, device or socket is never read: a FIFO or a terminal could keep
 * the run waiting, a device could be endless. One the operator named (a
 * pipe given as /dev/stdin, say) is a usage error, said as such rather than
 * learned as nothing; one found inside a folder is named and skipped.
 */
static int walk_special(const char *path, const struct stat *st, const walk_up_t *up)
{
    if (up == NULL)
        return smfctl_fail(-1,
                           "%s: %s, not a file or folder; learn reads mail from files and folders "
                           "only: save the mail to a file first",
                           path, special_kind(st->st_mode));
    fprintf(stderr, "smfctl: %s: %s inside a folder; skipped (only files are read)\n", path,
            special_kind(st->st_mode));
    return 0;
}

/* Regular files under path, whose status is st, folders walked in name
 * order so runs repeat. */
static int walk_entry(file_list_t *l, const char *path, const struct stat *st, const walk_up_t *up)
{
    if (S_ISLNK(st->st_mode))
        return walk_link(path);
    if (S_ISREG(st->st_mode)) {
        list_add(l, path, st, up != NULL);
        return 0;
    }
    if (!S_ISDIR(st->st_mode))
        return walk_special(path, st, up);
    /* Links are not followed, but a bind mount can still lead back up. */
    if (walked_above(up, st)) {
        fprintf(stderr, "smfctl: %s: a folder it is inside, reached again; not walked again\n",
                path);
        return 0;
    }
    walk_up_t here = {st->st_dev, st->st_ino, up};
    return walk_under(l, path, &here);
}

/* A path the operator named: followed if it is a link. */
static int walk(file_list_t *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return walk_failed(l, path, NULL);
    return walk_entry(l, path, &st, NULL);
}

static int by_name(const void *a, const void *b)
{
    return strcoll(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names)
{
    for (size_t i = 0; names[i] != NULL; i++)
        free(names[i]);
    free(names);
}

/*
 * The names in the open folder dir, but . and .., sorted; NULL-terminated.
 * NULL with errno set when the listing failed partway (readdir returns
 * NULL then too): a folder read in part would otherwise pass for whole.
 */
static char **folder_names(DIR *dir)
{
    size_t n = 0, cap = 16;
    char **names = xmalloc(cap * sizeof(char *));
    struct dirent *e;
    for (errno = 0; (e = readdir(dir)) != NULL; errno = 0) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n + 1 == cap)
            names = xrealloc(names, (cap *= 2) * sizeof(char *));
        names[n++] = xstrdup(e->d_name);
    }
    names[n] = NULL;
    if (errno != 0) {
        int err = errno;
        free_names(names);
        errno = err;
        return NULL;
    }
    qsort(names, n, sizeof(char *), by_name);
    return names;
}

/*
 * Opens the folder path, whose identity is `here`, for reading. A folder
 * inside another is opened without following a link, and only if it is
 * still the folder the walk found: otherwise whoever can write its parent
 * could swap it for a link between the look and the listing.
 */
static DIR *open_folder(const char *path, const walk_up_t *here)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (here->up ? O_NOFOLLOW : 0));
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != here->dev || st.st_ino != here->ino)) {
        close(fd);
        errno = ESTALE;
        return NULL;
    }
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (dir == NULL && fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return dir;
}

/* Whether the NULL-terminated names (of status sts, or errs) hold a folder `name`. */
static bool has_folder(char *const *names, const struct stat *sts, const int *errs,
                       const char *name)
{
    for (size_t i = 0; names[i] != NULL; i++)
        if (errs[i] == 0 && S_ISDIR(sts[i].st_mode) && strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* The entries of the folder path, whose own identity is `here`, each
 * looked at inside the folder opened, never through a link. */
static int walk_under(file_list_t *l, const char *path, const walk_up_t *here)
{
    DIR *dir = open_folder(path, here);
    if (dir == NULL)
        return walk_failed(l, path, here->up);
    char **names = folder_names(dir);
    /* Listed in part: the folder fails as one that cannot be opened does,
     * rather than have some of its messages missed unsaid. */
    if (names == NULL) {
        int e = errno;
        closedir(dir);
        errno = e;
        return walk_failed(l, path, here->up);
    }
    size_t n = 0;
    while (names[n] != NULL)
        n++;
    struct stat *sts = xcalloc(n + 1, sizeof(*sts));
    int *errs = xcalloc(n + 1, sizeof(*errs));
    for (size_t i = 0; i < n; i++)
        if (fstatat(dirfd(dir), names[i], &sts[i], AT_SYMLINK_NOFOLLOW) != 0)
            errs[i] = errno;
    /* Closed before the walk goes down, so that a deep tree does not hold
     * a descriptor per level until it runs out of them: each folder below
     * is opened by its path and checked to be the one seen here. */
    closedir(dir);
    bool maildir = has_folder(names, sts, errs, "cur") && has_folder(names, sts, errs, "new");
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *child = g_strdup_printf("%s/%s", path, names[i]);
        errno = errs[i];
        /* A Maildir's tmp holds mail still being delivered, perhaps in
         * part, which arrives in new when it is whole: not read. */
        bool in_delivery =
            maildir && errs[i] == 0 && S_ISDIR(sts[i].st_mode) && strcmp(names[i], "tmp") == 0;
        if (!in_delivery)
            rc |= errs[i] != 0 ? walk_failed(l, child, here) : walk_entry(l, child, &sts[i], here);
        g_free(child);
        free(names[i]);
    }
    free(names);
    free(sts);
    free(errs);
    return rc;
}

/* ---- opening the files ---------------------------------------------- */

/*
 * The i-th file of the list, opened. Non-blocking, so that a FIFO put in
 * the place of a file reads as empty rather than hangs the run; regular
 * files do not care. The folders may change between the walk and now:
 * a file found inside a folder is not opened through a link (ELOOP), and
 * a file that is not the one the walk found (its path, or a folder on it,
 * swapped for a link to another file) is refused (ESTALE), so that the
 * walk's refusal to follow links cannot be raced.
 */
static int open_listed(const file_list_t *l, size_t i)
{
    const listed_id_t *id = &l->ids[i];
    int fd = open(l->items[i],
                  O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (id->inside ? O_NOFOLLOW : 0));
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != id->dev || st.st_ino != id->ino)) {
        close(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

/* The opener's loop: one request (an index) in, one answer (0 and the
 * descriptor, or an errno) out, until the learner closes its end. */
static void opener_serve(int sock, const file_list_t *files)
{
    for (;;) {
        uint64_t i;
        ssize_t n = recv(sock, &i, sizeof(i), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(i))
            return;
        int fd = i < files->n ? open_listed(files, i) : -1;
        int err = fd >= 0 ? 0 : i < files->n ? errno : EINVAL;
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        if (fd >= 0) {
            memset(&u, 0, sizeof(u));
            m.msg_control = u.buf;
            m.msg_controllen = sizeof(u.buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        ssize_t w;
        while ((w = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
            ;
        if (fd >= 0)
            close(fd);
        if (w < 0)
            return;
    }
}

/* Forks the opener when smfctl is about to switch to smfd's user and has
 * files to read. 0, or an exit status after saying why. */
static int opener_start(const config_t *c, const file_list_t *files, opener_t *op)
{
    char err[512];
    bool needed = false;
    op->pid = -1;
    op->sock = -1;
    if (files->n == 0 || privdrop_needed(&c->user, &needed, err, sizeof(err)) != 0 || !needed)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return smfctl_fail(1, "cannot make a socket to read the files as root: %s",
                           strerror(errno));
    fflush(NULL); /* Nothing buffered is printed twice. */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return smfctl_fail(1, "cannot start a process to read the files as root: %s", strerror(e));
    }
    if (pid == 0) {
        close(sv[0]);
        opener_serve(sv[1], files);
        _exit(0);
    }
    close(sv[1]);
    op->pid = pid;
    op->sock = sv[0];
    return 0;
}

static void opener_stop(opener_t *op)
{
    if (op->sock >= 0)
        close(op->sock); /* The opener reads the end and exits. */
    op->sock = -1;
    while (op->pid > 0 && waitpid(op->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    op->pid = -1;
}

/* The i-th file of the list, open for reading: through the opener when
 * there is one. -1 with errno set when it cannot be opened. */
static int opener_open(const opener_t *op, const file_list_t *files, size_t i)
{
    if (op == NULL || op->sock < 0)
        return open_listed(files, i);
    uint64_t want = i;
    if (send(op->sock, &want, sizeof(want), MSG_NOSIGNAL) != (ssize_t)sizeof(want))
        return -1;
    int err = EIO;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = &err, .iov_len = sizeof(err)};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    while ((n = recvmsg(op->sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    int fd = -1;
    struct cmsghdr *c = n == (ssize_t)sizeof(err) ? CMSG_FIRSTHDR(&m) : NULL;
    if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (n != (ssize_t)sizeof(err))
        err = n < 0 ? errno : EIO; /* The opener is gone. */
    if (fd < 0)
        errno = err != 0 ? err : EIO;
    return fd;
}

/* Reads fd until buf[0..cap) is full or the file ends; false with errno on an error. */
static bool fill(int fd, char *buf, size_t cap, size_t *len, bool *eof)
{
    while (*len < cap) {
        ssize_t got = read(fd, buf + *len, cap - *len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return false;
        if (got == 0) {
            *eof = true;
            break;
        }
        *len += (size_t)got;
    }
    return true;
}

/*
 * Reads the whole of fd (and closes it) into *buf, NUL-terminated. -1 with
 * errno set when it cannot: ENOMEM when the file does not fit in memory (a
 * large file of one message), which fails that file alone rather than the run.
 */
static int read_all(int fd, char **buf, size_t *len)
{
    struct stat st;
    /* A file's size, a byte to see its end and one for the NUL: read at once. */
    size_t cap = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 65536, n = 0;
    char *b = malloc(cap);
    bool eof = false;
    int e = ENOMEM;
    while (b != NULL) {
        if (!fill(fd, b, cap - 1, &n, &eof)) {
            e = errno;
            break;
        }
        if (eof) {
            close(fd);
            b[n] = '\0';
            *buf = b;
            *len = n;
            return 0;
        }
        char *grown = cap <= SIZE_MAX / 2 ? realloc(b, cap *= 2) : NULL;
        if (grown == NULL)
            break;
        b = grown;
    }
    free(b);
    close(fd);
    errno = e;
    return -1;
}

/* ---- the registry --------------------------------------------------- */

/* The entry of the message raw[0..len), whose key goes to key. */
static int registry_find(learn_run_t *r, const char *raw, size_t len, unsigned char *key,
                         arena_t *arena, json_t **entry)
{
    return learnreg_find(r->g->kv, r->registry, raw, len, key, arena, entry);
}

static int registry_put(learn_run_t *r, const unsigned char *key, const char *source,
                        json_t *modules)
{
    return learnreg_put(r->g->kv, r->registry, key, r->o->klass, r->o->domain, r->o->by, source,
                        modules);
}

/* ---- learning one message ------------------------------------------- */

static size_t module_index(const config_t *c, const char *name)
{
    for (size_t i = 0; i < c->nmodules; i++)
        if (c->modules[i].enabled && c->modules[i].lib.desc->learn != NULL &&
            strcmp(c->modules[i].name, name) == 0)
            return i;
    return c->nmodules;
}

/* What went wrong in the store: a full one says so, since that needs room made. */
static const char *store_error(int rc)
{
    return kv_full() ? "the key-value store is full" : smf_strerror(rc);
}

static int run_module(learn_run_t *r, smf_msg_t *x, size_t m, int klass, int delta,
                      const char *label)
{
    void *tstate;
    const module_conf_t *mc = &r->g->conf->modules[m];
    int rc = generation_tstate(r->g, 0, m, &tstate);
    if (rc == 0)
        rc = scanctx_learn(x, mc->lib.desc, r->g->states[m], tstate, r->g->dbis[m], klass, delta);
    if (rc != 0)
        smfctl_fail(0, "%s: module %s: %s", label, mc->name, store_error(rc));
    return rc;
}

/* Notes that the run changed the model of `domain`. */
static void touch(learn_run_t *r, const char *domain)
{
    for (guint i = 0; i < r->domains->len; i++)
        if (strcmp(g_ptr_array_index(r->domains, i), domain) == 0)
            return;
    g_ptr_array_add(r->domains, g_strdup(domain));
}

/* Undoes an earlier learn in the modules that took part in it, in the
 * model (the domain) it was taught for. */
static int forget(learn_run_t *r, smf_msg_t *x, json_t *entry, const char *label)
{
    int klass = learnreg_class_parse(json_string_value(json_object_get(entry, "class")));
    json_t *mods = json_object_get(entry, "modules"), *name;
    const char *domain = x->domain;
    size_t i;
    int rc = 0;
    x->domain = learnreg_domain(entry);
    touch(r, x->domain);
    json_array_foreach(mods, i, name)
    {
        size_t m = module_index(r->g->conf, json_string_value(name) ?: "");
        if (m < r->g->conf->nmodules && rc == 0)
            rc = run_module(r, x, m, klass, -1, label);
    }
    x->domain = domain;
    return rc;
}

/* Learns into every learning module; the names of those that took it go to *mods. */
static int teach(learn_run_t *r, smf_msg_t *x, json_t *mods, const char *label)
{
    const config_t *c = r->g->conf;
    touch(r, r->o->domain);
    for (size_t m = 0; m < c->nmodules; m++) {
        if (!c->modules[m].enabled || c->modules[m].lib.desc->learn == NULL)
            continue;
        if (run_module(r, x, m, r->o->klass, 1, label) != 0)
            return -1;
        json_array_append_new(mods, json_string(c->modules[m].name));
    }
    return 0;
}

/* What handle() did to one message, counted once its transaction commits. */
typedef enum outcome { OUT_LEARNED, OUT_MOVED, OUT_KNOWN, OUT_UNLEARNED, OUT_UNKNOWN } outcome_t;

static int handle(learn_run_t *r, smf_msg_t *x, const char *raw, size_t len, arena_t *arena,
                  const char *label, outcome_t *out)
{
    json_t *entry = NULL;
    unsigned char key[HASH_LEN];
    int rc = registry_find(r, raw, len, key, arena, &entry);
    if (rc == SMF_EINVAL) {
        smfctl_fail(0,
                    "%s: its entry in the learning registry is damaged, so what it was taught "
                    "as is unknown: run smfctl unlearn --all and learn the site's mail again",
                    label);
        return rc;
    }
    if (rc != 0) {
        smfctl_fail(0, "%s: cannot read the learning registry: %s", label, smf_strerror(rc));
        return rc;
    }
    /* A message an operator unlearned is taught as nothing: unlearning it
     * again finds nothing to undo, and learning it replaces the entry. */
    if (learnreg_unlearned(entry)) {
        json_decref(entry);
        entry = NULL;
    }
    if (r->o->unlearn) {
        *out = entry == NULL ? OUT_UNKNOWN : OUT_UNLEARNED;
        /* The entry stays, saying who unlearned it: that is a decision about
         * the message, which autolearn must not undo with the next copy. */
        if (entry != NULL && (rc = forget(r, x, entry, label)) == 0)
            rc = learnreg_put_unlearned(
                r->g->kv, r->registry, key,
                learnreg_class_parse(json_string_value(json_object_get(entry, "class"))), r->o->by,
                label);
    } else if (entry != NULL &&
               learnreg_class_parse(json_string_value(json_object_get(entry, "class"))) ==
                   r->o->klass &&
               strcmp(learnreg_domain(entry), r->o->domain) == 0) {
        *out = OUT_KNOWN;
    } else {
        json_t *mods = json_array();
        *out = entry != NULL ? OUT_MOVED : OUT_LEARNED;
        if (entry != NULL)
            rc = forget(r, x, entry, label);
        if (rc == 0)
            rc = teach(r, x, mods, label);
        if (rc == 0)
            rc = registry_put(r, key, label, mods);
        json_decref(mods);
    }
    json_decref(entry);
    return rc;
}

static void count(learn_run_t *r, outcome_t o)
{
    size_t *n[] = {[OUT_LEARNED] = &r->learned,
                   [OUT_MOVED] = &r->moved,
                   [OUT_KNOWN] = &r->known,
                   [OUT_UNLEARNED] = &r->unlearned,
                   [OUT_UNKNOWN] = &r->unknown};
    (*n[o])++;
}

/* A full store takes no more messages: the run stops at the first that
 * does not fit, rather than fail every one left the same way. */
static void stop_when_full(learn_run_t *r)
{
    r->full = true;
    smfctl_fail(0,
                "the key-value store in %s is full (it holds %zu MiB at most): what was left "
                "was not read. Make room with smfctl unlearn (--all to start afresh), then run "
                "again",
                kv_dir(r->g->kv), KV_MAP_SIZE >> 20);
}

/*
 * One message in one store transaction: the modules' counts and its
 * registry entry change together or not at all, so a failure half-way
 * (a full store, a module error) leaves nothing that a second learn of the
 * same message would count twice, or skip as already known.
 */
static int handle_atomically(learn_run_t *r, smf_msg_t *x, const char *raw, size_t len,
                             arena_t *arena, const char *label)
{
    outcome_t o;
    guint touched = r->domains->len;
    int rc = kv_batch_begin(r->g->kv);
    if (rc == 0) {
        rc = handle(r, x, raw, len, arena, label, &o);
        if (rc != 0)
            kv_batch_abort(r->g->kv);
        else if ((rc = kv_batch_commit(r->g->kv)) != 0)
            smfctl_fail(0, "%s: the store did not take the change (%s); nothing of it was written",
                        label, store_error(rc));
    } else {
        smfctl_fail(0, "%s: cannot open a store transaction: %s", label, smf_strerror(rc));
    }
    if (rc == 0)
        count(r, o);
    /* Nothing of it was written: the models it would have changed need no
     * refit on its account. */
    if (rc != 0)
        g_ptr_array_set_size(r->domains, touched);
    if (rc != 0 && kv_full())
        stop_when_full(r);
    return rc;
}

/* The envelope sender as smfc guesses it for a file: Return-Path, else From. */
static const char *guess_sender(arena_t *arena, const message_t *m)
{
    const char *rp = message_header(m, "Return-Path", 0);
    const char *lt = rp ? strchr(rp, '<') : NULL, *gt = lt ? strchr(lt, '>') : NULL;
    if (gt != NULL)
        return arena_strndup(arena, lt + 1, (size_t)(gt - lt - 1));
    /* Some agents write the address bare, "Return-Path: user@host". */
    if (rp != NULL && lt == NULL && strchr(rp, '@') != NULL) {
        rp += strspn(rp, " \t");
        return arena_strndup(arena, rp, strcspn(rp, " \t"));
    }
    return m->from;
}

/*
 * Whether raw starts as mail does, with a header field ("Name:"). An empty
 * file, a binary one or a mail client's index beside the messages
 * (dovecot-uidlist, dovecot.index) is no message: learned, it would count
 * as one of its class and shift every token's probability.
 */
static bool looks_like_mail(const char *raw, size_t len)
{
    size_t i = 0;
    while (i < len && raw[i] > ' ' && raw[i] <= '~' && raw[i] != ':')
        i++;
    if (i == 0)
        return false;
    while (i < len && (raw[i] == ' ' || raw[i] == '\t'))
        i++;
    return i < len && raw[i] == ':';
}

/* Whether raw is learned as a message: a file found on disk must look like
 * mail; a quarantined copy (released or deleted with --learn-ham or
 * --learn-spam) was scanned as mail, whatever it starts with, and is. */
static bool learnable(const learn_run_t *r, const char *raw, size_t len)
{
    return r->o->unlearn || r->o->domain_implied || looks_like_mail(raw, len);
}

static void learn_message(learn_run_t *r, const char *raw, size_t len, const char *label)
{
    if (!learnable(r, raw, len)) {
        smfctl_fail(0, "%s: not a mail message (it does not start with a header field); skipped",
                    label);
        r->messages++;
        r->failed++;
        return;
    }
    arena_t *arena = arena_new(16384);
    message_t *m;
    message_parse(arena, raw, len, &r->g->conf->limits, &m);
    static const char *const rcpt[] = {"postmaster"};
    /* The connecting client is unknown after the fact; the sender is guessed as smfc does. */
    smf_envelope_t env = {.request_id = label,
                          .queue_id = "",
                          .client_ip = "",
                          .client_name = "",
                          .helo = "",
                          .sender = guess_sender(arena, m),
                          .auth_user = "",
                          .rcpt_count = 1,
                          .rcpt = rcpt};
    smf_msg_t x;
    scanctx_init(&x, arena, m, &env, r->o->domain, clock_wall_ms() + 60000, r->g->conf->arena_limit,
                 r->g->kv);
    r->messages++;
    if (handle_atomically(r, &x, raw, len, arena, label) != 0)
        r->failed++;
    arena_destroy(&arena);
}

/* ---- files and mbox ------------------------------------------------- */

static void show_progress(learn_run_t *r, bool last)
{
    double now = clock_mono_ms();
    if (!r->progress || (!last && now - r->last_progress < 100))
        return;
    r->last_progress = now;
    fprintf(stderr, "\r%s: %zu/%zu files, %zu messages, %.0f msgs/s%s",
            r->o->unlearn ? "unlearn" : "learn", r->files_done, r->files_total, r->messages,
            r->messages / ((now - r->started) / 1000.0 + 1e-9), last ? "\033[K\n" : "\033[K");
    smfctl_progress_open(!last);
}

/* Learns one message of an mbox, the count-th, still escaped. */
static void learn_mbox_message(learn_run_t *r, const char *raw, size_t rlen, const char *path,
                               size_t count)
{
    char *msg = malloc(rlen + 1);
    char *label = g_strdup_printf("%s:%zu", path, count);
    if (msg == NULL) {
        smfctl_fail(0, "%s: too large to read into memory; skipped, the rest is read", label);
        r->messages++;
        r->failed++;
    } else {
        learn_message(r, msg, mbox_unescape(raw, rlen, msg), label);
    }
    g_free(label);
    free(msg);
    show_progress(r, false);
}

/* An mbox is read this much at a time, and more when one message is longer. */
#define MBOX_CHUNK ((size_t)16 << 20)

/*
 * Learns the messages of whole, those that end before buf[len) unless the
 * file has ended too; returns where the first one not learned starts. A
 * message ends at a separator (mbox.h), which needs the line after a "From "
 * line: one cut short at the end of the buffer is found in the next read.
 */
static size_t learn_whole_messages(learn_run_t *r, const char *buf, size_t len, bool eof,
                                   const char *path, size_t *count)
{
    mbox_t m = {buf, len, 0};
    const char *raw;
    size_t rlen, start = 0;
    while (!r->full && mbox_next(&m, &raw, &rlen)) {
        if (m.off >= len && !eof)
            return start;
        learn_mbox_message(r, raw, rlen, path, ++*count);
        start = m.off;
    }
    return r->full ? len : start;
}

/*
 * Learns each message of an mbox, cut as smfc cuts it (mbox.h), saying how
 * far it got. The file is read a piece at a time: a mailbox of many
 * gigabytes takes the memory of its longest message, not its size.
 */
static void learn_mbox(learn_run_t *r, int fd, const char *path)
{
    size_t cap = MBOX_CHUNK, len = 0, count = 0;
    char *buf = malloc(cap);
    bool eof = false;
    for (;;) {
        if (buf == NULL) {
            smfctl_fail(0,
                        "%s: message %zu too large to read into memory; the rest of the file "
                        "is not read",
                        path, count + 1);
            r->unread++;
            break;
        }
        if (!fill(fd, buf, cap, &len, &eof)) {
            smfctl_fail(0, "%s: %s after message %zu; the rest of the file is not read", path,
                        strerror(errno), count);
            r->unread++;
            break;
        }
        size_t done = learn_whole_messages(r, buf, len, eof, path, &count);
        if (eof || r->full)
            break;
        memmove(buf, buf + done, len - done);
        len -= done;
        /* No message ended in a full buffer: one is longer, and needs more room. */
        if (len == cap) {
            char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (grown == NULL)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    free(buf);
    close(fd);
}

/* Whether the file open at fd is an mbox, judged by its first line. */
static bool is_mbox_file(int fd)
{
    char head[5];
    return pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) && mbox_is(head, sizeof(head));
}

/* The i-th file of the run, path. */
static void learn_file(learn_run_t *r, size_t i, const char *path)
{
    char *raw = NULL;
    size_t len = 0;
    int fd = opener_open(r->opener, r->files, i);
    if (fd < 0 && (errno == ELOOP || errno == ESTALE)) {
        smfctl_fail(0, "%s: changed after it was listed (%s); skipped", path,
                    errno == ELOOP ? "now a symbolic link" : "now another file");
        r->unread++;
    } else if (fd < 0) {
        smfctl_fail(0, "%s: %s", path, strerror(errno));
        r->unread++;
    } else if (is_mbox_file(fd)) {
        learn_mbox(r, fd, path);
    } else if (read_all(fd, &raw, &len) != 0) {
        smfctl_fail(0, "%s: %s; skipped, the rest is read", path,
                    errno == ENOMEM ? "too large to read into memory (split it, or give smfctl "
                                      "more memory)"
                                    : strerror(errno));
        r->unread++;
    } else {
        learn_message(r, raw, len, path);
    }
    free(raw);
    r->files_done++;
    show_progress(r, false);
}

/* ---- the command ---------------------------------------------------- */

/* Only modules that learn are started: a learning run needs no scanner. */
static size_t keep_learners(config_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nmodules; i++) {
        if (c->modules[i].lib.desc->learn == NULL)
            c->modules[i].enabled = false;
        n += c->modules[i].enabled;
    }
    return n;
}

/* A classifier: a content stage that learns (bayes), whose learning moves spam scores. */
static bool is_classifier(const module_conf_t *m)
{
    return m->enabled && m->lib.desc->learn != NULL && m->lib.desc->kind == SMF_KIND_CONTENT;
}

static bool any_classifier(const config_t *c)
{
    for (size_t i = 0; i < c->nmodules; i++)
        if (is_classifier(&c->modules[i]))
            return true;
    return false;
}

/*
 * Learning with no classifier enabled changes no spam score: the other
 * learner, the reputation stage, keeps history only of mail that names its
 * client, which a file does not. The summary still counts the messages
 * recorded; it must not read as if the spam scores were now trained.
 */
static void note_no_classifier(const learn_run_t *r)
{
    if (any_classifier(r->g->conf) || r->messages == 0)
        return;
    fprintf(stderr, "smfctl: note: no classifier (such as bayes) is enabled in `modules`: these "
                    "are recorded, and no spam score changes. Add bayes to `modules` and to the "
                    "policies' stages to train one (docs/learning.md).\n");
}

/*
 * A module's bool option by name, read through its option table, so that
 * smfctl can say what an option means for a command without knowing the
 * module's struct. False when the module has no such option.
 */
/* Whether a module keeps models per recipient domain: per_domain = false says it does not. */
static bool has_domain_models(const module_conf_t *m)
{
    bool per_domain;
    return !config_module_bool(m, "per_domain", &per_domain) || per_domain;
}

/*
 * --domain with a classifier that keeps one site-wide model: the domain is
 * recorded, but the message teaches (and a refit fits) the site-wide model,
 * and no domain's scores differ from the others'.
 */
static void warn_domain_unused(const config_t *c, const char *domain, bool refit_only)
{
    for (size_t i = 0; *domain != '\0' && i < c->nmodules; i++) {
        const module_conf_t *m = &c->modules[i];
        if (!is_classifier(m) || has_domain_models(m))
            continue;
        fprintf(stderr,
                "smfctl: warning: --domain %s has no effect on scoring: %s has per_domain = "
                "false, so it %s its site-wide model, which scores every domain. Set "
                "per_domain = true in the %s section to keep a model per domain "
                "(docs/learning.md).\n",
                domain, m->name, refit_only ? "refits" : "teaches", m->name);
    }
}

static void print_summary(const learn_run_t *r)
{
    double secs = (clock_mono_ms() - r->started) / 1000.0;
    if (r->o->unlearn)
        printf("unlearned %zu, not known %zu, failed %zu", r->unlearned, r->unknown, r->failed);
    else
        printf("learned %zu, already known %zu, moved %zu, failed %zu", r->learned, r->known,
               r->moved, r->failed);
    printf(" (%zu messages in %.1f s)", r->messages, secs);
    /* The counts above add up to the messages read; a path not read (a
     * file or a folder, named as it failed) has none to count. */
    if (r->unread > 0)
        printf("; %zu path%s not read", r->unread, r->unread == 1 ? "" : "s");
    putchar('\n');
}

/*
 * Learning reads and rewrites counts in separate transactions, so two
 * learners at once could lose each other's increments: they take turns.
 * The lock goes with the process.
 */
static int take_turn(const kv_t *kv)
{
    char *path;
    int fd = learnreg_lock_open(kv, &path), rc = 0;
    if (fd < 0) {
        rc = smfctl_fail(1, "%s: %s", path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "smfctl: waiting for another learner to finish (smfctl learn or unlearn, "
                        "or smfd autolearning or refitting)\n");
        if (flock(fd, LOCK_EX) != 0)
            rc = smfctl_fail(1, "%s: %s", path, strerror(errno));
    }
    g_free(path);
    return rc;
}

static int open_store(config_t *c, kv_t **kv)
{
    char err[2048];
    char *dir = g_strdup_printf("%s/kv", c->data_dir);
    int rc = kv_open(dir, kv, err, sizeof(err));
    if (rc == 0 && take_turn(*kv) != 0) {
        kv_close(kv);
        rc = 1;
    } else if (rc != 0) {
        rc = smfctl_fail(1, "%s", err);
    }
    g_free(dir);
    return rc;
}

/* Refits one module's model of `domain`, saying how long it took. */
static int fit_module(learn_run_t *r, size_t m, const char *domain)
{
    const module_conf_t *mc = &r->g->conf->modules[m];
    void *tstate;
    double ms = 0;
    int rc = generation_tstate(r->g, 0, m, &tstate);
    if (rc == 0)
        rc = refit_module(r->g, m, tstate, domain, &ms);
    if (rc != 0)
        smfctl_fail(0, "module %s: refit failed: %s", mc->name, store_error(rc));
    else if (*domain != '\0' && !has_domain_models(mc))
        printf("refitted %s (its site-wide model: per_domain = false) in %.1f s\n", mc->name,
               ms / 1000.0);
    else if (*domain != '\0')
        printf("refitted %s for %s in %.1f s\n", mc->name, domain, ms / 1000.0);
    else
        printf("refitted %s in %.1f s\n", mc->name, ms / 1000.0);
    return rc;
}

/*
 * Refits every module that has a model to fit, for each model the run
 * changed. A module whose fitted model is switched off is not called, and
 * --refit says so rather than claim a refit that changed nothing.
 */
static int refit(learn_run_t *r)
{
    if (r->o->refit_only)
        touch(r, r->o->domain);
    int failed = 0;
    bool fitted = false, off = false;
    const config_t *c = r->g->conf;
    for (size_t m = 0; m < c->nmodules; m++) {
        if (!refit_possible(r->g, m))
            continue;
        if (refit_switched_off(r->g, m)) {
            if (r->o->refit_only)
                printf("nothing to refit: logistic = false in %s; the word statistics learn at "
                       "once\n",
                       c->modules[m].name);
            off = true;
            continue;
        }
        /* Without models per domain, every domain the run changed is the
         * site-wide model: it is fitted once. */
        guint n = has_domain_models(&c->modules[m]) ? r->domains->len : MIN(r->domains->len, 1);
        for (guint i = 0; i < n; i++)
            failed |= fit_module(r, m, g_ptr_array_index(r->domains, i)) != 0;
        fitted = true;
    }
    if (r->o->refit_only && !fitted && !off)
        printf("nothing to refit: no enabled module fits a model over learned mail; the bayes "
               "module does, once it is in `modules` (docs/learning.md)\n");
    return failed;
}

/* Empties one namespace, saying what it held. */
static int clear_namespace(learn_run_t *r, unsigned dbi, const char *what)
{
    size_t n;
    if (kv_clear(r->g->kv, dbi, &n) != 0)
        return smfctl_fail(1, "%s: could not be emptied", what);
    printf("forgot %s: %zu record%s\n", what, n, n == 1 ? "" : "s");
    return 0;
}

/*
 * unlearn --all: the classifiers' records (every content stage that learns,
 * all its models) and the registry go, so the same mail can be learned
 * again from scratch, for instance after a classifier changed what it
 * counts. Other learners keep theirs: the reputation stage's namespace is
 * mostly what it saw of senders in flight. A running smfd sees untrained
 * classifiers at once and stays silent until they are taught.
 */
static int forget_all(learn_run_t *r)
{
    const config_t *c = r->g->conf;
    int failed = 0;
    for (size_t m = 0; m < c->nmodules; m++)
        if (c->modules[m].enabled && c->modules[m].lib.desc->kind == SMF_KIND_CONTENT)
            failed |= clear_namespace(r, r->g->dbis[m], c->modules[m].name) != 0;
    failed |= clear_namespace(r, r->registry, "the registry of learned messages") != 0;
    return failed;
}

static int run(learn_run_t *r, file_list_t *files)
{
    if (r->o->all)
        return forget_all(r);
    r->files = files;
    r->files_total = files->n;
    r->unread = files->skipped;
    r->started = clock_mono_ms();
    r->progress = isatty(STDERR_FILENO);
    if (!r->o->domain_implied)
        warn_domain_unused(r->g->conf, r->o->domain, r->o->refit_only);
    for (size_t i = 0; i < files->n && !r->full; i++)
        learn_file(r, i, files->items[i]);
    show_progress(r, true);
    if (!r->o->refit_only) {
        print_summary(r);
        note_no_classifier(r);
    }
    int failed = refit(r);
    return r->failed || r->unread || failed ? 1 : 0;
}

int smfctl_learn(const smfctl_t *ctl, int argc, char **argv)
{
    return smfctl_learn_as(ctl, argc, argv, false);
}

int smfctl_learn_as(const smfctl_t *ctl, int argc, char **argv, bool domain_implied)
{
    learn_opts_t o = {.domain_implied = domain_implied};
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0)
        return rc;
    log_set_level(SMF_LOG_WARN);
    file_list_t files = {0};
    for (size_t i = 0; i < o.npaths; i++)
        if (walk(&files, o.paths[i]) != 0)
            rc = 2;
    char err[2048];
    config_t *c = NULL;
    kv_t *kv = NULL;
    generation_t *g = NULL;
    opener_t op = {.pid = -1, .sock = -1};
    learn_run_t r = {.o = &o, .opener = &op, .domains = g_ptr_array_new_with_free_func(g_free)};
    if (rc != 0) {
        /* A path that does not exist is a usage error: learn nothing. */
    } else if (config_load(ctl->config, ctl->overrides, ctl->noverrides, &c, err, sizeof(err))) {
        rc = smfctl_fail(2, "%s", err);
    } else if (keep_learners(c) == 0) {
        rc = smfctl_fail(2, "no enabled module learns: add one (bayes) to `modules` in %s",
                         ctl->config);
        config_free(&c);
    } else if ((rc = opener_start(c, &files, &op)) != 0 || (rc = smfctl_become_user(c)) != 0 ||
               (rc = open_store(c, &kv)) != 0) {
        config_free(&c);
    } else if (generation_new(c, kv, 0, 1, &g, err, sizeof(err)) != 0) {
        rc = smfctl_fail(1, "%s", err);
    } else if (kv_namespace(kv, REGISTRY, &r.registry) != 0) {
        rc = smfctl_fail(1, "cannot open the learning registry in %s/kv", g->conf->data_dir);
    } else {
        r.g = g;
        rc = run(&r, &files);
    }
    generation_release(&g);
    kv_close(&kv);
    opener_stop(&op);
    list_free(&files);
    g_ptr_array_free(r.domains, TRUE);
    return rc;
}
