/*
 * social.c - platform JSON (X/Twitter, Bluesky, Facebook, Instagram) ->
 * td_message.  The shapes are described in social.h.
 *
 * td_social_open() parses every JSON document of the input with jansson
 * and flattens the records into one list of items (a borrowed reference to
 * the record, its kind, its JSON pointer, and for Twitter v2 the document
 * whose "includes" resolve handles and quoted tweets).  td_social_next()
 * turns one item into a message, so a record without text is one error and
 * its neighbours are still read.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include "threatdesk/social.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threatdesk/sender.h"

#define MAX_ITEMS (10u * 1000 * 1000)
#define MAX_THREAD_DEPTH 200

enum kind {
    K_TW_V2,       /* API v2 tweet; ctx = the response (includes) */
    K_TW_ARCHIVE,  /* archive / v1.1 tweet object */
    K_BSKY_VIEW,   /* postView (or notification): author + record */
    K_BSKY_RECORD, /* listRecords entry: uri + value */
    K_FB_COMMENT,  /* comments_v2 entry */
    K_IG_COMMENT,  /* string_map_data entry */
};

struct item {
    json_t *rec; /* borrowed from a root */
    json_t *ctx; /* borrowed: the v2 response, or NULL */
    enum kind kind;
    char *pointer; /* JSON pointer of rec within its document */
};

struct td_social {
    json_t **roots;
    size_t nroots;
    struct item *items;
    size_t n, cap, next;
    enum td_format format;
    char *source;
    struct td_error pending; /* a bad document after good ones: reported at the end */
    int has_pending;
};

/* ---- small helpers ---------------------------------------------------------------- */

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *path(json_t *o, const char *a, const char *b)
{
    json_t *x = json_object_get(o, a);
    return b ? json_object_get(x, b) : x;
}

int td_social_unmojibake(const char *s, size_t n, char **out, size_t *outlen)
{
    *out = NULL;
    if (!s)
        return 0;
    int high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* only two-byte sequences for U+0080..U+00FF (lead C2 or C3) */
            if ((c != 0xC2 && c != 0xC3) || i + 1 >= n)
                return 0;
            high = 1;
            i++;
        }
    }
    if (!high)
        return 0;
    char *b = malloc(n + 1);
    if (!b)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            b[o++] = (char)(((c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3F));
            i++;
        } else {
            b[o++] = (char)c;
        }
    }
    b[o] = '\0';
    if (!g_utf8_validate(b, (gssize)o, NULL)) {
        free(b); /* real Latin-1 text ("café"), not mojibake */
        return 0;
    }
    *out = b;
    if (outlen)
        *outlen = o;
    return 1;
}

int td_social_parse_time(const char *s, int64_t *out)
{
    if (!s || !*s)
        return TD_EPARSE;
    GDateTime *d = g_date_time_new_from_iso8601(s, NULL);
    if (!d) {
        /* Bluesky allows no offset ("2026-11-03T09:15:00") meaning UTC */
        GTimeZone *utc = g_time_zone_new_utc();
        d = g_date_time_new_from_iso8601(s, utc);
        g_time_zone_unref(utc);
    }
    if (d) {
        *out = g_date_time_to_unix(d);
        g_date_time_unref(d);
        return TD_OK;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a %b %d %H:%M:%S %z %Y", &tm);
    if (!end || *end)
        return TD_EPARSE;
    long off = tm.tm_gmtoff;
    *out = (int64_t)timegm(&tm) - off;
    return TD_OK;
}

/* Set a field, repairing mojibake when asked (Facebook, Instagram). */
static int set(char **field, const char *s, int fix)
{
    if (!s)
        return TD_OK;
    if (fix) {
        char *f = NULL;
        size_t fl = 0;
        int r = td_social_unmojibake(s, strlen(s), &f, &fl);
        if (r < 0)
            return TD_ENOMEM;
        if (r == 1) {
            free(*field);
            *field = f;
            return TD_OK;
        }
    }
    return td_message_set(field, s, (size_t)-1);
}

/* ---- flattening ------------------------------------------------------------------------ */

static int add(struct td_social *s, json_t *rec, json_t *ctx, enum kind k, const char *ptr)
{
    if (!json_is_object(rec))
        return TD_OK;
    if (s->n == MAX_ITEMS)
        return TD_ETOOBIG;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct item *it = realloc(s->items, ncap * sizeof *it);
        if (!it)
            return TD_ENOMEM;
        s->items = it;
        s->cap = ncap;
    }
    char *p = strdup(ptr);
    if (!p)
        return TD_ENOMEM;
    s->items[s->n++] = (struct item){rec, ctx, k, p};
    return TD_OK;
}

