/*
 * test_ingest_social.c - platform JSON fixtures (tests/fixtures/social):
 * X/Twitter API v2 and archive, Bluesky thread and listRecords, Facebook
 * and Instagram exports with their mojibake; detection; hostile JSON; the
 * engine's verdict on the threats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/analyse.h"
#include "threatdesk/reader.h"
#include "threatdesk/social.h"

#define FIX TD_SOURCE_DIR "/tests/fixtures/social/"
#define THREAT "I am going to kill you. You will be smashed and killed within days."

struct got {
    struct td_message m[16];
    int rc[16];
    char emsg[16][600];
    size_t n;
    enum td_format format;
};

/* Read a fixture through the reader front (detection included). */
static void read_fixture(const char *name, enum td_format force, struct got *g)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    struct td_reader_opts o = {.format = force};
    struct td_reader *r = NULL;
    struct td_error err;
    td_error_clear(&err);
    if (td_reader_open(path, &o, &r, &err))
        fail_msg("%s: %s", name, err.message);
    g->format = td_reader_format(r);
    g->n = 0;
    int rc;
    struct td_message m;
    td_message_init(&m);
    while ((rc = td_reader_next(r, &m, &err)) != TD_EOF && g->n < 16) {
        g->rc[g->n] = rc;
        snprintf(g->emsg[g->n], sizeof g->emsg[0], "%s", rc ? err.message : "");
        g->m[g->n] = m; /* hand over */
        td_message_init(&m);
        g->n++;
        td_error_clear(&err);
    }
    td_reader_close(r);
}

static void got_release(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        td_message_release(&g->m[i]);
}

static void has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, hay ? hay : "(null)");
}

static void twitter_v2(void **state)
{
    struct got g;
    read_fixture("twitter_v2_mentions.json", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_TWITTER);
    assert_int_equal(g.n, 3);
    struct td_message *m = &g.m[0];
    assert_int_equal(g.rc[0], TD_OK);
    assert_string_equal(m->text, "@JaneDoeMP " THREAT);
    assert_string_equal(m->channel, "twitter");
    assert_string_equal(m->id, "1853412345678901234");
    assert_string_equal(m->sender_handle, "MarkHollis_");
    assert_string_equal(m->sender_name, "Mark Hollis");
    assert_string_equal(m->sender_id, "1498765432109876543");
    assert_string_equal(m->sender, "twitter:@markhollis_");
    assert_int_equal(m->time, 1793697300);
    assert_string_equal(m->url, "https://x.com/MarkHollis_/status/1853412345678901234");
    assert_string_equal(m->reply_to, "1853400000000000000");
    assert_null(m->quoted_text);
    has(m->source, "twitter_v2_mentions.json#/data/0");
    has(m->original, "\"author_id\":\"1498765432109876543\"");
    /* the quote tweet: quoted text from includes.tweets */
    m = &g.m[1];
    assert_string_equal(m->sender_handle, "annbaker");
    assert_string_equal(m->sender_name, "Ann \xf0\x9f\x8c\xb9 Baker");
    assert_string_equal(m->quoted_text,
                        "Surgery this Saturday at the library, 10am-12pm. All welcome.");
    assert_null(m->reply_to);
    got_release(&g);

    /* two responses one after another (a collector's pages) */
    read_fixture("twitter_v2_pages.jsonl", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_TWITTER);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.m[0].sender_handle, "suepark");
    assert_string_equal(g.m[1].sender_handle, "MarkHollis_");
    got_release(&g);
}

static void twitter_archive(void **state)
{
    struct got g;
    read_fixture("twitter_archive_tweets.js", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_TWITTER);
    assert_int_equal(g.n, 2);
    struct td_message *m = &g.m[0];
    assert_string_equal(m->text, "@JaneDoeMP " THREAT);
    assert_string_equal(m->id, "1050118621198921728");
    assert_int_equal(m->time, 1539202764); /* Wed Oct 10 20:19:24 +0000 2018 */
    assert_string_equal(m->reply_to, "1050118000000000000");
    assert_string_equal(m->url, "https://x.com/i/web/status/1050118621198921728");
    assert_int_equal(g.m[1].time, 1539237600); /* 07:00 +0100 = 06:00 UTC */
    got_release(&g);
}

