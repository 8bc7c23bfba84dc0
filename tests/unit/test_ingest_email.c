/*
 * test_ingest_email.c - e-mail fixtures (tests/fixtures/email, written by
 * make_fixtures.py): each file's text, headers, attachments and warnings,
 * the mbox and Maildir walkers, the readers' format detection, and the
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
#include <unistd.h>

#include "threatdesk/analyse.h"
#include "threatdesk/buf.h"
#include "threatdesk/email.h"
#include "threatdesk/reader.h"

#define FIX TD_SOURCE_DIR "/tests/fixtures/email/"

static void parse(const char *name, struct td_message *m)
{
    struct td_error err;
    td_error_clear(&err);
    td_message_init(m);
    int rc = td_email_parse_file(name, NULL, m, &err);
    if (rc)
        fail_msg("%s: %s", name, err.message);
}

static char *fix(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    return path;
}

static void load(const char *name, struct td_message *m)
{
    parse(fix(name), m);
}

static void has(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, hay ? hay : "(null)");
}

static void hasnt(const char *hay, const char *needle)
{
    if (hay && strstr(hay, needle))
        fail_msg("did not expect \"%s\" in \"%s\"", needle, hay);
}

static void plain_utf8(void **state)
{
    struct td_message m;
    load("01_plain_utf8.eml", &m);
    has(m.text, "You will be smashed and killed within days.");
    has(m.text, "I mean it \xe2\x80\x94 no more warnings.");
    hasnt(m.text, "Thank you for writing"); /* quoted reply */
    hasnt(m.text, "wrote:");                /* attribution */
    hasnt(m.text, "Sent from my phone");    /* signature */
    assert_int_equal(strlen(m.text), m.text_len);
    /* the original keeps everything */
    has(m.original, "Sent from my phone");
    has(m.original, "> Thank you for writing");
    assert_string_equal(m.channel, "email");
    assert_string_equal(m.sender_name, "Mark Hollis");
    assert_string_equal(m.sender_handle, "mark.hollis+mp@gmail.com");
    /* plus tag and Gmail dots dropped */
    assert_string_equal(m.sender, "email:markhollis@gmail.com");
    assert_string_equal(m.subject, "Your vote on the bypass");
    assert_string_equal(m.message_id, "01.plain@example.net");
    assert_string_equal(m.id, "01.plain@example.net");
    has(m.to, "jane.doe.mp@parliament.example");
    assert_int_equal(m.time, 1793697300); /* 2026-11-03 09:15:00 UTC */
    assert_null(m.warning);
    assert_null(m.reply_to);
    td_message_release(&m);
}

static void charsets(void **state)
{
    struct td_message m;
    load("02_cp1252_qp.eml", &m);
    /* QP soft breaks joined; 0x93/0x94/0x80 are windows-1252 quotes and euro */
    has(m.text, "your \xe2\x80\x9c"
                "consultation\xe2\x80\x9d cost \xe2\x82\xac"
                "40,000");
    has(m.text, "nobody was listened to.");
    has(m.text, "caf\xc3\xa9 closures");
    td_message_release(&m);

    load("03_latin1.eml", &m);
    has(m.text, "Se\xc3\xb1ora Doe, the caf\xc3\xa9 on M\xc3\xbcller Stra\xc3\x9f"
                "e");
    assert_string_equal(m.sender_name, "Jos\xc3\xa9 Garc\xc3\xad"
                                       "a");
    td_message_release(&m);

    load("04_latin9_b64.eml", &m);
    has(m.text, "5\xe2\x82\xac par \xc5\x93uvre"); /* euro and oe ligature of -15 */
    td_message_release(&m);

    load("05_gb18030.eml", &m);
    has(m.text, "\xe6\x88\x91\xe4\xbb\xac\xe7\x9f\xa5\xe9\x81\x93"); /* 我们知道 */
    assert_string_equal(m.subject, "\xe8\xad\xa6\xe5\x91\x8a");      /* 警告 */
    td_message_release(&m);

    load("06_koi8r.eml", &m);
    has(m.text, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
                "\xd0\xbc\xd0\xb8\xd1\x80!"); /* Привет, мир! */
    td_message_release(&m);

    load("07_utf8_b64.eml", &m);
    has(m.text, "We know where you live. I am going to kill you. You will be smashed");
    has(m.text, "\xf0\x9f\x94\xaa"); /* the knife emoji survives */
    td_message_release(&m);
}

