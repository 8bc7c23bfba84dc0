/*
 * handlers_bundle.c - files the desk hands out whole: the police evidence
 * bundle of a case (bundle.h).
 *
 * The file is written to an anonymous temporary file under the data
 * directory (unlinked at once, so nothing is left behind by a crash or a
 * client that goes away) and streamed from there by libmicrohttpd: memory
 * stays bounded whatever the evidence weighs, and the desk's lock is not
 * held while a slow client downloads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server_int.h"
#include "threatdesk/bundle.h"
#include "threatdesk/desk_export.h"
#include "threatdesk/report.h"
#include "threatdesk/taxonomy.h"

int td__temp_fd(struct td_server *s, struct td_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/.export-XXXXXX", s->cfg.data_dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        td_error_set(err, TD_EIO, "temporary file: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    return fd;
}

/* Hand a finished temporary file to the reply. */
static void reply_file(struct td__req *r, int fd, uint64_t len, const char *type,
                       const char *filename)
{
    r->has_file = 1;
    r->file_fd = fd;
    r->file_len = len;
    r->raw_type = type;
    snprintf(r->disposition, sizeof r->disposition, "attachment; filename=\"%s\"", filename);
    r->status = 200;
}

void td__h_case_bundle(struct td__req *r)
{
    struct td_error err;
    struct td_bundle_info info;
    char name[64];
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int fd = td__temp_fd(r->srv, &err);
    if (fd < 0) {
        td__reply_td_error(r, TD_EIO, &err);
        return;
    }
    int rc = td_bundle_write(r->srv->desk, &r->actor, id, fd, &info, &err);
    if (rc) {
        close(fd);
        td__reply_td_error(r, rc, &err);
        return;
    }
    snprintf(name, sizeof name, "threatdesk-case-%" PRId64 ".tar", id);
    reply_file(r, fd, info.bytes, "application/x-tar", name);
}

/* ---- CSV reports ----------------------------------------------------------
 *   GET /v1/queue.csv?status=&label=&severity=&channel=&sender=&from=&to=
 *   GET /v1/cases.csv?status=&type=&assignee=
 * The same filters as /v1/queue and /v1/cases, every matching row (no
 * pages).  Rows stream from the store into the temporary file; the reply
 * streams from there. */

struct csv_out {
    FILE *f;
    int queue;
    int failed;
    struct td_error err;
};

static int csv_row(void *ud, const json_t *row)
{
    struct csv_out *o = ud;
    int rc = o->queue ? td_report_queue_csv_row(o->f, row, &o->err)
                      : td_report_cases_csv_row(o->f, row, &o->err);
    o->failed |= rc != TD_OK;
    return rc != TD_OK;
}

static void csv_reply(struct td__req *r, int queue, const struct td_queue_filter *q,
                      const struct td_case_filter *cf)
{
    struct csv_out o = {NULL, queue, 0, {0}};
    td_error_clear(&o.err);
    int fd = td__temp_fd(r->srv, &o.err);
    if (fd < 0 || !(o.f = fdopen(fd, "w+"))) {
        if (fd >= 0)
            close(fd);
        td__reply_td_error(r, TD_EIO, &o.err);
        return;
    }
    int rc =
        queue ? td_report_queue_csv_header(o.f, &o.err) : td_report_cases_csv_header(o.f, &o.err);
    if (!rc)
        rc = queue ? td_desk_queue_export(r->srv->desk, &r->actor, q, csv_row, &o, &o.err)
                   : td_desk_case_rows(r->srv->desk, &r->actor, cf, csv_row, &o, &o.err);
    if (!rc && (o.failed || fflush(o.f) != 0))
        rc = td_error_set(&o.err, TD_EIO, "CSV: write failed");
    off_t len = rc ? 0 : ftello(o.f);
    int keep = rc ? -1 : dup(fileno(o.f));
    fclose(o.f);
    if (rc || keep < 0 || len < 0) {
        if (keep >= 0)
            close(keep);
        td__reply_td_error(r, rc ? rc : TD_EIO, &o.err);
        return;
    }
    reply_file(r, keep, (uint64_t)len, "text/csv; charset=utf-8",
               queue ? "threatdesk-queue.csv" : "threatdesk-cases.csv");
}

void td__h_queue_csv(struct td__req *r)
{
    struct td_queue_filter f;
    if (td__queue_filter_query(r, &f))
        csv_reply(r, 1, &f, NULL);
}

void td__h_cases_csv(struct td__req *r)
{
    struct td_case_filter f;
    if (td__case_filter_query(r, &f))
        csv_reply(r, 0, NULL, &f);
}
