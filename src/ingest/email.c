/*
 * email.c - one RFC 5322 message (GMime 3) -> td_message; .eml files,
 * mbox files and Maildir folders.  See email.h for what is kept and why.
 *
 * Memory: the parser runs over a seekable GMimeStream with persist-stream
 * on, so GMime keeps part *offsets*, not part bytes.  Text parts are read
 * through a filter chain (transfer decoding -> CRLF -> charset) up to
 * max_text; attachments are read through the transfer decoder into SHA-256
 * in 64 KiB steps.  Nothing scales with the size of an attachment.
 *
 * The walk over the MIME tree is ours (not g_mime_message_foreach) so that
 * depth and part count are bounded and alternative parts can be chosen.
 */
#include "ingest/email_int.h"

#include <errno.h>
#include <fcntl.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "threatdesk/buf.h"
#include "threatdesk/sender.h"

#define CHUNK (64 * 1024)
#define MAX_WARNING 1024

void td_email_opts_default(struct td_email_opts *o)
{
    o->max_depth = 8;
    o->max_parts = 256;
    o->max_text = 1u << 20;
    o->max_original = 16u << 20;
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static void gmime_start(void)
{
    g_mime_init();
    if (sodium_init() < 0) {
        /* crypto_hash_sha256 needs no init; nothing to do */
    }
}

/* ---- per-message walk state ------------------------------------------------ */

struct ectx {
    struct td_email_opts o;
    struct td_message *m;
    struct td_buf text; /* analysed text, capped at o.max_text */
    struct td_buf warn; /* warnings, '; '-separated */
    unsigned parts;
    int mbox; /* unescape ">From " lines */
    int depth_warned, parts_warned, text_warned;
    size_t acap; /* attachments allocated */
    int oom;
};

static void warn(struct ectx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct ectx *c, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (c->warn.len && strstr(c->warn.data, tmp))
        return; /* once is enough */
    if (c->warn.len)
        td_buf_append(&c->warn, "; ", 2);
    td_buf_append(&c->warn, tmp, strlen(tmp));
}

static void parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer ud)
{
    struct ectx *c = ud;
    if (!c)
        return;
    switch (code) {
    case GMIME_WARN_TRUNCATED_MESSAGE:
        warn(c, "message truncated (byte %lld)", (long long)offset);
        break;
    case GMIME_WARN_MALFORMED_MESSAGE:
        warn(c, "malformed message (byte %lld)", (long long)offset);
        break;
    case GMIME_WARN_MALFORMED_MULTIPART:
        warn(c, "multipart without parts (byte %lld)", (long long)offset);
        break;
    case GMIME_CRIT_NESTING_OVERFLOW:
        warn(c, "MIME nesting too deep (byte %lld)", (long long)offset);
        break;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        warn(c, "multipart without boundary (byte %lld)", (long long)offset);
        break;
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        warn(c, "empty MIME part (byte %lld)", (long long)offset);
        break;
    default:
        break; /* duplicated headers and the like change nothing we keep */
    }
}

/* ---- decoding ------------------------------------------------------------------ */

/* A read stream over a part's decoded bytes (transfer encoding undone). */
static GMimeStream *decoded_stream(GMimePart *part)
{
    GMimeDataWrapper *dw = g_mime_part_get_content(part);
    if (!dw)
        return NULL;
    GMimeStream *raw = g_mime_data_wrapper_get_stream(dw);
    if (!raw)
        return NULL;
    g_mime_stream_reset(raw);
    GMimeStream *fs = g_mime_stream_filter_new(raw);
    GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(dw);
    if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
        enc == GMIME_CONTENT_ENCODING_UUENCODE) {
        GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);
        g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
        g_object_unref(f);
    }
    return fs;
}

static int is_utf8_name(const char *cs)
{
    return !cs || !g_ascii_strcasecmp(cs, "utf-8") || !g_ascii_strcasecmp(cs, "utf8") ||
           !g_ascii_strcasecmp(cs, "us-ascii") || !g_ascii_strcasecmp(cs, "ascii");
}

