/*
 * test_analyse_grammar.c - the threat grammar (include/threatdesk/grammar.h).
 *
 *   - the data-driven cases of tests/fixtures/grammar_cases.tsv (format in
 *     that file's header): labels that must fire, labels that must not,
 *     the exact flag set, labels that must be marked suppressed;
 *   - hit byte ranges and rule names, result reuse, empty and invalid input;
 *   - load errors, each naming the file and line: missing directory, bad
 *     regex, unknown lexicon, bad kind / labels / strength / flags, empty
 *     lexicon, a broken lexicon entry;
 *   - the apostrophe rule (' also matches U+2019) and the pre-filter;
 *   - the pre-filter against running every rule over the whole text, on the
 *     text of the training datasets in ../shared/data (read at test time,
 *     never copied) cut into short messages and glued into long letters
 *     (which run rules in windows), plus the texts it once missed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyse/grammar_int.h"
#include "threatdesk/buf.h"
#include "threatdesk/grammar.h"
#include "threatdesk/text.h"

static const char *home(void)
{
    const char *h = getenv("THREATDESK_HOME");
    return h && *h ? h : TD_SOURCE_DIR;
}

static struct td_grammar *load_real(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/grammar", home());
    struct td_grammar *g = NULL;
    struct td_error err;
    td_error_clear(&err);
    int rc = td_grammar_load(dir, &g, &err);
    if (rc) {
        char b[1024];
        fail_msg("load %s: %s", dir, td_error_format(&err, b, sizeof b));
    }
    return g;
}

/* ---- the case file -------------------------------------------------------- */

/* Parse a comma list of label names into a bit set; "*" gives `star`. */
static unsigned label_set(const char *s, unsigned star, size_t lineno)
{
    if (!s || !*s || strcmp(s, "-") == 0)
        return 0;
    if (strcmp(s, "*") == 0)
        return star;
    unsigned set = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *p = buf;
    while (p && *p) {
        char *c = strchr(p, ',');
        if (c)
            *c = '\0';
        int l = td_label_from_name(p);
        if (l < 0)
            fail_msg("grammar_cases.tsv:%zu: unknown label '%s'", lineno, p);
        set |= 1u << l;
        p = c ? c + 1 : NULL;
    }
    return set;
}

static unsigned flag_set(const char *s, size_t lineno)
{
    unsigned set = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *p = buf;
    while (p && *p) {
        char *c = strchr(p, ',');
        if (c)
            *c = '\0';
        int found = 0;
        for (int b = 0; b < TD_FLAG_COUNT; b++)
            if (strcmp(td_flag_name(b), p) == 0) {
                set |= 1u << b;
                found = 1;
            }
        if (!found)
            fail_msg("grammar_cases.tsv:%zu: unknown flag '%s'", lineno, p);
        p = c ? c + 1 : NULL;
    }
    return set;
}

static void describe(const char *text, const struct td_grammar_result *r)
{
    for (size_t i = 0; i < r->nhits; i++) {
        const struct td_grammar_hit *h = &r->hits[i];
        print_message("      hit %s (%s %.2f) [%.*s]\n", h->rule, td_label_name(h->label),
                      (double)h->strength, (int)(h->end - h->start), text + h->start);
    }
}

