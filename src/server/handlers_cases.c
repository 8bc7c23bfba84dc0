/*
 * handlers_cases.c - incidents: cases, their messages, notes, timeline and
 * evidence.
 *
 *   POST  /v1/cases                  {"type","title","description","occurred",
 *                                     "place":{...},"people":[...],"police_ref",
 *                                     "assignee"} -> 201 {"id"}
 *                                    (observers file incident reports here)
 *   GET   /v1/cases?status=&type=&assignee=&sender=&from=&to=&limit=&cursor=
 *   GET   /v1/cases/{id}
 *   PATCH /v1/cases/{id}             any case fields, and/or
 *                                    {"status": "...", "reason": "..."} to
 *                                    move it along the workflow
 *   POST  /v1/cases/{id}/messages    {"message_id": n}  link a message
 *   POST  /v1/cases/{id}/notes       {"text"} -> 201 {"id"}
 *   GET   /v1/cases/{id}/timeline
 *   POST  /v1/cases/{id}/evidence    the file's bytes as the body;
 *                                    Content-Type its MIME type; name in
 *                                    ?name= or X-Filename -> 201
 *                                    {"id","sha256","size"}
 *   GET   /v1/evidence/{id}          metadata
 *   GET   /v1/evidence/{id}/content  the bytes, hash-checked on the way out
 *
 * Police see only cases reported to police; every read of a case is in the
 * audit log (the desk does both).
 */
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

static json_t *body_object(struct td__req *r)
{
    json_t *in = td__body_json(r);
    if (in && !json_is_object(in)) {
        td__reply_error(r, 400, NULL, -1, "expected a JSON object");
        json_decref(in);
        return NULL;
    }
    return in;
}

