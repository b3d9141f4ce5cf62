/*
 * keygen.c - `smfctl keygen [PREFIX]`: makes a CURVE key pair for the
 * engine's endpoints or for a front end. With a prefix, writes PREFIX.key
 * (the secret, mode 0600) and PREFIX.pub; without, prints both.
 */
#include "smfctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static int write_key(const char *path, const char *what, const char *key, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return smfctl_fail(1, "%s: %s (keygen never overwrites a key)", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# SecureMailFlow CURVE %s key (Z85)\n%s\n", what, key);
    if (fclose(f) != 0)
        return smfctl_fail(1, "%s: %s", path, strerror(errno));
    return 0;
}

const char smfctl_keygen_usage[] = "usage: smfctl keygen [PREFIX]";

int smfctl_keygen(const smfctl_t *ctl, int argc, char **argv)
{
    (void)ctl;
    if (argc > 2 || (argc == 2 && argv[1][0] == '-'))
        return smfctl_fail(2, "%s", smfctl_keygen_usage);
    if (!zmq_has("curve"))
        return smfctl_fail(1, "this libzmq was built without CURVE support");
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0)
        return smfctl_fail(1, "cannot make a key pair: %s", zmq_strerror(zmq_errno()));
    if (argc == 1) {
        printf("public %s\nsecret %s\n", pub, sec);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s.key", argv[1]);
    if (write_key(path, "secret", sec, 0600) != 0)
        return 1;
    snprintf(path, sizeof(path), "%s.pub", argv[1]);
    if (write_key(path, "public", pub, 0644) != 0)
        return 1;
    printf("wrote %s.key (secret) and %s.pub (public %s)\n", argv[1], argv[1], pub);
    return 0;
}
