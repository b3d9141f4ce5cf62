/*
 * envelope.c - turns what the MTA told the milter about a message (client,
 * HELO, MAIL FROM, RCPT TO, macros) into the envelope JSON of the SMF/1 SCAN
 * request, including the direction decided from --trusted and SMTP AUTH.
 */
#include "jsontext.h"
#include "smf_milter.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int envelope_parse_net(const char *spec, milter_net_t *net)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(spec) >= sizeof buf)
        return -1;
    strcpy(buf, spec);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    memset(net, 0, sizeof *net);
    int max;
    if (inet_pton(AF_INET, buf, net->addr) == 1) {
        net->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
        net->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    net->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash, &end, 10);
        if (*slash == '\0' || *end != '\0' || p < 0 || p > max)
            return -1;
        net->prefix = (int)p;
    }
    return 0;
}

int envelope_client_addr(const char *macro, char *out, size_t size)
{
    unsigned char a[16];
    const char *text = NULL;
    out[0] = '\0';
    if (macro == NULL)
        return -1;
    /* Sendmail writes an IPv6 client as an RFC 5321 address literal's
     * "IPv6:2001:db8::1"; the engine and --trusted take the address alone. */
    if (strncasecmp(macro, "IPv6:", 5) == 0 && inet_pton(AF_INET6, macro + 5, a) == 1)
        text = inet_ntop(AF_INET6, a, out, (socklen_t)size);
    else if (inet_pton(AF_INET, macro, a) == 1)
        text = inet_ntop(AF_INET, a, out, (socklen_t)size);
    else if (inet_pton(AF_INET6, macro, a) == 1)
        text = inet_ntop(AF_INET6, a, out, (socklen_t)size);
    if (text == NULL) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* Compares the first prefix bits of two addresses. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, int prefix)
{
    int bytes = prefix / 8, bits = prefix % 8;
    if (memcmp(a, b, (size_t)bytes) != 0)
        return false;
    if (bits == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool envelope_trusted(const char *ip)
{
    unsigned char a4[4], a6[16];
    bool is4 = inet_pton(AF_INET, ip, a4) == 1;
    bool is6 = !is4 && inet_pton(AF_INET6, ip, a6) == 1;
    /* An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) counts as IPv4. */
    if (is6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a6)) {
        memcpy(a4, a6 + 12, 4);
        is4 = true;
    }
    for (size_t i = 0; i < milter_opts.n_trusted; i++) {
        const milter_net_t *n = &milter_opts.trusted[i];
        if (n->family == AF_INET && is4 && prefix_equal(a4, n->addr, n->prefix))
            return true;
        if (n->family == AF_INET6 && is6 && prefix_equal(a6, n->addr, n->prefix))
            return true;
    }
    return false;
}

/*
 * A field as a JSON string. json_string() refuses bytes that are not UTF-8
 * (an 8-bit address from a client that did not ask for SMTPUTF8):
 * jsontext_new() writes each such byte as \xHH, so that the rest, the
 * domain of an address above all, still reaches the engine. Sent empty,
 * "x\xe9@evil.example" was the null sender, and no block of evil.example
 * applied. NULL (a macro the MTA did not give) is sent as "".
 */
static json_t *jstr(const char *s)
{
    return jsontext_new(s ? s : "");
}

json_t *envelope_build(const milter_conn_t *conn)
{
    json_t *env = json_object();
    json_t *rcpts = json_array();
    if (!env || !rcpts) {
        json_decref(env);
        json_decref(rcpts);
        return NULL;
    }
    for (size_t i = 0; i < conn->n_rcpts; i++)
        json_array_append_new(rcpts, jstr(conn->rcpts[i]));
    bool authed = conn->auth_user && conn->auth_user[0];
    bool outbound = authed || (conn->client_ip[0] && envelope_trusted(conn->client_ip));
    json_object_set_new(env, "recipients", rcpts);
    json_object_set_new(env, "sender", jstr(conn->sender));
    json_object_set_new(env, "client_ip", jstr(conn->client_ip));
    json_object_set_new(env, "client_name", jstr(conn->client_name));
    json_object_set_new(env, "helo", jstr(conn->helo));
    json_object_set_new(env, "auth_user", jstr(conn->auth_user));
    json_object_set_new(env, "queue_id", jstr(conn->queue_id));
    json_object_set_new(env, "direction", jstr(outbound ? "outbound" : "inbound"));
    /* Recipients can be removed one by one: a domain whose policy delivers
     * then gets the message that another domain quarantines. */
    if (conn->delrcpt)
        json_object_set_new(env, "split", json_true());
    return env;
}
