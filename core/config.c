/*
 * config.c - reading smfd.conf with libconfuse, opening the modules it
 * names, and resolving per-domain policies against the default one.
 */
#include "config.h"
#include "confline.h"
#include "log.h"
#include "errbuf.h"
#include "idna.h"
#include "smtp_client.h"
#include "xalloc.h"

#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A number as a score or threshold needs it: libconfuse would also take
 * "nan" and "inf", against which every comparison of a score fails or
 * always holds, and a stage's finite score could never reach them. */
static int finite_float(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(value, &end);
    if (end == value || *end != '\0' || errno == ERANGE || !isfinite(d)) {
        /* Worded as libconfuse's own, which confline_culprit() knows. */
        cfg_error(cfg,
                  "invalid floating point value for option '%s': %s (expected a finite number)",
                  cfg_opt_name(opt), value);
        return -1;
    }
    *(double *)result = d;
    return 0;
}

/* libconfuse reports errors through a callback; keep the last one. */
static __thread char cfg_errbuf[1024];

/* The file being parsed: errors inside a section report on the section's
 * own cfg_t, which does not carry the file's name and line. */
static __thread cfg_t *cfg_root;

/* The line of the last error a probe parse reported. */
static __thread int probe_line;

static void probe_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    (void)fmt;
    (void)ap;
    probe_line = cfg != NULL ? cfg->line : 0;
}

/* The line libconfuse gives a stray `}` on text's second line, 2 when it counts right. */
static int probe_brace_line(const char *text)
{
    cfg_opt_t opts[] = {CFG_END()};
    cfg_t *cfg = cfg_init(opts, 0);
    cfg_set_error_function(cfg, probe_error);
    probe_line = 0;
    (void)cfg_parse_buf(cfg, text);
    cfg_free(cfg);
    return probe_line;
}

/* How many lines more than one libconfuse counts for a line comment and a
 * block comment (confline_real()), measured once on the library in use. */
static int comment_line_extra, comment_block_extra;

static void measure_comment_lines(void)
{
    int line = probe_brace_line("# c\n}\n"), block = probe_brace_line("/* c */\n}\n");
    comment_line_extra = line > 2 ? line - 2 : 0;
    comment_block_extra = block > 2 ? block - 2 : 0;
}

/* Writes "file:line: " and the message into cfg_errbuf; returns true. */
static bool line_error(const cfg_t *cfg, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool line_error(const cfg_t *cfg, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: ", cfg->filename, line);
    if (n < 0 || (size_t)n >= sizeof(cfg_errbuf))
        return true; /* A path long enough to cut the message still leaves its start. */
    va_start(ap, fmt);
    vsnprintf(cfg_errbuf + n, sizeof(cfg_errbuf) - (size_t)n, fmt, ap);
    va_end(ap);
    return true;
}

/*
 * An unexpected token, or the end of the file, is often what libconfuse read
 * on to from a line above, and the error names that line: a string left open
 * (it reads the string on past its line; the configuration has no string of
 * several lines), or an option given two words of value (it reads the second
 * word as the next option's name).
 */
static bool read_on_from_above(const cfg_t *cfg, const char *msg, int line)
{
    char text[160];
    if (strncmp(msg, "unexpected token", 16) != 0 && strstr(msg, "premature end of file") == NULL)
        return false;
    int at = confline_open_string(cfg->filename, text, sizeof(text));
    if (at > 0 && at <= line)
        return line_error(cfg, at,
                          "the string opened on this line (`%s`) is not closed on it; a closing "
                          "quote is missing",
                          text);
    at = confline_value_run_on(cfg->filename, line, text, sizeof(text));
    if (at > 0)
        return line_error(cfg, at,
                          "`%s`: more than one word after `=`; a value with blanks goes in "
                          "quotes, a list in braces ({a, b})",
                          text);
    return false;
}

/* libconfuse takes the end of the file for a missing `}` only when a
 * section opens after it: the error names the section left open. */
static bool section_left_open(const cfg_t *cfg, const char *msg, int line)
{
    char open[160];
    int from = strstr(msg, "premature end of file") != NULL
                   ? confline_unclosed(cfg->filename, open, sizeof(open))
                   : 0;
    if (from == 0)
        return false;
    return line_error(cfg, line,
                      "%s: the section opened on line %d (`%s`) is never closed; a `}` is "
                      "missing there or in a section inside it",
                      msg, from, open);
}

static void capture_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (cfg_root != NULL && (cfg == NULL || cfg->filename == NULL || cfg->line <= 0))
        cfg = cfg_root;
    if (cfg == NULL || cfg->filename == NULL || cfg->line <= 0) {
        snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s", msg);
        return;
    }
    bool section = false;
    int real = confline_real(cfg->filename, cfg->line, comment_line_extra, comment_block_extra);
    int line = confline_culprit(cfg->filename, msg, real, &section);
    if (read_on_from_above(cfg, msg, line) || section_left_open(cfg, msg, line))
        return;
    /* A module's section whose module is not loaded reads as unknown. */
    snprintf(cfg_errbuf, sizeof(cfg_errbuf), "%s:%d: %s%s", cfg->filename, line, msg,
             section && strncmp(msg, "no such option", 14) == 0
                 ? " (a module's section? name the module in `modules`, or keep it "
                   "listed and set enabled = false in its section)"
                 : "");
}

/* ---- option tables ------------------------------------------------ */

static cfg_opt_t policy_dir_opts[] = {
    CFG_STR_LIST("stages", NULL, CFGF_NODEFAULT),
    CFG_FLOAT_CB("add_header_score", 0, CFGF_NODEFAULT, finite_float),
    CFG_FLOAT_CB("quarantine_score", 0, CFGF_NODEFAULT, finite_float),
    CFG_FLOAT_CB("reject_score", 0, CFGF_NODEFAULT, finite_float),
    CFG_STR("virus_action", NULL, CFGF_NODEFAULT),
    CFG_STR("unscannable_action", NULL, CFGF_NODEFAULT),
    CFG_STR("block_action", NULL, CFGF_NODEFAULT),
    CFG_STR("spam_action", NULL, CFGF_NODEFAULT),
    CFG_STR("reject_text", NULL, CFGF_NODEFAULT),
    CFG_END()};

