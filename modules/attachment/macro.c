/*
 * macro.c - finds Office macro projects: the VBA storages and streams of an
 * OLE2 compound file (.doc, .xls, .ppt) and the vbaProject.bin part of an
 * OOXML package (.docm, .xlsm), which archive.c meets as a zip entry.
 */
#include "attachment.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* OLE2 directory entries are 128 bytes, on 128-byte boundaries after the 512-byte header. */
#define OLE_HEADER 512
#define OLE_ENTRY 128

static const unsigned char ole_magic[8] = {0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1};

/* Names Office gives to the parts that hold a VBA project. */
static const char *const ole_vba_names[] = {"_VBA_PROJECT", "_VBA_PROJECT_CUR", "VBA", "Macros",
                                            NULL};

int att_is_ole2(const unsigned char *d, size_t n)
{
    return n >= OLE_HEADER && memcmp(d, ole_magic, sizeof(ole_magic)) == 0;
}

/*
 * Reads the UTF-16LE name of a directory entry into ASCII. Returns 0 when the
 * bytes are not a plausible entry: wrong length field, NUL missing, odd type.
 */
static int ole_entry_name(const unsigned char *e, char *out, size_t cap)
{
    unsigned len = (unsigned)e[64] | (unsigned)e[65] << 8;
    unsigned type = e[66];
    size_t chars;

    if (len < 4 || len > 64 || (len & 1) != 0 || (type != 1 && type != 2))
        return 0;
    chars = len / 2 - 1;
    if (chars >= cap || e[len - 2] != 0 || e[len - 1] != 0)
        return 0;
    for (size_t i = 0; i < chars; i++) {
        if (e[2 * i + 1] != 0 || e[2 * i] < 0x20 || e[2 * i] > 0x7e)
            return 0;
        out[i] = (char)e[2 * i];
    }
    out[chars] = '\0';
    return 1;
}

/*
 * Looks for a VBA storage or stream among the directory entries. Entries are
 * found by their shape rather than by following the FAT chains, so a file
 * with a damaged allocation table still shows its macros.
 */
static const char *ole_find_vba(const unsigned char *d, size_t n)
{
    char name[40];

    for (size_t off = OLE_HEADER; off + OLE_ENTRY <= n; off += OLE_ENTRY) {
        if (!ole_entry_name(d + off, name, sizeof(name)))
            continue;
        for (size_t i = 0; ole_vba_names[i] != NULL; i++) {
            if (strcasecmp(name, ole_vba_names[i]) == 0)
                return ole_vba_names[i];
        }
    }
    return NULL;
}

int att_check_ole2(att_ctx_t *ctx, const char *where, const char *name, const unsigned char *data,
                   size_t len)
{
    char detail[700];
    const char *vba;

    if (!att_is_ole2(data, len) || (vba = ole_find_vba(data, len)) == NULL)
        return 0;
    snprintf(detail, sizeof(detail), "%s%s: %s", where, name, vba);
    return smf_msg_add_symbol(ctx->msg, "ATT_MACRO", ctx->pol->macro_score, detail);
}

int att_is_vba_part(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base != NULL ? base + 1 : path;
    return strcasecmp(base, "vbaProject.bin") == 0 ||
           strcasecmp(base, "vbaProjectSignature.bin") == 0;
}
