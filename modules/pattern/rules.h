/*
 * rules.h - the pattern module's rule files: one rule per line, parsed into
 * a flat array that the matcher compiles. The format is in README.md.
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
    PAT_TARGET_COUNT = 7
} pat_target_t;

/* Regex flags, mapped onto Hyperscan and PCRE2 flags by the matcher. */
#define PAT_FLAG_CASELESS 0x01u  /* i */
#define PAT_FLAG_DOTALL 0x02u    /* s */
#define PAT_FLAG_MULTILINE 0x04u /* m */

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
} pat_rule_t;

typedef struct pat_ruleset {
    pat_rule_t *rules;
    size_t count, cap;
    char **files; /* Paths of the loaded files, for messages. */
    size_t file_count;
} pat_ruleset_t;

/*
 * Appends the rules of one file. On a syntax error returns SMF_EINVAL with
 * "FILE:LINE: why" in err; SMF_EIO when the file cannot be read.
 */
int pat_rules_load(pat_ruleset_t *rs, const char *path, char *err, size_t errlen);

/* Names a target as written in rule files. */
const char *pat_target_name(pat_target_t t);

/* Frees everything the set holds and empties it. */
void pat_rules_free(pat_ruleset_t *rs);

#endif /* SMF_PATTERN_RULES_H */