/*
 * Decode a text part to UTF-8 into out (reset first; capped by out->max).
 * Returns TD_OK, or TD_ENOMEM.  An unknown charset or bytes that are not
 * UTF-8 after conversion are read as windows-1252 and noted.
 */
static int part_text(struct ectx *c, GMimePart *part, struct td_buf *out)
{
    td_buf_reset(out);
    GMimeStream *fs = decoded_stream(part);
    if (!fs)
        return td_buf_append(out, "", 0);
    GMimeFilter *crlf = g_mime_filter_dos2unix_new(FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), crlf);
    g_object_unref(crlf);
    const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
    int converted = 0;
    if (!is_utf8_name(cs)) {
        GMimeFilter *cf = g_mime_filter_charset_new(cs, "UTF-8");
        if (cf) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), cf);
            g_object_unref(cf);
            converted = 1;
        } else {
            warn(c, "unknown charset '%.40s'", cs);
        }
    }
    char tmp[8192];
    int truncated = 0, rc = TD_OK;
    for (;;) {
        ssize_t n = g_mime_stream_read(fs, tmp, sizeof tmp);
        if (n <= 0) {
            if (n < 0)
                warn(c, "part could not be read to the end");
            break;
        }
        rc = td_buf_append(out, tmp, (size_t)n);
        if (rc == TD_ETOOBIG) {
            size_t room = out->max - out->len;
            td_buf_append(out, tmp, room < (size_t)n ? room : (size_t)n);
            truncated = 1;
            rc = TD_OK;
            break;
        }
        if (rc)
            break;
    }
    g_object_unref(fs);
    if (rc)
        return rc;
    if (truncated && !c->text_warned) {
        warn(c, "text truncated at %zu bytes", out->max);
        c->text_warned = 1;
    }
    if (!out->data)
        return td_buf_append(out, "", 0);
    const gchar *end = NULL;
    if (g_utf8_validate(out->data, (gssize)out->len, &end))
        return TD_OK;
    /* A cut at the cap may split a character: drop the partial tail. */
    if (truncated && out->len - (size_t)(end - out->data) < 4) {
        out->len = (size_t)(end - out->data);
        out->data[out->len] = '\0';
        return TD_OK;
    }
    gsize wlen = 0;
    gchar *w = converted ? NULL
                         : g_convert(out->data, (gssize)out->len, "UTF-8", "WINDOWS-1252", NULL,
                                     &wlen, NULL);
    if (w) {
        if (cs)
            warn(c, "text declared %.40s is not; read as windows-1252", cs);
        else
            warn(c, "8-bit text without charset; read as windows-1252");
    } else {
        w = g_utf8_make_valid(out->data, (gssize)out->len);
        wlen = w ? strlen(w) : 0;
        warn(c, "invalid bytes in text replaced");
    }
    if (!w)
        return TD_ENOMEM;
    td_buf_reset(out);
    rc = td_buf_append(out, w, wlen < out->max ? wlen : out->max);
    g_free(w);
    return rc;
}

/* mboxrd/mboxo: ">From " (any number of '>') loses one '>' (in place). */
static size_t mbox_unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        int bol = i == 0 || s[i - 1] == '\n';
        if (bol && s[i] == '>') {
            size_t j = i;
            while (j < len && s[j] == '>')
                j++;
            if (len - j >= 5 && memcmp(s + j, "From ", 5) == 0) {
                i++; /* drop one '>' */
                continue;
            }
        }
        s[o++] = s[i++];
    }
    s[o] = '\0';
    return o;
}

static void append_text(struct ectx *c, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (c->text.len)
        td_buf_append(&c->text, "\n\n", 2);
    if (td_buf_append(&c->text, s, n) == TD_ETOOBIG) {
        size_t room = c->text.max - c->text.len;
        td_buf_append(&c->text, s, room);
        if (!c->text_warned) {
            warn(c, "text truncated at %zu bytes", c->text.max);
            c->text_warned = 1;
        }
    }
}

