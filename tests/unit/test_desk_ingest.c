/*
 * test_desk_ingest.c - ingest through the real analyser: the JSON door
 * refuses bad records one by one (with index, field and reason) and keeps
 * the rest; what is stored is exactly what td_analyse says about the text;
 * idempotency by client key and Message-ID; a caller's analysis context
 * gives the same result as the desk's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/desk_fixture.h"

struct world {
    struct fx f;
    struct td_actor cw;
    struct td_analysis_ctx *ctx;
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct td_error err;
    td_error_clear(&err);
    fx_open(&w->f);
    /* reopen the desk with the shipped analyser */
    td_desk_close(w->f.d);
    if (td_analyser_open(NULL, NULL, &w->f.a, &err) != TD_OK)
        fx_fail("analyser", &err);
    fx_open_desk(&w->f);
    assert_int_equal(td_analysis_ctx_new(w->f.a, &w->ctx), TD_OK);
    fx_actor(&w->f, "office-a", "cw", TD_ROLE_CASEWORKER, &w->cw);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    td_analysis_ctx_free(w->ctx);
    fx_close(&w->f);
    free(w);
    return 0;
}

static json_t *result(json_t *out, size_t i)
{
    return json_array_get(json_object_get(out, "results"), i);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* An e-mail record of the batch tests: text and (when not NULL) sender. */
static void email_msg(struct td_message *m, const char *text, const char *sender)
{
    td_message_init(m);
    td_message_set(&m->text, text, (size_t)-1);
    m->text_len = strlen(text);
    if (sender)
        td_message_set(&m->sender, sender, (size_t)-1);
    td_message_set(&m->channel, "email", (size_t)-1);
}

static void test_batch_refuses_bad_records_one_by_one(void **state)
{
    struct world *w = *state;
    struct td_error err;
    json_t *out = NULL;
    td_error_clear(&err);
    json_t *in = json_loads(
        "{\"messages\": ["
        " {\"text\": \"I will find where you live and burn it down\", \"sender\": \"email:a@x\","
        "  \"channel\": \"email\", \"client_key\": \"c1\", \"received\": \"2026-11-28T09:00:00Z\"},"
        " {\"sender\": \"email:b@x\"},"
        " {\"text\": \"fine\", \"recieved\": 5},"
        " {\"text\": \"thank you for your help with my housing case\", \"message_id\": \"<m2@x>\"},"
        " 42,"
        " {\"text\": \"later\", \"received\": \"last tuesday\"},"
        " {\"text\": \"I will find where you live and burn it down\", \"client_key\": \"c1\"}"
        "]}",
        0, NULL);
    assert_non_null(in);
    assert_int_equal(td_desk_ingest_json(w->f.d, &w->cw, w->ctx, in, &out, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(out, "duplicates")), 1);
    assert_int_equal(json_integer_value(json_object_get(out, "refused")), 4);
    assert_string_equal(str(result(out, 0), "status"), "created");
    assert_string_equal(str(result(out, 1), "status"), "refused");
    assert_string_equal(str(result(out, 1), "field"), "text");
    assert_string_equal(str(result(out, 2), "field"), "recieved"); /* typo named */
    assert_string_equal(str(result(out, 3), "status"), "created");
    assert_string_equal(str(result(out, 4), "status"), "refused");
    assert_string_equal(str(result(out, 5), "field"), "received");
    assert_string_equal(str(result(out, 6), "status"), "duplicate");
    assert_int_equal(json_integer_value(json_object_get(result(out, 6), "id")),
                     json_integer_value(json_object_get(result(out, 0), "id")));
    assert_int_equal(json_integer_value(json_object_get(result(out, 4), "index")), 4);
    int64_t id0 = json_integer_value(json_object_get(result(out, 0), "id"));
    json_decref(out);

    /* the same batch again: nothing new, all good records are duplicates */
    assert_int_equal(td_desk_ingest_json(w->f.d, &w->cw, NULL, in, &out, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "accepted")), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "duplicates")), 3);
    json_decref(out);
    json_decref(in);

    /* stored: the message, with the received time given */
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, id0, &out, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "received")), 1795856400);
    assert_string_equal(str(out, "channel"), "email");
    json_decref(out);
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, NULL, &out, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 2);
    json_decref(out);

    /* not an object or array */
    json_t *bad = json_string("hello");
    assert_int_equal(td_desk_ingest_json(w->f.d, &w->cw, NULL, bad, &out, &err), TD_EINVAL);
    json_decref(bad);
}

