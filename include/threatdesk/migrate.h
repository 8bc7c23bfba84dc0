/*
 * migrate.h - copy an SQLite store's offices into a PostgreSQL store
 * (`threatdesk migrate`, issue 11).
 *
 * The two schemas mirror each other column for column (docs/postgres.md),
 * so rows are copied unchanged, ids included: audit entries hash object
 * ids, and a renumbered row would no longer be the row its entries vouch
 * for.  The audit chain is copied with its hashes unchanged where that is
 * possible: for an office whose entries form a chain of their own in the
 * source (SQLite keeps one chain per file, PostgreSQL one per office) -
 * entries 1..n all of that office - and which has no chain in the target
 * yet.  Otherwise (a store of several offices, or operator entries of
 * office 0 - failed logins of unknown names - between an office's own) the
 * copy is refused (TD_EFORMAT), unless the caller asks to re-chain: then
 * the office's entries are renumbered 1..k in order and re-hashed with the
 * desk's hash, after the head of any chain the target already has for it
 * (office 0), and a last entry "store.migrate" records the source chain's
 * head id and hash, which the source's verify vouched for.
 *
 * The library never verifies here: the caller runs td_desk_verify on the
 * source before and on the target after (cli/cmd_migrate.c).
 */
#ifndef TD_MIGRATE_H
#define TD_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/error.h"
#include "threatdesk/store.h" /* struct td_audit_entry */

#ifdef __cplusplus
extern "C" {
#endif

struct td_migrate_stats {
    size_t offices;       /* offices copied */
    size_t rows;          /* rows copied, audit entries included */
    size_t audit_entries; /* of which audit entries */
    size_t evidence;      /* evidence rows (each reported to the callback) */
    size_t rechained;     /* audit entries re-hashed (0 unless opts.rechain) */
};

/* Called once per evidence row copied, with its hex SHA-256 (the file's
 * name in the evidence layout), before the copy commits: a nonzero return
 * (with err filled) rolls the whole copy back. */
typedef int td_migrate_evidence_cb(void *ud, const char *sha256, struct td_error *err);

/* The desk's audit hash (td_desk_audit_hash in threatdesk/desk.h). */
typedef int td_migrate_hash_fn(const struct td_audit_entry *e, char out[65]);

struct td_migrate_opts {
    const char *office;               /* one office's name; NULL: all, with office 0's entries */
    td_migrate_hash_fn *rechain;      /* NULL: keep every hash or refuse; else re-chain with it */
    td_migrate_evidence_cb *evidence; /* may be NULL */
    void *ud;                         /* for evidence */
};

/* Copy the offices of the SQLite store at sqlite_path (opened read-only;
 * "sqlite:" prefix allowed) into the PostgreSQL store at pg_url, which
 * must already be migrated to the same schema version (open it once with
 * td_store_open as its owner).  Everything is copied in ONE transaction:
 * on any failure nothing is left in the target, and err names the table
 * and row.  TD_EEXISTS: the target already holds an office of that name
 * (or its id); TD_ENOTFOUND: no such office in the source; TD_EFORMAT:
 * schema versions or columns differ, or an office's audit entries cannot
 * keep their hashes and opts->rechain is NULL; TD_ESTORE and others: what
 * the databases said.  Run as the role that owns the tables (identities
 * are moved past the highest copied id).  stats may be NULL.  Without
 * PostgreSQL support: TD_EFORMAT. */
int td_migrate_sqlite_to_pg(const char *sqlite_path, const char *pg_url,
                            const struct td_migrate_opts *opts, struct td_migrate_stats *stats,
                            struct td_error *err);

#ifdef __cplusplus
}
#endif

#endif
