/*
 * ocr.c - scanned letters to text: leptonica decodes and cleans page
 * images, poppler renders PDF pages, Tesseract reads them (see ocr.h).
 *
 * Per page:
 *   1. bound: pixel count from the image header (pixReadHeaderMem) or the
 *      PDF page box times dpi/72, checked BEFORE decoding/rendering;
 *   2. flatten: alpha blended onto white, colour maps removed, 8-bit grey;
 *   3. contrast: pixContrastNorm stretches each tile's min..max to 0..255,
 *      so grey-on-light-grey print and unevenly lit photos become black on
 *      white; tiles with too little range (blank paper) borrow from their
 *      neighbours, so paper grain is not amplified into noise;
 *   4. deskew: pixFindSkewAndDeskew measures the text-line angle on a
 *      binarised copy and rotates the grey image back (white brought in);
 *   5. Tesseract on the cleaned grey page (its own Otsu binarisation is
 *      reliable once the contrast is normalised), with the resolution set so
 *      it does not guess one.
 *
 * The readers at the end (TD_FORMAT_IMAGE, TD_FORMAT_PDF) plug this into
 * reader.c's table: one file is one message.
 */
#include "threatdesk/ocr.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>
#include <leptonica/allheaders.h>
#include <poppler.h>
#include <tesseract/capi.h>

#include "ingest/reader_int.h"
#include "threatdesk/buf.h"

/* The recognised text of a whole document is capped: a letter is a few KB;
 * 50 dense pages stay far below this. */
#define OCR_MAX_TEXT ((size_t)8 << 20)
/* cairo image surfaces are limited to 32767 pixels a side. */
#define OCR_MAX_SIDE 32767
/* Below this an image's stated resolution is not believable (many files
 * carry 72 or none); assume a 300 dpi scan so Tesseract does not guess. */
#define OCR_MIN_DPI 70

struct td_ocr {
    TessBaseAPI *api;
    struct td_ocr_opts opts;
};

/* Engines made in this process (td_ocr_engines_made). */
static atomic_ulong engines_made;

/* ---- engine ------------------------------------------------------------------ */

int td_ocr_open(const struct td_ocr_opts *opts, struct td_ocr **out, struct td_error *err)
{
    int rc = TD_OK;
    *out = NULL;
    struct td_ocr *o = calloc(1, sizeof *o);
    if (!o)
        return td_error_set(err, TD_ENOMEM, "allocating the OCR engine");
    if (opts)
        o->opts = *opts;
    if (!o->opts.lang)
        o->opts.lang = "eng";
    if (!o->opts.max_bytes)
        o->opts.max_bytes = TD_OCR_DEFAULT_MAX_BYTES;
    if (!o->opts.max_pixels)
        o->opts.max_pixels = TD_OCR_DEFAULT_MAX_PIXELS;
    if (!o->opts.max_pages)
        o->opts.max_pages = TD_OCR_DEFAULT_MAX_PAGES;
    if (!o->opts.dpi)
        o->opts.dpi = TD_OCR_DEFAULT_DPI;
    if (o->opts.dpi < 72 || o->opts.dpi > 1200) {
        rc = td_error_set(err, TD_EINVAL, "OCR resolution %u dpi is outside 72..1200", o->opts.dpi);
        goto out;
    }

    /* The library never prints: leptonica's severity is process-wide. */
    setMsgSeverity(L_SEVERITY_NONE);

    o->api = TessBaseAPICreate();
    if (!o->api) {
        rc = td_error_set(err, TD_ENOMEM, "creating the Tesseract engine");
        goto out;
    }
    /* debug_file must be set at Init so even init messages are silenced. */
    char *vars[] = {"debug_file"};
    char *vals[] = {"/dev/null"};
    if (TessBaseAPIInit4(o->api, o->opts.datapath, o->opts.lang, OEM_DEFAULT, NULL, 0, vars, vals,
                         1, FALSE) != 0) {
        rc =
            td_error_set(err, TD_EOCR,
                         "cannot load Tesseract language data '%s' (from %s); is "
                         "tesseract-ocr-%s installed?",
                         o->opts.lang, o->opts.datapath ? o->opts.datapath : "the default tessdata",
                         o->opts.lang);
        goto out;
    }
    atomic_fetch_add(&engines_made, 1);
out:
    if (rc != TD_OK) {
        td_ocr_free(o);
        return rc;
    }
    *out = o;
    return TD_OK;
}

