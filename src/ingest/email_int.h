/*
 * email_int.h - shared between the e-mail files of src/ingest/ (email.c,
 * email_text.c, email_reader.c).
 */
#ifndef TD_INGEST_EMAIL_INT_H
#define TD_INGEST_EMAIL_INT_H

#include <stddef.h>

#include "threatdesk/email.h"

/*
 * Copy prefix[0..n) and then the rest of fd into an unlinked temporary file
 * (so a pipe can be parsed like a file: seekable, attachments streamed).
 * *out_fd is yours (close it).
 */
int td__email_spool(int fd, const void *prefix, size_t n, int *out_fd, struct td_error *err);

/* Parse the one message in fd (which is taken over and closed). */
int td__email_parse_fd(int fd, const char *source, const struct td_email_opts *opts,
                       struct td_message *m, struct td_error *err);

/* An mbox over an fd (taken over and closed). */
int td__mbox_open_fd(int fd, const char *display, const struct td_email_opts *opts,
                     struct td_mbox **out, struct td_error *err);

#endif
