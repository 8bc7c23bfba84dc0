/*
 * migrations.c - listing and reading a backend's migration files (see
 * migrations.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations.h"

long td__migration_number(const char *name)
{
    size_t n = strlen(name);
    if (n < 10 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int td__migrations_list(const char *home, const char *backend, struct td__migrations *m,
                        struct td_error *err)
{
    int rc = TD_OK;
    m->n = 0;
    snprintf(m->dir, sizeof m->dir, "%s/data/migrations/%s", home, backend);
    DIR *d = opendir(m->dir);
    if (!d)
        return td_error_set(err, TD_EIO, "%s: %s", m->dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (td__migration_number(e->d_name) < 0)
            continue;
        if (m->n == TD__MIGRATIONS_MAX) {
            rc = td_error_set(err, TD_ETOOBIG, "%s: too many migrations", m->dir);
            break;
        }
        if (!(m->names[m->n] = strdup(e->d_name))) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            break;
        }
        m->n++;
    }
    closedir(d);
    if (!rc)
        qsort(m->names, m->n, sizeof m->names[0], cmp_str);
    return rc;
}

void td__migrations_free(struct td__migrations *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
    m->n = 0;
}

int td__migration_read(const struct td__migrations *m, size_t i, struct td_buf *b, char *path,
                       size_t path_size, struct td_error *err)
{
    snprintf(path, path_size, "%s/%s", m->dir, m->names[i]);
    td_buf_reset(b);
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_set(err, TD_EIO, "%s: %s", path, strerror(errno));
    char chunk[8192];
    size_t n;
    int rc = TD_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = td_buf_append(b, chunk, n)) != TD_OK) {
            td_error_set(err, rc, "%s: too large", path);
            break;
        }
    if (!rc && ferror(f))
        rc = td_error_set(err, TD_EIO, "%s: read error", path);
    if (!rc && (rc = td_buf_putc(b, '\0')) != TD_OK)
        td_error_set(err, rc, "%s: too large", path);
    fclose(f);
    return rc;
}
