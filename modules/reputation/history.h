/*
 * history.h - local reputation: decayed counts of ham, spam and virus
 * verdicts per client address, its /24 (IPv4) or /64 (IPv6), and sender
 * domain as seen from the client's /16 or /48, kept in the module's
 * key-value namespace.
 */
#ifndef REP_HISTORY_H
#define REP_HISTORY_H

#include <smf/module.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rep_hist_kind {
    REP_HIST_IP = 0,
    REP_HIST_NET = 1,
    REP_HIST_DOMAIN = 2
} rep_hist_kind_t;

typedef enum rep_hist_class {
    REP_HIST_HAM = 0,
    REP_HIST_SPAM = 1,
    REP_HIST_VIRUS = 2
} rep_hist_class_t;

/* One record, as stored (host byte order). */
typedef struct rep_hist {
    double count[3]; /* Indexed by rep_hist_class_t, decayed to `at`. */
    int64_t at;      /* Milliseconds since the epoch of the last update. */
} rep_hist_t;

/* The keys a message's history lives under; unknown parts are "". */
typedef struct rep_hist_keys {
    char key[3][300];
    size_t len[3];
    char label[3][280]; /* "192.0.2.1", "192.0.2.0/24", "example.com from 192.0.0.0/16". */
} rep_hist_keys_t;

/* Builds the keys from an address and a sender domain (or ""); with no
 * address (NULL), there are none: a domain's record is kept per network. */
void rep_hist_keys(const uint8_t *ip, const char *domain, rep_hist_keys_t *k);

/* Reads a record decayed to now; absent reads as all zero. 0 or an SMF_E* code. */
int rep_hist_get(smf_msg_t *msg, const rep_hist_keys_t *k, rep_hist_kind_t kind,
                 double half_life_ms, int64_t now, rep_hist_t *h);

/* Adds delta to one class of every record with a key; counts never go below 0. */
int rep_hist_add(smf_msg_t *msg, const rep_hist_keys_t *k, rep_hist_class_t cls, double delta,
                 double half_life_ms, int64_t now);

/* Whether a stored history value is no longer worth keeping: its counts,
 * decayed to now, total less than forget_count observations (or it is not
 * a record of this layout, which reads as all zero anyway). */
bool rep_hist_stale(const void *val, size_t vlen, double half_life_ms, int64_t now,
                    double forget_count);

/* Whether a stored history record is stamped later than now (written while
 * the clock ran fast, or by another host): it is then copied to out (room
 * for a record) stamped now, so that it decays from now on rather than
 * stand unchanged until that time. */
bool rep_hist_ahead(const void *val, size_t vlen, int64_t now, void *out, size_t *outlen);

/* From -1 (all ham) to +1 (all spam or virus); 0 below min_count observations. */
double rep_hist_badness(const rep_hist_t *h, double min_count);

#endif