static int add_array(struct td_social *s, json_t *arr, json_t *ctx, enum kind k, const char *ptr,
                     const char *inner)
{
    size_t i;
    json_t *v;
    char p[256];
    json_array_foreach(arr, i, v)
    {
        json_t *rec = inner ? json_object_get(v, inner) : v;
        snprintf(p, sizeof p, "%s/%zu%s%s", ptr, i, inner ? "/" : "", inner ? inner : "");
        int rc = add(s, rec, ctx, k, p);
        if (rc)
            return rc;
    }
    return TD_OK;
}

static int add_thread(struct td_social *s, json_t *node, const char *ptr, int depth)
{
    if (!json_is_object(node) || depth > MAX_THREAD_DEPTH)
        return TD_OK;
    char p[1024];
    int rc = TD_OK;
    json_t *parent = json_object_get(node, "parent");
    if (parent && depth == 0) { /* the ancestors, oldest first */
        snprintf(p, sizeof p, "%s/parent", ptr);
        if ((rc = add_thread(s, parent, p, -MAX_THREAD_DEPTH)))
            return rc;
    }
    snprintf(p, sizeof p, "%s/post", ptr);
    if (json_object_get(node, "post") &&
        (rc = add(s, json_object_get(node, "post"), NULL, K_BSKY_VIEW, p)))
        return rc;
    if (depth < 0)
        return TD_OK; /* ancestors: their replies are the branch we came from */
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(node, "replies"), i, r)
    {
        snprintf(p, sizeof p, "%s/replies/%zu", ptr, i);
        if ((rc = add_thread(s, r, p, depth + 1)))
            return rc;
    }
    return TD_OK;
}

static int is_bsky_post(json_t *rec)
{
    const char *t = str(json_object_get(rec, "record"), "$type");
    const char *u = str(rec, "uri");
    return (t && !strcmp(t, "app.bsky.feed.post")) || (u && !strncmp(u, "at://", 5));
}

/* One document: which shape, and its records.  Returns TD_EFORMAT when it
 * is none of them. */
