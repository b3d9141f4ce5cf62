/*
 * curve.c - loading CURVE keys and answering the ZAP handshake checks.
 */
#include "curve.h"
#include "errbuf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

/*
 * Key files hold Z85 text, one key per line. Z85 uses '#', so a comment is
 * a line whose '#' is followed by a blank or the end of the line; a key is
 * the first word of any other line, 40 characters long.
 */
static size_t key_token(const char *line, const char **start)
{
    const char *p = line + strspn(line, " \t");
    if (*p == '#' && (p[1] == ' ' || p[1] == '\t' || p[1] == '\n' || p[1] == '\r' || !p[1]))
        return 0;
    *start = p;
    return strcspn(p, " \t\r\n");
}

int curve_read_key(const char *path, char out[CURVE_Z85_LEN + 1])
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    int rc = -1;
    while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
        const char *p;
        size_t n = key_token(line, &p);
        if (n == CURVE_Z85_LEN) {
            memcpy(out, p, n);
            out[n] = '\0';
            rc = 0;
        }
    }
    fclose(f);
    if (rc != 0)
        errno = 0; /* Read, but no key in it. */
    return rc;
}

static int load_clients(curve_conf_t *cc, arena_t *mem, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errbuf_fail(err, errlen, "curve_clients_file %s: cannot read it: %m", path);
    char line[256];
    size_t cap = 16, lineno = 0;
    cc->clients = arena_alloc(mem, cap * 32);
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        const char *p;
        size_t n = key_token(line, &p);
        if (n == 0)
            continue;
        char z85[CURVE_Z85_LEN + 1];
        if (n != CURVE_Z85_LEN ||
            (memcpy(z85, p, n), z85[n] = '\0', zmq_z85_decode(cc->clients[0], z85) == NULL)) {
            fclose(f);
            return errbuf_fail(err, errlen,
                               "%s:%zu: not a Z85 public key (40 characters); make keys with "
                               "`smfctl keygen`",
                               path, lineno);
        }
        if (cc->nclients == cap) {
            unsigned char(*bigger)[32] = arena_alloc(mem, cap * 2 * 32);
            memcpy(bigger, cc->clients, cap * 32);
            cc->clients = bigger;
            cap *= 2;
        }
        zmq_z85_decode(cc->clients[cc->nclients++], z85);
    }
    fclose(f);
    if (cc->nclients == 0)
        return errbuf_fail(err, errlen,
                           "curve_clients_file %s lists no key: no front end could connect", path);
    return 0;
}

int curve_load(curve_conf_t *cc, arena_t *mem, const char *secret_file, const char *clients_file,
               char *err, size_t errlen)
{
    memset(cc, 0, sizeof(*cc));
    bool has_secret = secret_file != NULL && *secret_file;
    bool has_clients = clients_file != NULL && *clients_file;
    if (!has_secret && !has_clients)
        return 0;
    if (!has_secret || !has_clients)
        return errbuf_fail(err, errlen,
                           "CURVE needs both curve_secret_key_file and curve_clients_file");
    if (!zmq_has("curve"))
        return errbuf_fail(err, errlen, "this libzmq was built without CURVE support");
    unsigned char raw[32];
    /* smfd running as `user` reads the key again at each reload; a key only
     * root may read is the likely mistake, so it is named as such. */
    int rc = curve_read_key(secret_file, cc->secret);
    if (rc != 0 && errno != 0)
        return errbuf_fail(err, errlen, "curve_secret_key_file %s: cannot read it: %m",
                           secret_file);
    if (rc != 0 || zmq_z85_decode(raw, cc->secret) == NULL)
        return errbuf_fail(err, errlen,
                           "curve_secret_key_file %s: no Z85 secret key in it (40 characters); "
                           "make one with `smfctl keygen`",
                           secret_file);
    if (zmq_curve_public(cc->public, cc->secret) != 0)
        return errbuf_fail(err, errlen, "curve_secret_key_file %s: not a usable key", secret_file);
    cc->enabled = true;
    return load_clients(cc, mem, clients_file, err, errlen);
}

bool curve_allowed(const curve_conf_t *cc, const unsigned char *key)
{
    for (size_t i = 0; i < cc->nclients; i++)
        if (memcmp(cc->clients[i], key, 32) == 0)
            return true;
    return false;
}

int curve_server_socket(void *sock, const curve_conf_t *cc)
{
    int on = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof(on)) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, cc->secret, CURVE_Z85_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "smf", 3) != 0)
        return -1;
    return 0;
}
