/*
 * test_smfc_input.c - smfc's reading of its paths, built with a piece of
 * 4 KiB (SMFC_CHUNK) so that an mbox spans many pieces: every message must
 * come out byte for byte as the whole file cut at once gives it, however
 * the pieces fall (a "From " line at a piece's end, a message longer than a
 * piece), from a file and from a pipe; a message file longer than a piece
 * is read whole.
 */
#include "check.h"
#include "mbox.h"
#include "smfc.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* An mbox of n messages of pseudo-random lengths (one of 20 KiB), bodies
 * holding "From " lines that are no separator and escaped ones. */
static char *make_mbox(size_t n, size_t *len)
{
    size_t cap = 1 << 20, used = 0;
    char *buf = malloc(cap);
    uint32_t seed = 12345;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t lines = i == 7 ? 700 : (seed >> 16) % 60;
        used += (size_t)snprintf(buf + used, cap - used,
                                 "From sender%zu@example.net Mon Jan  1 00:00:00 2024\n"
                                 "Subject: message %zu\n\n",
                                 i, i);
        for (size_t l = 0; l < lines && used + 200 < cap; l++) {
            const char *line = l % 9 == 4   ? "From the desk of nobody, a line of text\n"
                               : l % 9 == 6 ? ">From an escaped line\n"
                                            : "Some words of the body, line after line.\n";
            used += (size_t)snprintf(buf + used, cap - used, "%s", line);
        }
        used += (size_t)snprintf(buf + used, cap - used, "\n");
    }
    *len = used;
    return buf;
}

static char *write_temp(const char *data, size_t len)
{
    char *path = strdup("/tmp/smfc-input-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len, "temp file written");
    close(fd);
    return path;
}

/* Reads path with smfc's reader and checks every message against the whole
 * buffer cut at once; after the first, writes a byte to go_fd (unless -1). */
static void check_same_cut(const char *what, char *path, const char *label, const char *data,
                           size_t len, int go_fd)
{
    smfc_input_t *in = smfc_input_new(&path, 1);
    mbox_t m = {data, len, 0};
    const char *raw;
    size_t rlen, n = 0;
    smfc_msg_t msg;
    while (mbox_next(&m, &raw, &rlen)) {
        char want[64], *text = malloc(rlen + 1);
        size_t tlen = mbox_unescape(raw, rlen, text);
        snprintf(want, sizeof want, "%s:%zu", label, ++n);
        if (!smfc_input_next(in, &msg)) {
            CHECK(false, "%s: message %zu missing", what, n);
            free(text);
            break;
        }
        CHECK(msg.error == NULL && msg.len == tlen && memcmp(msg.data, text, tlen) == 0,
              "%s: message %zu differs (%zu bytes, want %zu)", what, n, msg.len, tlen);
        CHECK(strcmp(msg.label, want) == 0, "%s: label %s, want %s", what, msg.label, want);
        smfc_msg_clear(&msg);
        free(text);
        if (n == 1 && go_fd >= 0)
            CHECK(write(go_fd, "g", 1) == 1, "%s: the writer told to go on", what);
    }
    CHECK(!smfc_input_next(in, &msg), "%s: no message after the %zu", what, n);
    CHECK(n > 100, "%s: %zu messages", what, n);
    smfc_input_destroy(&in);
}

static void test_mbox_from_a_file(void)
{
    size_t len;
    char *data = make_mbox(300, &len);
    CHECK(len > 20 * 4096, "the mbox spans many pieces (%zu bytes)", len);
    char *path = write_temp(data, len);
    check_same_cut("file", path, path, data, len, -1);
    unlink(path);
    free(path);
    free(data);
}

/*
 * Through a pipe whose writer stops after a few pieces until it is told to
 * go on, once the first message came out: the mbox is read as it comes, not
 * to its end first (a reader of the whole would wait here for ever: the
 * alarm ends the test).
 */
static void test_mbox_from_a_pipe(void)
{
    size_t len;
    char *data = make_mbox(200, &len);
    int fds[2], go[2];
    CHECK(pipe(fds) == 0 && pipe(go) == 0, "pipes");
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        close(go[1]);
        /* Small writes, so that reads end anywhere. */
        for (size_t off = 0; off < len; off += 1000) {
            size_t k = len - off < 1000 ? len - off : 1000;
            char c;
            if (off == 10000 && read(go[0], &c, 1) != 1)
                _exit(1);
            if (write(fds[1], data + off, k) != (ssize_t)k)
                _exit(1);
        }
        _exit(0);
    }
    close(fds[1]);
    close(go[0]);
    char path[32];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    alarm(30);
    check_same_cut("pipe", path, path, data, len, go[1]);
    alarm(0);
    close(fds[0]);
    close(go[1]);
    int status;
    waitpid(child, &status, 0);
    free(data);
}

static void test_message_file_longer_than_a_piece(void)
{
    size_t len = 3 * 4096 + 17;
    char *data = malloc(len);
    memcpy(data, "Subject: long\n\n", 15);
    memset(data + 15, 'x', len - 15);
    char *path = write_temp(data, len);
    smfc_input_t *in = smfc_input_new(&path, 1);
    smfc_msg_t msg;
    CHECK(smfc_input_next(in, &msg), "one message");
    CHECK(msg.error == NULL && msg.len == len && memcmp(msg.data, data, len) == 0,
          "read whole: %zu bytes, want %zu", msg.len, len);
    CHECK(strcmp(msg.label, path) == 0, "labelled by its path");
    smfc_msg_clear(&msg);
    CHECK(!smfc_input_next(in, &msg), "nothing more");
    smfc_input_destroy(&in);
    unlink(path);
    free(path);
    free(data);
}

int main(void)
{
    test_mbox_from_a_file();
    test_mbox_from_a_pipe();
    test_message_file_longer_than_a_piece();
    return check_done();
}
