/*
 * pipeline.h - one way in for everything an office receives.
 *
 * Every front door (`threatdesk scan`, `fetch`, `import`, the HTTP server)
 * runs a message through the same steps, with the same rules:
 *
 *   1. canonicalise the sender   td_sender_key_of (sender.h): one person,
 *                                one key, whatever door the message came by
 *   2. dedupe                    dedupe.h: the same Message-ID / idempotency
 *                                key, or the same words from the same
 *                                sender, is a duplicate of the first
 *   3. analyse                   analyse.h
 *   4. sender history            a threat from a sender with earlier
 *                                threats is raised (td_verdict_apply_history)
 *   5. file into the desk        desk.h (when a desk is attached)
 *
 * Without a desk (scan, fetch without --db) steps 2 and 4 use the run's
 * memory (td_dedupe, td_senders); with one, the desk's store is the memory
 * (so a message seen in yesterday's import is a duplicate today) and the run's
 * memory still catches repeats within one input before they are analysed.
 * The server reaches steps 1-5 through td_desk_ingest*(), which apply the
 * same desk-side rules (src/desk/ingest.c); this file adds the run-side
 * memory and the analysis for the command-line doors.
 *
 * Ownership: the pipeline borrows the analysis context, the desk and the
 * actor; they must outlive it.  Not thread-safe: one pipeline per thread.
 */
#ifndef THREATDESK_PIPELINE_H
#define THREATDESK_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/error.h"
#include "threatdesk/message.h"
#include "threatdesk/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_pipeline_opts {
    struct td_analysis_ctx *ctx;  /* required */
    struct td_desk *desk;         /* NULL: analyse only */
    const struct td_actor *actor; /* who files into the desk (td_desk_operator) */
    int keep_duplicates;          /* analyse repeats again (scan --keep-duplicates) */
    size_t max_remembered;        /* run memory bound (0: 1,000,000) */
};

/* What became of one message. */
struct td_pipeline_result {
    int code;         /* TD_OK; else why it was refused (field, reason) */
    int duplicate;    /* 1: seen before, not analysed or counted again */
    char dup_of[256]; /* the id (reader id, or "desk:<id>") it duplicates */
    int64_t id;       /* desk message id (0 without a desk) */
    int analysed;     /* 1: v holds a fresh verdict */
    char field[64];   /* refusal: the offending field */
    char reason[256]; /* refusal: why */
};

struct td_pipeline;

/* *out is yours: td_pipeline_free(). */
int td_pipeline_new(const struct td_pipeline_opts *o, struct td_pipeline **out,
                    struct td_error *err);
void td_pipeline_free(struct td_pipeline *p);

/*
 * Run one message through the steps above.  m->sender is replaced by the
 * canonical key (NULL when nothing identifies the sender).  v receives the
 * verdict (history applied) when res->analysed.  `client_key` (may be NULL)
 * is the idempotency key for the desk.
 * Returns TD_OK when the message was handled (filed, analysed, or found a
 * duplicate) or refused (res->code, err filled): a refusal concerns this
 * message only.  Other returns (TD_ENOMEM, TD_ESTORE) mean stop.
 */
int td_pipeline_process(struct td_pipeline *p, struct td_message *m, const char *client_key,
                        struct td_verdict *v, struct td_pipeline_result *res, struct td_error *err);

/* The run's per-sender tallies (for scan --by-sender); owned by p. */
struct td_senders *td_pipeline_senders(struct td_pipeline *p);

/*
 * The local operator acting for `office` at the command line (import,
 * fetch --db, retention, erase-sender): an admin of that office with user
 * id 0, as the desk audits command-line changes.  TD_ENOTFOUND (field
 * "office") when the office does not exist.
 */
int td_desk_operator(struct td_desk *d, const char *office, struct td_actor *out,
                     struct td_error *err);

/* ---- retention and erasure (UK GDPR) -------------------------------------
 * Messages that no case holds can be erased; a message linked to a case is
 * kept (it is evidence in a matter that may reach the police: UK GDPR Art.
 * 17(3)(e)) and counted in `kept`.  Each erased message leaves a tombstone
 * in the audit chain, "message.erase" on the message's id with details
 * {"sha256" of the original, "reason", "sender_sha256"}: the entry's own
 * time and user are the date and who.  The text and original are gone; the
 * chain still verifies. */

struct td_erase_stats {
    size_t erased;  /* messages deleted, each with its tombstone */
    size_t kept;    /* messages held by a case, left alone */
    size_t uploads; /* retention: failed scans (never a message) deleted, each with its
                     * tombstone */
};

/* Set (days > 0) or clear (0) the retention period of the actor's office
 * (admin only; actor NULL is refused: use td_desk_operator).  Audited
 * ("office.retention"). */
int td_desk_retention_set(struct td_desk *d, const struct td_actor *actor, int64_t days,
                          struct td_error *err);
/* {"retention_days": n} (0: kept until erased by hand).  Staff. */
int td_desk_retention_get(struct td_desk *d, const struct td_actor *actor, int64_t *days,
                          struct td_error *err);
/* Erase the office's messages received more than retention_days before
 * `now` (0: the clock) that no case holds; audited per message, and once
 * as "office.retention.apply" with the counts.  Admin only.  Nothing is
 * erased when no period is set. */
int td_desk_retention_apply(struct td_desk *d, const struct td_actor *actor, int64_t now,
                            struct td_erase_stats *st, struct td_error *err);
/* A data subject's erasure: every message of `sender` (any form:
 * canonicalised as in step 1) that no case holds, and the sender's tallies.
 * Admin only.  TD_ENOTFOUND (field "sender") when the office has nothing
 * from them. */
int td_desk_erase_sender(struct td_desk *d, const struct td_actor *actor, const char *sender,
                         struct td_erase_stats *st, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