static void bluesky(void **state)
{
    struct got g;
    read_fixture("bluesky_thread.json", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_BLUESKY);
    assert_int_equal(g.n, 4); /* root, reply, reply to the reply, quote */
    assert_string_equal(g.m[0].sender_handle, "janedoemp.bsky.social");
    struct td_message *m = &g.m[1];
    assert_string_equal(m->text, THREAT);
    assert_string_equal(m->channel, "bluesky");
    assert_string_equal(m->id,
                        "at://did:plc:markhollis000000000000b/app.bsky.feed.post/3lbqmr7threat");
    assert_string_equal(m->sender_id, "did:plc:markhollis000000000000b");
    assert_string_equal(m->sender_name, "Mark Hollis");
    assert_string_equal(m->sender, "bluesky:@markhollis.bsky.social");
    assert_string_equal(m->url,
                        "https://bsky.app/profile/markhollis.bsky.social/post/3lbqmr7threat");
    assert_string_equal(m->reply_to,
                        "at://did:plc:janedoemp0000000000000a/app.bsky.feed.post/3lbqmp2root2a");
    assert_int_equal(m->time, 1793697300);
    has(m->source, "#/thread/replies/0/post");
    assert_string_equal(g.m[2].text, "Reported this account. Stay safe Jane.");
    m = &g.m[3];
    assert_string_equal(m->quoted_text, "Surgery this Saturday at the library, 10am-12pm.");
    assert_int_equal(m->time, 1793696400); /* 10:00 +01:00 */
    got_release(&g);

    /* listRecords: no author object; the DID comes from the URI; a record
     * without text is an error for that record only */
    read_fixture("bluesky_list_records.json", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_BLUESKY);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.rc[0], TD_OK);
    assert_string_equal(g.m[0].sender_id, "did:plc:markhollis000000000000b");
    assert_string_equal(
        g.m[0].url, "https://bsky.app/profile/did:plc:markhollis000000000000b/post/3lbqmr7threat");
    assert_int_equal(g.rc[1], TD_EPARSE);
    has(g.emsg[1], "without text");
    got_release(&g);
}

static void facebook(void **state)
{
    struct got g;
    read_fixture("facebook_comments.json", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_FACEBOOK);
    assert_int_equal(g.n, 3);
    struct td_message *m = &g.m[0];
    /* mojibake repaired: U+2019 and the author's ø */
    assert_string_equal(m->text, "You\xe2\x80\x99ll get what\xe2\x80\x99s coming. " THREAT);
    assert_string_equal(m->sender_name, "Tob\xc3\xad"
                                        "as L\xc3\xb8ye");
    assert_string_equal(m->sender, "facebook:l\xc3\xb8ye tobias"); /* marks stripped, sorted */
    assert_string_equal(m->channel, "facebook");
    assert_int_equal(m->time, 1793697300);
    has(m->subject, "commented on Jane Doe MP's post.");
    assert_string_equal(g.m[1].text, "Caf\xc3\xa9 meeting was great \xf0\x9f\x91\x8d");
    assert_int_equal(g.rc[2], TD_EPARSE); /* an entry without a comment */
    got_release(&g);

    read_fixture("instagram_post_comments_1.json", TD_FORMAT_AUTO, &g);
    assert_int_equal(g.format, TD_FORMAT_FACEBOOK);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.m[0].text, "Se\xc3\xb1ora Doe, shame on you \xf0\x9f\x98\xa1");
    assert_string_equal(g.m[0].channel, "instagram");
    assert_string_equal(g.m[0].to, "janedoemp");
    assert_int_equal(g.m[1].time, 1793700900);
    got_release(&g);
}

