/*
 * json.c - JSON in and out, and the one error shape.
 *
 * Every error the desk sends is
 *     {"error": {"code": <http status>, "status": "INVALID_ARGUMENT",
 *                "message": "...", "field": "...", "index": N, "byte": N}}
 * "code"/"status"/"message" are always present (the Google API error
 * shape, which Perspective clients already parse); "field" (a JSON path
 * such as "comment.text" or "messages[3].sender"), "index" (the record in a
 * batch) and "byte" (of a syntax error) when known.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_int.h"

const char *td__status_name(unsigned status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 405:
        return "METHOD_NOT_ALLOWED";
    case 409:
        return "ALREADY_EXISTS";
    case 413:
        return "PAYLOAD_TOO_LARGE";
    case 415:
        return "UNSUPPORTED_MEDIA_TYPE";
    case 422:
        return "FAILED_PRECONDITION";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 503:
        return "UNAVAILABLE";
    default:
        return status >= 500 ? "INTERNAL" : "UNKNOWN";
    }
}

void td__reply(struct td__req *r, unsigned status, json_t *json)
{
    json_decref(r->json);
    r->status = status;
    r->json = json ? json : json_object();
}

static void reply_error_v(struct td__req *r, unsigned status, const char *field, long index,
                          long byte, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(status));
    json_object_set_new(e, "status", json_string(td__status_name(status)));
    /* A message may quote bytes the client sent; jansson refuses invalid
     * UTF-8, so fall back to a fixed text rather than lose the error. */
    json_t *m = json_string(msg);
    json_object_set_new(e, "message", m ? m : json_string("invalid request"));
    if (field && *field)
        json_object_set_new(e, "field", json_string(field));
    if (index >= 0)
        json_object_set_new(e, "index", json_integer(index));
    if (byte >= 0)
        json_object_set_new(e, "byte", json_integer(byte));
    json_t *body = json_object();
    json_object_set_new(body, "error", e);
    td__reply(r, status, body);
}

void td__reply_error(struct td__req *r, unsigned status, const char *field, long index,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(r, status, field, index, -1, fmt, ap);
    va_end(ap);
}

static void reply_error_byte(struct td__req *r, unsigned status, long byte, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error_byte(struct td__req *r, unsigned status, long byte, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(r, status, NULL, -1, byte, fmt, ap);
    va_end(ap);
}

unsigned td__http_status_for(int code)
{
    switch (code) {
    case TD_OK:
        return 200;
    case TD_ENOTFOUND:
        return 404;
    case TD_EDENIED:
        return 403;
    case TD_EEXISTS:
        return 409;
    case TD_EINVAL:
    case TD_EPARSE:
    case TD_EUTF8:
    case TD_EFORMAT:
    case TD_EOCR:
        return 400;
    case TD_ETOOBIG:
        return 413;
    case TD_EBUSY:
        return 503;
    default:
        return 500;
    }
}

void td__reply_td_error(struct td__req *r, int code, const struct td_error *err)
{
    unsigned status = td__http_status_for(code);
    const char *msg = err && err->message[0] ? err->message : td_strerror(code);
    /* Internal failures are logged as 500s; their details (paths, SQL) stay
     * on the server. */
    if (status >= 500)
        msg = td_strerror(code);
    if (err && err->byte && status < 500) {
        reply_error_byte(r, status, (long)err->byte, "%s", msg);
        if (err->field[0])
            json_object_set_new(json_object_get(r->json, "error"), "field",
                                json_string(err->field));
        return;
    }
    td__reply_error(r, status, err && status < 500 ? err->field : NULL, -1, "%s", msg);
}

const char *td__content_type(const struct td__req *r, char *buf, size_t size)
{
    const char *ct = td__header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = 0;
    if (size == 0)
        return "";
    if (ct) {
        while (*ct == ' ')
            ct++;
        for (; ct[n] && ct[n] != ';' && ct[n] != ' ' && n < size - 1; n++)
            buf[n] = (char)tolower((unsigned char)ct[n]);
    }
    buf[n] = '\0';
    return buf;
}

json_t *td__body_json(struct td__req *r)
{
    char ct[128];
    td__content_type(r, ct, sizeof ct);
    /* No content type is accepted as JSON (curl -d sends a form type, which
     * we also accept: clients rarely set it right, and the body is parsed
     * strictly either way). */
    if (ct[0] && strcmp(ct, "application/json") != 0 &&
        strcmp(ct, "application/x-www-form-urlencoded") != 0 && strcmp(ct, "text/plain") != 0) {
        td__reply_error(r, 415, NULL, -1, "expected Content-Type application/json, not %s", ct);
        return NULL;
    }
    if (r->body.len == 0) {
        td__reply_error(r, 400, NULL, -1, "request body is empty; expected a JSON document");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        reply_error_byte(r, 400, (long)je.position,
                         "malformed JSON at byte %d (line %d, column %d): %s", je.position, je.line,
                         je.column, je.text);
        return NULL;
    }
    return j;
}

int td__parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int td__parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* RFC 3339: 2026-11-29T04:00:00Z, with optional .fraction and +hh:mm. */
int td__http_parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ':' &&
              p[4] >= '0' && p[4] <= '9' && p[5] >= '0' && p[5] <= '9'))
            return -1;
        off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
                      ((p[4] - '0') * 10 + (p[5] - '0')) * 60L);
        p += 6;
    } else {
        return -1; /* a time without a zone is ambiguous evidence */
    }
    if (*p)
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t - off;
    return 0;
}

int td__path_id(struct td__req *r, const char *name, int64_t *out)
{
    uint64_t v;
    if (td__parse_u64(td__param(r, name), INT64_MAX, &v) != 0 || v == 0) {
        td__reply_error(r, 404, NULL, -1, "not found");
        return 0;
    }
    *out = (int64_t)v;
    return 1;
}

void td__reply_desk(struct td__req *r, int rc, const struct td_error *err, unsigned ok_status,
                    json_t *out)
{
    if (rc == TD_OK) {
        td__reply(r, ok_status, out);
        return;
    }
    json_decref(out);
    td__reply_td_error(r, rc, err);
}

void td__reply_get(struct td__req *r, td__desk_get_fn get)
{
    struct td_error err;
    json_t *out = NULL;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = get(r->srv->desk, &r->actor, id, &out, &err);
    td__reply_desk(r, rc, &err, 200, out);
}

const char *td__json_str(struct td__req *r, json_t *o, const char *key, int *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        td__reply_error(r, 400, key, -1, "%s must be a string", key);
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

int td__query_size(struct td__req *r, const char *name, size_t max, size_t *out)
{
    const char *v = td__query(r, name);
    uint64_t n;
    if (!v)
        return 1;
    if (td__parse_u64(v, max, &n) != 0) {
        td__reply_error(r, 400, name, -1, "%s must be a whole number from 0 to %zu", name, max);
        return 0;
    }
    *out = (size_t)n;
    return 1;
}

int td__query_page(struct td__req *r, size_t *limit, size_t *offset)
{
    return td__query_size(r, "limit", 500, limit) &&
           td__query_size(r, "cursor", (size_t)1 << 40, offset);
}

void td__cursorise(json_t *out)
{
    json_t *next = json_object_get(out, "next_offset");
    if (json_is_integer(next)) {
        char c[32];
        snprintf(c, sizeof c, "%lld", (long long)json_integer_value(next));
        json_object_set_new(out, "next_cursor", json_string(c));
    }
}
