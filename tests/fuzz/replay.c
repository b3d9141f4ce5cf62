/*
 * replay.c - the main() of a fuzz target built without libFuzzer: feeds each
 * file named on the command line (each file of a folder, in name order) to
 * LLVMFuzzerTestOneInput(), once, as the fuzzer would. The normal build runs
 * every target over its committed seeds this way (ctest fuzz_seeds_*), so the
 * sanitizer build replays them under AddressSanitizer and UBSan.
 *
 * Usage: fuzz_TARGET FILE|FOLDER...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t replayed;

/* Reads one file whole into a buffer of exactly its size (so that ASan sees
 * a read past its end) and hands it over. Returns 0, or -1 when unreadable. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *more = realloc(buf, cap *= 2);
            if (more == NULL)
                free(buf);
            buf = more;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return -1;
    }
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    replayed++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    DIR *d = opendir(path);
    if (d == NULL) {
        perror(path);
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            char **more = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
            if (more == NULL) {
                rc = -1;
                break;
            }
            names = more;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if ((names[count] = malloc(len)) == NULL) {
            rc = -1;
            break;
        }
        snprintf(names[count++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (names != NULL)
        qsort(names, count, sizeof(*names), by_name);
    for (size_t i = 0; i < count; i++) {
        if (rc == 0 && replay_path(names[i]) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|FOLDER...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i]) != 0)
            return 1;
    }
    if (replayed == 0) {
        fprintf(stderr, "%s: no input found\n", argv[0]);
        return 1;
    }
    printf("%zu inputs replayed without a crash\n", replayed);
    return 0;
}