/* What the desk stores is what the analyser says, with or without the
 * caller's own context.  (No sender, so no history can change the tier.) */
static void test_stored_verdict_is_the_analysers(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_verdict v;
    struct td_message m;
    struct td_ingest_result r1, r2;
    json_t *o = NULL;
    static const char *const texts[] = {
        "you will be smashed and killed within days",
        "we'll smash the Tories at the ballot box on Thursday",
        "you lying traitor scum",
    };
    td_error_clear(&err);
    td_verdict_init(&v);
    for (size_t i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%zu", i);
        assert_int_equal(td_analyse(w->ctx, texts[i], strlen(texts[i]), &v, &err), TD_OK);
        td_message_init(&m);
        td_message_set(&m.text, texts[i], (size_t)-1);
        m.text_len = strlen(texts[i]);
        assert_int_equal(td_desk_ingest(w->f.d, &w->cw, NULL, &m, NULL, &r1, &err), TD_OK);
        assert_int_equal(r1.severity, v.severity);
        assert_int_equal(td_desk_message_get(w->f.d, &w->cw, r1.id, &o, &err), TD_OK);
        assert_string_equal(str(o, "severity"), td_severity_name(v.severity));
        assert_string_equal(str(o, "model"), td_analyser_model_version(w->f.a));
        assert_int_equal(json_array_size(json_object_get(o, "spans")), v.nspans);
        double p = json_number_value(
            json_object_get(json_object_get(o, "labels"), td_label_name(TD_LABEL_THREAT)));
        assert_true(p > v.prob[TD_LABEL_THREAT] - 0.001 && p < v.prob[TD_LABEL_THREAT] + 0.001);
        json_decref(o);
        /* the caller's context, under a key: a new message, the same verdict */
        assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, key, &r2, &err), TD_OK);
        assert_int_not_equal(r2.id, r1.id);
        assert_int_equal(r2.duplicate, 0);
        assert_int_equal(r2.severity, r1.severity);
        td_message_release(&m);
    }
    /* a key already used, with the same bytes, is a retry: its message */
    td_message_init(&m);
    td_message_set(&m.text, texts[0], (size_t)-1);
    m.text_len = strlen(m.text);
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, "k0", &r1, &err), TD_OK);
    assert_int_equal(r1.duplicate, 1);
    /* ... with other bytes, a conflict naming the key, and nothing dropped
     * silently (issue 8: it used to answer "duplicate") */
    td_message_set(&m.text, "something else entirely", (size_t)-1);
    m.text_len = strlen(m.text);
    td_error_clear(&err);
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, "k0", &r1, &err), TD_EEXISTS);
    assert_int_equal(r1.code, TD_EEXISTS);
    assert_string_equal(r1.field, "client_key");
    assert_non_null(strstr(r1.reason, "k0"));
    /* and the Message-ID serves as the key when no client key is given */
    td_message_set(&m.message_id, "<abc@example.org>", (size_t)-1);
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, NULL, &r1, &err), TD_OK);
    assert_int_equal(r1.duplicate, 0);
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, NULL, &r2, &err), TD_OK);
    assert_int_equal(r2.duplicate, 1);
    assert_int_equal(r2.id, r1.id);
    td_message_release(&m);
    td_verdict_release(&v);
}

/* Issue 8: what the desk files is exact and keyed the way `scan` keys it.
 * An original is the bytes that arrived or the message is refused; text of
 * white space only is refused; senders are canonical keys whatever form the
 * door gave them, so history and duplicates work across doors; the
 * attachments an e-mail carried are listed on the stored message. */