void td_ocr_free(struct td_ocr *o)
{
    if (!o)
        return;
    if (o->api) {
        TessBaseAPIEnd(o->api);
        TessBaseAPIDelete(o->api);
    }
    free(o);
}

unsigned long td_ocr_engines_made(void)
{
    return atomic_load(&engines_made);
}

/* ---- the pool ------------------------------------------------------------------ */

#define OCR_POOL_MAX 64

struct td_ocr_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    unsigned n;     /* engines made */
    unsigned nfree; /* free[0..nfree) are not lent */
    struct td_ocr **all;
    struct td_ocr **free;
};

int td_ocr_pool_open(const struct td_ocr_opts *opts, unsigned n, struct td_ocr_pool **out,
                     struct td_error *err)
{
    *out = NULL;
    if (n < 1 || n > OCR_POOL_MAX)
        return td_error_set(err, TD_EINVAL, "an OCR pool holds 1..%d engines, not %u", OCR_POOL_MAX,
                            n);
    struct td_ocr_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->all = calloc(n, sizeof *p->all)) || !(p->free = calloc(n, sizeof *p->free))) {
        if (p)
            free(p->all);
        free(p);
        return td_error_set(err, TD_ENOMEM, "allocating the OCR pool");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    for (unsigned i = 0; i < n; i++) {
        int rc = td_ocr_open(opts, &p->all[i], err);
        if (rc != TD_OK) {
            td_ocr_pool_free(p);
            return rc;
        }
        p->free[p->nfree++] = p->all[i];
        p->n++;
    }
    *out = p;
    return TD_OK;
}

void td_ocr_pool_free(struct td_ocr_pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++)
        td_ocr_free(p->all[i]);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->all);
    free(p->free);
    free(p);
}

struct td_ocr *td_ocr_pool_get(struct td_ocr_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->nfree == 0)
        pthread_cond_wait(&p->freed, &p->lock);
    struct td_ocr *o = p->free[--p->nfree];
    pthread_mutex_unlock(&p->lock);
    return o;
}

void td_ocr_pool_put(struct td_ocr_pool *p, struct td_ocr *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&p->lock);
    /* Only the pool's own engines come back, each once: a stray pointer
     * would otherwise be lent to two threads at the same time. */
    int mine = 0;
    for (unsigned i = 0; i < p->n; i++)
        mine |= p->all[i] == o;
    for (unsigned i = 0; i < p->nfree; i++)
        mine &= p->free[i] != o;
    if (mine && p->nfree < p->n) {
        p->free[p->nfree++] = o;
        pthread_cond_signal(&p->freed);
    }
    pthread_mutex_unlock(&p->lock);
}

unsigned td_ocr_pool_size(const struct td_ocr_pool *p)
{
    return p ? p->n : 0;
}

/* ---- sniffing ------------------------------------------------------------------ */

const char *td_ocr_sniff(const void *bytes, size_t len)
{
    const unsigned char *b = bytes;
    if (len >= 5 && memcmp(b, "%PDF-", 5) == 0)
        return "pdf";
    /* findFileFormatBuffer reads up to 12 bytes unconditionally. */
    if (len < 12)
        return NULL;
    l_int32 f = IFF_UNKNOWN;
    if (findFileFormatBuffer(b, &f) != 0)
        return NULL;
    if (f == IFF_PNG)
        return "png";
    if (f == IFF_JFIF_JPEG)
        return "jpeg";
    if (L_FORMAT_IS_TIFF(f))
        return "tiff";
    return NULL;
}

/*
 * A truncated PNG or JPEG (the commonest damage: a scan cut off in
 * transfer) is refused here, by its missing end marker, because libpng and
 * libjpeg would otherwise print their complaints to stderr from inside
 * leptonica.  The marker may be followed by some trailing bytes (cameras
 * append data after a JPEG's EOI), so the last KiB is searched.
 */
