/*
 * callbacks.c - the libmilter callbacks: collect the envelope and rebuild the
 * message as the MTA hands it over, ask the engine at end of DATA, and turn
 * its verdict into the MTA's action (continue with headers, reject, tempfail,
 * discard or hold).
 *
 * The rebuilt message is not guaranteed byte-identical to what the client
 * sent: the MTA passes headers as (name, value) pairs and the body as it
 * stored it, so line ends, folding or headers the MTA added or changed may
 * differ. Signatures over exact bytes (DKIM) may then not verify in the engine.
 */
#include "jsontext.h"
#include "smf_milter.h"

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#define TEMPFAIL_TEXT "Message could not be scanned, try again later"

static milter_conn_t *conn_get(SMFICTX *ctx)
{
    milter_conn_t *c = smfi_getpriv(ctx);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (c)
            smfi_setpriv(ctx, c);
    }
    return c;
}

static void msg_reset(milter_conn_t *c)
{
    free(c->sender);
    for (size_t i = 0; i < c->n_rcpts; i++)
        free(c->rcpts[i]);
    free(c->rcpts);
    free(c->auth_user);
    free(c->queue_id);
    free(c->raw);
    for (size_t i = 0; i < c->n_authres; i++)
        free(c->authres_ids[i]);
    free(c->authres_ids);
    c->sender = c->auth_user = c->queue_id = c->raw = NULL;
    c->rcpts = NULL;
    c->authres_ids = NULL;
    c->n_rcpts = c->cap_rcpts = c->len = c->cap = 0;
    c->n_status = c->n_flag = c->n_forged = c->n_authres = c->cap_authres = 0;
    c->oom = c->too_big = false;
}

static void conn_free(milter_conn_t *c)
{
    msg_reset(c);
    free(c->client_name);
    free(c->helo);
    free(c);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Removes the <> around an SMTP path; "<>" becomes the empty null sender. */
static char *strip_path(const char *arg)
{
    size_t n = strlen(arg);
    if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>')
        return strndup(arg + 1, n - 2);
    return strdup(arg);
}

/*
 * A message past --max-size is dropped at once rather than buffered to the
 * end: the engine would refuse it anyway (too_large), and an MTA allowing
 * huge messages must not make the milter hold them in memory.
 */
static void buf_add(milter_conn_t *c, const void *data, size_t n)
{
    if (c->oom || c->too_big)
        return;
    if (n > milter_opts.max_size - c->len) {
        c->too_big = true;
        free(c->raw);
        c->raw = NULL;
        c->len = c->cap = 0;
        return;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < c->len + n)
            cap *= 2;
        char *raw = realloc(c->raw, cap);
        if (!raw) {
            c->oom = true;
            return;
        }
        c->raw = raw;
        c->cap = cap;
    }
    memcpy(c->raw + c->len, data, n);
    c->len += n;
}

/* Adds text with every bare LF (folded header lines) turned into CRLF. */
static void buf_add_crlf(milter_conn_t *c, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\n' && (p == s || p[-1] != '\r'))
            buf_add(c, "\r", 1);
        buf_add(c, p, 1);
    }
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_DELRCPT);
    /* Leading spaces make the rebuilt headers closer to the original. */
    *pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN | SMFIP_NODATA);
    *pf2 = *pf3 = 0;
    c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
    c->delrcpt = (*pf0 & SMFIF_DELRCPT) != 0;
    return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *addr)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    c->client_ip[0] = '\0';
    if (addr && addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)addr)->sin_addr, c->client_ip,
                  sizeof c->client_ip);
    else if (addr && addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)addr)->sin6_addr, c->client_ip,
                  sizeof c->client_ip);
    /* Without a socket address (an MTA that passes none), the macro says it. */
    if (!c->client_ip[0])
        envelope_client_addr(smfi_getsymval(ctx, "{client_addr}"), c->client_ip,
                             sizeof c->client_ip);
    /* MTAs name an unresolved client "[ip]" or "unknown": that is no name. */
    bool named = hostname && hostname[0] && hostname[0] != '[' && strcmp(hostname, "unknown");
    free(c->client_name);
    c->client_name = named ? strdup(hostname) : NULL;
    /* The connection-stage check waits for the recipients, when the engine
     * can judge the sender and apply their domains' lists too. */
    return SMFIS_CONTINUE;
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    free(c->helo);
    c->helo = dup_or_null(helo);
    return SMFIS_CONTINUE;
}

