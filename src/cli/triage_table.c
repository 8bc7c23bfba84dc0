/*
 * triage_table.c - the bounded ranked table shared by `scan` and `fetch`
 * (see triage_table.h).  Rows are kept sorted in an array of at most top
 * entries: a new row is dropped at once when the table is full and it does
 * not beat the last row, else it is inserted in place and the last row
 * freed, so memory and per-row cost stay bounded by N.
 */
#include "cli/triage_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXCERPT_BYTES 72

struct td_triage_row {
    int severity;
    float prob;
    size_t seq;
    char *id;
    char *excerpt;
    char *reason;
    char label[24];
};

/* Copy up to max bytes of s into a one-line, UTF-8-safe excerpt. */
static char *one_line(const char *s, size_t len, size_t start, size_t max)
{
    if (start > len)
        start = len;
    /* centre the window on start */
    size_t from = start > max / 3 ? start - max / 3 : 0;
    while (from > 0 && from < len && ((unsigned char)s[from] & 0xC0) == 0x80)
        from--;
    size_t to = from + max < len ? from + max : len;
    while (to < len && to > from && ((unsigned char)s[to] & 0xC0) == 0x80)
        to--;
    char *out = malloc(to - from + 8);
    if (!out)
        return NULL;
    size_t o = 0;
    if (from > 0)
        o += (size_t)snprintf(out, 8, "...");
    int space = 0;
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            if (!space && o)
                out[o++] = ' ';
            space = 1;
            continue;
        }
        if (c == ' ' && space)
            continue;
        space = c == ' ';
        out[o++] = (char)c;
    }
    if (to < len)
        o += (size_t)snprintf(out + o, 4, "...");
    out[o] = '\0';
    return out;
}

static void row_free(struct td_triage_row *r)
{
    free(r->id);
    free(r->excerpt);
    free(r->reason);
}

/* 1 when a ranks above b */
static int ranks_above(const struct td_triage_row *a, const struct td_triage_row *b)
{
    if (a->severity != b->severity)
        return a->severity > b->severity;
    if (a->prob != b->prob)
        return a->prob > b->prob;
    return a->seq < b->seq;
}

int td_triage_table_init(struct td_triage_table *t, size_t top)
{
    memset(t, 0, sizeof *t);
    t->rows = calloc(top, sizeof *t->rows);
    if (!t->rows)
        return TD_ENOMEM;
    t->top = top;
    return TD_OK;
}

void td_triage_table_add(struct td_triage_table *t, const struct td_message *m,
                         const struct td_verdict *v)
{
    enum td_label top = td_verdict_top_label(v);
    struct td_triage_row r = {
        .severity = (int)v->severity, .prob = v->prob[top], .seq = ++t->added};
    if (t->nrows == t->top && !ranks_above(&r, &t->rows[t->nrows - 1]))
        return;
    /* the excerpt is centred on the strongest grammar span, else the first */
    size_t at = 0;
    for (size_t i = 0; i < v->nspans; i++) {
        if (v->spans[i].source == TD_SOURCE_GRAMMAR && v->spans[i].label == top) {
            at = v->spans[i].start;
            break;
        }
        if (i == 0)
            at = v->spans[i].start;
    }
    r.id = strdup(m->id ? m->id : "-");
    r.excerpt = one_line(m->text, m->text_len, at, EXCERPT_BYTES);
    r.reason = strdup(v->reason);
    snprintf(r.label, sizeof r.label, "%s", v->labels ? td_label_name(top) : "-");
    if (!r.id || !r.excerpt || !r.reason) {
        row_free(&r);
        return;
    }
    if (t->nrows == t->top)
        row_free(&t->rows[--t->nrows]);
    size_t k = t->nrows++;
    while (k > 0 && ranks_above(&r, &t->rows[k - 1])) {
        t->rows[k] = t->rows[k - 1];
        k--;
    }
    t->rows[k] = r;
}

void td_triage_table_print_tiers(const size_t by_tier[TD_SEVERITY_COUNT])
{
    for (int s = TD_SEVERITY_CRITICAL; s >= TD_SEVERITY_NONE; s--)
        printf(" %zu %s%s", by_tier[s], td_severity_name(s), s ? "," : "");
}

void td_triage_table_print(const struct td_triage_table *t)
{
    if (t->nrows == 0)
        return;
    printf("\n%-4s %-8s %-13s %-5s %-24s %s\n", "#", "SEVERITY", "LABEL", "P", "ID", "EXCERPT");
    for (size_t i = 0; i < t->nrows; i++) {
        const struct td_triage_row *r = &t->rows[i];
        char sev[16];
        snprintf(sev, sizeof sev, "%s", td_severity_name(r->severity));
        for (char *p = sev; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 32);
        /* a long id (a file path) keeps its end, which tells files apart */
        size_t idlen = strlen(r->id);
        const char *id = idlen > 24 ? r->id + idlen - 21 : r->id;
        while (id > r->id && ((unsigned char)*id & 0xC0) == 0x80)
            id++; /* start on a whole UTF-8 character */
        printf("%-4zu %-8s %-13s %.2f  %s%-*s %s\n", i + 1, sev, r->label, (double)r->prob,
               idlen > 24 ? "..." : "", idlen > 24 ? 21 : 24, id, r->excerpt);
        if (r->severity > TD_SEVERITY_NONE)
            printf("     %-8s why: %s\n", "", r->reason);
    }
}

void td_triage_table_release(struct td_triage_table *t)
{
    for (size_t i = 0; i < t->nrows; i++)
        row_free(&t->rows[i]);
    free(t->rows);
    memset(t, 0, sizeof *t);
}
