/*
 * test_ingest_sender.c - sender keys, the conservative cross-channel linker,
 * per-sender tallies, and duplicate recognition (dedupe.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/dedupe.h"
#include "threatdesk/email.h"
#include "threatdesk/sender.h"

static void email_keys(void **state)
{
    char k[128];
    assert_int_equal(td_sender_key_email("Mark.Hollis+mp@GMail.com", k, sizeof k), TD_OK);
    assert_string_equal(k, "email:markhollis@gmail.com");
    assert_int_equal(td_sender_key_email("<mark.hollis@googlemail.com>", k, sizeof k), TD_OK);
    assert_string_equal(k, "email:markhollis@gmail.com");
    /* dots matter outside Gmail; plus tags do not */
    assert_int_equal(td_sender_key_email("John.Smith+news@Example.co.uk", k, sizeof k), TD_OK);
    assert_string_equal(k, "email:john.smith@example.co.uk");
    assert_int_equal(td_sender_key_email("not an address", k, sizeof k), TD_EINVAL);
    assert_int_equal(td_sender_key_email("@example.com", k, sizeof k), TD_EINVAL);
    assert_int_equal(td_sender_key_email("a@", k, sizeof k), TD_EINVAL);
    assert_int_equal(td_sender_key_email("someone@example.com", k, 8), TD_ETOOBIG);
}

static void handle_and_name_keys(void **state)
{
    char k[128];
    assert_int_equal(td_sender_key_handle("twitter", "@MarkHollis_", k, sizeof k), TD_OK);
    assert_string_equal(k, "twitter:@markhollis_");
    assert_int_equal(td_sender_key_handle("bluesky", "MarkHollis.bsky.social", k, sizeof k), TD_OK);
    assert_string_equal(k, "bluesky:@markhollis.bsky.social");
    assert_int_equal(td_sender_key_handle("twitter", "two words", k, sizeof k), TD_EINVAL);
    assert_int_equal(td_sender_name_normalise("  \"SMITH, John\" ", k, sizeof k), TD_OK);
    assert_string_equal(k, "john smith");
    char a[64], b[64];
    td_sender_name_normalise("J\xc3\xb6rg M\xc3\xbcller", a, sizeof a);
    td_sender_name_normalise("jorg muller", b, sizeof b);
    assert_string_equal(a, b); /* marks stripped, case folded */
    assert_int_equal(td_sender_name_normalise("!!!", k, sizeof k), TD_EINVAL);
}

static void canonicalise(void **state)
{
    struct td_message m;
    td_message_init(&m);
    td_message_set(&m.channel, "email", (size_t)-1);
    td_message_set(&m.sender_handle, "Ann.Baker+x@Example.org", (size_t)-1);
    assert_int_equal(td_sender_canonicalise(&m), TD_OK);
    assert_string_equal(m.sender, "email:ann.baker@example.org");
    td_message_release(&m);
    td_message_set(&m.channel, "facebook", (size_t)-1);
    td_message_set(&m.sender_name, "Baker, Ann", (size_t)-1);
    assert_int_equal(td_sender_canonicalise(&m), TD_OK);
    assert_string_equal(m.sender, "facebook:ann baker");
    td_message_release(&m);
    td_message_set(&m.channel, "letter", (size_t)-1);
    assert_int_equal(td_sender_canonicalise(&m), TD_OK);
    assert_null(m.sender); /* nothing known */
    td_message_release(&m);
}

static void add(struct td_senders *s, const char *channel, const char *handle, const char *name,
                enum td_severity sev, int threat)
{
    struct td_message m;
    td_message_init(&m);
    td_message_set(&m.channel, channel, (size_t)-1);
    if (handle)
        td_message_set(&m.sender_handle, handle, (size_t)-1);
    if (name)
        td_message_set(&m.sender_name, name, (size_t)-1);
    assert_int_equal(td_sender_canonicalise(&m), TD_OK);
    assert_int_equal(td_senders_add(s, &m, sev, threat), TD_OK);
    td_message_release(&m);
}

static const struct td_sender_stat *find(const struct td_sender_stat *st, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(st[i].key, key) || (st[i].aliases && strstr(st[i].aliases, key)))
            return &st[i];
    return NULL;
}

