/*
 * records.c - the record formats of `threatdesk scan`: a whole file as one
 * message, one message per line, JSON Lines and CSV.
 *
 * All four read through the bounded line reader of reader.c, so memory is
 * bounded by the record cap (opts.max_record), never by the file.  A bad
 * record is reported (file, line, byte, field) and skipped; the records
 * around it are kept.
 */
#include "ingest/reader_int.h"

#include <csv.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "<file>:<line>" - the id of a record that has none of its own. */
static int default_id(struct td_reader *r, struct td_message *m, size_t line)
{
    char id[320];
    snprintf(id, sizeof id, "%s:%zu", r->display, line);
    return td_message_set(&m->id, id, (size_t)-1);
}

static int set_source(struct td_reader *r, struct td_message *m, size_t line)
{
    char src[320];
    snprintf(src, sizeof src, "%s#line=%zu", r->display, line);
    return td_message_set(&m->source, src, (size_t)-1);
}

/* ---- text: the whole file is one message ---------------------------------- */

static int text_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    if (r->state) /* already returned the one record */
        return TD_EOF;
    r->state = r; /* any non-NULL marker */
    struct td_buf b;
    td_buf_init(&b, r->opts.max_record);
    int rc = td__src_slurp(&r->src, &b);
    if (rc) {
        td__reader_locate(r, err, 1, r->src.offset);
        td_buf_release(&b);
        if (rc == TD_ETOOBIG)
            return td_error_set(err, rc, "message larger than %zu bytes", r->opts.max_record);
        return td_error_set(err, rc, "read failed");
    }
    size_t len;
    m->text = td_buf_detach(&b, &len);
    m->text_len = len;
    if (td_message_set(&m->id, r->display, (size_t)-1) ||
        td_message_set(&m->channel, "text", (size_t)-1) ||
        td_message_set(&m->source, r->display, (size_t)-1))
        return td_error_set(err, TD_ENOMEM, NULL);
    m->line = 1;
    return TD_OK;
}

const struct td_reader_ops td__reader_text = {
    TD_FORMAT_TEXT, "text", 1, NULL, text_next, NULL,
};

/* ---- lines: one message per non-empty line -------------------------------- */

/* The line buffer lives in r->state for the lines and JSONL readers. */
static int linebuf_open(struct td_reader *r, struct td_error *err)
{
    struct td_buf *b = malloc(sizeof *b);
    if (!b)
        return td_error_set(err, TD_ENOMEM, NULL);
    td_buf_init(b, r->opts.max_record);
    r->state = b;
    return TD_OK;
}

static void linebuf_close(struct td_reader *r)
{
    struct td_buf *b = r->state;
    if (b) {
        td_buf_release(b);
        free(b);
    }
    r->state = NULL;
}

/* Next non-blank line into the buffer; TD_ETOOBIG and TD_EIO located. */
static int next_line(struct td_reader *r, struct td_buf *b, size_t *lineno, size_t *offset,
                     struct td_error *err)
{
    for (;;) {
        *offset = r->src.offset;
        int rc = td__src_getline(&r->src, b, NULL);
        if (rc == TD_EOF)
            return rc;
        r->line++;
        *lineno = r->line;
        if (rc == TD_ETOOBIG) {
            td__reader_locate(r, err, r->line, *offset);
            return td_error_set(err, rc, "line longer than %zu bytes; skipped", r->opts.max_record);
        }
        if (rc) {
            td__reader_locate(r, err, r->line, *offset);
            return td_error_set(err, rc, "read failed");
        }
        size_t i = 0;
        while (i < b->len && (b->data[i] == ' ' || b->data[i] == '\t'))
            i++;
        if (i < b->len)
            return TD_OK;
    }
}

static int lines_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    struct td_buf *b = r->state;
    size_t line, off;
    int rc = next_line(r, b, &line, &off, err);
    if (rc)
        return rc;
    m->line = line;
    m->text_len = b->len;
    m->text = td_buf_detach(b, NULL);
    if (default_id(r, m, line) || set_source(r, m, line) ||
        td_message_set(&m->channel, "text", (size_t)-1))
        return td_error_set(err, TD_ENOMEM, NULL);
    return TD_OK;
}

