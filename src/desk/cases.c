/*
 * cases.c - incidents: filing, fields, the status workflow, linked
 * messages, notes, and the timeline.
 *
 * Everything about a case is audited with object ("case", id), so the
 * timeline is simply that object's audit entries: creation, every field
 * change (with the new values), every status move, link, note (with its
 * text), evidence added and every read.  Reads are audited as well: who
 * looked at a case file is part of the case file.
 *
 * Police see a case only once it has been reported to police (the
 * `reported` mark stays when it moves on to under_investigation or
 * closed); before that it does not exist for them (TD_ENOTFOUND).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "desk/desk_int.h"
#include "desk/render.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 500

static int bad(struct td_error *err, const char *field, const char *why)
{
    td_error_field(err, field);
    return td_error_set(err, TD_EINVAL, "%s: %s", field, why);
}

static int str_field(const json_t *v, const char *k, size_t max, int nullable, json_t **norm,
                     struct td_error *err)
{
    if (json_is_null(v) && nullable) {
        *norm = json_null();
        return TD_OK;
    }
    if (!json_is_string(v))
        return bad(err, k, "must be a string");
    if (json_string_length(v) > max)
        return bad(err, k, "too long");
    *norm = json_incref((json_t *)v);
    return TD_OK;
}

static int place_field(const json_t *v, json_t **norm, struct td_error *err)
{
    const char *k;
    json_t *x;
    if (json_is_null(v)) {
        *norm = json_null();
        return TD_OK;
    }
    if (!json_is_object(v))
        return bad(err, "place", "must be an object");
    json_object_foreach((json_t *)v, k, x)
    {
        if (!strcmp(k, "constituency") || !strcmp(k, "address")) {
            if (!json_is_string(x) || json_string_length(x) > 1000)
                return bad(err, "place", "constituency and address are strings");
        } else if (!strcmp(k, "lat") || !strcmp(k, "lon")) {
            double lim = k[1] == 'a' ? 90.0 : 180.0;
            if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
                fabs(json_number_value(x)) > lim)
                return bad(err, "place", "lat/lon must be numbers within range");
        } else {
            return bad(err, "place", "unknown member (constituency, address, lat, lon)");
        }
    }
    if (!json_object_get(v, "lat") != !json_object_get(v, "lon"))
        return bad(err, "place", "lat and lon come together");
    *norm = json_incref((json_t *)v);
    return TD_OK;
}

/* Validate one field and normalise it to what the store keeps. */
static int check_field(struct td_desk *d, const struct td_actor *actor, const char *k,
                       const json_t *v, json_t **norm, struct td_error *err)
{
    *norm = NULL;
    if (!strcmp(k, "type")) {
        if (!json_is_string(v) || td_case_type_from_name(json_string_value(v)) < 0)
            return bad(err, k, "unknown case type");
        *norm = json_incref((json_t *)v);
        return TD_OK;
    }
    if (!strcmp(k, "title")) {
        if (json_is_string(v) && json_string_length(v) == 0)
            return bad(err, k, "must not be empty");
        return str_field(v, k, 300, 0, norm, err);
    }
    if (!strcmp(k, "description"))
        return str_field(v, k, 64 * 1024, 1, norm, err);
    if (!strcmp(k, "police_ref"))
        return str_field(v, k, 128, 1, norm, err);
    if (!strcmp(k, "occurred")) {
        int64_t t;
        if (json_is_null(v)) {
            *norm = json_null();
            return TD_OK;
        }
        int rc = td__parse_time(v, &t, k, err);
        if (!rc && !(*norm = json_integer(t)))
            rc = td_error_set(err, TD_ENOMEM, NULL);
        return rc;
    }
    if (!strcmp(k, "place"))
        return place_field(v, norm, err);
    if (!strcmp(k, "people")) {
        size_t i;
        json_t *x;
        if (json_is_null(v)) {
            *norm = json_null();
            return TD_OK;
        }
        if (!json_is_array(v) || json_array_size(v) > 200)
            return bad(err, k, "must be an array (at most 200)");
        json_array_foreach(v, i, x) if (!json_is_string(x) && !json_is_object(x)) return bad(
            err, k, "each person is a string or an object");
        *norm = json_incref((json_t *)v);
        return TD_OK;
    }
    if (!strcmp(k, "assignee")) {
        struct td_store_user u;
        if (json_is_null(v)) {
            *norm = json_null();
            return TD_OK;
        }
        if (!json_is_string(v))
            return bad(err, k, "must be a user name or null");
        int rc =
            d->store->ops->user_find(d->store, actor->office_id, json_string_value(v), &u, err);
        if (rc == TD_ENOTFOUND || (!rc && u.office_id != actor->office_id))
            return bad(err, k, "no such user in this office");
        if (rc)
            return rc;
        int ur = td_role_from_name(u.role);
        if (ur == TD_ROLE_OBSERVER || ur == TD_ROLE_POLICE)
            return bad(err, k, "cases are assigned to office staff");
        *norm = json_integer(u.id);
        return TD_OK;
    }
    td_error_field(err, k);
    return td_error_set(err, TD_EINVAL, "unknown case field '%s'", k);
}

