/*
 * train.c - dataset loading and SGD training (see train.h for the method).
 */
#include "threatdesk/train.h"
#include "threatdesk/buf.h"
#include "threatdesk/metrics.h"
#include "cues.h"

#include <csv.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MAX_DATASET_BYTES (256u * 1024 * 1024)
#define MAX_COLUMNS 64
#define MAX_RULES 8
#define MAX_VALUES 8
/* sources with an intercept of their own: datasets 0..MAX_SOURCES-2 (later
 * ones share the last of those), the extra rows MAX_SOURCES-1 */
#define MAX_SOURCES 32
#define EXTRA_SOURCE (MAX_SOURCES - 1)

int td_featurise(const struct td_normaliser *nz, const char *text, size_t len, unsigned bits,
                 struct td_norm *norm, struct td_features *f, struct td_error *err)
{
    int rc = td_normalise(nz, text, len, norm, err);
    if (rc)
        return rc;
    if (td_features_extract(norm->text, norm->len, bits, f))
        return td_error_set(err, TD_ENOMEM, NULL);
    return TD_OK;
}

/* ---- the corpus ---------------------------------------------------------------- */

struct doc {
    char *text;
    unsigned char y;     /* label bits */
    unsigned char mask;  /* annotated label bits */
    unsigned char val;   /* in the validation split */
    unsigned char extra; /* 0: public dataset; 1: extra rows (opts->extra) */
    unsigned char src;   /* which source: the dataset's index, EXTRA_SOURCE the extra rows */
    unsigned char reps;  /* times seen per epoch (an extra row's "weight"; 0 = 1) */
    uint64_t hash;
};

struct corpus {
    struct doc *docs;
    size_t n, cap;
    /* open-addressing index by text hash, for merging duplicates */
    size_t *slot;
    size_t nslot;
    size_t dups;
    unsigned char src;  /* the source corpus_add files new texts under */
    unsigned char reps; /* and the times per epoch it gives them */
};

static int corpus_add(struct corpus *c, const char *text, size_t len, unsigned y, unsigned mask,
                      int extra, int val)
{
    uint64_t h = XXH3_64bits(text, len);
    if (c->n * 2 >= c->nslot) {
        size_t ns = c->nslot ? c->nslot * 2 : 1 << 16;
        size_t *slot = malloc(ns * sizeof *slot);
        if (!slot)
            return TD_ENOMEM;
        for (size_t i = 0; i < ns; i++)
            slot[i] = (size_t)-1;
        for (size_t d = 0; d < c->n; d++) {
            size_t i = c->docs[d].hash & (ns - 1);
            while (slot[i] != (size_t)-1)
                i = (i + 1) & (ns - 1);
            slot[i] = d;
        }
        free(c->slot);
        c->slot = slot;
        c->nslot = ns;
    }
    size_t i = h & (c->nslot - 1);
    for (; c->slot[i] != (size_t)-1; i = (i + 1) & (c->nslot - 1)) {
        struct doc *d = &c->docs[c->slot[i]];
        if (d->hash == h && strlen(d->text) == len && memcmp(d->text, text, len) == 0) {
            /* the same text in two datasets: a label is positive if any
             * dataset says so, annotated if any annotates it */
            d->y |= (unsigned char)y;
            d->mask |= (unsigned char)mask;
            if (extra && val) /* a synthetic validation text stays out of training */
                d->val = 1, d->extra = 1;
            if (c->reps > d->reps)
                d->reps = c->reps;
            c->dups++;
            return TD_OK;
        }
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        struct doc *nd = realloc(c->docs, ncap * sizeof *nd);
        if (!nd)
            return TD_ENOMEM;
        c->docs = nd;
        c->cap = ncap;
    }
    struct doc *d = &c->docs[c->n];
    d->text = malloc(len + 1);
    if (!d->text)
        return TD_ENOMEM;
    memcpy(d->text, text, len);
    d->text[len] = '\0';
    d->y = (unsigned char)y;
    d->mask = (unsigned char)mask;
    d->val = (unsigned char)(val != 0);
    d->extra = (unsigned char)(extra != 0);
    d->src = c->src;
    d->reps = c->reps;
    d->hash = h;
    c->slot[i] = c->n++;
    return TD_OK;
}

static void corpus_free(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->docs[i].text);
    free(c->docs);
    free(c->slot);
}

/* ---- one dataset file -------------------------------------------------------------- */

struct rule {
    int label;
    int col; /* resolved from the header */
    const char *column;
    const char *values[MAX_VALUES];
    size_t nvalues;
};

struct loader {
    struct corpus *c;
    const char *file;
    const char *text_column;
    int text_col;
    struct rule rules[TD_LABEL_COUNT * MAX_RULES];
    size_t nrules;
    unsigned const_y; /* labels every row of the file has ({"const": 1}) */
    size_t nconst;
    unsigned mask;
    char *fields[MAX_COLUMNS];
    size_t flen[MAX_COLUMNS];
    size_t nfields;
    size_t ncols; /* header width */
    int have_header;
    size_t row, bad, read;
    int rc;
    struct td_error *err;
};

static void ld_field(void *data, size_t len, void *ud)
{
    struct loader *L = ud;
    if (L->nfields >= MAX_COLUMNS) {
        L->nfields++;
        return;
    }
    L->fields[L->nfields] = data ? strndup(data, len) : strdup("");
    L->flen[L->nfields] = len;
    L->nfields++;
}

