/*
 * test_text.c - td_normalise(): the data-driven pairs in
 * tests/fixtures/normalise.tsv, the offset map, invalid UTF-8, limits, buffer
 * reuse and data-file errors.
 *
 * normalise.tsv: "<input>\t<expected>" a line, '#' comment lines, blank lines
 * skipped.  Escapes in both columns: \xHH (a raw byte, so invalid UTF-8 can be
 * written), \u{HHHH} (a code point, UTF-8 encoded), \t, \n, \r, \\.
 * A third optional column lists fix kinds the normaliser must report for the
 * line (comma-separated: leet, spaced, repeat, censored, confusable,
 * invisible) or "-" for none; absent means "not checked".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/text_int.h"
#include "threatdesk/text.h"

static const char *home(void)
{
    const char *h = getenv("THREATDESK_HOME");
    return h && *h ? h : TD_SOURCE_DIR;
}

static struct td_normaliser *load(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/text", home());
    struct td_normaliser *nz = NULL;
    struct td_error err;
    td_error_clear(&err);
    int rc = td_normaliser_load(dir, &nz, &err);
    if (rc)
        fail_msg("load %s: %s (%s:%zu)", dir, err.message, err.file, err.line);
    return nz;
}

/* Decode the fixture escapes of s[0..n) into out; returns the length. */
static size_t unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(o + 4 < cap);
        if (s[i] != '\\' || i + 1 == n) {
            out[o++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'x') {
            assert_true(i + 2 < n);
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtoul(hex, NULL, 16);
            i += 2;
        } else if (c == 'u') {
            assert_true(i + 1 < n && s[i + 1] == '{');
            char *end;
            unsigned long cp = strtoul(s + i + 2, &end, 16);
            assert_true(*end == '}');
            i = (size_t)(end - s);
            if (cp < 0x80) {
                out[o++] = (char)cp;
            } else if (cp < 0x800) {
                out[o++] = (char)(0xC0 | (cp >> 6));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[o++] = (char)(0xE0 | (cp >> 12));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (cp >> 18));
                out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            }
        } else {
            out[o++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
        }
    }
    out[o] = '\0';
    return o;
}

static unsigned parse_kinds(const char *s)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"leet", TD_FIX_LEET},
                 {"spaced", TD_FIX_SPACED},
                 {"repeat", TD_FIX_REPEAT},
                 {"censored", TD_FIX_CENSORED},
                 {"confusable", TD_FIX_CONFUSABLE},
                 {"invisible", TD_FIX_INVISIBLE}};
    unsigned k = 0;
    if (!strcmp(s, "-"))
        return 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int found = 0;
        for (size_t j = 0; j < sizeof names / sizeof *names; j++)
            if (strlen(names[j].name) == n && !strncmp(s, names[j].name, n)) {
                k |= names[j].bit;
                found = 1;
            }
        if (!found)
            fail_msg("unknown fix kind in fixture: %.*s", (int)n, s);
        s += n + (s[n] == ',');
    }
    return k;
}

/* Invariants every result must satisfy, whatever the input. */
static void check_map(const struct td_norm *n, const char *src, size_t len)
{
    assert_int_equal(n->orig_len, len);
    assert_int_equal(n->text[n->len], '\0');
    assert_int_equal(td_utf8_valid_prefix(n->text, n->len), n->len);
    if (n->len) {
        assert_true(n->text[0] != ' ');
        assert_true(n->text[n->len - 1] != ' ');
    }
    for (size_t i = 0; i < n->len; i++) {
        assert_true(n->orig_start[i] < n->orig_end[i]);
        assert_true(n->orig_end[i] <= len);
        if (i) {
            assert_true(n->orig_start[i] >= n->orig_start[i - 1]);
            assert_true(n->orig_end[i] >= n->orig_end[i - 1]);
            assert_false(n->text[i] == ' ' && n->text[i - 1] == ' ');
        }
        /* An ASCII letter or digit that came from one ASCII byte is that byte. */
        unsigned char c = (unsigned char)n->text[i];
        if (n->orig_end[i] - n->orig_start[i] == 1 && c < 0x80 && c != ' ') {
            unsigned char o = (unsigned char)src[n->orig_start[i]];
            if (o < 0x80 && ((o >= 'a' && o <= 'z') || (o >= 'A' && o <= 'Z')) && c >= 'a' &&
                c <= 'z' && !(n->fix_kinds & (TD_FIX_LEET | TD_FIX_CENSORED)))
                assert_int_equal(c, o | 0x20);
        }
    }
    size_t prev = 0;
    for (size_t f = 0; f < n->nfixes; f++) {
        const struct td_fix *x = &n->fixes[f];
        assert_true(x->norm_start < x->norm_end && x->norm_end <= n->len);
        assert_true(x->norm_start >= prev);
        prev = x->norm_end;
        assert_true(x->kinds != 0);
        assert_true((n->fix_kinds & x->kinds) == x->kinds);
        size_t os, oe;
        td_norm_map(n, x->norm_start, x->norm_end, &os, &oe);
        assert_int_equal(os, x->orig_start);
        assert_int_equal(oe, x->orig_end);
    }
}