static int has_end_marker(const unsigned char *b, size_t len, const char *kind)
{
    const char *mark = strcmp(kind, "png") == 0 ? "IEND" : "\xff\xd9";
    size_t k = strlen(mark), from = len > 1024 ? len - 1024 : 0;
    for (size_t i = len >= k ? len - k + 1 : 0; i-- > from;)
        if (memcmp(b + i, mark, k) == 0)
            return 1;
    return 0;
}

/* ---- one page ---------------------------------------------------------------- */

static int check_pixels(const struct td_ocr *o, long long w, long long h, unsigned page,
                        struct td_error *err)
{
    if (w <= 0 || h <= 0)
        return td_error_set(err, TD_EFORMAT, "page %u has no pixels (%lldx%lld)", page, w, h);
    if (w > OCR_MAX_SIDE || h > OCR_MAX_SIDE || (unsigned long long)(w * h) > o->opts.max_pixels)
        return td_error_set(err, TD_ETOOBIG,
                            "page %u is %lldx%lld pixels; the limit is %zu pixels and %d a side",
                            page, w, h, o->opts.max_pixels, OCR_MAX_SIDE);
    return TD_OK;
}

/* Clean one decoded page (any depth) into an 8-bit grey, contrast
 * normalised, deskewed Pix.  Returns NULL on allocation failure. */
static PIX *clean_page(PIX *pix, float *skew)
{
    PIX *flat = NULL, *grey = NULL, *norm = NULL, *desk = NULL;
    *skew = 0.0f;
    if (pixGetDepth(pix) == 32 && pixGetSpp(pix) == 4)
        flat = pixAlphaBlendUniform(pix, 0xffffff00); /* onto white */
    else
        flat = pixClone(pix);
    if (!flat)
        goto out;
    grey = pixConvertTo8(flat, FALSE);
    if (!grey)
        goto out;
    /* 100-pixel tiles (a third of an inch at 300 dpi) hold a few letters;
     * mindiff 40 keeps blank paper from being stretched into noise. */
    norm = pixContrastNorm(NULL, grey, 100, 100, 40, 2, 2);
    if (!norm)
        norm = pixClone(grey); /* tiny images: tiles do not fit */
    if (!norm)
        goto out;
    l_float32 angle = 0, conf = 0;
    desk = pixFindSkewAndDeskew(norm, 2, &angle, &conf);
    if (!desk)
        desk = pixClone(norm);
    else if (conf > 0)
        *skew = angle;
out:
    pixDestroy(&flat);
    pixDestroy(&grey);
    pixDestroy(&norm);
    return desk;
}

static int ocr_page(struct td_ocr *o, PIX *pix, unsigned page, struct td_buf *text,
                    double *conf_sum, float *skew, struct td_error *err)
{
    int rc = TD_OK;
    char *utf8 = NULL;
    PIX *clean = clean_page(pix, skew);
    if (!clean)
        return td_error_set(err, TD_ENOMEM, "cleaning page %u", page);
    int dpi = pixGetXRes(pix);
    if (dpi < OCR_MIN_DPI || dpi > 2400)
        dpi = TD_OCR_DEFAULT_DPI;
    TessBaseAPISetImage2(o->api, clean);
    TessBaseAPISetSourceResolution(o->api, dpi);
    if (TessBaseAPIRecognize(o->api, NULL) != 0) {
        rc = td_error_set(err, TD_EOCR, "Tesseract could not recognise page %u", page);
        goto out;
    }
    utf8 = TessBaseAPIGetUTF8Text(o->api);
    if (!utf8) {
        rc = td_error_set(err, TD_EOCR, "Tesseract returned no text for page %u", page);
        goto out;
    }
    int conf = TessBaseAPIMeanTextConf(o->api);
    *conf_sum += conf < 0 ? 0 : conf;
    /* Tesseract ends a page with a form feed on some versions; pages are
     * separated by a blank line instead. */
    size_t n = strlen(utf8);
    while (n > 0 && (utf8[n - 1] == '\f' || utf8[n - 1] == '\n' || utf8[n - 1] == ' '))
        n--;
    if (text->len > 0 && (rc = td_buf_append(text, "\n\n", 2)) != TD_OK)
        goto text_err;
    if ((rc = td_buf_append(text, utf8, n)) != TD_OK)
        goto text_err;
    goto out;
text_err:
    rc = rc == TD_ETOOBIG ? td_error_set(err, rc, "recognised text exceeds %zu bytes at page %u",
                                         (size_t)OCR_MAX_TEXT, page)
                          : td_error_set(err, rc, "appending the text of page %u", page);
out:
    if (utf8)
        TessDeleteText(utf8);
    TessBaseAPIClear(o->api);
    pixDestroy(&clean);
    return rc;
}