static void ld_row(int term, void *ud)
{
    (void)term;
    struct loader *L = ud;
    L->row++;
    size_t nf = L->nfields < MAX_COLUMNS ? L->nfields : MAX_COLUMNS;
    if (L->rc)
        goto done;
    if (!L->have_header) {
        L->have_header = 1;
        L->ncols = L->nfields;
        for (size_t i = 0; i < nf; i++) {
            /* the first column of davidson has an empty name */
            if (strcmp(L->fields[i], L->text_column) == 0)
                L->text_col = (int)i;
            for (size_t r = 0; r < L->nrules; r++)
                if (strcmp(L->fields[i], L->rules[r].column) == 0)
                    L->rules[r].col = (int)i;
        }
        if (L->text_col < 0) {
            td_error_at(L->err, L->file, 1, 0);
            td_error_field(L->err, L->text_column);
            L->rc = td_error_set(L->err, TD_EPARSE, "text column not in the header");
        }
        for (size_t r = 0; r < L->nrules && !L->rc; r++)
            if (L->rules[r].col < 0) {
                td_error_at(L->err, L->file, 1, 0);
                td_error_field(L->err, L->rules[r].column);
                L->rc = td_error_set(L->err, TD_EPARSE, "label column not in the header");
            }
        goto done;
    }
    if (L->nfields != L->ncols) {
        L->bad++; /* a ragged row: skipped and counted, never guessed at */
        goto done;
    }
    unsigned y = 0;
    for (size_t r = 0; r < L->nrules; r++) {
        const char *v = L->fields[L->rules[r].col];
        for (size_t k = 0; k < L->rules[r].nvalues; k++)
            if (strcmp(v, L->rules[r].values[k]) == 0)
                y |= 1u << L->rules[r].label;
    }
    const char *text = L->fields[L->text_col];
    size_t tl = L->flen[L->text_col];
    if (tl == 0) {
        L->bad++;
        goto done;
    }
    L->read++;
    y |= L->const_y;
    if (corpus_add(L->c, text, tl, y, L->mask, 0, 0))
        L->rc = td_error_set(L->err, TD_ENOMEM, NULL);
done:
    for (size_t i = 0; i < nf; i++)
        free(L->fields[i]);
    L->nfields = 0;
}

static int read_file(const char *path, char **out, size_t *len, struct td_error *err)
{
    td_error_at(err, path, 0, 0);
    FILE *f = fopen(path, "rb");
    if (!f)
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open: %s",
                            strerror(errno));
    struct td_buf b;
    td_buf_init(&b, MAX_DATASET_BYTES);
    char chunk[65536];
    size_t n;
    int rc = TD_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = td_buf_append(&b, chunk, n)) != TD_OK)
            break;
    if (!rc && ferror(f))
        rc = TD_EIO;
    fclose(f);
    if (rc) {
        td_buf_release(&b);
        return td_error_set(err, rc, "cannot read dataset");
    }
    *out = td_buf_detach(&b, len);
    td_error_clear(err);
    return TD_OK;
}

/*
 * The YouTube THREAT corpus' own format: "Video #v, Comment #c, ..." header
 * lines, then one "0|1 TAB sentence" line per sentence, a blank line between
 * comments.  One comment is one text (a threat may sit in any sentence of
 * it, as in a letter); it is positive when any sentence is.
 */
static int load_threat_corpus(struct corpus *c, const char *path, int label,
                              struct td_train_report *rep, struct td_error *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len, err);
    if (rc)
        return rc;
    struct td_buf text;
    td_buf_init(&text, 1u << 20);
    unsigned y = 0;
    size_t line = 0;
    for (size_t i = 0; i <= len && !rc;) {
        size_t e = i;
        while (e < len && data[e] != '\n')
            e++;
        line++;
        const char *l = data + i;
        size_t ll = e - i;
        if (ll && l[ll - 1] == '\r')
            ll--;
        int boundary = ll == 0 || (ll > 7 && memcmp(l, "Video #", 7) == 0) || e >= len;
        if (!boundary) {
            if (ll < 2 || (l[0] != '0' && l[0] != '1') || l[1] != '\t') {
                rep->rows_bad++; /* not a sentence line: counted, never guessed at */
            } else {
                if (l[0] == '1')
                    y = 1u << label;
                if ((text.len && td_buf_putc(&text, ' ')) || td_buf_append(&text, l + 2, ll - 2))
                    rc = td_error_set(err, TD_ETOOBIG, "comment too long");
            }
        }
        if ((boundary || e >= len) && text.len && !rc) {
            rep->rows_read++;
            if (corpus_add(c, text.data, text.len, y, 1u << label, 0, 0))
                rc = td_error_set(err, TD_ENOMEM, NULL);
            td_buf_reset(&text);
            y = 0;
        }
        i = e + 1;
    }
    (void)line;
    td_buf_release(&text);
    free(data);
    return rc;
}

/* "implied_negatives": {"intimidation": ["threat", "abuse"]} - a text
 * that a dataset annotated for every listed label and found negative on all
 * of them is a negative example of the key label too, when nothing
 * annotated the key label itself.  Why: a label taught only by the
 * generator (intimidation) otherwise sees no real-world negatives at all,
 * so it learns the generator's quirks and its threshold is fitted on
 * generated text alone; thousands of ordinary comments that annotators
 * judged neither threatening nor abusive are honest negatives for it. */
static int imply_negatives(struct corpus *c, json_t *cfg, const char *path,
                           struct td_train_report *rep, struct td_error *err)
{
    json_t *map = json_object_get(cfg, "implied_negatives");
    if (!map)
        return TD_OK;
    const char *key;
    json_t *list;
    if (!json_is_object(map))
        goto bad;
    json_object_foreach(map, key, list)
    {
        int l = td_label_from_name(key);
        unsigned need = 0;
        size_t i;
        json_t *e;
        if (l < 0 || !json_is_array(list) || json_array_size(list) == 0)
            goto bad;
        json_array_foreach(list, i, e)
        {
            int k = td_label_from_name(json_string_value(e) ? json_string_value(e) : "");
            if (k < 0 || k == l)
                goto bad;
            need |= 1u << k;
        }
        for (size_t d = 0; d < c->n; d++) {
            struct doc *D = &c->docs[d];
            if ((D->mask & (1u << l)) || (D->mask & need) != need || (D->y & need))
                continue;
            D->mask |= (unsigned char)(1u << l);
            rep->implied_negatives[l]++;
        }
    }
    return TD_OK;
bad:
    td_error_at(err, path, 0, 0);
    td_error_field(err, "implied_negatives");
    return td_error_set(err, TD_EPARSE,
                        "expected {label: [other labels, ...]} with known, distinct label names");
}

/* Extra labelled rows (the synthetic generator's output): one JSON object
 * per line, {"text", "labels": {label: 0|1, ...}, "split": "train"|"val"};
 * the labels present are the ones annotated. */
