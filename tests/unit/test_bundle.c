/*
 * test_bundle.c - the police evidence bundle (bundle.h): what goes in
 * (originals byte for byte, evidence under its real name, shared notes
 * only, audit entries with their hashes), who may export (police only
 * their reported cases, other offices 404, observers refused), the
 * office key (0600, the same key every time), that exporting is audited,
 * and that td_bundle_verify catches ONE altered byte anywhere in the file:
 * a sweep over the whole file plus the header, padding, manifest,
 * signature and end-of-archive regions.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "threatdesk/bundle.h"
#include "threatdesk/desk_export.h"
#include "unit/desk_fixture.h"

static const char EMAIL[] = "From: Angry <angry@example.org>\r\n"
                            "Subject: you\r\n"
                            "Message-ID: <1@example.org>\r\n\r\n"
                            "We know where you live. Friday.\r\n";
static const char INTERNAL[] = "internal: caseworker thinks the sender is her neighbour";
static const char SHARED[] = "shared: the office received a similar letter in 2024";
static const char EVNAME[] = "Foto vom Tatort \xc3\xbc.jpg"; /* non-ASCII: a pax header */

struct world {
    struct fx f;
    struct td_actor cw, police, obs, other;
    int64_t case_id, unreported, m1, m2;
    unsigned char ev[70000]; /* spans two 64 KiB pieces */
    char path[400];
};

static int64_t file_email(struct fx *f, const struct td_actor *a)
{
    struct td_message m;
    struct td_ingest_result r;
    struct td_verdict v;
    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    td_verdict_init(&v);
    v.severity = TD_SEVERITY_CRITICAL;
    v.labels = 1u << TD_LABEL_THREAT;
    td_message_set(&m.text, "We know where you live. Friday.", (size_t)-1);
    m.text_len = strlen(m.text);
    td_message_set(&m.original, EMAIL, sizeof EMAIL - 1);
    m.original_len = sizeof EMAIL - 1;
    td_message_set(&m.sender, "email:angry@example.org", (size_t)-1);
    td_message_set(&m.channel, "email", (size_t)-1);
    if (td_desk_file(f->d, a, &m, "mail-1", &v, &r, &err) != TD_OK)
        fx_fail("file email", &err);
    td_message_release(&m);
    td_verdict_release(&v);
    return r.id;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    struct td_error err;
    json_t *f;
    td_error_clear(&err);
    fx_open(&w->f);
    fx_actor(&w->f, "office-a", "cw", TD_ROLE_CASEWORKER, &w->cw);
    fx_actor(&w->f, "office-a", "pc", TD_ROLE_POLICE, &w->police);
    fx_actor(&w->f, "office-a", "obs", TD_ROLE_OBSERVER, &w->obs);
    fx_actor(&w->f, "office-b", "cwb", TD_ROLE_CASEWORKER, &w->other);
    w->m1 = file_email(&w->f, &w->cw);
    w->m2 = fx_file(&w->f, &w->cw, "you will be sorry", "x:troll", "k2", TD_SEVERITY_HIGH,
                    1u << TD_LABEL_THREAT);
    f = json_pack("{s:s, s:s}", "type", "online_threat", "title", "Threats before polling day");
    assert_int_equal(td_desk_case_create(w->f.d, &w->cw, f, &w->case_id, &err), TD_OK);
    assert_int_equal(td_desk_case_create(w->f.d, &w->cw, f, &w->unreported, &err), TD_OK);
    json_decref(f);
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, w->case_id, w->m1, &err), TD_OK);
    assert_int_equal(td_desk_case_link_message(w->f.d, &w->cw, w->case_id, w->m2, &err), TD_OK);
    for (size_t i = 0; i < sizeof w->ev; i++)
        w->ev[i] = (unsigned char)(i * 131 + 7);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->cw, w->case_id, EVNAME, "image/jpeg", w->ev,
                                          sizeof w->ev, NULL, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->cw, w->case_id, "../../etc/passwd",
                                          "text/plain", "x\n", 2, NULL, NULL, &err),
                     TD_OK);
    assert_int_equal(td_desk_case_note(w->f.d, &w->cw, w->case_id, INTERNAL, 0, NULL, &err), TD_OK);
    assert_int_equal(td_desk_case_note(w->f.d, &w->cw, w->case_id, SHARED, 1, NULL, &err), TD_OK);
    assert_int_equal(
        td_desk_case_set_status(w->f.d, &w->cw, w->case_id, TD_CASE_STATUS_TRIAGED, NULL, &err),
        TD_OK);
    assert_int_equal(td_desk_case_set_status(w->f.d, &w->cw, w->case_id,
                                             TD_CASE_STATUS_REPORTED_TO_POLICE, NULL, &err),
                     TD_OK);
    snprintf(w->path, sizeof w->path, "%s/bundle.tar", w->f.dir);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    fx_close(&w->f);
    free(w);
    return 0;
}