static cfg_opt_t policy_opts[] = {CFG_SEC("inbound", policy_dir_opts, CFGF_NONE),
                                  CFG_SEC("outbound", policy_dir_opts, CFGF_NONE),
                                  CFG_STR("delivery", NULL, CFGF_NODEFAULT), CFG_END()};

/* Where released mail goes when no policy names a host: the local MTA's
 * reinjection port, which must not hand it to smf-milter again. */
#define DEFAULT_DELIVERY "[127.0.0.1]:10026"

/* The core's own settings. Path-valued ones are listed in path_settings. */
static cfg_opt_t core_opts[] = {
    CFG_STR("listen", "ipc:///run/smf/scan.sock", CFGF_NONE),
    CFG_STR("publish", "ipc:///run/smf/events.sock", CFGF_NONE),
    CFG_INT("workers", 0, CFGF_NONE),
    CFG_STR("data_dir", "/var/lib/smf", CFGF_NONE),
    CFG_STR("quarantine_dir", "/var/lib/smf/quarantine", CFGF_NONE),
    CFG_STR("module_dir", "/usr/lib/smf/modules", CFGF_NONE),
    CFG_STR("user", "", CFGF_NONE),
    CFG_STR("log_level", "info", CFGF_NONE),
    CFG_INT("max_message_size", 50L * 1024 * 1024, CFGF_NONE),
    CFG_INT("max_mime_depth", 30, CFGF_NONE),
    CFG_INT("max_mime_parts", 1000, CFGF_NONE),
    CFG_INT("message_arena_limit", 64L * 1024 * 1024, CFGF_NONE),
    CFG_INT("default_timeout", 60000, CFGF_NONE),
    CFG_INT("max_queued", 1000, CFGF_NONE),
    CFG_INT("max_queued_size", 512L * 1024 * 1024, CFGF_NONE),
    CFG_INT("quarantine_retention_days", 30, CFGF_NONE),
    CFG_INT("quarantine_map_size", 16L << 30, CFGF_NONE),
    CFG_STR_LIST("reload_watch", "{\"/var/lib/clamav\"}", CFGF_NONE),
    CFG_BOOL("autolearn", cfg_false, CFGF_NONE),
    CFG_FLOAT_CB("autolearn_spam_score", 12.0, CFGF_NONE, finite_float),
    CFG_FLOAT_CB("autolearn_ham_score", 0.1, CFGF_NONE, finite_float),
    CFG_INT("autolearn_refit_interval", 3600, CFGF_NONE),
    CFG_STR("curve_secret_key_file", "", CFGF_NONE),
    CFG_STR("curve_clients_file", "", CFGF_NONE),
    CFG_STR_LIST("modules", "{}", CFGF_NONE),
    CFG_SEC("policy", policy_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_END()};

static const char *const path_settings[] = {"data_dir", "quarantine_dir", "module_dir",
                                            "curve_secret_key_file", "curve_clients_file"};

#define CORE_OPT_COUNT (sizeof(core_opts) / sizeof(core_opts[0]) - 1)

/* Settings the core reads in every module's section. ("path" is reserved
 * too: a module outside module_dir is named by its path in `modules`.) */
static const cfg_opt_t reserved_opts[] = {CFG_BOOL("enabled", cfg_true, CFGF_NONE),
                                          CFG_STR("on_error", NULL, CFGF_NODEFAULT),
                                          CFG_INT("timeout_ms", 0, CFGF_NONE)};

#define RESERVED_COUNT (sizeof(reserved_opts) / sizeof(reserved_opts[0]))

static size_t option_count(const smf_module_t *d)
{
    size_t n = 0;
    if (d->options != NULL)
        while (d->options[n].name != NULL)
            n++;
    return n;
}

/* A string default may be written bare or quoted as in the file; the
 * quoted form ("\"/var/lib/clamav\"") is unquoted here. Unquoted copies
 * are kept for the life of the process, one per default string, so that
 * reloads do not grow the table. */
static const char *unquote_default(const char *dv)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        const char *from;
        char *to;
    } table[256];
    static size_t used;
    size_t n = dv ? strlen(dv) : 0;
    if (n < 2 || dv[0] != '"' || dv[n - 1] != '"')
        return dv;
    pthread_mutex_lock(&lock);
    const char *result = NULL;
    for (size_t i = 0; i < used && result == NULL; i++)
        if (table[i].from == dv)
            result = table[i].to;
    if (result == NULL) {
        char *s = xmalloc(n), *w = s;
        for (size_t i = 1; i + 1 < n; i++) {
            if (dv[i] == '\\' && i + 2 < n)
                i++;
            *w++ = dv[i];
        }
        *w = '\0';
        if (used < sizeof(table) / sizeof(table[0]))
            table[used++] = (typeof(table[0])){dv, s};
        result = s;
    }
    pthread_mutex_unlock(&lock);
    return result;
}

static cfg_opt_t option_to_cfg(const smf_option_t *o)
{
    const char *dv =
        o->type == SMF_OPT_STRING ? unquote_default(o->default_value) : o->default_value;
    switch (o->type) {
    /* modload_open() refused any default that does not parse, so the
     * values read here are the ones the module's author wrote. */
    case SMF_OPT_BOOL: {
        int b;
        modload_default_bool(dv, &b);
        cfg_opt_t c = CFG_BOOL(o->name, b ? cfg_true : cfg_false, CFGF_NONE);
        return c;
    }
    case SMF_OPT_INT: {
        long i;
        modload_default_int(dv, &i);
        cfg_opt_t c = CFG_INT(o->name, i, CFGF_NONE);
        return c;
    }
    case SMF_OPT_FLOAT: {
        double f;
        modload_default_float(dv, &f);
        cfg_opt_t c = CFG_FLOAT_CB(o->name, f, CFGF_NONE, finite_float);
        return c;
    }
    case SMF_OPT_STRING: {
        cfg_opt_t c = CFG_STR(o->name, (char *)dv, CFGF_NONE);
        return c;
    }
    case SMF_OPT_LIST:
    default: {
        cfg_opt_t c = CFG_STR_LIST(o->name, (char *)(dv ? dv : "{}"), CFGF_NONE);
        return c;
    }
    }
}