/* Reply text for the MTA: printable, no CR/LF, no '%' (Sendmail expands it). */
static void reply_text(char *dst, size_t size, const char *src, const char *fallback)
{
    if (!src || !*src)
        src = fallback;
    size_t i = 0;
    for (; *src && i + 1 < size; src++)
        dst[i++] = (*src < 0x20 || *src == 0x7f || *src == '%') ? ' ' : *src;
    dst[i] = '\0';
}

static sfsistat apply_tempfail(SMFICTX *ctx, const char *text)
{
    char t[512];
    reply_text(t, sizeof t, text, TEMPFAIL_TEXT);
    smfi_setreply(ctx, "451", "4.7.1", t);
    return SMFIS_TEMPFAIL;
}

static sfsistat apply_reject(SMFICTX *ctx, json_t *smtp)
{
    json_int_t code = json_integer_value(json_object_get(smtp, "code"));
    const char *dsn = json_string_value(json_object_get(smtp, "dsn"));
    char scode[8], sdsn[32], t[512];
    /* A reject must stay permanent whatever the engine's reply says. */
    if (code < 500 || code > 599)
        code = 550;
    snprintf(scode, sizeof scode, "%d", (int)code);
    if (!dsn || dsn[0] != '5' || strlen(dsn) >= sizeof sdsn)
        dsn = "5.7.1";
    strcpy(sdsn, dsn);
    reply_text(t, sizeof t, json_string_value(json_object_get(smtp, "text")), "Message rejected");
    smfi_setreply(ctx, scode, sdsn, t);
    return SMFIS_REJECT;
}

/*
 * The 552 for a message larger than the milter or the engine takes. It is
 * permanent: a retry would be just as large, so the sender should hear at
 * once rather than after days of queueing.
 */
static sfsistat refuse_too_big(SMFICTX *ctx, const char *qid, const char *why)
{
    char t[256];
    snprintf(t, sizeof t, "Message too large to be scanned (%s)", why);
    milter_log(LOG_NOTICE, "%s: %s, rejected", qid ? qid : "-", why);
    smfi_setreply(ctx, "552", "5.3.4", t);
    return SMFIS_REJECT;
}

/* Called after each piece is buffered: refuses the message once it passed the cap. */
static sfsistat check_size(SMFICTX *ctx, const milter_conn_t *c)
{
    if (!c->too_big)
        return SMFIS_CONTINUE;
    char why[96];
    snprintf(why, sizeof why, "more than --max-size %zu bytes", milter_opts.max_size);
    return refuse_too_big(ctx, smfi_getsymval(ctx, "i"), why);
}

/*
 * The connection stage, at each RCPT TO (or at MAIL FROM with
 * --no-rcpt-check): the engine's list and reputation stages judge the
 * client, its HELO and the sender before any data is sent, so a
 * blacklisted source is refused at once. At RCPT TO the recipient's domain
 * policy and its domain and user lists apply, so that a sender one domain
 * blocks is refused for that domain's recipients only; at MAIL FROM only
 * the default policy and the global lists can. Only a reject counts here;
 * an engine that does not answer, or a tempfail, lets the session go on,
 * since the full scan at end of DATA fails closed anyway.
 */