static void test_fixture_pairs(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/normalise.tsv", home());
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    struct td_norm n;
    td_norm_init(&n);
    char line[4096], in[4096], want[4096];
    size_t lineno = 0, pairs = 0, failed = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strcspn(line, "\n");
        line[l] = '\0';
        if (!l || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            fail_msg("%s:%zu: no tab", path, lineno);
        char *tab2 = strchr(tab + 1, '\t');
        size_t inlen = unescape(line, (size_t)(tab - line), in, sizeof in);
        size_t wantlen =
            unescape(tab + 1, tab2 ? (size_t)(tab2 - tab - 1) : strlen(tab + 1), want, sizeof want);
        struct td_error err;
        assert_int_equal(td_normalise(nz, in, inlen, &n, &err), TD_OK);
        check_map(&n, in, inlen);
        pairs++;
        if (n.len != wantlen || memcmp(n.text, want, wantlen)) {
            print_error("%s:%zu: got \"%s\", want \"%s\"\n", path, lineno, n.text, want);
            failed++;
            continue;
        }
        if (tab2) {
            unsigned kinds = parse_kinds(tab2 + 1);
            if (kinds != n.fix_kinds) {
                print_error("%s:%zu: \"%s\": fix kinds 0x%x, want 0x%x\n", path, lineno, n.text,
                            n.fix_kinds, kinds);
                failed++;
            }
        }
    }
    fclose(f);
    td_norm_release(&n);
    td_normaliser_free(nz);
    assert_true(pairs >= 60);
    assert_int_equal(failed, 0);
}

/* Every byte of an NFKC expansion maps to the whole source character. */
static void test_map_expansion(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    struct td_norm n;
    td_norm_init(&n);
    /* "ﬁne ÜBER 𝐤𝐢𝐥𝐥" */
    const char *src = "\xEF\xAC\x81ne \xC3\x9C"
                      "BER \xF0\x9D\x90\xA4\xF0\x9D\x90\xA2\xF0\x9D\x90\xA5\xF0\x9D\x90\xA5";
    size_t len = strlen(src);
    assert_int_equal(td_normalise(nz, src, len, &n, NULL), TD_OK);
    check_map(&n, src, len);
    assert_string_equal(n.text, "fine uber kill");
    size_t os, oe;
    td_norm_map(&n, 0, 1, &os, &oe); /* "f" of the ligature */
    assert_int_equal(os, 0);
    assert_int_equal(oe, 3);
    td_norm_map(&n, 1, 2, &os, &oe); /* "i" of the ligature */
    assert_int_equal(os, 0);
    assert_int_equal(oe, 3);
    td_norm_map(&n, 0, 4, &os, &oe); /* "fine" */
    assert_int_equal(os, 0);
    assert_int_equal(oe, 5);
    td_norm_map(&n, 5, 9, &os, &oe); /* "uber" <- "ÜBER" (Ü is 2 bytes) */
    assert_int_equal(os, 6);
    assert_int_equal(oe, 11);
    td_norm_map(&n, 10, 14, &os, &oe); /* "kill" <- 4 four-byte letters */
    assert_int_equal(os, 12);
    assert_int_equal(oe, 28);
    /* styled letters are recorded as a confusable fix over the word */
    assert_int_equal(n.nfixes, 1);
    assert_int_equal(n.fixes[0].kinds, TD_FIX_CONFUSABLE);
    assert_int_equal(n.fixes[0].orig_start, 12);
    assert_int_equal(n.fixes[0].orig_end, 28);

    /* A stripped combining mark belongs to its letter's span. */
    const char *acc = "ki\xCC\x81ll"; /* k i U+0301 l l */
    assert_int_equal(td_normalise(nz, acc, strlen(acc), &n, NULL), TD_OK);
    assert_string_equal(n.text, "kill");
    td_norm_map(&n, 1, 2, &os, &oe);
    assert_int_equal(os, 1);
    assert_int_equal(oe, 4);

    /* Collapsed white space maps to the first white-space character. */
    const char *ws = "  a \t\n b  ";
    assert_int_equal(td_normalise(nz, ws, strlen(ws), &n, NULL), TD_OK);
    assert_string_equal(n.text, "a b");
    td_norm_map(&n, 1, 2, &os, &oe);
    assert_int_equal(os, 3);
    assert_int_equal(oe, 4);
    td_norm_map(&n, 2, 3, &os, &oe);
    assert_int_equal(os, 7);
    assert_int_equal(oe, 8);
    td_norm_release(&n);
    td_normaliser_free(nz);
}