/* Write actor's bundle of case_id to path; returns the desk's code. */
static int write_bundle(struct world *w, const struct td_actor *a, int64_t case_id,
                        const char *path, struct td_bundle_info *info)
{
    struct td_error err;
    td_error_clear(&err);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    int rc = td_bundle_write(w->f.d, a, case_id, fd, info, &err);
    close(fd);
    if (rc)
        fprintf(stderr, "bundle: %s\n", err.message);
    return rc;
}

static size_t verify_problems(const char *path, const char *pubkey, int *sig_ok)
{
    struct td_bundle_verify_stats st;
    struct td_error err;
    td_error_clear(&err);
    int rc = td_bundle_verify(path, pubkey, NULL, NULL, &st, &err);
    if (rc)
        fprintf(stderr, "verify: %s\n", err.message);
    assert_int_equal(rc, TD_OK);
    if (sig_ok)
        *sig_ok = st.signature_ok;
    return st.problems;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*n + 1);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

static void spit(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A member's bytes (malloc'ed) by the end of its path, NULL if absent. */
static unsigned char *member(const char *tar, const char *suffix, size_t *n, char *name,
                             size_t nsize)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    unsigned char *out = NULL;
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, tar, 10240), ARCHIVE_OK);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname_utf8(e);
        if (!p)
            p = archive_entry_pathname(e);
        size_t pl = strlen(p), sl = strlen(suffix);
        if (pl < sl || strcmp(p + pl - sl, suffix))
            continue;
        *n = (size_t)archive_entry_size(e);
        out = malloc(*n + 1);
        assert_int_equal(archive_read_data(a, out, *n), (la_ssize_t)*n);
        out[*n] = 0;
        if (name)
            snprintf(name, nsize, "%s", p);
        break;
    }
    archive_read_free(a);
    return out;
}

