/*
 * test_server_perspective.c - what comments:analyze adds to the analyser:
 * HTML comments turned into text (entities decoded), a profanity signal of
 * its own from data/perspective/profanity.txt, a language detector from
 * data/perspective/languages.txt, and the real API's error for attributes
 * it defines but we do not model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "server/perspective_int.h"
#include "server/server_int.h"

static int setup(void **state)
{
    struct td__plex *p = NULL;
    struct td_error err;
    td_error_clear(&err);
    if (td__plex_load(NULL, &p, &err) != TD_OK) {
        char buf[600];
        fprintf(stderr, "%s\n", td_error_format(&err, buf, sizeof buf));
        return -1;
    }
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    td__plex_free(*state);
    return 0;
}

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    assert_non_null(j);
    return j;
}

static void test_html_comment_becomes_text(void **state)
{
    (void)state;
    struct td__preq q;
    struct td_error err;
    td_error_clear(&err);
    json_t *req = parse("{\"comment\":{\"text\":\"<p>I will <b>k&#105;ll</b> you</p>\","
                        "\"type\":\"HTML\"},\"requestedAttributes\":{\"THREAT\":{}}}");
    assert_int_equal(td__perspective_check(req, &q, &err), TD_OK);
    assert_true(q.html);
    assert_int_equal(q.len, strlen("I will kill you"));
    assert_memory_equal(q.text, "I will kill you", q.len);
    td__preq_release(&q);
    json_decref(req);

    /* Plain text is left alone, markup and all. */
    req = parse("{\"comment\":{\"text\":\"<b>k&#105;ll</b>\"},"
                "\"requestedAttributes\":{\"THREAT\":{}}}");
    assert_int_equal(td__perspective_check(req, &q, &err), TD_OK);
    assert_false(q.html);
    assert_int_equal(q.len, strlen("<b>k&#105;ll</b>"));
    td__preq_release(&q);
    json_decref(req);

    /* HTML with no text in it is an empty comment. */
    req = parse("{\"comment\":{\"text\":\"<p><script>x()</script></p>\",\"type\":\"HTML\"},"
                "\"requestedAttributes\":{\"THREAT\":{}}}");
    assert_int_equal(td__perspective_check(req, &q, &err), TD_EINVAL);
    assert_string_equal(err.field, "comment.text");
    td__preq_release(&q);
    json_decref(req);
}

static void test_profanity_is_its_own_signal(void **state)
{
    const struct td__plex *p = *state;
    struct td__pspan sp[8];
    size_t n;
    double score;
    struct td_error err;
    td_error_clear(&err);
    const char *t = "You are a fucking idiot";
    assert_int_equal(td__plex_profanity(p, t, strlen(t), &score, sp, 8, &n, &err), TD_OK);
    assert_true(score >= 0.9);
    assert_int_equal(n, 1);
    assert_int_equal(sp[0].start, 10);
    assert_int_equal(sp[0].end, 17);

    /* An insult without an obscenity is not profanity. */
    t = "You are an idiot and a traitor";
    assert_int_equal(td__plex_profanity(p, t, strlen(t), &score, sp, 8, &n, &err), TD_OK);
    assert_true(score < 0.01);
    assert_int_equal(n, 0);

    /* Censored and leet spellings reach the lexicon through the normaliser;
     * spans point at the original bytes. */
    t = "what a f***ing sh1t show";
    assert_int_equal(td__plex_profanity(p, t, strlen(t), &score, sp, 8, &n, &err), TD_OK);
    assert_true(score >= 0.95);
    assert_int_equal(n, 2);
    assert_memory_equal(t + sp[0].start, "f***ing", 7);

    /* Words that merely start like one are not ("Scunthorpe", "assess"). */
    t = "Scunthorpe will assess the class";
    assert_int_equal(td__plex_profanity(p, t, strlen(t), &score, sp, 8, &n, &err), TD_OK);
    assert_true(score < 0.01);
}

static void test_language_detection(void **state)
{
    const struct td__plex *p = *state;
    struct {
        const char *text, *lang;
    } cases[] = {
        {"Je vais te tuer, tu ne mérites pas de vivre.", "fr"},
        {"Nous savons où vous habitez et nous allons venir.", "fr"},
        {"Te voy a matar, no mereces vivir en este país.", "es"},
        {"Ich weiß, wo du wohnst, und ich werde dich finden.", "de"},
        {"I know where you live and I will find you.", "en"},
        {"You are a fucking idiot", "en"},
        {"ok", "und"},
        {"12345 !!!", "und"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = td__plex_language(p, cases[i].text, strlen(cases[i].text));
        if (strcmp(got, cases[i].lang))
            fail_msg("\"%s\": expected %s, got %s", cases[i].text, cases[i].lang, got);
    }
}

static void test_unmodelled_attribute_is_the_real_error(void **state)
{
    (void)state;
    struct td__preq q;
    struct td_error err;
    td_error_clear(&err);
    json_t *req = parse("{\"comment\":{\"text\":\"hello\"},"
                        "\"requestedAttributes\":{\"TOXICITY\":{},\"SPAM\":{}}}");
    assert_int_equal(td__perspective_check(req, &q, &err), TD_EINVAL);
    assert_string_equal(q.bad_attribute, "SPAM");
    assert_string_equal(q.bad_language, "en");
    json_t *e = td__perspective_language_error(q.bad_attribute, q.bad_language);
    json_t *eo = json_object_get(e, "error");
    assert_int_equal(json_integer_value(json_object_get(eo, "code")), 400);
    assert_string_equal(json_string_value(json_object_get(eo, "status")), "INVALID_ARGUMENT");
    assert_string_equal(json_string_value(json_object_get(eo, "message")),
                        "Attribute SPAM does not support request languages: en");
    json_t *d = json_array_get(json_object_get(eo, "details"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "errorType")),
                        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE");
    json_decref(e);
    td__preq_release(&q);
    json_decref(req);

    /* A name Perspective never had is just unknown. */
    req = parse("{\"comment\":{\"text\":\"hello\"},\"requestedAttributes\":{\"NOPE\":{}}}");
    assert_int_equal(td__perspective_check(req, &q, &err), TD_EINVAL);
    assert_string_equal(q.bad_attribute, "");
    td__preq_release(&q);
    json_decref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_comment_becomes_text),
        cmocka_unit_test(test_profanity_is_its_own_signal),
        cmocka_unit_test(test_language_detection),
        cmocka_unit_test(test_unmodelled_attribute_is_the_real_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