static void test_exact_originals_and_canonical_senders(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_message m;
    struct td_ingest_result r;
    json_t *o = NULL;
    td_error_clear(&err);

    td_message_init(&m);
    td_message_set(&m.text, "see you soon", (size_t)-1);
    m.text_len = strlen(m.text);
    td_message_set(&m.original, "", 0);
    m.original_len = 0;
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, NULL, &r, &err), TD_EINVAL);
    assert_string_equal(r.field, "original");
    td_message_set(&m.original, NULL, 0);
    m.original_withheld = 1; /* the reader could not keep it whole */
    td_message_set(&m.warning, "original of 99 bytes is larger than the 10-byte limit", (size_t)-1);
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, NULL, &r, &err), TD_ETOOBIG);
    assert_string_equal(r.field, "original");
    assert_non_null(strstr(r.reason, "larger than"));
    td_message_release(&m);

    td_message_init(&m);
    td_message_set(&m.text, " \t\n\xc2\xa0 ", (size_t)-1); /* NBSP too */
    m.text_len = strlen(m.text);
    assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, NULL, &r, &err), TD_EINVAL);
    assert_string_equal(r.field, "text");
    td_message_release(&m);

    /* One person, three spellings: history and duplicates follow the key. */
    static const char *const senders[] = {"Bob.Smith+news@GMAIL.com", "email:bobsmith@gmail.com",
                                          "bob.smith@googlemail.com"};
    static const char *const texts[] = {"I will kill you, you traitor",
                                        "I will find you and kill you",
                                        "I will kill you, you traitor"};
    int64_t first = 0;
    for (int i = 0; i < 3; i++) {
        td_message_init(&m);
        td_message_set(&m.text, texts[i], (size_t)-1);
        m.text_len = strlen(m.text);
        td_message_set(&m.sender, senders[i], (size_t)-1);
        td_message_set(&m.channel, "email", (size_t)-1);
        if (i == 0) {
            m.attachments = calloc(1, sizeof *m.attachments);
            m.nattachments = 1;
            td_message_set(&m.attachments[0].name, "leaflet.pdf", (size_t)-1);
            td_message_set(&m.attachments[0].type, "application/pdf", (size_t)-1);
            m.attachments[0].size = 42;
            memset(m.attachments[0].sha256, 'a', 64);
        }
        assert_int_equal(td_desk_ingest(w->f.d, &w->cw, w->ctx, &m, NULL, &r, &err), TD_OK);
        if (i == 0)
            first = r.id;
        /* the third repeats the first's words from the same person */
        assert_int_equal(r.duplicate, i == 2);
        if (i == 2)
            assert_int_equal(r.id, first);
        td_message_release(&m);
    }
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, first, &o, &err), TD_OK);
    assert_string_equal(str(o, "sender"), "email:bobsmith@gmail.com");
    json_t *att = json_array_get(json_object_get(o, "attachments"), 0);
    assert_string_equal(str(att, "name"), "leaflet.pdf");
    assert_string_equal(str(att, "type"), "application/pdf");
    assert_int_equal(json_integer_value(json_object_get(att, "size")), 42);
    json_decref(o);
    assert_int_equal(td_desk_sender(w->f.d, &w->cw, "email:bobsmith@gmail.com", 0, &o, &err),
                     TD_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "messages")), 2);
    json_decref(o);
}

/* A batch with the caller's verdicts: every good record is filed with its
 * own verdict (not an analyser's: this desk has none), in one commit; a
 * bad record is refused alone; a sender's earlier threats raise a later
 * verdict as they do for one message. */
