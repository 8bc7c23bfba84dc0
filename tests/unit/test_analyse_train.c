/*
 * test_analyse_train.c - the trainer on small data it writes itself:
 * deterministic (same data and seed, byte-identical model), learns a
 * separable signal, honours each dataset's annotation scope, and names the
 * file and field of a broken dataset map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "threatdesk/embed.h"
#include "threatdesk/train.h"

static char dir[64];
static struct td_normaliser *nz;

static void write_file(const char *name, const char *content)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

/* 400 rows: threats use harm words aimed at "you", the rest are ordinary;
 * a second dataset about abuse only. */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/td_train_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *home = getenv("THREATDESK_HOME");
    char p[512];
    snprintf(p, sizeof p, "%s/data/text", home ? home : TD_SOURCE_DIR);
    struct td_error err;
    if (td_normaliser_load(p, &nz, &err) != TD_OK)
        return -1;
    static const char *const harm[] = {"kill", "stab", "shoot", "burn", "hang"};
    static const char *const calm[] = {"help", "meet", "thank", "call", "visit"};
    static const char *const when[] = {"tomorrow", "soon", "today", "later", "now"};
    snprintf(p, sizeof p, "%s/threats.csv", dir);
    FILE *f = fopen(p, "w");
    snprintf(p, sizeof p, "%s/abuse.tsv", dir);
    FILE *g = fopen(p, "w");
    if (!f || !g)
        return -1;
    fputs("text,is_threat\n", f);
    fputs("post\tinsult\n", g);
    for (int i = 0; i < 400; i++) {
        int t = i % 4 == 0;
        fprintf(f, "\"i will %s you %s, number %d\",%d\n", t ? harm[i % 5] : calm[i % 5],
                when[(i / 5) % 5], i, t);
        fprintf(g, "you are a %s %d\t%d\n", i % 3 == 0 ? "moron" : "neighbour", i, i % 3 == 0);
    }
    fclose(f);
    fclose(g);
    write_file("map.json",
               "{\"datasets\": ["
               "{\"name\": \"t\", \"file\": \"threats.csv\", \"delimiter\": \",\", \"text\": "
               "\"text\", \"labels\": {\"threat\": [{\"column\": \"is_threat\", \"in\": "
               "[\"1\"]}]}},"
               "{\"name\": \"a\", \"file\": \"abuse.tsv\", \"delimiter\": \"\\t\", \"text\": "
               "\"post\", \"labels\": {\"abuse\": [{\"column\": \"insult\", \"in\": [\"1\"]}]}}"
               "]}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    td_normaliser_free(nz);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct td_train_opts opts(const char *map, uint64_t seed)
{
    static char mp[256];
    snprintf(mp, sizeof mp, "%s/%s", dir, map);
    struct td_train_opts o = {0};
    o.data_root = dir;
    o.config = mp;
    o.nz = nz;
    o.bits = 14;
    o.seed = seed;
    o.val_percent = 25;
    o.qbits = 16;
    return o;
}

static char *save_bytes(struct td_model *m, size_t *len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/m.model", dir);
    struct td_error err;
    assert_int_equal(td_model_save(m, p, &err), TD_OK);
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void test_learns_and_is_deterministic(void **state)
{
    (void)state;
    struct td_train_opts o = opts("map.json", 7);
    struct td_model *a = NULL, *b = NULL, *c = NULL;
    struct td_train_report ra, rb, rc;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &a, &ra, &err), TD_OK);
    assert_int_equal(ra.rows_read, 800);
    assert_true(ra.val_docs > 100 && ra.val_docs < 300); /* about 25 % */
    /* a separable signal is learnt */
    assert_true(ra.label[TD_LABEL_THREAT].auc > 0.95);
    assert_true(ra.label[TD_LABEL_ABUSE].auc > 0.95);
    /* annotation scope: threat is learnt only from the threat dataset's
     * rows, abuse only from the abuse dataset's */
    assert_int_equal(ra.label[TD_LABEL_THREAT].train_n + ra.label[TD_LABEL_THREAT].val_n, 400);
    assert_int_equal(ra.label[TD_LABEL_ABUSE].train_n + ra.label[TD_LABEL_ABUSE].val_n, 400);
    assert_false(a->trained[TD_LABEL_SEXUAL]);
    assert_false(a->trained[TD_LABEL_INTIMIDATION]);
    /* same data, same seed: byte-identical */
    assert_int_equal(td_train(&o, &b, &rb, &err), TD_OK);
    size_t la, lb, lc;
    char *ba = save_bytes(a, &la), *bb = save_bytes(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    /* another seed: another split, another model */
    struct td_train_opts o2 = opts("map.json", 8);
    assert_int_equal(td_train(&o2, &c, &rc, &err), TD_OK);
    char *bc = save_bytes(c, &lc);
    assert_true(la != lc || memcmp(ba, bc, la) != 0);
    free(ba);
    free(bb);
    free(bc);
    td_model_free(a);
    td_model_free(b);
    td_model_free(c);
}

static void test_bad_map_names_what_and_where(void **state)
{
    (void)state;
    struct td_model *m = NULL;
    struct td_train_report r;
    struct td_error err;
    /* a label column that the file does not have */
    write_file("bad1.json", "{\"datasets\": [{\"name\": \"t\", \"file\": \"threats.csv\", "
                            "\"delimiter\": \",\", \"text\": \"text\", \"labels\": {\"threat\": "
                            "[{\"column\": \"nope\", \"in\": [\"1\"]}]}}]}");
    struct td_train_opts o = opts("bad1.json", 1);
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &m, &r, &err), TD_EPARSE);
    assert_string_equal(err.field, "nope");
    assert_non_null(strstr(err.file, "threats.csv"));
    assert_null(m);
    /* an unknown label */
    write_file("bad2.json", "{\"datasets\": [{\"name\": \"t\", \"file\": \"threats.csv\", "
                            "\"delimiter\": \",\", \"text\": \"text\", \"labels\": {\"menace\": "
                            "[{\"column\": \"is_threat\", \"in\": [\"1\"]}]}}]}");
    o = opts("bad2.json", 1);
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &m, &r, &err), TD_EPARSE);
    assert_string_equal(err.field, "menace");
    /* broken JSON: line and position */
    write_file("bad3.json", "{\"datasets\": [\n  {\"name\": }\n]}");
    o = opts("bad3.json", 1);
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &m, &r, &err), TD_EPARSE);
    assert_int_equal(err.line, 2);
    /* a missing dataset file */
    write_file("bad4.json", "{\"datasets\": [{\"name\": \"t\", \"file\": \"gone.csv\", "
                            "\"delimiter\": \",\", \"text\": \"text\", \"labels\": {\"threat\": "
                            "[{\"column\": \"x\", \"in\": [\"1\"]}]}}]}");
    o = opts("bad4.json", 1);
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &m, &r, &err), TD_ENOTFOUND);
    assert_non_null(strstr(err.file, "gone.csv"));
}

