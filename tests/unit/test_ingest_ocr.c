/*
 * test_ingest_ocr.c - scanned letters through OCR (ocr.h) and the
 * image/PDF readers.
 *
 * Nothing here is a committed image: every letter is rendered at test time
 * with cairo in a printed font (DejaVu Serif, 12 pt at 300 dpi) from the
 * text in tests/fixtures/letters/, then degraded the way real post is: a
 * clean print, a scan rotated by 4 degrees, a faint grey-on-grey copy, a
 * TIFF and a JPEG, and a two-page PDF whose first page is the scanned image
 * and whose second page is printed text.  OCR output is compared after
 * folding case and whitespace, so an odd line break does not fail a test,
 * but every key word of the threat must be read.
 *
 * The binary also serves the shell scripts (no cmocka in these modes):
 *   test_ingest_ocr --bench N         render an N-page PDF letter, OCR it and
 *                                     print seconds per page (bench_ocr.sh)
 *   test_ingest_ocr --render KIND OUT write one test letter (ocr_scan.sh)
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cairo-pdf.h>
#include <cairo.h>
#include <leptonica/allheaders.h>

#include "threatdesk/analyse.h"
#include "threatdesk/buf.h"
#include "threatdesk/ocr.h"
#include "threatdesk/reader.h"

#define DPI 300.0
#define PAGE_W 2480 /* A4 width at 300 dpi */
#define PAGE_H 1100 /* the top third of a page: the letter's body */

/*
 * fontconfig (used by cairo's toy text API here, and by poppler for PDF
 * text) keeps its configuration cache until FcFini(), which nothing calls
 * at exit, and LeakSanitizer reports that cache.  Suppressed for that
 * library only, in this binary only; our own leaks are still reported.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

/* ---- rendering -------------------------------------------------------------------- */

struct look {
    double angle_deg;  /* rotation of the sheet on the scanner */
    double ink, paper; /* grey levels 0 (black) .. 1 (white) */
};

static char *fixture(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/letters/%s", TD_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct td_buf b;
    td_buf_init(&b, 1 << 16);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (td_buf_append(&b, chunk, n) != TD_OK)
            break;
    fclose(f);
    return td_buf_detach(&b, NULL);
}

/* Draw the lines of `text` on cr (already scaled to pixels). */
static void draw_text(cairo_t *cr, const char *text, double ink)
{
    cairo_select_font_face(cr, "DejaVu Serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12.0 * DPI / 72.0); /* 12 pt */
    cairo_set_source_rgb(cr, ink, ink, ink);
    double y = 160;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(n < 511 ? n : 511), p);
        cairo_move_to(cr, 200, y);
        cairo_show_text(cr, line);
        y += 75;
        p += n + (nl ? 1 : 0);
    }
}

/* A letter page as an RGB24 image surface. */
static cairo_surface_t *render_page(const char *text, const struct look *lk)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PAGE_W, PAGE_H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, lk->paper, lk->paper, lk->paper);
    cairo_paint(cr);
    if (lk->angle_deg != 0) {
        cairo_translate(cr, PAGE_W / 2.0, PAGE_H / 2.0);
        cairo_rotate(cr, lk->angle_deg * M_PI / 180.0);
        cairo_translate(cr, -PAGE_W / 2.0, -PAGE_H / 2.0);
    }
    draw_text(cr, text, lk->ink);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    return s;
}

static cairo_status_t to_buf(void *closure, const unsigned char *data, unsigned int len)
{
    return td_buf_append(closure, data, len) == TD_OK ? CAIRO_STATUS_SUCCESS
                                                      : CAIRO_STATUS_WRITE_ERROR;
}

