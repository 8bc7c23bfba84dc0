/*
 * desk_open.h - how `verify` and `user` find the desk: the same defaults
 * and environment as `serve` (--db, else $THREATDESK_DB, else
 * threatdesk.db; --data-dir, else $THREATDESK_DATA_DIR, else
 * threatdesk-data), so the three commands agree on one installation.
 */
#ifndef TD_CLI_DESK_OPEN_H
#define TD_CLI_DESK_OPEN_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threatdesk/desk.h"

static inline const char *td_cli_db(const char *opt)
{
    const char *e = getenv("THREATDESK_DB");
    return opt ? opt : e && *e ? e : "threatdesk.db";
}

/* 1 when db names a store file that is not there (opening would create
 * an empty one, which verifies trivially).  A postgres:// URL names a
 * database that must exist already to connect at all: never missing
 * here, the connection says. */
static inline int td_cli_store_missing(const char *db)
{
    if (!strncmp(db, "postgres://", 11) || !strncmp(db, "postgresql://", 13))
        return 0;
    if (!strncmp(db, "sqlite:", 7))
        db += 7;
    return access(db, R_OK) != 0;
}

static inline const char *td_cli_data_dir(const char *opt)
{
    const char *e = getenv("THREATDESK_DATA_DIR");
    return opt ? opt : e && *e ? e : "threatdesk-data";
}

/* Open the desk from --db, --data-dir and --home (each NULL for the
 * default above); on failure prints the error as "threatdesk <cmd>: ..."
 * and returns nonzero.  The caller closes *d (td_desk_close). */
int td_cli_open_desk(const char *cmd, const char *db, const char *data_dir, const char *home,
                     struct td_desk **d);

#endif