/* "implied_negatives": a text annotated for every listed label and negative
 * on all of them becomes a negative of the key label; a text missing one of
 * the listed annotations (the threat-only and abuse-only sets) does not. */
static void test_implied_negatives(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/both.csv", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("text,t,a\n", f);
    size_t neither = 0;
    for (int i = 0; i < 60; i++) {
        int t = i % 4 == 0, a = i % 5 == 0;
        fprintf(f, "\"row %d of the mixed set\",%d,%d\n", i, t, a);
        neither += !t && !a;
    }
    fclose(f);
    static const char *const sets =
        "\"datasets\": ["
        "{\"name\": \"t\", \"file\": \"threats.csv\", \"delimiter\": \",\", \"text\": "
        "\"text\", \"labels\": {\"threat\": [{\"column\": \"is_threat\", \"in\": [\"1\"]}]}},"
        "{\"name\": \"a\", \"file\": \"abuse.tsv\", \"delimiter\": \"\\t\", \"text\": "
        "\"post\", \"labels\": {\"abuse\": [{\"column\": \"insult\", \"in\": [\"1\"]}]}},"
        "{\"name\": \"b\", \"file\": \"both.csv\", \"delimiter\": \",\", \"text\": \"text\", "
        "\"labels\": {\"threat\": [{\"column\": \"t\", \"in\": [\"1\"]}], "
        "\"abuse\": [{\"column\": \"a\", \"in\": [\"1\"]}]}}]";
    char map[2048];
    snprintf(map, sizeof map,
             "{%s, \"implied_negatives\": {\"intimidation\": [\"threat\", \"abuse\"]}}", sets);
    write_file("implied.json", map);
    struct td_train_opts o = opts("implied.json", 3);
    struct td_model *m = NULL;
    struct td_train_report r;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &m, &r, &err), TD_OK);
    assert_int_equal(r.implied_negatives[TD_LABEL_INTIMIDATION], neither);
    assert_int_equal(r.label[TD_LABEL_INTIMIDATION].train_n + r.label[TD_LABEL_INTIMIDATION].val_n,
                     neither);
    assert_int_equal(r.label[TD_LABEL_INTIMIDATION].train_pos, 0);
    assert_int_equal(r.implied_negatives[TD_LABEL_SEXUAL], 0);
    td_model_free(m);
    m = NULL;
    /* a label implied by itself, or an unknown one, is refused by name */
    snprintf(map, sizeof map, "{%s, \"implied_negatives\": {\"intimidation\": [\"menace\"]}}",
             sets);
    write_file("implied-bad.json", map);
    o = opts("implied-bad.json", 3);
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &m, &r, &err), TD_EPARSE);
    assert_string_equal(err.field, "implied_negatives");
    assert_null(m);
}