/* The option table of one module's section: reserved settings first. */
static cfg_opt_t *module_opts(const smf_module_t *d, bool with_reserved)
{
    size_t n = option_count(d), k = 0;
    cfg_opt_t *opts = xcalloc(RESERVED_COUNT + n + 1, sizeof(cfg_opt_t));
    if (with_reserved)
        for (; k < RESERVED_COUNT; k++)
            opts[k] = reserved_opts[k];
    for (size_t i = 0; i < n; i++)
        opts[k++] = option_to_cfg(&d->options[i]);
    cfg_opt_t end = CFG_END();
    opts[k] = end;
    return opts;
}

/* Copies the values libconfuse parsed into the module's own struct. */
static void *fill_module_conf(const smf_module_t *d, cfg_t *sec, arena_t *mem)
{
    if (d->conf_size == 0)
        return NULL;
    unsigned char *conf = arena_calloc(mem, 1, d->conf_size);
    for (const smf_option_t *o = d->options; o != NULL && o->name != NULL; o++) {
        void *at = conf + o->offset;
        switch (o->type) {
        case SMF_OPT_BOOL:
            *(int *)at = cfg_getbool(sec, o->name) ? 1 : 0;
            break;
        case SMF_OPT_INT:
            *(long *)at = cfg_getint(sec, o->name);
            break;
        case SMF_OPT_FLOAT:
            *(double *)at = cfg_getfloat(sec, o->name);
            break;
        case SMF_OPT_STRING: {
            const char *s = cfg_getstr(sec, o->name);
            *(const char **)at = s ? arena_strdup(mem, s) : NULL;
            break;
        }
        case SMF_OPT_LIST: {
            unsigned n = cfg_size(sec, o->name);
            const char **list = arena_calloc(mem, n + 1, sizeof(char *));
            for (unsigned i = 0; i < n; i++)
                list[i] = arena_strdup(mem, cfg_getnstr(sec, o->name, i));
            *(const char ***)at = list;
            break;
        }
        }
    }
    return conf;
}

int config_module_options(const smf_module_t *d, const char *text, arena_t *mem, void **conf,
                          char *err, size_t errlen)
{
    cfg_opt_t *opts = module_opts(d, false);
    cfg_t *cfg = cfg_init(opts, CFGF_NONE);
    cfg_set_error_function(cfg, capture_error);
    cfg_errbuf[0] = '\0';
    int rc = cfg_parse_buf(cfg, text);
    if (rc != CFG_SUCCESS) {
        errbuf_fail(err, errlen, "module %s options: %s", d->name,
                    cfg_errbuf[0] ? cfg_errbuf : "cannot parse");
        cfg_free(cfg);
        free(opts);
        return -1;
    }
    *conf = fill_module_conf(d, cfg, mem);
    cfg_free(cfg);
    free(opts);
    return 0;
}

/* ---- overrides (-o name=value) ------------------------------------ */

static const cfg_opt_t *core_opt(const char *name)
{
    for (size_t i = 0; i < CORE_OPT_COUNT; i++)
        if (strcmp(core_opts[i].name, name) == 0)
            return &core_opts[i];
    return NULL;
}

static bool is_path_setting(const char *name)
{
    for (size_t i = 0; i < sizeof(path_settings) / sizeof(path_settings[0]); i++)
        if (strcmp(path_settings[i], name) == 0)
            return true;
    return false;
}