static sfsistat connect_check(SMFICTX *ctx, milter_conn_t *c, const char *rcpt)
{
    json_t *env = envelope_build(c);
    if (!env)
        return SMFIS_CONTINUE;
    json_t *rcpts = json_array();
    if (rcpt && rcpts)
        json_array_append_new(rcpts, jsontext_new(rcpt));
    json_object_set_new(env, "recipients", rcpts ? rcpts : json_array());
    link_reply_t r;
    link_connect(env, &r);
    json_decref(env);
    sfsistat res = SMFIS_CONTINUE;
    const char *action = json_string_value(json_object_get(r.body, "action"));
    if (r.status == LINK_VERDICT && action && strcmp(action, "reject") == 0) {
        const char *text =
            json_string_value(json_object_get(json_object_get(r.body, "smtp"), "text"));
        if (rcpt)
            milter_log(LOG_INFO, "connect: client=%s from=<%s> rcpt=<%s> refused at RCPT TO: %s",
                       c->client_ip, c->sender, rcpt, text);
        else
            milter_log(LOG_INFO, "connect: client=%s from=<%s> refused at MAIL FROM: %s",
                       c->client_ip, c->sender, text);
        res = apply_reject(ctx, json_object_get(r.body, "smtp"));
    }
    json_decref(r.body);
    return res;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    msg_reset(c);
    c->sender = strip_path(argv[0] ? argv[0] : "");
    c->auth_user = dup_or_null(smfi_getsymval(ctx, "{auth_authen}"));
    if (!c->sender) {
        c->oom = true;
        return SMFIS_CONTINUE;
    }
    /* With a check at each RCPT TO, a refusal waits for the recipient, as
     * Postfix's smtpd_delay_reject does: a domain may allow a sender that the
     * global lists block, and before RCPT TO no one knows which domain it is. */
    if (!milter_opts.connect_check || milter_opts.rcpt_check || milter_opts.noop)
        return SMFIS_CONTINUE;
    return connect_check(ctx, c, NULL);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    if (c->n_rcpts == c->cap_rcpts) {
        size_t cap = c->cap_rcpts ? c->cap_rcpts * 2 : 4;
        char **r = realloc(c->rcpts, cap * sizeof *r);
        if (!r) {
            c->oom = true;
            return SMFIS_CONTINUE;
        }
        c->rcpts = r;
        c->cap_rcpts = cap;
    }
    char *rcpt = strip_path(argv[0] ? argv[0] : "");
    if (!rcpt) {
        c->oom = true;
        return SMFIS_CONTINUE;
    }
    if (milter_opts.rcpt_check && !milter_opts.noop &&
        connect_check(ctx, c, rcpt) == SMFIS_REJECT) {
        /* A refused recipient is not in the transaction: the scan never sees it. */
        free(rcpt);
        return SMFIS_REJECT;
    }
    c->rcpts[c->n_rcpts++] = rcpt;
    return SMFIS_CONTINUE;
}

/* Skips blanks, line breaks and comments, nested or not: RFC 5322's CFWS. */
static const char *skip_cfws(const char *p)
{
    for (;;) {
        p += strspn(p, " \t\r\n");
        if (*p != '(')
            return p;
        for (int depth = 0; *p; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '(')
                depth++;
            else if (*p == ')' && --depth == 0) {
                p++;
                break;
            }
        }
    }
}

/*
 * The authserv-id an Authentication-Results value starts with (RFC 8601,
 * 2.2): a token or a quoted string, after any comment. NULL when there is
 * none or without memory; the caller frees it.
 */
static char *authserv_id(const char *value)
{
    const char *p = skip_cfws(value);
    if (*p != '"') {
        size_t n = strcspn(p, " \t\r\n;()\"");
        return n > 0 ? strndup(p, n) : NULL;
    }
    char *id = malloc(strlen(p));
    size_t o = 0;
    for (p++; id && *p && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        id[o++] = *p;
    }
    if (id && (*p != '"' || o == 0)) {
        free(id);
        return NULL;
    }
    if (id)
        id[o] = '\0';
    return id;
}

/*
 * At most this many of the sender's copies of the engine's headers are
 * removed from one message; a message with more is refused. Postfix's
 * cleanup reads the message's header records again for each removal, so n
 * removals cost it about n^2 record reads: 100,000 forged X-Spam-Flag lines
 * (1.6 MB) were some 5e9 reads, an MTA process busy for minutes. An honest
 * message carries a few at most, one per filter it passed.
 */
#define MAX_FORGED_HEADERS 50

/*
 * The 554 for a message with more than MAX_FORGED_HEADERS of the engine's
 * headers to remove. It is permanent: the same message would be refused again.
 */
