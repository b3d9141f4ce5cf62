/*
 * listdb.h - allow and block lists and their matching, independent of where
 * the entries come from (module options today, an LMDB store later).
 */
#ifndef SMF_LISTDB_H
#define SMF_LISTDB_H

#include <stddef.h>
#include <stdint.h>

typedef enum smf_list_side { SMF_LIST_ALLOW = 0, SMF_LIST_BLOCK = 1 } smf_list_side_t;

typedef enum smf_list_kind {
    SMF_LIST_IP = 0,     /* Client address: IPv4/IPv6 address or CIDR. */
    SMF_LIST_SENDER = 1, /* Envelope sender, exact address. */
    SMF_LIST_DOMAIN = 2, /* Envelope sender's domain; ".example.com" matches subdomains. */
    SMF_LIST_HELO = 3,   /* HELO name; same forms as domains. */
    SMF_LIST_KINDS = 4
} smf_list_kind_t;

typedef struct smf_listdb smf_listdb_t;

/* What one message offers for matching. Strings may be "" (never match). */
typedef struct smf_list_query {
    int has_ip;
    uint8_t ip[16]; /* See smf_ip_parse(). */
    const char *sender;
    const char *helo;
} smf_list_query_t;

/* One match: which kind of entry and the entry as written. */
typedef struct smf_list_hit {
    smf_list_kind_t kind;
    const char *entry; /* Owned by the listdb. */
} smf_list_hit_t;

/* Returns an empty list database, or NULL when out of memory. */
smf_listdb_t *listdb_new(void);

/*
 * Adds one entry. Call listdb_freeze() after the last one.
 * Returns 0, SMF_EINVAL for an entry that is not valid for its kind, or SMF_ENOMEM.
 */
int listdb_add(smf_listdb_t *db, smf_list_side_t side, smf_list_kind_t kind, const char *entry);

/* Sorts the entries for lookup. Returns 0 or SMF_ENOMEM. */
int listdb_freeze(smf_listdb_t *db);

/* Number of entries on one side, all kinds. */
size_t listdb_count(const smf_listdb_t *db, smf_list_side_t side);

/*
 * Looks the query up on one side, kinds in order IP, sender, domain, HELO.
 * Returns 1 and fills *hit on the first match, else 0. Thread-safe once frozen.
 */
int listdb_match(const smf_listdb_t *db, smf_list_side_t side, const smf_list_query_t *q,
                 smf_list_hit_t *hit);

/* Frees the database and sets *db to NULL. */
void listdb_destroy(smf_listdb_t **db);

/* Name of a kind as used in option names ("ips", "senders", ...). */
const char *listdb_kind_name(smf_list_kind_t kind);

#endif /* SMF_LISTDB_H */