/* ---- images ---------------------------------------------------------------------- */

static int ocr_image(struct td_ocr *o, const unsigned char *b, size_t len, int tiff,
                     struct td_buf *text, struct td_ocr_info *info, struct td_error *err)
{
    l_int32 fmt = 0, w = 0, h = 0, bps = 0, spp = 0, cmap = 0;
    if (pixReadHeaderMem(b, len, &fmt, &w, &h, &bps, &spp, &cmap) != 0)
        return td_error_set(err, TD_EFORMAT, "the %s header cannot be read (truncated or corrupt)",
                            info->kind);
    int rc = check_pixels(o, w, h, 1, err);
    if (rc != TD_OK)
        return rc;
    if (!tiff && !has_end_marker(b, len, info->kind))
        return td_error_set(err, TD_EFORMAT,
                            "page 1 of the %s image cannot be decoded: it is truncated (no end "
                            "marker)",
                            info->kind);
    double conf_sum = 0;
    size_t offset = 0;
    for (unsigned page = 1;; page++) {
        float skew = 0;
        PIX *pix = tiff ? pixReadMemFromMultipageTiff(b, len, &offset) : pixReadMem(b, len);
        if (!pix)
            return td_error_set(err, TD_EFORMAT, "page %u of the %s image cannot be decoded", page,
                                info->kind);
        /* Later TIFF pages have their own headers: check what was decoded. */
        rc = check_pixels(o, pixGetWidth(pix), pixGetHeight(pix), page, err);
        if (rc == TD_OK)
            rc = ocr_page(o, pix, page, text, &conf_sum, &skew, err);
        pixDestroy(&pix);
        if (rc != TD_OK)
            return rc;
        if (page == 1)
            info->skew_degrees = skew;
        info->pages = page;
        if (!tiff || offset == 0)
            break;
        if (page == o->opts.max_pages)
            return td_error_set(err, TD_ETOOBIG, "the TIFF has more than %u pages",
                                o->opts.max_pages);
    }
    info->confidence = info->pages ? conf_sum / info->pages : 0;
    return TD_OK;
}

/* ---- PDF ---------------------------------------------------------------------------- */