/* The linear threat score of one text (no calibration). */
static float threat_z(const struct td_model *m, const char *text)
{
    struct td_norm n;
    struct td_features f;
    td_norm_init(&n);
    td_features_init(&f);
    struct td_error err;
    assert_int_equal(td_featurise(nz, text, strlen(text), m->bits, &n, &f, &err), TD_OK);
    float z[TD_LABEL_COUNT];
    td_model_score(m, &f, z);
    td_features_release(&f);
    td_norm_release(&n);
    return z[TD_LABEL_THREAT];
}

/* --source-bias: extra rows that are half threats, all opening "dear
 * councillor", beside a public set that is a quarter threats and never
 * says it.  With one intercept the opening becomes evidence of a threat;
 * with one per source the extra rows' intercept takes their base rate, and
 * the opening weighs much less.  The default (off) must stay as it was. */
static void test_source_bias(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/extra.jsonl", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    static const char *const harm[] = {"kill", "stab", "shoot", "burn", "hang"};
    static const char *const calm[] = {"help", "meet", "thank", "call", "visit"};
    for (int i = 0; i < 400; i++) {
        int t = i % 2 == 0;
        fprintf(f,
                "{\"text\": \"dear councillor, i will %s you on day %d\", \"labels\": "
                "{\"threat\": %d}, \"split\": \"%s\"}\n",
                t ? harm[i % 5] : calm[(i / 2) % 5], i, t, i % 10 == 1 ? "val" : "train");
    }
    fclose(f);
    struct td_train_opts o = opts("map.json", 4);
    o.extra = p;
    struct td_model *one = NULL, *per = NULL;
    struct td_train_report r;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_train(&o, &one, &r, &err), TD_OK);
    o.source_bias = 1;
    assert_int_equal(td_train(&o, &per, &r, &err), TD_OK);
    assert_true(r.label[TD_LABEL_THREAT].auc > 0.95); /* the harm words are still learnt */
    /* against an opening of as many words that neither source uses, so
     * that both texts have the same number of features */
    float gap_one = threat_z(one, "dear councillor, i will help you") -
                    threat_z(one, "zorbly quintet, i will help you");
    float gap_per = threat_z(per, "dear councillor, i will help you") -
                    threat_z(per, "zorbly quintet, i will help you");
    fprintf(stderr, "gap one %f per %f\n", (double)gap_one, (double)gap_per);
    assert_true(gap_one > 0.5f);
    assert_true(gap_per < gap_one / 2);
    td_model_free(one);
    td_model_free(per);
}

/* An extra row's "weight": the times it is seen per epoch.  Thirty rows
 * that alone say "florp" is a threat move the word further at weight 8
 * than at 1; "weight": 1 is the same model as no weight at all; a weight
 * out of range is refused naming the field and the line. */
