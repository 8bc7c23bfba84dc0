/*
 * vocab.c - the desk's vocabularies (roles, message and case states, case
 * types) and the case workflow.
 *
 * They belong to the desk, not the store: the store keeps the wire names it
 * is given as plain text and answers them back, so a second backend needs
 * none of this.  The wire names are also what the front doors speak, so
 * they never change (add, never rename).
 */
#include <string.h>

#include "desk/desk_int.h"

#define NAME_TABLE(fn, rev, MAP, COUNT)                                                            \
    static const char *const fn##_names[] = {MAP(NAME_STR)};                                       \
    const char *fn(int v)                                                                          \
    {                                                                                              \
        return v >= 0 && v < (COUNT) ? fn##_names[v] : NULL;                                       \
    }                                                                                              \
    int rev(const char *name)                                                                      \
    {                                                                                              \
        if (!name)                                                                                 \
            return -1;                                                                             \
        for (int i = 0; i < (COUNT); i++)                                                          \
            if (!strcmp(fn##_names[i], name))                                                      \
                return i;                                                                          \
        return -1;                                                                                 \
    }
#define NAME_STR(name, str) str,

NAME_TABLE(td_role_name, td_role_from_name, TD_ROLE_MAP, TD_ROLE_COUNT)
NAME_TABLE(td_msg_status_name, td_msg_status_from_name, TD_MSG_STATUS_MAP, TD_MSG_STATUS_COUNT)
NAME_TABLE(td_case_type_name, td_case_type_from_name, TD_CASE_TYPE_MAP, TD_CASE_TYPE_COUNT)
NAME_TABLE(td_case_status_name, td_case_status_from_name, TD_CASE_STATUS_MAP, TD_CASE_STATUS_COUNT)

/* The workflow of desk.h, as a from x to matrix. */
int td_case_transition_allowed(int from, int to)
{
    enum {
        N = TD_CASE_STATUS_NEW,
        T = TD_CASE_STATUS_TRIAGED,
        R = TD_CASE_STATUS_REPORTED_TO_POLICE,
        U = TD_CASE_STATUS_UNDER_INVESTIGATION,
        C = TD_CASE_STATUS_CLOSED
    };
    static const unsigned char allowed[TD_CASE_STATUS_COUNT][TD_CASE_STATUS_COUNT] = {
        [N] = {[T] = 1, [C] = 1}, [T] = {[R] = 1, [C] = 1}, [R] = {[U] = 1, [C] = 1},
        [U] = {[C] = 1},          [C] = {[T] = 1},
    };
    if (from < 0 || from >= TD_CASE_STATUS_COUNT || to < 0 || to >= TD_CASE_STATUS_COUNT)
        return 0;
    return allowed[from][to];
}

int td__case_status_reported(int status)
{
    return status == TD_CASE_STATUS_REPORTED_TO_POLICE ||
           status == TD_CASE_STATUS_UNDER_INVESTIGATION;
}

/* ---- the desk's filters as the store's queries ------------------------- */

void td__msg_query(const struct td_queue_filter *f, struct td_store_msg_query *q)
{
    memset(q, 0, sizeof *q);
    q->status = f->status >= 0 ? td_msg_status_name(f->status) : NULL;
    q->label = f->label >= 0 && f->label < TD_LABEL_COUNT ? f->label : -1;
    q->min_severity = f->min_severity > 0 ? f->min_severity : 0;
    q->channel = f->channel;
    q->sender = f->sender;
    q->since = f->since;
    q->until = f->until;
    q->limit = f->limit;
    q->offset = f->offset;
}

void td__case_query(const struct td_case_filter *f, int police_only, struct td_store_case_query *q)
{
    memset(q, 0, sizeof *q);
    q->status = f->status >= 0 ? td_case_status_name(f->status) : NULL;
    q->type = f->type >= 0 ? td_case_type_name(f->type) : NULL;
    q->assignee = f->assignee;
    q->sender = f->sender;
    q->police_only = police_only ? 1 : 0;
    q->since = f->since;
    q->until = f->until;
    q->limit = f->limit;
    q->offset = f->offset;
}