static void add_text_part(struct ectx *c, GMimePart *part, int html)
{
    struct td_buf b;
    td_buf_init(&b, c->o.max_text);
    if (part_text(c, part, &b)) {
        c->oom = 1;
        goto out;
    }
    if (html) {
        char *t = NULL;
        size_t tl = 0;
        if (td_email_html_to_text(b.data, b.len, c->o.max_text, &t, &tl, NULL) == TD_OK) {
            append_text(c, t, td_email_strip_quotes(t, tl));
            free(t);
        } else {
            c->oom = 1;
        }
        goto out;
    }
    size_t n = b.len;
    if (c->mbox)
        n = mbox_unescape(b.data, n);
    n = td_email_strip_quotes(b.data, n);
    append_text(c, b.data, n);
out:
    td_buf_release(&b);
}

static void add_attachment(struct ectx *c, GMimePart *part)
{
    if (c->m->nattachments == c->acap) {
        size_t ncap = c->acap ? c->acap * 2 : 4;
        struct td_attachment *a = realloc(c->m->attachments, ncap * sizeof *a);
        if (!a) {
            c->oom = 1;
            return;
        }
        c->m->attachments = a;
        c->acap = ncap;
    }
    struct td_attachment *a = &c->m->attachments[c->m->nattachments++];
    memset(a, 0, sizeof *a);
    const char *name = g_mime_part_get_filename(part);
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    if ((name && td_message_set(&a->name, name, (size_t)-1)) ||
        td_message_set(&a->type, type ? type : "application/octet-stream", (size_t)-1))
        c->oom = 1;
    g_free(type);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    GMimeStream *fs = decoded_stream(part);
    if (fs) {
        unsigned char *buf = malloc(CHUNK);
        if (!buf) {
            c->oom = 1;
        } else {
            for (;;) {
                ssize_t n = g_mime_stream_read(fs, (char *)buf, CHUNK);
                if (n <= 0) {
                    if (n < 0)
                        warn(c, "attachment could not be read to the end");
                    break;
                }
                crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
                a->size += (size_t)n;
            }
            free(buf);
        }
        g_object_unref(fs);
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(a->sha256, sizeof a->sha256, h, sizeof h);
}

static int is_type(GMimeObject *o, const char *type, const char *sub)
{
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    return ct && g_mime_content_type_is_type(ct, type, sub);
}

static int is_attachment(GMimeObject *o)
{
    const char *d = g_mime_object_get_disposition(o);
    return d && !g_ascii_strcasecmp(d, "attachment");
}

static void walk(struct ectx *c, GMimeObject *o, unsigned depth);

static void walk_message(struct ectx *c, GMimeMessage *msg, unsigned depth)
{
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    if (body)
        walk(c, body, depth + 1);
}

static void forwarded(struct ectx *c, GMimeMessage *inner, unsigned depth)
{
    /* The forwarded message's own header lines give the analyst context. */
    struct td_buf h;
    td_buf_init(&h, 4096);
    td_buf_append(&h, "---------- Forwarded message ----------", 39);
    InternetAddressList *from = g_mime_message_get_from(inner);
    char *f = from && internet_address_list_length(from) > 0
                  ? internet_address_list_to_string(from, NULL, FALSE)
                  : NULL;
    if (f)
        td_buf_printf(&h, "\nFrom: %s", f);
    g_free(f);
    const char *subj = g_mime_message_get_subject(inner);
    if (subj)
        td_buf_printf(&h, "\nSubject: %s", subj);
    if (h.data)
        append_text(c, h.data, h.len);
    td_buf_release(&h);
    walk_message(c, inner, depth);
}

static void walk(struct ectx *c, GMimeObject *o, unsigned depth)
{
    if (!o || c->oom)
        return;
    if (++c->parts > c->o.max_parts) {
        if (!c->parts_warned)
            warn(c, "more than %u MIME parts; the rest ignored", c->o.max_parts);
        c->parts_warned = 1;
        return;
    }
    if (depth > c->o.max_depth) {
        if (!c->depth_warned)
            warn(c, "MIME nesting deeper than %u; inner parts ignored", c->o.max_depth);
        c->depth_warned = 1;
        return;
    }
    if (GMIME_IS_MESSAGE_PART(o)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
        if (inner)
            forwarded(c, inner, depth);
        return;
    }
    if (GMIME_IS_MULTIPART(o)) {
        GMimeMultipart *mp = GMIME_MULTIPART(o);
        int n = g_mime_multipart_get_count(mp);
        if (is_type(o, "multipart", "alternative")) {
            GMimeObject *best = NULL;
            for (int i = 0; i < n && !best; i++) {
                GMimeObject *ch = g_mime_multipart_get_part(mp, i);
                if (is_type(ch, "text", "plain") && !is_attachment(ch))
                    best = ch;
            }
            for (int i = 0; i < n && !best; i++) {
                GMimeObject *ch = g_mime_multipart_get_part(mp, i);
                if (is_type(ch, "text", "html") && !is_attachment(ch))
                    best = ch;
            }
            if (!best && n > 0)
                best = g_mime_multipart_get_part(mp, n - 1);
            walk(c, best, depth + 1);
            return;
        }
        for (int i = 0; i < n; i++)
            walk(c, g_mime_multipart_get_part(mp, i), depth + 1);
        return;
    }
    if (GMIME_IS_PART(o)) {
        GMimePart *p = GMIME_PART(o);
        if (!is_attachment(o) && is_type(o, "text", "plain"))
            add_text_part(c, p, 0);
        else if (!is_attachment(o) && is_type(o, "text", "html"))
            add_text_part(c, p, 1);
        else
            add_attachment(c, p);
    }
}

/* ---- message -> td_message --------------------------------------------------------- */

static int fill(struct ectx *c, GMimeMessage *msg, const char *source, struct td_error *err)
{
    struct td_message *m = c->m;
    int rc = TD_OK;
    InternetAddressList *from = g_mime_message_get_from(msg);
    if (from && internet_address_list_length(from) > 0) {
        InternetAddress *a = internet_address_list_get_address(from, 0);
        const char *name = internet_address_get_name(a);
        if (name && *name && td_message_set(&m->sender_name, name, (size_t)-1))
            goto oom;
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
            if (addr && *addr && td_message_set(&m->sender_handle, addr, (size_t)-1))
                goto oom;
        }
    }
    InternetAddressList *to = g_mime_message_get_to(msg);
    if (to && internet_address_list_length(to) > 0) {
        char *t = internet_address_list_to_string(to, NULL, FALSE);
        rc = td_message_set(&m->to, t, (size_t)-1);
        g_free(t);
        if (rc)
            goto oom;
    }
    const char *subj = g_mime_message_get_subject(msg);
    if (subj && td_message_set(&m->subject, subj, (size_t)-1))
        goto oom;
    GDateTime *date = g_mime_message_get_date(msg);
    if (date)
        m->time = (int64_t)g_date_time_to_unix(date);
    const char *irt = g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To");
    if (irt) {
        char *id = g_mime_utils_decode_message_id(irt);
        rc = id ? td_message_set(&m->reply_to, id, (size_t)-1) : TD_OK;
        g_free(id);
        if (rc)
            goto oom;
    }
    const char *mid = g_mime_message_get_message_id(msg);
    if (mid && *mid && td_message_set(&m->message_id, mid, (size_t)-1))
        goto oom;
    if (td_message_set(&m->id, m->message_id ? m->message_id : source, (size_t)-1) ||
        td_message_set(&m->channel, "email", 5) ||
        (source && td_message_set(&m->source, source, (size_t)-1)))
        goto oom;

    walk_message(c, msg, 0);
    if (c->oom)
        goto oom;
    if (!c->text.data && td_buf_append(&c->text, "", 0))
        goto oom;
    m->text = td_buf_detach(&c->text, &m->text_len);
    if (td_sender_canonicalise(m))
        goto oom;
    if (c->warn.len && td_message_set(&m->warning, c->warn.data, c->warn.len))
        goto oom;
    return TD_OK;
oom:
    return td_error_set(err, TD_ENOMEM, "while reading %s", source ? source : "message");
}

