/*
 * fuzz_confline.c - the configuration file scanner (core/confline.c) over
 * arbitrary bytes as smfd.conf. When libconfuse refuses a file, smfd and
 * smfctl read it again themselves to point at the culprit line: the `{`
 * still open at the end (comments and quoted strings skipped), the line
 * whose value runs on into a second word, or the line that sets the option
 * a message names. An operator's file is not hostile,
 * but a broken one is exactly what this code meets, and it must not crash
 * on it. The input goes to a memory file, read through its /proc path.
 */
#include "confline.h"
#include "fuzz_common.h"

#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("smfd.conf", 0);
    if (fd < 0)
        return 0;
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return 0;
        }
        done += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    char text[80];
    memset(text, 'x', sizeof(text));
    int line = confline_unclosed(path, text, sizeof(text));
    FUZZ_CHECK(line >= 0);
    if (line > 0)
        FUZZ_CHECK(memchr(text, '\0', sizeof(text)) != NULL);

    memset(text, 'x', sizeof(text));
    line = confline_open_string(path, text, sizeof(text));
    FUZZ_CHECK(line >= 0);
    if (line > 0)
        FUZZ_CHECK(memchr(text, '\0', sizeof(text)) != NULL);
    /* A line with a value of several words is one at or before the reported line. */
    for (int reported = 1; reported <= 1000; reported *= 10) {
        memset(text, 'x', sizeof(text));
        line = confline_value_run_on(path, reported, text, sizeof(text));
        FUZZ_CHECK(line >= 0 && line <= reported);
        if (line > 0)
            FUZZ_CHECK(memchr(text, '\0', sizeof(text)) != NULL);
    }
    /* The real line is never past the one libconfuse counted. */
    for (int reported = 1; reported <= 1000; reported *= 10) {
        int real = confline_real(path, reported, 2, 1);
        FUZZ_CHECK(real >= 1 && real <= reported);
    }

    /* libconfuse's messages, naming options the input may hold; and the
     * input's first line as a message of its own. */
    char first[256];
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl != NULL ? (size_t)(nl - data) : size;
    if (n >= sizeof(first))
        n = sizeof(first) - 1;
    memcpy(first, data, n);
    first[n] = '\0';
    first[strcspn(first, "\r")] = '\0';
    const char *messages[] = {"no such option 'workers'",
                              "invalid integer value for option 'max_queued'",
                              "invalid floating point value for option 'threshold'",
                              "invalid boolean value for option 'enabled'",
                              "option 'a' ",
                              first};
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        bool section = false;
        for (int reported = 1; reported <= 1000; reported *= 10) {
            int culprit = confline_culprit(path, messages[i], reported, &section);
            FUZZ_CHECK(culprit >= 1 && culprit <= reported);
        }
    }
    close(fd);
    return 0;
}