static int load_extra(struct corpus *c, const char *path, struct td_train_report *rep,
                      struct td_error *err)
{
    FILE *f = fopen(path, "r");
    td_error_at(err, path, 0, 0);
    if (!f)
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open: %s",
                            strerror(errno));
    char *buf = NULL;
    size_t cap = 0, line = 0;
    ssize_t n;
    int rc = TD_OK;
    while (!rc && (n = getline(&buf, &cap, f)) > 0) {
        line++;
        json_error_t je;
        json_t *o = json_loadb(buf, (size_t)n, 0, &je);
        const char *text = json_string_value(json_object_get(o, "text"));
        json_t *labels = json_object_get(o, "labels");
        const char *split = json_string_value(json_object_get(o, "split"));
        if (!o || !text || !*text || !json_is_object(labels)) {
            td_error_at(err, path, line, 0);
            td_error_field(err, !o ? "" : !text ? "text" : "labels");
            rc = td_error_set(err, TD_EPARSE, "extra row needs 'text' and a 'labels' object");
            json_decref(o);
            break;
        }
        unsigned y = 0, mask = 0;
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v)
        {
            int l = td_label_from_name(k);
            if (l < 0 || !json_is_integer(v)) {
                td_error_at(err, path, line, 0);
                td_error_field(err, k);
                rc = td_error_set(err, TD_EPARSE, "unknown label or value not 0/1");
                break;
            }
            mask |= 1u << l;
            if (json_integer_value(v))
                y |= 1u << l;
        }
        int val = split && strcmp(split, "val") == 0;
        json_t *w = json_object_get(o, "weight");
        if (!rc && w &&
            (!json_is_integer(w) || json_integer_value(w) < 1 ||
             json_integer_value(w) > TD_TRAIN_MAX_WEIGHT)) {
            td_error_at(err, path, line, 0);
            td_error_field(err, "weight");
            rc = td_error_set(err, TD_EPARSE, "weight must be a whole number from 1 to %d",
                              TD_TRAIN_MAX_WEIGHT);
        }
        c->reps = (unsigned char)(w ? json_integer_value(w) : 1);
        if (!rc && corpus_add(c, text, strlen(text), y, mask, 1, val))
            rc = td_error_set(err, TD_ENOMEM, NULL);
        rep->extra_rows++;
        rep->extra_val += (size_t)val;
        json_decref(o);
    }
    c->reps = 1;
    free(buf);
    fclose(f);
    if (!rc)
        td_error_clear(err);
    return rc;
}

static int load_dataset(struct corpus *c, const char *root, json_t *ds, size_t idx,
                        struct td_train_report *rep, struct td_error *err)
{
    const char *file = json_string_value(json_object_get(ds, "file"));
    const char *format = json_string_value(json_object_get(ds, "format"));
    if (file && format && strcmp(format, "threat-corpus") == 0) {
        int l = td_label_from_name(json_string_value(json_object_get(ds, "label")));
        if (l < 0) {
            td_error_field(err, "label");
            return td_error_set(err, TD_EPARSE, "dataset %zu: a threat-corpus needs a 'label'",
                                idx);
        }
        char tpath[4096];
        snprintf(tpath, sizeof tpath, "%s/%s", root, file);
        return load_threat_corpus(c, tpath, l, rep, err);
    }
    const char *delim = json_string_value(json_object_get(ds, "delimiter"));
    const char *textcol = json_string_value(json_object_get(ds, "text"));
    json_t *labels = json_object_get(ds, "labels");
    if (!file || !delim || strlen(delim) != 1 || !textcol || !json_is_object(labels)) {
        td_error_field(err, "datasets");
        return td_error_set(err, TD_EPARSE,
                            "dataset %zu needs 'file', a one-character 'delimiter', 'text' and "
                            "'labels'",
                            idx);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, file);
    struct loader L;
    memset(&L, 0, sizeof L);
    L.c = c;
    L.file = path;
    L.text_column = textcol;
    L.text_col = -1;
    L.err = err;
    const char *lname;
    json_t *rules;
    json_object_foreach(labels, lname, rules)
    {
        int l = td_label_from_name(lname);
        if (l < 0 || !json_is_array(rules)) {
            td_error_field(err, lname);
            return td_error_set(err, TD_EPARSE, "dataset '%s': unknown label or rules not a list",
                                file);
        }
        L.mask |= 1u << l;
        size_t i;
        json_t *r;
        json_array_foreach(rules, i, r)
        {
            if (L.nrules >= sizeof L.rules / sizeof L.rules[0])
                return td_error_set(err, TD_ETOOBIG, "too many rules for '%s'", file);
            json_t *cst = json_object_get(r, "const");
            if (cst) {
                /* a file whose every row is (1) or is not (0) the label, e.g.
                 * the counter-narratives of CONAN */
                if (!json_is_integer(cst) || json_integer_value(cst) < 0 ||
                    json_integer_value(cst) > 1) {
                    td_error_field(err, lname);
                    return td_error_set(err, TD_EPARSE, "dataset '%s': const must be 0 or 1", file);
                }
                if (json_integer_value(cst))
                    L.const_y |= 1u << l;
                L.nconst = 1;
                continue;
            }
            struct rule *R = &L.rules[L.nrules++];
            R->label = l;
            R->col = -1;
            R->column = json_string_value(json_object_get(r, "column"));
            json_t *in = json_object_get(r, "in");
            if (!R->column || !json_is_array(in) || json_array_size(in) > MAX_VALUES) {
                td_error_field(err, lname);
                return td_error_set(err, TD_EPARSE,
                                    "dataset '%s': a rule needs 'column' and 'in' (<= %d values)",
                                    file, MAX_VALUES);
            }
            for (size_t k = 0; k < json_array_size(in); k++) {
                R->values[k] = json_string_value(json_array_get(in, k));
                if (!R->values[k])
                    return td_error_set(err, TD_EPARSE, "dataset '%s': values must be strings",
                                        file);
            }
            R->nvalues = json_array_size(in);
        }
    }
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len, err);
    if (rc)
        return rc;
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        free(data);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    csv_set_delim(&p, (unsigned char)delim[0]);
    size_t done = csv_parse(&p, data, len, ld_field, ld_row, &L);
    if (done != len && !L.rc) {
        td_error_at(err, path, L.row + 1, done);
        L.rc = td_error_set(err, TD_EPARSE, "CSV: %s", csv_strerror(csv_error(&p)));
    }
    if (!L.rc)
        csv_fini(&p, ld_field, ld_row, &L);
    csv_free(&p);
    free(data);
    rep->rows_read += L.read;
    rep->rows_bad += L.bad;
    return L.rc;
}

