/*
 * smfc.h - shared types of the command-line scan client: options, the
 * messages it reads from files and mboxes, and the result of each scan.
 */
#ifndef SMFC_H
#define SMFC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SMFC_MAX_JOBS 1000
#define SMFC_MAX_RCPTS 100

typedef struct smfc_opts {
    const char *endpoint;
    bool json;
    bool quiet;
    unsigned jobs;
    long timeout_ms;
    long down_wait_ms; /* How long an engine deemed down is waited for; 0: not at all. */
    const char *direction;
    const char *ip;
    const char *helo;
    const char *client_name;
    const char *auth_user;
    const char *from;         /* NULL: from the headers; "" is the null sender. */
    const char *curve_server; /* The engine's public key (Z85 or a file), or NULL. */
    const char *curve_key;    /* File with this client's secret key, or NULL. */
    const char **rcpts;
    size_t nrcpts;
    char **paths;
    size_t npaths;
} smfc_opts_t;

/* One message to scan, as read from a file or cut from an mbox. */
typedef struct smfc_msg {
    char *label; /* "path" or "path:N" for the Nth message of an mbox. */
    char *data;  /* Owned; NULL when reading failed. */
    size_t len;
    char *error; /* Why there is no data, owned. */
} smfc_msg_t;

/* What became of one message. */
typedef struct smfc_result {
    const char *label;
    json_t *reply;       /* VERDICT object, or NULL when failed. */
    const char *code;    /* Failure code: engine error code or a local one. */
    const char *message; /* Failure explanation. */
    double elapsed_ms;   /* Client-measured round trip. */
    bool engine_error;   /* The engine answered ERROR. */
    bool not_sent;       /* Never sent: the engine was given up on as down. */
} smfc_result_t;

/* smfc_input.c: files, folders and mboxes, in command-line order. */
typedef struct smfc_input smfc_input_t;
smfc_input_t *smfc_input_new(char **paths, size_t npaths);
/* Fills msg with the next message; false at the end. */
bool smfc_input_next(smfc_input_t *in, smfc_msg_t *msg);
/* Messages known so far plus files not yet read: exact unless mboxes remain. */
size_t smfc_input_total(const smfc_input_t *in);
size_t smfc_input_label_width(const smfc_input_t *in);
void smfc_input_destroy(smfc_input_t **in);
void smfc_msg_clear(smfc_msg_t *msg);

/* smfc_envelope.c: the envelope JSON for one message, or NULL with *error set. */
char *smfc_envelope_build(const smfc_opts_t *o, const char *data, size_t len, const char **error);

/* smfc_report.c: table, JSON lines, progress and summary. */
typedef struct smfc_report smfc_report_t;
smfc_report_t *smfc_report_new(const smfc_opts_t *o, size_t label_width);
void smfc_report_result(smfc_report_t *r, const smfc_result_t *res);
void smfc_report_progress(smfc_report_t *r, size_t done, size_t total, bool force);
/* Prints one line on stderr, "smfc: " and text, clearing the progress line. */
void smfc_report_note(smfc_report_t *r, const char *text);
/* Clears the progress line, prints the summary; returns the failure count. */
size_t smfc_report_finish(smfc_report_t *r);
void smfc_report_destroy(smfc_report_t **r);

/* smfc_client.c: runs every message through the engine; returns the exit code. */
int smfc_client_run(const smfc_opts_t *o);

double smfc_now_ms(void);

#endif
