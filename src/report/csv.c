/*
 * csv.c - CSV exports of the queue and of cases (report.h): RFC 4180
 * quoting and the spreadsheet formula-injection defence, one row at a
 * time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report/report_int.h"
#include "threatdesk/taxonomy.h"

static int cell(FILE *f, const char *s)
{
    if (!s)
        s = "";
    /* A leading = + - @ TAB CR makes a spreadsheet evaluate the cell. */
    int formula = strchr("=+-@\t\r", s[0]) && s[0];
    int quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    if (quote && fputc('"', f) == EOF)
        return -1;
    if (formula && fputc('\'', f) == EOF)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p == '"' && fputc('"', f) == EOF)
            return -1;
        if (fputc(*p, f) == EOF)
            return -1;
    }
    return quote && fputc('"', f) == EOF ? -1 : 0;
}

int td_csv_row(FILE *f, const char *const *cells, size_t n, struct td_error *err)
{
    for (size_t i = 0; i < n; i++)
        if ((i && fputc(',', f) == EOF) || cell(f, cells[i]) != 0)
            return td_error_set(err, TD_EIO, "CSV: write failed");
    if (fputs("\r\n", f) == EOF)
        return td_error_set(err, TD_EIO, "CSV: write failed");
    return TD_OK;
}

static void iso(const json_t *v, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)json_integer_value(v);
    if (!json_is_integer(v) || !gmtime_r(&t, &tm)) {
        buf[0] = '\0';
        return;
    }
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Strings of a JSON array joined by ';'. */
static void joined(const json_t *a, char *buf, size_t size)
{
    size_t i, n = 0;
    json_t *x;
    buf[0] = '\0';
    json_array_foreach(a, i, x)
    {
        int k = json_is_string(x)
                    ? snprintf(buf + n, size - n, "%s%s", i ? ";" : "", json_string_value(x))
                : json_is_integer(x) ? snprintf(buf + n, size - n, "%s%" JSON_INTEGER_FORMAT,
                                                i ? ";" : "", json_integer_value(x))
                                     : 0;
        if (k < 0 || (size_t)k >= size - n)
            break;
        n += (size_t)k;
    }
}

#define QUEUE_COLS (11 + TD_LABEL_COUNT)

int td_report_queue_csv_header(FILE *f, struct td_error *err)
{
    const char *h[QUEUE_COLS] = {"id",          "received", "channel", "sender",
                                 "sender_name", "subject",  "tier",    "labels"};
    size_t n = 8;
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        h[n++] = td_label_name(l);
    h[n++] = "flags";
    h[n++] = "status";
    h[n++] = "status_reason";
    /* cases, message_id and reason follow */
    const char *tail[] = {"cases", "message_id", "reason"};
    const char *all[QUEUE_COLS + 3];
    memcpy(all, h, n * sizeof *h);
    memcpy(all + n, tail, sizeof tail);
    return td_csv_row(f, all, n + 3, err);
}

int td_report_queue_csv_row(FILE *f, const json_t *row, struct td_error *err)
{
    char id[32], rec[32], labels[200], flags[400], probs[TD_LABEL_COUNT][32], cases[400];
    const char *c[QUEUE_COLS + 3];
    size_t n = 0;
    snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(row, "id")));
    iso(json_object_get(row, "received"), rec, sizeof rec);
    joined(json_object_get(row, "predicted"), labels, sizeof labels);
    joined(json_object_get(row, "flags"), flags, sizeof flags);
    c[n++] = id;
    c[n++] = rec;
    c[n++] = s(row, "channel");
    c[n++] = s(row, "sender");
    c[n++] = s(row, "sender_name");
    c[n++] = s(row, "subject");
    c[n++] = s(row, "severity");
    c[n++] = labels;
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        json_t *p = json_object_get(json_object_get(row, "labels"), td_label_name(l));
        if (p)
            snprintf(probs[l], sizeof probs[l], "%.4f", json_number_value(p));
        else
            probs[l][0] = '\0';
        c[n++] = probs[l];
    }
    c[n++] = flags;
    c[n++] = s(row, "status");
    c[n++] = s(row, "status_reason");
    /* "cases" comes from the store as space-separated ids */
    snprintf(cases, sizeof cases, "%s", s(row, "cases") ? s(row, "cases") : "");
    for (char *p = cases; *p; p++)
        if (*p == ' ')
            *p = ';';
    c[n++] = cases;
    c[n++] = s(row, "message_id");
    c[n++] = s(row, "reason");
    return td_csv_row(f, c, n, err);
}

int td_report_cases_csv_header(FILE *f, struct td_error *err)
{
    static const char *h[] = {"id",       "created",    "type",        "status",     "title",
                              "occurred", "police_ref", "assignee",    "created_by", "updated",
                              "messages", "evidence",   "constituency"};
    return td_csv_row(f, h, sizeof h / sizeof h[0], err);
}

int td_report_cases_csv_row(FILE *f, const json_t *row, struct td_error *err)
{
    char id[32], cr[32], oc[32], up[32], nm[32], ne[32];
    snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(row, "id")));
    snprintf(nm, sizeof nm, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(row, "messages")));
    snprintf(ne, sizeof ne, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(row, "evidence")));
    iso(json_object_get(row, "created"), cr, sizeof cr);
    iso(json_object_get(row, "occurred"), oc, sizeof oc);
    iso(json_object_get(row, "updated"), up, sizeof up);
    const char *c[] = {id,
                       cr,
                       s(row, "type"),
                       s(row, "status"),
                       s(row, "title"),
                       oc,
                       s(row, "police_ref"),
                       s(row, "assignee"),
                       s(row, "created_by"),
                       up,
                       nm,
                       ne,
                       s(json_object_get(row, "place"), "constituency")};
    return td_csv_row(f, c, sizeof c / sizeof c[0], err);
}
