/*
 * html.h - the web desk's HTML writer: every interpolated value escaped.
 *
 * Pages are written from C into a capped td_buf with one printf-like call
 * whose %s ESCAPES by default, so forgetting to escape takes an explicit
 * %R; the escaping is the one context the pages use (element text and
 * double-quoted attribute values): & < > " ' become entities.
 *
 *   %s   a string, HTML-escaped (NULL writes nothing)
 *   %R   raw markup: only string literals and output of this module
 *   %d   int            %u  unsigned
 *   %I   int64_t        %z  size_t
 *   %%   a percent sign
 *
 * Errors are sticky: the first failure (TD_ENOMEM, TD_ETOOBIG at the cap)
 * is kept in h->rc and every later call does nothing, so a page is written
 * without checking each line and checked once at the end.
 */
#ifndef TD_WEB_HTML_H
#define TD_WEB_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/buf.h"

struct td__html {
    struct td_buf out; /* owned; the page so far */
    int rc;            /* TD_OK, or the first error */
};

/* Start an empty page capped at max bytes. */
void td__html_init(struct td__html *h, size_t max);
/* Free the page. */
void td__html_release(struct td__html *h);

/* Append fmt (the conversions above). Returns h->rc. */
int td__html(struct td__html *h, const char *fmt, ...);

/* Append n bytes of s escaped (n = (size_t)-1: up to the NUL). */
int td__html_esc(struct td__html *h, const char *s, size_t n);

/* Escape s into out (size bytes, always NUL-terminated, truncated at a
 * whole entity); returns the length written.  For tests and small values. */
size_t td__html_escape_to(const char *s, char *out, size_t size);

#endif