static int flatten(struct td_social *s, json_t *doc, enum td_format *fmt)
{
    json_t *v;
    if (json_is_object(doc)) {
        if ((v = json_object_get(doc, "data")) &&
            (json_object_get(doc, "includes") || json_object_get(doc, "meta") || json_is_array(v) ||
             json_object_get(v, "author_id"))) {
            *fmt = TD_FORMAT_TWITTER;
            if (json_is_array(v))
                return add_array(s, v, doc, K_TW_V2, "/data", NULL);
            return add(s, v, doc, K_TW_V2, "/data");
        }
        if (json_object_get(doc, "author_id") && json_object_get(doc, "text")) {
            *fmt = TD_FORMAT_TWITTER;
            return add(s, doc, NULL, K_TW_V2, "");
        }
        if (json_object_get(doc, "full_text") || json_object_get(doc, "id_str")) {
            *fmt = TD_FORMAT_TWITTER;
            return add(s, doc, NULL, K_TW_ARCHIVE, "");
        }
        if ((v = json_object_get(doc, "feed")) && json_is_array(v)) {
            *fmt = TD_FORMAT_BLUESKY;
            return add_array(s, v, NULL, K_BSKY_VIEW, "/feed", "post");
        }
        if ((v = json_object_get(doc, "thread")) && json_is_object(v)) {
            *fmt = TD_FORMAT_BLUESKY;
            return add_thread(s, v, "/thread", 0);
        }
        if ((v = json_object_get(doc, "posts")) && json_is_array(v)) {
            *fmt = TD_FORMAT_BLUESKY;
            return add_array(s, v, NULL, K_BSKY_VIEW, "/posts", NULL);
        }
        if ((v = json_object_get(doc, "notifications")) && json_is_array(v)) {
            *fmt = TD_FORMAT_BLUESKY;
            return add_array(s, v, NULL, K_BSKY_VIEW, "/notifications", NULL);
        }
        if ((v = json_object_get(doc, "records")) && json_is_array(v)) {
            *fmt = TD_FORMAT_BLUESKY;
            return add_array(s, v, NULL, K_BSKY_RECORD, "/records", NULL);
        }
        if (is_bsky_post(doc)) {
            *fmt = TD_FORMAT_BLUESKY;
            return add(s, doc, NULL, K_BSKY_VIEW, "");
        }
        if ((v = json_object_get(doc, "comments_v2")) && json_is_array(v)) {
            *fmt = TD_FORMAT_FACEBOOK;
            return add_array(s, v, NULL, K_FB_COMMENT, "/comments_v2", NULL);
        }
        if ((v = json_object_get(doc, "comments_media_comments")) && json_is_array(v)) {
            *fmt = TD_FORMAT_FACEBOOK;
            return add_array(s, v, NULL, K_IG_COMMENT, "/comments_media_comments", NULL);
        }
        return TD_EFORMAT;
    }
    if (json_is_array(doc) && json_array_size(doc) > 0) {
        json_t *first = json_array_get(doc, 0);
        if (json_object_get(first, "tweet")) {
            *fmt = TD_FORMAT_TWITTER;
            return add_array(s, doc, NULL, K_TW_ARCHIVE, "", "tweet");
        }
        if (json_object_get(first, "string_map_data")) {
            *fmt = TD_FORMAT_FACEBOOK;
            return add_array(s, doc, NULL, K_IG_COMMENT, "", NULL);
        }
        if (json_object_get(first, "full_text") || json_object_get(first, "id_str")) {
            *fmt = TD_FORMAT_TWITTER;
            return add_array(s, doc, NULL, K_TW_ARCHIVE, "", NULL);
        }
        if (json_object_get(first, "author_id")) {
            *fmt = TD_FORMAT_TWITTER;
            return add_array(s, doc, NULL, K_TW_V2, "", NULL);
        }
        if (is_bsky_post(first) || json_object_get(first, "post")) {
            *fmt = TD_FORMAT_BLUESKY;
            return add_array(s, doc, NULL, K_BSKY_VIEW, "",
                             json_object_get(first, "post") ? "post" : NULL);
        }
        if (json_object_get(first, "comments_v2")) /* rare: an array of files */
            return TD_EFORMAT;
    }
    return TD_EFORMAT;
}

/* ---- detection --------------------------------------------------------------------------- */

static int head_has(const unsigned char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (h[i] == (unsigned char)needle[0] && memcmp(h + i, needle, k) == 0)
            return 1;
    return 0;
}

