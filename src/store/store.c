/*
 * store.c - td_store_open() picks a backend from the URL.  The desk's
 * vocabularies live in desk/vocab.c: the store keeps the wire names it is
 * given as text.
 */
#include <string.h>

#include "store/pg_ops.h"
#include "store/store_int.h"
#include "threatdesk/store.h"

int td_store_open(const char *url, const char *home, struct td_store **out, struct td_error *err)
{
    *out = NULL;
    if (!url || !*url)
        return td_error_set(err, TD_EINVAL, "no store given");
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
#ifdef TD_HAVE_POSTGRES
        return td__pgs_open(url, home, out, err);
#else
        return td_error_set(err, TD_EFORMAT, "PostgreSQL store not built into this binary");
#endif
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
