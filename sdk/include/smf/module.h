/*
 * smf/module.h - the SecureMailFlow module kit.
 *
 * This is the one header a scanner module includes. It depends on the C
 * standard library only: no ZeroMQ, LMDB, libconfuse or GMime type appears
 * here, so a module builds against this file alone.
 *
 * A module is a shared object that exports one constant descriptor,
 * `smf_module`, of type smf_module_t. The engine (smfd) and the test harness
 * (smf-modtest) provide the smf_* functions declared below; a module calls
 * them and never links against anything of the engine's.
 *
 * Threads. init() runs on the engine's main thread; fini() runs on whichever
 * thread lets go of the state last, often a worker that finished the last
 * message scanned with it. scan() runs on worker threads, many at once, each
 * with its own message: the module state returned by init() is shared and
 * must be treated as read-only during scans (or protected by the module),
 * while the per-thread state made by thread_init() belongs to one worker
 * thread at a time. Every smf_msg_* call is valid only on the thread that is
 * scanning that message, and only until scan() returns.
 *
 * Errors. Functions return 0 on success or a negative SMF_E* code;
 * smf_strerror() names it. Verdicts never travel as return codes: a module
 * reports what it found with smf_msg_add_symbol(), smf_msg_set_virus(),
 * smf_msg_set_verdict() and smf_msg_set_unscannable(), and returns 0.
 *
 * Memory. What the engine hands a module (envelope, headers, parts, text) is
 * borrowed: valid until scan() returns, never to be freed or modified. What a
 * module hands the engine (symbol names, details, header values) is copied
 * before the call returns. Per-message memory comes from the message arena
 * (smf_msg_alloc()), which the engine frees in one piece after the scan.
 * The copies of what a module reports are made there too and count against
 * the same cap (`message_arena_limit`): past it, the calls that report
 * return SMF_ENOMEM.
 *
 * Versions. The descriptor opens with an ABI header {major, minor, size}
 * that never moves. The engine refuses a module built for another major
 * version or for a newer minor version, and a descriptor whose size is not
 * exactly the size its minor version defines (larger or smaller); a module
 * built for an older minor version loads, and the fields added since read as
 * NULL. Added calls or fields bump the minor; removed or changed ones bump
 * the major. Every change is listed in sdk/docs/abi-changelog.md.
 */
#ifndef SMF_MODULE_H
#define SMF_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Versions                                                           */
/* ------------------------------------------------------------------ */

/** ABI major version: changes when a call or field is removed or changed. */
#define SMF_ABI_MAJOR 1
/** ABI minor version: changes when a call or field is added. */
#define SMF_ABI_MINOR 6

/**
 * The ABI header. It is the first member of smf_module_t and never moves,
 * because it protects everything after it: the engine reads it before
 * touching any other field.
 */
typedef struct smf_abi {
    uint16_t major; /**< SMF_ABI_MAJOR the module was built with. */
    uint16_t minor; /**< SMF_ABI_MINOR the module was built with. */
    uint32_t size;  /**< sizeof(smf_module_t) the module was built with. */
} smf_abi_t;

/** Initialiser for the ABI header of a descriptor. */
#define SMF_ABI_INIT {SMF_ABI_MAJOR, SMF_ABI_MINOR, (uint32_t)sizeof(smf_module_t)}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/*
 * Error codes live in a private negative range so that they never collide
 * with -errno values.
 */
#define SMF_OK 0
#define SMF_EINVAL (-30001)   /**< An argument is out of range or NULL. */
#define SMF_ENOMEM (-30002)   /**< Out of memory, or the message arena is full. */
#define SMF_ENOENT (-30003)   /**< No such item (header, part, key). */
#define SMF_ELIMIT (-30004)   /**< A configured limit was reached. */
#define SMF_EPERM (-30005)    /**< This module may not make this call. */
#define SMF_EIO (-30006)      /**< A storage or system call failed. */
#define SMF_ETIMEDOUT (-30007) /**< The message's deadline passed. */
#define SMF_ENOTSUP (-30008)  /**< Not available in this engine. */
#define SMF_EFAIL (-30009)    /**< The module failed for its own reasons. */

/**
 * Names an error code.
 *
 * @param code  0 or a negative SMF_E* code; anything else gives "unknown error".
 * @return A static string; never NULL, never to be freed.
 * Thread-safe.
 */
const char *smf_strerror(int code);

/* ------------------------------------------------------------------ */
/* Options                                                            */
/* ------------------------------------------------------------------ */

/** Type of a module option, and the C type stored at its offset. */
typedef enum smf_opt_type {
    SMF_OPT_BOOL = 1,  /**< int: 0 or 1. Config: true/false. */
    SMF_OPT_INT = 2,   /**< long. */
    SMF_OPT_FLOAT = 3, /**< double. */
    SMF_OPT_STRING = 4, /**< const char *; NULL when the default is NULL. */
    SMF_OPT_LIST = 5   /**< const char *const *: a NULL-terminated array of strings. */
} smf_opt_type_t;

