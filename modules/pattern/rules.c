/*
 * rules.c - parser of the pattern module's rule files. Each non-blank,
 * non-comment line is NAME TARGET /REGEX/FLAGS SCORE [OPTION...] ["DESCRIPTION"]
 * or a meta rule, "meta NAME EXPRESSION SCORE ...", compiled to postfix code.
 * Errors name the file and line so that an operator can fix them at once.
 */
#include "rules.h"

#include <smf/module.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest rule name; symbol names are meant to be read. */
#define PAT_MAX_NAME 64

/* Deepest nesting of parentheses in a meta expression, which bounds the parser's recursion. */
#define PAT_META_MAX_DEPTH 32

/* Parsing state of one line. */
typedef struct line_ctx {
    const char *file;
    unsigned line;
    char *p; /* Cursor into the line. */
    char *err;
    size_t errlen;
} line_ctx_t;

static const char *const target_names[PAT_TARGET_COUNT] = {"subject", "header", "headers",  "body",
                                                           "rawbody", "url",    "filename", "html"};

const char *pat_target_name(pat_target_t t)
{
    return (unsigned)t < PAT_TARGET_COUNT ? target_names[t] : "?";
}

static int line_fail(line_ctx_t *lc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int line_fail(line_ctx_t *lc, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(lc->err, lc->errlen, "%s:%u: ", lc->file, lc->line);

    if (n >= 0 && (size_t)n < lc->errlen) {
        va_start(ap, fmt);
        vsnprintf(lc->err + n, lc->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return SMF_EINVAL;
}

static void skip_space(line_ctx_t *lc)
{
    while (*lc->p == ' ' || *lc->p == '\t')
        lc->p++;
}

/* Cuts the next blank-separated word out of the line; NULL at the end. */
static char *next_word(line_ctx_t *lc)
{
    char *start;

    skip_space(lc);
    if (*lc->p == '\0' || *lc->p == '#')
        return NULL;
    start = lc->p;
    while (*lc->p != '\0' && *lc->p != ' ' && *lc->p != '\t')
        lc->p++;
    if (*lc->p != '\0')
        *lc->p++ = '\0';
    return start;
}

static int parse_name(line_ctx_t *lc, pat_rule_t *r)
{
    char *w = next_word(lc);

    if (w == NULL)
        return line_fail(lc, "missing rule name");
    /* "__NAME" rules have no symbol of their own: they only feed meta rules. */
    int hidden = strncmp(w, "__", 2) == 0 && w[2] != '\0';
    if (strlen(w) > PAT_MAX_NAME || (!isupper((unsigned char)w[0]) && !hidden))
        return line_fail(lc, "bad rule name '%s' (A-Z, 0-9, _; at most %d)", w, PAT_MAX_NAME);
    for (const char *s = w; *s != '\0'; s++) {
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return line_fail(lc, "bad rule name '%s' (A-Z, 0-9, _)", w);
    }
    r->name = strdup(w);
    return r->name != NULL ? 0 : SMF_ENOMEM;
}

/* A header field name: printable ASCII except ':' (RFC 5322). */
static int valid_field_name(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s <= ' ' || *s > '~' || *s == ':')
            return 0;
    }
    return 1;
}

static int parse_target(line_ctx_t *lc, pat_rule_t *r)
{
    char *w = next_word(lc);

    if (w == NULL)
        return line_fail(lc, "%s: missing target", r->name);
    if (strncasecmp(w, "header:", 7) == 0) {
        if (!valid_field_name(w + 7))
            return line_fail(lc, "%s: bad header name in '%s'", r->name, w);
        r->target = PAT_TARGET_HEADER;
        r->header = strdup(w + 7);
        return r->header != NULL ? 0 : SMF_ENOMEM;
    }
    for (int t = 0; t < PAT_TARGET_COUNT; t++) {
        if (t != PAT_TARGET_HEADER && strcasecmp(w, target_names[t]) == 0) {
            r->target = (pat_target_t)t;
            return 0;
        }
    }
    return line_fail(lc, "%s: unknown target '%s'", r->name, w);
}

/* /REGEX/FLAGS: a '/' inside the regex is written '\/'. */
static int parse_regex(line_ctx_t *lc, pat_rule_t *r)
{
    char *start, *end;

    skip_space(lc);
    if (*lc->p != '/')
        return line_fail(lc, "%s: regex must be written /like this/", r->name);
    start = ++lc->p;
    for (end = start; *end != '\0' && *end != '/'; end++) {
        if (*end == '\\' && end[1] != '\0')
            end++;
    }
    if (*end != '/')
        return line_fail(lc, "%s: regex has no closing '/'", r->name);
    if (end == start)
        return line_fail(lc, "%s: empty regex", r->name);
    *end = '\0';
    r->regex = strdup(start);
    if (r->regex == NULL)
        return SMF_ENOMEM;
    for (lc->p = end + 1; *lc->p != '\0' && *lc->p != ' ' && *lc->p != '\t'; lc->p++) {
        switch (*lc->p) {
        case 'i':
            r->flags |= PAT_FLAG_CASELESS;
            break;
        case 's':
            r->flags |= PAT_FLAG_DOTALL;
            break;
        case 'm':
            r->flags |= PAT_FLAG_MULTILINE;
            break;
        default:
            return line_fail(lc, "%s: unknown regex flag '%c'", r->name, *lc->p);
        }
    }
    return 0;
}

/*
 * Whether w is a plain decimal number: an optional sign, digits, and
 * optionally a dot and more digits. strtod() alone also takes hex ("0x10"
 * is 16), exponents ("1e3"), "inf" and "nan", which a score never means.
 */
static int plain_decimal(const char *w)
{
    const char *s = w + (*w == '+' || *w == '-');
    size_t n = strspn(s, "0123456789");

    if (n == 0)
        return 0;
    if (s[n] == '.') {
        s += n + 1;
        if ((n = strspn(s, "0123456789")) == 0)
            return 0;
    }
    return s[n] == '\0';
}

static int parse_score(line_ctx_t *lc, pat_rule_t *r)
{
    char *w = next_word(lc), *end;

    if (w == NULL)
        return line_fail(lc, "%s: missing score", r->name);
    if (!plain_decimal(w))
        return line_fail(lc, "%s: bad score '%s' (a decimal number such as 2, 1.5 or -0.5)",
                         r->name, w);
    errno = 0;
    r->score = strtod(w, &end);
    if (errno != 0 || *end != '\0' || !isfinite(r->score))
        return line_fail(lc, "%s: bad score '%s'", r->name, w);
    /* The engine holds each symbol to this range: a larger score would be
     * cut without a word, and the rule would not weigh what it says. */
    if (fabs(r->score) > SMF_SCORE_MAX)
        return line_fail(lc, "%s: score %s is out of range (-%g to %g)", r->name, w, SMF_SCORE_MAX,
                         SMF_SCORE_MAX);
    return 0;
}

/* Each option once: a second verdict would silently replace the first, and
 * "negate negate" reads as if it cancelled itself. */
static int parse_option(line_ctx_t *lc, pat_rule_t *r, const char *w)
{
    int verdict = strcmp(w, "verdict=spam") == 0    ? SMF_VERDICT_SPAM
                  : strcmp(w, "verdict=block") == 0 ? SMF_VERDICT_BLOCK
                                                    : 0;

    if (strcmp(w, "negate") == 0) {
        if (r->negate)
            return line_fail(lc, "%s: negate given twice", r->name);
        r->negate = 1;
    } else if (verdict != 0) {
        if (r->verdict != 0)
            return line_fail(lc, "%s: %s after another verdict; a rule forces one verdict at most",
                             r->name, w);
        r->verdict = verdict;
    } else {
        return line_fail(lc, "%s: unknown option '%s'", r->name, w);
    }
    return 0;
}

/* Options, then an optional "description" running to its closing quote. */
static int parse_tail(line_ctx_t *lc, pat_rule_t *r)
{
    char *w, *close;
    int rc;

    for (;;) {
        skip_space(lc);
        if (*lc->p == '"')
            break;
        if ((w = next_word(lc)) == NULL) {
            r->description = strdup("");
            return r->description != NULL ? 0 : SMF_ENOMEM;
        }
        if ((rc = parse_option(lc, r, w)) < 0)
            return rc;
    }
    close = strrchr(lc->p + 1, '"');
    if (close == NULL)
        return line_fail(lc, "%s: description has no closing '\"'", r->name);
    *close = '\0';
    r->description = strdup(lc->p + 1);
    if (r->description == NULL)
        return SMF_ENOMEM;
    lc->p = close + 1;
    if (next_word(lc) != NULL)
        return line_fail(lc, "%s: text after the description", r->name);
    return 0;
}

static void rule_free(pat_rule_t *r)
{
    free(r->name);
    free(r->header);
    free(r->regex);
    free(r->description);
    free(r->code);
    for (size_t i = 0; i < r->ref_count; i++)
        free(r->refs[i]);
    free(r->refs);
    memset(r, 0, sizeof(*r));
}

int pat_rule_has_symbol(const pat_rule_t *r)
{
    return strncmp(r->name, "__", 2) != 0;
}

/* A meta expression being compiled: operators go out in postfix order. */
typedef struct expr_ctx {
    line_ctx_t *lc;
    pat_rule_t *r;
    int depth;
} expr_ctx_t;

static int expr_emit(expr_ctx_t *ec, pat_op_kind_t kind, long arg)
{
    pat_rule_t *r = ec->r;

    if (r->code_len == PAT_META_MAX_OPS)
        return line_fail(ec->lc, "%s: expression longer than %d terms", r->name, PAT_META_MAX_OPS);
    if (r->code == NULL && (r->code = malloc(PAT_META_MAX_OPS * sizeof(*r->code))) == NULL)
        return SMF_ENOMEM;
    r->code[r->code_len++] = (pat_op_t){kind, arg};
    return 0;
}

/* Whether the cursor stands on `tok`; consumes it when it does. */
static int expr_take(expr_ctx_t *ec, const char *tok)
{
    size_t n = strlen(tok);

    skip_space(ec->lc);
    if (strncmp(ec->lc->p, tok, n) != 0)
        return 0;
    /* "!" must not swallow the start of "!=", nor ">" that of ">=". */
    if (n == 1 && strchr("!<>", tok[0]) != NULL && ec->lc->p[1] == '=')
        return 0;
    ec->lc->p += n;
    return 1;
}

/* Records a rule name; pat_rules_link() turns it into the rule's index. */
static int expr_name(expr_ctx_t *ec)
{
    pat_rule_t *r = ec->r;
    char *start = ec->lc->p, **n;
    size_t len = 0;

    while (isalnum((unsigned char)start[len]) || start[len] == '_')
        len++;
    if ((n = realloc(r->refs, (r->ref_count + 1) * sizeof(*n))) == NULL)
        return SMF_ENOMEM;
    r->refs = n;
    if ((n[r->ref_count] = strndup(start, len)) == NULL)
        return SMF_ENOMEM;
    ec->lc->p += len;
    return expr_emit(ec, PAT_OP_RULE, (long)r->ref_count++);
}

static int expr_number(expr_ctx_t *ec)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(ec->lc->p, &end, 10);
    if (errno != 0 || v > 1000000 || *end == '.' || isalpha((unsigned char)*end))
        return line_fail(ec->lc, "%s: bad number in expression at '%s'", ec->r->name, ec->lc->p);
    ec->lc->p = end;
    return expr_emit(ec, PAT_OP_NUM, v);
}

