/*
 * archive.c - the canonical tar of a bundle (bundle.h).
 *
 * Canonical means: the member's bytes are a function of (path, size,
 * mtime, contents) only.  Every member is a regular file, mode 0644, uid
 * and gid 0, no user or group names, the one mtime of the bundle, in
 * libarchive's "pax restricted" format (ustar headers, with a pax extended
 * header only when a name needs one: long or non-ASCII).  The verifier
 * writes the same members through the same two functions and compares the
 * result with the file byte for byte.
 *
 * Names are bytes: the desk keeps them as UTF-8 and writes them as given,
 * with pax "hdrcharset=BINARY" (libarchive would otherwise convert names
 * through the process's locale, which in the "C" locale cannot hold
 * "Tatort \xc3\xbc.jpg").  Readers see the same UTF-8 bytes.
 */
#include "bundle/bundle_int.h"

struct archive *td__bundle_writer(void)
{
    struct archive *a = archive_write_new();
    if (!a)
        return NULL;
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(a, 10240) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 10240) != ARCHIVE_OK) {
        archive_write_free(a);
        return NULL;
    }
    return a;
}

int td__bundle_header(struct archive *a, const char *path, int64_t size, time_t mtime)
{
    struct archive_entry *e = archive_entry_new2(a);
    if (!e)
        return ARCHIVE_FATAL;
    archive_entry_copy_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    return r;
}