static void rfc2047(void **state)
{
    struct td_message m;
    load("08_rfc2047.eml", &m);
    assert_string_equal(m.sender_name, "Fran\xc3\xa7oise L\xc3\xa9ger");
    assert_string_equal(m.subject, "\xc3\x80 l'attention de Mme Doe \xe2\x80\x93 urgent");
    has(m.to, "Jane Doe MP");
    assert_int_equal(m.time, 1793827800); /* 22:30 +0100 = 21:30 UTC */
    assert_string_equal(m.sender, "email:f.leger@example.fr");
    td_message_release(&m);
}

static void html(void **state)
{
    struct td_message m;
    load("09_html_only.eml", &m);
    has(m.text, "Fish & chips \xe2\x80\x94 \"enjoy\" them while you can.");
    has(m.text, "You will be smashed and killed within days.\nLine two");
    hasnt(m.text, "alert");
    hasnt(m.text, "color");
    hasnt(m.text, "ignored title");
    hasnt(m.text, "Quoted reply");
    hasnt(m.text, "<");
    td_message_release(&m);

    load("10_alternative.eml", &m);
    has(m.text, "PLAIN: When is your next surgery?");
    hasnt(m.text, "HTML:");
    assert_int_equal(m.nattachments, 0);
    td_message_release(&m);
}

static void forwarded(void **state)
{
    struct td_message m;
    load("11_forwarded.eml", &m);
    has(m.text, "Forwarding this one for the log.");
    has(m.text, "Forwarded message");
    has(m.text, "Subject: final warning");
    has(m.text, "angry.voter@example.net");
    has(m.text, "You will be smashed and killed within days.");
    assert_string_equal(m.sender, "email:casework@parliament.example");
    td_message_release(&m);
}

static void attachments(void **state)
{
    struct td_message m;
    load("12_attachments.eml", &m);
    assert_int_equal(m.nattachments, 2);
    assert_string_equal(m.attachments[0].name, "leaflet.pdf");
    assert_string_equal(m.attachments[0].type, "application/pdf");
    assert_int_equal(m.attachments[0].size, 71);
    /* sha256 of the PDF bytes in make_fixtures.py (python3 hashlib) */
    assert_string_equal(m.attachments[0].sha256,
                        "45dd95e96c5ed2e5e68af986ed451ecf7ea20cedb878af7ddb1b9d7efa9e9fd5");
    assert_string_equal(m.attachments[1].name, "caf\xc3\xa9.png"); /* RFC 2231 name */
    assert_string_equal(m.attachments[1].type, "image/png");
    assert_int_equal(m.attachments[1].size, 1024);
    assert_string_equal(m.text, "See the leaflet attached.");
    td_message_release(&m);
}