static GMimeParserOptions *new_options(struct ectx *c)
{
    static const char *fallback[] = {"UTF-8", "WINDOWS-1252", NULL};
    GMimeParserOptions *po = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(po, fallback);
    g_mime_parser_options_set_warning_callback(po, parser_warning, c);
    return po;
}

static void ectx_init(struct ectx *c, const struct td_email_opts *opts, struct td_message *m)
{
    memset(c, 0, sizeof *c);
    if (opts)
        c->o = *opts;
    else
        td_email_opts_default(&c->o);
    struct td_email_opts d;
    td_email_opts_default(&d);
    if (!c->o.max_depth)
        c->o.max_depth = d.max_depth;
    if (!c->o.max_parts)
        c->o.max_parts = d.max_parts;
    if (!c->o.max_text)
        c->o.max_text = d.max_text;
    if (!c->o.max_original)
        c->o.max_original = d.max_original;
    c->m = m;
    td_buf_init(&c->text, c->o.max_text);
    td_buf_init(&c->warn, MAX_WARNING);
}

static void ectx_release(struct ectx *c)
{
    td_buf_release(&c->text);
    td_buf_release(&c->warn);
}

/* Keep the raw bytes [begin, end) of fd as m->original, exactly.  When
 * that cannot be done (larger than max_original, or the file ends early)
 * the original is withheld - m->original NULL, m->original_withheld set,
 * the reason in m->warning - never kept cut short: the text can still be
 * analysed, but the desk refuses to file a message without its original. */
