/*
 * smfc_envelope.c - the SMTP envelope for a message: from the command line
 * when given, else guessed from the headers (Return-Path/From for the
 * sender; To, Cc, Delivered-To and X-Original-To for the recipients).
 */
#include "jsontext.h"
#include "smfc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers longer than this are cut: addresses beyond it are not needed. */
#define SMFC_MAX_VALUE 65536

typedef struct smfc_addr_state {
    char cur[1024]; /* Text of the current mailbox outside <> and comments. */
    size_t ncur;
    char angle[1024]; /* Text inside <>. */
    size_t nangle;
    bool has_angle, in_angle;
} smfc_addr_state_t;

static bool smfc_addr_seen(char **list, size_t n, const char *a)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], a) == 0)
            return true;
    return false;
}

/*
 * Ends one mailbox: keeps its address if it looks like one. An address
 * that is not UTF-8 (8-bit junk in a spam's From) is kept too: it travels
 * with each bad byte as \xHH, as smf-milter sends it, so that its domain's
 * policy and lists still apply.
 */
static size_t smfc_addr_flush(smfc_addr_state_t *st, char **list, size_t n, size_t max)
{
    char *a = st->has_angle ? st->angle : st->cur;
    size_t len = st->has_angle ? st->nangle : st->ncur;
    a[len] = '\0';
    /* An obsolete source route "@relay1,@relay2:user@host" keeps only the address. */
    char *colon = st->has_angle ? strrchr(a, ':') : NULL;
    if (colon)
        a = colon + 1;
    if (strchr(a, '@') && a[0] != '@' && n < max && !smfc_addr_seen(list, n, a)) {
        list[n] = strdup(a);
        if (list[n])
            n++;
    }
    memset(st, 0, sizeof *st);
    return n;
}

static void smfc_addr_put_raw(smfc_addr_state_t *st, char c)
{
    if (st->in_angle && st->nangle + 1 < sizeof st->angle)
        st->angle[st->nangle++] = c;
    else if (!st->in_angle && st->ncur + 1 < sizeof st->cur)
        st->cur[st->ncur++] = c;
}

static void smfc_addr_put(smfc_addr_state_t *st, char c)
{
    /* Addresses have no spaces outside quotes; display names are dropped. */
    if (!isspace((unsigned char)c))
        smfc_addr_put_raw(st, c);
}

/* Skips a comment, nested comments and quoted pairs included; returns the index after it. */
static size_t smfc_skip_comment(const char *v, size_t len, size_t i)
{
    int depth = 0;
    for (; i < len; i++) {
        if (v[i] == '\\')
            i++;
        else if (v[i] == '(')
            depth++;
        else if (v[i] == ')' && --depth == 0)
            return i + 1;
    }
    return len;
}

/* Appends the addresses of an address-list header value to list; returns the new count. */
static size_t smfc_addr_parse(const char *v, size_t len, char **list, size_t n, size_t max)
{
    smfc_addr_state_t st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < len;) {
        char c = v[i];
        if (c == '(') {
            i = smfc_skip_comment(v, len, i);
            continue;
        }
        if (c == '"') {
            /* Quoted text is kept verbatim: it may be a quoted local part. */
            smfc_addr_put(&st, c);
            for (i++; i < len && v[i] != '"'; i++) {
                if (v[i] == '\\' && i + 1 < len)
                    smfc_addr_put_raw(&st, v[i++]);
                smfc_addr_put_raw(&st, v[i]);
            }
            smfc_addr_put(&st, '"');
            i++;
            continue;
        }
        if (c == '<' && !st.in_angle) {
            st.in_angle = st.has_angle = true;
            st.nangle = 0;
        } else if (c == '>' && st.in_angle) {
            st.in_angle = false;
        } else if (c == ':' && !st.in_angle) {
            st.ncur = 0; /* "group name:" introduces a group's members. */
        } else if ((c == ',' || c == ';') && !st.in_angle) {
            n = smfc_addr_flush(&st, list, n, max);
        } else {
            smfc_addr_put(&st, c);
        }
        i++;
    }
    return smfc_addr_flush(&st, list, n, max);
}