static sfsistat refuse_forged(SMFICTX *ctx, const char *name)
{
    const char *qid = smfi_getsymval(ctx, "i");
    char t[160];
    snprintf(t, sizeof t, "Message refused: too many %s header fields", name);
    milter_log(LOG_NOTICE, "%s: too many %s header fields (more than %d to remove), rejected",
               qid ? qid : "-", name, MAX_FORGED_HEADERS);
    smfi_setreply(ctx, "554", "5.6.0", t);
    return SMFIS_REJECT;
}

/*
 * Counts the message's own copies of the headers the engine writes
 * (core/job.c: X-SMF-Status, X-Spam-Flag; the auth stage:
 * Authentication-Results), so that those from the sender can be removed at
 * the end: a filter after the milter could not tell them from the engine's.
 * Returns the name of the header that made more than MAX_FORGED_HEADERS to
 * remove, counting each Authentication-Results in --authserv-id (one in the
 * authserv-id of the verdict's own is counted at the end), else NULL.
 */
static const char *note_header(milter_conn_t *c, const char *name, const char *value)
{
    const char *forged = NULL;
    if (strcasecmp(name, "X-SMF-Status") == 0) {
        c->n_status++;
        forged = "X-SMF-Status";
    } else if (strcasecmp(name, "X-Spam-Flag") == 0) {
        c->n_flag++;
        forged = "X-Spam-Flag";
    }
    if (forged && ++c->n_forged > MAX_FORGED_HEADERS)
        return forged;
    if (strcasecmp(name, "Authentication-Results") != 0 || c->oom || c->too_big)
        return NULL;
    if (c->n_authres == c->cap_authres) {
        size_t cap = c->cap_authres ? c->cap_authres * 2 : 4;
        char **ids = realloc(c->authres_ids, cap * sizeof *ids);
        if (!ids) {
            c->oom = true;
            return NULL;
        }
        c->authres_ids = ids;
        c->cap_authres = cap;
    }
    /* An unreadable authserv-id (NULL) is nobody's: left in place. */
    char *id = authserv_id(value);
    c->authres_ids[c->n_authres++] = id;
    if (id && milter_opts.authserv_id && strcasecmp(id, milter_opts.authserv_id) == 0 &&
        ++c->n_forged > MAX_FORGED_HEADERS)
        return "Authentication-Results";
    return NULL;
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    const char *forged = note_header(c, name, value);
    if (forged)
        return refuse_forged(ctx, forged);
    buf_add(c, name, strlen(name));
    buf_add(c, c->leadspc ? ":" : ": ", c->leadspc ? 1 : 2);
    buf_add_crlf(c, value);
    buf_add(c, "\r\n", 2);
    return check_size(ctx, c);
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    buf_add(c, "\r\n", 2);
    return check_size(ctx, c);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t n)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return SMFIS_TEMPFAIL;
    buf_add(c, chunk, n);
    return check_size(ctx, c);
}

/* RFC 5322, 2.1.1: a line of a header must be at most 998 bytes, should be at most 78. */
#define HEADER_LINE_MAX 998
#define HEADER_LINE_FOLD 78

/*
 * The value to give smfi_addheader for "name: value", folded at its blanks
 * so that its lines keep to HEADER_LINE_FOLD bytes where a blank allows. A
 * line feed goes in before a blank (libmilter's way to fold; the MTA adds
 * the CR), so unfolding (RFC 5322, 2.2.3) gives back the value unchanged.
 * Unfolded, an MTA relays a line longer than 998 bytes by breaking it where
 * the limit falls, inside a word: a domain with a blank in it. NULL when one
 * word alone makes a line longer than HEADER_LINE_MAX (*too_long is set) or
 * without memory; the caller frees the result.
 */
static char *header_fold(const char *name, const char *value, bool leadspc, bool *too_long)
{
    size_t n = strlen(value);
    /* The leading space, at most one line feed per blank, the NUL. */
    char *out = malloc(2 * n + 2);
    *too_long = false;
    if (!out)
        return NULL;
    size_t o = 0;
    if (leadspc)
        out[o++] = ' ';
    const size_t start = o;
    size_t col = strlen(name) + 2; /* "name: " */
    for (const char *p = value; *p;) {
        /* One piece: the blanks before a word, and the word. */
        size_t blanks = strspn(p, " \t");
        size_t word = strcspn(p + blanks, " \t");
        if (o > start && blanks > 0 && word > 0 && col + blanks + word > HEADER_LINE_FOLD) {
            out[o++] = '\n';
            col = 0;
        }
        memcpy(out + o, p, blanks + word);
        o += blanks + word;
        col += blanks + word;
        p += blanks + word;
        if (col > HEADER_LINE_MAX) {
            free(out);
            *too_long = true;
            return NULL;
        }
    }
    out[o] = '\0';
    return out;
}