static void test_file_batch_keeps_the_given_verdicts(void **state)
{
    struct world *w = *state;
    struct td_error err;
    struct td_message m[4];
    struct td_verdict v[4];
    struct td_ingest_result r[4];
    const char *texts[4] = {"first", "", "third", "fourth"};
    const enum td_severity sev[4] = {TD_SEVERITY_LOW, TD_SEVERITY_LOW, TD_SEVERITY_NONE,
                                     TD_SEVERITY_CRITICAL};
    td_error_clear(&err);
    /* a desk without an analyser: the verdicts given are all there is */
    td_desk_close(w->f.d);
    td_analyser_free(w->f.a);
    w->f.a = NULL;
    fx_open_desk(&w->f);
    for (int i = 0; i < 4; i++) {
        td_message_init(&m[i]);
        td_verdict_init(&v[i]);
        td_message_set(&m[i].text, texts[i], (size_t)-1);
        m[i].text_len = strlen(texts[i]);
        td_message_set(&m[i].channel, "webform", (size_t)-1);
        v[i].severity = sev[i];
        v[i].labels = i == 3 ? 1u << TD_LABEL_THREAT : 0;
    }
    assert_int_equal(td_desk_file_batch(w->f.d, &w->cw, m, 4, NULL, v, r, &err), TD_OK);
    assert_int_equal(r[0].code, TD_OK);
    assert_int_equal(r[1].code, TD_EINVAL); /* empty text: refused alone */
    assert_int_equal(r[2].code, TD_OK);
    assert_int_equal(r[3].code, TD_OK);
    assert_int_equal(r[3].severity, TD_SEVERITY_CRITICAL);
    json_t *out = NULL;
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, NULL, &out, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    /* the queue's first is the critical one: the given verdict was stored */
    json_t *first = json_array_get(json_object_get(out, "messages"), 0);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), r[3].id);
    assert_string_equal(str(first, "severity"), "critical");
    json_decref(out);
    assert_int_equal(td_desk_message_get(w->f.d, &w->cw, r[0].id, &out, &err), TD_OK);
    assert_string_equal(str(out, "severity"), "low");
    json_decref(out);
    /* no verdicts: refused whole */
    assert_int_equal(td_desk_file_batch(w->f.d, &w->cw, m, 4, NULL, NULL, r, &err), TD_EINVAL);
    for (int i = 0; i < 4; i++) {
        td_message_release(&m[i]);
        td_verdict_release(&v[i]);
    }
}

/* A record that fails in the store, in the middle of a batch, is refused
 * alone (the batch's second, isolating pass: a savepoint per record): the records before and after
 * it are filed with their senders' tallies, vectors and audit entries, and the chain verifies.  The
 * failure is a trigger on senders, whose upsert PostgreSQL sends ahead
 * (pipeline) and hears of only at the record's RELEASE.  Within the batch
 * a client key filed earlier is a duplicate, or a refusal when it comes
 * with other words. */
