/*
 * email.h - e-mail as it really arrives: one .eml, an mbox file, a Maildir.
 *
 * Parsing is GMime 3's; this module decides what of the MIME tree is the
 * text a person wrote and turns it into a td_message:
 *
 *   - multipart/alternative: text/plain is preferred, else text/html turned
 *     into readable text with libxml2's HTML parser (no script/style,
 *     entities decoded, block elements become line breaks);
 *   - multipart/mixed and others: every inline text part, in order;
 *   - message/rfc822 (forwarded mail): the forwarded message's From/Subject
 *     and text are appended, so a forwarded threat is analysed too;
 *   - transfer encodings (base64, quoted-printable) and charsets (any iconv
 *     knows: windows-1252, ISO-8859-x, KOI8-R, GB18030...) are decoded to
 *     UTF-8; an unknown charset gives best-effort text (UTF-8 if the bytes
 *     are, else windows-1252) and a warning in m->warning;
 *   - quoted replies ("> " lines, "On ... wrote:", Outlook's "-----Original
 *     Message-----") and signatures ("-- " line) are left out of m->text;
 *     m->original keeps the whole message byte for byte.
 *
 * Headers: From -> sender_name / sender_handle (the address) and the
 * canonical key in m->sender (sender.h); To; Date -> m->time (UTC epoch);
 * Subject; Message-ID (without <>); In-Reply-To -> m->reply_to.  Attachments are listed with name,
 * type, decoded size and SHA-256, hashed by streaming the decoded bytes, so a 1 GB attachment is
 * never held in memory.
 *
 * Everything is bounded (struct td_email_opts): MIME depth, number of parts,
 * decoded text, and the size of the original kept in memory.  The original
 * is kept exactly or not at all: one larger than max_original, or whose
 * bytes cannot all be read back, is withheld (m->original NULL,
 * m->original_withheld 1, the reason in m->warning) - never kept cut short.
 * Its text is still analysed; the desk refuses to file it (desk.h).  A
 * truncated or malformed message yields best-effort text and a warning,
 * never a crash.
 */
#ifndef THREATDESK_EMAIL_H
#define THREATDESK_EMAIL_H

#include <stddef.h>

#include "threatdesk/error.h"
#include "threatdesk/message.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_email_opts {
    unsigned max_depth;  /* MIME nesting walked (default 8) */
    unsigned max_parts;  /* MIME parts visited per message (default 256) */
    size_t max_text;     /* decoded text kept per message (default 1 MiB) */
    size_t max_original; /* raw bytes kept in m->original (default 16 MiB) */
};

/* Fill o with the defaults above. */
void td_email_opts_default(struct td_email_opts *o);

/*
 * Parse one RFC 5322 message held in memory into m (released first).
 * `source` (may be NULL) is copied to m->source and used as the id when the
 * message has no Message-ID.  Returns TD_OK (possibly with m->warning set),
 * or TD_EPARSE when the bytes are not a message at all.
 */
int td_email_parse(const char *bytes, size_t len, const char *source,
                   const struct td_email_opts *opts, struct td_message *m, struct td_error *err);

/* Parse one message file (.eml, a Maildir entry) by streaming it from disk. */
int td_email_parse_file(const char *path, const struct td_email_opts *opts, struct td_message *m,
                        struct td_error *err);

/*
 * mbox (mboxo / mboxrd): messages separated by "From " lines; ">From "
 * lines in bodies are unescaped once.  path "-" reads stdin, spooled to an
 * unlinked temporary file so that attachments can still be streamed.
 * m->source is "<path>#offset=<byte of the From line>".
 */
struct td_mbox;
/* *out is yours: td_mbox_close(). */
int td_mbox_open(const char *path, const struct td_email_opts *opts, struct td_mbox **out,
                 struct td_error *err);
/* TD_OK, TD_EOF, or a per-record error (call again to go on). */
int td_mbox_next(struct td_mbox *mb, struct td_message *m, struct td_error *err);
void td_mbox_close(struct td_mbox *mb);

/*
 * Maildir: the files of <dir>/new and <dir>/cur and of its Maildir++
 * folders (<dir>/.Name/new, cur), in file-name order (Maildir names start
 * with the delivery time, so this is arrival order).
 */
struct td_maildir;
/* *out is yours: td_maildir_close().  TD_ENOTFOUND when dir has neither
 * cur/ nor new/. */
int td_maildir_open(const char *dir, const struct td_email_opts *opts, struct td_maildir **out,
                    struct td_error *err);
int td_maildir_next(struct td_maildir *md, struct td_message *m, struct td_error *err);
void td_maildir_close(struct td_maildir *md);

/* ---- text helpers (also used by other readers) ------------------------- */

/*
 * Remove quoted replies and the signature from UTF-8 text, in place.
 * Returns the new length (the text is NUL-terminated at it).  When nothing
 * but quotes would remain, the text is left as it was.
 */
size_t td_email_strip_quotes(char *text, size_t len);

/*
 * HTML -> readable UTF-8 text with libxml2: script/style/head dropped,
 * entities decoded, block elements and <br> become newlines, reply quotes
 * (<blockquote>, Gmail's gmail_quote, Outlook's divRplyFwdMsg) dropped.
 * At most max bytes are produced.  *out is yours (free()).
 */
int td_email_html_to_text(const char *html, size_t len, size_t max, char **out, size_t *outlen,
                          struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