struct span_case {
    const char *src;  /* original */
    const char *norm; /* expected normalised text */
    const char *word; /* a fixed word in norm */
    const char *orig; /* the exact original bytes its fix must map to */
    unsigned kinds;   /* that fix's kinds */
};

/* Each fix's original range is exactly the obfuscated word as written. */
static void test_fix_spans(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    struct td_norm n;
    td_norm_init(&n);
    static const struct span_case cases[] = {
        {"you are d e a d now", "you are dead now", "dead", "d e a d", TD_FIX_SPACED},
        {"K I L L Y O U", "kill you", "you", "Y O U", TD_FIX_SPACED},
        {"so (k1ll) them", "so (kill) them", "kill", "k1ll", TD_FIX_LEET},
        {"killllll!", "kill!", "kill", "killllll", TD_FIX_REPEAT},
        {"a f***ing joke", "a fucking joke", "fucking", "f***ing", TD_FIX_CENSORED},
        {"\xEF\xBD\x8B\xEF\xBD\x89\xEF\xBD\x8C\xEF\xBD\x8C me", "kill me", "kill",
         "\xEF\xBD\x8B\xEF\xBD\x89\xEF\xBD\x8C\xEF\xBD\x8C", TD_FIX_CONFUSABLE},
        {"go \xD0\xBA\xD1\x96ll", "go kill", "kill", "\xD0\xBA\xD1\x96ll", TD_FIX_CONFUSABLE},
        {"k\xE2\x80\x8Bi\xE2\x80\x8Bll", "kill", "kill", "k\xE2\x80\x8Bi\xE2\x80\x8Bll",
         TD_FIX_INVISIBLE},
        {"x k.i.l.l.e.d. y", "x killed. y", "killed", "k.i.l.l.e.d", TD_FIX_SPACED},
        {"#k1ll", "#kill", "kill", "k1ll", TD_FIX_LEET},
        {"d i e!", "die!", "die", "d i e", TD_FIX_SPACED},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const struct span_case *c = &cases[k];
        size_t len = strlen(c->src);
        assert_int_equal(td_normalise(nz, c->src, len, &n, NULL), TD_OK);
        check_map(&n, c->src, len);
        assert_string_equal(n.text, c->norm);
        const char *at = strstr(n.text, c->word);
        assert_non_null(at);
        size_t ns = (size_t)(at - n.text), ne = ns + strlen(c->word);
        size_t f;
        for (f = 0; f < n.nfixes; f++)
            if (n.fixes[f].norm_start == ns && n.fixes[f].norm_end == ne)
                break;
        if (f == n.nfixes)
            fail_msg("%s: no fix for \"%s\"", c->src, c->word);
        assert_int_equal(n.fixes[f].kinds, c->kinds);
        size_t os = n.fixes[f].orig_start, oe = n.fixes[f].orig_end;
        if (oe - os != strlen(c->orig) || memcmp(c->src + os, c->orig, oe - os))
            fail_msg("%s: fix maps to \"%.*s\", want \"%s\"", c->src, (int)(oe - os), c->src + os,
                     c->orig);
    }
    td_norm_release(&n);
    td_normaliser_free(nz);
}

