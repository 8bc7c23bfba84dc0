/* kvfile.c - "key = value" files and THREATDESK_ overrides (kvfile.h). */
#include "threatdesk/kvfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int td_kv_file_load(const char *path, td_kv_set_fn set, void *target, struct td_error *err)
{
    char line[2048];
    size_t lineno = 0;
    int rc = TD_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        td_error_at(err, path, 0, 0);
        return td_error_set(err, TD_EIO, "cannot open config file: %s", strerror(errno));
    }
    while (rc == TD_OK && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        char *s = trim(line), *eq;
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof(f))
            rc = td_error_set(err, TD_ETOOBIG, "line longer than %zu bytes", sizeof line - 2);
        else if (!*s || *s == '#')
            continue;
        else if (!(eq = strchr(s, '=')))
            rc = td_error_set(err, TD_EPARSE, "expected 'key = value'");
        else {
            *eq = '\0';
            rc = set(target, trim(s), trim(eq + 1), err);
        }
    }
    if (rc == TD_OK && ferror(f))
        rc = td_error_set(err, TD_EIO, "read error");
    if (rc != TD_OK)
        td_error_at(err, path, lineno, 0);
    fclose(f);
    return rc;
}

int td_kv_env_apply(const char *const *keys, size_t n, td_kv_set_fn set, void *target,
                    struct td_error *err)
{
    for (size_t i = 0; i < n; i++) {
        char name[64] = "THREATDESK_";
        size_t k = strlen(name);
        for (const char *c = keys[i]; *c && k < sizeof name - 1; c++)
            name[k++] = (char)toupper((unsigned char)*c);
        name[k] = '\0';
        const char *v = getenv(name);
        if (!v)
            continue;
        int rc = set(target, keys[i], v, err);
        if (rc != TD_OK) {
            td_error_at(err, name, 0, 0);
            return rc;
        }
    }
    return TD_OK;
}
