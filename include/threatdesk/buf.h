/*
 * buf.h - a growable byte buffer with a mandatory size cap (the curl dynbuf
 * idea).  Oversized input is an error (TD_ETOOBIG), never a bigger malloc.
 *
 *   struct td_buf b;
 *   td_buf_init(&b, 1 << 20);          // cap: 1 MiB
 *   td_buf_append(&b, p, n);           // TD_OK, TD_ENOMEM or TD_ETOOBIG
 *   ... b.data is NUL-terminated, b.len bytes ...
 *   td_buf_release(&b);
 */
#ifndef THREATDESK_BUF_H
#define THREATDESK_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct td_buf {
    char *data; /* owned; NUL-terminated when non-NULL; read-only for users */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated (private) */
    size_t max; /* the cap on len; appends past it fail with TD_ETOOBIG */
};

void td_buf_init(struct td_buf *b, size_t max);
int td_buf_append(struct td_buf *b, const void *p, size_t n);
int td_buf_putc(struct td_buf *b, char c);
int td_buf_printf(struct td_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make room for n more bytes without changing len. */
int td_buf_reserve(struct td_buf *b, size_t n);
/* Forget the contents but keep the allocation, for reuse in a loop. */
void td_buf_reset(struct td_buf *b);
/* Free the allocation; the buffer is left empty and reusable. */
void td_buf_release(struct td_buf *b);
/* Hand the data to the caller: you now own it (free() it). The buffer is reset. */
char *td_buf_detach(struct td_buf *b, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
