/*
 * learnreg.c - the learning registry's records: a small JSON object per
 * message hash.
 */
#include "learnreg.h"
#include "jsontext.h"
#include "smf/module.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

void learnreg_key(const char *raw, size_t len, unsigned char key[LEARNREG_KEY_LEN])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    size_t start = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (raw[i] == '\r' && raw[i + 1] == '\n') {
            g_checksum_update(ck, (const guchar *)raw + start, (gssize)(i - start));
            start = i + 1;
        }
    }
    g_checksum_update(ck, (const guchar *)raw + start, (gssize)(len - start));
    gsize n = LEARNREG_KEY_LEN;
    g_checksum_get_digest(ck, key, &n);
    g_checksum_free(ck);
}

const char *learnreg_class_name(int klass)
{
    return klass == SMF_CLASS_SPAM ? "spam" : "ham";
}

int learnreg_class_parse(const char *s)
{
    if (s == NULL)
        return 0;
    return strcmp(s, "spam") == 0 ? SMF_CLASS_SPAM : strcmp(s, "ham") == 0 ? SMF_CLASS_HAM : 0;
}

int learnreg_get(kv_t *kv, unsigned dbi, const unsigned char *key, arena_t *arena, json_t **entry)
{
    const void *val;
    size_t len;
    *entry = NULL;
    int rc = kv_get(kv, dbi, key, LEARNREG_KEY_LEN, arena, SIZE_MAX, &val, &len);
    if (rc != 0)
        return rc == SMF_ENOENT ? 0 : rc;
    json_t *j = json_loadb(val, len, 0, NULL);
    /* An entry that does not read says the message was taught, not how:
     * taken for never taught, it would be taught and counted twice. */
    const char *klass =
        json_string_value(json_object_get(j, learnreg_unlearned(j) ? "unlearned" : "class"));
    if (j == NULL || learnreg_class_parse(klass) == 0) {
        json_decref(j);
        return SMF_EINVAL;
    }
    *entry = j;
    return 0;
}

/* The time now, as the entries record it (UTC). */
static void now_utc(char when[32])
{
    time_t now = time(NULL);
    strftime(when, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

/* Writes entry j (NULL: it could not be made) and releases it. */
static int put_entry(kv_t *kv, unsigned dbi, const unsigned char *key, json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc = s != NULL ? kv_put(kv, dbi, key, LEARNREG_KEY_LEN, s, strlen(s)) : SMF_EINVAL;
    free(s);
    json_decref(j);
    return rc;
}

int learnreg_put(kv_t *kv, unsigned dbi, const unsigned char *key, int klass, const char *domain,
                 const char *by, const char *source, json_t *modules)
{
    char when[32];
    now_utc(when);
    /* JSON holds UTF-8 only, and a file name or login need not be: such a
     * byte is kept as \xHH rather than failing the entry after the
     * classifiers already learned the message. */
    json_t *j =
        json_pack("{s:s, s:o, s:s, s:o, s:O}", "class", learnreg_class_name(klass), "by",
                  jsontext_new(by), "at", when, "source", jsontext_new(source), "modules", modules);
    /* The domain, unlike a file name, is not mended: it names the model the
     * message went to, and an entry without it would unlearn from another. */
    if (j != NULL && domain != NULL && *domain != '\0' &&
        json_object_set_new(j, "domain", json_string(domain)) != 0) {
        json_decref(j);
        j = NULL;
    }
    return put_entry(kv, dbi, key, j);
}

int learnreg_put_unlearned(kv_t *kv, unsigned dbi, const unsigned char *key, int klass,
                           const char *by, const char *source)
{
    char when[32];
    now_utc(when);
    /* No "class": the message is taught as nothing now, and a reader that
     * does not know this kind of entry takes it for a damaged one (and
     * leaves the message be) rather than for a learned one to undo. */
    json_t *j = json_pack("{s:s, s:o, s:s, s:o}", "unlearned", learnreg_class_name(klass), "by",
                          jsontext_new(by), "at", when, "source", jsontext_new(source));
    return put_entry(kv, dbi, key, j);
}

bool learnreg_unlearned(const json_t *entry)
{
    return entry != NULL && json_object_get(entry, "class") == NULL &&
           json_object_get(entry, "unlearned") != NULL;
}

const char *learnreg_domain(const json_t *entry)
{
    const char *d = json_string_value(json_object_get(entry, "domain"));
    return d != NULL ? d : "";
}

int learnreg_lock_open(const kv_t *kv, char **path)
{
    char *p = g_strdup_printf("%s/learn.lock", kv_dir(kv));
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int saved = errno;
    if (path != NULL)
        *path = p;
    else
        g_free(p);
    errno = saved;
    return fd;
}