static void test_batch_store_failure_keeps_the_others(void **state)
{
    struct world *w = *state;
    struct td_error err;
    enum { N = 7 };
    struct td_message m[N];
    struct td_ingest_result r[N];
    static const char *const texts[N] = {
        "first letter about the bus route",     "second letter about the library",
        "third letter about the bins",          "fourth letter about the school",
        "first letter about the bus route",     "other words under a used key",
        "a second letter from the first sender"};
    static const char *const senders[N] = {"email:a@x.org", "email:b@x.org", "email:bad@x.org",
                                           "email:c@x.org", "email:a@x.org", "email:d@x.org",
                                           "email:a@x.org"};
    static const char *const keys[N] = {"k0", "k1", "k2", "k3", "k0", "k1", "k6"};
    char out[64];
    td_error_clear(&err);
    if (tb_pg())
        assert_int_equal(
            fx_sql(&w->f, "CREATE FUNCTION td_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN IF NEW.key LIKE '%bad@x.org' THEN RAISE EXCEPTION "
                          "'refused by the test'; END IF; RETURN NEW; END $$; "
                          "CREATE TRIGGER td_test_refuse BEFORE INSERT ON senders FOR EACH ROW "
                          "EXECUTE FUNCTION td_test_refuse();"),
            0);
    else
        assert_int_equal(fx_sql(&w->f, "CREATE TRIGGER td_test_refuse BEFORE INSERT ON senders "
                                       "WHEN NEW.key LIKE '%bad@x.org' BEGIN "
                                       "SELECT RAISE(ABORT, 'refused by the test'); END;"),
                         0);
    for (int i = 0; i < N; i++) {
        email_msg(&m[i], texts[i], senders[i]);
    }
    assert_int_equal(td_desk_ingest_batch(w->f.d, &w->cw, w->ctx, m, N, keys, r, &err), TD_OK);
    for (int i = 0; i < N; i++) {
        int created = i == 0 || i == 1 || i == 3 || i == 6;
        assert_int_equal(r[i].code == TD_OK && !r[i].duplicate, created);
    }
    assert_int_not_equal(r[2].code, TD_OK); /* the store refused it */
    assert_int_equal(r[4].code, TD_OK);     /* the same key and words: one message */
    assert_true(r[4].duplicate);
    assert_int_equal(r[4].id, r[0].id);
    assert_int_equal(r[5].code, TD_EEXISTS); /* the same key, other words */
    assert_string_equal(r[5].field, "client_key");

    json_t *q = NULL;
    assert_int_equal(td_desk_queue(w->f.d, &w->cw, NULL, &q, &err), TD_OK);
    assert_int_equal(json_integer_value(json_object_get(q, "total")), 4);
    json_decref(q);
    /* the good records' sender tallies and vectors, none of the bad one's */
    assert_int_equal(fx_sql_text(&w->f, "SELECT messages FROM senders WHERE key LIKE '%a@x.org'",
                                 out, sizeof out),
                     0);
    assert_string_equal(out, "2");
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM senders WHERE key LIKE '%bad@x.org'",
                                 out, sizeof out),
                     0);
    assert_string_equal(out, "0");
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM messages", out, sizeof out), 0);
    assert_string_equal(out, "4");
    char vecs[64];
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM message_vectors", vecs, sizeof vecs),
                     0);
    assert_string_equal(vecs, "4"); /* the shipped analyser draws one per message */
    struct td_verify_stats st;
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);

    /* without the trigger the refused record files; the rest are duplicates */
    assert_int_equal(fx_sql(&w->f, tb_pg() ? "DROP TRIGGER td_test_refuse ON senders"
                                           : "DROP TRIGGER td_test_refuse"),
                     0);
    assert_int_equal(td_desk_ingest_batch(w->f.d, &w->cw, w->ctx, m, N, keys, r, &err), TD_OK);
    for (int i = 0; i < N; i++)
        if (i == 2)
            assert_true(r[i].code == TD_OK && !r[i].duplicate);
        else if (i == 5)
            assert_int_equal(r[i].code, TD_EEXISTS);
        else
            assert_true(r[i].code == TD_OK && r[i].duplicate);
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);

    /* The desk's own analysis (no context given: drawn under the lock, in
     * the store pass): a refusal sends the batch to its isolating pass,
     * which draws the verdicts again; the new record is filed once, with
     * the analyser's severity. */
    struct td_message m2[2];
    struct td_ingest_result r2[2];
    static const char *const texts2[2] = {"I will burn your house down tonight",
                                          "yet other words under a used key"};
    static const char *const keys2[2] = {"k7", "k1"};
    for (int i = 0; i < 2; i++) {
        email_msg(&m2[i], texts2[i], NULL);
    }
    assert_int_equal(td_desk_ingest_batch(w->f.d, &w->cw, NULL, m2, 2, keys2, r2, &err), TD_OK);
    assert_true(r2[0].code == TD_OK && !r2[0].duplicate);
    assert_int_equal(r2[1].code, TD_EEXISTS);
    struct td_verdict v;
    td_verdict_init(&v);
    assert_int_equal(td_analyse(w->ctx, texts2[0], strlen(texts2[0]), &v, &err), TD_OK);
    assert_int_equal(r2[0].severity, v.severity);
    td_verdict_release(&v);
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM messages", out, sizeof out), 0);
    assert_string_equal(out, "6");
    for (int i = 0; i < 2; i++)
        td_message_release(&m2[i]);
    for (int i = 0; i < N; i++)
        td_message_release(&m[i]);
}

/* A message row the server itself refuses (issue 11: on PostgreSQL the
 * message INSERT carries an id taken ahead and is sent without waiting,
 * so its failure arrives with a later statement): the batch falls back to
 * its isolating pass, the refused record alone is refused, the others are
 * filed with ids ascending in the batch's order, a duplicate of an earlier
 * record of the batch resolves to its id, and the chain verifies. */
