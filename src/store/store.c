/*
 * store.c - td_store_open() picks a backend from the URL.  The desk's
 * vocabularies live in desk/vocab.c: the store keeps the wire names it is
 * given as text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- the arena of a read's rows ------------------------------------------
 * Bump allocation in blocks of 8 KiB (or one block for a larger piece):
 * a queue page of 50 rows is a handful of mallocs, not one per column. */
#define ARENA_BLOCK 8192

struct td_store_arena_block {
    struct td_store_arena_block *next;
    size_t size, used;
    max_align_t data[]; /* size bytes */
};

void *td__arena_alloc(struct td_store_arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    struct td_store_arena_block *b = a->head;
    n = n ? (n + align - 1) / align * align : align;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (!(b = malloc(sizeof *b + size))) {
            a->oom = 1;
            return NULL;
        }
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    return memset(p, 0, n);
}

const char *td__arena_strn(struct td_store_arena *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = td__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *td__arena_str(struct td_store_arena *a, const char *s)
{
    return s ? td__arena_strn(a, s, strlen(s)) : NULL;
}

void *td__arena_array(struct td_store_arena *a, size_t n, size_t size)
{
    if (n && size > SIZE_MAX / n) {
        a->oom = 1;
        return NULL;
    }
    return td__arena_alloc(a, n * size);
}

int td__arena_push(struct td_store_arena *a, void **arr, size_t *n, size_t *cap, size_t size,
                   void **slot)
{
    if (*n == *cap) {
        size_t want = *cap ? *cap * 2 : 16;
        void *p = td__arena_array(a, want, size);
        if (!p)
            return TD_ENOMEM;
        if (*n)
            memcpy(p, *arr, *n * size);
        *arr = p; /* the old array stays in the arena until it is freed */
        *cap = want;
    }
    *slot = (unsigned char *)*arr + (*n)++ * size;
    return TD_OK;
}

void td_store_arena_free(struct td_store_arena *a)
{
    if (!a)
        return;
    while (a->head) {
        struct td_store_arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->oom = 0;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void td__arena_ids(struct td_store_arena *a, const char *list, int sort, const int64_t **ids,
                   size_t *n)
{
    size_t k = 1;
    int64_t *v;
    *ids = NULL;
    *n = 0;
    if (!list || !*list)
        return;
    for (const char *p = list; *p; p++)
        k += *p == ',';
    if (!(v = td__arena_array(a, k, sizeof *v)))
        return;
    for (const char *p = list; *p && *n < k;) {
        char *end;
        v[(*n)++] = (int64_t)strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end + strlen(end);
    }
    /* one order on both backends, whatever order the aggregate used */
    if (sort)
        qsort(v, *n, sizeof *v, cmp_id);
    *ids = v;
}