static void append_quoted(char *out, size_t outlen, const char *v)
{
    size_t n = strlen(out);
    if (n + 1 < outlen)
        out[n++] = '"';
    for (; *v && n + 3 < outlen; v++) {
        if (*v == '"' || *v == '\\')
            out[n++] = '\\';
        out[n++] = *v;
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* A relative path given on the command line is relative to the current
 * directory, as a shell user expects: made absolute into buf. */
static const char *absolute_path(const char *value, char *buf, size_t buflen)
{
    char cwd[PATH_MAX];
    if (value[0] == '/' || value[0] == '"')
        return value;
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    int n = snprintf(buf, buflen, "%s/%s", cwd, value);
    return n > 0 && (size_t)n < buflen ? buf : NULL;
}

/* "a, b" -> {"a", "b"}: each item of a list setting quoted as one string,
 * not the whole value as a single item. */
static int append_list(char *line, size_t linelen, const char *value, bool paths)
{
    char item[PATH_MAX], abs[2 * PATH_MAX];
    strncat(line, "{", linelen - strlen(line) - 1);
    for (const char *p = value; *p != '\0';) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n >= sizeof(item))
            return -1;
        /* An item may come quoted already, as in the file: "a", "b". */
        if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
            p++;
            n -= 2;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        const char *v = paths ? absolute_path(item, abs, sizeof(abs)) : item;
        if (v == NULL)
            return -1;
        if (line[strlen(line) - 1] != '{')
            strncat(line, ", ", linelen - strlen(line) - 1);
        append_quoted(line, linelen, v);
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    strncat(line, "}", linelen - strlen(line) - 1);
    return 0;
}

/* Turns "name=value" into a line libconfuse parses. */
static int override_line(const char *ov, char *line, size_t linelen, char *err, size_t errlen)
{
    const char *eq = strchr(ov, '=');
    if (eq == NULL || eq == ov)
        return errbuf_fail(err, errlen, "-o %s: expected name=value", ov);
    char name[64];
    size_t nl = (size_t)(eq - ov);
    if (nl >= sizeof(name))
        return errbuf_fail(err, errlen, "-o %s: setting name too long", ov);
    memcpy(name, ov, nl);
    name[nl] = '\0';
    const cfg_opt_t *o = core_opt(name);
    if (o == NULL || o->type == CFGT_SEC)
        return errbuf_fail(err, errlen,
                           "-o %s: '%s' is not a top-level setting (module options belong in the "
                           "configuration file)",
                           ov, name);
    const char *value = eq + 1;
    char abs[2 * PATH_MAX];
    snprintf(line, linelen, "%s = ", name);
    /* A list written as libconfuse writes it ({"a", "b"}) goes in as it is. */
    if (o->type == CFGT_STR && o->flags & CFGF_LIST && value[0] != '{') {
        if (append_list(line, linelen, value, is_path_setting(name)) != 0)
            return errbuf_fail(err, errlen, "-o %s: an item is too long", ov);
        return 0;
    }
    if (is_path_setting(name) && (value = absolute_path(value, abs, sizeof(abs))) == NULL)
        return errbuf_fail(err, errlen, "-o %s: cannot read the current directory", ov);
    if (o->type == CFGT_STR && value[0] != '"' && !(o->flags & CFGF_LIST))
        append_quoted(line, linelen, value);
    else
        snprintf(line + strlen(line), linelen - strlen(line), "%s", value);
    return 0;
}

static int apply_overrides(cfg_t *cfg, char *const *ov, size_t nov, char *err, size_t errlen)
{
    for (size_t i = 0; i < nov; i++) {
        char line[PATH_MAX * 2];
        if (override_line(ov[i], line, sizeof(line), err, errlen) != 0)
            return -1;
        cfg_errbuf[0] = '\0';
        if (cfg_parse_buf(cfg, line) != CFG_SUCCESS)
            return errbuf_fail(err, errlen, "-o %s: %s", ov[i], cfg_errbuf);
    }
    return 0;
}

/* ---- loading ------------------------------------------------------ */

/*
 * The first pass does not know the modules' option tables yet, and
 * libconfuse cannot skip an unknown section reliably. So the names of the
 * top-level sections are found first with a small scan (strings and
 * comments skipped), and each is given an empty table whose options pass
 * one ignores.
 */
static size_t section_names(const char *text, char names[][64], size_t max)
{
    size_t n = 0;
    int depth = 0;
    char word[64];
    size_t wl = 0;
    bool word_done = false;
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\'') {
            char q = *p;
            for (p++; *p && *p != q; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                break;
            wl = 0;
            continue;
        }
        if (*p == '#' || (*p == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                p++;
            if (!*p)
                break;
            continue;
        }
        if (*p == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (end == NULL)
                break;
            p = end + 1;
            continue;
        }
        if (isalnum((unsigned char)*p) || *p == '_' || *p == '-') {
            if (word_done)
                wl = 0;
            word_done = false;
            if (wl < sizeof(word) - 1)
                word[wl++] = *p;
            continue;
        }
        if (wl > 0)
            word_done = true;
        if (*p == '{') {
            if (depth == 0 && wl > 0 && n < max) {
                memcpy(names[n], word, wl);
                names[n++][wl] = '\0';
            }
            depth++;
            wl = 0;
        } else if (*p == '}') {
            depth--;
            wl = 0;
        } else if (*p == '=' || *p == ',' || *p == '(' || *p == ')') {
            wl = 0;
        }
    }
    return n;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 8192, n = 0, r;
    char *buf = xmalloc(cap);
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Core options plus an empty section for every other top-level section. */
static cfg_opt_t *pass1_opts(const char *path)
{
    static cfg_opt_t empty[] = {CFG_END()};
    char names[128][64];
    char *text = read_text(path);
    size_t n = text ? section_names(text, names, 128) : 0;
    free(text);
    cfg_opt_t *opts = xcalloc(CORE_OPT_COUNT + n + 1, sizeof(cfg_opt_t));
    memcpy(opts, core_opts, CORE_OPT_COUNT * sizeof(cfg_opt_t));
    size_t k = CORE_OPT_COUNT;
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < k && !known; j++)
            known = strcmp(opts[j].name, names[i]) == 0;
        if (known)
            continue;
        cfg_opt_t sec = CFG_SEC(xstrdup(names[i]), empty, CFGF_MULTI);
        opts[k++] = sec;
    }
    cfg_opt_t end = CFG_END();
    opts[k] = end;
    return opts;
}

static void free_pass1_opts(cfg_opt_t *opts)
{
    for (size_t i = CORE_OPT_COUNT; opts != NULL && opts[i].name != NULL; i++)
        free((char *)opts[i].name);
    free(opts);
}

/* Whether the file ends inside a section, which libconfuse accepts as if
 * the file's end closed it: settings meant for the top level would then
 * silently belong to the section. */
static bool unclosed_section(const char *path, char *err, size_t errlen)
{
    char open[160];
    int line = confline_unclosed(path, open, sizeof(open));
    if (line == 0)
        return false;
    errbuf_fail(err, errlen,
                "%s:%d: the section opened here (`%s`) is never closed; a `}` is missing there or "
                "in a section inside it",
                path, line, open);
    return true;
}

