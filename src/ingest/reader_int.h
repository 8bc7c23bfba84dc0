/*
 * reader_int.h - what a format reader plugs into (internal to src/ingest/).
 *
 * A reader is an entry in the table in reader.c: a struct td_reader_ops
 * with open/next/close.  The generic struct td_reader owns the input (a
 * buffered fd over a file or stdin, or just a path for directory formats)
 * and the counters used in error locations; `state` is the format's own.
 */
#ifndef TD_INGEST_READER_INT_H
#define TD_INGEST_READER_INT_H

#include <stddef.h>

#include "threatdesk/buf.h"
#include "threatdesk/reader.h"

/* A buffered byte source with line reading, peeking and a line-length cap. */
struct td__src {
    int fd;     /* -1 when not opened (directory formats) */
    int own_fd; /* close on release */
    unsigned char *buf;
    size_t cap, pos, end;
    int eof;       /* read() returned 0 */
    int ioerr;     /* errno of a failed read, 0 if none */
    size_t offset; /* bytes consumed so far (offset of buf[pos]) */
};

int td__src_open(struct td__src *s, const char *path, struct td_error *err);
void td__src_release(struct td__src *s);
/* Make at least n bytes (or all that remain) available at buf+pos; returns
 * how many are. */
size_t td__src_peek(struct td__src *s, size_t n);
/*
 * Read one line (without its "\n" or "\r\n") into line (reset first).
 * Returns TD_OK, TD_EOF (no more bytes), TD_EIO, or TD_ETOOBIG when the line
 * exceeds line->max: the rest of that line is then consumed and discarded,
 * so the next call starts on the next line.  *nbytes gets the raw length.
 */
int td__src_getline(struct td__src *s, struct td_buf *line, size_t *nbytes);
/* Read everything that remains into out (capped by out->max). */
int td__src_slurp(struct td__src *s, struct td_buf *out);

struct td_reader;

struct td_reader_ops {
    enum td_format format;
    const char *name; /* wire name for --format */
    /* needs_src: 1 when the generic code should open path as a byte source */
    int needs_src;
    int (*open)(struct td_reader *r, struct td_error *err);
    int (*next)(struct td_reader *r, struct td_message *m, struct td_error *err);
    void (*close)(struct td_reader *r);
};

struct td_reader {
    const struct td_reader_ops *ops;
    char *path;          /* as given ("-" for stdin) */
    const char *display; /* for error locations */
    struct td_reader_opts opts;
    struct td__src src;
    size_t line;   /* lines consumed so far */
    size_t record; /* records returned so far */
    int failed;    /* fatal: cannot go on */
    void *state;   /* the format's own */
};

/* Fill err's location from the reader: file, line (and byte). */
void td__reader_locate(struct td_reader *r, struct td_error *err, size_t line, size_t byte);

/* The readers of the analysis engine (records.c). */
extern const struct td_reader_ops td__reader_text;
extern const struct td_reader_ops td__reader_lines;
extern const struct td_reader_ops td__reader_jsonl;
extern const struct td_reader_ops td__reader_csv;

/* E-mail (email_reader.c). */
extern const struct td_reader_ops td__reader_eml;
extern const struct td_reader_ops td__reader_mbox;
extern const struct td_reader_ops td__reader_maildir;

/* Social-media exports (social_reader.c). */
extern const struct td_reader_ops td__reader_twitter;
extern const struct td_reader_ops td__reader_bluesky;
extern const struct td_reader_ops td__reader_facebook;

/* Scanned letters: images and PDFs through OCR (ocr.c). */
extern const struct td_reader_ops td__reader_image;
extern const struct td_reader_ops td__reader_pdf;

#endif