static void hostile(void **state)
{
    struct td_message m;
    load("13_truncated.eml", &m);
    has(m.text, "The first part arrived whole.");
    has(m.warning, "truncated");
    assert_int_equal(m.nattachments, 1);
    assert_true(m.attachments[0].size < 300);
    td_message_release(&m);

    load("14_bad_charset.eml", &m);
    has(m.text, "It\xe2\x80\x99s a caf\xc3\xa9 problem."); /* read as windows-1252 */
    has(m.warning, "unknown charset 'x-klingon-9'");
    td_message_release(&m);

    load("15_nested_bomb.eml", &m);
    hasnt(m.text, "DEEPEST TEXT");
    has(m.warning, "MIME nesting deeper than 8");
    td_message_release(&m);

    load("16_wide.eml", &m);
    has(m.text, "part 0");
    has(m.text, "part 254");
    hasnt(m.text, "part 256");
    has(m.warning, "more than 256 MIME parts");
    td_message_release(&m);

    struct td_error err;
    td_error_clear(&err);
    td_message_init(&m);
    assert_int_equal(td_email_parse_file(fix("20_not_email.eml"), NULL, &m, &err), TD_EPARSE);
    has(err.message, "not an e-mail message");
    has(err.file, "20_not_email.eml");
    td_message_release(&m);

    /* small text cap: truncated with a warning, never more than the cap */
    struct td_email_opts o;
    td_email_opts_default(&o);
    o.max_text = 20;
    td_error_clear(&err);
    assert_int_equal(td_email_parse_file(fix("02_cp1252_qp.eml"), &o, &m, &err), TD_OK);
    assert_true(m.text_len <= 20);
    has(m.warning, "text truncated");
    td_message_release(&m);
}

/* 5,000 nested multiparts built in memory: GMime's nesting guard and ours
 * stop it; no stack overflow, a warning, the outer text kept. */
static void deep_bomb(void **state)
{
    const int depth = 5000;
    struct td_buf b;
    td_buf_init(&b, 16u << 20);
    td_buf_printf(&b, "From: Bomb <bomb@example.com>\nSubject: deep\nMIME-Version: 1.0\n"
                      "Content-Type: multipart/mixed; boundary=\"d0\"\n\n"
                      "--d0\nContent-Type: text/plain\n\nouter text\n");
    for (int i = 1; i < depth; i++)
        td_buf_printf(&b, "--d%d\nContent-Type: multipart/mixed; boundary=\"d%d\"\n\n", i - 1, i);
    td_buf_printf(&b, "--d%d\nContent-Type: text/plain\n\ninnermost\n", depth - 1);
    for (int i = depth - 1; i >= 0; i--)
        td_buf_printf(&b, "--d%d--\n", i);
    struct td_message m;
    td_message_init(&m);
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_email_parse(b.data, b.len, "deep", NULL, &m, &err), TD_OK);
    assert_string_equal(m.text, "outer text");
    assert_non_null(m.warning);
    td_message_release(&m);
    td_buf_release(&b);
}

static void outlook(void **state)
{
    struct td_message m;
    load("17_outlook_crlf.eml", &m);
    assert_string_equal(m.text, "Thanks, I will come to Friday's surgery.");
    assert_string_equal(m.sender_name, "Smith, John");
    assert_string_equal(m.sender, "email:john.smith@example.co.uk");
    assert_string_equal(m.reply_to, "parking.1@parliament.example");
    td_message_release(&m);
}

static void strip_quotes(void **state)
{
    char a[] = "hi\n> quoted\n>> more\nbye\n-- \nsig";
    assert_int_equal(td_email_strip_quotes(a, strlen(a)), 6);
    assert_string_equal(a, "hi\nbye");
    char b[] = "> only a quote\n> nothing else\n";
    size_t n = strlen(b);
    assert_int_equal(td_email_strip_quotes(b, n), n); /* kept whole */
    assert_string_equal(b, "> only a quote\n> nothing else\n");
    char c[] = "Agreed.\nOn Mon, 2 Nov 2026 at 17:02, Jane Doe MP <jane@x.org>\nwrote:\n> text\n";
    td_email_strip_quotes(c, strlen(c));
    assert_string_equal(c, "Agreed.");
    /* "--" without the space is not a signature separator */
    char d[] = "a\n--\nb";
    td_email_strip_quotes(d, strlen(d));
    assert_string_equal(d, "a\n--\nb");
}

