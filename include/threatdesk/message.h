/*
 * message.h - one received message, whatever door it came through.
 *
 * Readers (reader.h) turn bytes into td_message; the analyser reads
 * `text`; the desk files the whole struct.  Every string is owned by the
 * message (heap, NUL-terminated, NULL when unknown) and freed by
 * td_message_release(), so a reader can hand a message over without the
 * caller knowing how it was built.
 */
#ifndef THREATDESK_MESSAGE_H
#define THREATDESK_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct td_attachment {
    char *name;      /* file name as sent, or NULL */
    char *type;      /* MIME type, e.g. "application/pdf" */
    size_t size;     /* decoded size in bytes */
    char sha256[65]; /* lower-case hex of the decoded bytes */
};

struct td_message {
    char *id;   /* record id from the input, or generated "<source>#<n>" */
    char *text; /* the text to analyse (quotes/signatures stripped) */
    size_t text_len;
    char *channel;       /* "email", "post", "twitter", "bluesky", "facebook",
                            "instagram", "text", "jsonl", "csv", "letter", ... */
    char *sender;        /* canonical sender key ("email:a@b.org", "twitter:@x") */
    char *sender_name;   /* display name as given */
    char *sender_handle; /* handle / address as given */
    char *sender_id;     /* platform user id */
    int64_t time;        /* seconds since the epoch, UTC; INT64_MIN when unknown */
    char *to;
    char *subject;
    char *message_id; /* RFC 5322 Message-ID or platform post id */
    char *url;
    char *reply_to;    /* id/url of the message this replies to */
    char *quoted_text; /* text of a quoted post, kept apart from `text` */
    char *source;      /* where the original is: "file.mbox#offset=1234" */
    char *original;    /* the original bytes (raw email, JSON record) */
    size_t original_len;
    int original_withheld; /* 1: there WAS an original but it could not be
                              kept whole (too large, short read): original
                              is NULL and warning says why.  The desk
                              refuses such a message rather than keep less
                              than what arrived. */
    struct td_attachment *attachments;
    size_t nattachments;
    double ocr_confidence; /* 0..100 mean word confidence; < 0 when not OCR */
    size_t record;         /* 1-based record number within its source */
    size_t line;           /* 1-based line in the source file, 0 if n/a */
    char *warning;         /* best-effort decoding notes ("unknown charset
                              x-foo; read as windows-1252"), or NULL */
};

void td_message_init(struct td_message *m);
/* Free everything and re-initialise (so the struct can be reused). */
void td_message_release(struct td_message *m);

/* Set a string field to a copy of s[0..n) (n == (size_t)-1: strlen).  The
 * old value is freed.  Returns TD_OK or TD_ENOMEM. */
int td_message_set(char **field, const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