/**
 * One option a module accepts in its `NAME { ... }` section of the
 * configuration file, NAME being the module's name.
 *
 * The engine turns the table into a configuration section, validates the
 * values the operator wrote and stores each one at `offset` in a struct of
 * `conf_size` bytes that it allocates and passes to init(). Strings and
 * lists stored there are owned by the engine and stay valid until fini()
 * of the same state returns.
 */
typedef struct smf_option {
    const char *name;          /**< Option name, [a-z0-9_]+. */
    smf_opt_type_t type;       /**< Value type. */
    /**
     * Default written as in the config file ("10", "true", "{a, b}"), or NULL
     * for 0, false, NULL or an empty list. The engine refuses to load a module whose
     * default for a BOOL, INT, FLOAT or LIST option does not parse as that type
     * (a BOOL default may also be "1" or "0"; a LIST default may be one bare value).
     */
    const char *default_value;
    size_t offset;             /**< offsetof(your_conf_t, field). */
    /**
     * One sentence on the option, for readers of the module's code and its
     * documentation; the engine does not print it.
     */
    const char *help;
} smf_option_t;

/** Ends an option table. */
#define SMF_OPTIONS_END {NULL, (smf_opt_type_t)0, NULL, 0, NULL}

/* ------------------------------------------------------------------ */
/* The descriptor                                                     */
/* ------------------------------------------------------------------ */

/**
 * What kind of stage a module is. The kind decides which lane its results
 * travel in and what the pipeline allows it to do.
 */
typedef enum smf_kind {
    /** A content stage (patterns, classifiers, attachments): soft lane. */
    SMF_KIND_CONTENT = 1,
    /**
     * An antivirus stage: hard lane. Its verdict can only raise the final
     * verdict; no whitelist, policy or short-circuit skips or lowers it; an
     * error or timeout in it gives tempfail. It must account for every part
     * with smf_msg_part_scanned() to report a message clean. Its result must
     * depend on the message alone: for a message with recipients in several
     * domains the engine calls scan() once and gives every domain's run the
     * same outcome, symbols, headers and notes (a virus is one whoever
     * receives it, and scanning it once per domain would multiply the
     * costliest stage by the number of domains).
     */
    SMF_KIND_ANTIVIRUS = 2,
    /** A list stage: may whitelist (SMF_VERDICT_ALLOW) or blacklist. Soft lane. */
    SMF_KIND_LIST = 3,
    /** A connection-reputation stage. Soft lane. */
    SMF_KIND_REPUTATION = 4
} smf_kind_t;

typedef struct smf_msg smf_msg_t;   /**< One message being scanned (opaque). */
typedef struct smf_init smf_init_t; /**< Context of one init() call (opaque). */
typedef struct smf_final smf_final_t; /**< A message's final verdict (ABI 1.2), defined below. */

/**
 * The module descriptor. Export exactly one, named `smf_module`:
 *
 *     const smf_module_t smf_module = { .abi = SMF_ABI_INIT, ... };
 *
 * New fields are only ever added at the end.
 */