static cfg_t *parse_file(cfg_opt_t *opts, int flags, const char *path, char *const *ov, size_t nov,
                         char *err, size_t errlen)
{
    static pthread_once_t measured = PTHREAD_ONCE_INIT;
    pthread_once(&measured, measure_comment_lines);
    cfg_t *cfg = cfg_init(opts, flags);
    cfg_set_error_function(cfg, capture_error);
    cfg_errbuf[0] = '\0';
    cfg_root = cfg;
    int rc = cfg_parse(cfg, path);
    cfg_root = NULL;
    if (rc == CFG_FILE_ERROR) {
        errbuf_fail(err, errlen, "cannot read configuration %s: %s", path, strerror(errno));
    } else if (rc != CFG_SUCCESS) {
        errbuf_fail(err, errlen, "%s", cfg_errbuf[0] ? cfg_errbuf : "configuration parse error");
    } else if (unclosed_section(path, err, errlen)) {
        /* libconfuse takes the end of the file for the missing `}`. */
    } else if (apply_overrides(cfg, ov, nov, err, errlen) == 0) {
        return cfg;
    }
    cfg_free(cfg);
    return NULL;
}

/* A relative path in the file is relative to the file's directory. */
static const char *resolve_path(config_t *c, const char *p)
{
    if (p[0] == '/' || strstr(p, "://") != NULL)
        return arena_strdup(c->mem, p);
    return arena_printf(c->mem, "%s/%s", c->dir, p);
}

/* Endpoints like ipc://relative/path resolve too, for the same reason. */
static const char *resolve_endpoint(config_t *c, const char *e)
{
    if (strncmp(e, "ipc://", 6) == 0 && e[6] != '/' && e[6] != '\0')
        return arena_printf(c->mem, "ipc://%s/%s", c->dir, e + 6);
    return arena_strdup(c->mem, e);
}

/* Retention, store size and the paths whose change triggers a reload. */
static int read_quarantine(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    long days = cfg_getint(cfg, "quarantine_retention_days");
    long map = cfg_getint(cfg, "quarantine_map_size");
    if (days < 0 || days > 36500)
        return errbuf_fail(err, errlen,
                           "%s: quarantine_retention_days = %ld: expected 0 (keep forever) to "
                           "36500",
                           c->path, days);
    if (map < 65536)
        return errbuf_fail(err, errlen,
                           "%s: quarantine_map_size = %ld: expected at least 65536 bytes", c->path,
                           map);
    c->quarantine_retention_days = days;
    c->quarantine_map_size = (size_t)map;
    unsigned n = cfg_size(cfg, "reload_watch");
    c->nreload_watch = n;
    c->reload_watch = arena_calloc(c->mem, n + 1, sizeof(char *));
    for (unsigned i = 0; i < n; i++) {
        const char *p = cfg_getnstr(cfg, "reload_watch", i);
        if (p == NULL || p[0] == '\0')
            return errbuf_fail(err, errlen, "%s: reload_watch: an empty path", c->path);
        c->reload_watch[i] = resolve_path(c, p);
    }
    return 0;
}

static int read_curve(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    const char *secret = cfg_getstr(cfg, "curve_secret_key_file");
    const char *clients = cfg_getstr(cfg, "curve_clients_file");
    char why[1024];
    if (curve_load(&c->curve, c->mem, secret && *secret ? resolve_path(c, secret) : NULL,
                   clients && *clients ? resolve_path(c, clients) : NULL, why, sizeof(why)) != 0)
        return errbuf_fail(err, errlen, "%s: %s", c->path, why);
    return 0;
}

/* The user to run as is looked up now, so that `smfd -t` and a reload
 * refuse a name the system does not know, before anything depends on it. */
static int read_user(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    const char *name = cfg_getstr(cfg, "user");
    c->user.name = arena_strdup(c->mem, name != NULL ? name : "");
    if (c->user.name[0] == '\0')
        return 0;
    char why[512];
    if (privdrop_lookup(c->user.name, &c->user.uid, &c->user.gid, why, sizeof(why)) != 0)
        return errbuf_fail(err, errlen, "%s: %s", c->path, why);
    return 0;
}

static int read_core(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    c->listen = resolve_endpoint(c, cfg_getstr(cfg, "listen"));
    c->publish = resolve_endpoint(c, cfg_getstr(cfg, "publish"));
    c->data_dir = resolve_path(c, cfg_getstr(cfg, "data_dir"));
    c->quarantine_dir = resolve_path(c, cfg_getstr(cfg, "quarantine_dir"));
    c->module_dir = resolve_path(c, cfg_getstr(cfg, "module_dir"));
    c->workers = cfg_getint(cfg, "workers");
    if (c->workers < 0 || c->workers > 256)
        return errbuf_fail(err, errlen, "%s: workers = %ld: expected 0 (one per core) to 256",
                           c->path, c->workers);
    if (read_user(c, cfg, err, errlen) != 0)
        return -1;
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? n : 1;
    }
    c->log_level = log_level_parse(cfg_getstr(cfg, "log_level"));
    if (c->log_level < 0)
        return errbuf_fail(err, errlen,
                           "%s: log_level = \"%s\": expected error, warning, info or debug",
                           c->path, cfg_getstr(cfg, "log_level"));
    long size = cfg_getint(cfg, "max_message_size");
    long depth = cfg_getint(cfg, "max_mime_depth");
    long parts = cfg_getint(cfg, "max_mime_parts");
    long arena = cfg_getint(cfg, "message_arena_limit");
    long timeout = cfg_getint(cfg, "default_timeout");
    if (size < 1024 || depth < 1 || depth > 1000 || parts < 1 || arena < 65536 || timeout < 100)
        return errbuf_fail(
            err, errlen,
            "%s: a limit is out of range (max_message_size >= 1024, max_mime_depth 1..1000, "
            "max_mime_parts >= 1, message_arena_limit >= 65536, default_timeout >= 100 ms)",
            c->path);
    c->limits.max_size = (size_t)size;
    c->limits.max_depth = (unsigned)depth;
    c->limits.max_parts = (size_t)parts;
    c->arena_limit = (size_t)arena;
    c->default_timeout_ms = timeout;
    long queued = cfg_getint(cfg, "max_queued");
    long queued_size = cfg_getint(cfg, "max_queued_size");
    if (queued < 0 || queued > 1000000 || queued_size < 0)
        return errbuf_fail(err, errlen,
                           "%s: max_queued = %ld, max_queued_size = %ld: expected 0 to 1000000 "
                           "requests and a size of 0 or more bytes",
                           c->path, queued, queued_size);
    c->max_queued = (size_t)queued;
    c->max_queued_size = (size_t)queued_size;
    if (read_curve(c, cfg, err, errlen) != 0)
        return -1;
    c->autolearn = cfg_getbool(cfg, "autolearn");
    c->autolearn_spam_score = cfg_getfloat(cfg, "autolearn_spam_score");
    c->autolearn_ham_score = cfg_getfloat(cfg, "autolearn_ham_score");
    long refit = cfg_getint(cfg, "autolearn_refit_interval");
    if (refit < 0 || refit > 30L * 86400)
        return errbuf_fail(err, errlen,
                           "%s: autolearn_refit_interval = %ld: expected seconds from 0 (never) "
                           "to 2592000 (30 days)",
                           c->path, refit);
    c->autolearn_refit_s = refit;
    if (c->autolearn && c->autolearn_ham_score >= c->autolearn_spam_score)
        return errbuf_fail(err, errlen,
                           "%s: autolearn_ham_score (%g) must be below autolearn_spam_score (%g)",
                           c->path, c->autolearn_ham_score, c->autolearn_spam_score);
    return read_quarantine(c, cfg, err, errlen);
}