static void test_batch_message_row_refused_alone(void **state)
{
    struct world *w = *state;
    struct td_error err;
    enum { N = 5 };
    struct td_message m[N];
    struct td_ingest_result r[N];
    static const char *const texts[N] = {
        "a letter about the harbour wall", "a letter about the ferry times",
        "a letter the server refuses to keep", "a letter about the ferry times",
        "a letter about the night bus"};
    static const char *const keys[N] = {"h0", "h1", "h2", "h1", "h4"};
    char out[64];
    td_error_clear(&err);
    if (tb_pg())
        assert_int_equal(
            fx_sql(&w->f, "CREATE FUNCTION td_test_refuse_row() RETURNS trigger LANGUAGE plpgsql "
                          "AS $$ BEGIN IF NEW.text LIKE '%server refuses%' THEN RAISE EXCEPTION "
                          "'refused by the test'; END IF; RETURN NEW; END $$; "
                          "CREATE TRIGGER td_test_refuse_row BEFORE INSERT ON messages FOR EACH "
                          "ROW EXECUTE FUNCTION td_test_refuse_row();"),
            0);
    else
        assert_int_equal(fx_sql(&w->f, "CREATE TRIGGER td_test_refuse_row BEFORE INSERT ON "
                                       "messages WHEN NEW.text LIKE '%server refuses%' BEGIN "
                                       "SELECT RAISE(ABORT, 'refused by the test'); END;"),
                         0);
    for (int i = 0; i < N; i++) {
        email_msg(&m[i], texts[i], "email:harbour@x.org");
    }
    assert_int_equal(td_desk_ingest_batch(w->f.d, &w->cw, w->ctx, m, N, keys, r, &err), TD_OK);
    assert_true(r[0].code == TD_OK && !r[0].duplicate);
    assert_true(r[1].code == TD_OK && !r[1].duplicate);
    assert_int_not_equal(r[2].code, TD_OK);
    assert_true(r[3].code == TD_OK && r[3].duplicate);
    assert_int_equal(r[3].id, r[1].id);
    assert_true(r[4].code == TD_OK && !r[4].duplicate);
    assert_true(r[0].id < r[1].id && r[1].id < r[4].id);
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM messages", out, sizeof out), 0);
    assert_string_equal(out, "3");
    assert_int_equal(fx_sql_text(&w->f, "SELECT messages FROM senders", out, sizeof out), 0);
    assert_string_equal(out, "3");
    struct td_verify_stats st;
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
    for (int i = 0; i < N; i++)
        td_message_release(&m[i]);
}

/* The audit head after batches (issue 11: PostgreSQL holds a transaction's
 * entries back and moves the office's head once): a batch whose store
 * refuses one record in the middle (the isolating pass) and holds two
 * duplicates of earlier records of the same batch (the same client key;
 * the same words from the same sender), then a batch that files in its
 * first pass.  Each time: the good records kept, one audit entry each,
 * the chain verifies, and the head names the chain's last entry. */
static void head_is_last_entry(struct world *w)
{
    char out[64];
    if (tb_pg()) {
        assert_int_equal(
            fx_sql_text(&w->f,
                        "SELECT count(*) FROM audit_heads h WHERE h.seq <> "
                        "(SELECT max(seq) FROM audit a WHERE a.office_id = h.office_id) "
                        "OR h.hash <> (SELECT hash FROM audit a WHERE a.office_id = "
                        "h.office_id ORDER BY seq DESC LIMIT 1)",
                        out, sizeof out),
            0);
        assert_string_equal(out, "0");
        assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM audit_heads", out, sizeof out),
                         0);
        assert_string_not_equal(out, "0");
    } else {
        assert_int_equal(
            fx_sql_text(&w->f,
                        "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit') "
                        "= (SELECT max(id) FROM audit)",
                        out, sizeof out),
            0);
        assert_string_equal(out, "1");
    }
}

