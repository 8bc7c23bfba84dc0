/*
 * store.c - td_store_open() picks a backend from the URL; the vocabularies
 * of desk.h (roles, message and case states, case types) live here because
 * the store writes their wire names into its tables and the desk sits on
 * top of the store.
 */
#include <string.h>

#include "store/store_int.h"
#include "threatdesk/desk.h"
#include "threatdesk/store.h"

int td_store_open(const char *url, const char *home, struct td_store **out, struct td_error *err)
{
    *out = NULL;
    if (!url || !*url)
        return td_error_set(err, TD_EINVAL, "no store given");
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        return td_error_set(err, TD_EFORMAT, "PostgreSQL store not built into this binary");
    if (!strncmp(url, "sqlite:", 7))
        url += 7;
    return td__sqlite_open(url, home, out, err);
}

void td_store_close(struct td_store *s)
{
    if (s)
        s->ops->close(s);
}

int td_store_schema_version(struct td_store *s, int64_t *version, struct td_error *err)
{
    return s->ops->schema_version(s, version, err);
}

/* ---- vocabularies ------------------------------------------------------ */

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
