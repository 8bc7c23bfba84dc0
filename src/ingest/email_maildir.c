/*
 * email_maildir.c - walk a Maildir folder: the files of new/ and cur/
 * (tmp/ holds deliveries in progress and is left alone), each one message,
 * and those of its Maildir++ sub-folders (.Name/new, .Name/cur).
 *
 * Names are collected once and sorted: Maildir names begin with the
 * delivery time in seconds, so name order is arrival order, and the same
 * folder always yields the same sequence.  Memory is one name per message.
 */
#include "ingest/email_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_ENTRIES (10u * 1000 * 1000)

struct td_maildir {
    char **paths;
    size_t n, cap, next;
    struct td_email_opts o;
};

static int cmp_name(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    const char *bx = strrchr(x, '/'), *by = strrchr(y, '/');
    int c = strcmp(bx ? bx + 1 : x, by ? by + 1 : y);
    return c ? c : strcmp(x, y);
}

static int add_dir(struct td_maildir *md, const char *dir, const char *sub, int *found,
                   struct td_error *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, sub) >= sizeof path)
        return td_error_set(err, TD_ETOOBIG, "path too long");
    DIR *d = opendir(path);
    if (!d)
        return TD_OK; /* a Maildir may lack new/ or cur/ */
    (*found)++;
    int rc = TD_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= sizeof full)
            continue;
        struct stat st;
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (md->n == MAX_ENTRIES) {
            rc = td_error_set(err, TD_ETOOBIG, "more than %u messages in %s", MAX_ENTRIES, path);
            break;
        }
        if (md->n == md->cap) {
            size_t ncap = md->cap ? md->cap * 2 : 64;
            char **p = realloc(md->paths, ncap * sizeof *p);
            if (!p) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                break;
            }
            md->paths = p;
            md->cap = ncap;
        }
        if (!(md->paths[md->n] = strdup(full))) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            break;
        }
        md->n++;
    }
    closedir(d);
    return rc;
}

int td_maildir_open(const char *dir, const struct td_email_opts *opts, struct td_maildir **out,
                    struct td_error *err)
{
    struct td_maildir *md = calloc(1, sizeof *md);
    if (!md)
        return td_error_set(err, TD_ENOMEM, NULL);
    if (opts)
        md->o = *opts;
    else
        td_email_opts_default(&md->o);
    int found = 0, rc;
    if ((rc = add_dir(md, dir, "new", &found, err)) || (rc = add_dir(md, dir, "cur", &found, err)))
        goto fail;
    /* Maildir++ folders: ".Name" (".Parent.Child" - flat, one level) */
    DIR *d = found ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[600];
        int sub_found = 0;
        if ((size_t)snprintf(sub, sizeof sub, "%s/new", e->d_name) >= sizeof sub)
            continue;
        if ((rc = add_dir(md, dir, sub, &sub_found, err)))
            break;
        snprintf(sub, sizeof sub, "%s/cur", e->d_name);
        if ((rc = add_dir(md, dir, sub, &sub_found, err)))
            break;
    }
    if (d)
        closedir(d);
    if (rc)
        goto fail;
    if (!found) {
        td_error_at(err, dir, 0, 0);
        rc = td_error_set(err, TD_ENOTFOUND, "not a Maildir (no cur/ or new/)");
        goto fail;
    }
    qsort(md->paths, md->n, sizeof *md->paths, cmp_name);
    *out = md;
    return TD_OK;
fail:
    td_maildir_close(md);
    return rc;
}

int td_maildir_next(struct td_maildir *md, struct td_message *m, struct td_error *err)
{
    if (md->next >= md->n) {
        td_message_release(m);
        return TD_EOF;
    }
    size_t i = md->next++;
    int rc = td_email_parse_file(md->paths[i], &md->o, m, err);
    m->record = i + 1;
    return rc;
}

void td_maildir_close(struct td_maildir *md)
{
    if (!md)
        return;
    for (size_t i = 0; i < md->n; i++)
        free(md->paths[i]);
    free(md->paths);
    free(md);
}