static int expr_or(expr_ctx_t *ec);

/* NAME, a whole number, or a parenthesised expression. */
static int expr_primary(expr_ctx_t *ec)
{
    int rc;
    char c;

    skip_space(ec->lc);
    c = *ec->lc->p;
    if (expr_take(ec, "(")) {
        if (++ec->depth > PAT_META_MAX_DEPTH)
            return line_fail(ec->lc, "%s: parentheses nested too deep", ec->r->name);
        if ((rc = expr_or(ec)) < 0)
            return rc;
        if (!expr_take(ec, ")"))
            return line_fail(ec->lc, "%s: expected ')' at '%s'", ec->r->name, ec->lc->p);
        ec->depth--;
        return 0;
    }
    if (isdigit((unsigned char)c))
        return expr_number(ec);
    if (isalpha((unsigned char)c) || c == '_')
        return expr_name(ec);
    if (c == '\0')
        return line_fail(ec->lc, "%s: expression ends too early", ec->r->name);
    return line_fail(ec->lc, "%s: expected a rule name, a number or '(' at '%s'", ec->r->name,
                     ec->lc->p);
}

/* As in C, "!" binds tighter than "+": !A + B is (!A) + B. */
static int expr_unary(expr_ctx_t *ec)
{
    int rc;

    if (!expr_take(ec, "!"))
        return expr_primary(ec);
    /* Each '!' is a level of recursion: a line of a million would overflow
     * the stack before the length check ran. */
    if (++ec->depth > PAT_META_MAX_DEPTH)
        return line_fail(ec->lc, "%s: too many '!' in a row", ec->r->name);
    if ((rc = expr_unary(ec)) < 0)
        return rc;
    ec->depth--;
    return expr_emit(ec, PAT_OP_NOT, 0);
}

