/*
 * test_desk_audit.c - the hash-chained audit log and evidence hashes.
 *
 * The attacker here has the sqlite3 shell (psql as a superuser on
 * PostgreSQL, pg/test_desk_audit): drops the append-only triggers and edits
 * or deletes rows, or edits an evidence file on disk.  verify must name
 * what was broken.  On PostgreSQL the chain is the office's (one per
 * office) and an entry's place in it is the column seq.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "desk/desk_int.h"
#include "unit/desk_fixture.h"

struct world {
    struct fx f;
    struct td_actor cw;
    int64_t case_id, ev_id;
    char ev_sha[65];
};

struct found {
    int n;
    struct td_verify_problem p[16];
};

static int collect(void *ud, const struct td_verify_problem *p)
{
    struct found *f = ud;
    if (f->n < 16)
        f->p[f->n++] = *p;
    return 0;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct td_error err;
    td_error_clear(&err);
    fx_open(&w->f);
    fx_actor(&w->f, "office-a", "cw", TD_ROLE_CASEWORKER, &w->cw);
    fx_ingest(&w->f, &w->cw, "you will be smashed and killed within days", "post:anon", "m1");
    fx_ingest(&w->f, &w->cw, "we know where your kids go to school", "post:anon", "m2");
    json_t *c = json_pack("{s:s, s:s}", "type", "online_threat", "title", "letters");
    assert_int_equal(td_desk_case_create(w->f.d, &w->cw, c, &w->case_id, &err), TD_OK);
    json_decref(c);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->cw, w->case_id, "letter.png", "image/png",
                                          "PNG bytes of a letter", 21, &w->ev_id, w->ev_sha, &err),
                     TD_OK);
    assert_int_equal(
        td_desk_case_note(w->f.d, &w->cw, w->case_id, "police informed", 0, NULL, &err), TD_OK);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    fx_close(&w->f);
    free(w);
    return 0;
}

/* Run SQL as the attacker with the sqlite3 shell would (0: it ran).  The
 * few words that differ on PostgreSQL are translated: a trigger is
 * dropped ON its table, and an audit entry is found by its place in the
 * office's chain (seq), which is what verify reports. */
static int attacker(struct world *w, const char *sql)
{
    char pg[4096];
    if (!w->f.pgdb[0])
        return fx_sql(&w->f, sql);
    size_t o = 0;
    for (const char *p = sql; *p && o + 64 < sizeof pg;) {
        static const char *const from[] = {"DROP TRIGGER audit_no_update;",
                                           "DROP TRIGGER audit_no_delete;",
                                           "audit WHERE id =", "SELECT max(id) FROM audit"};
        static const char *const to[] = {"DROP TRIGGER audit_no_update ON audit;",
                                         /* one trigger for both there */
                                         "DROP TRIGGER audit_no_update ON audit;",
                                         "audit WHERE seq =", "SELECT max(seq) FROM audit"};
        size_t i;
        for (i = 0; i < 4; i++)
            if (!strncmp(p, from[i], strlen(from[i])))
                break;
        if (i < 4) {
            o += (size_t)snprintf(pg + o, sizeof pg - o, "%s", to[i]);
            p += strlen(from[i]);
        } else {
            pg[o++] = *p++;
        }
    }
    pg[o] = '\0';
    return fx_sql(&w->f, pg);
}

static size_t verify(struct world *w, struct found *fd)
{
    struct td_verify_stats st;
    struct td_error err;
    td_error_clear(&err);
    memset(fd, 0, sizeof *fd);
    assert_int_equal(td_desk_verify(w->f.d, collect, fd, &st, &err), TD_OK);
    return st.problems;
}