static int keep_original(struct ectx *c, int fd, gint64 begin, gint64 end, struct td_error *err)
{
    if (end <= begin)
        return TD_OK;
    size_t n = (size_t)(end - begin);
    if (n > c->o.max_original) {
        warn(c, "original of %zu bytes is larger than the %zu-byte limit: withheld", n,
             c->o.max_original);
        c->m->original_withheld = 1;
        return TD_OK;
    }
    char *p = malloc(n + 1);
    if (!p)
        return td_error_set(err, TD_ENOMEM, NULL);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)begin + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    p[got] = '\0';
    if (got != n) {
        free(p);
        warn(c, "short read: %zu of the original's %zu bytes; original withheld", got, n);
        c->m->original_withheld = 1;
        return TD_OK;
    }
    c->m->original = p;
    c->m->original_len = got;
    return TD_OK;
}

/* Parse the single message on stream (fd is its descriptor, for pread). */
static int parse_stream(GMimeStream *stream, int fd, const char *source,
                        const struct td_email_opts *opts, struct td_message *m,
                        struct td_error *err)
{
    pthread_once(&gmime_once, gmime_start);
    td_message_release(m);
    struct ectx c;
    ectx_init(&c, opts, m);
    GMimeParserOptions *po = new_options(&c);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    g_mime_parser_set_persist_stream(parser, TRUE);
    int rc = TD_OK;
    GMimeMessage *msg = g_mime_parser_construct_message(parser, po);
    if (!msg) {
        td_error_at(err, source, 1, 0);
        rc = td_error_set(err, TD_EPARSE, "not an e-mail message (no header block)");
        goto out;
    }
    if (!g_mime_object_get_header_list(GMIME_OBJECT(msg)) ||
        g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0) {
        td_error_at(err, source, 1, 0);
        rc = td_error_set(err, TD_EPARSE, "not an e-mail message (no headers)");
        goto out;
    }
    if ((rc = keep_original(&c, fd, 0, g_mime_stream_length(stream), err)) != TD_OK)
        goto out;
    rc = fill(&c, msg, source, err);
out:
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_mime_parser_options_free(po);
    ectx_release(&c);
    return rc;
}

