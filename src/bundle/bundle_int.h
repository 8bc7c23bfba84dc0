/*
 * bundle_int.h - inside the bundle module (not installed).
 *
 *   archive.c  the canonical archive: how a member's header is made and
 *              how the writer is set up - shared by the writer and the
 *              verifier, which rebuilds the archive to compare bytes
 *   write.c    td_bundle_write: gather (desk_export.h), stream, sign
 *   verify.c   td_bundle_verify
 */
#ifndef TD_BUNDLE_INT_H
#define TD_BUNDLE_INT_H

#include <locale.h>
#include <stdint.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>

#include "threatdesk/bundle.h"

/* A UTF-8 LC_CTYPE for this thread while a bundle is written or read
 * (archive.c says why).  begin: 0 when active, -1 when the machine has no
 * UTF-8 locale (then names must be ASCII).  end restores the thread's. */
struct td__bundle_locale {
    locale_t loc, old;
};
int td__bundle_utf8_begin(struct td__bundle_locale *l);
void td__bundle_utf8_end(struct td__bundle_locale *l);

/* A new writer in the canonical format (pax restricted, 10240-byte
 * blocks); NULL on OOM.  The caller opens it. */
struct archive *td__bundle_writer(void);

/* Write the canonical header of a regular file member.  ARCHIVE_OK or
 * libarchive's error. */
int td__bundle_header(struct archive *a, const char *path, int64_t size, time_t mtime);

/* "ed25519 " + hex + "\n" lines of office-key.pub and manifest.sig. */
#define TD__KEY_PREFIX "ed25519 "

/* Largest JSON member the verifier reads into memory. */
#define TD__BUNDLE_JSON_MAX ((size_t)64 << 20)

#endif
