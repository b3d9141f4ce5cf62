/*
 * list.c - `smfctl list`: adds, deletes, shows, imports and exports the
 * allow and block entries the lists module reads from its store, while
 * smfd runs. Each command is one LMDB write transaction, so an import is
 * seen whole or not at all; the key format is core/listkeys.c.
 */
#include "config.h"
#include "fsutil.h"
#include "listkeys.h"
#include "log.h"
#include "smfctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char smfctl_list_usage[] =
    "usage: smfctl list add [--scope S] --type T --action A [--auth|--noauth] VALUE...\n"
    "       smfctl list del [--scope S] --type T VALUE...\n"
    "       smfctl list show|export [--scope S] [--type T] [--action A] [FILE]\n"
    "       smfctl list import [--scope S --type T --action A] FILE|-\n"
    "  S: global, domain:D or user:ADDR; T: ip, sender, domain or helo; A: allow or block";

/* The summaries of the scopes touched in this transaction, written at commit. */
typedef struct list_meta {
    struct list_meta *next, *bucket_next;
    char scope[LISTKEY_SCOPE_MAX];
    listkey_meta_t m;
} list_meta_t;

/* Scopes by hash: an import may touch a hundred thousand user scopes. */
#define LIST_BUCKETS 65536

typedef struct list_ctx {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    list_meta_t *metas;
    list_meta_t **buckets;
    listkey_entry_t defaults; /* From --scope, --type, --action, --auth. */
    int has_scope, has_type, has_action, auth_set;
    size_t added, replaced, deleted, missing;
    const config_t *conf;
    size_t unprovable; /* Entries written that wait for proof never given. */
    char first_unprovable[LISTKEY_SCOPE_MAX + LISTKEY_VALUE_MAX +
                          16]; /* The first of them, to name in the warning. */
} list_ctx_t;