static void linking(void **state)
{
    struct td_senders *s = NULL;
    assert_int_equal(td_senders_new(0, &s), TD_OK);
    /* the same person: email stem = handle stem, same name */
    add(s, "email", "mark.hollis@gmail.com", "Mark Hollis", TD_SEVERITY_HIGH, 1);
    add(s, "email", "Mark.Hollis+mp@gmail.com", "Mark Hollis", TD_SEVERITY_NONE, 0);
    add(s, "twitter", "MarkHollis", "Mark Hollis", TD_SEVERITY_CRITICAL, 1);
    add(s, "bluesky", "markhollis.bsky.social", "Hollis, Mark", TD_SEVERITY_LOW, 0);
    /* same name, different stem: not linked */
    add(s, "twitter", "mh_1979", "Mark Hollis", TD_SEVERITY_MEDIUM, 0);
    /* same stem, different name: not linked */
    add(s, "bluesky", "markhollis.example.org", "Someone Else", TD_SEVERITY_LOW, 0);
    /* short stems never link */
    add(s, "email", "ann@example.org", "Ann", TD_SEVERITY_NONE, 0);
    add(s, "twitter", "ann", "Ann", TD_SEVERITY_NONE, 0);
    /* history per exact key, before linking */
    assert_int_equal(td_senders_threats(s, "email:markhollis@gmail.com"), 1);
    assert_int_equal(td_senders_threats(s, "twitter:@markhollis"), 1);
    assert_int_equal(td_senders_threats(s, "twitter:@mh_1979"), 0);
    assert_int_equal(td_senders_threats(s, "email:nobody@example.org"), 0);
    td_senders_link(s);
    struct td_sender_stat *st = NULL;
    size_t n = 0;
    assert_int_equal(td_senders_list(s, &st, &n), TD_OK);
    const struct td_sender_stat *mark = find(st, n, "email:markhollis@gmail.com");
    assert_non_null(mark);
    assert_int_equal(mark->count, 4);
    assert_int_equal(mark->threats, 2);
    assert_int_equal(mark->worst, TD_SEVERITY_CRITICAL);
    assert_ptr_equal(find(st, n, "twitter:@markhollis"), mark);
    assert_ptr_equal(find(st, n, "bluesky:@markhollis.bsky.social"), mark);
    assert_ptr_not_equal(find(st, n, "twitter:@mh_1979"), mark);
    assert_ptr_not_equal(find(st, n, "bluesky:@markhollis.example.org"), mark);
    assert_ptr_not_equal(find(st, n, "twitter:@ann"), find(st, n, "email:ann@example.org"));
    assert_int_equal(n, 5);
    /* worst first */
    assert_ptr_equal(&st[0], mark);
    for (size_t i = 1; i < n; i++)
        assert_true(st[i - 1].worst >= st[i].worst);
    free(st);
    td_senders_free(s);
}

/* Two accounts on one platform match the same e-mail: ambiguous, no link. */
static void ambiguous(void **state)
{
    struct td_senders *s = NULL;
    assert_int_equal(td_senders_new(0, &s), TD_OK);
    add(s, "email", "john.smith@example.org", "John Smith", TD_SEVERITY_NONE, 0);
    add(s, "twitter", "JohnSmith", "John Smith", TD_SEVERITY_HIGH, 1);
    add(s, "twitter", "john_smith", "Smith John", TD_SEVERITY_NONE, 0);
    td_senders_link(s);
    struct td_sender_stat *st = NULL;
    size_t n = 0;
    assert_int_equal(td_senders_list(s, &st, &n), TD_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(st[i].count, 1);
        assert_null(st[i].aliases);
    }
    free(st);
    td_senders_free(s);
}

static void bounded(void **state)
{
    struct td_senders *s = NULL;
    assert_int_equal(td_senders_new(3, &s), TD_OK);
    char h[32];
    for (int i = 0; i < 10; i++) {
        snprintf(h, sizeof h, "user%d", i);
        add(s, "twitter", h, NULL, TD_SEVERITY_NONE, 0);
    }
    struct td_sender_stat *st = NULL;
    size_t n = 0;
    assert_int_equal(td_senders_list(s, &st, &n), TD_OK);
    assert_int_equal(n, 4); /* 3 tracked + "other" */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += st[i].count;
    assert_int_equal(total, 10);
    assert_non_null(find(st, n, "other"));
    free(st);
    td_senders_free(s);
}

