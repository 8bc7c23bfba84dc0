/*
 * handlers_retention.c - UK GDPR over HTTP (pipeline.h; the CLI has the
 * same as `threatdesk retention` and `threatdesk erase-sender`):
 *
 *   GET  /v1/retention              {"retention_days": n} (0: kept)     staff
 *   PUT  /v1/retention              {"retention_days": n}               admin
 *   POST /v1/retention:apply        erase what is older -> {"erased",
 *                                   "kept", "uploads"}                  admin
 *   POST /v1/senders/{key}:erase    a data subject's erasure -> {"sender",
 *                                   "erased", "kept"}                   admin
 *
 * Every erased message leaves an audited tombstone; messages a case holds
 * are kept and counted.
 */
#include "server/server_int.h"
#include "threatdesk/pipeline.h"

void td__h_retention_get(struct td__req *r)
{
    struct td_error err;
    int64_t days = 0;
    td_error_clear(&err);
    int rc = td_desk_retention_get(r->srv->desk, &r->actor, &days, &err);
    td__reply_desk(r, rc, &err, 200, json_pack("{s:I}", "retention_days", (json_int_t)days));
}

void td__h_retention_put(struct td__req *r)
{
    struct td_error err;
    json_t *in = td__body_json(r);
    if (!in)
        return;
    json_t *v = json_object_get(in, "retention_days");
    if (!json_is_object(in) || !json_is_integer(v) || json_object_size(in) != 1) {
        td__reply_error(r, 400, "retention_days", -1,
                        "expected {\"retention_days\": n} (days; 0 keeps messages)");
        json_decref(in);
        return;
    }
    int64_t days = json_integer_value(v);
    td_error_clear(&err);
    int rc = td_desk_retention_set(r->srv->desk, &r->actor, days, &err);
    td__reply_desk(r, rc, &err, 200, json_pack("{s:I}", "retention_days", (json_int_t)days));
    json_decref(in);
}

void td__h_retention_apply(struct td__req *r)
{
    struct td_error err;
    struct td_erase_stats st;
    td_error_clear(&err);
    int rc = td_desk_retention_apply(r->srv->desk, &r->actor, 0, &st, &err);
    td__reply_desk(r, rc, &err, 200,
                   json_pack("{s:I,s:I,s:I}", "erased", (json_int_t)st.erased, "kept",
                             (json_int_t)st.kept, "uploads", (json_int_t)st.uploads));
}

void td__h_sender_erase(struct td__req *r)
{
    struct td_error err;
    struct td_erase_stats st;
    const char *key = td__param(r, "key");
    td_error_clear(&err);
    int rc = td_desk_erase_sender(r->srv->desk, &r->actor, key, &st, &err);
    td__reply_desk(r, rc, &err, 200,
                   json_pack("{s:s,s:I,s:I}", "sender", key, "erased", (json_int_t)st.erased,
                             "kept", (json_int_t)st.kept));
}