const struct td_reader_ops td__reader_lines = {
    TD_FORMAT_LINES, "lines", 1, linebuf_open, lines_next, linebuf_close,
};

/* ---- JSON Lines -------------------------------------------------------------- */

/* Follow a dotted path ("data.text") through nested objects. */
static json_t *json_path(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    char key[128];
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
        p = dot ? dot + 1 : p + n;
    }
    return cur;
}

/* Optional string fields copied when present. */
static int copy_opt(json_t *root, const char *name, char **field)
{
    json_t *v = json_object_get(root, name);
    if (json_is_string(v))
        return td_message_set(field, json_string_value(v), json_string_length(v));
    return TD_OK;
}

static int jsonl_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    struct td_buf *b = r->state;
    size_t line, off;
    int rc = next_line(r, b, &line, &off, err);
    if (rc)
        return rc;
    m->line = line;
    json_error_t jerr;
    json_t *root = json_loadb(b->data, b->len, 0, &jerr);
    if (!root) {
        td__reader_locate(r, err, line, off + (size_t)jerr.position);
        return td_error_set(err, TD_EPARSE, "invalid JSON at column %d: %s", jerr.column,
                            jerr.text);
    }
    rc = TD_OK;
    if (!json_is_object(root)) {
        td__reader_locate(r, err, line, off);
        rc = td_error_set(err, TD_EPARSE, "expected a JSON object per line");
        goto out;
    }
    json_t *id = json_path(root, r->opts.id_field);
    if (json_is_string(id)) {
        rc = td_message_set(&m->id, json_string_value(id), json_string_length(id));
    } else if (json_is_integer(id)) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        rc = td_message_set(&m->id, tmp, (size_t)-1);
    } else {
        rc = default_id(r, m, line);
    }
    if (rc)
        goto oom;
    json_t *text = json_path(root, r->opts.text_field);
    if (!text || !json_is_string(text)) {
        td__reader_locate(r, err, line, off);
        td_error_field(err, r->opts.text_field);
        rc = td_error_set(err, TD_EPARSE, text ? "not a string" : "missing");
        goto out;
    }
    if (td_message_set(&m->text, json_string_value(text), json_string_length(text)))
        goto oom;
    m->text_len = json_string_length(text);
    if (copy_opt(root, "channel", &m->channel) || copy_opt(root, "sender", &m->sender) ||
        copy_opt(root, "author", &m->sender_handle) || set_source(r, m, line) ||
        td_message_set(&m->original, b->data, b->len))
        goto oom;
    m->original_len = b->len;
    if (!m->channel && td_message_set(&m->channel, "jsonl", (size_t)-1))
        goto oom;
    goto out;
oom:
    rc = td_error_set(err, TD_ENOMEM, NULL);
out:
    json_decref(root);
    return rc;
}

const struct td_reader_ops td__reader_jsonl = {
    TD_FORMAT_JSONL, "jsonl", 1, linebuf_open, jsonl_next, linebuf_close,
};

/* ---- CSV (libcsv) ------------------------------------------------------------ */
/*
 * libcsv is fed one physical line at a time (with its newline), so every
 * record knows the line it started on, and a quoted field may span lines.
 * Completed records queue up in `pending` (a CR-terminated file can finish
 * several per line); next() pops them.  A parse error (strict mode) or an
 * oversized record reports an error for that record, resets the parser and
 * resumes at the next line.
 */

#define CSV_MAX_FIELDS 4096

struct csv_item {
    int rc;
    struct td_error err;
    struct td_message m;
};

struct csv_state {
    struct csv_parser p;
    struct td_buf line;
    struct td_buf raw; /* raw bytes of the record being parsed */
    char **fields;     /* current row */
    size_t nfields;
    int too_many;
    char **header;
    size_t nheader;
    long text_col, id_col;
    size_t rec_line; /* line the current record began on */
    size_t rec_off;
    struct csv_item *pending;
    size_t npending, head, cappending;
    struct td_reader *r;
    int oom;
};

