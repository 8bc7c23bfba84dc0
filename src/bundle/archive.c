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
 * Names are UTF-8.  libarchive converts names through the process's
 * LC_CTYPE, which in the "C" locale cannot hold "Tatort \xc3\xbc.jpg"; the
 * writer and the verifier therefore run with a UTF-8 LC_CTYPE on their own
 * thread only (uselocale: other threads of the server are untouched), and
 * libarchive writes such a name as a pax "path" record in UTF-8, which GNU
 * tar, bsdtar and Python read.  Without any UTF-8 locale on the machine,
 * the writer replaces non-ASCII bytes of member names with '_' (the real
 * name stays in evidence.json).
 */
#include <locale.h>

#include "bundle/bundle_int.h"

int td__bundle_utf8_begin(struct td__bundle_locale *l)
{
    static const char *names[] = {"C.UTF-8", "C.utf8", "en_US.UTF-8", "en_GB.UTF-8"};
    l->loc = (locale_t)0;
    l->old = (locale_t)0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !l->loc; i++)
        l->loc = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
    if (!l->loc)
        return -1;
    l->old = uselocale(l->loc);
    return 0;
}

void td__bundle_utf8_end(struct td__bundle_locale *l)
{
    if (!l->loc)
        return;
    uselocale(l->old);
    freelocale(l->loc);
    l->loc = (locale_t)0;
}

struct archive *td__bundle_writer(void)
{
    struct archive *a = archive_write_new();
    if (!a)
        return NULL;
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
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
    archive_entry_set_pathname_utf8(e, path);
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
