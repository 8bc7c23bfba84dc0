/*
 * perspective_int.h - the data behind comments:analyze that is not the
 * analyser's (not installed): a profanity lexicon and a stop-word language
 * detector, both loaded from data files under <home>/data/perspective/, and
 * the parsed shape of one request.
 *
 *   perspective_lex.c   the two data files and their matchers
 *   perspective.c       the request checks, the mapping, the handler
 */
#ifndef TD_SERVER_PERSPECTIVE_INT_H
#define TD_SERVER_PERSPECTIVE_INT_H

#include <stddef.h>

#include <jansson.h>

#include "threatdesk/error.h"

struct td_server;
struct td_verdict;

/* Immutable after load: shared by every request thread. */
struct td__plex;

/* Load <home>/data/perspective/{profanity,languages}.txt and the normaliser
 * of <home>/data/text.  home NULL: $THREATDESK_HOME, else the source tree.
 * *out is yours: td__plex_free().  err names the file and line. */
int td__plex_load(const char *home, struct td__plex **out, struct td_error *err);
void td__plex_free(struct td__plex *p);

/* A span of the ORIGINAL text (byte offsets) that matched a lexicon word. */
struct td__pspan {
    size_t start, end;
};

/*
 * Profanity of text[0..len): the noisy-OR of the weights of every listed
 * word occurring in the normalised text.  Up to max spans (original byte
 * offsets) are written to spans; *nspans says how many.  TD_OK or
 * TD_ENOMEM / TD_ETOOBIG.
 */
int td__plex_profanity(const struct td__plex *p, const char *text, size_t len, double *score,
                       struct td__pspan *spans, size_t max, size_t *nspans, struct td_error *err);

/*
 * The language of text: a code from languages.txt ("en", "fr", ...) or
 * "und" when there is too little to tell.  The result is static or owned
 * by p.  Never fails (an allocation failure answers "und").
 */
const char *td__plex_language(const struct td__plex *p, const char *text, size_t len);

/* The server's lexicons, loaded on first use (NULL when the data files
 * cannot be read; the reason goes to the server log once). */
const struct td__plex *td__plex_get(struct td_server *s);

/* One checked comments:analyze request.  Strings point into the request
 * JSON (or into `html_text`, owned here and freed by td__preq_release). */
struct td__preq {
    const char *text; /* what is analysed: the comment, or its HTML as text */
    size_t len;
    int html;          /* comment.type was HTML */
    char *html_text;   /* owned: the HTML converted to text */
    int has_languages; /* the request named its languages */
    /* Set when the check failed because an attribute does not serve the
     * language (the real API's LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE). */
    char bad_attribute[64];
    char bad_language[32];
};

void td__preq_release(struct td__preq *q);

/*
 * Validate a parsed request into q; on error fill err (field names the
 * JSON path) and return TD_EINVAL.  An HTML comment is converted to text
 * here (libxml2, the e-mail reader's converter: entities decoded, markup
 * dropped), so span offsets refer to that text.
 */
int td__perspective_check(json_t *req, struct td__preq *q, struct td_error *err);

/* Build the response body from a verdict over text[0..len) and, when given,
 * the profanity score and its spans (prof NULL: no lexicon was loaded, and
 * PROFANITY falls back to a tenth of the abuse probability).
 * detected: the detector's language, or NULL when the request named its
 * languages. */
struct td__profanity {
    double score;
    const struct td__pspan *spans;
    size_t nspans;
};
json_t *td__perspective_response(json_t *req, const struct td_verdict *v, const char *text,
                                 size_t len, const struct td__profanity *prof,
                                 const char *detected);

/* The real API's error for an attribute that does not serve a language:
 * {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
 *   "Attribute SPAM does not support request languages: en", "details":
 *   [{"@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
 *     "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
 *     "languageNotSupportedByAttributeError": {"detectedLanguages": [lang],
 *        "attribute": attr}}]}} */
json_t *td__perspective_language_error(const char *attribute, const char *language);

#endif
