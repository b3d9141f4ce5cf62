/*
 * dnsbl.h - DNS block and allow lists: their configuration format and the
 * judging of their answers.
 *
 *   "ZONE:QUERY:CODES:SCORE"
 *   ZONE   the list's zone (zen.example)
 *   QUERY  what is looked up, one or more of ip, sender, helo, url joined
 *          by ',': the client address (reversed octets or nibbles), the
 *          sender's domain, the HELO name, the host of each URL
 *   CODES  answers that count: "any" (127.0.0.0/8), or a ',' list of
 *          addresses (127.0.0.2), ranges (127.0.0.2-127.0.0.11) and masks
 *          (&0x08: the last octet has one of these bits)
 *   SCORE  points when listed; negative for an allow list
 */
#ifndef REP_DNSBL_H
#define REP_DNSBL_H

#include <stddef.h>
#include <stdint.h>

#define REP_Q_IP 0x01
#define REP_Q_SENDER 0x02
#define REP_Q_HELO 0x04
#define REP_Q_URL 0x08
#define REP_Q_URL_IP 0x10

#define REP_MAX_CODES 16

typedef struct rep_code {
    uint32_t lo, hi; /* Host order; a mask entry has lo = hi = 0. */
    uint32_t mask;
} rep_code_t;

typedef struct rep_zone {
    char zone[200];
    char symbol[96];  /* REP_DNSBL_ZEN_EXAMPLE or REP_DNSWL_... */
    char blocked[96]; /* REP_DNSBL_BLOCKED_ZEN_EXAMPLE */
    unsigned queries; /* REP_Q_* bits. */
    double score;
    size_t ncodes;
    rep_code_t codes[REP_MAX_CODES];
} rep_zone_t;

/* Parses one spec; `prefix` is "REP_DNSBL" or "REP_DNSWL". 0 or -1 with *why. */
int rep_zone_parse(const char *spec, const char *prefix, rep_zone_t *z, const char **why);

/* Whether an IPv4 answer (host order) counts as listed in this zone. */
int rep_zone_listed(const rep_zone_t *z, uint32_t answer);

/*
 * Whether an answer says the list refuses our resolver rather than judging
 * the query: 127.255.255.0/24, which the big lists use for "blocked",
 * "rate-limited" and "open resolver", and 127.0.0.1 (URIBL, SURBL) and
 * 127.0.0.255 (dnswl.org) unless the zone's codes name that address alone.
 */
int rep_zone_refusal(const rep_zone_t *z, uint32_t answer);

#endif
