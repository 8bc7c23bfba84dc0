/*
 * migrate.h - copy an SQLite store's offices into a PostgreSQL store
 * (`threatdesk migrate`, issue 11).
 *
 * The two schemas mirror each other column for column (docs/postgres.md),
 * so rows are copied unchanged, ids included: audit entries hash object
 * ids, and a renumbered row would no longer be the row its entries vouch
 * for.  The audit chain is copied with its hashes unchanged, which is only
 * possible for an office whose entries form a chain of their own in the
 * source (SQLite keeps one chain per file, PostgreSQL one per office):
 * entries 1..n all of that office.  An office whose entries are
 * interleaved with another's is refused (TD_EFORMAT) rather than
 * re-hashed, since a rewritten chain vouches for nothing.
 *
 * The library never verifies here: the caller runs td_desk_verify on the
 * source before and on the target after (cli/cmd_migrate.c).
 */
#ifndef TD_MIGRATE_H
#define TD_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct td_migrate_stats {
    size_t offices;       /* offices copied */
    size_t rows;          /* rows copied, audit entries included */
    size_t audit_entries; /* of which audit entries */
    size_t evidence;      /* evidence rows (each reported to the callback) */
};

/* Called once per evidence row copied, with its hex SHA-256 (the file's
 * name in the evidence layout), before the copy commits: a nonzero return
 * (with err filled) rolls the whole copy back. */
typedef int td_migrate_evidence_cb(void *ud, const char *sha256, struct td_error *err);

/* Copy the offices of the SQLite store at sqlite_path (opened read-only;
 * "sqlite:" prefix allowed) into the PostgreSQL store at pg_url, which
 * must already be migrated to the same schema version (open it once with
 * td_store_open as its owner).  office: one office's name, or NULL for
 * all.  Everything is copied in ONE transaction: on any failure nothing
 * is left in the target, and err names the table and row.
 * TD_EEXISTS: the target already holds an office of that name;
 * TD_ENOTFOUND: no such office in the source; TD_EFORMAT: schema versions
 * or columns differ, or an office's audit entries are not a chain of their
 * own; TD_ESTORE and others: what the databases said.  Run as the role
 * that owns the tables (identities are moved past the highest copied id).
 * stats may be NULL.  Without PostgreSQL support: TD_EFORMAT. */
int td_migrate_sqlite_to_pg(const char *sqlite_path, const char *pg_url, const char *office,
                            td_migrate_evidence_cb *evidence, void *ud,
                            struct td_migrate_stats *stats, struct td_error *err);

#ifdef __cplusplus
}
#endif

#endif