static int expr_sum(expr_ctx_t *ec)
{
    int rc = expr_unary(ec);

    while (rc == 0 && expr_take(ec, "+")) {
        if ((rc = expr_unary(ec)) == 0)
            rc = expr_emit(ec, PAT_OP_ADD, 0);
    }
    return rc;
}

/* One comparison at most: "A + B >= 2". Longer tokens are tried first. */
static int expr_compare(expr_ctx_t *ec)
{
    static const struct {
        const char *tok;
        pat_op_kind_t op;
    } ops[] = {{">=", PAT_OP_GE}, {"<=", PAT_OP_LE}, {"==", PAT_OP_EQ},
               {"!=", PAT_OP_NE}, {">", PAT_OP_GT},  {"<", PAT_OP_LT}};
    int rc = expr_sum(ec);

    for (size_t i = 0; rc == 0 && i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (expr_take(ec, ops[i].tok)) {
            if ((rc = expr_sum(ec)) == 0)
                rc = expr_emit(ec, ops[i].op, 0);
            return rc;
        }
    }
    return rc;
}

static int expr_and(expr_ctx_t *ec)
{
    int rc = expr_compare(ec);

    while (rc == 0 && expr_take(ec, "&&")) {
        if ((rc = expr_compare(ec)) == 0)
            rc = expr_emit(ec, PAT_OP_AND, 0);
    }
    return rc;
}

