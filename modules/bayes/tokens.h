/*
 * tokens.h - the bayes module's tokenizer: turns a message into a set of
 * distinct 64-bit token hashes (words, word pairs, header, URL and
 * attachment features), each tagged by where it came from.
 */
#ifndef BAYES_TOKENS_H
#define BAYES_TOKENS_H

#include <smf/module.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Asks bayes_tokenize() what some tokens were made of, to name them to an
 * operator: for each wanted hash, the first text that gave it, as
 * `source "text"` (source: the token's prefix, "body" for words of the text,
 * a header's name without "h:"), cut at 40 bytes. Word pairs are never named.
 */
typedef struct bayes_names {
    const uint64_t *want; /* Hashes to name. */
    size_t count;
    char **text; /* Out, count entries the caller set to NULL: arena strings, or NULL if unmet. */
} bayes_names_t;

/* What to read, and how much of it. */
typedef struct bayes_tok_opts {
    size_t limit;         /* Distinct tokens kept at most. */
    size_t max_text;      /* Bytes of decoded text (and of each HTML part) read at most. */
    bool bigrams;         /* Also emit pairs of neighbouring words. */
    bool html_tags;       /* Also emit the tags and attributes of HTML parts. */
    bayes_names_t *names; /* Tokens to name while reading, or NULL. */
} bayes_tok_opts_t;

/* No token: a word past the limit, or a token that is not a pair. */
#define BAYES_NO_TOKEN UINT32_MAX

typedef struct bayes_tokens {
    uint64_t *items; /* Distinct hashes, in the order found; never 0. */
    size_t count;
    size_t limit;        /* Tokens kept at most; later ones are dropped. */
    size_t cap;          /* The budget of the source being read: limit or less. */
    size_t header_names; /* Header-name tokens added so far. */
    /* For a word pair, the indices of its two words (always earlier in
     * items); BAYES_NO_TOKEN twice for any other token. A scan skips a pair
     * whose words were never learned: learning adds a pair only with them. */
    uint32_t (*pairs)[2];
    uint32_t *slots; /* Open-addressing set: index + 1 into items; 0 marks a free slot. */
    size_t mask;
    bool bigrams;         /* Also emit pairs of neighbouring words. */
    bayes_names_t *names; /* Tokens to name, or NULL. */
    smf_msg_t *msg;       /* Whose arena holds the names. */
} bayes_tokens_t;

/* Tokenizes the message into *t, allocating from the message arena. 0 or SMF_ENOMEM. */
int bayes_tokenize(smf_msg_t *msg, const bayes_tok_opts_t *o, bayes_tokens_t *t);

#endif