static void test_batch_audit_head_is_last_entry(void **state)
{
    struct world *w = *state;
    struct td_error err;
    enum { N = 30, BAD = 13, SAME_KEY = 20, SAME_WORDS = 25, M = 20 };
    struct td_message m[N];
    struct td_ingest_result r[N];
    char texts[N][96], senders[N][64], keybuf[N][16];
    const char *keys[N];
    char out[64];
    td_error_clear(&err);
    if (tb_pg())
        assert_int_equal(
            fx_sql(&w->f, "CREATE FUNCTION td_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN IF NEW.key LIKE '%bad@x.org' THEN RAISE EXCEPTION "
                          "'refused by the test'; END IF; RETURN NEW; END $$; "
                          "CREATE TRIGGER td_test_refuse BEFORE INSERT ON senders FOR EACH ROW "
                          "EXECUTE FUNCTION td_test_refuse();"),
            0);
    else
        assert_int_equal(fx_sql(&w->f, "CREATE TRIGGER td_test_refuse BEFORE INSERT ON senders "
                                       "WHEN NEW.key LIKE '%bad@x.org' BEGIN "
                                       "SELECT RAISE(ABORT, 'refused by the test'); END;"),
                         0);
    for (int i = 0; i < N; i++) {
        int like = i == SAME_KEY ? 5 : i == SAME_WORDS ? 7 : i;
        snprintf(texts[i], sizeof texts[i], "letter number %d about the parish hall roof", like);
        if (i == BAD)
            snprintf(senders[i], sizeof senders[i], "email:bad@x.org");
        else
            snprintf(senders[i], sizeof senders[i], "email:s%d@x.org", like % 6);
        snprintf(keybuf[i], sizeof keybuf[i], "hk%d", like);
        keys[i] = i == SAME_WORDS ? NULL : keybuf[i];
        email_msg(&m[i], texts[i], senders[i]);
    }
    assert_int_equal(td_desk_ingest_batch(w->f.d, &w->cw, w->ctx, m, N, keys, r, &err), TD_OK);
    for (int i = 0; i < N; i++) {
        if (i == BAD) {
            assert_int_not_equal(r[i].code, TD_OK);
        } else if (i == SAME_KEY || i == SAME_WORDS) {
            assert_int_equal(r[i].code, TD_OK);
            assert_true(r[i].duplicate);
            assert_int_equal(r[i].id, r[i == SAME_KEY ? 5 : 7].id);
        } else {
            assert_int_equal(r[i].code, TD_OK);
            assert_false(r[i].duplicate);
        }
    }
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM messages", out, sizeof out), 0);
    assert_string_equal(out, "27");
    assert_int_equal(fx_sql_text(&w->f,
                                 "SELECT count(*) FROM audit WHERE action = 'message.ingest'", out,
                                 sizeof out),
                     0);
    assert_string_equal(out, "27");
    struct td_verify_stats st;
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
    head_is_last_entry(w);

    /* a batch without a failure: filed in the first pass, no savepoints */
    for (int i = 0; i < M; i++) {
        td_message_release(&m[i]);
        snprintf(texts[i], sizeof texts[i], "second batch letter %d about the swimming pool", i);
        snprintf(keybuf[i], sizeof keybuf[i], "hm%d", i);
        keys[i] = keybuf[i];
        email_msg(&m[i], texts[i], "email:s1@x.org");
    }
    assert_int_equal(td_desk_ingest_batch(w->f.d, &w->cw, w->ctx, m, M, keys, r, &err), TD_OK);
    for (int i = 0; i < M; i++)
        assert_true(r[i].code == TD_OK && !r[i].duplicate);
    assert_int_equal(fx_sql_text(&w->f,
                                 "SELECT count(*) FROM audit WHERE action = 'message.ingest'", out,
                                 sizeof out),
                     0);
    assert_string_equal(out, "47");
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
    head_is_last_entry(w);
    for (int i = 0; i < N; i++)
        td_message_release(&m[i]);
}

/* A sender's history counts the threats filed earlier in the same batch
 * (PostgreSQL holds a transaction's sender tallies back and sends them as
 * one upsert; its lookup adds what is held back).  A high threat from a
 * sender with an earlier threat is critical (td_verdict_apply_history):
 * in a batch filed in its first pass, and in one sent to its isolating
 * pass by a record the store refuses.  The tallies: one row per sender,
 * every message counted once. */