/* Random mixtures of hostile pieces: never crash, always keep the invariants. */
static void test_random_inputs(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    struct td_norm n;
    td_norm_init(&n);
    static const char *const bits[] = {
        "k",
        "1",
        "l",
        "!",
        "*",
        "$",
        "@",
        ".",
        " ",
        "  ",
        "\t",
        "\n",
        "i",
        "e",
        "d",
        "a",
        "\x80",
        "\xC3",
        "\xE2\x82",
        "\xF0\x9F",
        "\xED\xA0\x80",
        "\xC0\xAF",
        "\xFF",
        "\xE2\x80\x8B",
        "\xCC\x81",
        "\xD0\xBA",
        "\xD1\x96",
        "\xEF\xAC\x81",
        "\xEF\xB7\xBA",
        "\xEF\xBD\x8B",
        "\xF0\x9D\x90\xA4",
        "\xE2\x80\x8D",
        "\xD9\x85",
        "\xE4\xBD\xA0",
        "ooo",
        "http://",
        "x@y.z",
        "-",
        "_",
        "\xC2\xA0",
        "\x00",
        "\x1B",
    };
    size_t nbits = sizeof bits / sizeof *bits;
    char buf[512];
    unsigned seed = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0, parts = (size_t)(seed % 40);
        for (size_t k = 0; k < parts; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t b = (seed >> 16) % nbits;
            size_t l = bits[b][0] ? strlen(bits[b]) : 1;
            if (len + l > sizeof buf)
                break;
            memcpy(buf + len, bits[b], l);
            len += l;
        }
        seed = seed * 1103515245u + 12345u;
        assert_int_equal(td_normalise(nz, buf, len, &n, NULL), TD_OK);
        check_map(&n, buf, len);
    }
    td_norm_release(&n);
    td_normaliser_free(nz);
}

/* Fail each allocation of a normalisation in turn: every failure is a clean
 * TD_ENOMEM with an empty result, and the same td_norm works afterwards. */
static void test_alloc_failures(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    char src[6000];
    size_t len = 0;
    while (len + 60 < sizeof src) {
        static const char piece[] =
            "k1ll d i e f***ing ki\xE2\x80\x8Bll \xEF\xAC\x81 sooooo x\x07y ";
        memcpy(src + len, piece, sizeof piece - 1);
        len += sizeof piece - 1;
    }
    struct td_norm ref;
    td_norm_init(&ref);
    assert_int_equal(td_normalise(nz, src, len, &ref, NULL), TD_OK);
    int failures = 0;
    for (long k = 1;; k++) {
        struct td_norm n;
        td_norm_init(&n);
        assert_int_equal(td__norm_fail_after(&n, k), TD_OK);
        struct td_error err;
        td_error_clear(&err);
        int rc = td_normalise(nz, src, len, &n, &err);
        if (rc == TD_OK) {
            td__norm_fail_after(&n, 0);
            assert_string_equal(n.text, ref.text);
            td_norm_release(&n);
            break; /* k is past the last allocation */
        }
        failures++;
        assert_int_equal(rc, TD_ENOMEM);
        assert_int_equal(err.code, TD_ENOMEM);
        assert_int_equal(n.len, 0);
        assert_int_equal(n.nfixes, 0);
        assert_int_equal(td_normalise(nz, src, len, &n, NULL), TD_OK); /* recovers */
        assert_string_equal(n.text, ref.text);
        assert_int_equal(n.nfixes, ref.nfixes);
        td_norm_release(&n);
    }
    assert_true(failures >= 5); /* buffers, events and fixes all grew */
    td_norm_release(&ref);
    td_normaliser_free(nz);
}

struct bad_case {
    const char *src;
    size_t len;
    size_t count, first;
    const char *want;
};