/* Adds the verdict's headers; without leading-space mode the MTA adds the space. */
static void add_headers(SMFICTX *ctx, const milter_conn_t *c, json_t *headers)
{
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h)
    {
        const char *name = json_string_value(json_object_get(h, "name"));
        const char *value = json_string_value(json_object_get(h, "value"));
        if (!name || !value)
            continue;
        /* Whole or not at all: a header cut short can say something else (an
         * Authentication-Results cut inside a domain), and a line break
         * would start a header of the sender's choosing. */
        if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL) {
            milter_log(LOG_WARNING,
                       "%s: header %s from the engine has a line break or a colon in its "
                       "name; not added",
                       c->queue_id ? c->queue_id : "-", name);
            continue;
        }
        bool too_long;
        char *v = header_fold(name, value, c->leadspc, &too_long);
        if (too_long)
            milter_log(LOG_WARNING,
                       "%s: header %s from the engine has a word longer than a line may be; "
                       "not added",
                       c->queue_id ? c->queue_id : "-", name);
        else if (!v || smfi_addheader(ctx, (char *)name, v) != MI_SUCCESS)
            milter_log(LOG_WARNING, "%s: could not add header %s", c->queue_id ? c->queue_id : "-",
                       name);
        free(v);
    }
}

/* Whether id is the engine's: --authserv-id, or that of an
 * Authentication-Results the verdict adds. */
static bool engine_authserv_id(const char *id, json_t *headers)
{
    if (id == NULL)
        return false;
    if (milter_opts.authserv_id && strcasecmp(id, milter_opts.authserv_id) == 0)
        return true;
    size_t i;
    json_t *h;
    json_array_foreach(headers, i, h)
    {
        const char *name = json_string_value(json_object_get(h, "name"));
        const char *value = json_string_value(json_object_get(h, "value"));
        if (!name || !value || strcasecmp(name, "Authentication-Results") != 0)
            continue;
        char *own = authserv_id(value);
        bool same = own && strcasecmp(own, id) == 0;
        free(own);
        if (same)
            return true;
    }
    return false;
}

/*
 * Removes the sender's header name #k. False when the MTA did not grant
 * header changes (SMFIF_CHGHDRS) or the connection to it failed: the
 * removals after it would fail alike.
 */
static bool remove_header(SMFICTX *ctx, const milter_conn_t *c, const char *name, size_t k)
{
    if (smfi_chgheader(ctx, (char *)name, (int)k, NULL) == MI_SUCCESS)
        return true;
    milter_log(LOG_WARNING,
               "%s: could not remove the sender's header %s (#%zu); it and the sender's "
               "other copies of the engine's headers not removed yet stay",
               c->queue_id ? c->queue_id : "-", name, k);
    return false;
}

/*
 * Removes the sender's copies of the engine's headers before the engine's
 * own are added: every X-SMF-Status and X-Spam-Flag, and each
 * Authentication-Results in the engine's authserv-id (RFC 8601, section 5),
 * so that a filter or a mailbox rule after the milter cannot trust the
 * sender's "X-SMF-Status: clean" or "dkim=pass". The last one goes first:
 * removing one then leaves the index of the others as it was. After the
 * first removal that fails no more are tried, so that the message is
 * logged once, not once per header.
 */
static void remove_forged(SMFICTX *ctx, const milter_conn_t *c, json_t *headers)
{
    for (size_t k = c->n_status; k > 0; k--)
        if (!remove_header(ctx, c, "X-SMF-Status", k))
            return;
    for (size_t k = c->n_flag; k > 0; k--)
        if (!remove_header(ctx, c, "X-Spam-Flag", k))
            return;
    for (size_t k = c->n_authres; k > 0; k--)
        if (engine_authserv_id(c->authres_ids[k - 1], headers) &&
            !remove_header(ctx, c, "Authentication-Results", k))
            return;
}

