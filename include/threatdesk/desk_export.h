/*
 * desk_export.h - what the desk hands out for a police evidence bundle
 * (bundle.h builds the file) and for reports (report.h): one consistent,
 * audited read of a case, the office's signing key, and streamed rows.
 *
 * Access: the same as reading a case (desk.h): staff of the office, and
 * police only for cases reported to police; another office's case is
 * TD_ENOTFOUND.  Observers get TD_EDENIED.
 */
#ifndef THREATDESK_DESK_EXPORT_H
#define THREATDESK_DESK_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "threatdesk/desk.h"
#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per linked message, in the case's order, with the message
 * (MESSAGE of desk.h) and its original bytes exactly as received; both are
 * valid during the call only.  It runs inside the export's transaction
 * (the desk is locked): write the bytes out and return.  Non-TD_OK aborts
 * the export (nothing is audited) and is returned. */
typedef int td_export_original_cb(void *ud, size_t index, const json_t *message, const void *data,
                                  size_t len, struct td_error *err);

/*
 * Read everything a bundle holds about a case, in ONE transaction that
 * also appends the audit entry "case.export" (so the read and its record
 * commit together).  *out (yours, json_decref) is
 *   {"format": "threatdesk-bundle-1",
 *    "office": {"id", "name"}, "exported": time, "exported_by": name,
 *    "case": {the case record: desk.h td_desk_case_get without the lists},
 *    "messages": [MESSAGE + "original_sha256", "original_size"],
 *    "evidence": [EVIDENCE],
 *    "notes": [the SHAREABLE notes only, whoever exports],
 *    "timeline": [the case's events; internal notes left out],
 *    "senders": [sender history (td_desk_sender) of each sender],
 *    "audit": [{"id","time","office_id","user_id","action","object_type",
 *               "object_id","details" (the exact text that was hashed),
 *               "prev_hash","hash"} | the same with "details": null and
 *               "withheld": "internal note"], about the case and its
 *               messages, oldest first,
 *    "chain_head": {"id", "hash"} (the "case.export" entry itself)}
 * Internal notes never leave: not in notes, not in the timeline, and their
 * audit entries carry their hashes but not their text.
 */
int td_desk_case_export(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                        td_export_original_cb *cb, void *ud, json_t **out, struct td_error *err);

/* Record a finished bundle in the audit chain ("case.bundle", details
 * borrowed: the manifest's SHA-256, size, key), after the file is
 * complete.  Same access as td_desk_case_export. */
int td_desk_case_export_done(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                             const json_t *details, struct td_error *err);

/* The path of an evidence file by its hex SHA-256 (content-addressed, see
 * desk.h), into path[size].  The file is never changed once written; a
 * reader re-hashes it. */
void td_desk_evidence_path(const struct td_desk *d, const char *sha256, char *path, size_t size);

/*
 * The office's Ed25519 signing key, <data_dir>/keys/office-<id>.ed25519,
 * made at first use (mode 0600, in a 0700 directory; created atomically,
 * so two processes end up with the same key).  A key file group or others
 * can read is refused (TD_EDENIED: whoever read it can sign as the
 * office).  pk: 32 bytes, sk: 64 bytes (libsodium's crypto_sign layout).
 * Wipe sk after use (sodium_memzero).
 */
int td_desk_office_key(struct td_desk *d, int64_t office_id, unsigned char pk[32],
                       unsigned char sk[64], struct td_error *err);

/* ---- streamed rows for reports (report.h) ------------------------------ */

/* Each row of the queue (MESSAGE without text and spans) matching f (its
 * limit/offset ignored), in queue order, to cb; row valid during the call;
 * non-zero from cb stops.  Staff only.  Audited as one "queue.export". */
int td_desk_queue_export(struct td_desk *d, const struct td_actor *actor,
                         const struct td_queue_filter *f, int (*cb)(void *ud, const json_t *row),
                         void *ud, struct td_error *err);
/* Each case row matching f, newest first (police: reported cases only).
 * Audited as one "case.export_list". */
int td_desk_case_rows(struct td_desk *d, const struct td_actor *actor,
                      const struct td_case_filter *f, int (*cb)(void *ud, const json_t *row),
                      void *ud, struct td_error *err);

/* The weekly digest's figures for the office over [since, until) (staff):
 * {"volume": [{"day","channel","severity","labels","n"}], "senders": [...],
 *  "cases": [{"status","n"}], "review_seconds": [ascending]}; rows as
 * store.h digest_rows.  Audited as "report.digest". */
int td_desk_digest(struct td_desk *d, const struct td_actor *actor, int64_t since, int64_t until,
                   json_t **out, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