static void test_cases(void **state)
{
    (void)state;
    struct td_grammar *g = load_real();
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/grammar_cases.tsv", home());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    struct td_grammar_result r, full;
    td_grammar_result_init(&r);
    td_grammar_result_init(&full);
    char *line = NULL;
    size_t cap = 0, lineno = 0, ncases = 0, nfail = 0, npos = 0, nneg = 0;
    ssize_t n;
    const unsigned all = (1u << TD_LABEL_COUNT) - 1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        char *col[5] = {line, NULL, NULL, NULL, NULL};
        int ncol = 1;
        for (char *p = line; *p && ncol < 5; p++)
            if (*p == '\t') {
                *p = '\0';
                col[ncol++] = p + 1;
            }
        if (ncol < 3)
            fail_msg("grammar_cases.tsv:%zu: need at least 3 columns", lineno);
        unsigned want = label_set(col[1], 0, lineno);
        unsigned deny = label_set(col[2], all & ~want, lineno);
        int check_flags = ncol >= 4 && strcmp(col[3], "?") != 0;
        unsigned want_flags = check_flags ? flag_set(col[3], lineno) : 0;
        unsigned want_sup = ncol >= 5 ? label_set(col[4], 0, lineno) : 0;

        struct td_error err;
        td_error_clear(&err);
        assert_int_equal(td_grammar_match(g, col[0], strlen(col[0]), &r, &err), TD_OK);
        ncases++;
        if (want)
            npos++;
        else
            nneg++;
        int ok = 1;
        for (int l = 0; l < TD_LABEL_COUNT; l++) {
            if (((want >> l) & 1) && !(r.score[l] > 0)) {
                print_message("FAIL %zu: '%s': %s did not fire\n", lineno, col[0],
                              td_label_name(l));
                ok = 0;
            }
            if (((deny >> l) & 1) && r.score[l] > 0) {
                print_message("FAIL %zu: '%s': %s fired (%.2f)\n", lineno, col[0], td_label_name(l),
                              (double)r.score[l]);
                ok = 0;
            }
            if (((want_sup >> l) & 1) && !r.suppressed[l]) {
                print_message("FAIL %zu: '%s': %s not marked suppressed\n", lineno, col[0],
                              td_label_name(l));
                ok = 0;
            }
            assert_true(r.score[l] >= 0.0f && r.score[l] <= 1.0f);
        }
        if (check_flags && r.flags != want_flags) {
            print_message("FAIL %zu: '%s': flags 0x%x, expected 0x%x\n", lineno, col[0], r.flags,
                          want_flags);
            ok = 0;
        }
        for (size_t i = 0; i < r.nhits; i++) {
            assert_true(r.hits[i].start < r.hits[i].end);
            assert_true(r.hits[i].end <= strlen(col[0]));
            assert_non_null(r.hits[i].rule);
            if (i)
                assert_true(r.hits[i - 1].start <= r.hits[i].start);
        }
        /* the pre-filter must not change anything: every rule that can
         * match has a word of its trigger lists in the text */
        assert_int_equal(td__grammar_match_unfiltered(g, col[0], strlen(col[0]), &full, &err),
                         TD_OK);
        if (full.nhits != r.nhits || full.flags != r.flags ||
            memcmp(full.score, r.score, sizeof r.score) != 0 ||
            memcmp(full.suppressed, r.suppressed, sizeof r.suppressed) != 0) {
            print_message("FAIL %zu: '%s': the pre-filter changed the result (a rule matched "
                          "without its trigger words); without it:\n",
                          lineno, col[0]);
            describe(col[0], &full);
            ok = 0;
        }
        if (!ok) {
            describe(col[0], &r);
            nfail++;
        }
    }
    print_message("grammar cases: %zu (%zu expecting a label, %zu expecting none), %zu passed "
                  "(%.1f%%)\n",
                  ncases, npos, nneg, ncases - nfail,
                  ncases ? 100.0 * (double)(ncases - nfail) / (double)ncases : 0.0);
    free(line);
    fclose(f);
    td_grammar_result_release(&r);
    td_grammar_result_release(&full);
    td_grammar_free(g);
    assert_true(ncases >= 120);
    assert_true(nneg >= 40);
    assert_int_equal(nfail, 0);
}

/* ---- hits, ranges, reuse, bad input ------------------------------------------ */

static const struct td_grammar_hit *find_hit(const struct td_grammar_result *r, const char *rule)
{
    for (size_t i = 0; i < r->nhits; i++)
        if (strcmp(r->hits[i].rule, rule) == 0)
            return &r->hits[i];
    return NULL;
}