/* ---- SGD ---------------------------------------------------------------------- */

/* xorshift64*: the shuffling generator; seeded, so training is repeatable. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

struct fdocs {
    uint32_t *idx; /* all feature indices, doc after doc */
    size_t *off;   /* [ndocs+1] */
    float *value;
};

static int json_dump_split(const char *dir, const struct corpus *c, int val,
                           const char *const *srcname, struct td_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, val ? "val" : "train");
    FILE *f = fopen(path, "w");
    if (!f) {
        td_error_at(err, path, 0, 0);
        return td_error_set(err, TD_EIO, "cannot create: %s", strerror(errno));
    }
    for (size_t i = 0; i < c->n; i++) {
        const struct doc *d = &c->docs[i];
        if (d->val != val || d->extra) /* the public datasets' split only */
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "text", json_string(d->text));
        if (srcname[d->src]) /* per-source figures, as held-out sets are scored one by one */
            json_object_set_new(o, "source", json_string(srcname[d->src]));
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            if (d->mask & (1u << l))
                json_object_set_new(o, td_label_name(l), json_integer((d->y >> l) & 1));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!s) /* a text that is not valid UTF-8: not exportable as JSON */
            continue;
        fprintf(f, "%s\n", s);
        free(s);
    }
    if (fclose(f) != 0) {
        td_error_at(err, path, 0, 0);
        return td_error_set(err, TD_EIO, "write failed");
    }
    return TD_OK;
}

/* ---- the network's inputs and optimiser ------------------------------------------- */

/* Every text's token vectors and cue vector, computed once before the
 * epochs (the embeddings are frozen, so they never change). */
struct deepin {
    float *emb;   /* token vectors, doc after doc */
    size_t *toff; /* [ndocs+1] offsets in tokens */
    size_t ecap;
    float *cues; /* [ndocs * TD_NN_MAX_CUES] */
    char names[TD_NN_MAX_CUES][TD_NN_CUE_NAME];
    unsigned ncues;
};

static void deepin_free(struct deepin *d)
{
    free(d->emb);
    free(d->toff);
    free(d->cues);
}

static int deepin_add(struct deepin *d, const struct td_train_opts *o, size_t doc,
                      const struct td_norm *norm, struct td_tokens *tk,
                      struct td_grammar_result *gr, struct td_error *err)
{
    const unsigned D = o->embed->dim;
    size_t maxtok = o->max_tokens ? o->max_tokens : 400;
    if (td_tokenise(norm->text, norm->len, maxtok, tk))
        return td_error_set(err, TD_ENOMEM, NULL);
    size_t at = d->toff[doc];
    if ((at + tk->n) * D > d->ecap) {
        size_t nc = d->ecap ? d->ecap : (size_t)1 << 20;
        while (nc < (at + tk->n) * D)
            nc *= 2;
        float *ne = realloc(d->emb, nc * sizeof *ne);
        if (!ne)
            return td_error_set(err, TD_ENOMEM, NULL);
        d->emb = ne;
        d->ecap = nc;
    }
    for (size_t t = 0; t < tk->n; t++)
        td_embed_token(o->embed, norm->text + tk->t[t].start, tk->t[t].end - tk->t[t].start,
                       d->emb + (at + t) * D);
    d->toff[doc + 1] = at + tk->n;
    float *cv = d->cues + doc * TD_NN_MAX_CUES;
    memset(cv, 0, TD_NN_MAX_CUES * sizeof *cv);
    if (o->grammar) {
        int rc = td_grammar_match(o->grammar, norm->text, norm->len, gr, err);
        if (rc)
            return rc;
        td__cues_learn(d->names, &d->ncues, gr);
        td__cues_compute((const char(*)[TD_NN_CUE_NAME])d->names, d->ncues, gr, norm, tk->n, cv);
    }
    return TD_OK;
}

/* Adam (Kingma & Ba): per-weight step sizes, so the few weights of rare
 * labels' windows learn as fast as the common ones.  Clears g. */
static void adam(float *w, float *g, float *m1, float *m2, size_t n, float lr, unsigned t,
                 float scale)
{
    const float b1 = 0.9f, b2 = 0.999f;
    float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * scale;
        m1[i] = b1 * m1[i] + (1 - b1) * gi;
        m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
        w[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + 1e-8f);
        g[i] = 0;
    }
}

struct adam_state {
    float *m1[5], *m2[5];
    size_t n[5];
};

static int adam_new(const struct td_nn *m, struct adam_state *a)
{
    size_t D = m->dim, F = m->filters, H = m->hidden, I = td_nn_inputs(m);
    size_t sz[5] = {TD_NN_WIDTH * D * F, F, H * I, H, TD_LABEL_COUNT * H};
    for (int i = 0; i < 5; i++) {
        a->n[i] = sz[i];
        a->m1[i] = calloc(sz[i], sizeof(float));
        a->m2[i] = calloc(sz[i], sizeof(float));
        if (!a->m1[i] || !a->m2[i])
            return TD_ENOMEM;
    }
    return TD_OK;
}

static void adam_free(struct adam_state *a)
{
    for (int i = 0; i < 5; i++) {
        free(a->m1[i]);
        free(a->m2[i]);
    }
}

static void adam_apply(struct td_nn *m, struct td_nn_grad *g, struct adam_state *a, float lr,
                       unsigned t, float scale)
{
    float *w[5] = {m->conv_w, m->conv_b, m->hid_w, m->hid_b, m->out_w};
    float *gg[5] = {g->conv_w, g->conv_b, g->hid_w, g->hid_b, g->out_w};
    for (int i = 0; i < 5; i++)
        adam(w[i], gg[i], a->m1[i], a->m2[i], a->n[i], lr, t, scale);
}