static void render_png(const char *text, const struct look *lk, struct td_buf *out)
{
    td_buf_init(out, 64u << 20);
    cairo_surface_t *s = render_page(text, lk);
    assert_int_equal(cairo_surface_write_to_png_stream(s, to_buf, out), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(s);
}

/* Re-encode a PNG with leptonica (TIFF, JPEG). */
static void reencode(const struct td_buf *png, int iff, struct td_buf *out)
{
    PIX *pix = pixReadMem((const l_uint8 *)png->data, png->len);
    assert_non_null(pix);
    l_uint8 *data = NULL;
    size_t size = 0;
    assert_int_equal(pixWriteMem(&data, &size, pix, iff), 0);
    td_buf_init(out, 64u << 20);
    assert_int_equal(td_buf_append(out, data, size), TD_OK);
    lept_free(data);
    pixDestroy(&pix);
}

/*
 * A PDF of `pages` pages: odd pages carry the letter as a scanned image
 * (placed at 300 dpi), even pages `second` as printed text.
 */
static void render_pdf(const char *text, const char *second, int pages, struct td_buf *out)
{
    td_buf_init(out, 256u << 20);
    const double wpt = PAGE_W * 72.0 / DPI, hpt = PAGE_H * 72.0 / DPI;
    cairo_surface_t *pdf = cairo_pdf_surface_create_for_stream(to_buf, out, wpt, hpt);
    cairo_t *cr = cairo_create(pdf);
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    cairo_surface_t *img = render_page(text, &lk);
    for (int p = 0; p < pages; p++) {
        cairo_save(cr);
        if (p % 2 == 0) {
            cairo_scale(cr, 72.0 / DPI, 72.0 / DPI);
            cairo_set_source_surface(cr, img, 0, 0);
            cairo_paint(cr);
        } else {
            cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_paint(cr);
            cairo_scale(cr, 72.0 / DPI, 72.0 / DPI);
            draw_text(cr, second, 0);
        }
        cairo_restore(cr);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(pdf);
    assert_int_equal(cairo_surface_status(pdf), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(pdf);
    cairo_surface_destroy(img);
}

/* ---- checking --------------------------------------------------------------------- */

/* Lower-case, every run of whitespace one space: OCR line breaks vary. */
static char *fold(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    assert_non_null(out);
    int space = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') {
            if (!space)
                out[o++] = ' ';
            space = 1;
            continue;
        }
        space = 0;
        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[o] = '\0';
    return out;
}

static void assert_contains(const char *text, const char *needle)
{
    char *t = fold(text);
    if (!strstr(t, needle)) {
        print_error("OCR text lacks \"%s\":\n%s\n", needle, t);
        free(t);
        fail();
    }
    free(t);
}

struct ocr_fixture {
    struct td_ocr *ocr;
    char *letter;
};

static int setup(void **state)
{
    struct ocr_fixture *f = calloc(1, sizeof *f);
    struct td_error err;
    td_error_clear(&err);
    if (!f || td_ocr_open(NULL, &f->ocr, &err) != TD_OK) {
        fprintf(stderr, "td_ocr_open: %s\n", err.message);
        return -1;
    }
    f->letter = fixture("threat.txt");
    if (!f->letter)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct ocr_fixture *f = *state;
    td_ocr_free(f->ocr);
    free(f->letter);
    free(f);
    return 0;
}

/* OCR bytes and check the threat was read; returns the info. */
static struct td_ocr_info ocr_threat(struct ocr_fixture *f, const struct td_buf *b,
                                     const char *kind, struct td_message *m)
{
    struct td_error err;
    struct td_ocr_info info;
    td_error_clear(&err);
    int rc = td_ocr_message(f->ocr, b->data, b->len, "letter", m, &info, &err);
    if (rc != TD_OK)
        print_error("td_ocr_message: %s\n", err.message);
    assert_int_equal(rc, TD_OK);
    assert_string_equal(info.kind, kind);
    assert_string_equal(m->channel, "letter");
    assert_non_null(m->text);
    assert_int_equal(strlen(m->text), m->text_len);
    assert_int_equal(m->original_len, b->len);
    assert_memory_equal(m->original, b->data, b->len);
    assert_contains(m->text, "you will be smashed and killed within days");
    assert_contains(m->text, "we know where you live");
    /* A clean 12 pt print reads with high confidence; a wild value means
     * the mean was not computed from this page. */
    assert_true(info.confidence >= 60.0 && info.confidence <= 100.0);
    assert_true(m->ocr_confidence == info.confidence);
    return info;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_clean_png(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    render_png(f->letter, &lk, &png);
    struct td_message m;
    td_message_init(&m);
    struct td_ocr_info info = ocr_threat(f, &png, "png", &m);
    assert_int_equal(info.pages, 1);
    assert_true(fabsf(info.skew_degrees) < 1.0f);
    assert_string_equal(m.source, "letter#pages=1");
    assert_contains(m.text, "dear ms");
    td_message_release(&m);
    td_buf_release(&png);
}

static void test_skewed_scan(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    struct look lk = {.angle_deg = 4.0, .ink = 0.1, .paper = 0.97};
    render_png(f->letter, &lk, &png);
    struct td_message m;
    td_message_init(&m);
    struct td_ocr_info info = ocr_threat(f, &png, "png", &m);
    /* the deskew measured the rotation we applied (sign is leptonica's) */
    assert_true(fabsf(info.skew_degrees) > 3.0f && fabsf(info.skew_degrees) < 5.0f);
    td_message_release(&m);
    td_buf_release(&png);
}

static void test_low_contrast(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    /* mid-grey ink on light-grey paper: 50 grey levels apart */
    struct look lk = {.angle_deg = 0, .ink = 0.6, .paper = 0.8};
    render_png(f->letter, &lk, &png);
    struct td_message m;
    td_message_init(&m);
    ocr_threat(f, &png, "png", &m);
    td_message_release(&m);
    td_buf_release(&png);
}

static void test_tiff_and_jpeg(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png, tiff, jpeg;
    struct look lk = {.angle_deg = -3.0, .ink = 0, .paper = 1};
    render_png(f->letter, &lk, &png);
    reencode(&png, IFF_TIFF_ZIP, &tiff);
    reencode(&png, IFF_JFIF_JPEG, &jpeg);
    struct td_message m;
    td_message_init(&m);
    struct td_ocr_info info = ocr_threat(f, &tiff, "tiff", &m);
    assert_int_equal(info.pages, 1);
    ocr_threat(f, &jpeg, "jpeg", &m);
    td_message_release(&m);
    td_buf_release(&png);
    td_buf_release(&tiff);
    td_buf_release(&jpeg);
}

/* A fax-style multi-page TIFF: every page read, in order; the page cap
 * applies to TIFF as to PDF. */
static void test_multipage_tiff(void **state)
{
    struct ocr_fixture *f = *state;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    struct td_buf p1, p2;
    render_png(f->letter, &lk, &p1);
    render_png("Page two: signed, A Constituent", &lk, &p2);
    PIXA *pixa = pixaCreate(3);
    const struct td_buf *pages[3] = {&p1, &p2, &p1};
    for (int i = 0; i < 3; i++) {
        PIX *pix = pixReadMem((const l_uint8 *)pages[i]->data, pages[i]->len);
        assert_non_null(pix);
        PIX *bin = pixConvertTo1(pix, 128); /* faxes are bilevel (G4) */
        pixaAddPix(pixa, bin, L_INSERT);
        pixDestroy(&pix);
    }
    l_uint8 *data = NULL;
    size_t size = 0;
    assert_int_equal(pixaWriteMemMultipageTiff(&data, &size, pixa), 0);
    struct td_buf tiff;
    td_buf_init(&tiff, 64u << 20);
    assert_int_equal(td_buf_append(&tiff, data, size), TD_OK);
    lept_free(data);
    pixaDestroy(&pixa);

    struct td_message m;
    td_message_init(&m);
    struct td_ocr_info info = ocr_threat(f, &tiff, "tiff", &m);
    assert_int_equal(info.pages, 3);
    char *t = fold(m.text);
    char *two = strstr(t, "page two");
    assert_non_null(two);
    assert_true(strstr(t, "smashed") < two && strstr(two, "smashed") != NULL);
    free(t);

    struct td_ocr *small = NULL;
    struct td_error err;
    struct td_ocr_opts o = {.max_pages = 2};
    assert_int_equal(td_ocr_open(&o, &small, &err), TD_OK);
    assert_int_equal(td_ocr_message(small, tiff.data, tiff.len, "fax.tif", &m, NULL, &err),
                     TD_ETOOBIG);
    assert_non_null(strstr(err.message, "more than 2 pages"));
    td_ocr_free(small);
    td_message_release(&m);
    td_buf_release(&tiff);
    td_buf_release(&p1);
    td_buf_release(&p2);
}

static void test_pdf_two_pages(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf pdf;
    render_pdf(f->letter, "Second page. Signed, A Constituent", 2, &pdf);
    struct td_message m;
    td_message_init(&m);
    struct td_ocr_info info = ocr_threat(f, &pdf, "pdf", &m);
    assert_int_equal(info.pages, 2);
    assert_string_equal(m.source, "letter#pages=2");
    assert_contains(m.text, "signed, a constituent");
    /* page order is kept: the letter comes before the second page */
    char *t = fold(m.text);
    assert_true(strstr(t, "smashed") < strstr(t, "second page"));
    free(t);
    td_message_release(&m);
    td_buf_release(&pdf);
}

static void test_not_an_image(void **state)
{
    struct ocr_fixture *f = *state;
    static const char text[] = "Dear MP, this file is called letter.png but it is text.\n";
    struct td_message m;
    struct td_error err;
    td_message_init(&m);
    td_error_clear(&err);
    assert_int_equal(td_ocr_message(f->ocr, text, sizeof text - 1, "letter.png", &m, NULL, &err),
                     TD_EFORMAT);
    assert_non_null(strstr(err.message, "not an image"));
    assert_null(m.text);
    /* too short even to sniff */
    assert_int_equal(td_ocr_message(f->ocr, "\x89PNG", 4, "x.png", &m, NULL, &err), TD_EFORMAT);
    assert_null(td_ocr_sniff("\x89PNG", 4));
    td_message_release(&m);
}

static void test_truncated_png(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    render_png(f->letter, &lk, &png);
    struct td_message m;
    struct td_error err;
    td_message_init(&m);
    td_error_clear(&err);
    /* the header is intact, the pixel data cut off */
    assert_int_equal(td_ocr_message(f->ocr, png.data, 200, "cut.png", &m, NULL, &err), TD_EFORMAT);
    assert_non_null(strstr(err.message, "cannot be decoded"));
    /* and a JPEG cut in half */
    struct td_buf jpeg;
    reencode(&png, IFF_JFIF_JPEG, &jpeg);
    assert_int_equal(td_ocr_message(f->ocr, jpeg.data, jpeg.len / 2, "cut.jpg", &m, NULL, &err),
                     TD_EFORMAT);
    assert_non_null(strstr(err.message, "truncated"));
    td_buf_release(&jpeg);
    td_message_release(&m);
    td_buf_release(&png);
}

/* A PNG whose header claims 100000 x 100000 pixels is refused before any
 * decoding (the pixel data would be 10^10 bytes). */
static void test_huge_dimensions(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    render_png("x", &lk, &png);
    /* IHDR: 8-byte signature, 4-byte length, "IHDR", then width, height */
    assert_memory_equal(png.data + 12, "IHDR", 4);
    static const unsigned char big[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0}; /* 100000 */
    memcpy(png.data + 16, big, 8);
    struct td_message m;
    struct td_error err;
    td_message_init(&m);
    td_error_clear(&err);
    assert_int_equal(td_ocr_message(f->ocr, png.data, png.len, "big.png", &m, NULL, &err),
                     TD_ETOOBIG);
    assert_non_null(strstr(err.message, "100000x100000"));
    td_message_release(&m);
    td_buf_release(&png);
}

static void test_limits(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_ocr *small = NULL;
    struct td_error err;
    td_error_clear(&err);
    struct td_ocr_opts o = {.max_pages = 2, .max_bytes = 1 << 20};
    assert_int_equal(td_ocr_open(&o, &small, &err), TD_OK);
    struct td_buf pdf;
    render_pdf(f->letter, "more", 3, &pdf);
    struct td_message m;
    td_message_init(&m);
    assert_int_equal(td_ocr_message(small, pdf.data, pdf.len, "3.pdf", &m, NULL, &err), TD_ETOOBIG);
    assert_non_null(strstr(err.message, "3 pages"));
    /* file size bound */
    char *zeros = calloc(1, (1 << 20) + 1);
    assert_non_null(zeros);
    memcpy(zeros, "%PDF-1.4\n", 9);
    assert_int_equal(td_ocr_message(small, zeros, (1 << 20) + 1, "big.pdf", &m, NULL, &err),
                     TD_ETOOBIG);
    /* a "PDF" that is not one */
    assert_int_equal(td_ocr_message(small, zeros, 4096, "bad.pdf", &m, NULL, &err), TD_EFORMAT);
    free(zeros);
    td_buf_release(&pdf);
    /* a 200 x 200 inch PDF page would be 60000 x 60000 pixels at 300 dpi:
     * refused before poppler renders anything */
    td_buf_init(&pdf, 1 << 20);
    cairo_surface_t *huge = cairo_pdf_surface_create_for_stream(to_buf, &pdf, 14400, 14400);
    cairo_t *cr = cairo_create(huge);
    cairo_show_page(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(huge);
    assert_int_equal(td_ocr_message(f->ocr, pdf.data, pdf.len, "huge.pdf", &m, NULL, &err),
                     TD_ETOOBIG);
    assert_non_null(strstr(err.message, "60000x60000"));
    td_buf_release(&pdf);
    td_message_release(&m);
    td_ocr_free(small);
    /* a bad language is a clear init error */
    struct td_ocr_opts bad = {.lang = "zz-no-such-lang"};
    assert_int_equal(td_ocr_open(&bad, &small, &err), TD_EOCR);
    assert_non_null(strstr(err.message, "zz-no-such-lang"));
    assert_null(small);
}

/* Through the reader table: content decides, not the name. */
static void test_reader(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    render_png(f->letter, &lk, &png);
    char dir[] = "/tmp/td-ocr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[64], bad[64];
    snprintf(good, sizeof good, "%s/scan.dat", dir);
    snprintf(bad, sizeof bad, "%s/letter.png", dir);
    FILE *fp = fopen(good, "wb");
    fwrite(png.data, 1, png.len, fp);
    fclose(fp);
    fp = fopen(bad, "wb");
    fputs("\x89PNX but not really a PNG at all, just text\n", fp);
    fclose(fp);

    struct td_reader *r = NULL;
    struct td_error err;
    struct td_message m;
    td_message_init(&m);
    td_error_clear(&err);
    assert_int_equal(td_reader_open(good, NULL, &r, &err), TD_OK);
    assert_int_equal(td_reader_format(r), TD_FORMAT_IMAGE);
    assert_int_equal(td_reader_next(r, &m, &err), TD_OK);
    assert_string_equal(m.channel, "letter");
    assert_contains(m.text, "smashed and killed");
    assert_true(m.ocr_confidence > 0);
    assert_int_equal(td_reader_next(r, &m, &err), TD_EOF);
    td_reader_close(r);

    /* the next reader, and two open at once, reuse the engines closed
     * readers left: a folder of scans loads the language data once per
     * reader open at the same time, not once per file */
    unsigned long made = td_ocr_engines_made();
    struct td_reader *r2 = NULL;
    assert_int_equal(td_reader_open(good, NULL, &r, &err), TD_OK);
    assert_int_equal(td_reader_next(r, &m, &err), TD_OK);
    assert_contains(m.text, "smashed and killed");
    td_reader_close(r);
    assert_int_equal(td_ocr_engines_made(), made);
    assert_int_equal(td_reader_open(good, NULL, &r, &err), TD_OK);
    assert_int_equal(td_reader_open(good, NULL, &r2, &err), TD_OK);
    assert_int_equal(td_ocr_engines_made(), made + 1);
    td_reader_close(r2);
    td_reader_close(r);
    assert_int_equal(td_reader_open(good, NULL, &r, &err), TD_OK);
    td_reader_close(r);
    assert_int_equal(td_ocr_engines_made(), made + 1);

    /* text named letter.png: refused as "not an image" (a per-record
     * error, not a crash), whether detected or forced with --format */
    struct td_reader_opts ro = {.format = TD_FORMAT_IMAGE};
    for (int forced = 0; forced < 2; forced++) {
        assert_int_equal(td_reader_open(bad, forced ? &ro : NULL, &r, &err), TD_OK);
        assert_int_equal(td_reader_format(r), TD_FORMAT_IMAGE);
        assert_int_equal(td_reader_next(r, &m, &err), TD_EFORMAT);
        assert_string_equal(err.file, bad);
        assert_non_null(strstr(err.message, "not an image"));
        assert_int_equal(td_reader_next(r, &m, &err), TD_EOF);
        td_reader_close(r);
    }

    unlink(good);
    unlink(bad);
    rmdir(dir);
    td_message_release(&m);
    td_buf_release(&png);
}

/* ---- bench mode ------------------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench(int pages)
{
    char *letter = fixture("threat.txt");
    if (!letter || pages < 1 || pages > 50)
        return 2;
    struct td_buf pdf;
    render_pdf(letter, letter, pages, &pdf);
    struct td_error err;
    td_error_clear(&err);
    double t0 = now();
    struct td_ocr *o = NULL;
    if (td_ocr_open(NULL, &o, &err) != TD_OK) {
        fprintf(stderr, "td_ocr_open: %s\n", err.message);
        return 1;
    }
    double t1 = now();
    struct td_message m;
    struct td_ocr_info info;
    td_message_init(&m);
    int rc = td_ocr_message(o, pdf.data, pdf.len, "bench.pdf", &m, &info, &err);
    double t2 = now();
    if (rc != TD_OK) {
        fprintf(stderr, "td_ocr_message: %s\n", err.message);
        return 1;
    }
    printf("pages: %u (%dx%d px at 300 dpi, PDF %zu bytes)\n", info.pages, PAGE_W, PAGE_H, pdf.len);
    printf("engine init: %.3f s\n", t1 - t0);
    printf("render+clean+OCR: %.3f s total, %.3f s/page, mean confidence %.1f\n", t2 - t1,
           (t2 - t1) / info.pages, info.confidence);
    td_message_release(&m);
    td_ocr_free(o);
    td_buf_release(&pdf);
    free(letter);
    return 0;
}

/* ---- the pool ------------------------------------------------------------------------ */

#define POOL_N 2
#define POOL_THREADS 3
#define POOL_JOBS 2 /* per thread */

struct pool_run {
    struct td_ocr_pool *pool;
    const struct td_buf *png;
    pthread_mutex_t lock;
    struct td_ocr *lent[POOL_THREADS]; /* engines lent right now */
    struct td_ocr *seen[POOL_N * 4];   /* every engine ever lent */
    unsigned nseen;
    int read_ok, shared, max_lent;
};

static void *pool_thread(void *ud)
{
    struct pool_run *r = ud;
    for (int j = 0; j < POOL_JOBS; j++) {
        struct td_ocr *o = td_ocr_pool_get(r->pool);
        int lent = 0, known = 0;
        pthread_mutex_lock(&r->lock);
        for (int i = 0; i < POOL_THREADS; i++) {
            r->shared |= r->lent[i] == o; /* lent to two threads at once */
            lent += r->lent[i] != NULL;
        }
        for (int i = 0; i < POOL_THREADS; i++)
            if (!r->lent[i]) {
                r->lent[i] = o;
                break;
            }
        if (lent + 1 > r->max_lent)
            r->max_lent = lent + 1;
        for (unsigned i = 0; i < r->nseen; i++)
            known |= r->seen[i] == o;
        if (!known && r->nseen < sizeof r->seen / sizeof r->seen[0])
            r->seen[r->nseen++] = o;
        pthread_mutex_unlock(&r->lock);

        struct td_message m;
        struct td_error err;
        td_message_init(&m);
        td_error_clear(&err);
        int rc = td_ocr_message(o, r->png->data, r->png->len, "letter", &m, NULL, &err);
        char *t = rc == TD_OK ? fold(m.text) : NULL;
        int ok = t && strstr(t, "you will be smashed and killed within days");
        free(t);
        td_message_release(&m);

        pthread_mutex_lock(&r->lock);
        r->read_ok += ok;
        for (int i = 0; i < POOL_THREADS; i++)
            if (r->lent[i] == o) {
                r->lent[i] = NULL;
                break;
            }
        pthread_mutex_unlock(&r->lock);
        td_ocr_pool_put(r->pool, o);
    }
    return NULL;
}

/* Engines are made once, when the pool opens: more threads than engines
 * share them, each engine lent to one thread at a time, and every letter
 * is still read right. */
static void test_pool_reuses_engines(void **state)
{
    struct ocr_fixture *f = *state;
    struct td_buf png;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    struct td_error err;
    struct pool_run r;
    td_error_clear(&err);
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.lock, NULL);
    render_png(f->letter, &lk, &png);
    r.png = &png;
    unsigned long before = td_ocr_engines_made();
    assert_int_equal(td_ocr_pool_open(NULL, POOL_N, &r.pool, &err), TD_OK);
    assert_int_equal(td_ocr_pool_size(r.pool), POOL_N);
    assert_int_equal(td_ocr_engines_made() - before, POOL_N);
    pthread_t th[POOL_THREADS];
    for (int i = 0; i < POOL_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, pool_thread, &r), 0);
    for (int i = 0; i < POOL_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(r.read_ok, POOL_THREADS * POOL_JOBS);
    assert_int_equal(td_ocr_engines_made() - before, POOL_N); /* none made per job */
    assert_int_equal(r.shared, 0);
    assert_true(r.max_lent <= POOL_N);
    assert_int_equal(r.nseen, POOL_N);
    /* a stray or repeated put does not make an engine lendable twice */
    struct td_ocr *o = td_ocr_pool_get(r.pool);
    td_ocr_pool_put(r.pool, o);
    td_ocr_pool_put(r.pool, o);
    td_ocr_pool_put(r.pool, f->ocr);
    struct td_ocr *a = td_ocr_pool_get(r.pool), *b = td_ocr_pool_get(r.pool);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, f->ocr);
    assert_ptr_not_equal(b, f->ocr);
    td_ocr_pool_put(r.pool, a);
    td_ocr_pool_put(r.pool, b);
    td_ocr_pool_free(r.pool);
    assert_int_equal(td_ocr_pool_open(NULL, 0, &r.pool, &err), TD_EINVAL);
    pthread_mutex_destroy(&r.lock);
    td_buf_release(&png);
}

/* --render KIND OUT: write a test letter for the shell tests
 * (tests/integration/ocr_scan.sh).  KIND: clean | skewed | faint (PNG),
 * tiff, pdf (two pages). */
static int render(const char *kind, const char *out)
{
    char *letter = fixture("threat.txt");
    if (!letter)
        return 2;
    struct td_buf b, png;
    struct look lk = {.angle_deg = 0, .ink = 0, .paper = 1};
    if (strcmp(kind, "skewed") == 0)
        lk = (struct look){.angle_deg = 4.5, .ink = 0.1, .paper = 0.95};
    else if (strcmp(kind, "faint") == 0)
        lk = (struct look){.angle_deg = 0, .ink = 0.6, .paper = 0.8};
    if (strcmp(kind, "pdf") == 0) {
        render_pdf(letter, "Second page. Signed, A Constituent", 2, &b);
    } else if (strcmp(kind, "tiff") == 0) {
        render_png(letter, &lk, &png);
        reencode(&png, IFF_TIFF_ZIP, &b);
        td_buf_release(&png);
    } else if (!strcmp(kind, "clean") || !strcmp(kind, "skewed") || !strcmp(kind, "faint")) {
        render_png(letter, &lk, &b);
    } else {
        fprintf(stderr, "--render: unknown kind %s\n", kind);
        free(letter);
        return 2;
    }
    FILE *f = fopen(out, "wb");
    int rc = f && fwrite(b.data, 1, b.len, f) == b.len ? 0 : 1;
    if (f && fclose(f) != 0)
        rc = 1;
    td_buf_release(&b);
    free(letter);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--bench") == 0)
        return bench((int)strtol(argv[2], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "--render") == 0)
        return render(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_png),       cmocka_unit_test(test_skewed_scan),
        cmocka_unit_test(test_low_contrast),    cmocka_unit_test(test_tiff_and_jpeg),
        cmocka_unit_test(test_multipage_tiff),  cmocka_unit_test(test_pdf_two_pages),
        cmocka_unit_test(test_not_an_image),    cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_huge_dimensions), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_reader),          cmocka_unit_test(test_pool_reuses_engines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