static void mojibake(void **state)
{
    char *out = NULL;
    size_t n = 0;
    const char *bad = "L\xc3\x83\xc2\xb8ye"; /* "LÃ¸ye" */
    assert_int_equal(td_social_unmojibake(bad, strlen(bad), &out, &n), 1);
    assert_string_equal(out, "L\xc3\xb8ye");
    free(out);
    /* real Latin-1 range text is left alone: "café" is not mojibake */
    const char *cafe = "caf\xc3\xa9";
    assert_int_equal(td_social_unmojibake(cafe, strlen(cafe), &out, &n), 0);
    assert_null(out);
    /* beyond U+00FF: cannot be mojibake */
    const char *euro = "\xe2\x82\xac";
    assert_int_equal(td_social_unmojibake(euro, strlen(euro), &out, &n), 0);
}

static void times(void **state)
{
    int64_t t = 0;
    assert_int_equal(td_social_parse_time("2026-11-03T09:15:00.000Z", &t), TD_OK);
    assert_int_equal(t, 1793697300);
    assert_int_equal(td_social_parse_time("2026-11-03T10:15:00+01:00", &t), TD_OK);
    assert_int_equal(t, 1793697300);
    assert_int_equal(td_social_parse_time("Tue Nov 03 09:15:00 +0000 2026", &t), TD_OK);
    assert_int_equal(t, 1793697300);
    assert_int_equal(td_social_parse_time("yesterday", &t), TD_EPARSE);
}

static void detection_and_hostile(void **state)
{
    const char *v2 = "{\"data\":[{\"author_id\":\"1\",\"edit_history_tweet_ids\":[\"2\"],"
                     "\"id\":\"2\",\"text\":\"x\"}]}";
    assert_int_equal(td_social_detect((const unsigned char *)v2, strlen(v2)), TD_FORMAT_TWITTER);
    assert_int_equal(td_format_detect("x.txt", (const unsigned char *)v2, strlen(v2)),
                     TD_FORMAT_TWITTER);
    const char *js = "window.YTD.tweets.part0 = [";
    assert_int_equal(td_social_detect((const unsigned char *)js, strlen(js)), TD_FORMAT_TWITTER);
    const char *bs = "{\"feed\":[{\"post\":{\"uri\":\"at://did:plc:x/app.bsky.feed.post/1\"";
    assert_int_equal(td_social_detect((const unsigned char *)bs, strlen(bs)), TD_FORMAT_BLUESKY);
    /* a generic record with an author_id column stays JSON Lines */
    const char *generic = "{\"id\": 1, \"author_id\": 7, \"text\": \"hello\"}";
    assert_int_equal(td_social_detect((const unsigned char *)generic, strlen(generic)),
                     TD_FORMAT_AUTO);
    const char *plain = "{\"id\": 1, \"text\": \"hello\"}";
    assert_int_equal(td_social_detect((const unsigned char *)plain, strlen(plain)), TD_FORMAT_AUTO);
    assert_int_equal(td_format_detect("a.jsonl", (const unsigned char *)plain, strlen(plain)),
                     TD_FORMAT_JSONL);

    /* malformed JSON: a clear error, located */
    struct td_social *s = NULL;
    struct td_error err;
    td_error_clear(&err);
    const char *broken = "{\"data\": [{\"id\": \"1\", \"text\": \"unterminated}\n";
    assert_int_equal(td_social_open(broken, strlen(broken), TD_FORMAT_AUTO, "b.json", &s, &err),
                     TD_EPARSE);
    has(err.message, "invalid JSON");
    assert_string_equal(err.file, "b.json");
    /* a good page then a broken one: the good records, then the error */
    const char *pages = "{\"data\":[{\"id\":\"1\",\"author_id\":\"2\",\"text\":\"hi\"}]}\n"
                        "{\"data\": [oops\n";
    td_error_clear(&err);
    assert_int_equal(td_social_open(pages, strlen(pages), TD_FORMAT_AUTO, "p.json", &s, &err),
                     TD_OK);
    struct td_message m;
    td_message_init(&m);
    assert_int_equal(td_social_next(s, &m, &err), TD_OK);
    assert_string_equal(m.text, "hi");
    assert_int_equal(td_social_next(s, &m, &err), TD_EPARSE);
    has(err.message, "invalid JSON");
    assert_int_equal(err.line, 2);
    assert_int_equal(td_social_next(s, &m, &err), TD_EOF);
    td_message_release(&m);
    td_social_close(s);
    /* a shape that is no platform's */
    const char *other = "{\"kind\": 1}";
    td_error_clear(&err);
    assert_int_equal(td_social_open(other, strlen(other), TD_FORMAT_AUTO, "o.json", &s, &err),
                     TD_EFORMAT);
    /* --format forces: Bluesky JSON read as twitter is refused */
    char path[512];
    snprintf(path, sizeof path, FIX "bluesky_thread.json");
    struct td_reader_opts o = {.format = TD_FORMAT_TWITTER};
    struct td_reader *r = NULL;
    td_error_clear(&err);
    assert_int_equal(td_reader_open(path, &o, &r, &err), TD_EFORMAT);
    has(err.message, "expected twitter JSON, found bluesky");
    /* deep nesting is refused by jansson, not by the stack */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    td_error_clear(&err);
    assert_int_equal(td_social_open(deep, depth * 2, TD_FORMAT_AUTO, "d.json", &s, &err),
                     TD_EPARSE);
    free(deep);
}