static void mbox(void **state)
{
    struct td_mbox *mb = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_mbox_open(fix("18_inbox.mbox"), NULL, &mb, &err), TD_OK);
    struct td_message m;
    td_message_init(&m);
    assert_int_equal(td_mbox_next(mb, &m, &err), TD_OK);
    has(m.text, "You will be smashed and killed within days.");
    /* ">From " unescaped once, and not mistaken for a quote */
    has(m.text, "\nFrom the office window I can see you.");
    has(m.source, "18_inbox.mbox#offset=0");
    assert_string_equal(m.message_id, "18.a@example.net");
    /* the original starts at the headers, not at the From_ line */
    assert_true(strncmp(m.original, "Return-Path:", 12) == 0);
    has(m.original, ">From the office");
    assert_int_equal(td_mbox_next(mb, &m, &err), TD_OK);
    assert_string_equal(m.subject, "bins");
    assert_non_null(strstr(m.source, "#offset="));
    assert_true(strstr(m.source, "#offset=0") == NULL);
    assert_int_equal(td_mbox_next(mb, &m, &err), TD_OK);
    assert_string_equal(m.message_id, "18.a@example.net"); /* the repeat */
    assert_int_equal(td_mbox_next(mb, &m, &err), TD_EOF);
    td_message_release(&m);
    td_mbox_close(mb);
}

static void maildir(void **state)
{
    struct td_maildir *md = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_maildir_open(fix("maildir"), NULL, &md, &err), TD_OK);
    struct td_message m;
    td_message_init(&m);
    const char *want[] = {"md.0@example.com", "md.1@example.org", "md.2@example.com",
                          "md.3@example.com"}; /* the last from .Complaints/cur */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(td_maildir_next(md, &m, &err), TD_OK);
        assert_string_equal(m.message_id, want[i]); /* arrival (name) order */
    }
    assert_int_equal(td_maildir_next(md, &m, &err), TD_EOF);
    td_message_release(&m);
    td_maildir_close(md);
    assert_int_equal(td_maildir_open(fix("."), NULL, &md, &err), TD_ENOTFOUND);
}

/* The readers: detection from content, per-record errors, --format. */
static void readers(void **state)
{
    struct {
        const char *name;
        enum td_format want;
    } cases[] = {
        {"01_plain_utf8.eml", TD_FORMAT_EML},
        {"18_inbox.mbox", TD_FORMAT_MBOX},
        {"maildir", TD_FORMAT_MAILDIR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct td_reader *r = NULL;
        struct td_error err;
        td_error_clear(&err);
        assert_int_equal(td_reader_open(fix(cases[i].name), NULL, &r, &err), TD_OK);
        assert_int_equal(td_reader_format(r), cases[i].want);
        struct td_message m;
        td_message_init(&m);
        size_t n = 0;
        while (td_reader_next(r, &m, &err) == TD_OK)
            n++;
        assert_true(n >= 1);
        td_message_release(&m);
        td_reader_close(r);
    }
    /* content, not name: an mbox called .txt */
    const unsigned char head[] = "From a@b Thu Nov  5 08:00:00 2026\nFrom: a@b\n";
    assert_int_equal(td_format_detect("x.txt", head, sizeof head - 1), TD_FORMAT_MBOX);
    const unsigned char eml[] = "Received: from x\nFrom: a@b\nSubject: s\n\nhi\n";
    assert_int_equal(td_format_detect("x.txt", eml, sizeof eml - 1), TD_FORMAT_EML);
    /* the non-e-mail file: one record error, no crash */
    struct td_reader_opts o = {.format = TD_FORMAT_EML};
    struct td_reader *r = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_reader_open(fix("20_not_email.eml"), &o, &r, &err), TD_OK);
    struct td_message m;
    td_message_init(&m);
    assert_int_equal(td_reader_next(r, &m, &err), TD_EPARSE);
    assert_false(td_reader_failed(r));
    assert_int_equal(td_reader_next(r, &m, &err), TD_EOF);
    td_message_release(&m);
    td_reader_close(r);
}