/* Opens data_dir/kv as smfd does (same environment, same named database). */
static int list_open(list_ctx_t *lc, const char *data_dir, int write)
{
    char dir[4200];
    int rc;

    snprintf(dir, sizeof(dir), "%s/kv", data_dir);
    if (fs_mkdirs(dir, 0700) != 0)
        return smfctl_fail(1, "cannot create %s: %s", dir, strerror(errno));
    rc = mdb_env_create(&lc->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(lc->env, 256);
    if (rc == 0)
        rc = mdb_env_set_mapsize(lc->env, (size_t)4 << 30);
    if (rc == 0)
        rc = mdb_env_open(lc->env, dir, MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(lc->env, NULL, write ? 0 : MDB_RDONLY, &lc->txn);
    if (rc == 0)
        rc = mdb_dbi_open(lc->txn, LISTKEY_NAMESPACE, write ? MDB_CREATE : 0, &lc->dbi);
    if (rc == MDB_NOTFOUND && !write)
        return -2; /* No list was ever written: nothing to show. */
    if (rc != 0)
        return smfctl_fail(1, "cannot open the key-value store in %s: %s", dir, mdb_strerror(rc));
    return 0;
}

static void list_close(list_ctx_t *lc)
{
    if (lc->txn != NULL)
        mdb_txn_abort(lc->txn);
    if (lc->env != NULL)
        mdb_env_close(lc->env);
    while (lc->metas != NULL) {
        list_meta_t *next = lc->metas->next;
        free(lc->metas);
        lc->metas = next;
    }
    free(lc->buckets);
}

/* Whether the store in data_dir (arg) opens for reading: 0 or an exit status. */
static int list_opens(void *arg)
{
    list_ctx_t lc = {0};
    int rc = list_open(&lc, arg, 0);
    list_close(&lc);
    return rc == -2 ? 0 : rc;
}

static size_t list_hash(const char *s)
{
    size_t h = 2166136261u;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % LIST_BUCKETS;
}

/* The summary of a scope, read from the store the first time it is needed. */
static listkey_meta_t *list_meta(list_ctx_t *lc, const char *scope)
{
    uint8_t key[LISTKEY_MAX];
    MDB_val k = {listkey_meta_key(scope, key), key}, v = {0, NULL};
    size_t b = list_hash(scope);
    list_meta_t *lm;

    if (lc->buckets == NULL && (lc->buckets = calloc(LIST_BUCKETS, sizeof(*lc->buckets))) == NULL)
        return NULL;
    for (lm = lc->buckets[b]; lm != NULL; lm = lm->bucket_next) {
        if (strcmp(lm->scope, scope) == 0)
            return &lm->m;
    }
    if ((lm = calloc(1, sizeof(*lm))) == NULL)
        return NULL;
    snprintf(lm->scope, sizeof(lm->scope), "%s", scope);
    if (mdb_get(lc->txn, lc->dbi, &k, &v) != 0)
        v.mv_size = 0;
    listkey_meta_decode(v.mv_data, v.mv_size, &lm->m);
    lm->next = lc->metas;
    lc->metas = lm;
    lm->bucket_next = lc->buckets[b];
    lc->buckets[b] = lm;
    return &lm->m;
}

/* Writes the summaries back (deleting empty ones) and commits. */
static int list_commit(list_ctx_t *lc)
{
    int rc = 0;

    for (list_meta_t *lm = lc->metas; lm != NULL && rc == 0; lm = lm->next) {
        uint8_t key[LISTKEY_MAX];
        MDB_val k = {listkey_meta_key(lm->scope, key), key}, v = {sizeof(lm->m), &lm->m};
        uint32_t total = 0;
        for (int t = 0; t < LISTKEY_TYPES; t++)
            total += lm->m.types[t];
        rc = total > 0 ? mdb_put(lc->txn, lc->dbi, &k, &v, 0) : mdb_del(lc->txn, lc->dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0)
        rc = mdb_txn_commit(lc->txn);
    else
        mdb_txn_abort(lc->txn);
    lc->txn = NULL;
    if (rc != 0)
        return smfctl_fail(1, "cannot write the lists: %s", mdb_strerror(rc));
    return 0;
}

/* ---- authenticated entries that cannot apply ---------------------------- */

static const module_conf_t *enabled_module(const config_t *c, const char *name, size_t *index)
{
    for (size_t i = 0; i < c->nmodules; i++) {
        if (c->modules[i].enabled && strcmp(c->modules[i].name, name) == 0) {
            if (index != NULL)
                *index = i;
            return &c->modules[i];
        }
    }
    return NULL;
}

/* The lists module's trusted_authserv_id, read through its option table. */
static const char *trusted_authserv_id(const module_conf_t *lists)
{
    for (const smf_option_t *o = lists->lib.desc->options; o != NULL && o->name != NULL; o++)
        if (o->type == SMF_OPT_STRING && strcmp(o->name, "trusted_authserv_id") == 0)
            return *(const char *const *)((const char *)lists->conf + o->offset);
    return NULL;
}

/* Whether a policy runs the auth stage before the lists stage, either way. */
static bool auth_before_lists(const policy_t *p, size_t auth, size_t lists)
{
    for (int d = 0; d < 2; d++) {
        const policy_dir_t *dir = &p->dir[d];
        for (size_t i = 0; i < dir->nstages && dir->stages[i] != lists; i++)
            if (dir->stages[i] == auth)
                return true;
    }
    return false;
}

/* The recipient domain a scope belongs to, or NULL for global. */
static const char *scope_domain(const char *scope)
{
    if (strncmp(scope, "domain:", 7) == 0)
        return scope + 7;
    const char *at = strrchr(scope, '@');
    return strncmp(scope, "user:", 5) == 0 && at != NULL ? at + 1 : NULL;
}

/*
 * Whether the lists stage can ever see proof of a sender for mail in this
 * scope: from the auth stage running before it in a policy that applies
 * (any policy, for the global scope), or from Authentication-Results
 * headers of a trusted verifier. docs/lists.md explains both.
 */
static bool proof_possible(const config_t *c, const char *scope)
{
    size_t auth, lists;
    const module_conf_t *lm = enabled_module(c, "lists", &lists);
    if (lm == NULL)
        return true; /* No lists stage: whether entries apply is not this question. */
    const char *id = trusted_authserv_id(lm);
    if (id != NULL && id[0] != '\0')
        return true;
    if (enabled_module(c, "auth", &auth) == NULL)
        return false;
    const char *domain = scope_domain(scope);
    if (domain != NULL)
        return auth_before_lists(config_policy(c, domain), auth, lists);
    if (auth_before_lists(&c->defpol, auth, lists))
        return true;
    for (size_t i = 0; i < c->npolicies; i++)
        if (auth_before_lists(&c->policies[i], auth, lists))
            return true;
    return false;
}

/* Notes an allow entry that waits for proof of the sender no stage can give. */
static void check_provable(list_ctx_t *lc, const listkey_entry_t *e)
{
    if (!(e->flags & LISTKEY_AUTH) || !listkey_auth_default(e->type, e->action) ||
        lc->conf == NULL || proof_possible(lc->conf, e->scope))
        return;
    if (lc->unprovable++ == 0)
        snprintf(lc->first_unprovable, sizeof(lc->first_unprovable), "%s %s %s", e->scope,
                 listkey_type_name(e->type), e->value);
}

/* Written all the same (the configuration may change), but said plainly. */
static void warn_unprovable(const list_ctx_t *lc)
{
    if (lc->unprovable == 0)
        return;
    if (lc->unprovable == 1)
        fprintf(stderr, "smfctl: warning: the authenticated allow entry %s will never apply:\n",
                lc->first_unprovable);
    else
        fprintf(stderr,
                "smfctl: warning: %zu authenticated allow entries (the first: %s) will never "
                "apply:\n",
                lc->unprovable, lc->first_unprovable);
    fputs("  an allow entry for a sender or a domain needs SPF or DKIM to pass for the sender's\n"
          "  domain, but no auth stage runs before lists in the policy for its scope, and the\n"
          "  lists section sets no trusted_authserv_id. Add it with --noauth (in an import\n"
          "  file: noauth as the fifth word) to allow on the envelope alone, or put auth\n"
          "  before lists in the policy's stages, or set trusted_authserv_id (docs/lists.md,\n"
          "  \"Authenticated sender entries\").\n",
          stderr);
}

/* Puts one entry; a new key counts in its scope's summary, an old one is replaced. */
static int list_put(list_ctx_t *lc, listkey_entry_t *e)
{
    uint8_t key[LISTKEY_MAX], val[LISTKEY_VALUE_MAX + 16];
    MDB_val k = {listkey_key(e, key), key}, old;
    listkey_meta_t *m = list_meta(lc, e->scope);
    int rc;

    e->added = (int64_t)time(NULL);
    MDB_val v = {listkey_value_encode(e, val, sizeof(val)), val};
    if (k.mv_size == 0 || v.mv_size == 0)
        return smfctl_fail(1, "entry too long: %s %s", e->scope, e->value);
    if (m == NULL)
        return smfctl_fail(1, "out of memory");
    int existed = mdb_get(lc->txn, lc->dbi, &k, &old) == 0;
    if ((rc = mdb_put(lc->txn, lc->dbi, &k, &v, 0)) != 0)
        return smfctl_fail(1, "cannot write %s: %s", e->value, mdb_strerror(rc));
    if (existed) {
        lc->replaced++;
    } else {
        listkey_meta_count(m, e, 1);
        lc->added++;
    }
    check_provable(lc, e);
    return 0;
}

/* Deletes one entry, whatever its action; a missing one is counted, not an error. */
/*
 * Entries once kept a name in another script in UTF-8; they now hold its
 * A-label. When the value as typed (lower case, no final dot) is such an
 * older key, 1 with its key in key, so that del still removes it.
 */
static int older_key(const listkey_entry_t *e, const char *text, uint8_t *key, MDB_val *k)
{
    listkey_entry_t old = *e;

    if (e->type == LISTKEY_IP || listkey_name_normalise(text, old.value, sizeof(old.value)) < 0 ||
        strcmp(old.value, e->value) == 0)
        return 0;
    k->mv_data = key;
    k->mv_size = listkey_key(&old, key);
    return k->mv_size != 0;
}

static int list_remove(list_ctx_t *lc, const listkey_entry_t *e, const char *text)
{
    uint8_t key[LISTKEY_MAX];
    MDB_val k = {listkey_key(e, key), key};
    listkey_meta_t *m = list_meta(lc, e->scope);
    int rc;

    if (k.mv_size == 0 || m == NULL)
        return smfctl_fail(1, "entry too long: %s", e->value);
    rc = mdb_del(lc->txn, lc->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND && older_key(e, text, key, &k))
        rc = mdb_del(lc->txn, lc->dbi, &k, NULL);
    if (rc == MDB_NOTFOUND) {
        lc->missing++;
        fprintf(stderr, "smfctl: not listed: %s %s %s\n", e->scope, listkey_type_name(e->type),
                e->value);
        return 0;
    }
    if (rc != 0)
        return smfctl_fail(1, "cannot delete %s: %s", e->value, mdb_strerror(rc));
    listkey_meta_count(m, e, -1);
    lc->deleted++;
    return 0;
}

/* What --scope (s), --type (t) and --action (a) take, for a value that is none. */
static const char *option_form(int c)
{
    if (c == 's')
        return "global, domain:D or user:ADDR, where D is a domain name (example.com) and ADDR "
               "an address in one (bob@example.com)";
    return c == 't' ? "ip, sender, domain or helo" : "allow or block";
}

/* Parses --scope, --type, --action, --auth, --noauth; returns the first operand's index. */
static int list_options(list_ctx_t *lc, int argc, char **argv)
{
    static const struct option opts[] = {
        {"scope", required_argument, NULL, 's'},  {"type", required_argument, NULL, 't'},
        {"action", required_argument, NULL, 'a'}, {"auth", no_argument, NULL, 'A'},
        {"noauth", no_argument, NULL, 'N'},       {NULL, 0, NULL, 0}};
    int c;

    optind = 1;
    snprintf(lc->defaults.scope, sizeof(lc->defaults.scope), "global");
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's' &&
            listkey_scope_parse(optarg, lc->defaults.scope, sizeof(lc->defaults.scope)) == 0)
            lc->has_scope = 1;
        else if (c == 't' && listkey_type_parse(optarg, &lc->defaults.type) == 0)
            lc->has_type = 1;
        else if (c == 'a' && listkey_action_parse(optarg, &lc->defaults.action) == 0)
            lc->has_action = 1;
        else if (c == 'A' || c == 'N')
            lc->auth_set = c;
        else if (c == 's' || c == 't' || c == 'a')
            return smfctl_fail(-2, "--%s %s: expected %s",
                               opts[c == 's'   ? 0
                                    : c == 't' ? 1
                                               : 2]
                                   .name,
                               optarg, option_form(c));
        else
            return smfctl_fail(-2, "bad option or value: %s\n%s", argv[optind - 1],
                               smfctl_list_usage);
    }
    lc->defaults.flags = listkey_auth_default(lc->defaults.type, lc->defaults.action) ? 1 : 0;
    if (lc->auth_set != 0)
        lc->defaults.flags = lc->auth_set == 'A' ? LISTKEY_AUTH : 0;
    return optind;
}

/* What a value of each type looks like, for a value that is not one. */
static const char *value_form(listkey_type_t t)
{
    switch (t) {
    case LISTKEY_IP:
        return "an IP address or prefix (192.0.2.7, 192.0.2.0/24, 2001:db8::/32)";
    case LISTKEY_SENDER:
        return "an envelope sender address (user@example.com)";
    case LISTKEY_DOMAIN:
        return "a domain name (example.com, or .example.com for its subdomains)";
    default:
        return "a host name (mail.example.com, or .example.com for its subdomains)";
    }
}

/*
 * One value given on the command line, as an entry of the command's scope,
 * type and action. It is a value only, never an import line: a value with
 * blanks in it is refused, not read as SCOPE TYPE ACTION VALUE. Returns 0,
 * or 2 after saying what is wrong with it.
 */
static int value_entry(const list_ctx_t *lc, const char *text, listkey_entry_t *e)
{
    const char *why;
    *e = lc->defaults;
    if (text[strcspn(text, " \t\r\n")] != '\0')
        return smfctl_fail(2,
                           "\"%s\": a value cannot contain blanks; give each value as an argument "
                           "of its own",
                           text);
    if (strlen(text) >= sizeof(e->value))
        return smfctl_fail(2, "%.40s...: longer than %zu characters", text, sizeof(e->value) - 1);
    if (listkey_value_parse(e, text) < 0)
        return smfctl_fail(2, "\"%s\" is not a valid --type %s value: expected %s", text,
                           listkey_type_name(e->type), value_form(e->type));
    if (listkey_entry_check(e, &why) < 0)
        return smfctl_fail(2, "%s: %s", text, why);
    return 0;
}

/* add and del: every operand is a value of the same scope, type and action. */
static int list_add_del(list_ctx_t *lc, int del, int first, int argc, char **argv)
{
    listkey_entry_t e;
    int rc = 0;

    /* The action is not part of the key: del finds an entry whatever it says. */
    if (del && !lc->has_action)
        lc->defaults.action = LISTKEY_BLOCK;
    for (int i = first; i < argc && rc == 0; i++) {
        if (value_entry(lc, argv[i], &e) != 0)
            return 2;
        rc = del ? list_remove(lc, &e, argv[i]) : list_put(lc, &e);
    }
    if (rc == 0 && (rc = list_commit(lc)) == 0) {
        if (del)
            printf("deleted %zu, not listed %zu\n", lc->deleted, lc->missing);
        else
            printf("added %zu, replaced %zu\n", lc->added, lc->replaced);
        warn_unprovable(lc);
    }
    return rc != 0 ? rc : (del && lc->missing > 0);
}

/* import: one entry a line; a bare value takes the command's --scope/--type/--action.
 * f is path opened (list_operand), or NULL for standard input. */
static int list_import(list_ctx_t *lc, const char *path, FILE *f)
{
    char line[2048];
    listkey_entry_t e;
    const char *why;
    size_t lineno = 0;
    int rc = 0;

    if (f == NULL)
        f = stdin;
    const listkey_entry_t *defaults = lc->has_type && lc->has_action ? &lc->defaults : NULL;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        /* A longer line would be read as two entries, the second a piece of the first. */
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = smfctl_fail(2, "%s:%zu: line longer than %zu bytes", path, lineno,
                             sizeof(line) - 2);
            break;
        }
        int got = listkey_line_parse(line, defaults, &e, &why);
        if (got < 0)
            rc = smfctl_fail(2, "%s:%zu: %s", path, lineno, why);
        else if (got == 1)
            rc = list_put(lc, &e);
    }
    /* A read error ends fgets() as the end of the file does; it must not
     * commit the part read so far. */
    if (rc == 0 && ferror(f))
        rc = smfctl_fail(1, "%s: read error after line %zu: nothing imported", path, lineno);
    if (rc != 0)
        return rc; /* Nothing is written: the transaction is aborted. */
    if ((rc = list_commit(lc)) == 0) {
        printf("imported %zu lines: added %zu, replaced %zu\n", lineno, lc->added, lc->replaced);
        warn_unprovable(lc);
    }
    return rc;
}