static int expr_or(expr_ctx_t *ec)
{
    int rc = expr_and(ec);

    while (rc == 0 && expr_take(ec, "||")) {
        if ((rc = expr_and(ec)) == 0)
            rc = expr_emit(ec, PAT_OP_OR, 0);
    }
    return rc;
}

/* A regex rule: NAME TARGET /REGEX/FLAGS SCORE [OPTION...] ["DESCRIPTION"]. */
static int parse_regex_rule(line_ctx_t *lc, pat_rule_t *r)
{
    int rc;

    if ((rc = parse_name(lc, r)) < 0 || (rc = parse_target(lc, r)) < 0 ||
        (rc = parse_regex(lc, r)) < 0 || (rc = parse_score(lc, r)) < 0 ||
        (rc = parse_tail(lc, r)) < 0)
        return rc;
    return 0;
}

/* A meta rule: meta NAME EXPRESSION SCORE [verdict=...] ["DESCRIPTION"]. */
static int parse_meta_rule(line_ctx_t *lc, pat_rule_t *r)
{
    expr_ctx_t ec = {lc, r, 0};
    int rc;

    r->meta = 1;
    if ((rc = parse_name(lc, r)) < 0)
        return rc;
    skip_space(lc);
    if (*lc->p == '\0')
        return line_fail(lc, "%s: missing expression", r->name);
    if ((rc = expr_or(&ec)) < 0 || (rc = parse_score(lc, r)) < 0 || (rc = parse_tail(lc, r)) < 0)
        return rc;
    if (r->negate)
        return line_fail(lc, "%s: negate is for regex rules; write ! in the expression", r->name);
    return 0;
}