void td__h_cases_create(struct td__req *r)
{
    struct td_error err;
    int64_t id = 0;
    json_t *in = body_object(r);
    if (!in)
        return;
    td_error_clear(&err);
    int rc = td_desk_case_create(r->srv->desk, &r->actor, in, &id, &err);
    td__reply_desk(r, rc, &err, 201, json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", "new"));
    json_decref(in);
}

int td__case_filter_query(struct td__req *r, struct td_case_filter *f)
{
    const char *v;
    td_case_filter_init(f);
    if ((v = td__query(r, "status")) && (f->status = td_case_status_from_name(v)) < 0) {
        td__reply_error(r, 400, "status", -1, "unknown case status '%s'", v);
        return 0;
    }
    if ((v = td__query(r, "type")) && (f->type = td_case_type_from_name(v)) < 0) {
        td__reply_error(r, 400, "type", -1, "unknown case type '%s'", v);
        return 0;
    }
    f->assignee = td__query(r, "assignee");
    f->sender = td__query(r, "sender");
    return td__query_time(r, "from", &f->since) && td__query_time(r, "to", &f->until);
}

void td__h_cases_list(struct td__req *r)
{
    struct td_case_filter f;
    struct td_error err;
    json_t *out = NULL;
    if (!td__case_filter_query(r, &f) || !td__query_page(r, &f.limit, &f.offset))
        return;
    td_error_clear(&err);
    int rc = td_desk_case_list(r->srv->desk, &r->actor, &f, &out, &err);
    if (rc == TD_OK)
        td__cursorise(out);
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_case_get(struct td__req *r)
{
    td__reply_get(r, td_desk_case_get);
}

void td__h_case_patch(struct td__req *r)
{
    struct td_error err;
    int64_t id;
    int rc = TD_OK, bad = 0;
    if (!td__path_id(r, "id", &id))
        return;
    json_t *in = body_object(r);
    if (!in)
        return;
    const char *status = td__json_str(r, in, "status", &bad);
    const char *reason = bad ? NULL : td__json_str(r, in, "reason", &bad);
    if (bad)
        goto out;
    int st = -1;
    if (status && (st = td_case_status_from_name(status)) < 0) {
        td__reply_error(r, 400, "status", -1,
                        "status must be new, triaged, reported_to_police, under_investigation or "
                        "closed");
        goto out;
    }
    /* The rest are case fields; "status"/"reason" are not. */
    json_t *fields = json_deep_copy(in);
    json_object_del(fields, "status");
    json_object_del(fields, "reason");
    td_error_clear(&err);
    if (json_object_size(fields) > 0)
        rc = td_desk_case_update(r->srv->desk, &r->actor, id, fields, &err);
    else if (st < 0) {
        json_decref(fields);
        td__reply_error(r, 400, NULL, -1, "nothing to change");
        goto out;
    }
    json_decref(fields);
    if (rc == TD_OK && st >= 0)
        rc = td_desk_case_set_status(r->srv->desk, &r->actor, id, (enum td_case_status)st, reason,
                                     &err);
    json_t *now = NULL;
    if (rc == TD_OK) {
        /* Answer the case as it now stands (a read, audited as such). */
        struct td_error e2;
        td_error_clear(&e2);
        if (td_desk_case_get(r->srv->desk, &r->actor, id, &now, &e2) != TD_OK)
            now = json_pack("{s:I}", "id", (json_int_t)id);
    }
    td__reply_desk(r, rc, &err, 200, now);
out:
    json_decref(in);
}

void td__h_case_link(struct td__req *r)
{
    struct td_error err;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    json_t *in = body_object(r);
    if (!in)
        return;
    json_t *mid = json_object_get(in, "message_id");
    if (!json_is_integer(mid) || json_integer_value(mid) <= 0) {
        td__reply_error(r, 400, "message_id", -1, "message_id must be a positive integer");
        goto out;
    }
    td_error_clear(&err);
    int rc = td_desk_case_link_message(r->srv->desk, &r->actor, id, json_integer_value(mid), &err);
    td__reply_desk(
        r, rc, &err, 200,
        json_pack("{s:I,s:I}", "case_id", (json_int_t)id, "message_id", json_integer_value(mid)));
out:
    json_decref(in);
}

void td__h_case_note(struct td__req *r)
{
    struct td_error err;
    int64_t id, note = 0;
    int bad = 0;
    if (!td__path_id(r, "id", &id))
        return;
    json_t *in = body_object(r);
    if (!in)
        return;
    const char *text = td__json_str(r, in, "text", &bad);
    if (bad)
        goto out;
    if (!text || !*text) {
        td__reply_error(r, 400, "text", -1, "text is required");
        goto out;
    }
    json_t *sh = json_object_get(in, "shareable");
    if (sh && !json_is_boolean(sh)) {
        td__reply_error(r, 400, "shareable", -1, "shareable must be true or false");
        goto out;
    }
    td_error_clear(&err);
    int rc = td_desk_case_note(r->srv->desk, &r->actor, id, text, json_is_true(sh), &note, &err);
    td__reply_desk(r, rc, &err, 201,
                   json_pack("{s:I,s:I}", "id", (json_int_t)note, "case_id", (json_int_t)id));
out:
    json_decref(in);
}

void td__h_case_timeline(struct td__req *r)
{
    td__reply_get(r, td_desk_case_timeline);
}

void td__h_case_evidence_add(struct td__req *r)
{
    struct td_error err;
    char ct[128], sha[65] = "";
    int64_t id, eid = 0;
    if (!td__path_id(r, "id", &id))
        return;
    if (r->body.len == 0) {
        td__reply_error(r, 400, NULL, -1, "the evidence file is the request body; it is empty");
        return;
    }
    /* The name as sent, length and all: "%00" decodes to a NUL that a C
     * string would silently cut the name at. */
    const char *name = NULL;
    size_t nlen = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "name", 4, &name, &nlen) !=
        MHD_YES) {
        name = td__header(r, "X-Filename");
        nlen = name ? strlen(name) : 0;
    }
    if (name && memchr(name, '\0', nlen)) {
        td__reply_error(r, 400, "name", -1, "the file name contains a NUL byte");
        return;
    }
    td__content_type(r, ct, sizeof ct);
    td_error_clear(&err);
    int rc = td_desk_evidence_add(r->srv->desk, &r->actor, id, name, ct[0] ? ct : NULL,
                                  r->body.data, r->body.len, &eid, sha, &err);
    td__reply_desk(r, rc, &err, 201,
                   json_pack("{s:I,s:I,s:s,s:I}", "id", (json_int_t)eid, "case_id", (json_int_t)id,
                             "sha256", sha, "size", (json_int_t)r->body.len));
}

