/*
 * handlers_feedback.c - what the office has taught its engine (feedback.h,
 * desk.h "learning from the office").
 *
 *   GET    /v1/feedback?all=1&limit=&cursor=   the office's decisions, newest
 *                                              first (live only unless all=1)
 *   DELETE /v1/feedback/{id}                   revoke one: it stops counting
 *                                              for the next message; the row
 *                                              and both audit entries stay
 *
 * Decisions are made by the status calls (POST /v1/messages/{id}:review,
 * :escalate, :dismiss; :reopen revokes).  Office isolation and roles are
 * the desk's: another office's id answers 404 like a missing one.
 */
#include <string.h>

#include "server/server_int.h"

void td__h_feedback_list(struct td__req *r)
{
    struct td_error err;
    json_t *out = NULL;
    size_t limit = 0, offset = 0;
    const char *all = td__query(r, "all");
    if (all && strcmp(all, "0") != 0 && strcmp(all, "1") != 0) {
        td__reply_error(r, 400, "all", -1, "all must be 0 or 1");
        return;
    }
    if (!td__query_page(r, &limit, &offset))
        return;
    td_error_clear(&err);
    int rc = td_desk_feedback_list(r->srv->desk, &r->actor, all && !strcmp(all, "1"), limit, offset,
                                   &out, &err);
    if (rc == TD_OK)
        td__cursorise(out); /* next_offset -> the opaque next_cursor */
    td__reply_desk(r, rc, &err, 200, out);
}

void td__h_feedback_revoke(struct td__req *r)
{
    struct td_error err;
    int64_t id;
    if (!td__path_id(r, "id", &id))
        return;
    td_error_clear(&err);
    int rc = td_desk_feedback_revoke(r->srv->desk, &r->actor, id, &err);
    td__reply_desk(r, rc, &err, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "revoked", 1));
}
