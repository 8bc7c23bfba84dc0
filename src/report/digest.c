/*
 * digest.c - the weekly digest PDF (report.h td_report_digest).
 *
 * Charts are stacked bars, one bar per day, drawn with cairo into an image
 * surface at 3 pixels per point and placed on the page as an image (so the
 * PDF holds them as pictures any viewer shows the same).  Page 3 is built
 * only from counts: nothing on it names a sender or quotes a message, and
 * counts of 1 or 2 are printed as "<3".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "threatdesk/taxonomy.h"

#define DAYS 7
#define MAXS 8 /* series in one chart */
#define SCALE 3.0

struct chart {
    const char *title;
    size_t nseries;
    const char *names[MAXS];
    double rgb[MAXS][3];
    double v[MAXS][DAYS];
};

static const double TIER_RGB[TD_SEVERITY_COUNT][3] = {{0.80, 0.80, 0.80},
                                                      {0.55, 0.75, 0.90},
                                                      {0.98, 0.80, 0.30},
                                                      {0.95, 0.50, 0.15},
                                                      {0.80, 0.10, 0.10}};
static const double PALETTE[MAXS][3] = {{0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
                                        {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
                                        {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}};

static void text_at(cairo_t *cr, double x, double y, double size, const char *s, int right)
{
    char fd[48];
    PangoLayout *l = pango_cairo_create_layout(cr);
    snprintf(fd, sizeof fd, "DejaVu Sans %.1f", size);
    PangoFontDescription *f = pango_font_description_from_string(fd);
    pango_layout_set_font_description(l, f);
    pango_layout_set_text(l, s, -1);
    int w, h;
    pango_layout_get_pixel_size(l, &w, &h);
    cairo_move_to(cr, right ? x - w : x, y - h / 2.0);
    pango_cairo_show_layout(cr, l);
    pango_font_description_free(f);
    g_object_unref(l);
}

/* Draw one chart as an image, width x height points, at the document's y. */
static void chart(struct td__doc *d, const struct chart *c, int64_t day0)
{
    const double W = TD__A4_W - 2 * TD__MARGIN, H = 150;
    td__doc_heading(d, c->title, 3);
    td__doc_need(d, H + 6);
    cairo_surface_t *img =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(W * SCALE), (int)(H * SCALE));
    cairo_t *cr = cairo_create(img);
    cairo_scale(cr, SCALE, SCALE);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    double max = 0;
    for (int k = 0; k < DAYS; k++) {
        double t = 0;
        for (size_t s = 0; s < c->nseries; s++)
            t += c->v[s][k];
        if (t > max)
            max = t;
    }
    /* a multiple of 4, so the 4 grid lines fall on whole messages */
    double top = 4.0 * (double)(long long)((max + 3.999) / 4.0);
    if (top < 4)
        top = 4;
    const double L = 34, R = 120, T = 8, B = 22; /* plot margins; legend right */
    double pw = W - L - R, ph = H - T - B;
    /* axes and grid */
    cairo_set_line_width(cr, 0.5);
    for (int g = 0; g <= 4; g++) {
        double y = T + ph - ph * g / 4.0;
        char lab[32];
        cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
        cairo_move_to(cr, L, y);
        cairo_line_to(cr, L + pw, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        snprintf(lab, sizeof lab, "%.0f", top * g / 4.0);
        text_at(cr, L - 4, y, 7, lab, 1);
    }
    double bw = pw / DAYS;
    for (int k = 0; k < DAYS; k++) {
        double y = T + ph;
        for (size_t s = 0; s < c->nseries; s++) {
            double h = ph * c->v[s][k] / top;
            cairo_set_source_rgb(cr, c->rgb[s][0], c->rgb[s][1], c->rgb[s][2]);
            cairo_rectangle(cr, L + k * bw + bw * 0.15, y - h, bw * 0.7, h);
            cairo_fill(cr);
            y -= h;
        }
        char lab[32];
        time_t t = (time_t)((day0 + k) * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(lab, sizeof lab, "%a %d", &tm);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text_at(cr, L + k * bw + bw * 0.2, T + ph + 10, 7, lab, 0);
    }
    for (size_t s = 0; s < c->nseries; s++) {
        double y = T + 6 + s * 14;
        cairo_set_source_rgb(cr, c->rgb[s][0], c->rgb[s][1], c->rgb[s][2]);
        cairo_rectangle(cr, L + pw + 12, y - 4, 8, 8);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, L + pw + 24, y, 7.5, c->names[s], 0);
    }
    cairo_destroy(cr);
    cairo_surface_flush(img);
    /* onto the page, as an image */
    cairo_save(d->cr);
    cairo_translate(d->cr, TD__MARGIN, d->y);
    cairo_scale(d->cr, 1 / SCALE, 1 / SCALE);
    cairo_set_source_surface(d->cr, img, 0, 0);
    cairo_paint(d->cr);
    cairo_restore(d->cr);
    cairo_surface_destroy(img);
    d->y += H + 6;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A count for the shareable page: 1 and 2 become "<3". */
static void shared_count(char *buf, size_t size, long long n)
{
    if (n > 0 && n < 3)
        snprintf(buf, size, "<3");
    else
        snprintf(buf, size, "%lld", n);
}

static void dur(char *buf, size_t size, double s)
{
    if (s < 3600)
        snprintf(buf, size, "%.0f minutes", s / 60);
    else if (s < 86400 * 2)
        snprintf(buf, size, "%.1f hours", s / 3600);
    else
        snprintf(buf, size, "%.1f days", s / 86400);
}

int td_report_digest(const json_t *g, const char *office, void **pdf, size_t *len,
                     struct td_error *err)
{
    struct td__doc d;
    struct chart tier, label, chan;
    char buf[512], a[64], b[64];
    long long by_tier[TD_SEVERITY_COUNT] = {0}, by_label[TD_LABEL_COUNT] = {0}, total = 0;
    long long by_day[DAYS] = {0};
    char chans[MAXS - 1][64];
    long long chan_n[MAXS] = {0};
    size_t nchan = 0, i;
    json_t *r;
    int64_t since = json_integer_value(json_object_get(g, "since"));
    int64_t day0 = since >= 0 ? since / 86400 : (since - 86399) / 86400;
    *pdf = NULL;
    *len = 0;
    memset(&tier, 0, sizeof tier);
    memset(&label, 0, sizeof label);
    memset(&chan, 0, sizeof chan);
    tier.title = "Messages per day by tier";
    label.title = "Messages per day by label (a message may carry several)";
    chan.title = "Messages per day by channel";
    for (int s = 0; s < TD_SEVERITY_COUNT; s++) {
        tier.names[s] = td_severity_name(s);
        memcpy(tier.rgb[s], TIER_RGB[s], sizeof tier.rgb[s]);
    }
    tier.nseries = TD_SEVERITY_COUNT;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        label.names[l] = td_label_name(l);
        memcpy(label.rgb[l], PALETTE[l], sizeof label.rgb[l]);
    }
    label.nseries = TD_LABEL_COUNT;
    json_array_foreach(json_object_get(g, "volume"), i, r)
    {
        int64_t k = json_integer_value(json_object_get(r, "day")) - day0;
        long long n = json_integer_value(json_object_get(r, "n"));
        int sev = (int)json_integer_value(json_object_get(r, "severity"));
        unsigned bits = (unsigned)json_integer_value(json_object_get(r, "labels"));
        const char *ch = str(r, "channel");
        if (k < 0 || k >= DAYS || sev < 0 || sev >= TD_SEVERITY_COUNT)
            continue;
        total += n;
        by_day[k] += n;
        by_tier[sev] += n;
        tier.v[sev][k] += (double)n;
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            if (bits & (1u << l)) {
                label.v[l][k] += (double)n;
                by_label[l] += n;
            }
        size_t c;
        for (c = 0; c < nchan && strcmp(chans[c], ch); c++)
            ;
        if (c == nchan && nchan < MAXS - 1)
            snprintf(chans[nchan++], sizeof chans[0], "%s", ch);
        if (c == MAXS - 1 || c >= nchan)
            c = MAXS - 1; /* "other" */
        chan.v[c][k] += (double)n;
        chan_n[c] += n;
    }
    for (size_t c = 0; c < nchan; c++) {
        chan.names[c] = chans[c];
        memcpy(chan.rgb[c], PALETTE[c], sizeof chan.rgb[c]);
    }
    chan.nseries = nchan;
    if (chan_n[MAXS - 1]) {
        chan.names[nchan] = "other";
        memcpy(chan.rgb[nchan], PALETTE[MAXS - 1], sizeof chan.rgb[0]);
        memcpy(chan.v[nchan], chan.v[MAXS - 1], sizeof chan.v[0]);
        chan.nseries = nchan + 1;
    }

    snprintf(buf, sizeof buf, "threatdesk weekly digest, %s", office);
    int rc = td__doc_open(&d, buf, err);
    if (rc)
        return rc;
    td__doc_time(since, a, sizeof a);
    td__doc_time(json_integer_value(json_object_get(g, "until")) - 60, b, sizeof b);
    td__doc_heading(&d, "Weekly digest", 1);
    snprintf(buf, sizeof buf, "Office %s: %.10s to %.10s", office, a, b);
    td__doc_heading(&d, buf, 2);
    snprintf(buf, sizeof buf,
             "%lld messages this week: %lld critical, %lld high, %lld medium, %lld low, %lld "
             "with no concern.",
             total, by_tier[TD_SEVERITY_CRITICAL], by_tier[TD_SEVERITY_HIGH],
             by_tier[TD_SEVERITY_MEDIUM], by_tier[TD_SEVERITY_LOW], by_tier[TD_SEVERITY_NONE]);
    td__doc_text(&d, buf, 10, 0, 6);
    chart(&d, &tier, day0);
    chart(&d, &label, day0);
    chart(&d, &chan, day0);

    td__doc_new_page(&d);
    td__doc_heading(&d, "Top senders by severity", 2);
    td__doc_text(&d, "Senders of this week's messages of concern, worst first (office only).", 8.5,
                 0, 4);
    json_array_foreach(json_object_get(g, "senders"), i, r)
    {
        int w = (int)json_integer_value(json_object_get(r, "worst"));
        snprintf(buf, sizeof buf,
                 "%zu. %s%s%s%s: %" JSON_INTEGER_FORMAT
                 " message(s), worst %s, %" JSON_INTEGER_FORMAT " threat(s)",
                 i + 1, str(r, "sender"), *str(r, "display") ? " (" : "", str(r, "display"),
                 *str(r, "display") ? ")" : "", json_integer_value(json_object_get(r, "n")),
                 td_severity_name(w) ? td_severity_name(w) : "?",
                 json_integer_value(json_object_get(r, "threats")));
        td__doc_text(&d, buf, 9.5, 0, 2);
    }
    if (!json_array_size(json_object_get(g, "senders")))
        td__doc_text(&d, "No message of concern this week.", 9.5, 0, 2);
    td__doc_heading(&d, "Cases by status (all open and closed cases)", 2);
    long long open = 0;
    json_array_foreach(json_object_get(g, "cases"), i, r)
    {
        long long n = json_integer_value(json_object_get(r, "n"));
        if (strcmp(str(r, "status"), "closed"))
            open += n;
        snprintf(buf, sizeof buf, "%s: %lld", str(r, "status"), n);
        td__doc_text(&d, buf, 9.5, 0, 2);
    }
    snprintf(buf, sizeof buf, "Open cases: %lld", open);
    td__doc_kv(&d, "Open", buf);
    td__doc_heading(&d, "Time to review a critical message", 2);
    const json_t *rs = json_object_get(g, "review_seconds");
    size_t nr = json_array_size(rs);
    if (nr) {
        double med = nr % 2 ? (double)json_integer_value(json_array_get(rs, nr / 2))
                            : (json_integer_value(json_array_get(rs, nr / 2 - 1)) +
                               json_integer_value(json_array_get(rs, nr / 2))) /
                                  2.0;
        dur(a, sizeof a, med);
        snprintf(buf, sizeof buf,
                 "Median %s from arrival to review, over %zu critical message(s)"
                 " reviewed this week.",
                 a, nr);
    } else {
        snprintf(buf, sizeof buf, "No critical message of this week has been reviewed yet.");
    }
    td__doc_text(&d, buf, 10, 0, 4);
    if (by_tier[TD_SEVERITY_CRITICAL] > (long long)nr) {
        snprintf(buf, sizeof buf, "%lld critical message(s) of this week still unreviewed.",
                 by_tier[TD_SEVERITY_CRITICAL] - (long long)nr);
        td__doc_text(&d, buf, 10, 0, 4);
    }

    /* ---- page 3: shareable, counts only ---- */
    td__doc_new_page(&d);
    td__doc_heading(&d, "Aggregate statistics (de-identified)", 2);
    td__doc_text(&d,
                 "This page may be shared outside the office (party, Electoral Commission, "
                 "researchers). It holds counts only: no message text, no sender, no account "
                 "name. Counts of 1 or 2 are shown as <3 so that no single incident can be "
                 "identified.",
                 9, 0, 6);
    td__doc_time(since, a, sizeof a);
    snprintf(buf, sizeof buf, "Week beginning %.10s", a);
    td__doc_kv(&d, "Period", buf);
    char cnt[32];
    shared_count(cnt, sizeof cnt, total);
    td__doc_kv(&d, "Messages received", cnt);
    td__doc_heading(&d, "By tier", 3);
    for (int s = TD_SEVERITY_COUNT - 1; s >= 0; s--) {
        shared_count(cnt, sizeof cnt, by_tier[s]);
        td__doc_kv(&d, td_severity_name(s), cnt);
    }
    td__doc_heading(&d, "By label", 3);
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        shared_count(cnt, sizeof cnt, by_label[l]);
        td__doc_kv(&d, td_label_name(l), cnt);
    }
    td__doc_heading(&d, "By channel", 3);
    for (size_t c = 0; c < nchan; c++) {
        shared_count(cnt, sizeof cnt, chan_n[c]);
        td__doc_kv(&d, chans[c], cnt);
    }
    if (chan_n[MAXS - 1]) {
        shared_count(cnt, sizeof cnt, chan_n[MAXS - 1]);
        td__doc_kv(&d, "other", cnt);
    }
    td__doc_heading(&d, "By day", 3);
    for (int k = 0; k < DAYS; k++) {
        td__doc_time((day0 + k) * 86400, a, sizeof a);
        a[10] = '\0';
        shared_count(cnt, sizeof cnt, by_day[k]);
        td__doc_kv(&d, a, cnt);
    }
    td__doc_heading(&d, "Cases by status", 3);
    json_array_foreach(json_object_get(g, "cases"), i, r)
    {
        shared_count(cnt, sizeof cnt, json_integer_value(json_object_get(r, "n")));
        td__doc_kv(&d, str(r, "status"), cnt);
    }
    return td__doc_close(&d, pdf, len, err);
}