static void test_batch_sender_history_within_the_batch(void **state)
{
    struct world *w = *state;
    struct td_error err;
    enum { N = 6 };
    struct td_message m[N];
    struct td_verdict v[N];
    struct td_ingest_result r[N];
    char texts[N][64];
    char out[64];
    static const char *const senders[N] = {"email:h@x.org", "email:h@x.org",   "email:o@x.org",
                                           "email:h@x.org", "email:bad@x.org", "email:o@x.org"};
    td_error_clear(&err);
    if (tb_pg())
        assert_int_equal(
            fx_sql(&w->f, "CREATE FUNCTION td_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN IF NEW.key LIKE '%bad@x.org' THEN RAISE EXCEPTION "
                          "'refused by the test'; END IF; RETURN NEW; END $$; "
                          "CREATE TRIGGER td_test_refuse BEFORE INSERT ON senders FOR EACH ROW "
                          "EXECUTE FUNCTION td_test_refuse();"),
            0);
    else
        assert_int_equal(fx_sql(&w->f, "CREATE TRIGGER td_test_refuse BEFORE INSERT ON senders "
                                       "WHEN NEW.key LIKE '%bad@x.org' BEGIN "
                                       "SELECT RAISE(ABORT, 'refused by the test'); END;"),
                         0);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: records 0-3 only (no failure); pass 1: all, record 4
         * refused by the store */
        size_t n = pass ? N : 4;
        for (size_t i = 0; i < n; i++) {
            snprintf(texts[i], sizeof texts[i], "pass %d letter %zu with a threat in it", pass, i);
            email_msg(&m[i], texts[i], senders[i]);
            td_verdict_init(&v[i]);
            v[i].severity = TD_SEVERITY_HIGH;
            v[i].labels = 1u << TD_LABEL_THREAT;
        }
        assert_int_equal(td_desk_file_batch(w->f.d, &w->cw, m, n, NULL, v, r, &err), TD_OK);
        if (pass == 0) {
            /* h: none before the batch, then one, then two; o: none */
            assert_int_equal(r[0].severity, TD_SEVERITY_HIGH);
            assert_int_equal(r[1].severity, TD_SEVERITY_CRITICAL);
            assert_int_equal(r[2].severity, TD_SEVERITY_HIGH);
            assert_int_equal(r[3].severity, TD_SEVERITY_CRITICAL);
        } else {
            /* h and o have threats from pass 0 and earlier in this batch */
            for (size_t i = 0; i < n; i++)
                if (i == 4)
                    assert_int_not_equal(r[i].code, TD_OK);
                else
                    assert_int_equal(r[i].severity, TD_SEVERITY_CRITICAL);
        }
        for (size_t i = 0; i < n; i++) {
            td_message_release(&m[i]);
            td_verdict_release(&v[i]);
        }
    }
    assert_int_equal(fx_sql_text(&w->f,
                                 "SELECT messages || '/' || threats FROM senders WHERE key LIKE "
                                 "'%h@x.org'",
                                 out, sizeof out),
                     0);
    assert_string_equal(out, "6/6");
    assert_int_equal(fx_sql_text(&w->f,
                                 "SELECT messages || '/' || threats FROM senders WHERE key LIKE "
                                 "'%o@x.org'",
                                 out, sizeof out),
                     0);
    assert_string_equal(out, "3/3");
    assert_int_equal(fx_sql_text(&w->f, "SELECT count(*) FROM senders", out, sizeof out), 0);
    assert_string_equal(out, "2");
    struct td_verify_stats st;
    assert_int_equal(td_desk_verify(w->f.d, NULL, NULL, &st, &err), TD_OK);
    assert_int_equal(st.problems, 0);
    head_is_last_entry(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_refuses_bad_records_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_batch_keeps_the_given_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_store_failure_keeps_the_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_message_row_refused_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_audit_head_is_last_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_sender_history_within_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stored_verdict_is_the_analysers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_originals_and_canonical_senders, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
