/*
 * report_int.h - inside the report module (not installed).
 *
 *   doc.c      an A4 document that flows text down pages (cairo + pango)
 *   summary.c  the evidence bundle's summary.pdf
 *
 * A document is written into a capped memory buffer (cairo's stream
 * surface); text is Pango markup, escaped with td__doc_escape.
 */
#ifndef TD_REPORT_INT_H
#define TD_REPORT_INT_H

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>

#include "threatdesk/buf.h"
#include "threatdesk/report.h"

#define TD__A4_W 595.276
#define TD__A4_H 841.89
#define TD__MARGIN 50.0
#define TD__PDF_MAX ((size_t)64 << 20)

struct td__doc {
    cairo_surface_t *surface;
    cairo_t *cr;
    double y; /* next free line's top */
    int page;
    char footer[200];
    struct td_buf out;
    int failed; /* the buffer's cap was hit */
};

/* Start a document; footer is printed on every page with its number. */
int td__doc_open(struct td__doc *d, const char *footer, struct td_error *err);
/* Finish: *pdf and *len are yours (free()). */
int td__doc_close(struct td__doc *d, void **pdf, size_t *len, struct td_error *err);
/* Drop a document that failed half way. */
void td__doc_abort(struct td__doc *d);

/* Flow Pango markup in DejaVu Sans at `size` pt, `indent` pt in from the
 * margin, breaking pages between lines; then `after` pt of space. */
void td__doc_markup(struct td__doc *d, const char *markup, double size, double indent,
                    double after);
/* The same for plain text (escaped here). */
void td__doc_text(struct td__doc *d, const char *text, double size, double indent, double after);
void td__doc_heading(struct td__doc *d, const char *text, int level);
/* A bold key and its plain value on one line (wrapping). */
void td__doc_kv(struct td__doc *d, const char *key, const char *value);
/* A key and a hash in monospace, small enough that 64 hex digits fit on
 * the line (a wrapped hash cannot be compared by eye or by pdftotext). */
void td__doc_hash(struct td__doc *d, const char *key, const char *hex);
/* A thin grey rule across the text width. */
void td__doc_rule(struct td__doc *d);
/* Start a new page unless `height` pt are left on this one. */
void td__doc_need(struct td__doc *d, double height);
void td__doc_new_page(struct td__doc *d);

/* Markup-escape n bytes of UTF-8 (g_markup_escape_text); g_free() it. */
char *td__doc_escape(const char *s, long n);
/* "2026-11-20 09:00 UTC" from epoch seconds into buf. */
void td__doc_time(int64_t t, char *buf, size_t size);

#endif