/* Stochastic weight averaging (Izmailov et al., 2018): the network trains
 * with Adam at a constant rate, so its final weights are one noisy point
 * of a wide basin, and two runs that differ only in their initial weights
 * differed by 0.07 in held-out threat AUC.  The running mean of the weights
 * over the last epochs sits nearer the basin's centre: one network (no
 * cost at run time) that moves less with the seed and generalises better.
 * avg has the sizes of the Adam state; k snapshots taken so far. */
#define SWA_EVERY 64                             /* Adam updates (of 32 texts) between snapshots */
#define SWA_DEFAULT(nn_epochs) ((nn_epochs) / 2) /* the network's last half */

struct swa {
    float *w[5];
    size_t n[5];
    unsigned long k;
};

static int swa_new(const struct adam_state *a, struct swa *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 5; i++) {
        s->n[i] = a->n[i];
        if (!(s->w[i] = calloc(a->n[i], sizeof(float))))
            return TD_ENOMEM;
    }
    return TD_OK;
}

static void swa_add(struct swa *s, const struct td_nn *m)
{
    const float *w[5] = {m->conv_w, m->conv_b, m->hid_w, m->hid_b, m->out_w};
    float r = 1.0f / (float)(++s->k);
    for (int i = 0; i < 5; i++)
        for (size_t j = 0; j < s->n[i]; j++)
            s->w[i][j] += (w[i][j] - s->w[i][j]) * r;
}

static void swa_use(const struct swa *s, struct td_nn *m)
{
    float *w[5] = {m->conv_w, m->conv_b, m->hid_w, m->hid_b, m->out_w};
    if (!s->k)
        return;
    for (int i = 0; i < 5; i++)
        memcpy(w[i], s->w[i], s->n[i] * sizeof(float));
}

static void swa_free(struct swa *s)
{
    for (int i = 0; i < 5; i++)
        free(s->w[i]);
}

/* Validation measures of one label over the docs selected by `which`
 * (0 public, 1 extra, 2 all) into R. */
static void measure(const struct corpus *c, const float *zall, int l, int which, float *z,
                    unsigned char *truth, const struct td_model *m, struct td_train_label_report *R)
{
    size_t n = 0;
    memset(R, 0, sizeof *R);
    for (size_t d = 0; d < c->n; d++) {
        const struct doc *D = &c->docs[d];
        if (!D->val || !(D->mask & (1u << l)) || (which < 2 && D->extra != which))
            continue;
        z[n] = td_model_calibrate(m, (enum td_label)l, zall[d * TD_LABEL_COUNT + l]);
        truth[n++] = (D->y >> l) & 1;
    }
    R->val_n = n;
    for (size_t k = 0; k < n; k++)
        R->val_pos += truth[k];
    R->threshold = m->threshold[l];
    if (R->val_pos == 0 || R->val_pos == n) {
        R->auc = -1;
        return;
    }
    R->auc = td_roc_auc(z, truth, n, NULL);
    struct td_prf prf;
    td_prf_at(z, truth, n, m->threshold[l], &prf);
    R->precision = prf.precision;
    R->recall = prf.recall;
    R->f1 = prf.f1;
}

int td_train(const struct td_train_opts *o, struct td_model **out, struct td_train_report *rep,
             struct td_error *err)
{
    int rc = TD_OK;
    struct corpus c;
    memset(&c, 0, sizeof c);
    struct fdocs F = {0};
    struct td_model *m = NULL;
    struct td_norm norm;
    struct td_features feats;
    td_norm_init(&norm);
    td_features_init(&feats);
    float *z = NULL, *zall = NULL, *dropbuf = NULL;
    unsigned char *truth = NULL;
    size_t *order = NULL;
    struct deepin DI;
    memset(&DI, 0, sizeof DI);
    struct td_tokens tk;
    td_tokens_init(&tk);
    struct td_grammar_result gres;
    td_grammar_result_init(&gres);
    struct td_nn *nn = NULL;
    struct td_nn_work nw;
    td_nn_work_init(&nw);
    struct td_nn_grad ng = {0};
    struct adam_state as;
    memset(&as, 0, sizeof as);
    struct swa sw;
    memset(&sw, 0, sizeof sw);
    memset(rep, 0, sizeof *rep);

    unsigned bits = o->bits ? o->bits : 18;
    unsigned epochs = o->epochs ? o->epochs : 10;
    float l2 = o->l2 > 0 ? o->l2 : (o->l2 < 0 ? 0.0f : 0.002f);
    float lr0 = o->lr > 0 ? o->lr : 0.2f;
    uint64_t seed = o->seed ? o->seed : 1;
    uint64_t init_seed = o->init_seed ? o->init_seed : seed;
    unsigned valpct = o->val_percent ? o->val_percent : 10;