static void csv_row_clear(struct csv_state *s)
{
    for (size_t i = 0; i < s->nfields; i++)
        free(s->fields[i]);
    s->nfields = 0;
    s->too_many = 0;
}

static void csv_field_cb(void *data, size_t len, void *ud)
{
    struct csv_state *s = ud;
    if (s->nfields >= CSV_MAX_FIELDS) {
        s->too_many = 1;
        return;
    }
    char *f = malloc(len + 1);
    if (!f) {
        s->oom = 1;
        return;
    }
    if (len)
        memcpy(f, data, len);
    f[len] = '\0';
    s->fields[s->nfields++] = f;
}

static struct csv_item *csv_push(struct csv_state *s)
{
    if (s->head > 0 && s->head == s->npending)
        s->head = s->npending = 0;
    if (s->npending == s->cappending) {
        size_t ncap = s->cappending ? s->cappending * 2 : 8;
        struct csv_item *p = realloc(s->pending, ncap * sizeof *p);
        if (!p) {
            s->oom = 1;
            return NULL;
        }
        s->pending = p;
        s->cappending = ncap;
    }
    struct csv_item *it = &s->pending[s->npending++];
    it->rc = TD_OK;
    td_error_clear(&it->err);
    td_message_init(&it->m);
    return it;
}

static void csv_error_item(struct csv_state *s, int code, const char *field, const char *msg)
{
    struct csv_item *it = csv_push(s);
    if (!it)
        return;
    it->rc = code;
    td__reader_locate(s->r, &it->err, s->rec_line, s->rec_off);
    td_error_field(&it->err, field);
    td_error_set(&it->err, code, "%s", msg);
}

static void csv_row_cb(int term, void *ud)
{
    struct csv_state *s = ud;
    (void)term;
    struct td_reader *r = s->r;
    if (!s->header) {
        s->header = s->fields;
        s->nheader = s->nfields;
        s->fields = calloc(CSV_MAX_FIELDS, sizeof *s->fields);
        s->nfields = 0;
        if (!s->fields)
            s->oom = 1;
        for (size_t i = 0; i < s->nheader; i++) {
            if (strcmp(s->header[i], r->opts.text_column) == 0)
                s->text_col = (long)i;
            if (strcmp(s->header[i], r->opts.id_column) == 0)
                s->id_col = (long)i;
        }
        goto done;
    }
    if (s->text_col < 0)
        goto done; /* no text column: csv_fill reports it and stops */
    if (s->too_many) {
        csv_error_item(s, TD_ETOOBIG, NULL, "more than 4096 fields");
        goto done;
    }
    if (s->nfields == 1 && s->fields[0][0] == '\0')
        goto done; /* blank line */
    if (s->nfields != s->nheader) {
        char msg[128];
        snprintf(msg, sizeof msg, "expected %zu fields as in the header, found %zu", s->nheader,
                 s->nfields);
        csv_error_item(s, TD_EPARSE, NULL, msg);
        goto done;
    }
    struct csv_item *it = csv_push(s);
    if (!it)
        goto done;
    struct td_message *m = &it->m;
    m->line = s->rec_line;
    const char *text = s->fields[s->text_col];
    m->text_len = strlen(text);
    int rc = td_message_set(&m->text, text, m->text_len);
    if (!rc && s->id_col >= 0 && s->fields[s->id_col][0])
        rc = td_message_set(&m->id, s->fields[s->id_col], (size_t)-1);
    else if (!rc)
        rc = default_id(r, m, s->rec_line);
    if (!rc)
        rc = td_message_set(&m->channel, "csv", (size_t)-1);
    if (!rc)
        rc = set_source(r, m, s->rec_line);
    if (!rc && s->raw.len)
        rc = td_message_set(&m->original, s->raw.data, s->raw.len);
    m->original_len = s->raw.len;
    if (rc)
        s->oom = 1;
done:
    csv_row_clear(s);
    td_buf_reset(&s->raw);
}

