/*
 * sender.h - who sent it: canonical sender keys, a conservative cross-channel
 * linker, and per-sender tallies for `threatdesk scan --by-sender`.
 *
 * Keys (td_sender_key_*) are what two messages from the same account share:
 *   email:<local>@<domain>  lower-cased; "+tag" removed from the local part;
 *                           for gmail.com / googlemail.com dots removed too
 *                           and the domain made gmail.com (Gmail ignores them)
 *   twitter:@<handle>       handle without '@', case-folded (X handles are
 *   bluesky:@<handle>       case-insensitive; Bluesky handles are DNS names)
 *   facebook:<name>         Facebook exports give only a display name
 *   instagram:@<handle>
 *   name:<normalised name>  no address or handle, but a display name
 *   <platform>:id:<user id> only a platform user id (a Bluesky DID)
 *
 * Linking (td_senders_link) joins keys that are the same person only on
 * two independent pieces of evidence, never on a display name alone:
 *   1. the same key (trivially);
 *   2. an e-mail address and a social handle whose "stems" are equal (the
 *      local part / handle with everything but letters and digits removed,
 *      at least 5 characters: john.smith@x.org ~ @JohnSmith) AND the same
 *      normalised display name on both;
 *   3. two social handles on different platforms with equal stems (at least
 *      5 characters) AND the same normalised display name.
 * A shared name with different handles ("John Smith" is common) or a shared
 * stem with different names is not linked; neither is anything when one
 * platform has two accounts with the same stem and name (ambiguous).
 */
#ifndef THREATDESK_SENDER_H
#define THREATDESK_SENDER_H

#include <stddef.h>

#include "threatdesk/error.h"
#include "threatdesk/message.h"
#include "threatdesk/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keys are written to out (size bytes, NUL-terminated).  TD_EINVAL when the
 * input is not an address / handle, TD_ETOOBIG when out is too small. */
int td_sender_key_email(const char *addr, char *out, size_t size);
int td_sender_key_handle(const char *platform, const char *handle, char *out, size_t size);
/* Display name: NFKC case-folded, accents and punctuation dropped, words
 * sorted so the order does not matter ("  \"SMITH, John\" " -> "john smith"). */
int td_sender_name_normalise(const char *name, char *out, size_t size);

/*
 * Fill m->sender (freed first) from what the message knows: the address for
 * email, the handle for social channels, else the display name.  Leaves it
 * NULL when nothing is known.  TD_OK or TD_ENOMEM.
 */
int td_sender_canonicalise(struct td_message *m);

/*
 * The canonical key of whoever sent m, whatever door it came through: when
 * m->sender is set it may be a key ("email:Bob+x@Example.org" is
 * re-canonicalised to "email:bob@example.org"), a raw address or handle
 * (read with m->channel, as td_sender_canonicalise reads sender_handle), or
 * a display name; otherwise the handle / name / platform id decide.  The
 * desk files every message under this key, so `scan` and the desk count a
 * person the same way.  TD_EINVAL when nothing identifies the sender,
 * TD_ETOOBIG when out is too small, TD_ENOMEM.
 */
int td_sender_key_of(const struct td_message *m, char *out, size_t size);

/* ---- per-sender tallies ------------------------------------------------- */

struct td_senders;

struct td_sender_stat {
    const char *key;     /* canonical key of the representative (owned by the table) */
    const char *name;    /* a display name seen, or NULL (owned by the table) */
    const char *aliases; /* the other keys linked to it, space-separated, or NULL */
    size_t count;        /* messages, all linked keys together */
    size_t threats;      /* messages labelled threat */
    enum td_severity worst;
};

/* *out is yours: td_senders_free().  At most max_senders distinct keys are
 * tracked (0: 1,000,000); later new keys are counted under "other". */
int td_senders_new(size_t max_senders, struct td_senders **out);
void td_senders_free(struct td_senders *s);
/* Count one message with its verdict's severity; threat != 0 when it was
 * labelled threat.  Uses m->sender (canonicalising a copy when NULL);
 * messages with no sender at all are counted under "(unknown)". */
int td_senders_add(struct td_senders *s, const struct td_message *m, enum td_severity sev,
                   int threat);
/* Messages labelled threat counted so far under exactly this key (before
 * linking); 0 for a key never seen.  For "a threat from a sender with
 * earlier threats is critical" (td_verdict_apply_history). */
size_t td_senders_threats(const struct td_senders *s, const char *key);
/* Apply the linking rules above (call once, after the last add). */
void td_senders_link(struct td_senders *s);
/*
 * The tallies, one per linked person, worst severity first, then count.
 * *out is an array of *n stats, yours to free() (the strings stay owned by
 * the table and live until td_senders_free).
 */
int td_senders_list(struct td_senders *s, struct td_sender_stat **out, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
