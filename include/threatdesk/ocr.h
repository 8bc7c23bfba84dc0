/*
 * ocr.h - scanned letters: page images (PNG, JPEG, TIFF incl. multi-page)
 * and PDFs turned into a td_message by OCR.
 *
 *   bytes --sniff magic--> leptonica decode (PNG/JPEG/TIFF)   -> pages
 *         \--"%PDF-"-----> poppler render each page at `dpi`  -> pages
 *   page  -> 8-bit grey -> local contrast normalisation (faint or
 *            unevenly lit scans) -> deskew -> Tesseract (LSTM, `lang`)
 *
 * The type is decided from the content (magic bytes), never from the name:
 * a ".png" that is not an image is refused with TD_EFORMAT and a sentence
 * saying so.  Every size is bounded before memory is committed to it: the
 * file (max_bytes), each page's pixels (max_pixels, read from the image
 * header or the PDF page box before decoding or rendering) and the number
 * of pages (max_pages); exceeding one is TD_ETOOBIG with the figures.
 *
 * A `struct td_ocr` holds one initialised Tesseract engine (loading the
 * traineddata takes a noticeable fraction of a second), so reuse it across
 * files.  It is not thread-safe: one per thread, or a `struct td_ocr_pool`
 * of N engines made once and lent to threads one job at a time.
 *
 * Tesseract and leptonica write diagnostics to stderr by default; the
 * engine sends Tesseract's to /dev/null and td_ocr_open() lowers
 * leptonica's process-wide message severity to "none", because the library
 * never prints.  Failures are reported through td_error instead.
 */
#ifndef THREATDESK_OCR_H
#define THREATDESK_OCR_H

#include <stddef.h>

#include "threatdesk/error.h"
#include "threatdesk/message.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TD_OCR_DEFAULT_MAX_BYTES ((size_t)64 << 20)          /* 64 MiB file */
#define TD_OCR_DEFAULT_MAX_PIXELS ((size_t)40 * 1000 * 1000) /* per page */
#define TD_OCR_DEFAULT_MAX_PAGES 50u
#define TD_OCR_DEFAULT_DPI 300u

struct td_ocr_opts {
    const char *lang;     /* Tesseract language(s), default "eng" */
    const char *datapath; /* tessdata directory; NULL: $TESSDATA_PREFIX or
                             Tesseract's built-in default */
    size_t max_bytes;     /* file size cap; 0: TD_OCR_DEFAULT_MAX_BYTES */
    size_t max_pixels;    /* width*height cap per page; 0: default */
    unsigned max_pages;   /* page cap (PDF, multi-page TIFF); 0: default */
    unsigned dpi;         /* PDF render resolution; 0: TD_OCR_DEFAULT_DPI */
};

/* What the OCR saw, beside the message. */
struct td_ocr_info {
    unsigned pages;     /* pages recognised */
    double confidence;  /* mean word confidence 0..100 over the pages */
    float skew_degrees; /* skew corrected on the first page (0 if none) */
    const char *kind;   /* "png", "jpeg", "tiff" or "pdf" (static) */
};

struct td_ocr;

/* Create an engine.  opts may be NULL (all defaults).  *out is yours:
 * td_ocr_free().  TD_EOCR when the traineddata cannot be loaded. */
int td_ocr_open(const struct td_ocr_opts *opts, struct td_ocr **out, struct td_error *err);
void td_ocr_free(struct td_ocr *o);

/*
 * The kind of a scanned document from its first bytes: "png", "jpeg",
 * "tiff", "pdf", or NULL when it is none of them (static strings).
 */
const char *td_ocr_sniff(const void *bytes, size_t len);

/*
 * OCR len bytes (an image or a PDF; `name` is used only in messages and as
 * the message id/source, may be NULL) into m, which is released and
 * refilled: channel "letter", text = the recognised text (pages separated
 * by a blank line), original = a copy of the bytes, ocr_confidence = the
 * mean word confidence, id = name, source = "<name>#pages=<n>".  info may
 * be NULL.  Returns TD_OK, TD_EFORMAT (not an image/PDF, or undecodable),
 * TD_ETOOBIG (a bound exceeded), TD_EOCR (Tesseract failed), TD_ENOMEM.
 * A blank page is not an error: text is then empty.
 */
int td_ocr_message(struct td_ocr *o, const void *bytes, size_t len, const char *name,
                   struct td_message *m, struct td_ocr_info *info, struct td_error *err);

/* ---- a pool of engines ---------------------------------------------------
 * A worker process OCRs letter after letter on a few threads.  Making an
 * engine per letter pays Tesseract's start (reading and unpacking the
 * traineddata, some tens of MB) every time; the pool makes N engines once
 * and lends them out: td_ocr_pool_get() hands a free engine to the calling
 * thread (waiting while all N are lent), td_ocr_pool_put() gives it back.
 * Any number of threads may share one pool; an engine is used by one thread
 * at a time, between its get and put. */
struct td_ocr_pool;

/* Make n engines (1..64) with opts (may be NULL).  *out is yours:
 * td_ocr_pool_free(), once every engine is back.  TD_EOCR as td_ocr_open. */
int td_ocr_pool_open(const struct td_ocr_opts *opts, unsigned n, struct td_ocr_pool **out,
                     struct td_error *err);
void td_ocr_pool_free(struct td_ocr_pool *p);
/* A free engine, lent to the caller until td_ocr_pool_put (blocks while
 * every engine is lent). */
struct td_ocr *td_ocr_pool_get(struct td_ocr_pool *p);
void td_ocr_pool_put(struct td_ocr_pool *p, struct td_ocr *o);
/* How many engines the pool holds. */
unsigned td_ocr_pool_size(const struct td_ocr_pool *p);

/* Engines td_ocr_open() has made in this process so far (pools included):
 * how a test or a benchmark sees that a pool did not make more. */
unsigned long td_ocr_engines_made(void);

#ifdef __cplusplus
}
#endif
#endif