/*
 * Whether the sender's copies of the engine's headers are more than
 * MAX_FORGED_HEADERS, now that the verdict tells the authserv-id of the
 * engine's own Authentication-Results: the header callback counted only
 * those in --authserv-id.
 */
static bool too_many_forged(const milter_conn_t *c, json_t *headers)
{
    size_t n = c->n_status + c->n_flag;
    for (size_t k = 0; k < c->n_authres && n <= MAX_FORGED_HEADERS; k++)
        if (engine_authserv_id(c->authres_ids[k], headers))
            n++;
    return n > MAX_FORGED_HEADERS;
}

static sfsistat apply_quarantine(SMFICTX *ctx, const milter_conn_t *c, json_t *v)
{
    const char *qid = json_string_value(json_object_get(v, "quarantine_id"));
    /* Dropped only once the engine says where it keeps the message. */
    if (qid == NULL || *qid == '\0') {
        milter_log(LOG_WARNING, "quarantine verdict without a quarantine id; tempfail");
        return apply_tempfail(ctx, NULL);
    }
    if (!milter_opts.hold)
        return SMFIS_DISCARD;
    char reason[128];
    snprintf(reason, sizeof reason, "smf quarantine %s", qid ? qid : "");
    /* The engine has stored the message before answering, so a hold the MTA
     * refuses ends as with --on-quarantine drop, never in the mailbox. */
    if (smfi_quarantine(ctx, reason) != MI_SUCCESS) {
        milter_log(LOG_WARNING, "could not put the message on hold; discarded (the engine's "
                                "quarantine keeps it)");
        return SMFIS_DISCARD;
    }
    /* Released from hold (postsuper -H), it is delivered as it is now. */
    remove_forged(ctx, c, NULL);
    return SMFIS_CONTINUE;
}

/*
 * Removes the recipients the engine quarantined for their domains when it
 * split the message (docs/protocol.md, "split"): the others get it. Any
 * index out of range or a removal the MTA refuses tempfails the whole
 * message, since their domains' policies must not see it delivered; the
 * client sends it again and nothing is lost.
 */
static sfsistat drop_quarantined(SMFICTX *ctx, const milter_conn_t *c, json_t *v)
{
    json_t *dropped = json_object_get(v, "quarantined_recipients");
    size_t i;
    json_t *idx;
    if (dropped == NULL)
        return SMFIS_CONTINUE;
    if (!json_is_array(dropped) || !c->delrcpt)
        return apply_tempfail(ctx, NULL);
    json_array_foreach(dropped, i, idx)
    {
        json_int_t k = json_integer_value(idx);
        if (!json_is_integer(idx) || k < 0 || (size_t)k >= c->n_rcpts ||
            smfi_delrcpt(ctx, c->rcpts[k]) != MI_SUCCESS) {
            milter_log(LOG_WARNING, "%s: could not remove a quarantined recipient; tempfail",
                       c->queue_id ? c->queue_id : "-");
            return apply_tempfail(ctx, NULL);
        }
    }
    return SMFIS_CONTINUE;
}

static sfsistat apply_verdict(SMFICTX *ctx, const milter_conn_t *c, json_t *v)
{
    const char *action = json_string_value(json_object_get(v, "action"));
    json_t *smtp = json_object_get(v, "smtp");
    if (!action)
        return apply_tempfail(ctx, NULL);
    if (strcmp(action, "accept") == 0 || strcmp(action, "add_header") == 0) {
        if (too_many_forged(c, json_object_get(v, "headers")))
            return refuse_forged(ctx, "Authentication-Results");
        sfsistat r = drop_quarantined(ctx, c, v);
        if (r == SMFIS_CONTINUE) {
            remove_forged(ctx, c, json_object_get(v, "headers"));
            add_headers(ctx, c, json_object_get(v, "headers"));
        }
        return r;
    }
    if (strcmp(action, "reject") == 0)
        return apply_reject(ctx, smtp);
    if (strcmp(action, "quarantine") == 0)
        return apply_quarantine(ctx, c, v);
    /* tempfail and anything this version does not know: the client retries. */
    return apply_tempfail(ctx, json_string_value(json_object_get(smtp, "text")));
}