static void verdicts(void **state)
{
    struct td_analyser *a = NULL;
    struct td_analysis_ctx *ctx = NULL;
    struct td_error err;
    td_error_clear(&err);
    if (td_analyser_open(TD_SOURCE_DIR, NULL, &a, &err))
        fail_msg("analyser: %s", err.message);
    assert_int_equal(td_analysis_ctx_new(a, &ctx), TD_OK);
    struct {
        const char *file;
        size_t record;
        int threat;
    } cases[] = {
        {"twitter_v2_mentions.json", 0, 1},
        {"twitter_archive_tweets.js", 0, 1},
        {"bluesky_thread.json", 1, 1},
        {"facebook_comments.json", 0, 1},
        {"instagram_post_comments_1.json", 1, 1},
        {"twitter_v2_mentions.json", 2, 0},
        {"bluesky_thread.json", 2, 0},
        {"bluesky_thread.json", 3, 0},
        {"facebook_comments.json", 1, 0},
    };
    struct td_verdict v;
    td_verdict_init(&v);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct got g;
        read_fixture(cases[i].file, TD_FORMAT_AUTO, &g);
        struct td_message *m = &g.m[cases[i].record];
        assert_int_equal(td_analyse(ctx, m->text, m->text_len, &v, &err), TD_OK);
        int threat = (v.labels >> TD_LABEL_THREAT) & 1;
        if (threat != cases[i].threat ||
            (threat ? v.severity < TD_SEVERITY_HIGH : v.severity >= TD_SEVERITY_MEDIUM))
            fail_msg("%s[%zu] \"%s\": threat=%d severity=%s (%s)", cases[i].file, cases[i].record,
                     m->text, threat, td_severity_name(v.severity), v.reason);
        got_release(&g);
    }
    td_verdict_release(&v);
    td_analysis_ctx_free(ctx);
    td_analyser_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(twitter_v2),
        cmocka_unit_test(twitter_archive),
        cmocka_unit_test(bluesky),
        cmocka_unit_test(facebook),
        cmocka_unit_test(mojibake),
        cmocka_unit_test(times),
        cmocka_unit_test(detection_and_hostile),
        cmocka_unit_test(verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
