/*
 * feedback_int.h - the desk's side of learning from the office (not
 * installed): recording decisions with the status calls, applying an
 * office's memory at ingest, the per-office cache.
 *
 * All of these run under the desk lock, inside the caller's transaction.
 */
#ifndef TD_DESK_FEEDBACK_INT_H
#define TD_DESK_FEEDBACK_INT_H

#include <stdint.h>

#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"
#include "threatdesk/error.h"

struct td_desk;
struct td__fb_office; /* one office's cached memory (feedback.c) */

/* Free every cached memory (td_desk_close). */
void td__feedback_cache_free(struct td_desk *d);

/*
 * Ingest: adjust v by the live decisions of the office drawn by the same
 * model as v's vector (loaded on first use, reloaded when the office's
 * rows changed), and note in *applied whether it moved.  A verdict
 * without a vector, or a desk without an analyser (no thresholds), is
 * left alone.
 */
int td__feedback_apply(struct td_desk *d, int64_t office_id, struct td_verdict *v, int *applied,
                       struct td_error *err);

/* Ingest: keep the vector the analyser drew for the new message. */
int td__feedback_keep_vector(struct td_desk *d, int64_t office_id, int64_t message_id,
                             const struct td_verdict *v, struct td_error *err);

/*
 * A status change: revoke the decisions already recorded about the
 * message, then record the new one (reviewed/escalated: confirmed with the
 * message's predicted labels - an escalation adds the threat label; dismissed: dismissed;
 * unreviewed: nothing new).  Each act is audited.  *note (static) says why nothing was learnt, or
 * NULL.
 */
int td__feedback_on_status(struct td_desk *d, const struct td_actor *actor, int64_t message_id,
                           enum td_msg_status status, const char **note, struct td_error *err);

#endif
