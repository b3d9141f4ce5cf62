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

/* The key of the first versions: the SHA-256 of the whole message, CRLF read as LF. */
static void whole_message_key(const char *raw, size_t len, unsigned char key[LEARNREG_KEY_LEN])
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

/*
 * Fields written on the way or at delivery, not by the sender: the MTA's
 * trace (Received, Return-Path, Delivered-To), the verdicts of filters
 * (smfd's own X-SMF-Status, Authentication-Results, X-Spam-*), what mail
 * clients and mailbox formats keep (Status, X-UID, Content-Length), and
 * every X- field, which any hop may add. Two copies of one message, the one
 * smfd scanned and the one delivered to a mailbox, differ in these alone.
 */
static bool added_on_the_way(const char *name)
{
    static const char *const names[] = {"received",
                                        "return-path",
                                        "delivered-to",
                                        "delivery-date",
                                        "envelope-to",
                                        "received-spf",
                                        "authentication-results",
                                        "status",
                                        "content-length",
                                        "lines",
                                        NULL};
    if (strncmp(name, "x-", 2) == 0 || strncmp(name, "arc-", 4) == 0)
        return true;
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* A length as 8 bytes, so that no two lists of fields hash alike. */
static void hash_len(GChecksum *ck, size_t n)
{
    guchar b[8];
    for (size_t i = 0; i < 8; i++)
        b[i] = (guchar)((uint64_t)n >> (8 * i));
    g_checksum_update(ck, b, sizeof(b));
}

/*
 * Hashes one field, unless it is added on the way: its name in lower case
 * and its value unfolded, each run of blanks one space and none at either
 * end, since a milter hands the MTA's fields over without their spacing.
 */
static void hash_field(GChecksum *ck, GString *name, GString *value, GString *v)
{
    while (name->len > 0 && (name->str[name->len - 1] == ' ' || name->str[name->len - 1] == '\t'))
        g_string_truncate(name, name->len - 1);
    for (size_t i = 0; i < name->len; i++)
        name->str[i] = g_ascii_tolower(name->str[i]);
    if (!added_on_the_way(name->str)) {
        g_string_truncate(v, 0);
        for (size_t i = 0; i < value->len; i++) {
            char c = value->str[i];
            bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';
            if (!blank)
                g_string_append_c(v, c);
            else if (v->len > 0 && v->str[v->len - 1] != ' ')
                g_string_append_c(v, ' ');
        }
        if (v->len > 0 && v->str[v->len - 1] == ' ')
            g_string_truncate(v, v->len - 1);
        g_checksum_update(ck, (const guchar *)"F", 1);
        hash_len(ck, name->len);
        g_checksum_update(ck, (const guchar *)name->str, (gssize)name->len);
        hash_len(ck, v->len);
        g_checksum_update(ck, (const guchar *)v->str, (gssize)v->len);
    }
    g_string_truncate(name, 0);
    g_string_truncate(value, 0);
}

/* Hashes the header fields of raw; where the body starts (len when none does). */
static size_t hash_header(GChecksum *ck, const char *raw, size_t len)
{
    /* The value with its blanks evened out is made in one buffer for all. */
    GString *name = g_string_new(NULL), *value = g_string_new(NULL), *even = g_string_new(NULL);
    bool field = false;
    size_t i = 0, body = len;
    while (i < len) {
        const char *nl = memchr(raw + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - raw) : len, next = nl ? end + 1 : len;
        if (end > i && raw[end - 1] == '\r')
            end--;
        if (end == i) {
            body = next;
            break;
        }
        if (raw[i] == ' ' || raw[i] == '\t') {
            g_string_append_c(value, ' ');
            g_string_append_len(value, raw + i, (gssize)(end - i));
        } else {
            if (field)
                hash_field(ck, name, value, even);
            const char *colon = memchr(raw + i, ':', end - i);
            size_t n = colon ? (size_t)(colon - (raw + i)) : end - i;
            g_string_append_len(name, raw + i, (gssize)n);
            if (colon)
                g_string_append_len(value, colon + 1, (gssize)(end - i - n - 1));
        }
        field = true;
        i = next;
    }
    if (field)
        hash_field(ck, name, value, even);
    g_string_free(name, TRUE);
    g_string_free(value, TRUE);
    g_string_free(even, TRUE);
    return body;
}

void learnreg_key(const char *raw, size_t len, unsigned char key[LEARNREG_KEY_LEN])
{
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, (const guchar *)"smf.learnreg.2", 14);
    size_t body = hash_header(ck, raw, len);
    /* The line breaks at the end are the file's or the mbox's, not the
     * message's: one copy has one, another none or two. */
    size_t end = len;
    while (end > body && raw[end - 1] == '\n')
        end -= end - 1 > body && raw[end - 2] == '\r' ? 2 : 1;
    g_checksum_update(ck, (const guchar *)"B", 1);
    size_t start = body;
    for (size_t i = body; i + 1 < end; i++) {
        if (raw[i] == '\r' && raw[i + 1] == '\n') {
            g_checksum_update(ck, (const guchar *)raw + start, (gssize)(i - start));
            start = i + 1;
        }
    }
    g_checksum_update(ck, (const guchar *)raw + start, (gssize)(end - start));
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

int learnreg_find(kv_t *kv, unsigned dbi, const char *raw, size_t len,
                  unsigned char key[LEARNREG_KEY_LEN], arena_t *arena, json_t **entry)
{
    learnreg_key(raw, len, key);
    int rc = learnreg_get(kv, dbi, key, arena, entry);
    if (rc != 0 || *entry != NULL)
        return rc;
    /* An entry of the first versions is under the hash of the whole
     * message: it moves to the message's key now, in the caller's
     * transaction, rather than let the message be taught a second time. */
    unsigned char old[LEARNREG_KEY_LEN];
    const void *val;
    size_t vlen;
    whole_message_key(raw, len, old);
    rc = kv_get(kv, dbi, old, LEARNREG_KEY_LEN, arena, SIZE_MAX, &val, &vlen);
    if (rc != 0)
        return rc == SMF_ENOENT ? 0 : rc;
    if ((rc = kv_put(kv, dbi, key, LEARNREG_KEY_LEN, val, vlen)) != 0 ||
        (rc = kv_del(kv, dbi, old, LEARNREG_KEY_LEN)) != 0)
        return rc;
    return learnreg_get(kv, dbi, key, arena, entry);
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
