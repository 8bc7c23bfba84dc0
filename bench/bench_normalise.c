/*
 * bench_normalise.c - throughput of td_normalise() on short messages.
 *
 * Each line of the input file is one message (tweets, CSV rows: whatever is
 * at hand - it is only read, never copied into the repo); the whole file is
 * normalised line by line, repeatedly, until at least 64 MB have gone
 * through, with one td_norm reused as a scan loop would.  Prints MB/s and
 * messages/s, plus the same for a pure-ASCII and an obfuscation-heavy
 * synthetic corpus so the fast path and the slow path are both visible.
 *
 * Build (Release, no sanitizers) and run:
 *   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && \
 *   cmake --build build-rel --target td_text && \
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc bench/bench_normalise.c \
 *      build-rel/libtd_text.a build-rel/libtd_util.a -lutf8proc -lsodium -lm -o
 * build-rel/bench_normalise build-rel/bench_normalise data/text
 * /work/shared/data/davidson2017/labeled_data.csv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threatdesk/text.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *name, const struct td_normaliser *nz, const char *buf, size_t len)
{
    struct td_norm n;
    td_norm_init(&n);
    size_t bytes = 0, msgs = 0, fixes = 0;
    double t0 = now();
    while (bytes < (64u << 20)) {
        const char *p = buf, *end = buf + len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
            struct td_error err;
            if (td_normalise(nz, p, l, &n, &err)) {
                fprintf(stderr, "%s: %s\n", name, err.message);
                td_norm_release(&n);
                return 1;
            }
            fixes += n.nfixes;
            bytes += l;
            msgs++;
            p += l + 1;
        }
    }
    double dt = now() - t0;
    printf("%-28s %8.1f MB/s %10.0f msgs/s  (%zu MB, %zu msgs, %zu fixes, %.2fs)\n", name,
           (double)bytes / 1e6 / dt, (double)msgs / dt, bytes >> 20, msgs, fixes, dt);
    td_norm_release(&n);
    return 0;
}

static char *synth(const char *const *lines, size_t nlines, size_t target, size_t *len)
{
    char *b = malloc(target + 256);
    size_t o = 0;
    for (size_t k = 0; b && o < target; k++) {
        size_t l = strlen(lines[k % nlines]);
        memcpy(b + o, lines[k % nlines], l);
        o += l;
        b[o++] = '\n';
    }
    *len = o;
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <data/text dir> [messages-file]\n", argv[0]);
        return 2;
    }
    struct td_normaliser *nz;
    struct td_error err;
    if (td_normaliser_load(argv[1], &nz, &err)) {
        fprintf(stderr, "%s:%zu: %s\n", err.file, err.line, err.message);
        return 1;
    }
    int rc = 0;
    static const char *const plain[] = {
        "@MPoffice thanks for coming to the meeting at 10:30 today, very helpful!",
        "Why are you ignoring the residents of Elm Street? We have written three times.",
        "RT @someone: The council vote is on Thursday - please share http://t.co/abc123",
        "I am a big fan of your work on the housing bill, keep it up",
    };
    static const char *const obf[] = {
        "i will k1ll you and your f***ing family",
        "d i e you sc*m, we know where you l!ve",
        "\xD1\x83\xD0\xBEu are d3ad, sooooo dead, w\xE2\x80\x8B"
        "atch your back",
        "\xEF\xBC\xA8\xEF\xBD\x81\xEF\xBD\x8E\xEF\xBD\x87 them all, k.i.l.l them",
    };
    size_t len;
    char *b = synth(plain, 4, 4u << 20, &len);
    rc |= !b || run("synthetic plain tweets", nz, b, len);
    free(b);
    b = synth(obf, 4, 4u << 20, &len);
    rc |= !b || run("synthetic obfuscated", nz, b, len);
    free(b);
    if (argc > 2) {
        FILE *f = fopen(argv[2], "rb");
        if (!f) {
            perror(argv[2]);
            rc = 1;
        } else {
            b = malloc(64u << 20);
            len = b ? fread(b, 1, 64u << 20, f) : 0;
            fclose(f);
            rc |= !b || run(argv[2], nz, b, len);
            free(b);
        }
    }
    td_normaliser_free(nz);
    return rc;
}