    /* 1. the dataset map and the data */
    json_error_t jerr;
    json_t *cfg = json_load_file(o->config, 0, &jerr);
    if (!cfg) {
        td_error_at(err, o->config, (size_t)jerr.line, (size_t)jerr.position);
        return td_error_set(err, TD_EPARSE, "dataset map: %s", jerr.text);
    }
    json_t *list = json_object_get(cfg, "datasets");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        td_error_at(err, o->config, 0, 0);
        td_error_field(err, "datasets");
        rc = td_error_set(err, TD_EPARSE, "expected a non-empty list");
        goto out;
    }
    size_t i;
    json_t *ds;
    const char *srcname[MAX_SOURCES] = {0};
    json_array_foreach(list, i, ds)
    {
        c.src = (unsigned char)(i < EXTRA_SOURCE - 1 ? i : EXTRA_SOURCE - 1);
        if (!srcname[c.src])
            srcname[c.src] = json_string_value(json_object_get(ds, "name"));
        if ((rc = load_dataset(&c, o->data_root, ds, i, rep, err)) != TD_OK)
            goto out;
    }
    size_t npublic = c.n;
    c.src = EXTRA_SOURCE;
    if (o->extra && (rc = load_extra(&c, o->extra, rep, err)) != TD_OK)
        goto out;
    rep->docs = c.n;
    rep->duplicates = c.dups;

    /* 2. the split: by a seeded hash of the text; extra rows keep the split
     * their generator gave them (by template family, so validation measures
     * structures never trained on) */
    for (size_t d = 0; d < c.n; d++) {
        if (d < npublic && !c.docs[d].extra) {
            uint64_t h = XXH3_64bits_withSeed(c.docs[d].text, strlen(c.docs[d].text), seed);
            c.docs[d].val = (h % 100) < valpct;
        }
        c.docs[d].val ? rep->val_docs++ : rep->train_docs++;
    }
    if ((rc = imply_negatives(&c, cfg, o->config, rep, err)) != TD_OK)
        goto out;
    if (o->dump_dir && ((rc = json_dump_split(o->dump_dir, &c, 0, srcname, err)) != TD_OK ||
                        (rc = json_dump_split(o->dump_dir, &c, 1, srcname, err)) != TD_OK))
        goto out;

    /* 3. features, once (and the network's inputs) */
    if (o->embed) {
        DI.toff = calloc(c.n + 1, sizeof *DI.toff);
        DI.cues = malloc(c.n * TD_NN_MAX_CUES * sizeof *DI.cues);
        if (!DI.toff || !DI.cues)
            goto oom;
        DI.ncues = td__cues_fixed(DI.names);
    }
    F.off = malloc((c.n + 1) * sizeof *F.off);
    F.value = malloc(c.n * sizeof *F.value);
    if (!F.off || !F.value)
        goto oom;
    size_t fcap = c.n * 256, fn = 0;
    F.idx = malloc(fcap * sizeof *F.idx);
    if (!F.idx)
        goto oom;
    for (size_t d = 0; d < c.n; d++) {
        F.off[d] = fn;
        rc = td_featurise(o->nz, c.docs[d].text, strlen(c.docs[d].text), bits, &norm, &feats, err);
        if (rc)
            goto out;
        if (fn + feats.n > fcap) {
            while (fn + feats.n > fcap)
                fcap *= 2;
            uint32_t *ni = realloc(F.idx, fcap * sizeof *ni);
            if (!ni)
                goto oom;
            F.idx = ni;
        }
        memcpy(F.idx + fn, feats.idx, feats.n * sizeof *F.idx);
        fn += feats.n;
        F.value[d] = feats.value;
        if (o->embed && (rc = deepin_add(&DI, o, d, &norm, &tk, &gres, err)) != TD_OK)
            goto out;
    }
    F.off[c.n] = fn;

    /* 4. class weights: rare positives (threats) count more, sub-linearly */
    float cw[TD_LABEL_COUNT];
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        size_t pos = 0, n = 0;
        for (size_t d = 0; d < c.n; d++) {
            if (c.docs[d].val || !(c.docs[d].mask & (1u << l)))
                continue;
            n++;
            pos += (c.docs[d].y >> l) & 1;
        }
        rep->label[l].train_n = n;
        rep->label[l].train_pos = pos;
        cw[l] = pos ? (float)sqrt((double)(n - pos) / (double)pos) : 1.0f;
        if (cw[l] > 8)
            cw[l] = 8;
        if (cw[l] < 1)
            cw[l] = 1;
    }

    if ((rc = td_model_new(bits, &m)) != TD_OK)
        goto oom;
    m->qbits = o->qbits == 8 ? 8 : 16;
    snprintf(m->version, sizeof m->version, "%s", o->version ? o->version : "td-linear-1");
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        m->trained[l] = rep->label[l].train_pos > 0;

    /* 5. SGD, fastText-style linear decay of the learning rate for the
     * linear part; Adam in mini-batches for the network.  Both read the
     * same logit, so they learn together what neither would alone. */
    const unsigned nn_epochs = o->nn_epochs ? o->nn_epochs : 6;
    /* -1: off; 0: the default, the network's last half */
    const unsigned swa_epochs = o->swa_epochs < 0 ? 0
                                : o->swa_epochs   ? (unsigned)o->swa_epochs
                                                  : SWA_DEFAULT(nn_epochs);
    const float nn_lr = o->nn_lr > 0 ? o->nn_lr : 0.002f;
    const int wide = !o->no_wide;
    if (o->embed) {
        if (td_nn_new(o->embed->dim, o->filters ? o->filters : 128, DI.ncues,
                      o->hidden ? o->hidden : 64, (unsigned long)init_seed, &nn) ||
            td_nn_grad_new(nn, &ng) || adam_new(nn, &as) || swa_new(&as, &sw))
            goto oom;
        memcpy(nn->cue, DI.names, sizeof nn->cue);
        epochs = nn_epochs > epochs ? nn_epochs : epochs;
    }
    size_t norder = 0;
    for (size_t d = 0; d < c.n; d++)
        norder += c.docs[d].val ? 0 : c.docs[d].reps ? c.docs[d].reps : 1;
    order = malloc((norder ? norder : 1) * sizeof *order);
    if (o->embed)
        dropbuf = malloc((o->max_tokens ? o->max_tokens : 400) * o->embed->dim * sizeof *dropbuf);
    if (!order || (o->embed && !dropbuf))
        goto oom;
    size_t ntrain = 0;
    for (size_t d = 0; d < c.n; d++)
        for (unsigned k = 0; !c.docs[d].val && k < (c.docs[d].reps ? c.docs[d].reps : 1u); k++)
            order[ntrain++] = d;
    uint64_t rs = init_seed * 0x9E3779B97F4A7C15ULL + 1;
    size_t total = (size_t)epochs * ntrain, step = 0;
    const unsigned batch = 32;
    unsigned inbatch = 0, adam_t = 0;
    const unsigned tok_drop = o->token_dropout ? o->token_dropout : 20;
    const unsigned cue_drop = o->cue_dropout;
    float cuebuf[TD_NN_MAX_CUES];
    const unsigned D = o->embed ? o->embed->dim : 0;
    /* --source-bias: one intercept per source and label while training,
     * none after.  The sources differ in how often a label is positive (the
     * synthetic rows are 38 % threats in the register of letters to an MP,
     * the public sets 0-10 % in the register of tweets); with one shared
     * intercept the register itself becomes evidence ("This is the fourth
     * time I have tried to contact your office" scores 0.36 for threat).  A
     * source's own intercept absorbs its base rate.  Off by default: over
     * two seeds it lowered the share of threats at high on the political
     * blind set from 0.81 to 0.69-0.70 (that set is 37 % threats, like the
     * generator) for +0.02 on the synthetic held-out AUC (README, "Tried
     * and not shipped"). */
    float sbias[MAX_SOURCES][TD_LABEL_COUNT];
    memset(sbias, 0, sizeof sbias);
    const int use_sbias = o->source_bias > 0;
    /* each starts at the log-odds of its source's (class-weighted) base
     * rate, so the words never have to carry it, even early on */
    for (int l = 0; use_sbias && l < TD_LABEL_COUNT; l++) {
        double pos[MAX_SOURCES] = {0}, neg[MAX_SOURCES] = {0};
        for (size_t d = 0; d < c.n; d++)
            if (!c.docs[d].val && (c.docs[d].mask & (1u << l))) {
                if ((c.docs[d].y >> l) & 1)
                    pos[c.docs[d].src] += cw[l];
                else
                    neg[c.docs[d].src] += 1;
            }
        for (int k = 0; k < MAX_SOURCES; k++)
            if (pos[k] + neg[k] > 0)
                sbias[k][l] = (float)log((pos[k] + 0.5) / (neg[k] + 0.5));
    }
    for (unsigned e = 0; e < epochs; e++) {
        for (size_t k = ntrain; k > 1; k--) { /* Fisher-Yates */
            size_t j = (size_t)(rng_next(&rs) % k);
            size_t t = order[k - 1];
            order[k - 1] = order[j];
            order[j] = t;
        }
        /* the network trains for nn_epochs, the linear part for epochs: the
         * last nn_epochs passes are joint */
        int deep_on = nn && e + nn_epochs >= epochs;
        for (size_t k = 0; k < ntrain; k++, step++) {
            size_t d = order[k];
            const struct doc *Dd = &c.docs[d];
            float lr = lr0 * (1.0f - (float)step / (float)total);
            /* L2 shrinkage, applied lazily to the weights a row touches
             * (the usual sparse approximation); it is what lets ten
             * epochs help instead of overfitting the rare labels */
            float l2lr = l2 * lr;
            float acc[TD_LABEL_COUNT] = {0}, zd[TD_LABEL_COUNT] = {0};
            if (wide)
                for (size_t q = F.off[d]; q < F.off[d + 1]; q++) {
                    const float *w = m->w + (size_t)F.idx[q] * TD_LABEL_COUNT;
                    for (int l = 0; l < TD_LABEL_COUNT; l++)
                        acc[l] += w[l];
                }
            size_t ntok = 0;
            const float *emb = NULL;
            if (deep_on) {
                ntok = DI.toff[d + 1] - DI.toff[d];
                emb = DI.emb + DI.toff[d] * D;
                /* token dropout: a few words hidden at random each time, so
                 * no single word (or template filler) carries a label and
                 * an inserted phrase cannot break the rest */
                if (ntok > 1) {
                    memcpy(dropbuf, emb, ntok * D * sizeof *dropbuf);
                    for (size_t t = 0; t < ntok; t++)
                        if ((rng_next(&rs) >> 40) % 100 < tok_drop)
                            memset(dropbuf + t * D, 0, D * sizeof *dropbuf);
                    emb = dropbuf;
                }
                /* rule dropout: sometimes the network must decide without
                 * the grammar, as it must when an inserted phrase breaks a
                 * rule */
                const float *cv = DI.cues + d * TD_NN_MAX_CUES;
                if (cue_drop && (rng_next(&rs) >> 40) % 100 < cue_drop) {
                    memcpy(cuebuf, cv, DI.ncues * sizeof *cuebuf);
                    for (unsigned q = TD_CUES_FIXED_LEN; q < DI.ncues; q++)
                        cuebuf[q] = 0;
                    for (int l = 0; l < TD_LABEL_COUNT; l++)
                        cuebuf[TD_CUES_SCORE_AT + l] =
                            cuebuf[TD_CUES_SCORE_AT + TD_LABEL_COUNT + l] = 0;
                    cv = cuebuf;
                }
                if (td_nn_forward(nn, emb, ntok, cv, &nw, zd))
                    goto oom;
            }
            float g[TD_LABEL_COUNT], dz[TD_LABEL_COUNT];
            int any = 0;
            for (int l = 0; l < TD_LABEL_COUNT; l++) {
                g[l] = dz[l] = 0;
                if (!(Dd->mask & (1u << l)) || !m->trained[l])
                    continue;
                float zz = m->bias[l] + F.value[d] * acc[l] + zd[l];
                if (use_sbias)
                    zz += sbias[Dd->src][l];
                float p = 1.0f / (1.0f + expf(-zz));
                int y = (Dd->y >> l) & 1;
                dz[l] = (p - (float)y) * (y ? cw[l] : 1.0f);
                if (use_sbias) /* as fast as a word's weight, or the words that
                                * mark a source take its base rate first */
                    sbias[Dd->src][l] -= lr * dz[l];
                else
                    m->bias[l] -= (deep_on ? nn_lr : lr * 0.1f) * dz[l];
                g[l] = dz[l] * lr * F.value[d];
                any = 1;
            }
            if (!any)
                continue;
            if (wide)
                for (size_t q = F.off[d]; q < F.off[d + 1]; q++) {
                    float *w = m->w + (size_t)F.idx[q] * TD_LABEL_COUNT;
                    for (int l = 0; l < TD_LABEL_COUNT; l++)
                        w[l] -= g[l] + l2lr * w[l];
                }
            if (deep_on) {
                td_nn_backward(nn, emb, ntok, &nw, dz, &ng);
                if (++inbatch == batch) {
                    adam_apply(nn, &ng, &as, nn_lr, ++adam_t, 1.0f / (float)batch);
                    inbatch = 0;
                    /* a snapshot every SWA_EVERY updates of the last
                     * swa_epochs epochs */
                    if (swa_epochs && e + swa_epochs >= epochs && adam_t % SWA_EVERY == 0)
                        swa_add(&sw, nn);
                }
            }
        }
    }

    if (nn)
        swa_use(&sw, nn);
    rep->swa_snapshots = sw.k;

    /* 6. validation: AUC, calibration, thresholds */
    z = malloc(c.n * sizeof *z);
    zall = calloc(c.n * TD_LABEL_COUNT, sizeof *zall);
    truth = malloc(c.n);
    if (!z || !zall || !truth)
        goto oom;
    for (size_t d = 0; d < c.n; d++) {
        if (!c.docs[d].val)
            continue;
        float acc[TD_LABEL_COUNT] = {0}, zd[TD_LABEL_COUNT] = {0};
        if (wide)
            for (size_t q = F.off[d]; q < F.off[d + 1]; q++)
                for (int l = 0; l < TD_LABEL_COUNT; l++)
                    acc[l] += m->w[(size_t)F.idx[q] * TD_LABEL_COUNT + l];
        if (nn && td_nn_forward(nn, DI.emb + DI.toff[d] * D, DI.toff[d + 1] - DI.toff[d],
                                DI.cues + d * TD_NN_MAX_CUES, &nw, zd))
            goto oom;
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            zall[d * TD_LABEL_COUNT + l] = m->bias[l] + F.value[d] * acc[l] + zd[l];
    }
    json_t *meta = json_object();
    json_t *mval = json_object();
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        size_t n = 0;
        for (size_t d = 0; d < c.n; d++) {
            const struct doc *Dd = &c.docs[d];
            if (!Dd->val || !(Dd->mask & (1u << l)))
                continue;
            z[n] = zall[d * TD_LABEL_COUNT + l];
            truth[n] = (Dd->y >> l) & 1;
            n++;
        }
        struct td_train_label_report *R = &rep->label[l];
        R->val_n = n;
        for (size_t k = 0; k < n; k++)
            R->val_pos += truth[k];
        if (!m->trained[l] || R->val_pos == 0 || R->val_pos == n) {
            R->auc = -1;
            rep->pub[l].auc = rep->ext[l].auc = -1;
            continue;
        }
        R->auc = td_roc_auc(z, truth, n, NULL);
        td_platt_fit(z, truth, n, &m->platt_a[l], &m->platt_b[l]);
        if (!(m->platt_a[l] > 0)) {
            /* higher scores are not more likely positive on validation: the
             * label's model cannot be trusted, so the rules alone decide it
             * (the trainer says so; a calibration that flips the ranking
             * would flag every message at a tiny threshold) */
            m->trained[l] = 0;
            m->platt_a[l] = 1;
            m->platt_b[l] = 0;
            R->unusable = 1;
            rep->pub[l].auc = rep->ext[l].auc = -1;
            continue;
        }
        for (size_t k = 0; k < n; k++)
            z[k] = td_model_calibrate(m, (enum td_label)l, z[k]);
        /* F-beta per label from the map: beta < 1 where a false alarm on
         * legitimate political speech costs more than a miss */
        json_t *jb = json_object_get(json_object_get(cfg, "threshold_beta"), td_label_name(l));
        double beta = json_is_number(jb) ? json_number_value(jb) : 1.0;
        if (!(beta > 0 && beta <= 10))
            beta = 1.0;
        m->threshold[l] = R->threshold = td_best_fbeta_threshold(z, truth, n, beta);
        struct td_prf prf;
        td_prf_at(z, truth, n, m->threshold[l], &prf);
        R->precision = prf.precision;
        R->recall = prf.recall;
        R->f1 = prf.f1;
        measure(&c, zall, l, 0, z, truth, m, &rep->pub[l]);
        measure(&c, zall, l, 1, z, truth, m, &rep->ext[l]);
        json_object_set_new(mval, td_label_name(l),
                            json_pack("{s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)n,
                                      "pos", (json_int_t)R->val_pos, "roc_auc", R->auc, "precision",
                                      R->precision, "recall", R->recall, "f1", R->f1, "threshold",
                                      (double)R->threshold, "roc_auc_public", rep->pub[l].auc,
                                      "roc_auc_extra", rep->ext[l].auc));
    }
    if (nn) {
        m->embed = NULL; /* borrowed below; the caller's copy is attached by the CLI */
        m->nn = nn;
        nn = NULL;
    }
    json_t *dsn = json_array();
    json_array_foreach(list, i, ds) json_array_append(dsn, json_object_get(ds, "name"));
    json_object_set_new(meta, "datasets", dsn);
    json_object_set_new(
        meta, "training",
        json_pack("{s:i,s:i,s:f,s:I,s:i,s:i,s:i}", "bits", (int)bits, "epochs", (int)epochs, "lr",
                  (double)lr0, "seed", (json_int_t)seed, "val_percent", (int)valpct, "train_docs",
                  (json_int_t)rep->train_docs, "val_docs", (json_int_t)rep->val_docs));
    json_object_set_new(meta, "validation", mval);
    if (o->embed)
        json_object_set_new(
            meta, "network",
            json_pack("{s:i,s:i,s:i,s:i,s:i,s:f,s:b,s:b,s:s?,s:I,s:I}", "dim", (int)o->embed->dim,
                      "filters", (int)m->nn->filters, "hidden", (int)m->nn->hidden, "cues",
                      (int)m->nn->ncues, "epochs", (int)nn_epochs, "lr", (double)nn_lr, "wide",
                      wide, "grammar_cues", o->grammar != NULL, "extra", o->extra, "extra_rows",
                      (json_int_t)rep->extra_rows, "extra_val", (json_int_t)rep->extra_val));
    m->meta = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
    json_decref(meta);

    *out = m;
    m = NULL;
    goto out;
oom:
    rc = td_error_set(err, TD_ENOMEM, NULL);
out:
    json_decref(cfg);
    td_model_free(m);
    corpus_free(&c);
    free(F.idx);
    free(F.off);
    free(F.value);
    free(z);
    free(zall);
    free(dropbuf);
    free(truth);
    free(order);
    deepin_free(&DI);
    td_tokens_release(&tk);
    td_grammar_result_release(&gres);
    td_nn_free(nn);
    td_nn_work_release(&nw);
    td_nn_grad_release(&ng);
    adam_free(&as);
    swa_free(&sw);
    td_norm_release(&norm);
    td_features_release(&feats);
    return rc;
}