/* Store one checked field: the store takes NULL, an integer or text (JSON
 * text for "place" and "people"). */
static int set_field(struct td_desk *d, const struct td_actor *actor, int64_t id, const char *k,
                     const json_t *norm, int64_t now, struct td_error *err)
{
    struct td_store_value v = {.kind = TD_STORE_NULL};
    char *txt = NULL;
    if (json_is_integer(norm)) {
        v.kind = TD_STORE_INT;
        v.i = json_integer_value(norm);
    } else if (json_is_string(norm)) {
        v.kind = TD_STORE_TEXT;
        v.text = json_string_value(norm);
    } else if (norm && !json_is_null(norm)) {
        if (!(txt = json_dumps(norm, JSON_COMPACT | JSON_ENCODE_ANY)))
            return td_error_set(err, TD_ENOMEM, NULL);
        v.kind = TD_STORE_TEXT;
        v.text = txt;
    }
    int rc = d->store->ops->case_set(d->store, actor->office_id, id, k, &v, now, err);
    free(txt);
    return rc;
}

/* Apply every member of fields (inside the transaction); `skip` names
 * fields already handled (type/title on create). */
static int apply_fields(struct td_desk *d, const struct td_actor *actor, int64_t id,
                        const json_t *fields, int skip_create, int64_t now, struct td_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)fields, k, v)
    {
        json_t *norm;
        if (skip_create && (!strcmp(k, "type") || !strcmp(k, "title")))
            continue;
        int rc = check_field(d, actor, k, v, &norm, err);
        if (!rc)
            rc = set_field(d, actor, id, k, norm, now, err);
        json_decref(norm);
        if (rc)
            return rc;
    }
    return TD_OK;
}

int td_desk_case_create(struct td_desk *d, const struct td_actor *actor, const json_t *fields,
                        int64_t *id, struct td_error *err)
{
    struct td_store_case c;
    int64_t cid = 0, now = td__now();
    json_t *t = NULL, *ti = NULL;
    if (!actor || actor->role == TD_ROLE_POLICE)
        return td__denied(err, "file cases");
    if (!json_is_object(fields))
        return td_error_set(err, TD_EINVAL, "case fields must be a JSON object");
    if (!json_object_get(fields, "type"))
        return bad(err, "type", "required");
    if (!json_object_get(fields, "title"))
        return bad(err, "title", "required");
    /* An observer reports what happened; who handles it is the office's
     * call. */
    if (actor->role == TD_ROLE_OBSERVER &&
        (json_object_get(fields, "assignee") || json_object_get(fields, "police_ref"))) {
        td_error_field(err, json_object_get(fields, "assignee") ? "assignee" : "police_ref");
        return td__denied(err, "assign cases or set police references");
    }
    memset(&c, 0, sizeof c);
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = check_field(d, actor, "type", json_object_get(fields, "type"), &t, err)) ||
        (rc = check_field(d, actor, "title", json_object_get(fields, "title"), &ti, err)))
        goto end;
    c.office_id = actor->office_id;
    c.type = json_string_value(t); /* a wire name: check_field made sure */
    c.status = td_case_status_name(TD_CASE_STATUS_NEW);
    c.title = json_string_value(ti);
    c.occurred = INT64_MIN;
    c.created = now;
    c.created_by = actor->user_id;
    if ((rc = d->store->ops->case_insert(d->store, &c, &cid, err)) ||
        (rc = apply_fields(d, actor, cid, fields, 1, now, err)))
        goto end;
    rc = td__audit(d, actor, actor->office_id, "case.create", "case", cid, fields, err);
