/*
 * fuzz_zipnames.c - the zip name walker of the attachment module
 * (modules/attachment/zipnames.c) over arbitrary bytes. It reads a zip's
 * records itself, without libarchive, to find every name any extractor
 * would see (central and local headers, Info-ZIP Unicode Path fields, zip64
 * end records, zips appended to zips, data descriptors), so it follows
 * offsets and lengths an attacker wrote. Each entry's names and extra
 * fields are read whole; att_zip_names() and att_zip_found() run too, and
 * must agree with each other.
 */
#include "attachment.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seen {
    size_t entries;
    size_t stop_at; /* Entry at which to stop the walk, 0 for never. */
} seen_t;

static int entry(void *arg, const att_zip_entry_t *e)
{
    seen_t *s = arg;
    fuzz_touch(e->central, e->central_len);
    fuzz_touch(e->central_extra, e->central_extra_len);
    fuzz_touch(e->local, e->local_len);
    fuzz_touch(e->local_extra, e->local_extra_len);
    FUZZ_CHECK(e->central != NULL || e->local != NULL);
    const unsigned char *x = e->central_extra;
    size_t n = e->central_extra_len;
    const char *name;
    size_t name_len;
    while (x != NULL && att_zip_unicode_next(&x, &n, &name, &name_len))
        fuzz_touch(name, name_len);
    x = e->local_extra;
    n = e->local_extra_len;
    while (x != NULL && att_zip_unicode_next(&x, &n, &name, &name_len))
        fuzz_touch(name, name_len);
    s->entries++;
    return s->stop_at != 0 && s->entries == s->stop_at ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen_t central = {0, 0};
    int rc = att_zip_names(data, size, entry, &central);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK((central.entries > 0) == (att_zip_found(data, size) != 0));

    /* The module's default limit of entries, and a small one that is reached. */
    static const size_t limits[] = {1000, 3};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        seen_t all = {0, 0};
        att_zip_layout_t layout = {0, 0, 0};
        rc = att_zip_walk(data, size, limits[i], entry, &all, &layout);
        FUZZ_CHECK(rc == 0 || rc == 1);
    }
    /* A callback that stops the walk gets its own return back. */
    seen_t stop = {0, 2};
    att_zip_layout_t layout = {0, 0, 0};
    rc = att_zip_walk(data, size, 1000, entry, &stop, &layout);
    FUZZ_CHECK(stop.entries >= 2 ? rc == 7 : (rc == 0 || rc == 1));
    return 0;
}