static int open_modules(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    unsigned n = cfg_size(cfg, "modules");
    c->nmodules = n;
    c->modules = arena_calloc(c->mem, n ? n : 1, sizeof(module_conf_t));
    for (unsigned i = 0; i < n; i++) {
        const char *name = cfg_getnstr(cfg, "modules", i);
        /* A bare name is NAME.so in module_dir; a file name ("lotto.so") or
         * anything with a slash is a path, relative to this file's folder. */
        size_t len = strlen(name);
        bool bare = strchr(name, '/') == NULL && !(len > 3 && strcmp(name + len - 3, ".so") == 0);
        const char *path =
            bare ? arena_printf(c->mem, "%s/%s.so", c->module_dir, name) : resolve_path(c, name);
        if (modload_open(path, &c->modules[i].lib, err, errlen) != 0)
            return -1;
        const smf_module_t *d = c->modules[i].lib.desc;
        if (bare && strcmp(d->name, name) != 0)
            return errbuf_fail(
                err, errlen,
                "%s: modules: '%s' loads %s, which calls itself '%s'; list it by that name",
                c->path, name, path, d->name);
        for (unsigned j = 0; j < i; j++)
            if (strcmp(c->modules[j].name, d->name) == 0)
                return errbuf_fail(err, errlen, "%s: modules: '%s' is listed twice", c->path,
                                   d->name);
        c->modules[i].name = d->name;
        c->modules[i].hard = d->kind == SMF_KIND_ANTIVIRUS;
    }
    return 0;
}

/* The whole option table: the core's settings plus one section per module. */
static cfg_opt_t *full_opts(config_t *c, cfg_opt_t ***modopts)
{
    cfg_opt_t *opts = xcalloc(CORE_OPT_COUNT + c->nmodules + 1, sizeof(cfg_opt_t));
    memcpy(opts, core_opts, CORE_OPT_COUNT * sizeof(cfg_opt_t));
    *modopts = xcalloc(c->nmodules + 1, sizeof(cfg_opt_t *));
    for (size_t i = 0; i < c->nmodules; i++) {
        (*modopts)[i] = module_opts(c->modules[i].lib.desc, true);
        cfg_opt_t sec = CFG_SEC(c->modules[i].name, (*modopts)[i], CFGF_NONE);
        opts[CORE_OPT_COUNT + i] = sec;
    }
    cfg_opt_t end = CFG_END();
    opts[CORE_OPT_COUNT + c->nmodules] = end;
    return opts;
}

static int read_module_sections(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->nmodules; i++) {
        module_conf_t *m = &c->modules[i];
        cfg_t *sec = cfg_getsec(cfg, m->name);
        m->enabled = cfg_getbool(sec, "enabled");
        m->on_error = m->hard ? ACTION_TEMPFAIL : ACTION_ACCEPT;
        if (cfg_size(sec, "on_error") > 0) {
            const char *oe = cfg_getstr(sec, "on_error");
            int a = action_parse(oe);
            if (a != ACTION_ACCEPT && a != ACTION_TEMPFAIL)
                return errbuf_fail(err, errlen,
                                   "%s: %s: on_error = \"%s\": expected accept or tempfail",
                                   c->path, m->name, oe);
            if (m->hard && a != ACTION_TEMPFAIL)
                return errbuf_fail(
                    err, errlen,
                    "%s: %s: on_error = %s: an antivirus stage fails closed, its errors "
                    "always give tempfail",
                    c->path, m->name, oe);
            m->on_error = (action_t)a;
        }
        m->timeout_ms = cfg_getint(sec, "timeout_ms");
        if (m->hard && !m->enabled)
            return errbuf_fail(err, errlen,
                               "%s: %s: enabled = false: '%s' is an antivirus stage and cannot be "
                               "disabled; remove it from 'modules' to run without virus scanning",
                               c->path, m->name, m->name);
        m->conf = fill_module_conf(m->lib.desc, sec, c->mem);
    }
    return 0;
}

/* ---- policies ----------------------------------------------------- */