static int csv_reset_parser(struct csv_state *s)
{
    csv_free(&s->p);
    if (csv_init(&s->p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return TD_ENOMEM;
    csv_row_clear(s);
    td_buf_reset(&s->raw);
    return TD_OK;
}

static int csv_open(struct td_reader *r, struct td_error *err)
{
    struct csv_state *s = calloc(1, sizeof *s);
    if (!s)
        return td_error_set(err, TD_ENOMEM, NULL);
    s->r = r;
    s->text_col = s->id_col = -1;
    td_buf_init(&s->line, r->opts.max_record);
    td_buf_init(&s->raw, r->opts.max_record);
    s->fields = calloc(CSV_MAX_FIELDS, sizeof *s->fields);
    if (!s->fields || csv_init(&s->p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        free(s->fields);
        free(s);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    r->state = s;
    return TD_OK;
}

/* Feed lines until something is pending or the input ends. */
static int csv_fill(struct td_reader *r, struct td_error *err)
{
    struct csv_state *s = r->state;
    while (s->head == s->npending) {
        if (s->header && s->text_col < 0) {
            td__reader_locate(r, err, 1, 0);
            td_error_field(err, r->opts.text_column);
            r->failed = 1;
            return td_error_set(err, TD_EPARSE, "no such column in the CSV header");
        }
        size_t off = r->src.offset;
        int rc = td__src_getline(&r->src, &s->line, NULL);
        if (rc == TD_EOF) {
            if (csv_fini(&s->p, csv_field_cb, csv_row_cb, s) != 0) {
                csv_error_item(s, TD_EPARSE, NULL, "unterminated quoted field at end of input");
                csv_reset_parser(s);
            }
            if (s->head == s->npending)
                return TD_EOF;
            break;
        }
        r->line++;
        if (s->p.pstate == 0 && s->raw.len == 0 && s->nfields == 0) {
            s->rec_line = r->line;
            s->rec_off = off;
        }
        if (rc == TD_ETOOBIG ||
            (rc == TD_OK && td_buf_append(&s->raw, s->line.data, s->line.len) == TD_ETOOBIG)) {
            csv_error_item(s, TD_ETOOBIG, NULL, "record larger than the record size cap; skipped");
            if (csv_reset_parser(s))
                return td_error_set(err, TD_ENOMEM, NULL);
            continue;
        }
        if (rc) {
            td__reader_locate(r, err, r->line, off);
            return td_error_set(err, rc, "read failed");
        }
        td_buf_putc(&s->raw, '\n');
        td_buf_putc(&s->line, '\n');
        size_t n = csv_parse(&s->p, s->line.data, s->line.len, csv_field_cb, csv_row_cb, s);
        if (n != s->line.len) {
            char msg[160];
            snprintf(msg, sizeof msg, "malformed CSV (%s) near byte %zu of line %zu",
                     csv_strerror(csv_error(&s->p)), n, r->line);
            s->rec_off = off + n;
            csv_error_item(s, TD_EPARSE, NULL, msg);
            if (csv_reset_parser(s))
                return td_error_set(err, TD_ENOMEM, NULL);
        }
        if (s->oom)
            return td_error_set(err, TD_ENOMEM, NULL);
    }
    return TD_OK;
}

static int csv_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    struct csv_state *s = r->state;
    int rc = csv_fill(r, err);
    if (rc)
        return rc;
    struct csv_item *it = &s->pending[s->head++];
    if (it->rc) {
        if (err)
            *err = it->err;
        return it->rc;
    }
    *m = it->m; /* hand over ownership */
    td_message_init(&it->m);
    return TD_OK;
}

static void csv_close(struct td_reader *r)
{
    struct csv_state *s = r->state;
    if (!s)
        return;
    csv_free(&s->p);
    csv_row_clear(s);
    free(s->fields);
    for (size_t i = 0; i < s->nheader; i++)
        free(s->header[i]);
    free(s->header);
    for (size_t i = s->head; i < s->npending; i++)
        td_message_release(&s->pending[i].m);
    free(s->pending);
    td_buf_release(&s->line);
    td_buf_release(&s->raw);
    free(s);
    r->state = NULL;
}

const struct td_reader_ops td__reader_csv = {
    TD_FORMAT_CSV, "csv", 1, csv_open, csv_next, csv_close,
};