int td__email_parse_fd(int fd, const char *source, const struct td_email_opts *opts,
                       struct td_message *m, struct td_error *err)
{
    pthread_once(&gmime_once, gmime_start);
    GMimeStream *s = g_mime_stream_fs_new(fd); /* owns fd from here */
    int rc = parse_stream(s, fd, source, opts, m, err);
    g_object_unref(s);
    return rc;
}

int td_email_parse_file(const char *path, const struct td_email_opts *opts, struct td_message *m,
                        struct td_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* not TD_EIO: in a Maildir one unreadable file must not end the walk */
        int code = errno == ENOENT ? TD_ENOTFOUND : errno == EACCES ? TD_EDENIED : TD_EPARSE;
        td_error_at(err, path, 0, 0);
        return td_error_set(err, code, "cannot open: %s", strerror(errno));
    }
    return td__email_parse_fd(fd, path, opts, m, err);
}

int td_email_parse(const char *bytes, size_t len, const char *source,
                   const struct td_email_opts *opts, struct td_message *m, struct td_error *err)
{
    pthread_once(&gmime_once, gmime_start);
    td_message_release(m);
    struct ectx c;
    ectx_init(&c, opts, m);
    GMimeParserOptions *po = new_options(&c);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(bytes, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(s);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    int rc = TD_OK;
    GMimeMessage *msg = g_mime_parser_construct_message(parser, po);
    if (!msg ||
        g_mime_header_list_get_count(g_mime_object_get_header_list(GMIME_OBJECT(msg))) == 0) {
        td_error_at(err, source, 1, 0);
        rc = td_error_set(err, TD_EPARSE, "not an e-mail message (no headers)");
        goto out;
    }
    if (len > c.o.max_original) {
        warn(&c, "original of %zu bytes is larger than the %zu-byte limit: withheld", len,
             c.o.max_original);
        m->original_withheld = 1;
    } else {
        if (td_message_set(&m->original, bytes, len)) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            goto out;
        }
        m->original_len = len;
    }
    rc = fill(&c, msg, source, err);
out:
    if (msg)
        g_object_unref(msg);
    g_object_unref(parser);
    g_object_unref(s);
    g_mime_parser_options_free(po);
    ectx_release(&c);
    return rc;
}

/* ---- spooling a pipe -------------------------------------------------------------------- */

int td__email_spool(int fd, const void *prefix, size_t n, int *out_fd, struct td_error *err)
{
    FILE *tf = tmpfile();
    if (!tf)
        return td_error_set(err, TD_EIO, "cannot create a temporary file: %s", strerror(errno));
    int tfd = dup(fileno(tf));
    fclose(tf); /* the file is unlinked; tfd keeps it alive */
    if (tfd < 0)
        return td_error_set(err, TD_EIO, "dup: %s", strerror(errno));
    char *buf = malloc(CHUNK);
    int rc = TD_OK;
    if (!buf) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    if (n && write(tfd, prefix, n) != (ssize_t)n) {
        rc = td_error_set(err, TD_EIO, "spool write: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = td_error_set(err, TD_EIO, "read: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (write(tfd, buf, (size_t)r) != r) {
            rc = td_error_set(err, TD_EIO, "spool write: %s", strerror(errno));
            goto out;
        }
    }
    lseek(tfd, 0, SEEK_SET);
out:
    free(buf);
    if (rc) {
        close(tfd);
        return rc;
    }
    *out_fd = tfd;
    return TD_OK;
}

/* ---- mbox ---------------------------------------------------------------------------------- */

struct td_mbox {
    int fd;
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeParserOptions *po;
    struct ectx *cur; /* the warning callback's target, per message */
    struct td_email_opts o;
    char *display;
    size_t n;
    int done;
};

static void mbox_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer ud)
{
    struct td_mbox *mb = ud;
    parser_warning(offset, code, item, mb->cur);
}