static void test_intact_chain_verifies(void **state)
{
    struct world *w = *state;
    struct td_verify_stats st;
    struct td_error err;
    struct found fd = {0};
    td_error_clear(&err);
    assert_int_equal(td_desk_verify(w->f.d, collect, &fd, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
    assert_int_equal(fd.n, 0);
    /* users, keys, 2 messages, case, evidence, note: at least 7 entries */
    assert_true(st.audit_entries >= 7);
    assert_int_equal(st.evidence_files, 1);
    assert_int_equal(strlen(st.head_hash), 64);
    assert_int_equal((int64_t)st.audit_entries, st.head_id);
}

static void test_triggers_refuse_update_and_delete(void **state)
{
    struct world *w = *state;
    struct found fd;
    assert_int_not_equal(attacker(w, "UPDATE audit SET details = '{}' WHERE id = 2"), SQLITE_OK);
    assert_int_not_equal(attacker(w, "DELETE FROM audit WHERE id = 2"), SQLITE_OK);
    assert_int_equal(verify(w, &fd), 0);
}

static void test_altered_row_is_named(void **state)
{
    struct world *w = *state;
    struct found fd;
    assert_int_equal(attacker(w, "DROP TRIGGER audit_no_update;"
                                 "UPDATE audit SET details = '{\"name\":\"someone else\"}' "
                                 "WHERE id = 3"),
                     SQLITE_OK);
    assert_int_equal(verify(w, &fd), 1);
    assert_string_equal(fd.p[0].kind, "audit");
    assert_int_equal(fd.p[0].id, 3);
    assert_non_null(strstr(fd.p[0].what, "altered"));
    assert_string_not_equal(fd.p[0].expected, fd.p[0].found);
}

/* A smarter attacker also recomputes the altered entry's own hash: the
 * next entry's link gives it away. */
static void test_rehashed_row_breaks_the_next_link(void **state)
{
    struct world *w = *state;
    struct found fd;
    struct td_audit_entry e;
    char sql[512], row[512];
    /* the entry's fields, '|'-separated (the same SQL on both backends) */
    snprintf(sql, sizeof sql,
             "SELECT %s || '|' || time || '|' || office_id || '|' || user_id || '|' || action || "
             "'|' || object_type || '|' || object_id || '|' || prev_hash FROM audit WHERE %s = 4",
             w->f.pgdb[0] ? "seq" : "id", w->f.pgdb[0] ? "seq" : "id");
    assert_int_equal(fx_sql_text(&w->f, sql, row, sizeof row), 0);
    memset(&e, 0, sizeof e);
    long long id, tm, off, user, obj;
    char action[64], type[32], prev[65];
    assert_int_equal(sscanf(row, "%lld|%lld|%lld|%lld|%63[^|]|%31[^|]|%lld|%64s", &id, &tm, &off,
                            &user, action, type, &obj, prev),
                     8);
    e.id = id;
    e.time = tm;
    e.office_id = off;
    e.user_id = user;
    snprintf(e.action, sizeof e.action, "%s", action);
    snprintf(e.object_type, sizeof e.object_type, "%s", type);
    e.object_id = obj;
    snprintf(e.prev_hash, sizeof e.prev_hash, "%s", prev);
    e.details = "{\"forged\":true}";
    assert_int_equal(td__audit_hash(&e, e.hash), TD_OK);
    snprintf(sql, sizeof sql,
             "DROP TRIGGER audit_no_update; UPDATE audit SET details = '%s', hash = '%s' "
             "WHERE id = 4",
             e.details, e.hash);
    assert_int_equal(attacker(w, sql), 0);
    /* the link break, and message 1 (whose ingest entry 4 no longer
     * vouches for it) */
    assert_int_equal(verify(w, &fd), 2);
    assert_int_equal(fd.p[0].id, 5);
    assert_non_null(strstr(fd.p[0].what, "prev_hash"));
    assert_string_equal(fd.p[1].kind, "message");
    assert_int_equal(fd.p[1].id, 1);
    /* the chain now says entry 4 hashes to the forgery; entry 5 still
     * links to the original */
    assert_string_equal(fd.p[0].expected, e.hash);
    assert_string_not_equal(fd.p[0].found, e.hash);
}

static void test_deleted_row_is_named(void **state)
{
    struct world *w = *state;
    struct found fd;
    assert_int_equal(attacker(w, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 4"),
                     SQLITE_OK);
    assert_true(verify(w, &fd) >= 1);
    assert_int_equal(fd.p[0].id, 5);
    assert_non_null(strstr(fd.p[0].what, "missing"));
}

static void test_deleted_tail_is_noticed(void **state)
{
    struct world *w = *state;
    struct found fd;
    assert_int_equal(attacker(w, "DROP TRIGGER audit_no_delete;"
                                 "DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)"),
                     SQLITE_OK);
    /* the gap at the end, and the note the lost entry recorded */
    assert_int_equal(verify(w, &fd), 2);
    assert_non_null(strstr(fd.p[0].what, "missing at the end"));
    assert_string_equal(fd.p[1].kind, "note");
    assert_non_null(strstr(fd.p[1].what, "not in the audit log"));
}

/* The whole log deleted: nothing to walk, yet the store remembers how far
 * it went (sqlite_sequence; audit_heads per office on PostgreSQL). */
static void test_deleted_log_is_noticed(void **state)
{
    struct world *w = *state;
    struct found fd;
    assert_int_equal(attacker(w, "DROP TRIGGER audit_no_delete; DELETE FROM audit"), 0);
    assert_true(verify(w, &fd) >= 1);
    assert_string_equal(fd.p[0].kind, "audit");
    assert_int_equal(fd.p[0].id, 1);
    assert_non_null(strstr(fd.p[0].what, "missing at the end"));
}

static void evidence_file(struct world *w, char *path, size_t size)
{
    snprintf(path, size, "%s/evidence/%.2s/%s", w->f.data, w->ev_sha, w->ev_sha + 2);
}

static void test_altered_evidence_is_named(void **state)
{
    struct world *w = *state;
    struct found fd;
    struct td_error err;
    char path[512];
    void *data = NULL;
    size_t len;
    td_error_clear(&err);
    evidence_file(w, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fputc('X', f); /* one byte */
    fclose(f);
    assert_int_equal(verify(w, &fd), 1);
    assert_string_equal(fd.p[0].kind, "evidence");
    assert_int_equal(fd.p[0].id, w->ev_id);
    assert_string_equal(fd.p[0].expected, w->ev_sha);
    /* and reading it back refuses the altered bytes */
    assert_int_equal(td_desk_evidence_get(w->f.d, &w->cw, w->ev_id, NULL, &data, &len, &err),
                     TD_ECRYPTO);
    assert_null(data);
}

static void test_missing_evidence_is_named(void **state)
{
    struct world *w = *state;
    struct found fd;
    char path[512];
    evidence_file(w, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(verify(w, &fd), 1);
    assert_int_equal(fd.p[0].id, w->ev_id);
    assert_non_null(strstr(fd.p[0].what, "missing"));
}

/* The same bytes twice share one file; verify counts both rows. */
static void test_evidence_is_content_addressed(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_verify_stats st;
    char sha[65];
    int64_t id2;
    td_error_clear(&err);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->cw, w->case_id, "copy.png", NULL,
                                          "PNG bytes of a letter", 21, &id2, sha, &err),
                     TD_OK);
    assert_string_equal(sha, w->ev_sha);
    assert_int_not_equal(id2, w->ev_id);
    /* sha256("PNG bytes of a letter") computed independently */
    char want[65];
    td__sha256_hex("PNG bytes of a letter", 21, want);
    assert_string_equal(sha, want);
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.evidence_files, 2);
    assert_int_equal(st.problems, 0);
}

/* Has a problem of this kind, id and wording been reported? */
static int named(const struct found *fd, const char *kind, int64_t id, const char *what)
{
    for (int i = 0; i < fd->n; i++)
        if (!strcmp(fd->p[i].kind, kind) && fd->p[i].id == id && strstr(fd->p[i].what, what))
            return 1;
    return 0;
}

/* Issue 8: rows edited, deleted or added with the sqlite3 shell, while the
 * chain itself stays intact, are each named by kind and id. */
static void test_rows_are_checked_against_the_chain(void **state)
{
    struct world *w = *state;
    struct found fd;
    struct td_error err;
    char sql[2048];
    td_error_clear(&err);
    /* police_ref set through the desk first: the chain records it */
    json_t *f = json_pack("{s:s}", "police_ref", "WYP-1");
    assert_int_equal(td_desk_case_update(w->f.d, &w->cw, w->case_id, f, &err), TD_OK);
    json_decref(f);
    int64_t m3 = fx_ingest(&w->f, &w->cw, "a third message", "post:anon", "m3");
    assert_int_equal(verify(w, &fd), 0);

    /* bytes from text: CAST AS BLOB on SQLite, ::bytea on PostgreSQL */
    const char *blob1 = w->f.pgdb[0] ? "'nothing to see'::bytea" : "CAST('nothing to see' AS BLOB)";
    const char *blob2 = w->f.pgdb[0] ? "'planted'::bytea" : "CAST('planted' AS BLOB)";
    snprintf(sql, sizeof sql,
             "UPDATE messages SET text = 'nothing to see', original = %s WHERE id = 1;"
             "UPDATE messages SET text = 'edited text only' WHERE id = 2;"
             "INSERT INTO messages(office_id, channel, text, original, received, ingested, "
             "ingested_by, severity, labels, flags, verdict) SELECT office_id, channel, 'planted', "
             "%s, 0, 0, 0, 0, 0, 0, '{}' FROM messages WHERE id = 1;"
             "DELETE FROM messages WHERE id = %lld;"
             "UPDATE cases SET police_ref = 'WYP-999' WHERE id = %lld;"
             "UPDATE notes SET text = 'nothing happened';"
             "DELETE FROM evidence WHERE id = %lld;",
             blob1, blob2, (long long)m3, (long long)w->case_id, (long long)w->ev_id);
    assert_int_equal(attacker(w, sql), SQLITE_OK);
    int n = verify(w, &fd);
    assert_true(named(&fd, "message", 1, "original altered"));
    assert_true(named(&fd, "message", 1, "text altered"));
    assert_true(named(&fd, "message", 2, "text altered"));
    assert_false(named(&fd, "message", 2, "original altered"));
    assert_true(named(&fd, "message", m3, "missing"));
    assert_true(named(&fd, "case", w->case_id, "police_ref altered"));
    assert_true(named(&fd, "note", 1, "text altered"));
    assert_true(named(&fd, "evidence", w->ev_id, "missing"));
    assert_true(named(&fd, "message", m3 + 1, "not in the audit log"));
    /* the audit chain itself is untouched */
    for (int i = 0; i < fd.n; i++)
        assert_string_not_equal(fd.p[i].kind, "audit");
    assert_int_equal(n, 8);
}

/* Issue 11: writers in several processes on one store (several servers
 * on one database) append to one office's chain one after another; it
 * never forks.  SQLite serialises them with BEGIN IMMEDIATE, PostgreSQL
 * with the office's advisory lock taken before the head is read. */
static void test_concurrent_writers_keep_one_chain(void **state)
{
    enum { PROCS = 4, EACH = 40 };
    struct world *w = *state;
    struct td_verify_stats st;
    struct td_error err;
    pid_t pid[PROCS];
    td_error_clear(&err);
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    size_t before = st.audit_entries;
    for (int i = 0; i < PROCS; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            /* a process of its own: its own desk, its own connection */
            struct td_desk_opts o;
            struct td_desk *d = NULL;
            char text[64];
            int bad = 0;
            td_desk_opts_init(&o);
            o.db = w->f.db;
            o.data_dir = w->f.data;
            if (td_desk_open(&o, &d, &err) != TD_OK)
                _exit(2);
            for (int j = 0; j < EACH && !bad; j++) {
                snprintf(text, sizeof text, "writer %d note %d", i, j);
                bad = td_desk_case_note(d, &w->cw, w->case_id, text, 0, NULL, &err) != TD_OK;
            }
            if (bad)
                fprintf(stderr, "writer %d: %s\n", i, err.message);
            td_desk_close(d);
            _exit(bad); /* _exit: the parent's cmocka and sanitizers stay the parent's */
        }
    }
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct found fd;
    assert_int_equal(verify(w, &fd), 0);
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.audit_entries, before + PROCS * EACH);
    /* every entry in one unbroken chain: the head is the last of them */
    assert_int_equal((int64_t)st.audit_entries, st.head_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact_chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers_refuse_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_altered_row_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rehashed_row_breaks_the_next_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_row_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_tail_is_noticed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_log_is_noticed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_altered_evidence_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_evidence_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_is_content_addressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_are_checked_against_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_keep_one_chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
