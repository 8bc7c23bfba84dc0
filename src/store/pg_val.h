/*
 * pg_val.h - inside the store module: reading values out of a PostgreSQL
 * text-format result and writing parameters, for the ops of pg_feedback.c,
 * pg_alerts.c and pg_export.c.
 *
 * Results come back as text (td__pg_exec asks for text), so a column is
 * parsed here the way sqlite3_column_* would read it: NULL is 0 or NULL,
 * a boolean is 't' / 'f'.  Every column these files read is one they
 * selected with a known type, so a value that does not parse is a broken
 * server, not input: it reads as 0 rather than failing the op.
 *
 * Only compiled with TD_HAVE_POSTGRES.
 */
#ifndef TD_STORE_PG_VAL_H
#define TD_STORE_PG_VAL_H

#ifdef TD_HAVE_POSTGRES

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

/* Column col of row as an integer (NULL: 0), as sqlite3_column_int64. */
static inline int64_t td__pgv_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static inline int td__pgv_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

/* A boolean column: 't' is 1, 'f' and NULL 0. */
static inline int td__pgv_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

static inline double td__pgv_f64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0.0;
    return strtod(PQgetvalue(r, row, col), NULL);
}

/* Text, NULL for SQL NULL (valid until the result is cleared). */
static inline const char *td__pgv_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* Text copied into dst, "" for NULL (cut to size). */
static inline void td__pgv_copy(const PGresult *r, int row, int col, char *dst, size_t size)
{
    snprintf(dst, size, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* A LIMIT of size_t as a parameter: NULL (no limit) when it does not fit
 * a bigint, where SQLite reads the wrapped -1 as "no limit" too. */
static inline const char *td__pgv_limit(char buf[24], size_t n)
{
    if (n > (size_t)INT64_MAX)
        return NULL;
    snprintf(buf, 24, "%lld", (long long)n);
    return buf;
}

/* How many rows a command changed (INSERT/UPDATE without RETURNING). */
static inline int64_t td__pgv_changed(const PGresult *r)
{
    const char *t = PQcmdTuples((PGresult *)r);
    return t && *t ? (int64_t)strtoll(t, NULL, 10) : 0;
}

#endif /* TD_HAVE_POSTGRES */
#endif
