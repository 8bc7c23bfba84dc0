/*
 * migrations.h - inside the store module: the migration files of one
 * backend, <home>/data/migrations/<backend>/NNNN_name.sql, listed in number
 * order and read whole.  Both runners (sqlite.c, pg_conn.c) apply every
 * file not yet recorded, in this order; what "recorded" means and how a
 * file is run is theirs.
 */
#ifndef TD_STORE_MIGRATIONS_H
#define TD_STORE_MIGRATIONS_H

#include <stddef.h>

#include "threatdesk/buf.h"
#include "threatdesk/error.h"

#define TD__MIGRATIONS_MAX 256
#define TD__MIGRATION_BYTES_MAX (1u << 20)

struct td__migrations {
    char dir[1200];
    char *names[TD__MIGRATIONS_MAX]; /* owned, sorted */
    size_t n;
};

/* NNNN_name.sql -> NNNN; -1 when the name does not have that shape. */
long td__migration_number(const char *name);

/* List the files of <home>/data/migrations/<backend>; other names are
 * ignored.  TD_EIO naming the folder when it cannot be read, TD_ETOOBIG
 * past TD__MIGRATIONS_MAX.  Release with td__migrations_free (also after
 * a failure). */
int td__migrations_list(const char *home, const char *backend, struct td__migrations *m,
                        struct td_error *err);
void td__migrations_free(struct td__migrations *m);

/* The i-th file's text into b (reset first), NUL-terminated for the
 * runners' exec; the error names the file. */
int td__migration_read(const struct td__migrations *m, size_t i, struct td_buf *b, char *path,
                       size_t path_size, struct td_error *err);

#endif