/* Whether an entry passes the --scope, --type and --action filters. */
static int list_wanted(const list_ctx_t *lc, const listkey_entry_t *e)
{
    return (!lc->has_scope || strcmp(e->scope, lc->defaults.scope) == 0) &&
           (!lc->has_type || e->type == lc->defaults.type) &&
           (!lc->has_action || e->action == lc->defaults.action);
}

/* show and export: every entry in key order, in the import format. */
static int list_dump(list_ctx_t *lc, FILE *out)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    listkey_entry_t e;
    char line[1024];
    int rc = lc->dbi != 0 ? mdb_cursor_open(lc->txn, lc->dbi, &cur) : 0;

    fprintf(out, "# SCOPE TYPE ACTION VALUE [auth|noauth]\n");
    if (lc->txn == NULL || lc->dbi == 0)
        return 0;
    if (rc != 0)
        return smfctl_fail(1, "cannot read the lists: %s", mdb_strerror(rc));
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (listkey_key_decode(k.mv_data, k.mv_size, &e) != 1 ||
            listkey_value_decode(v.mv_data, v.mv_size, &e) != 0 || !list_wanted(lc, &e))
            continue;
        listkey_line_format(&e, line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : smfctl_fail(1, "cannot read the lists: %s", mdb_strerror(rc));
}