/* Copies a header's value with folding removed into buf; returns its length. */
static size_t smfc_unfold(const char *p, const char *end, char *buf, size_t cap, const char **next)
{
    size_t n = 0;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t line = (size_t)(le - p);
        if (line && p[line - 1] == '\r')
            line--;
        if (n + line > cap)
            line = cap - n;
        memcpy(buf + n, p, line);
        n += line;
        p = nl ? nl + 1 : end;
        if (p >= end || (*p != ' ' && *p != '\t'))
            break;
    }
    *next = p;
    return n;
}

typedef struct smfc_headers {
    char *sender; /* NULL: none found; "" for Return-Path: <>. */
    char *from;
    char *rcpts[SMFC_MAX_RCPTS];
    size_t nrcpts;
} smfc_headers_t;

static bool smfc_is_rcpt_header(const char *name, size_t len)
{
    static const char *names[] = {"To", "Cc", "Delivered-To", "X-Original-To"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
            return true;
    return false;
}

static void smfc_header_field(smfc_headers_t *h, const char *name, size_t nlen, const char *v,
                              size_t vlen)
{
    char *one[1];
    if (nlen == 11 && strncasecmp(name, "Return-Path", 11) == 0 && !h->sender) {
        if (smfc_addr_parse(v, vlen, one, 0, 1) == 1)
            h->sender = one[0];
        else if (memmem(v, vlen, "<>", 2))
            h->sender = strdup("");
    } else if (nlen == 4 && strncasecmp(name, "From", 4) == 0 && !h->from) {
        if (smfc_addr_parse(v, vlen, one, 0, 1) == 1)
            h->from = one[0];
    } else if (smfc_is_rcpt_header(name, nlen)) {
        h->nrcpts = smfc_addr_parse(v, vlen, h->rcpts, h->nrcpts, SMFC_MAX_RCPTS);
    }
}

/* Walks the header block, up to the first empty line. */
static void smfc_headers_read(smfc_headers_t *h, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    char *buf = malloc(SMFC_MAX_VALUE);
    if (!buf)
        return;
    while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)((nl ? nl : end) - p));
        if (!colon) {
            p = nl ? nl + 1 : end; /* Not a header line: skip it. */
            continue;
        }
        size_t nlen = (size_t)(colon - p);
        while (nlen && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
            nlen--;
        const char *name = p, *next;
        size_t vlen = smfc_unfold(colon + 1, end, buf, SMFC_MAX_VALUE, &next);
        smfc_header_field(h, name, nlen, buf, vlen);
        p = next;
    }
    free(buf);
}

static void smfc_headers_free(smfc_headers_t *h)
{
    free(h->sender);
    free(h->from);
    for (size_t i = 0; i < h->nrcpts; i++)
        free(h->rcpts[i]);
}

char *smfc_envelope_build(const smfc_opts_t *o, const char *data, size_t len, const char **error)
{
    smfc_headers_t h;
    memset(&h, 0, sizeof h);
    if (!o->from || !o->nrcpts)
        smfc_headers_read(&h, data, len);
    json_t *rcpts = json_array();
    if (o->nrcpts)
        for (size_t i = 0; i < o->nrcpts; i++)
            json_array_append_new(rcpts, jsontext_new(o->rcpts[i]));
    else
        for (size_t i = 0; i < h.nrcpts; i++)
            json_array_append_new(rcpts, jsontext_new(h.rcpts[i]));
    char *out = NULL;
    if (json_array_size(rcpts) == 0) {
        *error = "no recipient: pass --rcpt";
        json_decref(rcpts);
    } else {
        const char *sender = o->from ? o->from : h.sender ? h.sender : h.from ? h.from : "";
        /* Text that is not UTF-8 goes as smf-milter sends it, each bad byte as \xHH. */
        json_t *env = json_pack(
            "{s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:I}", "client_ip", jsontext_new(o->ip),
            "client_name", jsontext_new(o->client_name), "helo", jsontext_new(o->helo), "auth_user",
            jsontext_new(o->auth_user), "direction", o->direction, "sender", jsontext_new(sender),
            "recipients", rcpts, "timeout_ms", (json_int_t)o->timeout_ms);
        out = env ? json_dumps(env, JSON_COMPACT) : NULL;
        if (!out)
            *error = "envelope cannot be encoded as JSON (out of memory)";
        json_decref(env);
    }
    smfc_headers_free(&h);
    return out;
}