static int module_index(const config_t *c, const char *name)
{
    for (size_t i = 0; i < c->nmodules; i++)
        if (strcmp(c->modules[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int read_action(config_t *c, cfg_t *sec, const char *field, const char *where, action_t *out,
                       unsigned allowed, char *err, size_t errlen)
{
    if (cfg_size(sec, field) == 0)
        return 0;
    const char *v = cfg_getstr(sec, field);
    int a = action_parse(v);
    if (a < 0 || !(allowed & (1u << a))) {
        char list[128] = "";
        for (int i = 0; i < ACTION_COUNT; i++)
            if (allowed & (1u << i))
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         list[0] ? ", " : "", action_name((action_t)i));
        return errbuf_fail(err, errlen, "%s: %s: %s = \"%s\": expected one of %s", c->path, where,
                           field, v, list);
    }
    *out = (action_t)a;
    return 0;
}

#define A(x) (1u << (x))

static int read_rules(config_t *c, cfg_t *sec, const char *where, policy_dir_t *d, char *err,
                      size_t errlen)
{
    policy_rules_t *r = &d->rules;
    if (cfg_size(sec, "add_header_score") > 0)
        r->add_header_score = cfg_getfloat(sec, "add_header_score");
    if (cfg_size(sec, "quarantine_score") > 0)
        r->quarantine_score = cfg_getfloat(sec, "quarantine_score");
    if (cfg_size(sec, "reject_score") > 0)
        r->reject_score = cfg_getfloat(sec, "reject_score");
    if (cfg_size(sec, "reject_text") > 0)
        d->reject_text = arena_strdup(c->mem, cfg_getstr(sec, "reject_text"));
    if (read_action(c, sec, "virus_action", where, &r->virus_action,
                    A(ACTION_QUARANTINE) | A(ACTION_REJECT), err, errlen) != 0 ||
        read_action(c, sec, "unscannable_action", where, &r->unscannable_action,
                    A(ACTION_QUARANTINE) | A(ACTION_TEMPFAIL) | A(ACTION_REJECT), err,
                    errlen) != 0 ||
        read_action(c, sec, "block_action", where, &r->block_action,
                    A(ACTION_QUARANTINE) | A(ACTION_TEMPFAIL) | A(ACTION_REJECT), err,
                    errlen) != 0 ||
        read_action(c, sec, "spam_action", where, &r->spam_action,
                    A(ACTION_ADD_HEADER) | A(ACTION_QUARANTINE) | A(ACTION_REJECT), err,
                    errlen) != 0)
        return -1;
    return 0;
}

/* Checks the rules that make antivirus stages non-overridable. */
static int check_stages(config_t *c, const char *where, const policy_dir_t *d, char *err,
                        size_t errlen)
{
    for (size_t m = 0; m < c->nmodules; m++) {
        if (!c->modules[m].hard)
            continue;
        size_t pos = SIZE_MAX;
        for (size_t i = 0; i < d->nstages; i++)
            if (d->stages[i] == m)
                pos = i;
        if (pos == SIZE_MAX)
            return errbuf_fail(
                err, errlen,
                "%s: %s: stages leaves out '%s', an antivirus stage; antivirus stages "
                "cannot be skipped by any policy",
                c->path, where, c->modules[m].name);
        for (size_t i = 0; i < pos; i++) {
            const module_conf_t *before = &c->modules[d->stages[i]];
            if (before->lib.desc->kind == SMF_KIND_LIST)
                return errbuf_fail(
                    err, errlen,
                    "%s: %s: stages puts '%s' (an antivirus stage) after '%s' (a list "
                    "stage that can whitelist); antivirus stages must come first",
                    c->path, where, c->modules[m].name, before->name);
        }
    }
    return 0;
}

static int read_stages(config_t *c, cfg_t *sec, const char *where, policy_dir_t *d, char *err,
                       size_t errlen)
{
    if (cfg_size(sec, "stages") == 0)
        return check_stages(c, where, d, err, errlen);
    unsigned n = cfg_size(sec, "stages");
    d->stages = arena_calloc(c->mem, n ? n : 1, sizeof(size_t));
    d->nstages = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *name = cfg_getnstr(sec, "stages", i);
        int m = module_index(c, name);
        if (m < 0)
            return errbuf_fail(err, errlen,
                               "%s: %s: stage '%s' is not a loaded module (see 'modules')", c->path,
                               where, name);
        for (size_t j = 0; j < d->nstages; j++)
            if (d->stages[j] == (size_t)m)
                return errbuf_fail(err, errlen, "%s: %s: stage '%s' is listed twice", c->path,
                                   where, name);
        /* Toggling a module off in its section takes it out of every
         * pipeline without editing them. */
        if (c->modules[m].enabled)
            d->stages[d->nstages++] = (size_t)m;
    }
    return check_stages(c, where, d, err, errlen);
}

static void default_stages(config_t *c, policy_dir_t *d)
{
    d->stages = arena_calloc(c->mem, c->nmodules ? c->nmodules : 1, sizeof(size_t));
    d->nstages = 0;
    for (size_t i = 0; i < c->nmodules; i++)
        if (c->modules[i].enabled)
            d->stages[d->nstages++] = i;
}

/* The release target, inherited from the default policy; checked here so
 * that a typo is a configuration error, not a failed release later. */
static int read_delivery(config_t *c, cfg_t *psec, const policy_t *base, policy_t *out, char *err,
                         size_t errlen)
{
    out->delivery = base->delivery;
    if (psec == NULL || cfg_size(psec, "delivery") == 0)
        return 0;
    const char *d = cfg_getstr(psec, "delivery");
    char host[SMTP_HOST_MAX], port[8], why[512];
    if (smtp_target_parse(d, host, port, why, sizeof(why)) != 0)
        return errbuf_fail(err, errlen, "%s: policy %s: delivery: %s", c->path, out->domain, why);
    out->delivery = arena_strdup(c->mem, d);
    return 0;
}

static int read_policy(config_t *c, cfg_t *psec, const policy_t *base, policy_t *out, char *err,
                       size_t errlen)
{
    static const char *const dirs[2] = {"inbound", "outbound"};
    if (read_delivery(c, psec, base, out, err, errlen) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        out->dir[i] = base->dir[i];
        if (psec == NULL)
            continue;
        char *where = arena_printf(c->mem, "policy %s %s", out->domain, dirs[i]);
        cfg_t *sec = cfg_getsec(psec, dirs[i]);
        if (read_rules(c, sec, where, &out->dir[i], err, errlen) != 0 ||
            read_stages(c, sec, where, &out->dir[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* A policy's domain as recipients' domains are matched against it: lower
 * case, no trailing dot, an A-label for a name in another script. */
static const char *policy_domain(config_t *c, const char *title)
{
    size_t n = strlen(title);
    char name[1024];
    long len = idna_domain(title, n, name, sizeof(name));
    if (len >= 0)
        return arena_strndup(c->mem, name, (size_t)len);
    if (n > 1 && title[n - 1] == '.')
        n--;
    char *domain = arena_strndup(c->mem, title, n);
    lower(domain);
    return domain;
}

static int read_policies(config_t *c, cfg_t *cfg, char *err, size_t errlen)
{
    policy_t base = {.domain = "default", .delivery = DEFAULT_DELIVERY};
    for (int i = 0; i < 2; i++) {
        policy_rules_default(&base.dir[i].rules, i == SMF_DIR_OUTBOUND);
        base.dir[i].reject_text = "Message rejected as spam";
        default_stages(c, &base.dir[i]);
    }
    c->defpol.domain = "default";
    if (read_policy(c, cfg_gettsec(cfg, "policy", "default"), &base, &c->defpol, err, errlen) != 0)
        return -1;
    unsigned n = cfg_size(cfg, "policy");
    c->policies = arena_calloc(c->mem, n ? n : 1, sizeof(policy_t));
    for (unsigned i = 0; i < n; i++) {
        cfg_t *psec = cfg_getnsec(cfg, "policy", i);
        if (strcmp(cfg_title(psec), "default") == 0)
            continue;
        policy_t *p = &c->policies[c->npolicies++];
        p->domain = policy_domain(c, cfg_title(psec));
        /* Two spellings of one domain would leave the second never used. */
        for (size_t k = 0; k + 1 < c->npolicies; k++)
            if (strcmp(c->policies[k].domain, p->domain) == 0)
                return errbuf_fail(err, errlen,
                                   "policy \"%s\": domain %s has a policy already; one "
                                   "domain, one policy (names are matched in any case, without "
                                   "a trailing dot, in another script as their A-label)",
                                   cfg_title(psec), p->domain);
        if (read_policy(c, psec, &c->defpol, p, err, errlen) != 0)
            return -1;
    }
    return 0;
}

const policy_t *config_policy(const config_t *c, const char *domain)
{
    for (size_t i = 0; i < c->npolicies; i++)
        if (strcmp(c->policies[i].domain, domain) == 0)
            return &c->policies[i];
    return &c->defpol;
}

/* ---- the whole file ----------------------------------------------- */

static void set_location(config_t *c, const char *path)
{
    char abs[PATH_MAX];
    if (realpath(path, abs) == NULL)
        snprintf(abs, sizeof(abs), "%s", path);
    c->path = arena_strdup(c->mem, abs);
    char *tmp = arena_strdup(c->mem, abs);
    c->dir = arena_strdup(c->mem, dirname(tmp));
}

static int load(const char *path, char *const *ov, size_t nov, bool with_modules, config_t **out,
                char *err, size_t errlen)
{
    config_t *c = xcalloc(1, sizeof(*c));
    c->mem = arena_new(8192);
    set_location(c, path);
    int rc = -1;
    cfg_opt_t *opts1 = pass1_opts(path);
    cfg_t *pass1 = parse_file(opts1, CFGF_IGNORE_UNKNOWN, path, ov, nov, err, errlen);
    cfg_opt_t *opts = NULL, **modopts = NULL;
    cfg_t *pass2 = NULL;
    if (pass1 == NULL || read_core(c, pass1, err, errlen) != 0)
        goto out;
    if (!with_modules) {
        rc = 0;
        goto out;
    }
    if (open_modules(c, pass1, err, errlen) != 0)
        goto out;
    opts = full_opts(c, &modopts);
    pass2 = parse_file(opts, CFGF_NONE, path, ov, nov, err, errlen);
    if (pass2 == NULL || read_module_sections(c, pass2, err, errlen) != 0 ||
        read_policies(c, pass2, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    if (pass1 != NULL)
        cfg_free(pass1);
    if (pass2 != NULL)
        cfg_free(pass2);
    for (size_t i = 0; modopts != NULL && i < c->nmodules; i++)
        free(modopts[i]);
    free_pass1_opts(opts1);
    free(modopts);
    free(opts);
    if (rc != 0)
        config_free(&c);
    *out = c;
    return rc;
}

int config_load(const char *path, char *const *ov, size_t nov, config_t **out, char *err,
                size_t errlen)
{
    return load(path, ov, nov, true, out, err, errlen);
}

int config_load_core(const char *path, char *const *ov, size_t nov, config_t **out, char *err,
                     size_t errlen)
{
    return load(path, ov, nov, false, out, err, errlen);
}

void config_free(config_t **cp)
{
    config_t *c = *cp;
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nmodules; i++)
        modload_close(&c->modules[i].lib);
    arena_destroy(&c->mem);
    free(c);
    *cp = NULL;
}

static bool policy_runs(const policy_t *p, size_t mi)
{
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < p->dir[d].nstages; i++)
            if (p->dir[d].stages[i] == mi)
                return true;
    return false;
}

bool config_module_bool(const module_conf_t *m, const char *name, bool *value)
{
    for (const smf_option_t *o = m->lib.desc->options; o != NULL && o->name != NULL; o++) {
        if (o->type == SMF_OPT_BOOL && strcmp(o->name, name) == 0) {
            *value = *(const int *)((const char *)m->conf + o->offset) != 0;
            return true;
        }
    }
    return false;
}

bool config_module_staged(const config_t *c, size_t mi)
{
    if (policy_runs(&c->defpol, mi))
        return true;
    for (size_t i = 0; i < c->npolicies; i++)
        if (policy_runs(&c->policies[i], mi))
            return true;
    return false;
}