/* Render one PDF page onto white at dpi and convert it to 8-bit grey. */
static int render_pdf_page(struct td_ocr *o, PopplerPage *page, unsigned no, PIX **out,
                           struct td_error *err)
{
    int rc = TD_OK;
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    PIX *pix = NULL;
    double wpt = 0, hpt = 0;
    poppler_page_get_size(page, &wpt, &hpt);
    double scale = o->opts.dpi / 72.0;
    if (!(wpt > 0 && hpt > 0 && wpt < 1e6 && hpt < 1e6))
        return td_error_set(err, TD_EFORMAT, "PDF page %u has an invalid size", no);
    /* round up partial pixels, but not float noise (14400 pt * 300/72 is
     * 60000.0000001) */
    long long w = (long long)ceil(wpt * scale - 1e-3), h = (long long)ceil(hpt * scale - 1e-3);
    if ((rc = check_pixels(o, w, h, no, err)) != TD_OK)
        return rc;
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        rc = td_error_set(err, TD_ENOMEM, "cannot allocate a %lldx%lld page", w, h);
        goto out;
    }
    cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    poppler_page_render(page, cr);
    cairo_surface_flush(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = td_error_set(err, TD_EFORMAT, "PDF page %u cannot be rendered: %s", no,
                          cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    pix = pixCreate((l_int32)w, (l_int32)h, 8);
    if (!pix) {
        rc = td_error_set(err, TD_ENOMEM, "cannot allocate a %lldx%lld page", w, h);
        goto out;
    }
    pixSetResolution(pix, (l_int32)o->opts.dpi, (l_int32)o->opts.dpi);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    l_int32 wpl = pixGetWpl(pix);
    l_uint32 *pd = pixGetData(pix);
    for (long long y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(data + y * stride);
        l_uint32 *line = pd + y * wpl;
        for (long long x = 0; x < w; x++) {
            uint32_t px = row[x]; /* CAIRO_FORMAT_RGB24: 0x00RRGGBB native */
            unsigned r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, bl = px & 0xff;
            /* ITU-R BT.601 luma, integer weights summing to 256. */
            SET_DATA_BYTE(line, x, (r * 77 + g * 150 + bl * 29) >> 8);
        }
    }
    *out = pix;
    pix = NULL;
out:
    pixDestroy(&pix);
    if (cr)
        cairo_destroy(cr);
    if (s)
        cairo_surface_destroy(s);
    return rc;
}

static int ocr_pdf(struct td_ocr *o, const unsigned char *b, size_t len, struct td_buf *text,
                   struct td_ocr_info *info, struct td_error *err)
{
    int rc = TD_OK;
    GError *gerr = NULL;
    GBytes *gb = g_bytes_new_static(b, len);
    PopplerDocument *doc = poppler_document_new_from_bytes(gb, NULL, &gerr);
    if (!doc) {
        rc = td_error_set(err, TD_EFORMAT, "the PDF cannot be opened: %s",
                          gerr && gerr->message ? gerr->message : "unknown poppler error");
        goto out;
    }
    int n = poppler_document_get_n_pages(doc);
    if (n <= 0) {
        rc = td_error_set(err, TD_EFORMAT, "the PDF has no pages");
        goto out;
    }
    if ((unsigned)n > o->opts.max_pages) {
        rc = td_error_set(err, TD_ETOOBIG, "the PDF has %d pages; the limit is %u", n,
                          o->opts.max_pages);
        goto out;
    }
    double conf_sum = 0;
    for (int i = 0; i < n; i++) {
        PIX *pix = NULL;
        float skew = 0;
        PopplerPage *page = poppler_document_get_page(doc, i);
        if (!page) {
            rc = td_error_set(err, TD_EFORMAT, "PDF page %d cannot be read", i + 1);
            goto out;
        }
        rc = render_pdf_page(o, page, (unsigned)i + 1, &pix, err);
        g_object_unref(page);
        if (rc == TD_OK)
            rc = ocr_page(o, pix, (unsigned)i + 1, text, &conf_sum, &skew, err);
        pixDestroy(&pix);
        if (rc != TD_OK)
            goto out;
        if (i == 0)
            info->skew_degrees = skew;
        info->pages = (unsigned)i + 1;
    }
    info->confidence = conf_sum / info->pages;
out:
    if (gerr)
        g_error_free(gerr);
    if (doc)
        g_object_unref(doc);
    g_bytes_unref(gb);
    return rc;
}

/* ---- the message ---------------------------------------------------------------------- */

int td_ocr_message(struct td_ocr *o, const void *bytes, size_t len, const char *name,
                   struct td_message *m, struct td_ocr_info *info, struct td_error *err)
{
    int rc = TD_OK;
    struct td_ocr_info local;
    struct td_buf text;
    td_buf_init(&text, OCR_MAX_TEXT);
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    td_message_release(m);
    if (!o || (!bytes && len))
        return td_error_set(err, TD_EINVAL, "td_ocr_message: no engine or no bytes");
    if (len > o->opts.max_bytes)
        return td_error_set(err, TD_ETOOBIG, "the file is %zu bytes; the OCR limit is %zu", len,
                            o->opts.max_bytes);
    info->kind = td_ocr_sniff(bytes, len);
    if (!info->kind)
        return td_error_set(err, TD_EFORMAT,
                            "not an image: no PNG, JPEG, TIFF or PDF signature in its first "
                            "bytes, whatever its name says");
    if (strcmp(info->kind, "pdf") == 0)
        rc = ocr_pdf(o, bytes, len, &text, info, err);
    else
        rc = ocr_image(o, bytes, len, strcmp(info->kind, "tiff") == 0, &text, info, err);
    if (rc != TD_OK)
        goto out;
    if (!text.data && (rc = td_buf_append(&text, "", 0)) != TD_OK)
        goto oom;

    char source[1100];
    snprintf(source, sizeof source, "%s#pages=%u", name ? name : "-", info->pages);
    if (td_message_set(&m->channel, "letter", (size_t)-1) ||
        td_message_set(&m->id, name ? name : "-", (size_t)-1) ||
        td_message_set(&m->source, source, (size_t)-1) || td_message_set(&m->original, bytes, len))
        goto oom;
    m->original_len = len;
    m->text_len = text.len;
    m->text = td_buf_detach(&text, NULL);
    m->ocr_confidence = info->confidence;
    goto out;
oom:
    rc = td_error_set(err, TD_ENOMEM, "building the letter message");
    td_message_release(m);
out:
    td_buf_release(&text);
    return rc;
}

/* ---- readers (TD_FORMAT_IMAGE, TD_FORMAT_PDF) ------------------------------------------ */

struct ocr_reader {
    struct td_ocr *ocr;
    int done;
};

/* Engines a closed reader left for the next one.  A reader reads one file,
 * and `threatdesk scan` or `import` over a folder of scans opens one per
 * file: each new engine loads eng.traineddata again (0.2-0.35 s, as long as
 * reading a page).  Idle engines stay for the process's life (reachable
 * from here, so not a leak), at most IDLE_MAX of them: as many as readers
 * were ever open at once, up to that. */
#define IDLE_MAX 4
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct td_ocr *idle[IDLE_MAX];
static unsigned nidle;

static int engine_take(struct td_ocr **out, struct td_error *err)
{
    pthread_mutex_lock(&idle_lock);
    *out = nidle ? idle[--nidle] : NULL;
    pthread_mutex_unlock(&idle_lock);
    return *out ? TD_OK : td_ocr_open(NULL, out, err);
}

static void engine_give(struct td_ocr *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&idle_lock);
    if (nidle < IDLE_MAX) {
        idle[nidle++] = o;
        o = NULL;
    }
    pthread_mutex_unlock(&idle_lock);
    td_ocr_free(o);
}

