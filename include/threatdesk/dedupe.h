/*
 * dedupe.h - the same message arriving twice is recognised, not counted
 * twice.
 *
 * Two messages are the same when
 *   1. they carry the same Message-ID / platform post id on the same channel
 *      (a mail delivered to two folders, a tweet in two API pages), or
 *   2. the same sender sent the same normalised text: NFKC, case-folded,
 *      white space collapsed, hashed with XXH3-128 together with the
 *      canonical sender key.  Messages with no known sender are never
 *      matched on content: two unknown people writing the same words (a
 *      campaign template) are two messages, not one.
 * The first one seen is the original; later ones are duplicates of its id.
 */
#ifndef THREATDESK_DEDUPE_H
#define THREATDESK_DEDUPE_H

#include <stddef.h>

#include "threatdesk/message.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_dedupe;

/* At most max_entries messages are remembered (0: 1,000,000); after that
 * new messages are no longer recorded (so memory stays bounded), only
 * checked.  *out is yours: td_dedupe_free().  TD_OK or TD_ENOMEM. */
int td_dedupe_new(size_t max_entries, struct td_dedupe **out);
void td_dedupe_free(struct td_dedupe *d);

/*
 * 1 when m duplicates an earlier message: *dup_of then points at that
 * message's id (owned by d, valid until td_dedupe_free).  0 when it is new
 * (and is now remembered).  TD_ENOMEM (< 0) on allocation failure.
 */
int td_dedupe_check(struct td_dedupe *d, const struct td_message *m, const char **dup_of);

/* The content key of rule 2 as 32 lower-case hex digits + NUL.  TD_EINVAL
 * when sender is NULL. */
int td_dedupe_content_key(const char *sender, const char *text, size_t len, char out[33]);

#ifdef __cplusplus
}
#endif
#endif
