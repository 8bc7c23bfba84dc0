/*
 * email_reader.c - the e-mail formats as entries of the reader table
 * (reader.c): eml, mbox and Maildir over the library of email.c.
 *
 * reader.c has already opened the input as a byte source (and may have
 * peeked at it to detect the format).  A named file is re-opened by path so
 * GMime can seek in it; stdin is spooled to a temporary file, starting
 * with the bytes already peeked.  The reader's max_record bounds the
 * original kept in memory, never what can be read.
 */
#include "ingest/email_int.h"
#include "ingest/reader_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void opts_for(struct td_reader *r, struct td_email_opts *o)
{
    td_email_opts_default(o);
    o->max_original = r->opts.max_record;
    if (o->max_text > r->opts.max_record)
        o->max_text = r->opts.max_record;
}

/* An fd on the input that GMime may seek in. */
static int seekable_fd(struct td_reader *r, int *fd, struct td_error *err)
{
    if (strcmp(r->path, "-") != 0) {
        *fd = open(r->path, O_RDONLY | O_CLOEXEC);
        if (*fd < 0) {
            td_error_at(err, r->display, 0, 0);
            return td_error_set(err, TD_EIO, "cannot open: %s", strerror(errno));
        }
        return TD_OK;
    }
    int rc = td__email_spool(r->src.fd, r->src.buf + r->src.pos, r->src.end - r->src.pos, fd, err);
    r->src.pos = r->src.end;
    return rc;
}

/* ---- eml ----------------------------------------------------------------------- */

static int eml_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    if (r->state)
        return TD_EOF;
    r->state = r; /* one message per file */
    int fd;
    int rc = seekable_fd(r, &fd, err);
    if (rc)
        return rc == TD_EIO ? TD_EPARSE : rc; /* not fatal for a one-record file */
    struct td_email_opts o;
    opts_for(r, &o);
    rc = td__email_parse_fd(fd, r->display, &o, m, err);
    if (rc)
        td__reader_locate(r, err, 1, 0);
    return rc;
}

const struct td_reader_ops td__reader_eml = {
    TD_FORMAT_EML, "eml", 1, NULL, eml_next, NULL,
};

/* ---- mbox ---------------------------------------------------------------------- */

static int mbox_open(struct td_reader *r, struct td_error *err)
{
    int fd;
    int rc = seekable_fd(r, &fd, err);
    if (rc)
        return rc;
    struct td_email_opts o;
    opts_for(r, &o);
    struct td_mbox *mb = NULL;
    if ((rc = td__mbox_open_fd(fd, r->display, &o, &mb, err)) != TD_OK)
        return rc;
    r->state = mb;
    return TD_OK;
}

static int mbox_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    return td_mbox_next(r->state, m, err);
}

static void mbox_close(struct td_reader *r)
{
    td_mbox_close(r->state);
    r->state = NULL;
}

const struct td_reader_ops td__reader_mbox = {
    TD_FORMAT_MBOX, "mbox", 1, mbox_open, mbox_next, mbox_close,
};

/* ---- Maildir --------------------------------------------------------------------- */

static int maildir_open(struct td_reader *r, struct td_error *err)
{
    struct td_email_opts o;
    opts_for(r, &o);
    struct td_maildir *md = NULL;
    int rc = td_maildir_open(r->path, &o, &md, err);
    if (rc)
        return rc;
    r->state = md;
    return TD_OK;
}

static int maildir_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    return td_maildir_next(r->state, m, err);
}

static void maildir_close(struct td_reader *r)
{
    td_maildir_close(r->state);
    r->state = NULL;
}

const struct td_reader_ops td__reader_maildir = {
    TD_FORMAT_MAILDIR, "maildir", 0, maildir_open, maildir_next, maildir_close,
};