static void write_weighted(const char *p, const char *weight, int bad_line)
{
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 30; i++)
        fprintf(f,
                "{\"text\": \"the florp is here, item %d\", \"labels\": {\"threat\": 1}, "
                "\"split\": \"train\"%s%s}\n",
                i, weight ? ", \"weight\": " : "",
                weight ? (i + 1 == bad_line ? "0" : weight) : "");
    fclose(f);
}

static void test_extra_row_weight(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/weighted.jsonl", dir);
    struct td_train_opts o = opts("map.json", 5);
    o.extra = p;
    struct td_model *none = NULL, *one = NULL, *eight = NULL;
    struct td_train_report r;
    struct td_error err;
    td_error_clear(&err);
    write_weighted(p, NULL, 0);
    assert_int_equal(td_train(&o, &none, &r, &err), TD_OK);
    write_weighted(p, "1", 0);
    assert_int_equal(td_train(&o, &one, &r, &err), TD_OK);
    write_weighted(p, "8", 0);
    assert_int_equal(td_train(&o, &eight, &r, &err), TD_OK);
    size_t la, lb;
    char *a = save_bytes(none, &la), *b = save_bytes(one, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    float z1 = threat_z(one, "the florp is here"), z8 = threat_z(eight, "the florp is here");
    assert_true(z8 > z1 + 0.5f);
    td_model_free(none);
    td_model_free(one);
    td_model_free(eight);

    struct td_model *bad = NULL;
    write_weighted(p, "3", 7); /* line 7 has weight 0 */
    assert_int_equal(td_train(&o, &bad, &r, &err), TD_EPARSE);
    assert_null(bad);
    assert_string_equal(err.field, "weight");
    assert_int_equal(err.line, 7);
    write_weighted(p, "51", 0);
    assert_int_equal(td_train(&o, &bad, &r, &err), TD_EPARSE);
    write_weighted(p, "\"2\"", 0);
    assert_int_equal(td_train(&o, &bad, &r, &err), TD_EPARSE);
}

/* The network with weight averaging: on by default (snapshots over the
 * network's last half), off with -1, and either way it learns the
 * separable signal; the averaged network is another network. */
static void test_network_weight_averaging(void **state)
{
    (void)state;
    /* embeddings pretrained on the threat file's own texts */
    char p[256];
    snprintf(p, sizeof p, "%s/threats.csv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    struct td_embed_pretrain_opts eo = {0};
    eo.nz = nz;
    eo.dim = 8;
    eo.wbits = 10;
    eo.nbits = 12;
    eo.epochs = 1;
    eo.min_count = 1;
    eo.subsample = 1;
    struct td_embed *emb = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_embed_pretrain(&eo, &f, 1, &emb, &err), TD_OK);
    fclose(f);
    struct td_train_opts o = opts("map.json", 5);
    o.embed = emb;
    o.filters = 8;
    o.hidden = 8;
    o.nn_epochs = 4;
    struct td_model *a = NULL, *b = NULL;
    struct td_train_report ra, rb;
    assert_int_equal(td_train(&o, &a, &ra, &err), TD_OK);
    assert_true(ra.swa_snapshots > 0);
    assert_true(ra.label[TD_LABEL_THREAT].auc > 0.95);
    o.swa_epochs = -1;
    assert_int_equal(td_train(&o, &b, &rb, &err), TD_OK);
    assert_int_equal(rb.swa_snapshots, 0);
    assert_true(rb.label[TD_LABEL_THREAT].auc > 0.95);
    size_t la, lb;
    char *ba = save_bytes(a, &la), *bb = save_bytes(b, &lb);
    assert_true(la != lb || memcmp(ba, bb, la) != 0);
    free(ba);
    free(bb);
    td_model_free(a);
    td_model_free(b);
    td_embed_free(emb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_is_deterministic),
        cmocka_unit_test(test_bad_map_names_what_and_where),
        cmocka_unit_test(test_implied_negatives),
        cmocka_unit_test(test_network_weight_averaging),
        cmocka_unit_test(test_source_bias),
        cmocka_unit_test(test_extra_row_weight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