static int parse_line(line_ctx_t *lc, pat_rule_t *r)
{
    int rc;

    /* Rule names are upper case, so a lower-case "meta" cannot be one. */
    if (strncmp(lc->p, "meta", 4) == 0 && (lc->p[4] == ' ' || lc->p[4] == '\t')) {
        lc->p += 4;
        rc = parse_meta_rule(lc, r);
    } else {
        rc = parse_regex_rule(lc, r);
    }
    if (rc == 0 && r->verdict != 0 && !pat_rule_has_symbol(r))
        return line_fail(lc, "%s: a __ rule has no symbol of its own and cannot force a verdict",
                         r->name);
    return rc;
}

static int ruleset_push(pat_ruleset_t *rs, pat_rule_t *r)
{
    if (rs->count == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        pat_rule_t *n = realloc(rs->rules, cap * sizeof(*n));
        if (n == NULL)
            return SMF_ENOMEM;
        rs->rules = n;
        rs->cap = cap;
    }
    rs->rules[rs->count++] = *r;
    return 0;
}

static int remember_file(pat_ruleset_t *rs, const char *path, const char **out)
{
    char **n = realloc(rs->files, (rs->file_count + 1) * sizeof(*n));

    if (n == NULL)
        return SMF_ENOMEM;
    rs->files = n;
    if ((n[rs->file_count] = strdup(path)) == NULL)
        return SMF_ENOMEM;
    *out = n[rs->file_count++];
    return 0;
}

/* Parses one line into the set; blank and comment lines add nothing. */
static int load_line(pat_ruleset_t *rs, line_ctx_t *lc, char *text)
{
    pat_rule_t r = {0};
    int rc;

    text[strcspn(text, "\r\n")] = '\0';
    lc->p = text;
    skip_space(lc);
    if (*lc->p == '\0' || *lc->p == '#')
        return 0;
    r.file = lc->file;
    r.line = lc->line;
    if ((rc = parse_line(lc, &r)) < 0 || (rc = ruleset_push(rs, &r)) < 0) {
        if (rc == SMF_ENOMEM)
            snprintf(lc->err, lc->errlen, "%s:%u: out of memory", lc->file, lc->line);
        rule_free(&r);
        return rc;
    }
    return 0;
}

/*
 * Opens a rule file for reading. A FIFO would hold init (and a reload) until
 * something wrote to it, and a device could be endless: only a regular file
 * is read. The open does not wait for a FIFO's writer.
 */
static FILE *open_rules(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f;

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISDIR(st.st_mode) ? "a directory, not a rule file"
                                     : "not a regular file (a FIFO or a device); rules are read "
                                       "from files only");
        close(fd);
        return NULL;
    }
    if ((f = fdopen(fd, "r")) == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

int pat_rules_load(pat_ruleset_t *rs, const char *path, char *err, size_t errlen)
{
    line_ctx_t lc = {.err = err, .errlen = errlen};
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    FILE *f = open_rules(path, err, errlen);

    if (f == NULL)
        return SMF_EIO;
    if ((rc = remember_file(rs, path, &lc.file)) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return rc;
    }
    while (rc == 0 && getline(&buf, &cap, f) >= 0) {
        lc.line++;
        rc = load_line(rs, &lc, buf);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = SMF_EIO;
    }
    free(buf);
    fclose(f);
    return rc;
}

void pat_rules_free(pat_ruleset_t *rs)
{
    for (size_t i = 0; i < rs->count; i++)
        rule_free(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->file_count; i++)
        free(rs->files[i]);
    free(rs->files);
    free(rs->meta_order);
    memset(rs, 0, sizeof(*rs));
}

/* A rule's name and index, sorted by name for the lookups of pat_rules_link(). */
typedef struct name_idx {
    const char *name;
    size_t idx;
} name_idx_t;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const name_idx_t *)a)->name, ((const name_idx_t *)b)->name);
}