static int ocr_reader_open(struct td_reader *r, struct td_error *err)
{
    struct ocr_reader *st = calloc(1, sizeof *st);
    if (!st)
        return td_error_set(err, TD_ENOMEM, "OCR reader state");
    int rc = engine_take(&st->ocr, err);
    if (rc != TD_OK) {
        td__reader_locate(r, err, 0, 0);
        free(st);
        return rc;
    }
    r->state = st;
    return TD_OK;
}

static int ocr_reader_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    struct ocr_reader *st = r->state;
    if (st->done)
        return TD_EOF;
    st->done = 1;
    struct td_buf all;
    /* One byte over the cap so td_ocr_message reports the size itself. */
    td_buf_init(&all, TD_OCR_DEFAULT_MAX_BYTES + 1);
    int rc = td__src_slurp(&r->src, &all);
    if (rc == TD_ETOOBIG)
        rc = td_error_set(err, TD_ETOOBIG, "the file exceeds the OCR limit of %zu bytes",
                          TD_OCR_DEFAULT_MAX_BYTES);
    else if (rc != TD_OK)
        rc = td_error_set(err, rc, "reading the scanned document failed");
    else
        rc = td_ocr_message(st->ocr, all.data, all.len, r->display, m, NULL, err);
    if (rc != TD_OK)
        td__reader_locate(r, err, 0, 0);
    else
        m->record = 1;
    td_buf_release(&all);
    return rc;
}

static void ocr_reader_close(struct td_reader *r)
{
    struct ocr_reader *st = r->state;
    if (!st)
        return;
    engine_give(st->ocr);
    free(st);
    r->state = NULL;
}

const struct td_reader_ops td__reader_image = {
    .format = TD_FORMAT_IMAGE,
    .name = "image",
    .needs_src = 1,
    .open = ocr_reader_open,
    .next = ocr_reader_next,
    .close = ocr_reader_close,
};

const struct td_reader_ops td__reader_pdf = {
    .format = TD_FORMAT_PDF,
    .name = "pdf",
    .needs_src = 1,
    .open = ocr_reader_open,
    .next = ocr_reader_next,
    .close = ocr_reader_close,
};