end:
    rc = td__end(d, rc, err);
    if (!rc && id)
        *id = cid;
out:
    td__unlock(d);
    json_decref(t);
    json_decref(ti);
    return rc;
}

/* May the actor see case id?  Fills its status and filer.  (Lock held.) */
static int visible(struct td_desk *d, const struct td_actor *actor, int64_t id, int *status,
                   int64_t *created_by, struct td_error *err)
{
    int reported = 0;
    char st[TD_STORE_NAME_SIZE];
    int64_t by = 0;
    if (!actor || actor->role == TD_ROLE_OBSERVER)
        return td__denied(err, "read cases");
    int rc = d->store->ops->case_head(d->store, actor->office_id, id, st, &by, &reported, err);
    if (rc)
        return rc;
    if (actor->role == TD_ROLE_POLICE && !reported)
        return td_error_set(err, TD_ENOTFOUND, "no such case");
    if (status)
        *status = td_case_status_from_name(st);
    if (created_by)
        *created_by = by;
    return TD_OK;
}

int td_desk_case_update(struct td_desk *d, const struct td_actor *actor, int64_t id,
                        const json_t *fields, struct td_error *err)
{
    if (!td__is_staff(actor))
        return td__denied(err, "change cases");
    if (!json_is_object(fields))
        return td_error_set(err, TD_EINVAL, "case fields must be a JSON object");
    if (json_object_get(fields, "status"))
        return bad(err, "status", "change the status through the workflow");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if (!(rc = visible(d, actor, id, NULL, NULL, err)) &&
        !(rc = apply_fields(d, actor, id, fields, 0, td__now(), err)))
        rc = td__audit(d, actor, actor->office_id, "case.update", "case", id, fields, err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_case_set_status(struct td_desk *d, const struct td_actor *actor, int64_t id,
                            enum td_case_status status, const char *reason, struct td_error *err)
{
    int from = -1; /* set by visible(); -O3 cannot see that through the error paths */
    if (!td__is_staff(actor))
        return td__denied(err, "move cases along the workflow");
    if ((int)status < 0 || status >= TD_CASE_STATUS_COUNT)
        return bad(err, "status", "unknown status");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = visible(d, actor, id, &from, NULL, err)))
        goto end;
    if (!td_case_transition_allowed(from, (int)status)) {
        td_error_field(err, "status");
        rc = td_error_set(err, TD_EINVAL, "a case cannot go from %s to %s",
                          td_case_status_name(from), td_case_status_name(status));
        goto end;
    }
    if ((rc = d->store->ops->case_set_status(
             d->store, actor->office_id, id, td_case_status_name(from), td_case_status_name(status),
             td__case_status_reported((int)status), td__now(), err)))
        goto end;
    json_t *det = json_pack("{s:s, s:s, s:s?}", "from", td_case_status_name(from), "to",
                            td_case_status_name(status), "reason", reason);
    rc = td__audit(d, actor, actor->office_id, "case.status", "case", id, det, err);
    json_decref(det);
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_case_get(struct td_desk *d, const struct td_actor *actor, int64_t id, json_t **out,
                     struct td_error *err)
{
    json_t *o = NULL;
    *out = NULL;
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    struct td_store_case_detail row;
    struct td_store_arena ar = {0};
    if (!(rc = visible(d, actor, id, NULL, NULL, err)) &&
        !(rc = d->store->ops->case_get(d->store, actor->office_id, id, &row, &ar, err)) &&
        !(o = td__render_case_detail(&row)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    if (!rc)
        rc = td__audit(d, actor, actor->office_id, "case.read", "case", id, NULL, err);
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    if (rc) {
        json_decref(o);
        return rc;
    }
    /* Police read only the notes the office chose to share. */
    if (actor->role == TD_ROLE_POLICE) {
        json_t *notes = json_object_get(o, "notes"), *keep = json_array(), *n;
        size_t i;
        json_array_foreach(notes, i, n) if (json_integer_value(json_object_get(n, "shareable")))
            json_array_append(keep, n);
        json_object_set_new(o, "notes", keep);
    }
    *out = o;
    return rc;
}

int td_desk_case_list(struct td_desk *d, const struct td_actor *actor,
                      const struct td_case_filter *f, json_t **out, struct td_error *err)
{
    struct td_case_filter fl;
    struct td_store_case_query q;
    json_t *o = NULL, *ids = NULL;
    *out = NULL;
    if (!actor || actor->role == TD_ROLE_OBSERVER)
        return td__denied(err, "read cases");
    if (f)
        fl = *f;
    else
        td_case_filter_init(&fl);
    fl.limit = fl.limit == 0 ? PAGE_DEFAULT : fl.limit > PAGE_MAX ? PAGE_MAX : fl.limit;
    td__case_query(&fl, actor->role == TD_ROLE_POLICE, &q);
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    struct td_store_case_page page;
    struct td_store_arena ar = {0};
    rc = d->store->ops->case_list(d->store, actor->office_id, &q, &page, &ar, err);
    if (!rc && !(o = td__render_case_page(&page, q.limit, q.offset)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    /* One audit entry for the list, naming every case it showed. */
    if (!rc && !(ids = json_array()))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    for (size_t i = 0; !rc && i < page.n; i++)
        if (json_array_append_new(ids, json_integer((json_int_t)page.rows[i].id)))
            rc = td_error_set(err, TD_ENOMEM, NULL);
    td_store_arena_free(&ar);
    if (rc)
        goto end;
    json_t *det = json_pack("{s:O}", "cases", ids);
    rc = td__audit(d, actor, actor->office_id, "case.list", "case", 0, det, err);
    json_decref(det);
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    json_decref(ids);
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int td_desk_case_link_message(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                              int64_t message_id, struct td_error *err)
{
    int linked = 0;
    if (!td__is_staff(actor))
        return td__denied(err, "link messages to cases");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = d->store->ops->case_link(d->store, actor->office_id, case_id, message_id, td__now(),
                                       &linked, err)))
        goto end;
    if (linked) {
        json_t *det = json_pack("{s:I}", "message", (json_int_t)message_id);
        rc = td__audit(d, actor, actor->office_id, "case.link", "case", case_id, det, err);
        json_decref(det);
    }
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    return rc;
}

int td_desk_case_note(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                      const char *text, int shareable, int64_t *id, struct td_error *err)
{
    int64_t nid = 0;
    if (!td__is_staff(actor))
        return td__denied(err, "add notes");
    if (!text || !*text || strlen(text) > 64 * 1024)
        return bad(err, "text", "a note is 1 to 65536 bytes");
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = visible(d, actor, case_id, NULL, NULL, err)) ||
        (rc = d->store->ops->note_insert(d->store, actor->office_id, case_id, actor->user_id, text,
                                         shareable, td__now(), &nid, err)))
        goto end;
    json_t *det = json_pack("{s:I, s:s, s:b}", "note", (json_int_t)nid, "text", text, "shareable",
                            shareable ? 1 : 0);
    rc = det ? td__audit(d, actor, actor->office_id, "case.note", "case", case_id, det, err)
             : td_error_set(err, TD_EUTF8, "note is not valid UTF-8");
    json_decref(det);
end:
    rc = td__end(d, rc, err);
    if (!rc && id)
        *id = nid;
out:
    td__unlock(d);
    return rc;
}

int td_desk_case_timeline(struct td_desk *d, const struct td_actor *actor, int64_t case_id,
                          json_t **out, struct td_error *err)
{
    json_t *ev = NULL;
    *out = NULL;
    td__lock(d);
    int rc = td__begin(d, err);
    if (rc)
        goto out;
    if ((rc = visible(d, actor, case_id, NULL, NULL, err)) ||
        (rc = td__audit_events(d, actor->office_id, "case", case_id, &ev, err)))
        goto end;
    rc = td__audit(d, actor, actor->office_id, "case.timeline", "case", case_id, NULL, err);
end:
    rc = td__end(d, rc, err);
out:
    td__unlock(d);
    /* The timeline carries every note's text: police see the shared ones
     * only. */
    if (!rc && actor->role == TD_ROLE_POLICE) {
        json_t *keep = json_array(), *e;
        size_t i;
        json_array_foreach(ev, i, e)
        {
            const char *act = json_string_value(json_object_get(e, "action"));
            json_t *det = json_object_get(e, "details");
            if (act && !strcmp(act, "case.note") &&
                !json_is_true(json_object_get(det, "shareable")))
                continue;
            json_array_append(keep, e);
        }
        json_decref(ev);
        ev = keep;
    }
    if (!rc && !(*out = json_pack("{s:o}", "events", ev)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    else if (rc)
        json_decref(ev);
    return rc;
}