enum td_format td_social_detect(const unsigned char *h, size_t n)
{
    size_t i = 0;
    if (n >= 3 && !memcmp(h, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n'))
        i++;
    if (n - i >= 11 && !memcmp(h + i, "window.YTD.", 11))
        return TD_FORMAT_TWITTER;
    if (i >= n || (h[i] != '{' && h[i] != '['))
        return TD_FORMAT_AUTO;
    h += i;
    n -= i;
    if (head_has(h, n, "\"comments_v2\"") || head_has(h, n, "\"string_map_data\"") ||
        head_has(h, n, "\"comments_media_comments\""))
        return TD_FORMAT_FACEBOOK;
    if (head_has(h, n, "\"app.bsky.feed.post\"") || head_has(h, n, "\"at://did:"))
        return TD_FORMAT_BLUESKY;
    /* Generic JSON Lines may well have an "author_id" or "id_str" column:
     * claim Twitter only on pairs of fields the platform always writes. */
    if (head_has(h, n, "\"edit_history_tweet_ids\"") ||
        (head_has(h, n, "\"author_id\"") && head_has(h, n, "\"includes\"")) ||
        (head_has(h, n, "\"full_text\"") && head_has(h, n, "\"id_str\"")))
        return TD_FORMAT_TWITTER;
    return TD_FORMAT_AUTO;
}

/* The formats' wire names, here so that social.c stands alone (fuzzing). */
static const char *platform(enum td_format f)
{
    switch (f) {
    case TD_FORMAT_TWITTER:
        return "twitter";
    case TD_FORMAT_BLUESKY:
        return "bluesky";
    case TD_FORMAT_FACEBOOK:
        return "facebook";
    default:
        return "other";
    }
}

/* ---- open / next / close ---------------------------------------------------------------- */

int td_social_open(const char *bytes, size_t len, enum td_format fmt, const char *source,
                   struct td_social **out, struct td_error *err)
{
    struct td_social *s = calloc(1, sizeof *s);
    if (!s || !(s->source = strdup(source ? source : "-"))) {
        free(s);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    int rc = TD_OK;
    size_t off = 0;
    /* tweets.js: skip "window.YTD.<name>.part<N> = " before the array */
    while (off < len &&
           (bytes[off] == ' ' || bytes[off] == '\n' || bytes[off] == '\r' || bytes[off] == '\t'))
        off++;
    if (len - off >= 11 && !memcmp(bytes + off, "window.YTD.", 11)) {
        const char *eq = memchr(bytes + off, '=', len - off < 256 ? len - off : 256);
        if (!eq) {
            td_error_at(err, s->source, 1, off);
            rc = td_error_set(err, TD_EPARSE, "tweets.js without '=' after window.YTD...");
            goto fail;
        }
        off = (size_t)(eq - bytes) + 1;
    }
    enum td_format seen = TD_FORMAT_AUTO;
    size_t base_line = 0, counted = 0;
    while (off < len) {
        while (off < len && (bytes[off] == ' ' || bytes[off] == '\n' || bytes[off] == '\r' ||
                             bytes[off] == '\t' || bytes[off] == ';'))
            off++;
        if (off >= len)
            break;
        /* jansson counts lines from the document's start; errors want the file's */
        for (; counted < off; counted++)
            base_line += bytes[counted] == '\n';
        json_error_t jerr;
        json_t *doc = json_loadb(bytes + off, len - off, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!doc) {
            td_error_at(err, s->source, base_line + (size_t)jerr.line, off + (size_t)jerr.position);
            rc = td_error_set(err, TD_EPARSE, "invalid JSON: %s", jerr.text);
            if (s->nroots) {
                /* keep the documents read so far; next() reports this after them */
                td_error_clear(&s->pending);
                td_error_at(&s->pending, s->source, base_line + (size_t)jerr.line,
                            off + (size_t)jerr.position);
                td_error_set(&s->pending, TD_EPARSE, "invalid JSON: %s", jerr.text);
                s->has_pending = 1;
                break;
            }
            goto fail;
        }
        off += (size_t)jerr.position;
        json_t **r = realloc(s->roots, (s->nroots + 1) * sizeof *r);
        if (!r) {
            json_decref(doc);
            rc = td_error_set(err, TD_ENOMEM, NULL);
            goto fail;
        }
        s->roots = r;
        s->roots[s->nroots++] = doc;
        enum td_format f = TD_FORMAT_AUTO;
        int frc = flatten(s, doc, &f);
        if (frc == TD_EFORMAT) {
            td_error_at(err, s->source, base_line + 1, off);
            rc = td_error_set(err, TD_EFORMAT,
                              "JSON is not a Twitter, Bluesky, Facebook or Instagram shape");
            goto fail;
        }
        if (frc) {
            rc = td_error_set(err, frc, "too many records");
            goto fail;
        }
        if (fmt != TD_FORMAT_AUTO && f != fmt) {
            td_error_at(err, s->source, 0, off);
            rc = td_error_set(err, TD_EFORMAT, "expected %s JSON, found %s", platform(fmt),
                              platform(f));
            goto fail;
        }
        seen = f;
    }
    if (!s->nroots) {
        td_error_at(err, s->source, 1, 0);
        rc = td_error_set(err, TD_EPARSE, "no JSON document");
        goto fail;
    }
    s->format = seen;
    *out = s;
    if (err)
        td_error_clear(err);
    return TD_OK;
fail:
    td_social_close(s);
    return rc;
}

enum td_format td_social_format(const struct td_social *s)
{
    return s->format;
}

void td_social_close(struct td_social *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].pointer);
    free(s->items);
    for (size_t i = 0; i < s->nroots; i++)
        json_decref(s->roots[i]);
    free(s->roots);
    free(s->source);
    free(s);
}

static json_t *find_by_id(json_t *arr, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *x = str(v, "id");
        if (x && id && !strcmp(x, id))
            return v;
    }
    return NULL;
}

static int set_time(struct td_message *m, const char *s)
{
    int64_t t;
    if (s && td_social_parse_time(s, &t) == TD_OK)
        m->time = t;
    return TD_OK;
}