/* By name, then in the order the rules were read, so that a name's first rule leads. */
static int by_name_then_index(const void *a, const void *b)
{
    const name_idx_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Two rules with one name would merge into one symbol: refuse, naming the
 * first rule read that repeats a name. The names are sorted, so the rules of
 * one name are neighbours in the order they were read: the earliest repeat
 * of a name comes right after its first rule. (A check of each rule against
 * all before it took a second for 20,000 rules, eight for 50,000.)
 */
static int check_unique(const pat_ruleset_t *rs, const name_idx_t *sorted, char *err, size_t errlen)
{
    size_t dup = rs->count, first = 0;

    for (size_t i = 1; i < rs->count; i++) {
        if (sorted[i].idx < dup && strcmp(sorted[i - 1].name, sorted[i].name) == 0) {
            dup = sorted[i].idx;
            first = sorted[i - 1].idx;
        }
    }
    if (dup == rs->count)
        return 0;
    snprintf(err, errlen, "%s:%u: %s: already defined at %s:%u", rs->rules[dup].file,
             rs->rules[dup].line, rs->rules[dup].name, rs->rules[first].file,
             rs->rules[first].line);
    return SMF_EINVAL;
}

static long find_rule(const name_idx_t *sorted, size_t n, const char *name)
{
    name_idx_t key = {name, 0};
    const name_idx_t *hit = bsearch(&key, sorted, n, sizeof(*sorted), by_name);

    return hit != NULL ? (long)hit->idx : -1;
}

/* Replaces each name a meta uses with the index of its rule. */
static int resolve_names(pat_ruleset_t *rs, const name_idx_t *sorted, char *err, size_t errlen)
{
    for (size_t i = 0; i < rs->count; i++) {
        pat_rule_t *r = &rs->rules[i];
        for (size_t k = 0; r->meta && k < r->code_len; k++) {
            if (r->code[k].kind != PAT_OP_RULE)
                continue;
            const char *name = r->refs[r->code[k].arg];
            long idx = find_rule(sorted, rs->count, name);
            if (idx < 0) {
                snprintf(err, errlen, "%s:%u: %s: unknown rule '%s'", r->file, r->line, r->name,
                         name);
                return SMF_EINVAL;
            }
            r->code[k].arg = idx;
        }
    }
    return 0;
}

/* Depth-first walk of the metas; 1 while on the current path, 2 when done. */
typedef struct walk {
    pat_ruleset_t *rs;
    unsigned char *mark;
    size_t *path, depth;
    char *err;
    size_t errlen;
} walk_t;

/* "FILE:LINE: A: meta rules form a cycle: A -> B -> A", from the path walked. */
static int report_cycle(walk_t *w, size_t to)
{
    const pat_rule_t *r = &w->rs->rules[to];
    size_t start = 0, off;

    while (w->path[start] != to)
        start++;
    off = (size_t)snprintf(w->err, w->errlen, "%s:%u: %s: meta rules form a cycle: ", r->file,
                           r->line, r->name);
    for (size_t k = start; k < w->depth && off < w->errlen; k++)
        off += (size_t)snprintf(w->err + off, w->errlen - off, "%s -> ",
                                w->rs->rules[w->path[k]].name);
    if (off < w->errlen)
        snprintf(w->err + off, w->errlen - off, "%s", r->name);
    return SMF_EINVAL;
}

/* Visits a meta after the metas it reads, appending it to meta_order. */
static int visit_meta(walk_t *w, size_t i)
{
    const pat_rule_t *r = &w->rs->rules[i];
    int rc;

    w->mark[i] = 1;
    w->path[w->depth++] = i;
    for (size_t k = 0; k < r->code_len; k++) {
        size_t j = (size_t)r->code[k].arg;
        if (r->code[k].kind != PAT_OP_RULE || !w->rs->rules[j].meta || w->mark[j] == 2)
            continue;
        if (w->mark[j] == 1)
            return report_cycle(w, j);
        if ((rc = visit_meta(w, j)) < 0)
            return rc;
    }
    w->depth--;
    w->mark[i] = 2;
    w->rs->meta_order[w->rs->meta_count++] = i;
    return 0;
}

static int order_metas(pat_ruleset_t *rs, char *err, size_t errlen)
{
    walk_t w = {rs,    calloc(rs->count + 1, 1), calloc(rs->count + 1, sizeof(size_t)), 0, err,
                errlen};
    int rc = 0;

    free(rs->meta_order);
    rs->meta_count = 0;
    rs->meta_order = calloc(rs->count + 1, sizeof(size_t));
    if (w.mark == NULL || w.path == NULL || rs->meta_order == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = SMF_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < rs->count; i++) {
        if (rs->rules[i].meta && w.mark[i] == 0)
            rc = visit_meta(&w, i);
    }
    free(w.mark);
    free(w.path);
    return rc;
}

int pat_rules_link(pat_ruleset_t *rs, char *err, size_t errlen)
{
    name_idx_t *sorted = malloc((rs->count + 1) * sizeof(*sorted));
    int rc;

    if (sorted == NULL) {
        snprintf(err, errlen, "out of memory");
        return SMF_ENOMEM;
    }
    for (size_t i = 0; i < rs->count; i++)
        sorted[i] = (name_idx_t){rs->rules[i].name, i};
    qsort(sorted, rs->count, sizeof(*sorted), by_name_then_index);
    if ((rc = check_unique(rs, sorted, err, errlen)) == 0)
        rc = resolve_names(rs, sorted, err, errlen);
    free(sorted);
    return rc < 0 ? rc : order_metas(rs, err, errlen);
}

static long apply_op(pat_op_kind_t op, long a, long b)
{
    switch (op) {
    case PAT_OP_ADD:
        return a + b;
    case PAT_OP_AND:
        return a && b;
    case PAT_OP_OR:
        return a || b;
    case PAT_OP_LT:
        return a < b;
    case PAT_OP_LE:
        return a <= b;
    case PAT_OP_GT:
        return a > b;
    case PAT_OP_GE:
        return a >= b;
    case PAT_OP_EQ:
        return a == b;
    default:
        return a != b;
    }
}

/* Runs one meta's postfix code; the parser only emits well-formed code. */
static int eval_meta(const pat_rule_t *r, const unsigned char *fired)
{
    long stack[PAT_META_MAX_OPS];
    size_t sp = 0;

    for (size_t k = 0; k < r->code_len; k++) {
        const pat_op_t *op = &r->code[k];
        if (op->kind == PAT_OP_RULE)
            stack[sp++] = fired[op->arg];
        else if (op->kind == PAT_OP_NUM)
            stack[sp++] = op->arg;
        else if (op->kind == PAT_OP_NOT)
            stack[sp - 1] = !stack[sp - 1];
        else {
            sp--;
            stack[sp - 1] = apply_op(op->kind, stack[sp - 1], stack[sp]);
        }
    }
    return sp == 1 && stack[0] != 0;
}

void pat_rules_eval_metas(const pat_ruleset_t *rs, unsigned char *fired)
{
    for (size_t k = 0; k < rs->meta_count; k++) {
        size_t i = rs->meta_order[k];
        fired[i] = (unsigned char)eval_meta(&rs->rules[i], fired);
    }
}
