/*
 * cmd_migrate.c - `threatdesk migrate --from sqlite:office.db --to
 * postgres://...`: move an SQLite store's offices (or one, --office) into
 * a PostgreSQL store, ids and audit hashes unchanged (threatdesk/migrate.h).
 *
 * Order, so that nothing unverified or half-copied ever reaches the
 * target:
 *   1. verify the source with the desk's verify (the code `threatdesk
 *      verify` runs): a store that does not verify is not copied - once
 *      in PostgreSQL its append-only chain could not be taken back out;
 *   2. open the target once as a desk, which applies the PostgreSQL
 *      migrations (run as the owner role);
 *   3. copy in one transaction; evidence files are copied into the
 *      target's data directory before it commits;
 *   4. verify the target (the same code on postgres://) and report how
 *      many entries were checked: exit 1 when it does not verify.
 * Exit 0 copied and verified, 1 a verify failed, 2 usage or copy error
 * (nothing copied).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/desk_open.h"
#include "threatdesk/desk.h"
#include "threatdesk/migrate.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: threatdesk migrate --from sqlite:PATH --to postgres://... [--office NAME]\n"
        "                          [--data-dir DIR] [--to-data-dir DIR] [--rechain] [--home DIR]\n"
        "  copies every office of an SQLite store (or one) into a PostgreSQL store at the\n"
        "  same schema version, ids and audit hashes unchanged, in one transaction;\n"
        "  verifies the source first and the target after.  Evidence files are copied\n"
        "  from --data-dir into --to-data-dir (default: the same directory, nothing to\n"
        "  copy).  An office whose audit entries are interleaved with another's (one\n"
        "  SQLite chain per file, one PostgreSQL chain per office) is refused unless\n"
        "  --rechain: then its entries are re-hashed in a chain of its own, ending in\n"
        "  an entry naming the verified source head.\n"
        "  Exit 0 copied and verified, 1 a verify failed, 2 error\n");
}

static int print_problem(void *ud, const struct td_verify_problem *p)
{
    printf("%s: BROKEN %s %" PRId64 ": %s\n", (const char *)ud, p->kind, p->id, p->what);
    if (p->expected[0] || p->found[0])
        printf("  expected: %s\n  found:    %s\n", p->expected, p->found);
    return 0;
}

/* Verify one store; -1 on error (printed), else its problem count. */
static long verify(const char *db, const char *data, const char *home, const char *side,
                   struct td_verify_stats *st)
{
    struct td_desk *d = NULL;
    struct td_error err;
    td_error_clear(&err);
    if (td_cli_open_desk("migrate", db, data, home, &d))
        return -1;
    int rc = td_desk_verify(d, print_problem, (void *)side, st, &err);
    td_desk_close(d);
    if (rc) {
        td_cli_error("migrate", &err);
        return -1;
    }
    return (long)st->problems;
}

struct evidence_copy {
    const char *from, *to;
    size_t copied;
};

/* Copy <from>/evidence/ab/cdef... to the same name under <to>: write a
 * temporary file, fsync, rename (as the desk stores evidence).  A file
 * already there is left: names are content hashes, and the target's
 * verify re-hashes every file anyway. */
static int copy_evidence(void *ud, const char *sha, struct td_error *err)
{
    struct evidence_copy *ec = ud;
    char src[4096], dir[4096], dst[4200], tmp[4300];
    if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
        return td_error_set(err, TD_EPARSE, "evidence row with a malformed sha256");
    /* a data directory path this long would be cut short: refuse it */
    if (strlen(ec->from) > 3900 || strlen(ec->to) > 3900)
        return td_error_set(err, TD_ETOOBIG, "data directory path too long");
    snprintf(src, sizeof src, "%s/evidence/%.2s/%s", ec->from, sha, sha + 2);
    snprintf(dir, sizeof dir, "%s/evidence", ec->to);
    if (mkdir(ec->to, 0700) && errno != EEXIST)
        return td_error_set(err, TD_EIO, "%s: %s", ec->to, strerror(errno));
    if (mkdir(dir, 0700) && errno != EEXIST)
        return td_error_set(err, TD_EIO, "%s: %s", dir, strerror(errno));
    snprintf(dir, sizeof dir, "%s/evidence/%.2s", ec->to, sha);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return td_error_set(err, TD_EIO, "%s: %s", dir, strerror(errno));
    snprintf(dst, sizeof dst, "%s/%s", dir, sha + 2);
    if (access(dst, F_OK) == 0)
        return TD_OK;
    snprintf(tmp, sizeof tmp, "%s.migrate-%ld", dst, (long)getpid());
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return td_error_set(err, TD_EIO, "evidence file %s: %s", src, strerror(errno));
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return td_error_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    }
    char buf[65536];
    ssize_t n;
    int rc = TD_OK;
    while ((n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; off < n && !rc;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0)
                rc = td_error_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
            else
                off += w;
        }
    if (!rc && n < 0)
        rc = td_error_set(err, TD_EIO, "%s: %s", src, strerror(errno));
    if (!rc && fsync(out) != 0)
        rc = td_error_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    close(in);
    if (close(out) != 0 && !rc)
        rc = td_error_set(err, TD_EIO, "%s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, dst) != 0)
        rc = td_error_set(err, TD_EIO, "%s: %s", dst, strerror(errno));
    if (rc)
        unlink(tmp);
    else
        ec->copied++;
    return rc;
}

