/*
 * modload.c - dlopen a module and check its descriptor before trusting it.
 *
 * The ABI header is read first and alone: until it matches, no other field
 * of the descriptor is known to be where this engine expects it.
 */
#include "modload.h"
#include "errbuf.h"
#include "xalloc.h"
#include <confuse.h>

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

const char *modload_kind_name(smf_kind_t kind)
{
    switch (kind) {
    case SMF_KIND_CONTENT:
        return "content";
    case SMF_KIND_ANTIVIRUS:
        return "antivirus";
    case SMF_KIND_LIST:
        return "list";
    case SMF_KIND_REPUTATION:
        return "reputation";
    }
    return "unknown";
}

static int valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int check_file(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errbuf_fail(err, errlen,
                           "module %s: cannot open it: %m; check module_dir and the module's path",
                           path);
    if (!S_ISREG(st.st_mode))
        return errbuf_fail(err, errlen, "module %s: not a regular file", path);
    /* Anyone who can write the file could run code inside the engine. */
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return errbuf_fail(err, errlen,
                           "refusing module %s: it is group- or world-writable (mode %04o); "
                           "fix with: chmod go-w %s",
                           path, (unsigned)(st.st_mode & 07777), path);
    return 0;
}

/* The descriptor's size in each minor version of ABI 1: fields are only
 * ever added at the end. */
size_t modload_descriptor_size(unsigned minor)
{
    if (minor == 0)
        return offsetof(smf_module_t, learn);
    if (minor == 1)
        return offsetof(smf_module_t, verdict);
    if (minor == 2)
        return offsetof(smf_module_t, fit);
    if (minor == 3)
        return offsetof(smf_module_t, scope);
    return sizeof(smf_module_t);
}

static int check_abi(const char *path, const smf_abi_t *abi, char *err, size_t errlen)
{
    if (abi->major != SMF_ABI_MAJOR)
        return errbuf_fail(
            err, errlen,
            "refusing module %s: it was built for module ABI %u.%u, this engine provides "
            "ABI %d.%d (major versions must match); rebuild it against this engine's SDK",
            path, abi->major, abi->minor, SMF_ABI_MAJOR, SMF_ABI_MINOR);
    if (abi->minor > SMF_ABI_MINOR)
        return errbuf_fail(
            err, errlen,
            "refusing module %s: it was built for module ABI %u.%u, newer than this "
            "engine's ABI %d.%d; upgrade the engine or rebuild the module against its SDK",
            path, abi->major, abi->minor, SMF_ABI_MAJOR, SMF_ABI_MINOR);
    if (abi->size > sizeof(smf_module_t))
        return errbuf_fail(
            err, errlen,
            "refusing module %s: its descriptor is %u bytes, larger than the %zu bytes of "
            "ABI %d.%d that this engine provides; rebuild it against this engine's SDK",
            path, abi->size, sizeof(smf_module_t), SMF_ABI_MAJOR, SMF_ABI_MINOR);
    size_t want = modload_descriptor_size(abi->minor);
    if (abi->size != want)
        return errbuf_fail(err, errlen,
                           "refusing module %s: its descriptor is %u bytes, but ABI %u.%u "
                           "defines %zu; the module is damaged or not built with SMF_ABI_INIT",
                           path, abi->size, abi->major, abi->minor, want);
    return 0;
}

/* How a value of the type sits in the module's settings struct: the bytes
 * the engine writes at an option's offset (0 for an unknown type), and the
 * alignment the offset needs, since the engine stores the value with a
 * plain assignment, which a misaligned address makes undefined. */
typedef struct option_layout {
    size_t width, align;
} option_layout_t;

static option_layout_t option_layout(smf_opt_type_t type)
{
    switch (type) {
    case SMF_OPT_BOOL:
        return (option_layout_t){sizeof(int), _Alignof(int)};
    case SMF_OPT_INT:
        return (option_layout_t){sizeof(long), _Alignof(long)};
    case SMF_OPT_FLOAT:
        return (option_layout_t){sizeof(double), _Alignof(double)};
    case SMF_OPT_STRING:
        return (option_layout_t){sizeof(char *), _Alignof(char *)};
    case SMF_OPT_LIST:
        return (option_layout_t){sizeof(char **), _Alignof(char **)};
    }
    return (option_layout_t){0, 1};
}

