/*
 * tnef.h - reads the attachments out of a TNEF stream (winmail.dat,
 * application/ms-tnef), the way Outlook sends a message's attachments:
 * their names and data, for archive.c to check as it checks an archive's
 * entries.
 */
#ifndef SMF_ATTACHMENT_TNEF_H
#define SMF_ATTACHMENT_TNEF_H

#include <stddef.h>

/* Attributes read at most from one stream; past it the walk stops (a limit, not damage). */
#define ATT_TNEF_MAX_ATTRIBUTES 65536
/* Properties read at most from one property list, and values from one property. */
#define ATT_TNEF_MAX_PROPERTIES 65536
/* A name is kept by its last bytes, which hold its extension; what the
 * rest of it holds that the checks need is noted apart (rtlo below). */
#define ATT_TNEF_NAME_MAX 256
/* Names and data blocks one record holds; an attachment with more is a limit. */
#define ATT_TNEF_NAMES 8
#define ATT_TNEF_DATA 4

/*
 * One attachment of a TNEF stream, whole: every data block comes with all
 * the names the attachment was given before the next one starts (an
 * attachment with more names or data blocks than a record holds ends the
 * walk at a limit, its record given as far as it was filled). Names are in UTF-8,
 * NUL-terminated, each different: an 8-bit string is read in the stream's
 * code page (attOemCodepage: Windows-1252 and ISO 8859-1, UTF-8; in another
 * page its ASCII and no-break space only, the rest as U+FFFD, and in a page
 * whose ASCII bytes are not ASCII, such as UTF-7 or EBCDIC, so too but noted
 * in res->unread; with none given, as UTF-8 when it is, else as
 * Windows-1252). They come from attAttachTitle,
 * attAttachTransportFilename and the MAPI properties of attAttachment
 * (PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME, PR_DISPLAY_NAME,
 * PR_ATTACH_EXTENSION, PR_ATTACH_PATHNAME, PR_ATTACH_LONG_PATHNAME). Data
 * blocks point into the stream: attAttachData, and PR_ATTACH_DATA_BIN or
 * PR_ATTACH_DATA_OBJ (without its interface id: an embedded message is a
 * TNEF stream again, an OLE object an OLE2 file). A truncated block is
 * given as far as it goes. rtlo[i] says whether names[i], whole, holds
 * U+202E (right-to-left override): a name longer than is kept may hold it
 * in the part left out, where it still turns the name around on screen.
 */
typedef struct att_tnef_attach {
    char names[ATT_TNEF_NAMES][ATT_TNEF_NAME_MAX];
    unsigned char rtlo[ATT_TNEF_NAMES];
    size_t name_count;
    const unsigned char *data[ATT_TNEF_DATA];
    size_t data_len[ATT_TNEF_DATA];
    size_t data_count;
} att_tnef_attach_t;

/* What made the walk of a stream incomplete: static strings, NULL when nothing did. */
typedef struct att_tnef_result {
    const char *damaged; /* The stream is malformed here; what could be read was given. */
    const char *limit;   /* A cap above stopped the walk. */
    int checksum;        /* An attribute's checksum does not match (no damage: see below). */
    const char *unread;  /* An 8-bit name is in a code page whose ASCII is not ASCII (UTF-7,
                          * EBCDIC, ISO 2022): what it says is unknown; the walk went on. */
} att_tnef_result_t;

typedef int (*att_tnef_fn)(void *arg, const att_tnef_attach_t *attach);

/* Whether the data starts with the TNEF signature. */
int att_is_tnef(const unsigned char *data, size_t size);

/*
 * Calls fn for each attachment of a TNEF stream, in order, and stops at the
 * first non-zero return, which it returns; otherwise returns 0. The record
 * given to fn lives until fn returns. Every length is checked against the
 * bytes left: an attribute or property that runs past them, an unknown
 * attribute level or property type is damage, and what was read before it
 * is still given to fn (after an unknown level the walk goes on, as the
 * lengths still frame the attributes; a property of an unknown type ends
 * its list, as nothing frames its value, but one of PT_UNSPECIFIED is read
 * as a variable-length one, as some readers read it). A checksum that does
 * not match is no damage: the lengths still frame the stream and the walk
 * reads on; it is noted in res->checksum. *res says what kept the walk from being whole.
 */
int att_tnef_walk(const unsigned char *data, size_t size, att_tnef_fn fn, void *arg,
                  att_tnef_result_t *res);

#endif /* SMF_ATTACHMENT_TNEF_H */
