/*
 * learnreg.h - the learning registry: which messages the classifiers were
 * taught, as what, by whom and when, so that teaching a message twice
 * counts once and a hand-taught message is never re-taught by autolearn.
 * A message an operator unlearned keeps an entry that says so, for the
 * same reason: autolearn must not teach it again behind their back.
 *
 * It lives in the key-value store under its own namespace, keyed by the
 * SHA-256 of the message as its sender wrote it (learnreg_key), so that the
 * copy smfd scanned and the one delivered to a mailbox or saved elsewhere
 * match. smfctl learn and smfd's autolearn share it.
 */
#ifndef SMF_LEARNREG_H
#define SMF_LEARNREG_H

#include "arena.h"
#include "kv.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The registry's namespace: a dot keeps it apart from every module's name. */
#define LEARNREG_NAMESPACE ".learned"
#define LEARNREG_KEY_LEN 32
/* Who autolearn says it is, in the registry's "by". */
#define LEARNREG_AUTOLEARN "autolearn"

/*
 * The message's key: the SHA-256 of its header fields but those added on
 * the way (trace fields, filters' verdicts, mailbox flags, every X- field),
 * each unfolded with its blanks collapsed, and of its body, CRLF read as LF
 * and without the line breaks at its end. Two copies of a message differ
 * in nothing else; two messages do.
 */
void learnreg_key(const char *raw, size_t len, unsigned char key[LEARNREG_KEY_LEN]);
/*
 * Opens (creating) learn.lock beside the store, which learners flock()
 * to take turns: smfctl learn waits for it, smfd's autolearning and refit
 * try it. A descriptor (closing it releases the lock), or -1 with errno;
 * *path, when not NULL, gets the file's path (g_free it).
 */
int learnreg_lock_open(const kv_t *kv, char **path);
/* "spam" or "ham"; SMF_CLASS_* from a name, 0 when unknown. */
const char *learnreg_class_name(int klass);
int learnreg_class_parse(const char *s);
/*
 * The entry of a message: 0 with *entry a new reference (a learned one, or
 * one that says an operator unlearned it), or NULL when it was never
 * taught; an error when the registry could not be read (SMF_EIO) or the
 * message's entry does not read as one (SMF_EINVAL), so that a caller does
 * not take a message it cannot look up for a new one and count it again.
 */
int learnreg_get(kv_t *kv, unsigned dbi, const unsigned char *key, arena_t *arena, json_t **entry);
/*
 * learnreg_get() of the message raw[0..len), whose key goes to key. An
 * entry the first versions wrote under the hash of the whole message is
 * moved to the key (inside the caller's transaction, which must be open).
 */
int learnreg_find(kv_t *kv, unsigned dbi, const char *raw, size_t len,
                  unsigned char key[LEARNREG_KEY_LEN], arena_t *arena, json_t **entry);
/* Records that the message was taught as klass, for `domain`'s model ("" or
 * NULL: site-wide); `modules` lists who learned it. SMF_EINVAL when the
 * domain is not UTF-8 (JSON cannot hold it), so that the caller's
 * transaction teaches nothing rather than lose where the message went. */
int learnreg_put(kv_t *kv, unsigned dbi, const unsigned char *key, int klass, const char *domain,
                 const char *by, const char *source, json_t *modules);
/*
 * Records that an operator unlearned the message (it had been taught as
 * klass), by whom and from which file: an entry of its own, which
 * learnreg_unlearned() tells apart, so that autolearn leaves the message be
 * while smfctl learn may still teach it (replacing the entry). 0, or what
 * the store's write returned.
 */
int learnreg_put_unlearned(kv_t *kv, unsigned dbi, const unsigned char *key, int klass,
                           const char *by, const char *source);
/* Whether entry (from learnreg_get) says an operator unlearned the message:
 * it is taught as nothing, and has no class or modules. */
bool learnreg_unlearned(const json_t *entry);
/* The domain an entry was taught for; "" when site-wide. Borrowed from entry. */
const char *learnreg_domain(const json_t *entry);

#endif