/* f is path opened (list_operand), or NULL for standard output. */
static int list_export(list_ctx_t *lc, const char *path, FILE *f)
{
    FILE *out = f != NULL ? f : stdout;
    struct stat st;
    int rc;

    /* Emptied only now that the lists can be read (see list_operand). */
    if (f != NULL && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        ftruncate(fileno(f), 0) != 0)
        return smfctl_fail(1, "%s: %s", path, strerror(errno));
    rc = list_dump(lc, out);
    /* A full disk or a closed pipe shows only when the buffer is written. */
    if ((fflush(out) != 0 || ferror(out)) && rc == 0)
        rc = smfctl_fail(1, "%s: %s", out == stdout ? "standard output" : path, strerror(errno));
    return rc;
}

/*
 * The file import reads or export writes is the operator's: it is opened
 * before smfctl switches to smfd's user for good (smfctl_become_user), so
 * that a file only root may read or write works as it did. An export's is
 * opened (and made) only once the store has opened, so that a store that
 * cannot be opened leaves no empty file behind; it is emptied only once the
 * lists have been read, so that an earlier one stays whole until then.
 * *f stays NULL for "-" (standard input or output) and when the operands
 * are wrong, which list_run then says.
 */
static int list_operand(const char *cmd, int first, int argc, char **argv, FILE **f)
{
    int import = strcmp(cmd, "import") == 0;
    *f = NULL;
    if ((!import && strcmp(cmd, "export") != 0) || first != argc - 1 ||
        strcmp(argv[first], "-") == 0)
        return 0;
    if (import) {
        *f = fopen(argv[first], "r");
    } else {
        int fd = open(argv[first], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0 && (*f = fdopen(fd, "w")) == NULL)
            close(fd);
    }
    if (*f == NULL)
        return smfctl_fail(1, "%s: %s", argv[first], strerror(errno));
    return 0;
}

