/*
 * ipnet.c - parsing and matching of IP addresses and CIDR networks. IPv4 is
 * kept in its IPv4-mapped IPv6 form so that one comparison serves both.
 */
#include "ipnet.h"

#include <smf/module.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int smf_ip_parse(const char *text, uint8_t out[16])
{
    char buf[64];
    size_t len = strlen(text);
    struct in_addr a4;

    /* Accept an SMTP address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
        if (len > 5 && strncasecmp(text, "IPv6:", 5) == 0) {
            text += 5;
            len -= 5;
        }
    }
    if (len == 0 || len >= sizeof(buf))
        return SMF_EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';

    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memcpy(out, v4_mapped_prefix, 12);
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out) == 1)
        return 0;
    return SMF_EINVAL;
}

/* Parses a decimal prefix length no larger than max. */
static int ipnet_parse_prefix(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;

    if (*s == '\0' || strlen(s) > 3)
        return SMF_EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return SMF_EINVAL;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max)
        return SMF_EINVAL;
    *out = v;
    return 0;
}

/* Clears the bits past the prefix, so that 10.1.2.3/8 means 10.0.0.0/8. */
static void ipnet_mask(smf_ipnet_t *net)
{
    for (unsigned bit = net->prefix; bit < 128; bit++)
        net->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

int smf_ipnet_parse(const char *text, smf_ipnet_t *out)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    unsigned plen;

    if (len >= sizeof(addr) || strlen(text) >= sizeof(out->text))
        return SMF_EINVAL;
    memcpy(addr, text, len);
    addr[len] = '\0';
    if (smf_ip_parse(addr, out->addr) < 0)
        return SMF_EINVAL;

    /* A v4 prefix counts from bit 96 of the mapped form. */
    int is_v4 = memcmp(out->addr, v4_mapped_prefix, 12) == 0 && strchr(addr, ':') == NULL;
    unsigned max = is_v4 ? 32 : 128;
    if (slash == NULL) {
        plen = max;
    } else if (ipnet_parse_prefix(slash + 1, max, &plen) < 0) {
        return SMF_EINVAL;
    }
    out->prefix = is_v4 ? plen + 96 : plen;
    ipnet_mask(out);
    strcpy(out->text, text);
    return 0;
}

int smf_ipnet_contains(const smf_ipnet_t *net, const uint8_t addr[16])
{
    unsigned full = net->prefix / 8, rest = net->prefix % 8;

    if (memcmp(net->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (net->addr[full] & mask) == (addr[full] & mask);
}

int smf_ipset_add(smf_ipset_t *set, const char *text)
{
    smf_ipnet_t net;

    if (smf_ipnet_parse(text, &net) < 0)
        return SMF_EINVAL;
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        smf_ipnet_t *n = realloc(set->nets, cap * sizeof(*n));
        if (n == NULL)
            return SMF_ENOMEM;
        set->nets = n;
        set->cap = cap;
    }
    set->nets[set->count++] = net;
    return 0;
}

long smf_ipset_find(const smf_ipset_t *set, const uint8_t addr[16])
{
    /* Linear: option lists are short. The LMDB-backed lists will index. */
    for (size_t i = 0; i < set->count; i++) {
        if (smf_ipnet_contains(&set->nets[i], addr))
            return (long)i;
    }
    return -1;
}

void smf_ipset_free(smf_ipset_t *set)
{
    free(set->nets);
    memset(set, 0, sizeof(*set));
}