void td__h_evidence_get(struct td__req *r)
{
    struct td_error err;
    json_t *meta = NULL;
    void *data = NULL;
    size_t len = 0;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = td_desk_evidence_get(r->srv->desk, &r->actor, id, &meta, &data, &len, &err);
    free(data);
    td__reply_desk(r, rc, &err, 200, meta);
}

/* RFC 6266 / 5987: Content-Disposition: attachment; filename="<ASCII
 * fallback>"; filename*=UTF-8''<percent-encoded>.  Only the last path
 * component of the stored name is used; control characters, quotes and
 * backslashes never reach the header. */
static void disposition(char *out, size_t size, const char *name, int64_t id)
{
    char base[600], ascii[600], enc[1800];
    const char *b = name ? name : "";
    for (const char *p = b; *p; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    size_t n = 0;
    for (const char *p = b; *p && n + 1 < sizeof base; p++) {
        unsigned char c = (unsigned char)*p;
        base[n++] = c < 0x20 || c == 0x7f ? '_' : (char)c;
    }
    base[n] = '\0';
    if (n == 0 || !strcmp(base, ".") || !strcmp(base, ".."))
        n = (size_t)snprintf(base, sizeof base, "evidence-%lld", (long long)id);
    size_t a = 0, e = 0;
    for (size_t i = 0; i < n && a + 1 < sizeof ascii; i++) {
        unsigned char c = (unsigned char)base[i];
        ascii[a++] = c >= 0x80 || c == '"' || c == '\\' || c == ';' || c == '%' ? '_' : (char)c;
    }
    ascii[a] = '\0';
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n && e + 4 < sizeof enc; i++) {
        unsigned char c = (unsigned char)base[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("!#$&+-.^_`|~", c)) {
            enc[e++] = (char)c;
        } else {
            enc[e++] = '%';
            enc[e++] = hex[c >> 4];
            enc[e++] = hex[c & 15];
        }
    }
    enc[e] = '\0';
    snprintf(out, size, "attachment; filename=\"%.250s\"; filename*=UTF-8''%.700s", ascii, enc);
}

/* A stored type is sent only when it is a plain "type/subtype" token pair;
 * anything else is application/octet-stream. */
static int mime_ok(const char *t)
{
    int slash = 0;
    size_t n = 0;
    if (!t || !*t)
        return 0;
    for (const char *p = t; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/') {
            if (slash++ || p == t || !p[1])
                return 0;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     strchr("!#$&^_.+-", c))) {
            return 0;
        }
    }
    return slash == 1 && n < 128;
}

void td__h_evidence_content(struct td__req *r)
{
    struct td_error err;
    json_t *meta = NULL;
    void *data = NULL;
    size_t len = 0;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = td_desk_evidence_get(r->srv->desk, &r->actor, id, &meta, &data, &len, &err);
    if (rc != TD_OK) {
        td__reply_td_error(r, rc, &err);
    } else if (td_buf_append(&r->raw, data, len) != TD_OK) {
        td__reply_error(r, 500, NULL, -1, "evidence too large to send");
    } else {
        const char *sha = json_string_value(json_object_get(meta, "sha256"));
        const char *type = json_string_value(json_object_get(meta, "type"));
        snprintf(r->sha256, sizeof r->sha256, "%s", sha ? sha : "");
        /* The stored type, kept in the request's own buffer: meta is freed
         * before the response is built. */
        snprintf(r->raw_type_buf, sizeof r->raw_type_buf, "%s",
                 mime_ok(type) ? type : "application/octet-stream");
        r->raw_type = r->raw_type_buf;
        disposition(r->disposition, sizeof r->disposition,
                    json_string_value(json_object_get(meta, "name")), id);
        r->status = 200;
    }
    free(data);
    json_decref(meta);
}