static void msg(struct td_message *m, const char *id, const char *channel, const char *mid,
                const char *sender, const char *text)
{
    td_message_init(m);
    td_message_set(&m->id, id, (size_t)-1);
    td_message_set(&m->channel, channel, (size_t)-1);
    if (mid)
        td_message_set(&m->message_id, mid, (size_t)-1);
    if (sender)
        td_message_set(&m->sender, sender, (size_t)-1);
    td_message_set(&m->text, text, (size_t)-1);
    m->text_len = strlen(text);
}

static void dedupe(void **state)
{
    struct td_dedupe *d = NULL;
    assert_int_equal(td_dedupe_new(0, &d), TD_OK);
    struct td_message m;
    const char *of = NULL;
    msg(&m, "a", "email", "x@example.net", "email:a@b.org", "You will pay.");
    assert_int_equal(td_dedupe_check(d, &m, &of), 0);
    td_message_release(&m);
    /* same Message-ID */
    msg(&m, "b", "email", "x@example.net", "email:other@b.org", "different words");
    assert_int_equal(td_dedupe_check(d, &m, &of), 1);
    assert_string_equal(of, "a");
    td_message_release(&m);
    /* same sender, same text modulo case and white space, new id */
    msg(&m, "c", "email", "y@example.net", "email:a@b.org", "  YOU   will\npay. ");
    assert_int_equal(td_dedupe_check(d, &m, &of), 1);
    assert_string_equal(of, "a");
    td_message_release(&m);
    /* same text, another sender: not a duplicate */
    msg(&m, "d", "email", "z@example.net", "email:c@b.org", "You will pay.");
    assert_int_equal(td_dedupe_check(d, &m, &of), 0);
    td_message_release(&m);
    /* same text, unknown sender: never matched on content */
    msg(&m, "e", "text", NULL, NULL, "You will pay.");
    assert_int_equal(td_dedupe_check(d, &m, &of), 0);
    assert_int_equal(td_dedupe_check(d, &m, &of), 0);
    td_message_release(&m);
    /* the same post id on another platform is another message */
    msg(&m, "f", "twitter", "x@example.net", "twitter:@q", "hello");
    assert_int_equal(td_dedupe_check(d, &m, &of), 0);
    td_message_release(&m);
    td_dedupe_free(d);

    char k1[33], k2[33];
    assert_int_equal(td_dedupe_content_key("s", "A  b", 4, k1), TD_OK);
    assert_int_equal(td_dedupe_content_key("s", "a b", 3, k2), TD_OK);
    assert_string_equal(k1, k2);
    assert_int_equal(td_dedupe_content_key("t", "a b", 3, k2), TD_OK);
    assert_string_not_equal(k1, k2);
    assert_int_equal(strlen(k1), 32);
}

/* The repeated message of the mbox fixture is recognised. */
static void dedupe_mbox(void **state)
{
    struct td_mbox *mb = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(
        td_mbox_open(TD_SOURCE_DIR "/tests/fixtures/email/18_inbox.mbox", NULL, &mb, &err), TD_OK);
    struct td_dedupe *d = NULL;
    assert_int_equal(td_dedupe_new(0, &d), TD_OK);
    struct td_message m;
    td_message_init(&m);
    int dups[3];
    const char *of;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(td_mbox_next(mb, &m, &err), TD_OK);
        dups[i] = td_dedupe_check(d, &m, &of);
    }
    assert_int_equal(dups[0], 0);
    assert_int_equal(dups[1], 0);
    assert_int_equal(dups[2], 1);
    assert_string_equal(of, "18.a@example.net");
    td_message_release(&m);
    td_dedupe_free(d);
    td_mbox_close(mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(email_keys),   cmocka_unit_test(handle_and_name_keys),
        cmocka_unit_test(canonicalise), cmocka_unit_test(linking),
        cmocka_unit_test(ambiguous),    cmocka_unit_test(bounded),
        cmocka_unit_test(dedupe),       cmocka_unit_test(dedupe_mbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
