/*
 * listkeys.h - the key format of the lists module's LMDB namespace, shared
 * by the module (which reads it per message) and `smfctl list` (which
 * writes it). Depends on libc and the SDK error codes only.
 *
 * Layout, all in the namespace "lists":
 *   SCOPE \t T \t VALUE   one entry; T is i, s, d or h (ip, sender, domain,
 *                         helo). For ip, VALUE is one byte of prefix length
 *                         (on the 128-bit IPv4-mapped form) and the masked
 *                         address bytes the prefix covers. The value record
 *                         holds the action, the flags and the entry as written.
 *   SCOPE \t #            the scope's summary: entries per type and per
 *                         prefix length, so that a lookup skips empty scopes
 *                         and tries only the prefix lengths that exist.
 * SCOPE is "global", "domain:D" or "user:ADDR", lower case.
 */
#ifndef SMF_LISTKEYS_H
#define SMF_LISTKEYS_H

#include <stddef.h>
#include <stdint.h>

#define LISTKEY_NAMESPACE "lists"
#define LISTKEY_MAX 255       /* The store's key limit. */
#define LISTKEY_SCOPE_MAX 200 /* Scope text, with its NUL. */
#define LISTKEY_VALUE_MAX 256 /* Entry text, with its NUL. */
#define LISTKEY_AUTH 0x01     /* Allow entry that needs SPF or DKIM for the sender's domain. */

typedef enum listkey_type {
    LISTKEY_IP = 0,
    LISTKEY_SENDER = 1,
    LISTKEY_DOMAIN = 2,
    LISTKEY_HELO = 3,
    LISTKEY_TYPES = 4
} listkey_type_t;

typedef enum listkey_action { LISTKEY_ALLOW = 0, LISTKEY_BLOCK = 1 } listkey_action_t;

/* One entry, parsed and normalised. */
typedef struct listkey_entry {
    char scope[LISTKEY_SCOPE_MAX];
    listkey_type_t type;
    listkey_action_t action;
    unsigned flags;
    char value[LISTKEY_VALUE_MAX];
    uint8_t ip[16]; /* IP entries: masked, IPv4 mapped into IPv6. */
    unsigned plen;  /* IP entries: 0..128 on the mapped form. */
    int64_t added;  /* Seconds since the epoch. */
} listkey_entry_t;

/* A scope's summary record (host byte order; the store never leaves the host). */
typedef struct listkey_meta {
    uint32_t version;
    uint32_t types[LISTKEY_TYPES];
    uint32_t plens[129];
} listkey_meta_t;

const char *listkey_type_name(listkey_type_t t);
const char *listkey_action_name(listkey_action_t a);
/* 0 or SMF_EINVAL. */
int listkey_type_parse(const char *text, listkey_type_t *out);
int listkey_action_parse(const char *text, listkey_action_t *out);

/* Normalises "global", "domain:D" or "user:ADDR" into out; 0 or SMF_EINVAL. */
int listkey_scope_parse(const char *text, char *out, size_t outlen);

/* Parses an address or CIDR into the mapped form with the host bits cleared. */
int listkey_ip_parse(const char *text, uint8_t ip[16], unsigned *plen);

/*
 * The address src with its quoted local part unquoted, the way RFC 5321
 * compares mailboxes ("\"joe\"@example.com" and "\"j\\oe\"@example.com" are
 * joe@example.com), written to dst, which has room for strlen(src) + 1
 * bytes (the result is never longer). Returns 1 when it unquoted, 0 when src
 * has no quoted local part (dst is then untouched).
 */
int listkey_unquote(const char *src, char *dst);

/* Lower-cases a host, domain or address, unquotes an address's local part
 * and drops one final dot; 0 or SMF_EINVAL. */
int listkey_name_normalise(const char *src, char *dst, size_t dstlen);
/* The same, with the host part (after '@', past a leading '.') as its A-label:
 * the form of entry values and of what is looked up. 0 or SMF_EINVAL. */
int listkey_name_canon(const char *src, char *dst, size_t dstlen);
/* Whether s is a host or domain name DNS can hold (labels of 1 to 63 bytes,
 * no '-' at their ends, '_' and UTF-8 taken), and whether it is an address
 * local@name with a printable local part. 1 or 0. */
int listkey_name_valid(const char *s);
int listkey_address_valid(const char *s);

/* Parses the value of e->type into e (value, ip, plen); 0 or SMF_EINVAL. */
int listkey_value_parse(listkey_entry_t *e, const char *text);

/* Refuses entries that make no sense (allowing a HELO name); 0 or SMF_EINVAL with *why. */
int listkey_entry_check(const listkey_entry_t *e, const char **why);

/* Whether new entries of this type and action are authenticated by default. */
int listkey_auth_default(listkey_type_t t, listkey_action_t a);

/* Keys; each returns the length written to out (LISTKEY_MAX bytes), 0 when too long. */
size_t listkey_key(const listkey_entry_t *e, uint8_t *out);
size_t listkey_ip_key(const char *scope, const uint8_t ip[16], unsigned plen, uint8_t *out);
size_t listkey_name_key(const char *scope, listkey_type_t t, const char *name, uint8_t *out);
size_t listkey_meta_key(const char *scope, uint8_t *out);

/* Decodes an entry key into e->scope and e->type. 1 for an entry, 0 for a summary, -1 if foreign.
 */
int listkey_key_decode(const void *key, size_t len, listkey_entry_t *e);

/* Value records: action, flags, time added, the entry text. */
size_t listkey_value_encode(const listkey_entry_t *e, uint8_t *out, size_t outlen);
int listkey_value_decode(const void *val, size_t len, listkey_entry_t *e);

/* Reads a summary record; a missing or foreign one reads as empty. */
void listkey_meta_decode(const void *val, size_t len, listkey_meta_t *m);

/* Adds delta to the counts of e's type (and prefix length). */
void listkey_meta_count(listkey_meta_t *m, const listkey_entry_t *e, int delta);

/*
 * The text format of import and export, one entry a line:
 *   SCOPE TYPE ACTION VALUE [auth|noauth]
 * Blank lines and lines starting with '#' are skipped (returns 0); a line with
 * only VALUE takes scope, type, action and flags from `defaults` (when given).
 * Returns 1 with e filled, 0 for nothing, or SMF_EINVAL with *why set.
 */
int listkey_line_parse(const char *line, const listkey_entry_t *defaults, listkey_entry_t *e,
                       const char **why);
/* Writes e as one line without the newline; the length, as snprintf. */
int listkey_line_format(const listkey_entry_t *e, char *buf, size_t len);

#endif