static void test_hits_and_ranges(void **state)
{
    (void)state;
    struct td_grammar *g = load_real();
    struct td_grammar_result r;
    td_grammar_result_init(&r);
    struct td_error err;

    /* a fresh result and a text with no trigger word: no hit array yet */
    const char *first = "thank you for the lovely flowers";
    assert_int_equal(td_grammar_match(g, first, strlen(first), &r, &err), TD_OK);
    assert_int_equal(r.nhits, 0);
    const char *t = "hello mp. i will kill you tonight.";
    assert_int_equal(td_grammar_match(g, t, strlen(t), &r, &err), TD_OK);
    const struct td_grammar_hit *h = find_hit(&r, "threat.direct");
    assert_non_null(h);
    assert_int_equal(h->kind, TD_HIT_LABEL);
    assert_int_equal(h->label, TD_LABEL_THREAT);
    assert_int_equal(h->start, 10); /* "i will kill you" */
    assert_int_equal(h->end, 25);
    assert_true(h->strength >= 0.9f);
    const struct td_grammar_hit *d = find_hit(&r, "detail.time");
    assert_non_null(d);
    assert_int_equal(d->kind, TD_HIT_DETAIL);
    assert_memory_equal(t + d->start, "tonight", 7);
    assert_int_equal(d->end - d->start, 7);
    assert_true(d->flags & TD_FLAG(TIME_BOUND));
    assert_true(r.flags & TD_FLAG(TIME_BOUND));

    /* reuse: the previous result is discarded, nothing leaks across calls */
    const char *calm = "thank you for your letter about the bins";
    assert_int_equal(td_grammar_match(g, calm, strlen(calm), &r, &err), TD_OK);
    assert_int_equal(r.nhits, 0);
    assert_int_equal(r.flags, 0);
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        assert_true(r.score[l] == 0.0f);
        assert_int_equal(r.suppressed[l], 0);
    }

    /* a time word alone in a harmless message raises nothing and keeps no hit */
    const char *lone = "see you tonight at 7pm at your surgery";
    assert_int_equal(td_grammar_match(g, lone, strlen(lone), &r, &err), TD_OK);
    assert_int_equal(r.flags, 0);
    assert_null(find_hit(&r, "detail.time"));

    /* a suppressor is reported as a hit, the cancelled label hit is gone */
    const char *neg = "i would never hurt you";
    assert_int_equal(td_grammar_match(g, neg, strlen(neg), &r, &err), TD_OK);
    h = find_hit(&r, "suppress.negation");
    assert_non_null(h);
    assert_int_equal(h->kind, TD_HIT_SUPPRESS);
    assert_memory_equal(neg + h->start, "never", 5);
    for (size_t i = 0; i < r.nhits; i++)
        assert_int_not_equal(r.hits[i].kind, TD_HIT_LABEL);
    assert_int_equal(r.suppressed[TD_LABEL_THREAT], 1);

    /* a harm word alone: no evidence either way */
    const char *bare = "kill";
    assert_int_equal(td_grammar_match(g, bare, 4, &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] == 0.0f);

    /* empty text, invalid UTF-8, NULL grammar */
    assert_int_equal(td_grammar_match(g, "", 0, &r, &err), TD_OK);
    assert_int_equal(r.nhits, 0);
    const char bad[] = "i will kill \xff you";
    td_error_clear(&err);
    assert_int_equal(td_grammar_match(g, bad, sizeof bad - 1, &r, &err), TD_EUTF8);
    assert_int_equal(err.byte, 12);
    assert_int_equal(td_grammar_match(NULL, "x", 1, &r, &err), TD_EINVAL);

    /* the text need not be NUL-terminated: only len bytes are read */
    char buf[32];
    memcpy(buf, "i will kill youXXXXXXXX", 23);
    assert_int_equal(td_grammar_match(g, buf, 15, &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] > 0.9f);
    for (size_t i = 0; i < r.nhits; i++)
        assert_true(r.hits[i].end <= 15);

    td_grammar_result_release(&r);
    td_grammar_result_release(&r); /* twice is safe */
    td_grammar_free(g);
    td_grammar_free(NULL);
}

/* Both a quotation of a threat and a genuine new threat: the quoted one is
 * cancelled, the new one stands, and the suppressor is still reported. */
/* Details alone: a threat the grammar has no rule for still has its time
 * and place found, for the caller whose model decided it is a threat;
 * td_grammar_match keeps details only beside a threat rule's hit. */
