/*
 * testconf.h - writing a configuration file for a test and loading it.
 */
#ifndef SMF_TESTCONF_H
#define SMF_TESTCONF_H

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char testconf_path[256];

/* Writes `text` after a module_dir line to a temporary file; returns its path. */
static const char *testconf_write(const char *module_dir, const char *text)
{
    snprintf(testconf_path, sizeof(testconf_path), "/tmp/smf-test-conf.XXXXXX");
    int fd = mkstemp(testconf_path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "module_dir = \"%s\"\ndata_dir = \"/tmp\"\n%s\n", module_dir, text);
    fclose(f);
    return testconf_path;
}

/* Loads `text`; returns the config or NULL with the error in err. */
static config_t *testconf_load(const char *module_dir, const char *text, char *const *ov,
                               size_t nov, char *err, size_t errlen)
{
    config_t *c = NULL;
    const char *path = testconf_write(module_dir, text);
    err[0] = '\0';
    if (config_load(path, ov, nov, &c, err, errlen) != 0)
        c = NULL;
    unlink(path);
    return c;
}

#endif
