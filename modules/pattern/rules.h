/*
 * rules.h - the pattern module's rule files: one rule per line, parsed into
 * a flat array that the matcher compiles. Meta rules combine other rules
 * with a boolean expression kept as postfix code. The format is in README.md.
 */
#ifndef SMF_PATTERN_RULES_H
#define SMF_PATTERN_RULES_H

#include <stddef.h>

/* Where a rule looks. */
typedef enum pat_target {
    PAT_TARGET_SUBJECT = 0,  /* The decoded Subject. */
    PAT_TARGET_HEADER = 1,   /* Each value of one named header. */
    PAT_TARGET_HEADERS = 2,  /* All decoded headers, one "Name: value" line each. */
    PAT_TARGET_BODY = 3,     /* smf_msg_text(): Subject and decoded text. */
    PAT_TARGET_RAWBODY = 4,  /* The raw message after the header block. */
    PAT_TARGET_URL = 5,      /* Each URL. */
    PAT_TARGET_FILENAME = 6, /* Each part's file name. */
    PAT_TARGET_HTML = 7,     /* Each text/html part's markup, transfer-decoded. */
    PAT_TARGET_COUNT = 8
} pat_target_t;

/* Regex flags, mapped onto Hyperscan and PCRE2 flags by the matcher. */
#define PAT_FLAG_CASELESS 0x01u  /* i */
#define PAT_FLAG_DOTALL 0x02u    /* s */
#define PAT_FLAG_MULTILINE 0x04u /* m */

/* Operations of a meta rule's postfix code, evaluated on a small stack. */
typedef enum pat_op_kind {
    PAT_OP_RULE = 0, /* Push 1 when rule `arg` fired, else 0. */
    PAT_OP_NUM,      /* Push `arg`. */
    PAT_OP_NOT,
    PAT_OP_ADD,
    PAT_OP_AND,
    PAT_OP_OR,
    PAT_OP_LT,
    PAT_OP_LE,
    PAT_OP_GT,
    PAT_OP_GE,
    PAT_OP_EQ,
    PAT_OP_NE
} pat_op_kind_t;

typedef struct pat_op {
    pat_op_kind_t kind;
    long arg; /* Rule index (after linking) or number. */
} pat_op_t;

/* Longest meta expression, in operations; also bounds the evaluation stack. */
#define PAT_META_MAX_OPS 256

typedef struct pat_rule {
    char *name; /* Symbol name. */
    pat_target_t target;
    char *header; /* Field name for PAT_TARGET_HEADER, else NULL. */
    char *regex;
    unsigned flags; /* PAT_FLAG_* */
    double score;
    int verdict;       /* 0, or an smf_verdict_t to force when the rule fires. */
    int negate;        /* Fires when the regex does NOT match. */
    char *description; /* "" when none. */
    const char *file;  /* Points into pat_ruleset_t.files. */
    unsigned line;
    /* Meta rules: no target or regex; their code reads other rules' results. */
    int meta;
    pat_op_t *code;
    size_t code_len;
    char **refs; /* Names PAT_OP_RULE refers to until pat_rules_link() resolves them. */
    size_t ref_count;
} pat_rule_t;

typedef struct pat_ruleset {
    pat_rule_t *rules;
    size_t count, cap;
    char **files; /* Paths of the loaded files, for messages. */
    size_t file_count;
    size_t *meta_order; /* Meta rules, each after the metas it reads. */
    size_t meta_count;
} pat_ruleset_t;

/*
 * Appends the rules of one file. On a syntax error returns SMF_EINVAL with
 * "FILE:LINE: why" in err; SMF_EIO when the file cannot be read.
 */
int pat_rules_load(pat_ruleset_t *rs, const char *path, char *err, size_t errlen);

/*
 * Resolves the names meta rules use and orders the metas so that each is
 * evaluated after the ones it reads. Call once after the last file. An
 * unknown name or a cycle returns SMF_EINVAL with "FILE:LINE: why" in err.
 */
int pat_rules_link(pat_ruleset_t *rs, char *err, size_t errlen);

/* Whether a rule adds a symbol when it fires: "__" rules only feed metas. */
int pat_rule_has_symbol(const pat_rule_t *r);

/*
 * Evaluates every meta rule into fired[], which holds 0 or 1 per rule and
 * already has the results of the regex rules.
 */
void pat_rules_eval_metas(const pat_ruleset_t *rs, unsigned char *fired);

/* Names a target as written in rule files. */
const char *pat_target_name(pat_target_t t);

/* Frees everything the set holds and empties it. */
void pat_rules_free(pat_ruleset_t *rs);

#endif /* SMF_PATTERN_RULES_H */
