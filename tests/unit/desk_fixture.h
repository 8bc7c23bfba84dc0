/*
 * desk_fixture.h - a real desk over a real SQLite file in a fresh temporary
 * directory, with the shipped analyser, for the desk's unit tests; over a
 * fresh PostgreSQL database instead under TD_TEST_BACKEND=postgres
 * (test_backend.h: the pg/<test> ctest entries).  f.db is what the desk
 * opens (a path or a URL); fx_sql()/fx_sql_text() tamper and peek as a
 * shell would.
 *
 *   struct fx f; fx_open(&f);  ... fx_close(&f);
 *   fx_actor(&f, "office-a", "alice", TD_ROLE_CASEWORKER, &alice);
 *
 * The desk has no analyser (f.a NULL): messages are filed with hand-made
 * verdicts (fx_ingest), so what a test asserts does not move with the
 * model.  test_desk_ingest.c opens the real analyser itself.
 *
 * Actors are made the way the server makes them: the user is added (as
 * the local operator), an API key issued, and the key authenticated.
 */
#ifndef TD_TEST_DESK_FIXTURE_H
#define TD_TEST_DESK_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_backend.h"
#include "threatdesk/analyse.h"
#include "threatdesk/desk.h"

struct fx {
    char dir[256];
    char db[1200];
    char pgdb[64]; /* the PostgreSQL database, "" on SQLite */
    char data[300];
    struct td_analyser *a;
    struct td_desk *d;
};

static inline void fx_fail(const char *what, const struct td_error *err)
{
    char buf[1024];
    fprintf(stderr, "fixture: %s: %s\n", what, td_error_format(err, buf, sizeof buf));
    abort();
}

static inline void fx_open_desk(struct fx *f)
{
    struct td_desk_opts o;
    struct td_error err;
    td_error_clear(&err);
    td_desk_opts_init(&o);
    o.db = f->db;
    o.data_dir = f->data;
    o.analyser = f->a;
    if (td_desk_open(&o, &f->d, &err) != TD_OK)
        fx_fail("desk open", &err);
}

static inline void fx_open(struct fx *f)
{
    struct td_error err;
    memset(f, 0, sizeof *f);
    td_error_clear(&err);
    snprintf(f->dir, sizeof f->dir, "/tmp/td-desk-test-XXXXXX");
    if (!mkdtemp(f->dir))
        abort();
    char path[300];
    snprintf(path, sizeof path, "%s/desk.db", f->dir);
    tb_store_new(f->db, sizeof f->db, path, f->pgdb);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    fx_open_desk(f);
}

static inline void fx_close(struct fx *f)
{
    char cmd[400];
    td_desk_close(f->d);
    td_analyser_free(f->a);
    tb_store_drop(f->pgdb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fixture: could not remove %s\n", f->dir);
}

static inline int fx_sql(struct fx *f, const char *sql)
{
    return tb_sql(f->db, f->pgdb, sql);
}

static inline int fx_sql_text(struct fx *f, const char *sql, char *out, size_t size)
{
    return tb_sql_text(f->db, f->pgdb, sql, out, size);
}

static inline void fx_actor(struct fx *f, const char *office, const char *name, enum td_role role,
                            struct td_actor *out)
{
    struct td_error err;
    char key[TD_TOKEN_SIZE];
    td_error_clear(&err);
    /* Offices are made on purpose; a second actor of the office finds it. */
    int rc = td_desk_office_add(f->d, NULL, office, NULL, &err);
    if (rc && rc != TD_EEXISTS)
        fx_fail(office, &err);
    if (td_desk_user_add(f->d, NULL, office, name, role, "correct horse battery", NULL, &err) ||
        td_desk_api_key_create(f->d, NULL, name, "test", key, NULL, &err) ||
        td_desk_authenticate_key(f->d, key, out, &err))
        fx_fail(name, &err);
}

/* File one text for actor with a hand-made verdict (severity, label bits);
 * returns the id (aborts on failure). */
static inline int64_t fx_file(struct fx *f, const struct td_actor *a, const char *text,
                              const char *sender, const char *key, enum td_severity sev,
                              unsigned labels)
{
    struct td_message m;
    struct td_ingest_result r;
    struct td_verdict v;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    v.severity = sev;
    v.labels = labels;
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        v.prob[l] = (labels & (1u << l)) ? 0.9f : 0.05f;
    td_message_set(&m.text, text, (size_t)-1);
    m.text_len = strlen(text);
    if (sender)
        td_message_set(&m.sender, sender, (size_t)-1);
    td_message_set(&m.channel, "email", (size_t)-1);
    if (td_desk_file(f->d, a, &m, key, &v, &r, &err) != TD_OK)
        fx_fail("file", &err);
    td_message_release(&m);
    td_verdict_release(&v);
    return r.id;
}

static inline int64_t fx_ingest(struct fx *f, const struct td_actor *a, const char *text,
                                const char *sender, const char *key)
{
    return fx_file(f, a, text, sender, key, TD_SEVERITY_HIGH, 1u << TD_LABEL_THREAT);
}

#endif