static int url_printf(struct td_message *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int url_printf(struct td_message *m, const char *fmt, ...)
{
    char u[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(u, sizeof u, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof u)
        return TD_OK; /* absurd handle: no URL rather than a wrong one */
    return td_message_set(&m->url, u, (size_t)n);
}

static int twitter_v2(struct item *it, struct td_message *m)
{
    json_t *t = it->rec;
    json_t *inc = json_object_get(it->ctx, "includes");
    const char *id = str(t, "id");
    const char *author = str(t, "author_id");
    json_t *user = find_by_id(json_object_get(inc, "users"), author);
    const char *handle = str(user, "username");
    int rc = set(&m->message_id, id, 0) || set(&m->id, id, 0) || set(&m->text, str(t, "text"), 0) ||
             set(&m->sender_id, author, 0) || set(&m->sender_handle, handle, 0) ||
             set(&m->sender_name, str(user, "name"), 0);
    if (rc)
        return TD_ENOMEM;
    set_time(m, str(t, "created_at"));
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(t, "referenced_tweets"), i, ref)
    {
        const char *type = str(ref, "type"), *rid = str(ref, "id");
        if (!type || !rid)
            continue;
        if (!strcmp(type, "replied_to") && set(&m->reply_to, rid, 0))
            return TD_ENOMEM;
        if (!strcmp(type, "quoted")) {
            json_t *q = find_by_id(json_object_get(inc, "tweets"), rid);
            if (set(&m->quoted_text, str(q, "text"), 0))
                return TD_ENOMEM;
        }
    }
    if (id && handle)
        return url_printf(m, "https://x.com/%s/status/%s", handle, id);
    if (id)
        return url_printf(m, "https://x.com/i/web/status/%s", id);
    return TD_OK;
}

static int twitter_archive(struct item *it, struct td_message *m)
{
    json_t *t = it->rec;
    const char *id = str(t, "id_str") ? str(t, "id_str") : str(t, "id");
    const char *text = str(t, "full_text") ? str(t, "full_text") : str(t, "text");
    json_t *user = json_object_get(t, "user"); /* v1.1 tweets; archives omit it */
    const char *handle = str(user, "screen_name");
    if (set(&m->message_id, id, 0) || set(&m->id, id, 0) || set(&m->text, text, 0) ||
        set(&m->sender_handle, handle, 0) || set(&m->sender_name, str(user, "name"), 0) ||
        set(&m->sender_id, str(user, "id_str"), 0) ||
        set(&m->reply_to, str(t, "in_reply_to_status_id_str"), 0))
        return TD_ENOMEM;
    set_time(m, str(t, "created_at"));
    json_t *q = json_object_get(t, "quoted_status");
    const char *qt = str(q, "full_text") ? str(q, "full_text") : str(q, "text");
    if (set(&m->quoted_text, qt, 0))
        return TD_ENOMEM;
    if (id && handle)
        return url_printf(m, "https://x.com/%s/status/%s", handle, id);
    if (id)
        return url_printf(m, "https://x.com/i/web/status/%s", id);
    return TD_OK;
}

/* The record key of an at:// URI (its last path segment). */
static const char *rkey(const char *uri)
{
    const char *s = uri ? strrchr(uri, '/') : NULL;
    return s && s[1] ? s + 1 : NULL;
}

static int bluesky(struct item *it, struct td_message *m)
{
    json_t *p = it->rec;
    json_t *rec =
        it->kind == K_BSKY_RECORD ? json_object_get(p, "value") : json_object_get(p, "record");
    json_t *author = json_object_get(p, "author");
    const char *uri = str(p, "uri");
    const char *handle = str(author, "handle");
    const char *did = str(author, "did");
    char d[256];
    if (!did && uri && !strncmp(uri, "at://", 5)) {
        /* listRecords: the repo's DID is the URI's authority */
        const char *a = uri + 5, *e = strchr(a, '/');
        size_t n = e ? (size_t)(e - a) : strlen(a);
        if (n < sizeof d) {
            memcpy(d, a, n);
            d[n] = '\0';
            did = d;
        }
    }
    if (set(&m->message_id, uri, 0) || set(&m->id, uri, 0) || set(&m->text, str(rec, "text"), 0) ||
        set(&m->sender_id, did, 0) || set(&m->sender_handle, handle, 0) ||
        set(&m->sender_name, str(author, "displayName"), 0) ||
        set(&m->reply_to, str(path(rec, "reply", "parent"), "uri"), 0))
        return TD_ENOMEM;
    set_time(m, str(rec, "createdAt"));
    /* quoted post: the hydrated view carries its text; the record only a
     * reference (app.bsky.embed.record or recordWithMedia) */
    json_t *ev = json_object_get(p, "embed");
    json_t *qr = json_object_get(ev, "record");
    if (json_object_get(qr, "record")) /* recordWithMedia#view */
        qr = json_object_get(qr, "record");
    const char *qt = str(json_object_get(qr, "value"), "text");
    if (set(&m->quoted_text, qt, 0))
        return TD_ENOMEM;
    const char *rk = rkey(uri);
    const char *who = handle ? handle : did;
    if (rk && who)
        return url_printf(m, "https://bsky.app/profile/%s/post/%s", who, rk);
    return TD_OK;
}

static int facebook(struct item *it, struct td_message *m, size_t idx)
{
    json_t *e = it->rec;
    json_t *c = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(e, "data"), i, d)
    {
        if ((c = json_object_get(d, "comment")))
            break;
    }
    if (!c)
        return TD_OK; /* no comment: next() reports the missing text */
    if (set(&m->text, str(c, "comment"), 1) || set(&m->sender_name, str(c, "author"), 1) ||
        set(&m->subject, str(e, "title"), 1))
        return TD_ENOMEM;
    json_t *ts = json_object_get(c, "timestamp");
    if (!json_is_integer(ts))
        ts = json_object_get(e, "timestamp");
    if (json_is_integer(ts))
        m->time = (int64_t)json_integer_value(ts);
    char id[64];
    snprintf(id, sizeof id, "facebook:%lld:%zu", (long long)m->time, idx);
    return td_message_set(&m->id, id, (size_t)-1);
}

