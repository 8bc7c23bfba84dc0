/*
 * desk_open.h - how `verify` and `user` find the desk: the same defaults
 * and environment as `serve` (--db, else $THREATDESK_DB, else
 * threatdesk.db; --data-dir, else $THREATDESK_DATA_DIR, else
 * threatdesk-data), so the three commands agree on one installation.
 */
#ifndef TD_CLI_DESK_OPEN_H
#define TD_CLI_DESK_OPEN_H

#include <stdlib.h>

#include "threatdesk/desk.h"

static inline const char *td_cli_db(const char *opt)
{
    const char *e = getenv("THREATDESK_DB");
    return opt ? opt : e && *e ? e : "threatdesk.db";
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