/* A 20 MB attachment in an mbox: hashed by streaming, original not held. */
static void big_attachment(void **state)
{
    char path[] = "/tmp/td_email_big_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "From x@example.com Thu Nov  5 08:00:00 2026\n"
               "From: Big <big@example.com>\nSubject: big\nMessage-ID: <big@example.com>\n"
               "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n"
               "--B\nContent-Type: text/plain\n\nsee attached\n"
               "--B\nContent-Type: application/octet-stream\n"
               "Content-Disposition: attachment; filename=\"zeros.bin\"\n"
               "Content-Transfer-Encoding: base64\n\n");
    /* 20 MiB of zero bytes: "AAAA" decodes to 3 zero bytes */
    const size_t total = 20u << 20;
    char line[77];
    memset(line, 'A', 76);
    line[76] = '\n';
    size_t bytes = 0;
    while (bytes + 57 <= total) {
        fwrite(line, 1, 77, f);
        bytes += 57;
    }
    fprintf(f, "\n--B--\n\nFrom y@example.com Thu Nov  5 08:01:00 2026\n"
               "From: Next <next@example.com>\nSubject: next\n\nstill read\n");
    fclose(f);
    struct td_email_opts o;
    td_email_opts_default(&o);
    o.max_original = 1 << 20;
    struct td_mbox *mb = NULL;
    struct td_error err;
    td_error_clear(&err);
    assert_int_equal(td_mbox_open(path, &o, &mb, &err), TD_OK);
    struct td_message m;
    td_message_init(&m);
    assert_int_equal(td_mbox_next(mb, &m, &err), TD_OK);
    assert_string_equal(m.text, "see attached");
    assert_int_equal(m.nattachments, 1);
    assert_int_equal(m.attachments[0].size, bytes);
    /* withheld, never kept cut short: the desk will refuse to file it */
    assert_null(m.original);
    assert_int_equal(m.original_withheld, 1);
    has(m.warning, "withheld");
    assert_int_equal(td_mbox_next(mb, &m, &err), TD_OK);
    assert_string_equal(m.text, "still read");
    td_message_release(&m);
    td_mbox_close(mb);
    unlink(path);
}

/* The engine on the fixtures: threats are threats, the rest is not. */
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
        const char *name;
        int threat;
    } cases[] = {
        {"01_plain_utf8.eml", 1},  {"07_utf8_b64.eml", 1},     {"09_html_only.eml", 1},
        {"11_forwarded.eml", 1},   {"02_cp1252_qp.eml", 0},    {"10_alternative.eml", 0},
        {"12_attachments.eml", 0}, {"17_outlook_crlf.eml", 0},
    };
    struct td_verdict v;
    td_verdict_init(&v);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct td_message m;
        load(cases[i].name, &m);
        assert_int_equal(td_analyse(ctx, m.text, m.text_len, &v, &err), TD_OK);
        int threat = (v.labels >> TD_LABEL_THREAT) & 1;
        if (threat != cases[i].threat)
            fail_msg("%s: threat=%d severity=%s (%s)", cases[i].name, threat,
                     td_severity_name(v.severity), v.reason);
        if (cases[i].threat && v.severity < TD_SEVERITY_HIGH)
            fail_msg("%s: severity %s", cases[i].name, td_severity_name(v.severity));
        if (!cases[i].threat && v.severity >= TD_SEVERITY_MEDIUM)
            fail_msg("%s: severity %s (%s)", cases[i].name, td_severity_name(v.severity), v.reason);
        td_message_release(&m);
    }
    td_verdict_release(&v);
    td_analysis_ctx_free(ctx);
    td_analyser_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_utf8), cmocka_unit_test(charsets),
        cmocka_unit_test(rfc2047),    cmocka_unit_test(html),
        cmocka_unit_test(forwarded),  cmocka_unit_test(attachments),
        cmocka_unit_test(hostile),    cmocka_unit_test(deep_bomb),
        cmocka_unit_test(outlook),    cmocka_unit_test(strip_quotes),
        cmocka_unit_test(mbox),       cmocka_unit_test(maildir),
        cmocka_unit_test(readers),    cmocka_unit_test(big_attachment),
        cmocka_unit_test(verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