static void test_details_alone(void **state)
{
    (void)state;
    struct td_grammar *g = load_real();
    struct td_grammar_result r;
    td_grammar_result_init(&r);
    struct td_error err;
    const char *t = "see what happens at your surgery on friday";
    assert_int_equal(td_grammar_match(g, t, strlen(t), &r, &err), TD_OK);
    assert_int_equal(r.flags & (TD_FLAG(TIME_BOUND) | TD_FLAG(LOCATION)), 0);
    assert_int_equal(td_grammar_details(g, t, strlen(t), &r, &err), TD_OK);
    assert_true(r.flags & TD_FLAG(TIME_BOUND));
    assert_true(r.flags & TD_FLAG(LOCATION));
    for (size_t i = 0; i < r.nhits; i++) {
        assert_int_equal(r.hits[i].kind, TD_HIT_DETAIL);
        assert_true(r.hits[i].end <= strlen(t));
        if (i)
            assert_true(r.hits[i - 1].start <= r.hits[i].start);
    }
    const char *plain = "thank you for the lovely flowers";
    assert_int_equal(td_grammar_details(g, plain, strlen(plain), &r, &err), TD_OK);
    assert_int_equal(r.nhits, 0);
    assert_int_equal(r.flags, 0);
    const char bad[] = {'a', (char)0xFF};
    assert_int_equal(td_grammar_details(g, bad, sizeof bad, &r, &err), TD_EUTF8);
    td_grammar_result_release(&r);
    td_grammar_free(g);
}

static void test_quote_and_new_threat(void **state)
{
    (void)state;
    struct td_grammar *g = load_real();
    struct td_grammar_result r;
    td_grammar_result_init(&r);
    struct td_error err;
    const char *t = "she got a message saying 'you will die'. i will stab you on friday";
    assert_int_equal(td_grammar_match(g, t, strlen(t), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] >= 0.9f);
    assert_true(r.flags & TD_FLAG(TIME_BOUND));
    int label_hits = 0, sup = 0;
    for (size_t i = 0; i < r.nhits; i++) {
        const struct td_grammar_hit *h = &r.hits[i];
        if (h->kind == TD_HIT_LABEL && h->label == TD_LABEL_THREAT) {
            label_hits++;
            assert_true(h->start >= (size_t)(strstr(t, "i will") - t)); /* not the quote */
        }
        if (h->kind == TD_HIT_SUPPRESS && h->label == TD_LABEL_THREAT)
            sup++;
    }
    assert_true(label_hits >= 1);
    assert_true(sup >= 1);
    /* the quote alone: nothing fires, the label is marked suppressed */
    const char *q = "she got a message saying 'you will die'";
    assert_int_equal(td_grammar_match(g, q, strlen(q), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] == 0.0f);
    assert_int_equal(r.suppressed[TD_LABEL_THREAT], 1);
    assert_int_equal(r.flags, 0);
    td_grammar_result_release(&r);
    td_grammar_free(g);
}

/* ---- load errors and data-file rules, on grammars written to a temp dir ------ */

struct tmpg {
    char dir[64];
};

static void put(const char *dir, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mk(struct tmpg *t, const char *rules)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/td_grammar_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    char lx[128];
    snprintf(lx, sizeof lx, "%s/lexicons", t->dir);
    assert_int_equal(mkdir(lx, 0700), 0);
    put(t->dir, "lexicons/harm.txt", "# harm\nkill\nstab\n\nstring up\n");
    put(t->dir, "lexicons/who.txt", "you\nyour (?:wife|kids)\n");
    if (rules)
        put(t->dir, "rules.txt", rules);
}