typedef struct smf_module {
    smf_abi_t abi; /**< Always SMF_ABI_INIT. Must stay first. */

    const char *name;        /**< Module name, [a-z0-9_]+, unique among modules. */
    const char *version;     /**< The module's own version, free text ("1.2.0"). */
    const char *description; /**< One line for `smfctl modules`. */
    smf_kind_t kind;         /**< Which lane its results travel in. */

    const smf_option_t *options; /**< Option table ending in SMF_OPTIONS_END, or NULL. */
    size_t conf_size;            /**< Size of the struct the options fill; 0 if none. */

    /**
     * Builds the module's state from its configuration. Called at start and
     * at every reload, on the main thread, while the previous generation may
     * still be scanning: it must not disturb a state it made earlier.
     *
     * @param init   Context for smf_init_fail() and friends; valid during the call.
     * @param conf   The filled option struct (conf_size bytes), or NULL when
     *               conf_size is 0. Owned by the engine; valid until fini().
     * @param state  Out: the module's state, passed to every later call. May
     *               be left NULL.
     * @return 0, or a negative SMF_E* code after smf_init_fail() explained it.
     *         A failed init() of a content, list or reputation module stops
     *         the engine at start and keeps the previous generation at
     *         reload. A failed init() of an antivirus module does neither:
     *         the engine runs on, logs the failure loudly and answers every
     *         message tempfail (fail closed) until a reload succeeds.
     * Optional (NULL: state is NULL).
     */
    int (*init)(smf_init_t *init, const void *conf, void **state);

    /**
     * Frees what init() made. Called once the last message scanned with this
     * state is done, on whichever thread finished it.
     * Optional.
     */
    void (*fini)(void *state);

    /**
     * Makes per-thread scratch (a Hyperscan scratch, a buffer). Called on a
     * worker thread before its first scan with `state`.
     *
     * @param tstate  Out: passed to every scan() on that thread with that state.
     * @return 0 or a negative SMF_E* code (the scan then counts as an error).
     * Optional.
     */
    int (*thread_init)(void *state, void **tstate);

    /**
     * Frees per-thread scratch, when its state's generation ends. May run on
     * a thread other than the one that made it, never concurrently with a
     * scan() using it.
     * Optional.
     */
    void (*thread_fini)(void *state, void *tstate);

    /**
     * Scans one message. Report findings through the smf_msg_* calls below
     * and return 0, or return a negative SMF_E* code when the scan itself
     * failed (the engine then applies the stage's on_error policy; for an
     * antivirus stage that is always tempfail). Any other value, a positive
     * one included, counts as a failed scan too, never as clean.
     *
     * Must not block for longer than smf_msg_time_left_ms() allows, must not
     * exit, abort or keep pointers into the message after returning.
     * Required.
     */
    int (*scan)(smf_msg_t *msg, void *state, void *tstate);

    /* ---- Added in ABI 1.1 ---- */

    /**
     * Learns from (or forgets) a message an operator classified, for
     * modules that keep statistics (a classifier). Called by `smfctl learn`
     * and `smfctl unlearn`, outside the daemon, with a message parsed as
     * for scan(); the module updates its key-value store with smf_kv_put().
     * The engine makes learning idempotent: it calls learn() once per
     * message and class, and with delta -1 to undo an earlier call before
     * a message moves to the other class. smf_msg_domain() names the
     * recipient domain the mail was classified for (`smfctl learn
     * --domain`, a quarantine release), or is "" for site-wide learning
     * (autolearn included): a module with per-domain models learns into
     * that domain's, others may ignore it (ABI 1.3).
     *
     * @param klass  SMF_CLASS_SPAM or SMF_CLASS_HAM.
     * @param delta  +1 to learn, -1 to forget.
     * @return 0 or a negative SMF_E* code.
     * Optional (NULL: the module does not learn). Modules built for ABI 1.0
     * have no such field; the engine treats it as NULL.
     */
    int (*learn)(smf_msg_t *msg, void *state, void *tstate, int klass, int delta);

    /* ---- Added in ABI 1.2 ---- */

    /**
     * Tells the module the final verdict of a message it scanned, after
     * every stage ran, the lanes and recipient domains were merged and a
     * quarantined message was stored: what the front end is told to do.
     * Modules that keep history (reputation, autolearning) update it here,
     * with smf_kv_put(). Called on the worker thread that scanned the
     * message, with the same tstate; every smf_msg_* read call is valid.
     * Results reported here (symbols, headers, notes, verdicts) are
     * ignored: those calls return 0 and record nothing.
     *
     * @param final  Borrowed for the call.
     * Optional. Not called for stages that were skipped, nor for
     * connection-stage checks. A message with recipients in several
     * domains was scanned once per domain, and verdict() is called once
     * for each of those scans, one after the other on the same thread,
     * with the same request id and final action: a module that counts
     * messages should count one. Modules built for ABI 1.0 and 1.1 have
     * no such field; the engine treats it as NULL.
     */
    void (*verdict)(smf_msg_t *msg, void *state, void *tstate, const smf_final_t *final);

    /* ---- Added in ABI 1.3 ---- */

    /**
     * Refits a model over everything learn() stored, once at the end of a
     * learning run (`smfctl learn`, `smfctl unlearn`, a quarantine release
     * with --learn-ham, `smfctl learn --refit`) rather than after every
     * message: a model fitted over all learned mail at once (a
     * discriminative classifier) cannot be updated one message at a time.
     * `msg` is an empty message: it gives the call the module's key-value
     * store (smf_kv_*, batches included), an arena, and in
     * smf_msg_domain() the domain whose model changed ("" for the
     * site-wide one; one call per domain the run touched). smfd also calls
     * it for the site-wide model after autolearning (at most every
     * `autolearn_refit_interval` seconds), on its main thread with a tstate
     * made for the call, while workers scan: scans must stay correct while
     * a fit writes (the store's transactions see to that).
     *
     * @return 0 or a negative SMF_E* code (smfctl reports it and exits 1;
     *         the counts learn() wrote stay).
     * Optional. Modules built for ABI 1.0 to 1.2 have no such field; the
     * engine treats it as NULL.
     */
    int (*fit)(smf_msg_t *msg, void *state, void *tstate);

    /* ---- Added in ABI 1.4 ---- */

    /**
     * Says which recipient domains share this stage's result for a message.
     * A message with recipients in several domains is run through each
     * domain's policy in turn. Before this stage scans it for a domain, the
     * engine calls scope(); when an earlier run over the same message got the
     * same string, scan() is not called again and this run is given what that
     * scan reported: its symbols, added headers, notes, verdict and outcome.
     * Return "" when the result never depends on the recipient domain (rules
     * that read the message alone), a name for what it depends on (the
     * module's own settings for the domain, the model it scores with), or
     * NULL to be scanned for this domain. A module that returns a scope
     * promises that scan() reads the domain (smf_msg_domain(), the
     * recipients in smf_msg_envelope()) only through what the scope names,
     * and reads no note of an earlier stage whose result may differ by
     * domain (a list stage's). The engine keeps the results of up to 64
     * scopes of a stage per message; past those, a new scope is scanned.
     *
     * @param msg  The message as scan() would get it, with smf_msg_domain()
     *             set. The call may read it and allocate from it
     *             (smf_msg_alloc(), smf_msg_printf()) and use the
     *             key-value store and smf_health(); what it reports about
     *             the message (symbols, headers, notes, verdicts, a virus,
     *             unscannable, scanned parts) is refused: those calls
     *             return SMF_EPERM and record nothing.
     * @return A string that stays valid until the engine's reply to the
     *         message (static, in the state, or from smf_msg_alloc()), or
     *         NULL.
     * Optional (NULL: scanned for every recipient domain). Not called for a
     * message with recipients in one domain. Antivirus stages are scanned
     * once per message whatever it says. Modules built for ABI 1.0 to 1.3
     * have no such field; the engine treats it as NULL.
     */
    const char *(*scope)(smf_msg_t *msg, void *state, void *tstate);
} smf_module_t;