static void test_contents(void **state)
{
    struct world *w = *state;
    struct td_bundle_info info;
    size_t n, tn;
    char name[600];
    assert_int_equal(write_bundle(w, &w->cw, w->case_id, w->path, &info), TD_OK);
    assert_int_equal(info.messages, 2);
    assert_int_equal(info.evidence, 2);
    int sig_ok = 0;
    assert_int_equal(verify_problems(w->path, NULL, &sig_ok), 0);
    assert_true(sig_ok);
    assert_int_equal(verify_problems(w->path, info.public_key, NULL), 0);

    /* the e-mail's original, byte for byte, as .eml */
    unsigned char *p = member(w->path, ".eml", &n, name, sizeof name);
    assert_non_null(p);
    assert_int_equal(n, sizeof EMAIL - 1);
    assert_memory_equal(p, EMAIL, n);
    free(p);
    /* evidence under its real name, byte for byte; a path in a name goes */
    p = member(w->path, EVNAME, &n, name, sizeof name);
    assert_non_null(p);
    assert_int_equal(n, sizeof w->ev);
    assert_memory_equal(p, w->ev, n);
    free(p);
    p = member(w->path, "-passwd", &n, name, sizeof name);
    assert_non_null(p);
    assert_null(strstr(name, ".."));
    free(p);
    /* evidence.json keeps the real name and type */
    p = member(w->path, "/evidence.json", &n, NULL, 0);
    assert_non_null(strstr((char *)p, "image/jpeg"));
    assert_non_null(strstr((char *)p, "../../etc/passwd"));
    free(p);
    /* audit entries with their hashes; the chain head is the export */
    p = member(w->path, "/audit.json", &n, NULL, 0);
    assert_non_null(strstr((char *)p, "\"prev_hash\""));
    assert_non_null(strstr((char *)p, "message.ingest"));
    assert_non_null(strstr((char *)p, "\"withheld\": \"internal note\""));
    free(p);
    p = member(w->path, "/notes.json", &n, NULL, 0);
    assert_non_null(strstr((char *)p, SHARED));
    free(p);
    /* the internal note is nowhere in the file */
    unsigned char *all = slurp(w->path, &tn);
    assert_null(memmem(all, tn, INTERNAL, strlen(INTERNAL)));
    assert_non_null(memmem(all, tn, SHARED, strlen(SHARED)));
    free(all);

    /* the key: 0600, and the same key next time */
    char kp[600];
    struct stat sb;
    struct td_bundle_info again;
    snprintf(kp, sizeof kp, "%s/keys/office-%lld.ed25519", w->f.data, (long long)w->cw.office_id);
    assert_int_equal(stat(kp, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(write_bundle(w, &w->cw, w->case_id, w->path, &again), TD_OK);
    assert_string_equal(again.public_key, info.public_key);
    /* a key file others can read is refused */
    chmod(kp, 0644);
    assert_int_equal(write_bundle(w, &w->cw, w->case_id, w->path, NULL), TD_EDENIED);
    chmod(kp, 0600);

    /* exporting is audited */
    json_t *tl = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_case_timeline(w->f.d, &w->cw, w->case_id, &tl, &err), TD_OK);
    char *s = json_dumps(tl, 0);
    assert_non_null(strstr(s, "\"case.export\""));
    assert_non_null(strstr(s, "\"case.bundle\""));
    assert_non_null(strstr(s, info.manifest_sha256));
    free(s);
    json_decref(tl);
}

static void test_access(void **state)
{
    struct world *w = *state;
    /* police: the reported case yes, the other no (as if absent) */
    assert_int_equal(write_bundle(w, &w->police, w->case_id, w->path, NULL), TD_OK);
    assert_int_equal(verify_problems(w->path, NULL, NULL), 0);
    assert_int_equal(write_bundle(w, &w->police, w->unreported, w->path, NULL), TD_ENOTFOUND);
    assert_int_equal(write_bundle(w, &w->other, w->case_id, w->path, NULL), TD_ENOTFOUND);
    assert_int_equal(write_bundle(w, &w->obs, w->case_id, w->path, NULL), TD_EDENIED);
    assert_int_equal(write_bundle(w, &w->cw, 999999, w->path, NULL), TD_ENOTFOUND);
}

/* Evidence altered on disk after it was added: the export refuses it
 * rather than sign the altered bytes. */
static void test_altered_evidence_fails_the_export(void **state)
{
    struct world *w = *state;
    char sha[65], path[600];
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_desk_evidence_add(w->f.d, &w->cw, w->case_id, "late.bin", NULL, "abcdef", 6,
                                          NULL, sha, &err),
                     TD_OK);
    td_desk_evidence_path(w->f.d, sha, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fputc('X', f); /* same size, other bytes */
    fclose(f);
    assert_int_equal(write_bundle(w, &w->cw, w->case_id, w->path, NULL), TD_ECRYPTO);
}

/* Flip one byte at off in a copy and count what verify finds. */
static size_t tampered(struct world *w, const unsigned char *orig, size_t n, size_t off,
                       const char *pubkey)
{
    char tp[500];
    unsigned char *c = malloc(n);
    memcpy(c, orig, n);
    c[off] ^= 0x20;
    snprintf(tp, sizeof tp, "%s/tampered.tar", w->f.dir);
    spit(tp, c, n);
    free(c);
    return verify_problems(tp, pubkey, NULL);
}

static size_t find_last(const unsigned char *p, size_t n, const char *needle)
{
    size_t l = strlen(needle), at = (size_t)-1;
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(p + i, needle, l))
            at = i;
    assert_true(at != (size_t)-1);
    return at;
}