static void rm(struct tmpg *t)
{
    char p[256];
    const char *files[] = {"rules.txt", "lexicons/harm.txt", "lexicons/who.txt",
                           "lexicons/empty.txt", "lexicons/broken.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", t->dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/lexicons", t->dir);
    rmdir(p);
    rmdir(t->dir);
}

static int load_tmp(struct tmpg *t, struct td_grammar **g, struct td_error *err)
{
    td_error_clear(err);
    *g = NULL;
    return td_grammar_load(t->dir, g, err);
}

static void test_load_errors(void **state)
{
    (void)state;
    struct td_grammar *g;
    struct td_error err;
    struct tmpg t;

    /* missing directory: not found, naming rules.txt */
    td_error_clear(&err);
    g = NULL;
    assert_int_equal(td_grammar_load("/nonexistent/grammar", &g, &err), TD_ENOTFOUND);
    assert_null(g);
    assert_non_null(strstr(err.file, "rules.txt"));

    /* a bad regex: file, line and the rule named */
    mk(&t, "# comment\n@trigger harm kill\nok label threat 0.9 - harm \\b{harm} {who}\n"
           "broken label threat 0.9 - - \\b(?:kill {who}\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_EPATTERN);
    assert_null(g);
    assert_non_null(strstr(err.file, "rules.txt"));
    assert_int_equal(err.line, 4);
    assert_non_null(strstr(err.message, "broken"));
    rm(&t);

    /* an unknown lexicon: not found, at the rule's line, naming the lexicon */
    mk(&t, "r label threat 0.9 - - {harm} {nosuch}\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_ENOTFOUND);
    assert_int_equal(err.line, 1);
    assert_non_null(strstr(err.message, "nosuch"));
    assert_non_null(strstr(err.file, "rules.txt"));
    rm(&t);

    /* bad kind, labels, strength, flags, missing pattern, detail without flag */
    const char *bad[] = {
        "r lable threat 0.9 - - x\n",
        "r label threats 0.9 - - x\n",
        "r label threat 1.5 - - x\n",
        "r label threat abc - - x\n",
        "r label threat 0.9 urgent - x\n",
        "r label threat 0.9 -\n",
        "r detail threat 0.5 - - x\n",
        "@define 9bad x\n",
        "@define a x\n@define a y\n",
        "@trigger t Kill\nr label threat 0.9 - t x\n",
        "@trigger t\n",
        "@trigger t *\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mk(&t, bad[i]);
        int rc = load_tmp(&t, &g, &err);
        if (rc != TD_EPARSE)
            fail_msg("case %zu: rc %d (%s)", i, rc, err.message);
        assert_null(g);
        assert_true(err.line >= 1);
        assert_non_null(strstr(err.file, "rules.txt"));
        rm(&t);
    }

    /* a rule naming an undeclared trigger list */
    mk(&t, "@trigger harm kill\n\nr label threat 0.9 - harm,nosuch x\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_ENOTFOUND);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.message, "nosuch"));
    rm(&t);

    /* an empty lexicon is an error naming the lexicon file */
    mk(&t, "r label threat 0.9 - - {empty}\n");
    put(t.dir, "lexicons/empty.txt", "# nothing here\n\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_EPARSE);
    assert_non_null(strstr(err.file, "empty.txt"));
    rm(&t);

    /* a broken lexicon entry is reported at the rule that uses it */
    mk(&t, "\n\nr label threat 0.9 - - {broken}\n");
    put(t.dir, "lexicons/broken.txt", "fine\nbad(\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_EPATTERN);
    assert_int_equal(err.line, 3);
    rm(&t);

    /* no rules at all */
    mk(&t, "# only comments\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_EPARSE);
    rm(&t);
}

static void test_small_grammar(void **state)
{
    (void)state;
    struct td_grammar *g;
    struct td_error err;
    struct tmpg t;
    mk(&t, "@define will (?:will|'ll)\n"
           "@trigger harm kill stab* string\n"
           "t.direct label threat,sexual 0.9 - harm \\bi ?{will}(?: \\w+)? {harm} {who}\\b\n"
           "t.always label abuse 0.4 - - \\bidiot\\b\n"
           "d.time detail threat 0.5 time_bound - \\btonight\\b\n"
           "s.neg suppress threat 0.9 - harm \\bnever {harm}\n"
           "q.count label abuse 0.3 - - \\bquantifier{2,3}\\b\n");
    assert_int_equal(load_tmp(&t, &g, &err), TD_OK);
    struct td_grammar_result r;
    td_grammar_result_init(&r);

    /* both apostrophes; longest lexicon entry first ("string up") */
    const char *a = "i'll stab you";
    const char *b = "i\xe2\x80\x99ll string up your kids tonight";
    assert_int_equal(td_grammar_match(g, a, strlen(a), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] > 0.89f);
    assert_true(r.score[TD_LABEL_SEXUAL] > 0.89f); /* one rule, two labels */
    assert_int_equal(r.flags, 0);
    assert_int_equal(td_grammar_match(g, b, strlen(b), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] > 0.89f);
    assert_int_equal(r.flags, TD_FLAG(TIME_BOUND));
    const struct td_grammar_hit *h = find_hit(&r, "t.direct");
    assert_non_null(h);
    assert_int_equal(h->end - h->start, strlen("i\xe2\x80\x99ll string up your kids"));

    /* a quantifier {2,3} is not a lexicon reference */
    assert_int_equal(td_grammar_match(g, "quantifierr", 11, &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_ABUSE] > 0.29f);

    /* the pre-filter: without a harm word the triggered rules do not run,
     * the untriggered ones do */
    const char *c = "you idiot, tonight";
    assert_int_equal(td_grammar_match(g, c, strlen(c), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_ABUSE] > 0.39f);
    assert_true(r.score[TD_LABEL_THREAT] == 0.0f);
    assert_int_equal(r.flags, 0); /* no threat: the time detail does not count */

    /* suppression is local: the negated harm is cancelled, the other stands */
    const char *d = "i will never stab you. i will kill you";
    assert_int_equal(td_grammar_match(g, d, strlen(d), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] > 0.89f);
    assert_int_equal(r.suppressed[TD_LABEL_THREAT], 1);
    const char *e = "i will never stab you";
    assert_int_equal(td_grammar_match(g, e, strlen(e), &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] == 0.0f);
    assert_int_equal(r.suppressed[TD_LABEL_THREAT], 1);

    td_grammar_result_release(&r);
    td_grammar_free(g);
    rm(&t);
}

/* ---- the pre-filter changes nothing ------------------------------------------- */

static int same_result(const struct td_grammar_result *a, const struct td_grammar_result *b)
{
    if (a->nhits != b->nhits || a->flags != b->flags ||
        memcmp(a->score, b->score, sizeof a->score) != 0 ||
        memcmp(a->suppressed, b->suppressed, sizeof a->suppressed) != 0)
        return 0;
    for (size_t i = 0; i < a->nhits; i++) {
        const struct td_grammar_hit *x = &a->hits[i], *y = &b->hits[i];
        if (x->start != y->start || x->end != y->end || x->kind != y->kind ||
            x->label != y->label || strcmp(x->rule, y->rule) != 0)
            return 0;
    }
    return 1;
}

struct pf {
    struct td_grammar *g;
    struct td_normaliser *nz;
    struct td_norm n;
    struct td_grammar_result r, full;
    size_t checked, differ, long_checked;
};

/* Normalise one text and compare the two ways of matching it. */
static void pf_check(struct pf *p, const char *text, size_t len)
{
    struct td_error err;
    td_error_clear(&err);
    if (td_normalise(p->nz, text, len, &p->n, &err) != TD_OK || p->n.len == 0)
        return;
    assert_int_equal(td_grammar_match(p->g, p->n.text, p->n.len, &p->r, &err), TD_OK);
    assert_int_equal(td__grammar_match_unfiltered(p->g, p->n.text, p->n.len, &p->full, &err),
                     TD_OK);
    p->checked++;
    p->long_checked += p->n.len >= 4096;
    if (!same_result(&p->r, &p->full)) {
        if (p->differ++ < 5) {
            print_message("pre-filter changed the result of (%zu bytes): %.200s\n", p->n.len,
                          p->n.text);
            describe(p->n.text, &p->full);
        }
    }
}

/* Up to max lines of a dataset file as messages; every 40 lines also glued
 * into one long letter, so the windowed path is checked too. */
static void pf_file(struct pf *p, const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL, *letter = NULL;
    size_t cap = 0, nl = 0, llen = 0, lcap = 0;
    ssize_t got;
    while (nl < max && (got = getline(&line, &cap, f)) >= 0) {
        nl++;
        pf_check(p, line, (size_t)got);
        if (llen + (size_t)got + 1 > lcap) {
            lcap = (llen + (size_t)got + 1) * 2;
            char *q = realloc(letter, lcap);
            assert_non_null(q);
            letter = q;
        }
        memcpy(letter + llen, line, (size_t)got);
        llen += (size_t)got;
        if (nl % 40 == 0) {
            pf_check(p, letter, llen);
            llen = 0;
        }
    }
    free(line);
    free(letter);
    fclose(f);
}

static void test_prefilter_corpus(void **state)
{
    (void)state;
    struct pf p;
    memset(&p, 0, sizeof p);
    p.g = load_real();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/text", home());
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_normaliser_load(dir, &p.nz, &err), TD_OK);
    td_norm_init(&p.n);
    td_grammar_result_init(&p.r);
    td_grammar_result_init(&p.full);

    /* texts the hand-written trigger lists used to miss */
    static const char *missed[] = {
        "burn it down ! cuck policies have decimated my local area .",
        "rip his head off!! #rockstarenergy",
        "1 go kill your self",
        "vacation mode: on. chicago, we're comin for ya!!",
        "i'm dying\xf0\x9f\x98\x82\xf0\x9f\x98\x82 #thewalkingdead",
        "soon you will get a bullet in your head",
        "these are the things like gun control that matter",
    };
    for (size_t i = 0; i < sizeof missed / sizeof *missed; i++)
        pf_check(&p, missed[i], strlen(missed[i]));
    assert_int_equal(p.differ, 0);
    /* the case file, one message each and all glued into long letters */
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/grammar_cases.tsv", home());
    pf_file(&p, path, 100000);
    /* the datasets, when the checkout sits beside ../shared/data */
    static const char *sets[] = {
        "davidson2017/labeled_data.csv",
        "gab-hate-corpus/ghc_train.tsv",
        "olid/olid-training-v1.0.tsv",
        "edos/edos_train.csv",
        "guest-misogyny/guest_train.csv",
        "implicit-hate/implicit_hate_v1_stg1_posts.tsv",
        "implicit-hate/implicit_hate_v1_stg2_posts.tsv",
        "conan/CONAN.csv",
        "youtube-threat/threat_corpus_odd_videos.txt",
    };
    size_t before = p.checked;
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        snprintf(path, sizeof path, "%s/../shared/data/%s", home(), sets[i]);
        pf_file(&p, path, 2500);
    }
    print_message("pre-filter: %zu texts (%zu from the datasets, %zu of 4 KiB or more), %zu "
                  "differ\n",
                  p.checked, p.checked - before, p.long_checked, p.differ);
    if (p.checked - before == 0)
        print_message("pre-filter: ../shared/data not found; checked the cases only\n");
    else
        assert_true(p.checked - before >= 10000);
    assert_true(p.long_checked >= 20);
    assert_int_equal(p.differ, 0);
    td_grammar_result_release(&p.r);
    td_grammar_result_release(&p.full);
    td_norm_release(&p.n);
    td_normaliser_free(p.nz);
    td_grammar_free(p.g);
}

/* Every shipped rule has words it needs (else it runs on every text), and
 * a rule with a bounded length can run in windows. */
static void test_prefilter_requirements(void **state)
{
    (void)state;
    struct td_grammar *g = load_real();
    const char *name;
    char req[256];
    int bounded, nbounded = 0;
    size_t i, none = 0;
    for (i = 0; td__grammar_rule_info(g, i, &name, req, sizeof req, &bounded); i++) {
        nbounded += bounded;
        if (!req[0] && strcmp(name, "detail.time") != 0 && strcmp(name, "detail.address") != 0) {
            print_message("rule %zu (%s) requires no word\n", i, name);
            none++;
        }
    }
    assert_true(i >= 100);
    assert_true(none <= 2);
    assert_true(nbounded >= (int)i - 8);
    td_grammar_free(g);
}

/* The requirement cache: the shipped one is current and complete (else
 * start-up silently pays for the derivation again), entries survive a
 * round trip, and a stale or damaged cache costs time, never rules. */
static void test_requirement_cache(void **state)
{
    (void)state;
    struct td_error err;
    td_error_clear(&err);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/grammar", home());
    int current = 0;
    assert_int_equal(td_grammar_check_cache(dir, &current, &err), TD_OK);
    if (!current)
        fail_msg("%s/requirements.cache is out of date: run `threatdesk grammar cache`", dir);
    struct td_grammar *g = NULL;
    size_t misses = 99;
    assert_int_equal(td__grammar_load_ex(dir, 0, NULL, &misses, &g, &err), TD_OK);
    assert_int_equal(misses, 0);
    td_grammar_free(g);

    /* every shipped requirement: format, scan, format again - the same */
    struct td_buf rec;
    td_buf_init(&rec, 64u << 20);
    assert_int_equal(td__grammar_load_ex(dir, TD__GRAMMAR_NO_CACHE, &rec, &misses, &g, &err),
                     TD_OK);
    assert_true(misses >= 100);
    td_grammar_free(g);
    size_t entries = 0;
    for (char *p = rec.data; p && *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (*p != '#' && strncmp(p, "threatdesk-req-cache", 20) != 0) {
            struct td__req r;
            const char *body = p + 33;
            size_t n = (size_t)(nl - body);
            assert_int_equal(td__req_scan(body, n, &r), TD_OK);
            struct td_buf again;
            td_buf_init(&again, 16u << 20);
            assert_int_equal(td__req_format(&r, &again), TD_OK);
            assert_int_equal(again.len, n);
            assert_memory_equal(again.data, body, n);
            td_buf_release(&again);
            td__req_release(&r);
            /* a cut entry is refused, not half-read (and a refusal owns nothing) */
            assert_int_equal(td__req_scan(body, n / 2, &r) == TD_OK && n / 2 != n, 0);
            td__req_release(&r);
            entries++;
        }
        p = nl + 1;
    }
    assert_int_equal(entries, misses);
    td_buf_release(&rec);

    /* a small grammar: no cache, then a written one, then damaged ones */
    struct tmpg t;
    mk(&t, "@trigger harm kill stab* string\n"
           "t.direct label threat 0.9 - harm \\bi will {harm} {who}\\b\n"
           "t.other label threat 0.8 - - \\bgonna {harm} {who}\\b\n");
    assert_int_equal(td__grammar_load_ex(t.dir, 0, NULL, &misses, &g, &err), TD_OK);
    assert_int_equal(misses, 2);
    td_grammar_free(g);
    assert_int_equal(td_grammar_write_cache(t.dir, &err), TD_OK);
    assert_int_equal(td__grammar_load_ex(t.dir, 0, NULL, &misses, &g, &err), TD_OK);
    assert_int_equal(misses, 0);
    struct td_grammar_result r;
    td_grammar_result_init(&r);
    assert_int_equal(td_grammar_match(g, "i will stab you", 15, &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] > 0.89f);
    td_grammar_free(g);
    /* one entry's body garbled: that rule is derived, the other read */
    char cpath[300];
    snprintf(cpath, sizeof cpath, "%s/requirements.cache", t.dir);
    FILE *f = fopen(cpath, "r+");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    char *entry = strstr(buf, " o 0 L ");
    assert_non_null(entry);
    entry[3] = '7';
    rewind(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    fclose(f);
    current = 1;
    assert_int_equal(td_grammar_check_cache(t.dir, &current, &err), TD_OK);
    assert_int_equal(current, 0);
    assert_int_equal(td__grammar_load_ex(t.dir, 0, NULL, &misses, &g, &err), TD_OK);
    assert_int_equal(misses, 1);
    assert_int_equal(td_grammar_match(g, "i will stab you", 15, &r, &err), TD_OK);
    assert_true(r.score[TD_LABEL_THREAT] > 0.89f);
    td_grammar_free(g);
    /* new word frequencies: another stamp, every rule derived again */
    put(t.dir, "word_freq.txt", "you 100\nkill 5\n");
    assert_int_equal(td__grammar_load_ex(t.dir, 0, NULL, &misses, &g, &err), TD_OK);
    assert_int_equal(misses, 2);
    td_grammar_free(g);
    td_grammar_result_release(&r);
    unlink(cpath);
    snprintf(cpath, sizeof cpath, "%s/word_freq.txt", t.dir);
    unlink(cpath);
    rm(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_hits_and_ranges),
        cmocka_unit_test(test_details_alone),
        cmocka_unit_test(test_quote_and_new_threat),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_small_grammar),
        cmocka_unit_test(test_prefilter_corpus),
        cmocka_unit_test(test_prefilter_requirements),
        cmocka_unit_test(test_requirement_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
