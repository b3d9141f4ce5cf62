/*
 * history.c - decayed ham/spam/virus counts per address, network and sender
 * domain. Counts halve every half-life, so an address that cleaned up is
 * forgiven and a new spam run shows quickly.
 */
#include "history.h"
#include "cares.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_tags[3] = {"ip", "net", "dom"};

/* Text of an address, or of its network of `bits4` (IPv4) or `bits6`
 * (IPv6) leading bits, written with the prefix length; 0 bits: the address. */
static void hist_label(const uint8_t *ip, int bits4, int bits6, char *out, size_t outlen)
{
    uint8_t a[16];
    char text[INET6_ADDRSTRLEN];
    int v4 = cares_is_v4(ip), bits = v4 ? bits4 : bits6, first = v4 ? 12 : 0;

    memcpy(a, ip, 16);
    if (bits > 0) {
        for (int b = bits; b < (v4 ? 32 : 128); b++)
            a[first + b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
    }
    inet_ntop(v4 ? AF_INET : AF_INET6, a + first, text, sizeof(text));
    if (bits > 0)
        snprintf(out, outlen, "%s/%d", text, bits);
    else
        snprintf(out, outlen, "%s", text);
}

void rep_hist_keys(const uint8_t *ip, const char *domain, rep_hist_keys_t *k)
{
    memset(k, 0, sizeof(*k));
    if (ip == NULL)
        return;
    hist_label(ip, 0, 0, k->label[REP_HIST_IP], sizeof(k->label[0]));
    hist_label(ip, 24, 64, k->label[REP_HIST_NET], sizeof(k->label[0]));
    /* A sender domain is anyone's to claim: its record is the domain as seen
     * from one network of senders (a /16 or /48, wide enough for a mail
     * provider's outbound farm), so that spam forging a well-liked domain
     * from elsewhere neither borrows its good name nor spoils it. */
    if (domain != NULL && domain[0] != '\0') {
        char net[INET6_ADDRSTRLEN + 8];
        hist_label(ip, 16, 48, net, sizeof(net));
        snprintf(k->label[REP_HIST_DOMAIN], sizeof(k->label[0]), "%.200s from %s", domain, net);
    }
    for (int i = 0; i < 3; i++) {
        if (k->label[i][0] == '\0')
            continue;
        int n = snprintf(k->key[i], sizeof(k->key[0]), "h\t%s\t%s", kind_tags[i], k->label[i]);
        k->len[i] = n > 0 && n <= 255 ? (size_t)n : 0;
    }
}

/* Halves the counts once per half-life since the record's last update. A
 * record stamped later than now (a clock that ran fast, or another host's)
 * counts as stamped now: it is not decayed, and is stamped now when written
 * back, so that it decays from now on. */
static void hist_decay(rep_hist_t *h, double half_life_ms, int64_t now)
{
    if (h->at > 0 && now > h->at && half_life_ms > 0) {
        double f = pow(0.5, (double)(now - h->at) / half_life_ms);
        for (int c = 0; c < 3; c++)
            h->count[c] *= f;
    }
    h->at = now;
}

int rep_hist_get(smf_msg_t *msg, const rep_hist_keys_t *k, rep_hist_kind_t kind,
                 double half_life_ms, int64_t now, rep_hist_t *h)
{
    const void *val;
    size_t vlen;
    int rc;

    memset(h, 0, sizeof(*h));
    if (k->len[kind] == 0)
        return 0;
    rc = smf_kv_get(msg, k->key[kind], k->len[kind], &val, &vlen);
    if (rc == SMF_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (vlen == sizeof(*h))
        memcpy(h, val, sizeof(*h));
    hist_decay(h, half_life_ms, now);
    return 0;
}

int rep_hist_add(smf_msg_t *msg, const rep_hist_keys_t *k, rep_hist_class_t cls, double delta,
                 double half_life_ms, int64_t now)
{
    rep_hist_t h;
    int rc;

    /* Read, add, write: two scans racing may lose one count, which decay forgives. */
    for (int kind = 0; kind < 3; kind++) {
        if (k->len[kind] == 0)
            continue;
        if ((rc = rep_hist_get(msg, k, (rep_hist_kind_t)kind, half_life_ms, now, &h)) < 0)
            return rc;
        h.count[cls] = fmax(0, h.count[cls] + delta);
        if ((rc = smf_kv_put(msg, k->key[kind], k->len[kind], &h, sizeof(h))) < 0)
            return rc;
    }
    return 0;
}

bool rep_hist_stale(const void *val, size_t vlen, double half_life_ms, int64_t now,
                    double forget_count)
{
    rep_hist_t h;

    if (vlen != sizeof(h))
        return true;
    memcpy(&h, val, sizeof(h));
    hist_decay(&h, half_life_ms, now);
    return h.count[0] + h.count[1] + h.count[2] < forget_count;
}

double rep_hist_badness(const rep_hist_t *h, double min_count)
{
    double total = h->count[0] + h->count[1] + h->count[2];

    if (total < min_count || total <= 0)
        return 0;
    return 2 * (h->count[1] + h->count[2]) / total - 1;
}

bool rep_hist_ahead(const void *val, size_t vlen, int64_t now, void *out, size_t *outlen)
{
    rep_hist_t h;

    if (vlen != sizeof(h))
        return false;
    memcpy(&h, val, sizeof(h));
    if (h.at <= now)
        return false;
    h.at = now;
    memcpy(out, &h, sizeof(h));
    *outlen = sizeof(h);
    return true;
}