static void test_invalid_utf8(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    struct td_norm n;
    td_norm_init(&n);
    static const struct bad_case cases[] = {
        {"ab\x80\x80"
         "c",
         5, 2, 2,
         "ab\xEF\xBF\xBD\xEF\xBF\xBD"
         "c"},                                                 /* lone continuations */
        {"x\xC0\xAFy", 4, 2, 1, "x\xEF\xBF\xBD\xEF\xBF\xBDy"}, /* overlong '/' */
        {"x\xE0\x80\xAFy", 5, 3, 1, "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy"}, /* overlong */
        {"x\xED\xA0\x80y", 5, 3, 1, "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy"}, /* surrogate */
        {"ok \xE2\x82", 5, 1, 3, "ok \xEF\xBF\xBD"}, /* truncated at end */
        {"\xF4\x90\x80\x80", 4, 4, 0,
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
        {"\xFF", 1, 1, 0, "\xEF\xBF\xBD"},
        {"caf\xC3\xA9", 5, 0, 0, "cafe"}, /* valid: nothing reported */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const struct bad_case *c = &cases[k];
        assert_int_equal(td_normalise(nz, c->src, c->len, &n, NULL), TD_OK);
        check_map(&n, c->src, c->len);
        assert_string_equal(n.text, c->want);
        assert_int_equal(n.invalid_utf8, c->count);
        if (c->count)
            assert_int_equal(n.first_invalid_byte, c->first);
        assert_int_equal(td_utf8_valid_prefix(c->src, c->len), c->count ? c->first : c->len);
    }
    td_norm_release(&n);
    td_normaliser_free(nz);
}

static void test_empty_and_blank(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    struct td_norm n;
    td_norm_init(&n);
    assert_int_equal(td_normalise(nz, "", 0, &n, NULL), TD_OK);
    assert_int_equal(n.len, 0);
    assert_string_equal(n.text, "");
    assert_int_equal(n.nfixes, 0);
    assert_int_equal(td_normalise(nz, " \t\n\xE2\x80\x8B ", 7, &n, NULL), TD_OK);
    assert_int_equal(n.len, 0);
    size_t os = 9, oe = 9;
    td_norm_map(&n, 0, 1, &os, &oe);
    assert_int_equal(os, 0);
    assert_int_equal(oe, 0);
    td_norm_release(&n);
    td_norm_release(&n); /* release twice is safe */
    td_normaliser_free(nz);
}

static void test_too_big(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    struct td_norm n;
    td_norm_init(&n);
    struct td_error err;
    td_error_clear(&err);
    /* The limit check comes before any byte is read, so a small buffer with a
     * small internal limit exercises exactly the TD_TEXT_MAX path. */
    assert_int_equal(td__normalise_limit(nz, "abcdefgh", 8, 7, &n, &err), TD_ETOOBIG);
    assert_int_equal(err.code, TD_ETOOBIG);
    assert_int_equal(n.len, 0);
    assert_int_equal(td__normalise_limit(nz, "abcdefgh", 8, 8, &n, &err), TD_OK);
    assert_string_equal(n.text, "abcdefgh");
    /* Output growth is capped too: U+FDFA expands 3 bytes to 33. */
    char big[15];
    for (size_t k = 0; k < 5; k++)
        memcpy(big + 3 * k, "\xEF\xB7\xBA", 3);
    assert_int_equal(td__normalise_limit(nz, big, 15, 60, &n, &err), TD_OK);
    assert_true(n.len > 150);
    check_map(&n, big, 15);
    assert_int_equal(td__normalise_limit(nz, big, 15, 15, &n, &err), TD_ETOOBIG);
    td_norm_release(&n);
    td_normaliser_free(nz);
}

/* 10 MB of tweet-like text in one call; buffers are then reused. */
static void test_ten_megabytes(void **state)
{
    (void)state;
    struct td_normaliser *nz = load();
    static const char *pieces[] = {
        "Thanks for your help with the @council meeting at 10:30 today! ",
        "Wh\xC3\xBF are y\xD0\xBEu ignoring us?? It costs \xC2\xA3"
        "5 a week.\n",
        "\xEF\xBC\xA8\xEF\xBD\x85\xEF\xBD\x8C\xEF\xBD\x8C\xEF\xBD\x8F world\t",
        "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xE4\xBD\xA0\xE5\xA5\xBD ",
    };
    size_t len = 10u << 20, o = 0, k = 0;
    char *src = malloc(len);
    assert_non_null(src);
    while (o < len) {
        const char *p = pieces[k++ % 4];
        size_t n = strlen(p);
        if (n > len - o)
            n = len - o;
        memcpy(src + o, p, n);
        o += n;
    }
    struct td_norm n;
    td_norm_init(&n);
    assert_int_equal(td_normalise(nz, src, len, &n, NULL), TD_OK);
    assert_true(n.len > len / 2);
    assert_int_equal(n.orig_len, len);
    assert_int_equal(td_utf8_valid_prefix(n.text, n.len), n.len);
    for (size_t i = 1; i < n.len; i++)
        assert_true(n.orig_start[i] >= n.orig_start[i - 1]);
    char *text = n.text;
    size_t cap = n.cap_;
    assert_int_equal(td_normalise(nz, src, 1000, &n, NULL), TD_OK);
    assert_ptr_equal(n.text, text); /* reused, not reallocated */
    assert_int_equal(n.cap_, cap);
    td_norm_release(&n);
    free(src);
    td_normaliser_free(nz);
}

/* Data-file errors name the file and the line. */
static void write_file(const char *dir, const char *name, const char *body)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
}

