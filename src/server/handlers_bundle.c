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
