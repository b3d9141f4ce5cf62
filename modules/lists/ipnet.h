/*
 * ipnet.h - IPv4/IPv6 addresses and CIDR networks: parsing and matching.
 * Shared by the lists and reputation modules (compiled into each).
 */
#ifndef SMF_IPNET_H
#define SMF_IPNET_H

#include <stddef.h>
#include <stdint.h>

/* A network; IPv4 is stored as an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
typedef struct smf_ipnet {
    uint8_t addr[16];
    unsigned prefix; /* 0..128, counted on the 128-bit form. */
    char text[64];   /* The entry as written, for symbol details. */
} smf_ipnet_t;

/* A growable array of networks. Zero-initialise before use. */
typedef struct smf_ipset {
    smf_ipnet_t *nets;
    size_t count, cap;
} smf_ipset_t;

/*
 * Parses an address ("192.0.2.1", "2001:db8::1", "[192.0.2.1]") into 16
 * bytes, IPv4 mapped into IPv6. Returns 0 or SMF_EINVAL.
 */
int smf_ip_parse(const char *text, uint8_t out[16]);

/* Parses "addr" or "addr/len"; host bits past the prefix are cleared. */
int smf_ipnet_parse(const char *text, smf_ipnet_t *out);

/* Whether addr lies inside net. */
int smf_ipnet_contains(const smf_ipnet_t *net, const uint8_t addr[16]);

/* Parses and appends one entry. Returns 0, SMF_EINVAL or SMF_ENOMEM. */
int smf_ipset_add(smf_ipset_t *set, const char *text);

/* Index of the first network containing addr, or -1. */
long smf_ipset_find(const smf_ipset_t *set, const uint8_t addr[16]);

void smf_ipset_free(smf_ipset_t *set);

#endif /* SMF_IPNET_H */
