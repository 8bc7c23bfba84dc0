/*
 * bundle.h - the police evidence bundle: one tar file a court can verify.
 *
 * Layout (every member under "threatdesk-case-<id>/", mode 0644, all with
 * the bundle's creation time, POSIX pax format written by libarchive):
 *
 *   messages/NNN-message-<id>.<eml|txt|json|pdf|png|jpg|tif|bin>
 *                        each linked message's original, byte for byte
 *   evidence/NNN-<id>-<name>
 *                        each evidence file, under its real name (the
 *                        last path component, control characters replaced)
 *   case.json            the case record, who exported it and when
 *   messages.json        each message: verdict, tier, labels, spans, the
 *                        original's member and SHA-256
 *   evidence.json        each file: real name, type, size, SHA-256, member
 *   timeline.json        the case's events (internal notes left out)
 *   notes.json           the notes the office marked shareable
 *   senders.json         each sender's history in the office
 *   audit.json           the audit entries about the case and its
 *                        messages, in full, with the chain hashes
 *   summary.pdf          the human-readable summary (A4)
 *   README.txt           what this is and how to check it
 *   office-key.pub       "ed25519 <64 hex>\n": the office's public key
 *   manifest.json        {"format": "threatdesk-bundle-1", "case",
 *                        "office", "created", "public_key", "files":
 *                        [{"path", "size", "sha256"}]} - every member above
 *   manifest.sig         "ed25519 <128 hex>\n": the detached Ed25519
 *                        signature of manifest.json's exact bytes
 *
 * The archive is CANONICAL: the same members always serialise to the same
 * bytes, so td_bundle_verify() rebuilds the archive from what it read and
 * compares byte for byte - a changed header, padding or trailer byte is
 * caught as surely as a changed file.
 */
#ifndef THREATDESK_BUNDLE_H
#define THREATDESK_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/desk.h"
#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_BUNDLE_FORMAT "threatdesk-bundle-1"

/* What a written bundle is. */
struct td_bundle_info {
    int64_t case_id;
    uint64_t bytes;            /* size of the tar file */
    size_t files;              /* members in the manifest */
    size_t messages, evidence; /* originals and evidence files */
    char manifest_sha256[65];  /* hex SHA-256 of manifest.json */
    char public_key[65];       /* hex Ed25519 public key of the office */
};

/*
 * Write the bundle of case_id to fd (a file or pipe, written in order,
 * never sought; not closed).  Memory is bounded whatever the evidence
 * size: files are streamed in 64 KiB pieces and hashed as they go.  Access
 * as td_desk_case_export (desk_export.h): police only for their reported
 * cases, another office's case is TD_ENOTFOUND.  Audited: "case.export"
 * when read, "case.bundle" (with the manifest's SHA-256) when complete.
 * An evidence file that no longer matches its SHA-256 fails the export
 * (TD_ECRYPTO) - what was written to fd is then not a bundle: discard it.
 * info may be NULL.
 */
int td_bundle_write(struct td_desk *d, const struct td_actor *actor, int64_t case_id, int fd,
                    struct td_bundle_info *info, struct td_error *err);

/* One thing wrong with a bundle. */
struct td_bundle_problem {
    const char *kind; /* "archive", "file", "manifest", "signature", "key", "audit",
                         "message" (static) */
    char path[512];   /* the member concerned, or "" */
    char what[256];   /* "contents differ from the manifest", ... */
    char expected[160];
    char found[160];
};

struct td_bundle_verify_stats {
    size_t members;       /* members read */
    size_t files;         /* manifest entries checked */
    size_t audit_entries; /* audit entries whose hash was recomputed */
    size_t problems;
    int signature_ok; /* 1: manifest.sig verifies under public_key */
    int64_t case_id;
    char public_key[65]; /* the key the bundle says signed it */
    uint64_t bytes;      /* size of the file */
};

/* Called once per problem; non-zero stops early. */
typedef int td_bundle_verify_cb(void *ud, const struct td_bundle_problem *p);

/*
 * Check a bundle offline: the archive's every byte against its canonical
 * form, every member's SHA-256 and size against the manifest (and nothing
 * missing or added), the signature over the manifest, the public key
 * (against `pubkey_hex` too when not NULL: the office's key as published
 * to the police), each audit entry's hash recomputed from its fields and
 * the links between consecutive entries, and each original against the
 * SHA-256 the desk recorded at ingest.  Returns TD_OK when the check ran
 * (stats->problems == 0: intact), an error when the file cannot be read.
 * Memory: bounded (the manifest, audit.json and messages.json are read
 * into memory, capped at 64 MiB each; files are streamed).
 */
int td_bundle_verify(const char *path, const char *pubkey_hex, td_bundle_verify_cb *cb, void *ud,
                     struct td_bundle_verify_stats *stats, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
