/*
 * doc.c - a plain A4 document for reports: text flowed down pages with
 * pango, pages cut between lines, a footer with the page number on each.
 *
 * The PDF goes to a td_buf through cairo's stream surface; the buffer's cap
 * (TD__PDF_MAX) bounds what a report can cost, and hitting it fails the
 * report rather than cutting it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/report_int.h"

#define FONT "DejaVu Sans"

static cairo_status_t to_buf(void *closure, const unsigned char *data, unsigned int length)
{
    struct td__doc *d = closure;
    if (td_buf_append(&d->out, data, length) != TD_OK) {
        d->failed = 1;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

static void footer(struct td__doc *d)
{
    char text[260];
    PangoLayout *l = pango_cairo_create_layout(d->cr);
    PangoFontDescription *f = pango_font_description_from_string(FONT " 8");
    snprintf(text, sizeof text, "%s \xe2\x80\x94 page %d", d->footer, d->page);
    pango_layout_set_font_description(l, f);
    pango_layout_set_text(l, text, -1);
    cairo_save(d->cr);
    cairo_set_source_rgb(d->cr, 0.4, 0.4, 0.4);
    cairo_move_to(d->cr, TD__MARGIN, TD__A4_H - TD__MARGIN + 18);
    pango_cairo_show_layout(d->cr, l);
    cairo_restore(d->cr);
    pango_font_description_free(f);
    g_object_unref(l);
}

int td__doc_open(struct td__doc *d, const char *foot, struct td_error *err)
{
    memset(d, 0, sizeof *d);
    td_buf_init(&d->out, TD__PDF_MAX);
    snprintf(d->footer, sizeof d->footer, "%s", foot);
    d->surface = cairo_pdf_surface_create_for_stream(to_buf, d, TD__A4_W, TD__A4_H);
    if (cairo_surface_status(d->surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(d->surface);
        td_buf_release(&d->out);
        return td_error_set(err, TD_ENOMEM, "PDF surface");
    }
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_CREATOR, "threatdesk");
    d->cr = cairo_create(d->surface);
    d->page = 1;
    d->y = TD__MARGIN;
    return TD_OK;
}

void td__doc_new_page(struct td__doc *d)
{
    footer(d);
    cairo_show_page(d->cr);
    d->page++;
    d->y = TD__MARGIN;
}

void td__doc_need(struct td__doc *d, double height)
{
    if (d->y + height > TD__A4_H - TD__MARGIN && d->y > TD__MARGIN)
        td__doc_new_page(d);
}

void td__doc_markup(struct td__doc *d, const char *markup, double size, double indent, double after)
{
    char fd[64];
    PangoLayout *l = pango_cairo_create_layout(d->cr);
    snprintf(fd, sizeof fd, FONT " %.1f", size);
    PangoFontDescription *f = pango_font_description_from_string(fd);
    pango_layout_set_font_description(l, f);
    pango_layout_set_width(l, (int)((TD__A4_W - 2 * TD__MARGIN - indent) * PANGO_SCALE));
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_markup(l, markup, -1);
    /* Line by line, so a long message breaks across pages. */
    PangoLayoutIter *it = pango_layout_get_iter(l);
    do {
        PangoRectangle logical;
        pango_layout_iter_get_line_extents(it, NULL, &logical);
        double h = (double)logical.height / PANGO_SCALE;
        int baseline = pango_layout_iter_get_baseline(it);
        double base_off = (double)(baseline - logical.y) / PANGO_SCALE;
        td__doc_need(d, h);
        cairo_set_source_rgb(d->cr, 0, 0, 0);
        cairo_move_to(d->cr, TD__MARGIN + indent + (double)logical.x / PANGO_SCALE,
                      d->y + base_off);
        pango_cairo_show_layout_line(d->cr, pango_layout_iter_get_line_readonly(it));
        d->y += h;
    } while (pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
    pango_font_description_free(f);
    g_object_unref(l);
    d->y += after;
}

char *td__doc_escape(const char *s, long n)
{
    if (!s)
        return g_strdup("");
    if (!g_utf8_validate(s, n, NULL))
        return g_strdup("(not valid UTF-8)");
    return g_markup_escape_text(s, n);
}

void td__doc_text(struct td__doc *d, const char *text, double size, double indent, double after)
{
    char *e = td__doc_escape(text, -1);
    td__doc_markup(d, e, size, indent, after);
    g_free(e);
}

void td__doc_heading(struct td__doc *d, const char *text, int level)
{
    char *e = td__doc_escape(text, -1);
    char *m = g_strdup_printf("<b>%s</b>", e);
    td__doc_need(d, level == 1 ? 60 : 40);
    if (level > 1)
        d->y += 6;
    td__doc_markup(d, m, level == 1 ? 17 : level == 2 ? 13 : 11, 0, level == 1 ? 8 : 4);
    g_free(m);
    g_free(e);
}

void td__doc_kv(struct td__doc *d, const char *key, const char *value)
{
    char *k = td__doc_escape(key, -1), *v = td__doc_escape(value ? value : "-", -1);
    char *m = g_strdup_printf("<b>%s:</b> %s", k, v);
    td__doc_markup(d, m, 9.5, 0, 1.5);
    g_free(m);
    g_free(k);
    g_free(v);
}

void td__doc_hash(struct td__doc *d, const char *key, const char *hex)
{
    char *k = td__doc_escape(key, -1), *v = td__doc_escape(hex ? hex : "-", -1);
    char *m = g_strdup_printf(
        "<b>%s:</b> <span font_family=\"DejaVu Sans Mono\" size=\"8pt\">%s</span>", k, v);
    td__doc_markup(d, m, 9.5, 0, 1.5);
    g_free(m);
    g_free(k);
    g_free(v);
}

void td__doc_rule(struct td__doc *d)
{
    td__doc_need(d, 10);
    cairo_save(d->cr);
    cairo_set_source_rgb(d->cr, 0.75, 0.75, 0.75);
    cairo_set_line_width(d->cr, 0.6);
    cairo_move_to(d->cr, TD__MARGIN, d->y + 4);
    cairo_line_to(d->cr, TD__A4_W - TD__MARGIN, d->y + 4);
    cairo_stroke(d->cr);
    cairo_restore(d->cr);
    d->y += 10;
}

void td__doc_time(int64_t t, char *buf, size_t size)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0 || !gmtime_r(&tt, &tm)) {
        snprintf(buf, size, "-");
        return;
    }
    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
}

void td__doc_abort(struct td__doc *d)
{
    if (d->cr)
        cairo_destroy(d->cr);
    if (d->surface)
        cairo_surface_destroy(d->surface);
    td_buf_release(&d->out);
    memset(d, 0, sizeof *d);
}

int td__doc_close(struct td__doc *d, void **pdf, size_t *len, struct td_error *err)
{
    footer(d);
    cairo_show_page(d->cr);
    cairo_destroy(d->cr);
    d->cr = NULL;
    cairo_surface_finish(d->surface);
    cairo_status_t st = cairo_surface_status(d->surface);
    cairo_surface_destroy(d->surface);
    d->surface = NULL;
    if (d->failed || st != CAIRO_STATUS_SUCCESS) {
        td_buf_release(&d->out);
        return d->failed ? td_error_set(err, TD_ETOOBIG, "PDF larger than 64 MiB")
                         : td_error_set(err, TD_EIO, "PDF: %s", cairo_status_to_string(st));
    }
    *pdf = td_buf_detach(&d->out, len);
    return *pdf ? TD_OK : td_error_set(err, TD_ENOMEM, NULL);
}
