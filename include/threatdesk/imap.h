/*
 * imap.h - pull new mail from an IMAP mailbox with libcurl, each message
 * exactly once.
 *
 * One call, td_imap_fetch(), does a whole run:
 *   STATUS "<mailbox>" (UIDVALIDITY)   -> compare with the state file
 *   UID SEARCH UID <last+1>:*          -> the new UIDs, ascending
 *   UID SEARCH UID <last+1>:* UNSEEN   -> which of them nobody has read yet
 *   for each UID: UID FETCH <uid> BODY[] (curl's ;UID= URL form, which
 *     reads the literal by its length, so no message content can be
 *     mistaken for a protocol line), the message handed to the callback,
 *     the \Seen flag given back if fetching set it (the office still sees
 *     the mail as unread in its own client), then the state saved.
 *
 * The state file (JSON, written atomically: temp file + fsync + rename +
 * fsync of the directory, mode 0600, and locked with flock() for the whole
 * run so two fetches cannot interleave):
 *
 *   {"version": 1,
 *    "mailboxes": {
 *      "imap://user@host:143/INBOX": {
 *        "uidvalidity": 1764380000,
 *        "last_uid": 42,
 *        "seen": {"<32 hex: first 128 bits of SHA-256 of the message>": 42, ...}
 *      }}}
 *
 * last_uid advances after the callback accepts a message, and is saved at
 * once, so a crash re-fetches at most the message being handled.  When the
 * server's UIDVALIDITY changes, old UIDs mean nothing: the mailbox is read
 * again from UID 1 and every message whose digest is in `seen` is skipped,
 * so nothing is analysed twice.  `seen` keeps the newest
 * TD_IMAP_SEEN_MAX digests (oldest evicted first).
 *
 * The library never prints; credentials come from the caller (the CLI reads
 * a 0600 config file or the environment, never the command line), and a URL
 * carrying a user name or password is refused.
 */
#ifndef THREATDESK_IMAP_H
#define THREATDESK_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_IMAP_DEFAULT_MAX_MESSAGE ((size_t)32 << 20) /* 32 MiB */
#define TD_IMAP_SEEN_MAX 100000

struct td_imap_opts {
    const char *url;        /* imap://host[:port]/MAILBOX or imaps://...; the
                               mailbox defaults to INBOX */
    const char *user;       /* required */
    const char *password;   /* required */
    const char *state_path; /* the state file; required (created if absent) */
    const char *ca_file;    /* extra CA bundle for TLS, NULL: the system's */
    int require_tls;        /* imap://: refuse to log in without STARTTLS
                               (default 0: STARTTLS when offered) */
    size_t max_message;     /* bytes; 0: TD_IMAP_DEFAULT_MAX_MESSAGE; larger
                               messages are reported and skipped */
    size_t max_messages;    /* per run; 0: all that are new */
    long timeout;           /* seconds per network operation; 0: 60 */
};

/* One fetched message, valid only during the callback. */
struct td_imap_msg {
    const char *mailbox; /* the state key, "imap://user@host:port/MAILBOX" */
    uint32_t uidvalidity;
    uint32_t uid;
    const char *data; /* the raw RFC 5322 message */
    size_t len;
};

/*
 * Called for each new message in UID order.  Return TD_OK to accept it (its
 * UID is then saved as done); any other code stops the run, leaves the
 * message to be fetched again next time, and td_imap_fetch returns it.
 */
typedef int (*td_imap_message_fn)(void *ud, const struct td_imap_msg *msg, struct td_error *err);

/* Called when one message cannot be had (too large, vanished): the run goes
 * on and that UID is not tried again.  May be NULL. */
typedef void (*td_imap_skip_fn)(void *ud, uint32_t uid, const struct td_error *err);

struct td_imap_stats {
    size_t new_uids;      /* UIDs above last_uid the server listed */
    size_t fetched;       /* handed to the callback and accepted */
    size_t duplicates;    /* skipped because their digest was already seen */
    size_t skipped;       /* reported through the skip callback */
    uint32_t uidvalidity; /* the server's */
    uint32_t last_uid;    /* saved at the end of the run */
    int uidvalidity_changed;
};

/*
 * Fetch what is new since the last run.  stats may be NULL.  Returns TD_OK,
 * TD_EINVAL (bad URL/options), TD_EDENIED (login refused), TD_ENET
 * (connection, TLS or protocol failure; err says which), TD_EIO / TD_EPARSE
 * (state file), TD_EEXISTS (another fetch holds the state lock), or the
 * callback's code.
 */
int td_imap_fetch(const struct td_imap_opts *opts, td_imap_message_fn on_message,
                  td_imap_skip_fn on_skip, void *ud, struct td_imap_stats *stats,
                  struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