static void test_one_byte_anywhere_is_caught(void **state)
{
    struct world *w = *state;
    struct td_bundle_info info;
    size_t n, checked = 0;
    assert_int_equal(write_bundle(w, &w->cw, w->case_id, w->path, &info), TD_OK);
    unsigned char *orig = slurp(w->path, &n);
    assert_true(n % 10240 == 0);
    /* named places: the first header's name, mode, mtime and checksum
     * fields, the first data byte, a pax record, the evidence data, the
     * zero padding after a member, the manifest, the signature, the
     * end-of-archive blocks and the very last byte */
    size_t places[] = {
        0,
        100,
        136,
        148,
        512,
        find_last(orig, n, "path="),
        find_last(orig, n, "image/jpeg"),
        find_last(orig, n, "\"files\""),
        find_last(orig, n, "ed25519 ") + 20,
        find_last(orig, n, "ed25519 ") + 140,
        n - 1024,
        n - 1,
    };
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        if (tampered(w, orig, n, places[i], NULL) == 0)
            fail_msg("a byte altered at offset %zu was not caught", places[i]);
        checked++;
    }
    /* a hex digit of the signature in upper case decodes to the same
     * bytes: the line must still be refused (found by the sweep) */
    size_t sig = find_last(orig, n, "ed25519 ") + 8;
    while (!(orig[sig] >= 'a' && orig[sig] <= 'f'))
        sig++;
    assert_true(tampered(w, orig, n, sig, NULL) > 0);
    /* evidence data: find a run of our pattern */
    unsigned char pat[16];
    memcpy(pat, w->ev + 1000, sizeof pat);
    unsigned char *at = memmem(orig, n, pat, sizeof pat);
    assert_non_null(at);
    assert_true(tampered(w, orig, n, (size_t)(at - orig), NULL) > 0);
    /* padding: the bytes between the end of the 2-byte evidence member
     * "x\n" and the next header are zeros no hash covers */
    unsigned char *x = memmem(orig, n, "x\n\0\0\0\0", 6);
    assert_non_null(x);
    assert_true(tampered(w, orig, n, (size_t)(x - orig) + 100, NULL) > 0);
    /* and a sweep over the whole file */
    for (size_t off = 7; off < n; off += 1499) {
        if (tampered(w, orig, n, off, NULL) == 0)
            fail_msg("a byte altered at offset %zu of %zu was not caught", off, n);
        checked++;
    }
    /* bytes added or cut */
    char tp[500];
    snprintf(tp, sizeof tp, "%s/tampered.tar", w->f.dir);
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, orig, n);
    longer[n] = 0;
    spit(tp, longer, n + 1);
    assert_true(verify_problems(tp, NULL, NULL) > 0);
    spit(tp, orig, n - 512);
    assert_true(verify_problems(tp, NULL, NULL) > 0);
    free(longer);
    /* another key given as the office's */
    assert_true(verify_problems(w->path,
                                "0000000000000000000000000000000000000000000000000000000000000001",
                                NULL) > 0);
    free(orig);
    print_message("%zu single-byte alterations of a %zu-byte bundle, all caught\n", checked, n);
}

/* fontconfig (under pango, for summary.pdf) keeps its configuration
 * cache until FcFini(), which nothing calls at exit. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

int main(void)
{
    /* libarchive hands this test's reader (member()) a non-ASCII name only
     * in a UTF-8 locale, as a police officer's tar would run in one; the
     * bundle code switches its own thread's locale itself. */
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_anywhere_is_caught, setup, teardown),
        cmocka_unit_test_setup_teardown(test_altered_evidence_fails_the_export, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
