/*
 * reader.h - turn input files (or stdin) into a stream of td_message.
 *
 * One reader per format behind an ops table (the curl vtls way): the
 * formats of the analysis engine (plain text file, --lines, JSON Lines,
 * CSV) and those of ingestion (eml, mbox, Maildir, social exports, scanned
 * letters) plug in as entries of one table in src/ingest/reader.c.
 *
 * Errors are per record: td_reader_next() returning a td_errno other than
 * TD_EOF means *that record* is bad (err says where); call it again to go on.
 * td_reader_failed() tells a fatal condition (the file cannot be read) from a
 * bad record.  Memory is bounded by opts.max_record, not by the file size.
 */
#ifndef THREATDESK_READER_H
#define THREATDESK_READER_H

#include <stdio.h>

#include "threatdesk/error.h"
#include "threatdesk/message.h"

#ifdef __cplusplus
extern "C" {
#endif

enum td_format {
    TD_FORMAT_AUTO = 0, /* detect from content (and name) */
    TD_FORMAT_TEXT,     /* the whole file is one message */
    TD_FORMAT_LINES,    /* one message per line */
    TD_FORMAT_JSONL,    /* JSON Lines */
    TD_FORMAT_CSV,      /* CSV with a header row */
    TD_FORMAT_EML,
    TD_FORMAT_MBOX,
    TD_FORMAT_MAILDIR,
    TD_FORMAT_TWITTER,  /* X/Twitter API v2 response or archive tweets.js */
    TD_FORMAT_BLUESKY,  /* AT Protocol app.bsky.feed.post records */
    TD_FORMAT_FACEBOOK, /* Facebook / Instagram comment exports */
    TD_FORMAT_IMAGE,    /* scanned letter: png, jpeg, tiff */
    TD_FORMAT_PDF,      /* scanned letter as PDF */
    TD_FORMAT_COUNT
};

const char *td_format_name(enum td_format f);
/* -1 when unknown. */
int td_format_from_name(const char *name);

struct td_reader_opts {
    enum td_format format;   /* TD_FORMAT_AUTO to detect */
    const char *text_field;  /* JSONL: default "text" (dotted paths allowed) */
    const char *id_field;    /* JSONL: default "id" */
    const char *text_column; /* CSV: default "text" */
    const char *id_column;   /* CSV: default "id" */
    size_t max_record;       /* bytes; default 16 MiB; larger records are
                                refused with TD_ETOOBIG, and skipped */
};

struct td_reader;

/* Open path ("-" = stdin).  *out is yours: td_reader_close(). */
int td_reader_open(const char *path, const struct td_reader_opts *opts, struct td_reader **out,
                   struct td_error *err);
/* Next message into m (released and refilled).  TD_OK, TD_EOF, or a
 * per-record error with err filled (file, line, byte, field). */
int td_reader_next(struct td_reader *r, struct td_message *m, struct td_error *err);
/* Non-zero when the reader cannot go on (I/O error on the file). */
int td_reader_failed(const struct td_reader *r);
enum td_format td_reader_format(const struct td_reader *r);
void td_reader_close(struct td_reader *r);

/* Guess the format from the first bytes of the content and the name. */
enum td_format td_format_detect(const char *name, const unsigned char *head, size_t n);

#ifdef __cplusplus
}
#endif
#endif