int td__mbox_open_fd(int fd, const char *display, const struct td_email_opts *opts,
                     struct td_mbox **out, struct td_error *err)
{
    pthread_once(&gmime_once, gmime_start);
    struct td_mbox *mb = calloc(1, sizeof *mb);
    if (!mb || !(mb->display = strdup(display ? display : "-"))) {
        free(mb);
        close(fd);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    if (opts)
        mb->o = *opts;
    else
        td_email_opts_default(&mb->o);
    mb->fd = fd;
    mb->stream = g_mime_stream_fs_new(fd);
    mb->parser = g_mime_parser_new_with_stream(mb->stream);
    g_mime_parser_set_format(mb->parser, GMIME_FORMAT_MBOX);
    g_mime_parser_set_persist_stream(mb->parser, TRUE);
    static const char *fallback[] = {"UTF-8", "WINDOWS-1252", NULL};
    mb->po = g_mime_parser_options_new();
    g_mime_parser_options_set_fallback_charsets(mb->po, fallback);
    g_mime_parser_options_set_warning_callback(mb->po, mbox_warning, mb);
    *out = mb;
    return TD_OK;
}

int td_mbox_open(const char *path, const struct td_email_opts *opts, struct td_mbox **out,
                 struct td_error *err)
{
    int fd;
    if (!path || strcmp(path, "-") == 0) {
        int rc = td__email_spool(STDIN_FILENO, NULL, 0, &fd, err);
        if (rc)
            return rc;
        return td__mbox_open_fd(fd, "<stdin>", opts, out, err);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        td_error_at(err, path, 0, 0);
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open: %s",
                            strerror(errno));
    }
    return td__mbox_open_fd(fd, path, opts, out, err);
}

int td_mbox_next(struct td_mbox *mb, struct td_message *m, struct td_error *err)
{
    td_message_release(m);
    if (mb->done || g_mime_parser_eos(mb->parser))
        return TD_EOF;
    struct ectx c;
    ectx_init(&c, &mb->o, m);
    c.mbox = 1;
    mb->cur = &c;
    int rc = TD_OK;
    GMimeMessage *msg = g_mime_parser_construct_message(mb->parser, mb->po);
    gint64 marker = g_mime_parser_get_mbox_marker_offset(mb->parser);
    gint64 begin = g_mime_parser_get_headers_begin(mb->parser);
    gint64 end = g_mime_parser_tell(mb->parser);
    if (!msg) {
        /* A parser that found no message will not find one later. */
        mb->done = 1;
        if (mb->n > 0) {
            rc = TD_EOF;
            goto out;
        }
        td_error_at(err, mb->display, 1, 0);
        rc = td_error_set(err, TD_EPARSE, "no mbox \"From \" line starts a message");
        goto out;
    }
    mb->n++;
    char source[320];
    snprintf(source, sizeof source, "%s#offset=%lld", mb->display, (long long)marker);
    m->record = mb->n;
    if ((rc = keep_original(&c, mb->fd, begin, end, err)) != TD_OK)
        goto out;
    rc = fill(&c, msg, source, err);
    if (rc)
        td_error_at(err, mb->display, mb->n, (size_t)marker);
out:
    if (msg)
        g_object_unref(msg);
    mb->cur = NULL;
    ectx_release(&c);
    return rc;
}

void td_mbox_close(struct td_mbox *mb)
{
    if (!mb)
        return;
    if (mb->parser)
        g_object_unref(mb->parser);
    if (mb->stream)
        g_object_unref(mb->stream); /* closes fd */
    if (mb->po)
        g_mime_parser_options_free(mb->po);
    free(mb->display);
    free(mb);
}