/** Actions, least to most severe, as in the engine's replies. */
#define SMF_ACTION_ACCEPT 0     /**< Delivered as it is. */
#define SMF_ACTION_ADD_HEADER 1 /**< Delivered, marked as likely spam. */
#define SMF_ACTION_QUARANTINE 2 /**< Stored in the recipient domain's quarantine. */
#define SMF_ACTION_TEMPFAIL 3   /**< Refused for now; the sender retries. */
#define SMF_ACTION_REJECT 4     /**< Refused for good. */

/** The final verdict of a message, for smf_module_t.verdict (ABI 1.2). */
struct smf_final {
    int action;        /**< SMF_ACTION_*: what the front end is told. */
    double score;      /**< The score under this policy's domain. */
    const char *virus; /**< The signature name when a virus was found, else NULL. */
};

/** Classes for learn(). */
#define SMF_CLASS_SPAM 1
#define SMF_CLASS_HAM 2

/** The symbol name the engine looks up in a module's shared object. */
#define SMF_MODULE_SYMBOL "smf_module"

/**
 * Marks the descriptor as exported even when the module is built with
 * -fvisibility=hidden:
 *
 *     SMF_MODULE_EXPORT const smf_module_t smf_module = { ... };
 */
#define SMF_MODULE_EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------------ */
/* Calls valid during init()                                          */
/* ------------------------------------------------------------------ */

/**
 * Explains why init() fails; the engine prints it with the module's name.
 * The text is copied. Call it before returning a negative code.
 */