static void test_data_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/td_text_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct td_normaliser *nz = NULL;
    struct td_error err;

    write_file(dir, "confusables.txt", "# ok\n0430 a\n");
    write_file(dir, "leet.txt", "1 i l\n");
    write_file(dir, "obfuscation-lexicon.txt", "kill harm\n");
    assert_int_equal(td_normaliser_load(dir, &nz, &err), TD_OK);
    td_normaliser_free(nz);

    static const struct {
        const char *file, *body;
        size_t line;
    } bad[] = {
        {"confusables.txt", "0430 a\n\n0410 a\n", 3}, /* not case-folded */
        {"confusables.txt", "0430 a\nzz a\n", 2},     /* not hex */
        {"confusables.txt", "0430 abc\n", 1},         /* longer than UTF-8 */
        {"confusables.txt", "0430\n", 1},             /* missing field */
        {"leet.txt", "1 i l\nab x\n", 2},             /* two characters */
        {"leet.txt", "1 I\n", 1},                     /* upper-case reading */
        {"obfuscation-lexicon.txt", "kill harm\nKill harm\n", 2},
        {"obfuscation-lexicon.txt", "# c\nkill nasty\n", 2}, /* unknown class */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        write_file(dir, "confusables.txt", "0430 a\n");
        write_file(dir, "leet.txt", "1 i l\n");
        write_file(dir, "obfuscation-lexicon.txt", "kill harm\n");
        write_file(dir, bad[k].file, bad[k].body);
        td_error_clear(&err);
        nz = NULL;
        assert_int_equal(td_normaliser_load(dir, &nz, &err), TD_EPARSE);
        assert_null(nz);
        assert_non_null(strstr(err.file, bad[k].file));
        assert_int_equal(err.line, bad[k].line);
    }
    char p[1200];
    snprintf(p, sizeof p, "%s/leet.txt", dir);
    remove(p);
    assert_int_equal(td_normaliser_load(dir, &nz, &err), TD_ENOTFOUND);
    assert_non_null(strstr(err.file, "leet.txt"));
    snprintf(p, sizeof p, "%s/confusables.txt", dir);
    remove(p);
    snprintf(p, sizeof p, "%s/obfuscation-lexicon.txt", dir);
    remove(p);
    remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_pairs), cmocka_unit_test(test_map_expansion),
        cmocka_unit_test(test_invalid_utf8),  cmocka_unit_test(test_empty_and_blank),
        cmocka_unit_test(test_too_big),       cmocka_unit_test(test_ten_megabytes),
        cmocka_unit_test(test_data_errors),   cmocka_unit_test(test_fix_spans),
        cmocka_unit_test(test_random_inputs), cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
