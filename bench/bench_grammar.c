/*
 * bench_grammar.c - throughput of td_grammar_match() on short messages.
 *
 * Each line of each input file is one message (tweets, CSV rows: whatever is
 * at hand - it is only read, never copied into the repo).  Every line is
 * normalised once up front (td_normalise, as the analyser does), then only
 * the grammar is timed: all messages are matched in a loop, reusing one
 * td_grammar_result, until at least 200,000 messages and 2 seconds have gone
 * through.  Times are CPU time of this process (CLOCK_PROCESS_CPUTIME_ID), so
 * other work on a shared machine does not distort them.  Prints messages/s
 * and MB/s, and how often each label fired (score
 * > 0), was suppressed, and raised a flag - a sanity check on a corpus that
 * is mostly harmless.  Finally the first 20,000 messages are matched again
 * with the pre-filter off (every rule on every text): any difference is a
 * rule whose @trigger lists miss a word it can match, and is printed.
 *
 * Measured (2026-12, shared 2-core machine, taskset -c 0, one session; the
 * datasets of ../shared/data, 158,880 messages): before the derived
 * pre-filter 45-77k messages/s, after 42-81k (wall clock swings with the
 * machine's load); by instructions (callgrind, 20,000 Gab messages)
 * td_grammar_match went 1,652M -> 1,841M, of which PCRE2 1,434M -> 729M
 * and the word formula 739M; load 271M -> 1,217M instructions.  The
 * results are identical to running every rule, which the old lists were
 * not (26 of 301,513 messages differed).
 *
 * Build (Release, no sanitizers) and run:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && \
 *   cmake --build build-rel --target td_analyse && \
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/bench_grammar.c \
 *      build-rel/libtd_analyse.a build-rel/libtd_text.a build-rel/libtd_util.a \
 *      -lpcre2-8 -lxxhash -lutf8proc -lsodium -lm -o build-rel/bench_grammar && \
 *   build-rel/bench_grammar data/text data/grammar \
 *      /work/shared/data/davidson2017/labeled_data.csv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyse/grammar_int.h"
#include "threatdesk/grammar.h"
#include "threatdesk/text.h"

#define MAX_MESSAGES 2000000u

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct corpus {
    char **text;
    size_t *len;
    size_t n, cap, bytes;
};

static int add(struct corpus *c, const char *s, size_t n)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        char **t = realloc(c->text, nc * sizeof *t);
        if (!t)
            return 1;
        c->text = t;
        size_t *l = realloc(c->len, nc * sizeof *l);
        if (!l)
            return 1;
        c->len = l;
        c->cap = nc;
    }
    if (!(c->text[c->n] = malloc(n + 1)))
        return 1;
    memcpy(c->text[c->n], s, n);
    c->text[c->n][n] = '\0';
    c->len[c->n++] = n;
    c->bytes += n;
    return 0;
}

static int load(struct corpus *c, const struct td_normaliser *nz, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    struct td_norm n;
    td_norm_init(&n);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0 && c->n < MAX_MESSAGES) {
        struct td_error err;
        if (td_normalise(nz, line, (size_t)got, &n, &err) == 0 && n.len)
            if ((rc = add(c, n.text, n.len)))
                break;
    }
    free(line);
    td_norm_release(&n);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s <data/text> <data/grammar> <messages.txt>...\n", argv[0]);
        return 2;
    }
    struct td_error err;
    td_error_clear(&err);
    struct td_normaliser *nz = NULL;
    struct td_grammar *g = NULL;
    char eb[1024];
    if (td_normaliser_load(argv[1], &nz, &err)) {
        fprintf(stderr, "%s\n", td_error_format(&err, eb, sizeof eb));
        return 1;
    }
    double tl = now();
    if (td_grammar_load(argv[2], &g, &err)) {
        fprintf(stderr, "%s\n", td_error_format(&err, eb, sizeof eb));
        return 1;
    }
    tl = now() - tl;
    struct corpus c = {0};
    for (int i = 3; i < argc; i++)
        if (load(&c, nz, argv[i]))
            return 1;
    if (!c.n) {
        fprintf(stderr, "no messages\n");
        return 1;
    }

    struct td_grammar_result r;
    td_grammar_result_init(&r);
    size_t fired[TD_LABEL_COUNT] = {0}, sup[TD_LABEL_COUNT] = {0}, flagged = 0, anyhit = 0;
    /* one counting pass (untimed) */
    for (size_t i = 0; i < c.n; i++) {
        if (td_grammar_match(g, c.text[i], c.len[i], &r, &err)) {
            fprintf(stderr, "match: %s\n", err.message);
            return 1;
        }
        anyhit += r.nhits > 0;
        flagged += r.flags != 0;
        for (int l = 0; l < TD_LABEL_COUNT; l++) {
            fired[l] += r.score[l] > 0;
            sup[l] += r.suppressed[l] != 0;
        }
    }
    /* timed passes */
    size_t msgs = 0, bytes = 0;
    double t0 = now(), dt = 0;
    while (msgs < 200000 || dt < 2.0) {
        for (size_t i = 0; i < c.n; i++)
            if (td_grammar_match(g, c.text[i], c.len[i], &r, &err))
                return 1;
        msgs += c.n;
        bytes += c.bytes;
        dt = now() - t0;
    }
    /* pre-filter completeness: the same result with every rule run */
    struct td_grammar_result full;
    td_grammar_result_init(&full);
    size_t ncheck = c.n < 20000 ? c.n : 20000, differ = 0;
    double tf = now();
    for (size_t i = 0; i < ncheck; i++) {
        if (td_grammar_match(g, c.text[i], c.len[i], &r, &err) ||
            td__grammar_match_unfiltered(g, c.text[i], c.len[i], &full, &err))
            return 1;
        if (full.nhits != r.nhits || full.flags != r.flags ||
            memcmp(full.score, r.score, sizeof r.score) ||
            memcmp(full.suppressed, r.suppressed, sizeof r.suppressed)) {
            if (differ++ < 10)
                printf("pre-filter changed the result of: %s\n", c.text[i]);
        }
    }
    tf = now() - tf;
    td_grammar_result_release(&full);
    printf("grammar load: %.1f ms\n", tl * 1e3);
    printf("corpus: %zu messages, %.1f bytes/message (normalised)\n", c.n,
           (double)c.bytes / (double)c.n);
    printf("td_grammar_match: %.0f messages/s, %.1f MB/s (%zu messages in %.2f s)\n",
           (double)msgs / dt, (double)bytes / 1e6 / dt, msgs, dt);
    printf("messages with any hit: %.2f%%, with a flag: %.2f%%\n",
           100.0 * (double)anyhit / (double)c.n, 100.0 * (double)flagged / (double)c.n);
    printf("pre-filter check: %zu of %zu messages differ without it (unfiltered: %.0f "
           "messages/s)\n",
           differ, ncheck, (double)ncheck / tf);
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        printf("  %-14s fired %6zu (%.2f%%)  suppressed %6zu\n", td_label_name(l), fired[l],
               100.0 * (double)fired[l] / (double)c.n, sup[l]);
    td_grammar_result_release(&r);
    td_grammar_free(g);
    td_normaliser_free(nz);
    for (size_t i = 0; i < c.n; i++)
        free(c.text[i]);
    free(c.text);
    free(c.len);
    return 0;
}