void smf_init_fail(smf_init_t *init, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * The engine's data directory (the `data_dir` setting), where a module may
 * keep files of its own under a folder named after itself.
 *
 * @return A string owned by the engine, valid during init(). Never NULL.
 */
const char *smf_init_data_dir(const smf_init_t *init);

/**
 * The directory holding the engine's configuration file, so that relative
 * paths in options (rule files, signature files) resolve against it.
 *
 * @return A string owned by the engine, valid during init(). Never NULL.
 */
const char *smf_init_config_dir(const smf_init_t *init);

/* ------------------------------------------------------------------ */
/* Logging                                                            */
/* ------------------------------------------------------------------ */

/** Log severities, after Postfix: warn, error, info and debug. */
typedef enum smf_log_level {
    SMF_LOG_ERROR = 0,
    SMF_LOG_WARN = 1,
    SMF_LOG_INFO = 2,
    SMF_LOG_DEBUG = 3
} smf_log_level_t;

/**
 * Writes one line to the engine's log, prefixed with the module's name and,
 * when msg is not NULL, the message's id. Thread-safe. Callable from any
 * module function; msg may be NULL outside scan().
 */
void smf_log(smf_msg_t *msg, smf_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* Envelope                                                           */
/* ------------------------------------------------------------------ */

/** Which way the message travels. */
typedef enum smf_direction {
    SMF_DIR_INBOUND = 0,  /**< From the Internet to a hosted domain. */
    SMF_DIR_OUTBOUND = 1  /**< From a hosted user to anywhere. */
} smf_direction_t;

/**
 * The SMTP envelope as the front end saw it. Strings are UTF-8 and never
 * NULL: an unknown value is "". Borrowed until scan() returns.
 * New fields are only ever added at the end.
 */
typedef struct smf_envelope {
    const char *request_id;  /**< The front end's id for this request. */
    const char *queue_id;    /**< The MTA's queue id, or "". */
    const char *client_ip;   /**< Connecting client's address, IPv4 or IPv6 text. */
    const char *client_name; /**< Its reverse-DNS name as the MTA saw it, or "". */
    const char *helo;        /**< HELO/EHLO argument. */
    const char *sender;      /**< MAIL FROM address without <>, "" for the null sender. */
    const char *auth_user;   /**< SMTP AUTH user, "" when unauthenticated. */
    smf_direction_t direction;
    /**
     * Number of recipients: at least 1 in a scan of a message, 0 in a
     * connection check made before any RCPT TO (which runs list and
     * reputation stages only).
     */
    size_t rcpt_count;
    const char *const *rcpt;  /**< RCPT TO addresses, rcpt_count of them. */
} smf_envelope_t;

/** The message's envelope. Never NULL during scan(). */
const smf_envelope_t *smf_msg_envelope(const smf_msg_t *msg);

/**
 * The recipient domain whose policy this scan runs under (lower case).
 * A message with recipients in several domains is scanned once per
 * recipient domain, even when domains share a policy (antivirus stages
 * excepted: see SMF_KIND_ANTIVIRUS). "" in a connection check without
 * recipients.
 * Borrowed until scan() returns. Never NULL.
 */
const char *smf_msg_domain(const smf_msg_t *msg);

/**
 * Milliseconds left before the message's deadline, at least 0. A scan that
 * cannot finish in time should return SMF_ETIMEDOUT.
 */
long smf_msg_time_left_ms(const smf_msg_t *msg);

/* ------------------------------------------------------------------ */
/* Content                                                            */
/* ------------------------------------------------------------------ */

/**
 * The raw message exactly as the front end sent it. In a connection check
 * (a CONNECT request, at MAIL FROM or RCPT TO, before any data) there is no
 * message yet: the stage sees an empty one, *len = 0, so a module that
 * counts messages can tell the two apart.
 *
 * @param len  Out: its length in bytes; may be NULL when not wanted.
 * @return Borrowed bytes (not NUL-terminated in general). Never NULL.
 */
const char *smf_msg_raw(const smf_msg_t *msg, size_t *len);

/**
 * The raw header block (up to, not including, the blank line).
 * Same rules as smf_msg_raw(), len included (may be NULL).
 */
const char *smf_msg_raw_headers(const smf_msg_t *msg, size_t *len);

/** Number of top-level header fields of the message. */
size_t smf_msg_header_count(const smf_msg_t *msg);

/**
 * The i-th top-level header field, in message order.
 *
 * @param name   Out: the field name as written; may be NULL when not wanted.
 * @param value  Out: the value, unfolded, RFC 2047 decoded, in UTF-8; may
 *               be NULL when not wanted.
 * @return 0, or SMF_ENOENT when i is out of range (the outputs are then
 *         left as they were). Outputs borrowed.
 */
int smf_msg_header_at(const smf_msg_t *msg, size_t i, const char **name,
                      const char **value);

/**
 * The value of the nth field called `name` (case-insensitive), decoded as
 * in smf_msg_header_at(). n = 0 is the first.
 *
 * @return Borrowed UTF-8 string, or NULL when there is no such field.
 */
const char *smf_msg_header(const smf_msg_t *msg, const char *name, size_t n);

/**
 * All text of the message for content rules: every text/plain part,
 * every text/html part reduced to text, and every other text/ part not
 * attached by name (mail clients show those as plain text), converted to
 * UTF-8, joined by newlines, with the decoded Subject first.
 *
 * @param len  Out: length in bytes (the string is also NUL-terminated);
 *             may be NULL when not wanted.
 * @return Borrowed. Never NULL ("" for a message without text).
 */
const char *smf_msg_text(const smf_msg_t *msg, size_t *len);

/** Flags of a MIME part. */
#define SMF_PART_TEXT 0x01       /**< A text/plain or text/html body part. */
#define SMF_PART_HTML 0x02       /**< text/html, or a file named .html, .htm, .shtml or .xhtml. */
#define SMF_PART_ATTACHMENT 0x04 /**< Has a file name or Content-Disposition: attachment. */
#define SMF_PART_MULTIPART 0x08  /**< A container; its data is empty. */
#define SMF_PART_MESSAGE 0x10    /**< A message/rfc822 container. */
#define SMF_PART_UNDECODED 0x20  /**< Decoding failed; data is the raw encoded body. */
/**
 * Not a MIME entity of the message but bytes the engine took from one, so
 * that the stages scan what a mail client or browser could still open: a
 * multipart's preamble or epilogue, a file carried inside HTML (a data: URI,
 * a script's base64), a base64 body read on past its end as some clients
 * save it. Stages that judge a message by its structure (how many parts,
 * of which types) skip these; scanners read them like any part.
 */
#define SMF_PART_DERIVED 0x40

/**
 * One MIME part, leaves and containers alike, in depth-first order.
 * Borrowed until scan() returns. New fields are only added at the end.
 */
typedef struct smf_part {
    size_t index;             /**< Position in depth-first order, from 0. */
    long parent;              /**< Index of the enclosing part, -1 for the top. */
    unsigned depth;           /**< Nesting depth: 0 for the top-level entity. */
    unsigned flags;           /**< SMF_PART_* bits. */
    const char *content_type; /**< "type/subtype", lower case. */
    const char *filename;     /**< Decoded (RFC 2231/2047) UTF-8 file name, or "". */
    const char *charset;      /**< Declared charset, lower case, or "". */
    const unsigned char *data; /**< Transfer-decoded body bytes (not charset-converted). */
    size_t size;              /**< Length of data. */
    /* ---- Added in ABI 1.6 ---- */
    /**
     * The Content-Type name= when the part also has a Content-Disposition
     * filename= that differs from it (filename holds that one), decoded as
     * filename; or, for a uuencoded body whose header fields name it, the
     * name on its "begin" line when that differs; else "". Mail clients
     * differ in which they save under, so a check of names reads both.
     * Never NULL. Modules built for
     * ABI 1.0 to 1.5 do not see it: the engine allocates the parts, so a
     * module reaches each through smf_msg_part() and never by indexing
     * from another.
     */
    const char *other_filename;
} smf_part_t;

/** Number of parts (at least 1: the message itself). */
size_t smf_msg_part_count(const smf_msg_t *msg);

/** The i-th part, or NULL when i is out of range. Borrowed. */
const smf_part_t *smf_msg_part(const smf_msg_t *msg, size_t i);

/**
 * Whether the engine's parser stopped early at its size, depth or part-count
 * limit or at header fields with more encoded words than mail has, could
 * not read the structure at all (lines ended by CR alone), or found what
 * makes a mail client build another tree (Content-Type fields that
 * contradict each other, a boundary line next to a CR alone or outside the
 * parts of its multipart, as in its epilogue): then the
 * parts do not cover the whole message, and an antivirus stage cannot call
 * it clean.
 *
 * @return NULL when the message was parsed whole, else a borrowed reason.
 */
const char *smf_msg_truncated(const smf_msg_t *msg);

/**
 * Number of distinct URLs found in the message text (smf_msg_text(): the
 * Subject, text parts and HTML reduced to text), in HTML links, in the
 * links and text of HTML and SVG files attached to the message, and in the
 * text of text files attached to it (the words of those files are not part
 * of smf_msg_text()). Other headers are not searched. At most 1,000 are
 * kept, in the order found; a message with more carries the engine's
 * symbol MSG_URL_LIMIT.
 */
size_t smf_msg_url_count(const smf_msg_t *msg);

/**
 * The i-th URL as written, but with scheme and host lower-cased, or NULL.
 * Borrowed: lives as long as the message. The host is in one form whatever
 * way it was written: percent escapes of name characters decoded, and a
 * host of another script written as its A-label, each non-ASCII label as
 * "xn--" and its Punycode ("http://xn--exmple-cua.com/" for "exmple" with
 * an a-umlaut after the x, in UTF-8 or percent-encoded), as DNS and list
 * entries hold it. An IPv6 host keeps its brackets ("http://[2001:db8::1]/"):
 * a module that takes the host to end at the first ':' must read up to the
 * ']'. In text the path ends at the first non-ASCII byte.
 */
const char *smf_msg_url(const smf_msg_t *msg, size_t i);

/* ------------------------------------------------------------------ */
/* Results                                                            */
/* ------------------------------------------------------------------ */

/*
 * The calls below report what a stage found. They take effect in scan().
 * In verdict() the reply is decided: they return 0 and record nothing. In
 * scope() they are refused: they return SMF_EPERM and record nothing
 * (arguments are checked first, so a bad one still gives SMF_EINVAL).
 */

/** The largest score one symbol carries, either way: far past any policy's
 *  thresholds, yet small enough that a message's sum stays a number. */
#define SMF_SCORE_MAX 1000.0

/** The longest symbol name, in bytes, without the terminating NUL. */
#define SMF_SYMBOL_NAME_MAX 128

/**
 * Adds a symbol: a named, scored reason. Names are UPPER_SNAKE and start
 * with the module's prefix (AV_INFECTED, ATT_DOUBLE_EXT). Scores add up
 * into the message's score, which the domain's policy maps to an action.
 * Adding a name twice keeps the higher score and the first detail.
 *
 * @param name    Symbol name: 1 to SMF_SYMBOL_NAME_MAX (128) bytes of
 *                A-Z, 0-9 and '_' (else SMF_EINVAL); copied.
 * @param score   Points, negative for good signs; finite (else SMF_EINVAL),
 *                and held to -SMF_SCORE_MAX..SMF_SCORE_MAX.
 * @param detail  Short free text shown to operators (a rule, a match), or NULL; copied.
 * @return 0, SMF_EINVAL, SMF_ENOMEM, or SMF_EPERM in scope().
 */
int smf_msg_add_symbol(smf_msg_t *msg, const char *name, double score,
                       const char *detail);

/** Forced verdicts a stage may set with smf_msg_set_verdict(). */
typedef enum smf_verdict {
    /**
     * Whitelisted: the soft lane becomes accept and the remaining
     * non-antivirus stages are skipped. Antivirus stages still run.
     */
    SMF_VERDICT_ALLOW = 1,
    /**
     * Blacklisted: the soft lane takes the policy's `block_action` (reject by
     * default) and the remaining non-antivirus stages are skipped.
     */
    SMF_VERDICT_BLOCK = 2,
    /** Spam beyond doubt (GTUBE, a test string): the policy's spam action. */
    SMF_VERDICT_SPAM = 3
} smf_verdict_t;

/**
 * Forces a verdict for the soft lane. Only list and reputation stages may
 * set ALLOW; any soft stage may set BLOCK or SPAM. Antivirus stages use
 * smf_msg_set_virus() instead.
 *
 * @param reason  Shown to operators and, for BLOCK, in the SMTP reply;
 *                copied (left out, the verdict still set, when the message
 *                arena is full).
 * @return 0, SMF_EINVAL, or SMF_EPERM when this kind of stage may not or
 *         in scope().
 */
int smf_msg_set_verdict(smf_msg_t *msg, smf_verdict_t verdict,
                        const char *reason);

/**
 * Reports a virus. Only antivirus stages may call it. The pipeline ends:
 * the policy's virus action applies (by default quarantine for inbound mail,
 * reject for outbound) and nothing can lower it. The virus stands even when
 * scan() then returns an error or runs past its timeout_ms (the failure is
 * logged): a found virus is held, where a failure alone is a tempfail.
 *
 * @param name  The signature name; copied.
 * @return 0, SMF_EINVAL, or SMF_EPERM for other kinds of stage or in scope().
 */
int smf_msg_set_virus(smf_msg_t *msg, const char *name);

/**
 * Reports that the stage could not scan the message (or a part of it)
 * fully: a limit, an encrypted archive, a damaged file. For an antivirus
 * stage this maps to the policy's unscannable action (quarantine by
 * default), never to clean.
 *
 * @param reason  Short text; copied.
 * @return 0, SMF_EINVAL, or SMF_EPERM in scope().
 */
int smf_msg_set_unscannable(smf_msg_t *msg, const char *reason);

/**
 * Records that the stage examined part i completely. An antivirus stage
 * must account for every leaf part this way (containers count as scanned
 * when all their leaves are); a part left out makes the result
 * 'unscannable', never clean. Other kinds of stage may ignore it.
 *
 * @return 0, SMF_ENOENT, or SMF_EPERM in scope().
 */
int smf_msg_part_scanned(smf_msg_t *msg, size_t i);

/**
 * Asks the engine to add a header to the delivered message, if the final
 * action delivers it. Both strings are copied.
 *
 * @return 0, SMF_EINVAL (name not a valid field name, CR/LF in value),
 *         SMF_ENOMEM, or SMF_EPERM in scope().
 */
int smf_msg_add_header(smf_msg_t *msg, const char *name, const char *value);

/* ------------------------------------------------------------------ */
/* Notes between stages (ABI 1.2)                                     */
/* ------------------------------------------------------------------ */

/**
 * Leaves a note for the stages that run after this one on the same
 * message and policy: a result others may build on (the auth stage notes
 * its SPF, DKIM and DMARC results as "auth.results", and the lists stage
 * applies an allow entry that needs authentication only when they pass). Notes are not part of the reply and are gone after the scan.
 *
 * @param key    "<module name>.<name>": a stage writes only under its own
 *               name, so no stage can pose as another; copied.
 * @param value  Copied; replaces an earlier value of the same key.
 * @return 0, SMF_EINVAL, SMF_EPERM (key not under the caller's name, or in
 *         scope()), or SMF_ENOMEM.
 */
int smf_msg_set_note(smf_msg_t *msg, const char *key, const char *value);

/**
 * Reads a note an earlier stage left. The engine leaves one of its own:
 * "smfd.stage" is "connect" in a connection-stage check (protocol command
 * CONNECT, before the message is sent: the message is empty, only list and
 * reputation stages run), and absent in the scan of a message.
 *
 * @return The value, borrowed until scan() returns, or NULL when there is none.
 */
const char *smf_msg_note(const smf_msg_t *msg, const char *key);

/* ------------------------------------------------------------------ */
/* Health (ABI 1.2)                                                   */
/* ------------------------------------------------------------------ */

/**
 * Reports a problem with what the module depends on, as opposed to a
 * finding about the message: a DNS list refusing our resolver, a database
 * gone stale, in a scan or a connection check. The engine counts every
 * report (`smfctl stats`); at most once a minute per problem it logs it and
 * publishes an event `health.<module>` with it.
 * It changes no verdict: report what the problem means for the message
 * with symbols as usual.
 *
 * @param problem  Short text naming the problem; equal texts are the same
 *                 problem. Copied.
 * @return 0, SMF_EINVAL, or SMF_ENOMEM when the message arena is full.
 */
int smf_health(smf_msg_t *msg, const char *problem);

/* ------------------------------------------------------------------ */
/* Per-message memory                                                 */
/* ------------------------------------------------------------------ */

/**
 * Allocates from the message arena. The memory is 16-byte aligned, not
 * zeroed, and freed by the engine after the scan; never free it yourself.
 * The arena is capped (the `message_arena_limit` setting).
 *
 * @return The memory, or NULL when the cap is reached.
 */
void *smf_msg_alloc(smf_msg_t *msg, size_t size);

/** Formats into the message arena. @return The string, or NULL when the arena is full. */
char *smf_msg_printf(smf_msg_t *msg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* The module's own key-value store                                   */
/* ------------------------------------------------------------------ */

/*
 * Each module has a persistent key-value namespace of its own, kept by the
 * engine on disk (under data_dir) and shared by all threads and
 * generations. Keys are at most 255 bytes. Writes are visible to reads that
 * start after the write returns; they survive a restart and a crash of the
 * engine, but a crash of the machine may lose the last two seconds of them
 * (the engine flushes the store every two seconds, not at each write).
 * Every call below returns SMF_ENOTSUP when the engine runs without a store.
 */

/**
 * Reads a value.
 *
 * @param val   Out: a copy in the message arena, valid until scan() returns.
 *              Must not be NULL (SMF_EINVAL). The copy counts against
 *              message_arena_limit like smf_msg_alloc().
 * @param vlen  Out: its length. Must not be NULL (SMF_EINVAL).
 * @return 0, SMF_ENOENT when the key is absent, SMF_EINVAL, SMF_ENOMEM
 *         (the copy would pass message_arena_limit), SMF_ENOTSUP, or
 *         SMF_EIO.
 */
int smf_kv_get(smf_msg_t *msg, const void *key, size_t klen, const void **val,
               size_t *vlen);

/**
 * Writes a value, replacing any old one. Both buffers are copied.
 *
 * @return 0, SMF_EINVAL, SMF_ENOTSUP, or SMF_EIO (including a full store).
 */
int smf_kv_put(smf_msg_t *msg, const void *key, size_t klen, const void *val,
               size_t vlen);

/** Deletes a key. @return 0, SMF_ENOENT, SMF_EINVAL, SMF_ENOTSUP, or SMF_EIO. */
int smf_kv_del(smf_msg_t *msg, const void *key, size_t klen);

/**
 * Opens a batch (ABI 1.2): the module's key-value calls that follow, on
 * this message, run in one transaction until smf_kv_commit(), so that they
 * take effect together or, after a failed call or smf_kv_abort(), not at
 * all: a learn that writes thousands of token counts is atomic and fast.
 * Reads in the batch see its writes. Other writers wait meanwhile, so keep
 * batches short. A batch still open when the module's function returns is
 * dropped by the engine.
 *
 * The engine may itself run the call inside a larger transaction: smfctl
 * learns each message in one, with its entry in the learning registry. The
 * module's commit then takes effect with the engine's, and its abort (or a
 * failed call) makes the engine's write nothing either.
 *
 * @return 0, SMF_EINVAL (a batch is already open), SMF_ENOTSUP or SMF_EIO.
 */
int smf_kv_begin(smf_msg_t *msg);

/**
 * Commits the batch.
 *
 * @return 0, SMF_EINVAL when no batch is open, SMF_ENOTSUP, or SMF_EIO when
 *         a call in it failed (nothing was written).
 */
int smf_kv_commit(smf_msg_t *msg);

/** Drops the batch and everything written in it. */
void smf_kv_abort(smf_msg_t *msg);

/** Largest value smf_kv_update() can write. */
#define SMF_KV_UPDATE_MAX 4096

/**
 * Changes a value as one step that no other writer, thread or process, can
 * interleave with (ABI 1.2): a counter or a small record that several
 * workers update at once, where a get followed by a put could lose counts.
 *
 * @param fn   Called once with the current value (old NULL and oldlen 0 when
 *             the key is absent). It writes the new value into out (room for
 *             SMF_KV_UPDATE_MAX bytes), sets *outlen and returns 0 to store
 *             it, SMF_ENOENT to delete the key, or any other negative code to
 *             leave the store unchanged. It runs while the store is locked:
 *             keep it short and call no smf_* function from it.
 * @param arg  Passed to fn, which may also report results through it.
 * @return What fn returned, or SMF_EINVAL, SMF_ELIMIT (*outlen too large),
 *         SMF_ENOTSUP or SMF_EIO.
 */
int smf_kv_update(smf_msg_t *msg, const void *key, size_t klen,
                  int (*fn)(void *arg, const void *old, size_t oldlen, void *out, size_t *outlen),
                  void *arg);

/**
 * Walks the module's namespace (ABI 1.5): the first key that sorts after
 * `after`, with its value. Keys sort by their bytes, a key before every
 * longer key it begins. Call it first with alen 0, then each time with the
 * key it returned, to visit every key once; a walk may be spread over many
 * calls and messages, resumed from a key saved anywhere, even one deleted
 * since (the walk goes on from where it stood). Each call reads the store
 * as it is then (or the open batch, with its writes), so keys written
 * behind a walk are met in its next round. Keep the work of one call
 * small: to prune old records, visit a few hundred keys per message, not
 * the whole store. A key longer than 255 bytes, which no call here
 * writes (another tool's), is never returned: the walk goes past it.
 *
 * @param after  The key to resume after, alen bytes; NULL with alen 0 for
 *               the first key.
 * @param key    Out: a copy in the message arena, valid until the calling
 *               module function returns.
 * @param klen   Out: its length.
 * @param val    Out: the value, a copy in the message arena, as key. Both
 *               copies count against message_arena_limit like
 *               smf_msg_alloc().
 * @param vlen   Out: its length.
 * @return 0, SMF_ENOENT when no key sorts after `after` (the walk is over),
 *         SMF_EINVAL (alen above 255, or NULL outputs), SMF_ENOMEM (the
 *         copies would pass message_arena_limit; the walk can resume
 *         after the last key it returned),
 *         SMF_ENOTSUP, or SMF_EIO.
 */
int smf_kv_next(smf_msg_t *msg, const void *after, size_t alen, const void **key,
                size_t *klen, const void **val, size_t *vlen);

#ifdef __cplusplus
}
#endif

#endif /* SMF_MODULE_H */