/* Whether width bytes at offset lie inside the struct. Written so that no
 * sum can wrap: an offset near SIZE_MAX would otherwise pass and make the
 * engine write just before the struct. */
static bool option_inside(size_t offset, size_t width, size_t conf_size)
{
    return offset <= conf_size && width <= conf_size - offset;
}

/* The words the configuration file takes for a boolean, and "1" and "0",
 * which defaults have always been allowed to use. */
int modload_default_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    *out = 0;
    if (text == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(text, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* As the configuration file reads an integer: decimal, 0x hex or 0 octal,
 * the whole text, within the range of a long. */
int modload_default_int(const char *text, long *out)
{
    char *end = NULL;
    *out = 0;
    if (text == NULL)
        return 0;
    errno = 0;
    long v = strtol(text, &end, 0);
    if (end == text || *end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* As the configuration file reads a float: the whole text, and finite,
 * since no score or threshold means anything as infinity or NaN. */
int modload_default_float(const char *text, double *out)
{
    char *end = NULL;
    *out = 0.0;
    if (text == NULL)
        return 0;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void default_list_quiet(cfg_t *cfg, const char *fmt, va_list ap)
{
    (void)cfg;
    (void)fmt;
    (void)ap;
}

/* As the configuration file reads a list: `{a, "b c"}`, or one bare value.
 * Checked here because libconfuse, handed a default it cannot parse,
 * aborts the process at the first configuration that names the module.
 * Only NULL or "" is an empty list: a default of blanks alone is none to
 * libconfuse, and refused here as the file would refuse `v = ` too. */
int modload_default_list(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return 0;
    cfg_opt_t opts[] = {CFG_STR_LIST("v", NULL, CFGF_NONE), CFG_END()};
    cfg_t *cfg = cfg_init(opts, CFGF_NONE);
    if (cfg == NULL)
        return -1;
    cfg_set_error_function(cfg, default_list_quiet);
    size_t n = strlen(text) + sizeof("v = ");
    char *buf = xmalloc(n);
    snprintf(buf, n, "v = %s", text);
    int rc = cfg_parse_buf(cfg, buf) == CFG_SUCCESS ? 0 : -1;
    free(buf);
    cfg_free(cfg);
    return rc;
}

/* What the default of an option of this type must be, for the refusal's
 * message; NULL when any text will do. */
static const char *default_trouble(const smf_option_t *o)
{
    int b;
    long i;
    double f;
    switch (o->type) {
    case SMF_OPT_BOOL:
        return modload_default_bool(o->default_value, &b) != 0
                   ? "a boolean (true/false, yes/no, on/off, 1/0)"
                   : NULL;
    case SMF_OPT_INT:
        return modload_default_int(o->default_value, &i) != 0 ? "an integer within range" : NULL;
    case SMF_OPT_FLOAT:
        return modload_default_float(o->default_value, &f) != 0 ? "a finite number" : NULL;
    case SMF_OPT_LIST:
        return modload_default_list(o->default_value) != 0 ? "a list ({a, \"b c\"})" : NULL;
    case SMF_OPT_STRING:
        break;
    }
    return NULL;
}

static int check_options(const char *path, const smf_module_t *d, char *err, size_t errlen)
{
    static const char *const reserved[] = {"path", "enabled", "on_error", "timeout_ms"};
    if (d->options == NULL)
        return 0;
    for (const smf_option_t *o = d->options; o->name != NULL; o++) {
        option_layout_t lay = option_layout(o->type);
        if (!valid_name(o->name))
            return errbuf_fail(err, errlen,
                               "refusing module %s: option name '%s' is not [a-z0-9_]+", path,
                               o->name);
        if (lay.width == 0)
            return errbuf_fail(err, errlen, "refusing module %s: option '%s' has unknown type %d",
                               path, o->name, (int)o->type);
        if (!option_inside(o->offset, lay.width, d->conf_size))
            return errbuf_fail(
                err, errlen,
                "refusing module %s: option '%s' is stored at offset %zu, outside its "
                "conf_size of %zu bytes",
                path, o->name, o->offset, d->conf_size);
        if (o->offset % lay.align != 0)
            return errbuf_fail(err, errlen,
                               "refusing module %s: option '%s' is stored at offset %zu, not "
                               "aligned for its type; use offsetof() on the struct",
                               path, o->name, o->offset);
        for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
            if (strcmp(o->name, reserved[i]) == 0)
                return errbuf_fail(err, errlen,
                                   "refusing module %s: option '%s' is reserved for the engine",
                                   path, o->name);
        /* A default that does not parse would otherwise reach the module
         * as 0, a value its author never chose. */
        const char *want = default_trouble(o);
        if (want != NULL)
            return errbuf_fail(err, errlen,
                               "refusing module %s (%s): option '%s' has the default \"%s\", "
                               "which is not %s",
                               path, d->name, o->name, o->default_value, want);
    }
    return 0;
}

static int check_descriptor(const char *path, const smf_module_t *d, char *err, size_t errlen)
{
    if (!valid_name(d->name))
        return errbuf_fail(err, errlen, "refusing module %s: its name is missing or not [a-z0-9_]+",
                           path);
    if (d->scan == NULL)
        return errbuf_fail(err, errlen, "refusing module %s (%s): it has no scan function", path,
                           d->name);
    if (d->kind < SMF_KIND_CONTENT || d->kind > SMF_KIND_REPUTATION)
        return errbuf_fail(err, errlen, "refusing module %s (%s): unknown kind %d", path, d->name,
                           (int)d->kind);
    return check_options(path, d, err, errlen);
}

/*
 * Why dlopen() failed. A call of the kit the engine does not provide shows
 * only as an undefined symbol, which says nothing of its cause: the module
 * was built against a newer SDK, or calls a function no SDK has.
 */
static int load_error(const char *path, const char *why, char *err, size_t errlen)
{
    const char *sym = strstr(why, "undefined symbol: smf_");
    if (sym == NULL)
        return errbuf_fail(err, errlen, "module %s: cannot load it: %s", path, why);
    return errbuf_fail(err, errlen,
                       "refusing module %s: it calls %s, which this engine (module ABI %d.%d) "
                       "does not provide; rebuild it against this engine's smf/module.h, or "
                       "upgrade the engine if the module needs a newer ABI",
                       path, sym + strlen("undefined symbol: "), SMF_ABI_MAJOR, SMF_ABI_MINOR);
}

int modload_open(const char *path, modload_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_file(path, err, errlen) != 0)
        return -1;
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        return load_error(path, dlerror(), err, errlen);
    const smf_module_t *d = dlsym(dl, SMF_MODULE_SYMBOL);
    if (d == NULL) {
        dlclose(dl);
        return errbuf_fail(err, errlen,
                           "refusing module %s: it does not export '%s'; a module defines "
                           "SMF_MODULE_EXPORT const smf_module_t smf_module = {...}",
                           path, SMF_MODULE_SYMBOL);
    }
    if (check_abi(path, &d->abi, err, errlen) != 0 || check_descriptor(path, d, err, errlen) != 0) {
        dlclose(dl);
        return -1;
    }
    /* Work on a copy widened to this engine's descriptor, so that fields a
     * module built for an older minor lacks read as NULL, never as what
     * lies beyond its descriptor. */
    memset(&out->copy, 0, sizeof(out->copy));
    memcpy(&out->copy, d, d->abi.size);
    out->dl = dl;
    out->desc = &out->copy;
    out->path = xstrdup(path);
    return 0;
}

void modload_close(modload_t *m)
{
#ifndef SMF_KEEP_MODULES_LOADED
    if (m->dl != NULL)
        dlclose(m->dl);
#endif
    free(m->path);
    memset(m, 0, sizeof(*m));
}