static int instagram(struct item *it, struct td_message *m, size_t idx)
{
    json_t *smd = json_object_get(it->rec, "string_map_data");
    if (set(&m->text, str(json_object_get(smd, "Comment"), "value"), 1) ||
        set(&m->to, str(json_object_get(smd, "Media Owner"), "value"), 1))
        return TD_ENOMEM;
    json_t *ts = path(smd, "Time", "timestamp");
    if (json_is_integer(ts))
        m->time = (int64_t)json_integer_value(ts);
    char id[64];
    snprintf(id, sizeof id, "instagram:%lld:%zu", (long long)m->time, idx);
    return td_message_set(&m->id, id, (size_t)-1);
}

int td_social_next(struct td_social *s, struct td_message *m, struct td_error *err)
{
    td_message_release(m);
    if (s->next >= s->n) {
        if (!s->has_pending)
            return TD_EOF;
        s->has_pending = 0;
        if (err)
            *err = s->pending;
        return s->pending.code;
    }
    size_t idx = s->next++;
    struct item *it = &s->items[idx];
    const char *channel = "twitter";
    int rc = TD_OK;
    switch (it->kind) {
    case K_TW_V2:
        rc = twitter_v2(it, m);
        break;
    case K_TW_ARCHIVE:
        rc = twitter_archive(it, m);
        break;
    case K_BSKY_VIEW:
    case K_BSKY_RECORD:
        channel = "bluesky";
        rc = bluesky(it, m);
        break;
    case K_FB_COMMENT:
        channel = "facebook";
        rc = facebook(it, m, idx + 1);
        break;
    case K_IG_COMMENT:
        channel = "instagram";
        rc = instagram(it, m, idx + 1);
        break;
    }
    if (rc)
        return td_error_set(err, TD_ENOMEM, NULL);
    char src[1400];
    snprintf(src, sizeof src, "%s#%s", s->source, it->pointer);
    char *orig = json_dumps(it->rec, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (td_message_set(&m->channel, channel, (size_t)-1) ||
        td_message_set(&m->source, src, (size_t)-1) || !orig) {
        free(orig);
        return td_error_set(err, TD_ENOMEM, NULL);
    }
    m->original = orig;
    m->original_len = strlen(orig);
    m->record = idx + 1;
    if (!m->text) {
        td_error_at(err, s->source, idx + 1, 0);
        td_error_field(err, it->pointer);
        return td_error_set(err, TD_EPARSE, "%s record without text", channel);
    }
    m->text_len = strlen(m->text);
    if (!m->id) {
        char id[64];
        snprintf(id, sizeof id, "%s:%zu", channel, idx + 1);
        if (td_message_set(&m->id, id, (size_t)-1))
            return td_error_set(err, TD_ENOMEM, NULL);
    }
    if (td_sender_canonicalise(m))
        return td_error_set(err, TD_ENOMEM, NULL);
    return TD_OK;
}
