/*
 * listdb.c - in-memory allow/block lists: CIDR sets for addresses, sorted
 * string sets for senders, domains and HELO names. Entries are normalised
 * (lower case, no trailing dot) on the way in so lookups are plain bsearch.
 */
#include "listdb.h"
#include "listkeys.h"
#include "ipnet.h"

#include <smf/module.h>

#include <stdlib.h>
#include <string.h>

/* A sorted set of strings; for domains, `suffix` holds the ".example.com" forms. */
typedef struct strset {
    char **items;
    size_t count, cap;
} strset_t;

typedef struct list_side {
    smf_ipset_t ips;
    strset_t senders;
    strset_t domains, domain_suffixes;
    strset_t helos, helo_suffixes;
} list_side_t;

struct smf_listdb {
    list_side_t side[2];
};

/* Longest string a lookup normalises; longer input cannot match. */
#define LISTDB_MAX_NAME 512

smf_listdb_t *listdb_new(void)
{
    return calloc(1, sizeof(smf_listdb_t));
}

static int strset_push(strset_t *set, char *s)
{
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        char **n = realloc(set->items, cap * sizeof(*n));
        if (n == NULL)
            return SMF_ENOMEM;
        set->items = n;
        set->cap = cap;
    }
    set->items[set->count++] = s;
    return 0;
}

static int strset_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strset_sort(strset_t *set)
{
    if (set->count > 1)
        qsort(set->items, set->count, sizeof(char *), strset_cmp);
}

static const char *strset_find(const strset_t *set, const char *key)
{
    char *const *hit;

    if (set->count == 0)
        return NULL;
    hit = bsearch(&key, set->items, set->count, sizeof(char *), strset_cmp);
    return hit != NULL ? *hit : NULL;
}

static void strset_free(strset_t *set)
{
    for (size_t i = 0; i < set->count; i++)
        free(set->items[i]);
    free(set->items);
    memset(set, 0, sizeof(*set));
}

static int listdb_add_name(strset_t *exact, strset_t *suffix, const char *norm)
{
    /* ".example.com" is a suffix entry; a lone "." is not a domain. */
    if (!listkey_name_valid(norm[0] == '.' ? norm + 1 : norm))
        return SMF_EINVAL;
    char *copy = strdup(norm);
    if (copy == NULL)
        return SMF_ENOMEM;
    int rc = strset_push(norm[0] == '.' ? suffix : exact, copy);
    if (rc < 0)
        free(copy);
    return rc;
}

static int listdb_add_sender(strset_t *set, const char *norm)
{
    if (!listkey_address_valid(norm))
        return SMF_EINVAL;
    char *copy = strdup(norm);
    if (copy == NULL)
        return SMF_ENOMEM;
    int rc = strset_push(set, copy);
    if (rc < 0)
        free(copy);
    return rc;
}

int listdb_add(smf_listdb_t *db, smf_list_side_t side, smf_list_kind_t kind, const char *entry)
{
    char norm[LISTDB_MAX_NAME];
    list_side_t *s = &db->side[side];

    if (kind == SMF_LIST_IP)
        return smf_ipset_add(&s->ips, entry);
    if (listkey_name_canon(entry, norm, sizeof(norm)) < 0)
        return SMF_EINVAL;
    switch (kind) {
    case SMF_LIST_SENDER:
        return listdb_add_sender(&s->senders, norm);
    case SMF_LIST_DOMAIN:
        return listdb_add_name(&s->domains, &s->domain_suffixes, norm);
    case SMF_LIST_HELO:
        return listdb_add_name(&s->helos, &s->helo_suffixes, norm);
    default:
        return SMF_EINVAL;
    }
}

int listdb_freeze(smf_listdb_t *db)
{
    for (int i = 0; i < 2; i++) {
        list_side_t *s = &db->side[i];
        strset_sort(&s->senders);
        strset_sort(&s->domains);
        strset_sort(&s->domain_suffixes);
        strset_sort(&s->helos);
        strset_sort(&s->helo_suffixes);
    }
    return 0;
}

size_t listdb_count(const smf_listdb_t *db, smf_list_side_t side)
{
    const list_side_t *s = &db->side[side];

    return s->ips.count + s->senders.count + s->domains.count + s->domain_suffixes.count +
           s->helos.count + s->helo_suffixes.count;
}

/* Exact name first, then every parent suffix: a.b.example.com, .b.example.com, ... */
static const char *listdb_find_name(const strset_t *exact, const strset_t *suffix, const char *name)
{
    const char *hit = strset_find(exact, name);

    for (const char *p = name; hit == NULL && p != NULL; p = strchr(p + 1, '.')) {
        if (*p == '.')
            hit = strset_find(suffix, p);
    }
    return hit;
}

static const char *listdb_match_kind(const list_side_t *s, smf_list_kind_t kind,
                                     const smf_list_query_t *q)
{
    char norm[LISTDB_MAX_NAME];
    const char *at;

    switch (kind) {
    case SMF_LIST_IP: {
        long i = q->has_ip ? smf_ipset_find(&s->ips, q->ip) : -1;
        return i >= 0 ? s->ips.nets[i].text : NULL;
    }
    case SMF_LIST_SENDER:
        if (q->sender == NULL || listkey_name_canon(q->sender, norm, sizeof(norm)) < 0)
            return NULL;
        return strset_find(&s->senders, norm);
    case SMF_LIST_DOMAIN:
        if (q->sender == NULL || (at = strrchr(q->sender, '@')) == NULL ||
            listkey_name_canon(at + 1, norm, sizeof(norm)) < 0)
            return NULL;
        return listdb_find_name(&s->domains, &s->domain_suffixes, norm);
    case SMF_LIST_HELO:
        if (q->helo == NULL || listkey_name_canon(q->helo, norm, sizeof(norm)) < 0)
            return NULL;
        return listdb_find_name(&s->helos, &s->helo_suffixes, norm);
    default:
        return NULL;
    }
}

int listdb_match(const smf_listdb_t *db, smf_list_side_t side, const smf_list_query_t *q,
                 smf_list_hit_t *hit)
{
    for (int k = 0; k < SMF_LIST_KINDS; k++) {
        const char *entry = listdb_match_kind(&db->side[side], (smf_list_kind_t)k, q);
        if (entry != NULL) {
            hit->kind = (smf_list_kind_t)k;
            hit->entry = entry;
            return 1;
        }
    }
    return 0;
}

void listdb_destroy(smf_listdb_t **db)
{
    if (db == NULL || *db == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        list_side_t *s = &(*db)->side[i];
        smf_ipset_free(&s->ips);
        strset_free(&s->senders);
        strset_free(&s->domains);
        strset_free(&s->domain_suffixes);
        strset_free(&s->helos);
        strset_free(&s->helo_suffixes);
    }
    free(*db);
    *db = NULL;
}

const char *listdb_kind_name(smf_list_kind_t kind)
{
    static const char *const names[SMF_LIST_KINDS] = {"ips", "senders", "domains", "helos"};

    return (unsigned)kind < SMF_LIST_KINDS ? names[kind] : "?";
}
