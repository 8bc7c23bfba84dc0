/*
 * store.c - td_store_open() picks a backend from the URL.  The desk's
 * vocabularies live in desk/vocab.c: the store keeps the wire names it is
 * given as text.
 */
#include <stdio.h>
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

int td__row_json_text_column(json_t *o, const char *name, const char *txt)
{
    size_t nl = strlen(name);
    if (strcmp(name, "verdict") && !(nl > 5 && !strcmp(name + nl - 5, "_json")))
        return 0;
    json_t *v = json_loads(txt ? txt : "null", JSON_DECODE_ANY, NULL);
    if (!v)
        return 1;
    if (!strcmp(name, "verdict")) {
        if (json_is_object(v)) {
            json_object_del(v, "severity_rank");
            json_object_update(o, v);
        }
        json_decref(v);
    } else {
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(nl - 5), name);
        json_object_set_new(o, key, v);
    }
    return 1;
}
