/*
 * reader.c - the reader front: a buffered byte source, the table of format
 * readers, and format detection from content.
 *
 * Adding a format: write its td_reader_ops in its own file, declare it in
 * reader_int.h, add it to `readers` below, and teach td_format_detect()
 * its signature.
 */
#include "ingest/reader_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "threatdesk/social.h"

#define TD_SRC_CHUNK (64 * 1024)
#define TD_DEFAULT_MAX_RECORD (16u * 1024 * 1024)

/* ---- byte source --------------------------------------------------------- */

int td__src_open(struct td__src *s, const char *path, struct td_error *err)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (!path || strcmp(path, "-") == 0) {
        s->fd = STDIN_FILENO;
    } else {
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            td_error_at(err, path, 0, 0);
            return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open: %s",
                                strerror(errno));
        }
        s->own_fd = 1;
    }
    s->cap = TD_SRC_CHUNK;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        td__src_release(s);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    return TD_OK;
}

void td__src_release(struct td__src *s)
{
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

/* Read more bytes after end; compacts first. Returns bytes read. */
static size_t src_fill(struct td__src *s)
{
    if (s->eof || s->ioerr || s->fd < 0)
        return 0;
    if (s->pos > 0) {
        memmove(s->buf, s->buf + s->pos, s->end - s->pos);
        s->end -= s->pos;
        s->pos = 0;
    }
    if (s->end == s->cap)
        return 0;
    for (;;) {
        ssize_t n = read(s->fd, s->buf + s->end, s->cap - s->end);
        if (n > 0) {
            s->end += (size_t)n;
            return (size_t)n;
        }
        if (n == 0) {
            s->eof = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        s->ioerr = errno;
        return 0;
    }
}

size_t td__src_peek(struct td__src *s, size_t n)
{
    if (n > s->cap)
        n = s->cap;
    while (s->end - s->pos < n && src_fill(s) > 0)
        ;
    return s->end - s->pos;
}

int td__src_getline(struct td__src *s, struct td_buf *line, size_t *nbytes)
{
    td_buf_reset(line);
    size_t total = 0;
    int toobig = 0;
    for (;;) {
        if (s->pos == s->end && src_fill(s) == 0) {
            if (s->ioerr)
                return TD_EIO;
            if (total == 0)
                return TD_EOF;
            break; /* last line without a newline */
        }
        unsigned char *start = s->buf + s->pos;
        unsigned char *nl = memchr(start, '\n', s->end - s->pos);
        size_t take = nl ? (size_t)(nl - start) : s->end - s->pos;
        if (!toobig && td_buf_append(line, start, take) == TD_ETOOBIG)
            toobig = 1;
        total += take;
        s->pos += take;
        s->offset += take;
        if (nl) {
            s->pos++;
            s->offset++;
            total++;
            break;
        }
    }
    if (nbytes)
        *nbytes = total;
    if (toobig) {
        td_buf_reset(line);
        return TD_ETOOBIG;
    }
    if (line->len && line->data[line->len - 1] == '\r')
        line->data[--line->len] = '\0';
    if (!line->data)
        td_buf_append(line, "", 0);
    return TD_OK;
}

int td__src_slurp(struct td__src *s, struct td_buf *out)
{
    for (;;) {
        if (s->pos == s->end && src_fill(s) == 0)
            break;
        int rc = td_buf_append(out, s->buf + s->pos, s->end - s->pos);
        s->offset += s->end - s->pos;
        s->pos = s->end;
        if (rc)
            return rc;
    }
    if (!out->data)
        td_buf_append(out, "", 0);
    return s->ioerr ? TD_EIO : TD_OK;
}

/* ---- the table ------------------------------------------------------------ */

static const struct td_reader_ops *const readers[] = {
    &td__reader_text,    &td__reader_lines,   &td__reader_jsonl,   &td__reader_csv,
    &td__reader_image,   &td__reader_pdf,     &td__reader_eml,     &td__reader_mbox,
    &td__reader_maildir, &td__reader_twitter, &td__reader_bluesky, &td__reader_facebook,
};

static const char *const format_names[TD_FORMAT_COUNT] = {
    [TD_FORMAT_AUTO] = "auto",         [TD_FORMAT_TEXT] = "text",
    [TD_FORMAT_LINES] = "lines",       [TD_FORMAT_JSONL] = "jsonl",
    [TD_FORMAT_CSV] = "csv",           [TD_FORMAT_EML] = "eml",
    [TD_FORMAT_MBOX] = "mbox",         [TD_FORMAT_MAILDIR] = "maildir",
    [TD_FORMAT_TWITTER] = "twitter",   [TD_FORMAT_BLUESKY] = "bluesky",
    [TD_FORMAT_FACEBOOK] = "facebook", [TD_FORMAT_IMAGE] = "image",
    [TD_FORMAT_PDF] = "pdf",
};

const char *td_format_name(enum td_format f)
{
    return (unsigned)f < TD_FORMAT_COUNT ? format_names[f] : "unknown";
}

int td_format_from_name(const char *name)
{
    for (int i = 0; name && i < TD_FORMAT_COUNT; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    if (name && (!strcmp(name, "ndjson") || !strcmp(name, "json")))
        return TD_FORMAT_JSONL;
    return -1;
}

static const struct td_reader_ops *find_ops(enum td_format f)
{
    for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
        if (readers[i]->format == f)
            return readers[i];
    return NULL;
}

/* ---- detection -------------------------------------------------------------- */

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcasecmp(name + n - k, suffix) == 0;
}

static int starts(const unsigned char *h, size_t n, const char *magic, size_t k)
{
    return n >= k && memcmp(h, magic, k) == 0;
}

/* Does the head look like RFC 5322 header lines ("Name: value")? */
static int looks_like_headers(const unsigned char *h, size_t n)
{
    static const char *const names[] = {
        "received:", "from:",         "return-path:", "message-id:",   "date:",
        "subject:",  "mime-version:", "to:",          "delivered-to:", "x-"};
    int hits = 0;
    size_t i = 0;
    for (int lines = 0; i < n && lines < 8; lines++) {
        size_t j = i;
        while (j < n && h[j] != '\n')
            j++;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            size_t l = strlen(names[k]);
            if (j - i >= l && strncasecmp((const char *)h + i, names[k], l) == 0) {
                hits++;
                break;
            }
        }
        i = j + 1;
    }
    return hits >= 2;
}

enum td_format td_format_detect(const char *name, const unsigned char *h, size_t n)
{
    /* Content first: magic numbers are unambiguous. */
    if (starts(h, n, "\x89PNG\r\n\x1a\n", 8) || starts(h, n, "\xff\xd8\xff", 3) ||
        starts(h, n, "II*\0", 4) || starts(h, n, "MM\0*", 4))
        return TD_FORMAT_IMAGE;
    if (starts(h, n, "%PDF-", 5))
        return TD_FORMAT_PDF;
    if (starts(h, n, "From ", 5))
        return TD_FORMAT_MBOX;
    if (looks_like_headers(h, n))
        return TD_FORMAT_EML;
    /* Platform JSON before generic JSON Lines (social.c knows the shapes). */
    enum td_format social = td_social_detect(h, n);
    if (social != TD_FORMAT_AUTO)
        return social;
    size_t i = 0;
    if (starts(h, n, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n'))
        i++;
    if (i < n && h[i] == '{')
        return TD_FORMAT_JSONL;
    /* Then the name. */
    if (name) {
        if (has_suffix(name, ".jsonl") || has_suffix(name, ".ndjson"))
            return TD_FORMAT_JSONL;
        if (has_suffix(name, ".csv"))
            return TD_FORMAT_CSV;
        if (has_suffix(name, ".eml"))
            return TD_FORMAT_EML;
        if (has_suffix(name, ".mbox"))
            return TD_FORMAT_MBOX;
        /* Named as a scan but without any image signature: let the OCR
         * reader refuse it clearly ("not an image") rather than analyse
         * whatever it is as text. */
        if (has_suffix(name, ".png") || has_suffix(name, ".jpg") || has_suffix(name, ".jpeg") ||
            has_suffix(name, ".tif") || has_suffix(name, ".tiff"))
            return TD_FORMAT_IMAGE;
        if (has_suffix(name, ".pdf"))
            return TD_FORMAT_PDF;
    }
    return TD_FORMAT_TEXT;
}

/* ---- open / next / close ------------------------------------------------------- */

void td__reader_locate(struct td_reader *r, struct td_error *err, size_t line, size_t byte)
{
    td_error_at(err, r->display, line, byte);
}

int td_reader_open(const char *path, const struct td_reader_opts *opts, struct td_reader **out,
                   struct td_error *err)
{
    int rc = TD_OK;
    struct td_reader *r = calloc(1, sizeof *r);
    if (!r)
        return td_error_set(err, TD_ENOMEM, NULL);
    r->src.fd = -1;
    if (opts)
        r->opts = *opts;
    if (!r->opts.max_record)
        r->opts.max_record = TD_DEFAULT_MAX_RECORD;
    if (!r->opts.text_field)
        r->opts.text_field = "text";
    if (!r->opts.id_field)
        r->opts.id_field = "id";
    if (!r->opts.text_column)
        r->opts.text_column = "text";
    if (!r->opts.id_column)
        r->opts.id_column = "id";
    r->path = strdup(path ? path : "-");
    if (!r->path) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto fail;
    }
    r->display = strcmp(r->path, "-") == 0 ? "<stdin>" : r->path;

    enum td_format f = r->opts.format;
    struct stat st;
    int is_dir = strcmp(r->path, "-") != 0 && stat(r->path, &st) == 0 && S_ISDIR(st.st_mode);
    if (f == TD_FORMAT_AUTO && is_dir)
        f = TD_FORMAT_MAILDIR;
    if (f != TD_FORMAT_MAILDIR) {
        if ((rc = td__src_open(&r->src, r->path, err)) != TD_OK)
            goto fail;
        if (f == TD_FORMAT_AUTO) {
            size_t n = td__src_peek(&r->src, 4096);
            f = td_format_detect(r->path, r->src.buf + r->src.pos, n);
        }
    }
    r->ops = find_ops(f);
    if (!r->ops) {
        td_error_at(err, r->display, 0, 0);
        rc = td_error_set(err, TD_EFORMAT, "format '%s' is not supported by this build",
                          td_format_name(f));
        goto fail;
    }
    if (r->ops->open && (rc = r->ops->open(r, err)) != TD_OK)
        goto fail;
    *out = r;
    return TD_OK;
fail:
    td__src_release(&r->src);
    free(r->path);
    free(r);
    return rc;
}

int td_reader_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    if (r->failed)
        return TD_EOF;
    td_message_release(m);
    int rc = r->ops->next(r, m, err);
    if (rc == TD_OK) {
        r->record++;
        if (!m->record)
            m->record = r->record;
    } else if (rc == TD_EIO) {
        r->failed = 1;
    }
    return rc;
}

int td_reader_failed(const struct td_reader *r)
{
    return r->failed;
}

enum td_format td_reader_format(const struct td_reader *r)
{
    return r->ops->format;
}

void td_reader_close(struct td_reader *r)
{
    if (!r)
        return;
    if (r->ops && r->ops->close)
        r->ops->close(r);
    td__src_release(&r->src);
    free(r->path);
    free(r);
}