/* Runs one subcommand on an open store; f as list_operand opened it. */
static int list_run(list_ctx_t *lc, const char *cmd, int first, int argc, char **argv, FILE *f)
{
    int add = strcmp(cmd, "add") == 0, del = strcmp(cmd, "del") == 0;

    if (add || del) {
        if (!lc->has_type || (add && !lc->has_action) || first >= argc)
            return smfctl_fail(2, "%s needs --type%s and a value\n%s", cmd, add ? ", --action" : "",
                               smfctl_list_usage);
        return list_add_del(lc, del, first, argc, argv);
    }
    if (strcmp(cmd, "import") == 0) {
        if (first != argc - 1)
            return smfctl_fail(2, "import needs one FILE (or -)\n%s", smfctl_list_usage);
        return list_import(lc, argv[first], f);
    }
    if (first < argc - 1 || (strcmp(cmd, "show") == 0 && first != argc))
        return smfctl_fail(2, "%s takes %s\n%s", cmd,
                           strcmp(cmd, "show") == 0 ? "no FILE" : "at most one FILE",
                           smfctl_list_usage);
    return list_export(lc, first < argc ? argv[first] : "-", f);
}

int smfctl_list(const smfctl_t *ctl, int argc, char **argv)
{
    static const char *const cmds[] = {"add", "del", "show", "import", "export"};
    list_ctx_t lc = {0};
    char err[2048];
    config_t *c;
    FILE *f = NULL;
    int known = 0, rc;

    for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
        known |= strcmp(argv[1], cmds[i]) == 0;
    if (!known)
        return smfctl_fail(2, "%s", smfctl_list_usage);
    int first = list_options(&lc, argc - 1, argv + 1);
    if (first < 0)
        return 2;
    if (config_load(ctl->config, ctl->overrides, ctl->noverrides, &c, err, sizeof(err)) != 0)
        return smfctl_fail(2, "%s", err);
    lc.conf = c;
    int export = strcmp(argv[1], "export") == 0;
    int write = strcmp(argv[1], "show") != 0 && !export;
    /* An export makes its file only once the store is known to open (see
     * list_operand); that is asked of a process that cannot become root. */
    rc = export ? smfctl_check_as_user(c, list_opens, (void *)c->data_dir) : 0;
    if (rc == 0)
        rc = list_operand(argv[1], first + 1, argc, argv, &f);
    if (rc == 0)
        rc = smfctl_become_user(c);
    if (rc == 0)
        rc = list_open(&lc, c->data_dir, write);
    if (rc == -2) /* Nothing was ever listed: show and export print only the header. */
        rc = 0;
    if (rc == 0)
        rc = list_run(&lc, argv[1], first + 1, argc, argv, f);
    if (f != NULL && fclose(f) != 0 && rc == 0)
        rc = smfctl_fail(1, "%s: %s", argv[argc - 1], strerror(errno));
    list_close(&lc);
    config_free(&c);
    return rc;
}