static const char *decision_name(sfsistat r)
{
    switch (r) {
    case SMFIS_CONTINUE:
        return "continue";
    case SMFIS_REJECT:
        return "reject";
    case SMFIS_DISCARD:
        return "discard";
    case SMFIS_TEMPFAIL:
        return "tempfail";
    default:
        return "other";
    }
}

static sfsistat scan_and_apply(SMFICTX *ctx, milter_conn_t *c)
{
    json_t *env = envelope_build(c);
    if (!env)
        return apply_tempfail(ctx, NULL);
    link_reply_t r;
    link_scan(env, c->raw ? c->raw : "", c->len, &r);
    json_decref(env);
    const char *qid = c->queue_id ? c->queue_id : "-";
    sfsistat res;
    if (r.status == LINK_NO_ANSWER) {
        milter_log(LOG_ERR, "%s: no engine answered, tempfail", qid);
        return apply_tempfail(ctx, NULL);
    }
    const char *error = json_string_value(json_object_get(r.body, "error"));
    if (r.status == LINK_ERROR && error && strcmp(error, "too_large") == 0) {
        res = refuse_too_big(ctx, qid, "more than the engine's max_message_size");
    } else if (r.status == LINK_ERROR) {
        milter_log(LOG_ERR, "%s: engine error %s: %s, tempfail", qid,
                   json_string_value(json_object_get(r.body, "error")),
                   json_string_value(json_object_get(r.body, "message")));
        res = apply_tempfail(ctx, NULL);
    } else {
        res = apply_verdict(ctx, c, r.body);
        const char *stored = json_string_value(json_object_get(r.body, "quarantine_id"));
        /* A split message names how many recipients it lost to the quarantine. */
        char dropped[48] = "";
        json_t *d = json_object_get(r.body, "quarantined_recipients");
        if (json_array_size(d) > 0)
            snprintf(dropped, sizeof dropped, " dropped=%zu", json_array_size(d));
        milter_log(LOG_INFO,
                   "%s: id=%s action=%s score=%.2f from=<%s> rcpts=%zu -> %s%s%s%s ms=%.1f", qid,
                   json_string_value(json_object_get(r.body, "id")),
                   json_string_value(json_object_get(r.body, "action")),
                   json_number_value(json_object_get(r.body, "score")), c->sender ? c->sender : "",
                   c->n_rcpts, decision_name(res), stored ? " quarantine=" : "",
                   stored ? stored : "", dropped, r.ms);
    }
    json_decref(r.body);
    return res;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    milter_conn_t *c = conn_get(ctx);
    if (!c)
        return apply_tempfail(ctx, NULL);
    free(c->queue_id);
    c->queue_id = dup_or_null(smfi_getsymval(ctx, "i"));
    sfsistat res;
    if (c->too_big)
        res = check_size(ctx, c);
    else if (c->oom)
        res = apply_tempfail(ctx, NULL);
    else if (milter_opts.noop)
        res = SMFIS_CONTINUE;
    else
        res = scan_and_apply(ctx, c);
    msg_reset(c);
    return res;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    milter_conn_t *c = smfi_getpriv(ctx);
    if (c)
        msg_reset(c);
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    milter_conn_t *c = smfi_getpriv(ctx);
    if (c) {
        smfi_setpriv(ctx, NULL);
        conn_free(c);
    }
    return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
    .xxfi_name = "smf-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_DELRCPT,
    .xxfi_connect = cb_connect,
    .xxfi_helo = cb_helo,
    .xxfi_envfrom = cb_envfrom,
    .xxfi_envrcpt = cb_envrcpt,
    .xxfi_header = cb_header,
    .xxfi_eoh = cb_eoh,
    .xxfi_body = cb_body,
    .xxfi_eom = cb_eom,
    .xxfi_abort = cb_abort,
    .xxfi_close = cb_close,
    .xxfi_negotiate = cb_negotiate,
};
