/*
 * curve.h - CURVE encryption of the engine's endpoints: the server's key
 * pair, the allow-list of front-end public keys, and the ZAP handler that
 * enforces it.
 *
 * With curve_secret_key_file set, both endpoints (listen and publish) are
 * CURVE servers and a client whose public key is not in curve_clients_file
 * is refused during the handshake: it never reaches a worker.
 */
#ifndef SMF_CURVE_H
#define SMF_CURVE_H

#include "arena.h"

#include <stdbool.h>
#include <stddef.h>

#define CURVE_Z85_LEN 40

typedef struct curve_conf {
    bool enabled;
    char secret[CURVE_Z85_LEN + 1]; /* Z85, the server's secret key. */
    char public[CURVE_Z85_LEN + 1]; /* Z85, derived from it. */
    size_t nclients;
    unsigned char (*clients)[32]; /* Allowed client public keys, binary. */
} curve_conf_t;

/*
 * Reads the server's secret key (a file holding its Z85 text) and the
 * allow-list (a file with one Z85 public key per line; '#' starts a
 * comment). Both NULL or "": CURVE off. Returns 0 or -1 with err set.
 */
int curve_load(curve_conf_t *cc, arena_t *mem, const char *secret_file, const char *clients_file,
               char *err, size_t errlen);

/* Reads the first Z85 key of a key file (as `smfctl keygen` writes them).
 * Returns 0, or -1 with errno set when the file cannot be read, or -1 with
 * errno 0 when it holds no key. */
int curve_read_key(const char *path, char out[CURVE_Z85_LEN + 1]);

/* Whether a client public key (32 bytes) is on the list. */
bool curve_allowed(const curve_conf_t *cc, const unsigned char *key);

/* Makes a socket a CURVE server with the configured key. 0 or -1. */
int curve_server_socket(void *sock, const curve_conf_t *cc);

#endif