int td_cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"office", required_argument, NULL, 'o'},
        {"data-dir", required_argument, NULL, 'D'},
        {"to-data-dir", required_argument, NULL, 'T'},
        {"home", required_argument, NULL, 'H'},
        {"rechain", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL, *office = NULL, *data = NULL, *to_data = NULL,
               *home = NULL;
    int c, rechain = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'o':
            office = optarg;
            break;
        case 'D':
            data = optarg;
            break;
        case 'T':
            to_data = optarg;
            break;
        case 'H':
            home = optarg;
            break;
        case 'r':
            rechain = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !from || !to) {
        usage(stderr);
        return 2;
    }
    if (strncmp(to, "postgres://", 11) && strncmp(to, "postgresql://", 13)) {
        td_cli_fail("migrate", "--to must be a postgres:// URL");
        return 2;
    }
    if (!strncmp(from, "postgres://", 11) || !strncmp(from, "postgresql://", 13)) {
        td_cli_fail("migrate", "--from must be an SQLite store (sqlite:PATH)");
        return 2;
    }
    if (td_cli_store_missing(from)) {
        td_cli_fail("migrate", "%s: no such store", from);
        return 2;
    }
    data = td_cli_data_dir(data);
    if (!to_data)
        to_data = data;

    struct td_verify_stats st;
    long bad = verify(from, data, home, "source", &st);
    if (bad < 0)
        return 2;
    if (bad > 0) {
        td_cli_fail("migrate", "the source does not verify (%ld problem%s): nothing copied", bad,
                    bad == 1 ? "" : "s");
        return 1;
    }
    printf("source: %zu audit entries, %zu rows, %zu evidence files verified\n", st.audit_entries,
           st.rows, st.evidence_files);

    /* Opening the target as a desk applies the PostgreSQL migrations. */
    struct td_desk *d = NULL;
    if (td_cli_open_desk("migrate", to, to_data, home, &d))
        return 2;
    td_desk_close(d);

    struct evidence_copy ec = {data, to_data, 0};
    struct td_migrate_stats ms;
    struct td_error err;
    td_error_clear(&err);
    struct td_migrate_opts mo = {office, rechain ? td_desk_audit_hash : NULL, NULL, &ec};
    /* Same directory (a shared filesystem): the files are already there. */
    if (strcmp(data, to_data))
        mo.evidence = copy_evidence;
    if (td_migrate_sqlite_to_pg(from, to, &mo, &ms, &err) != TD_OK) {
        td_cli_error("migrate", &err);
        return 2;
    }
    printf("copied: %zu office%s, %zu rows (%zu audit entries, %zu re-chained; %zu evidence "
           "rows, %zu files copied)\n",
           ms.offices, ms.offices == 1 ? "" : "s", ms.rows, ms.audit_entries, ms.rechained,
           ms.evidence, ec.copied);

    bad = verify(to, to_data, home, "target", &st);
    if (bad < 0)
        return 2;
    printf("target: audit: %zu entries checked; rows: %zu; evidence: %zu files\n", st.audit_entries,
           st.rows, st.evidence_files);
    if (bad > 0) {
        printf("migrate: the target does not verify (%ld problem%s)\n", bad, bad == 1 ? "" : "s");
        return 1;
    }
    printf("migrate: copied and verified\n");
    return 0;
}
