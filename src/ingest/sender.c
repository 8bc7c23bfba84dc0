/*
 * sender.c - canonical sender keys, the conservative cross-channel linker
 * and per-sender tallies (see sender.h for the rules and why).
 *
 * The table is a GLib hash (key -> index into an array of entries) and a
 * union-find over the indices; linking never merges on a name alone.
 */
#include "threatdesk/sender.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "threatdesk/buf.h"

#define KEY_MAX 512

static int put(char *out, size_t size, const char *a, const char *b, size_t bn)
{
    size_t an = strlen(a);
    if (an + bn + 1 > size)
        return TD_ETOOBIG;
    memcpy(out, a, an);
    memcpy(out + an, b, bn);
    out[an + bn] = '\0';
    return TD_OK;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t' || **s == '<' || **s == '"')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '>' ||
                  (*s)[*n - 1] == '"'))
        (*n)--;
}

int td_sender_key_email(const char *addr, char *out, size_t size)
{
    if (!addr)
        return TD_EINVAL;
    const char *s = addr;
    size_t n = strlen(addr);
    trim(&s, &n);
    if (n == 0 || n > 320)
        return TD_EINVAL;
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@')
            at = s + i;
    if (!at || at == s || at == s + n - 1)
        return TD_EINVAL;
    char local[321], domain[321];
    size_t ln = 0, dn = 0;
    for (const char *p = at + 1; p < s + n; p++) {
        if (*p == ' ' || *p == '@')
            return TD_EINVAL;
        domain[dn++] = (char)g_ascii_tolower(*p);
    }
    domain[dn] = '\0';
    int gmail = !strcmp(domain, "gmail.com") || !strcmp(domain, "googlemail.com");
    for (const char *p = s; p < at; p++) {
        if (*p == '+')
            break; /* sub-address tag: same mailbox */
        if (gmail && *p == '.')
            continue;
        if (*p == ' ')
            return TD_EINVAL;
        local[ln++] = (char)g_ascii_tolower(*p);
    }
    if (ln == 0)
        return TD_EINVAL;
    local[ln++] = '@';
    const char *d = gmail ? "gmail.com" : domain;
    size_t dl = strlen(d);
    memcpy(local + ln, d, dl);
    ln += dl;
    return put(out, size, "email:", local, ln);
}

int td_sender_name_normalise(const char *name, char *out, size_t size)
{
    if (!name)
        return TD_EINVAL;
    utf8proc_uint8_t *f = NULL;
    utf8proc_ssize_t fl =
        utf8proc_map((const utf8proc_uint8_t *)name, 0, &f,
                     UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                         UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
    if (fl < 0)
        return TD_EINVAL;
    /* words of letters and digits, sorted so "Smith, John" == "John Smith" */
    char *words[32];
    size_t nw = 0;
    utf8proc_ssize_t i = 0;
    char *w = (char *)f; /* rewrite in place: words end where separators were */
    size_t o = 0;
    int in = 0;
    while (i < fl) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(f + i, fl - i, &cp);
        if (k <= 0)
            break;
        utf8proc_category_t cat = utf8proc_category(cp);
        int alnum = (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                    (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
        if (alnum) {
            if (!in && nw < 32)
                words[nw++] = w + o;
            in = 1;
            memmove(w + o, f + i, (size_t)k);
            o += (size_t)k;
        } else if (in) {
            w[o++] = '\0';
            in = 0;
        }
        i += k;
    }
    w[o] = '\0';
    for (size_t a = 1; a < nw; a++)
        for (size_t b = a; b > 0 && strcmp(words[b - 1], words[b]) > 0; b--) {
            char *t = words[b];
            words[b] = words[b - 1];
            words[b - 1] = t;
        }
    size_t len = 0;
    int rc = TD_OK;
    for (size_t a = 0; a < nw; a++) {
        size_t l = strlen(words[a]);
        if (len + l + (a ? 1 : 0) + 1 > size) {
            rc = TD_ETOOBIG;
            break;
        }
        if (a)
            out[len++] = ' ';
        memcpy(out + len, words[a], l);
        len += l;
    }
    if (size)
        out[len < size ? len : size - 1] = '\0';
    free(f);
    if (rc == TD_OK && len == 0)
        rc = TD_EINVAL;
    return rc;
}

int td_sender_key_handle(const char *platform, const char *handle, char *out, size_t size)
{
    if (!platform || !handle)
        return TD_EINVAL;
    if (!strcmp(platform, "facebook")) {
        /* Facebook exports carry a display name, not a handle. */
        char norm[KEY_MAX];
        int rc = td_sender_name_normalise(handle, norm, sizeof norm);
        if (rc)
            return rc;
        char pre[32];
        snprintf(pre, sizeof pre, "%s:", platform);
        return put(out, size, pre, norm, strlen(norm));
    }
    const char *s = handle;
    size_t n = strlen(handle);
    trim(&s, &n);
    while (n && *s == '@') {
        s++;
        n--;
    }
    if (n == 0 || n > 253)
        return TD_EINVAL;
    char h[256];
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '@')
            return TD_EINVAL;
        h[i] = (char)g_ascii_tolower(s[i]);
    }
    char pre[40];
    if ((size_t)snprintf(pre, sizeof pre, "%s:@", platform) >= sizeof pre)
        return TD_EINVAL;
    return put(out, size, pre, h, n);
}

int td_sender_canonicalise(struct td_message *m)
{
    char key[KEY_MAX];
    int rc = TD_EINVAL;
    const char *ch = m->channel ? m->channel : "";
    if (m->sender_handle) {
        if (!strcmp(ch, "email") ||
            (strchr(m->sender_handle, '@') > m->sender_handle && strchr(m->sender_handle, '.')))
            rc = td_sender_key_email(m->sender_handle, key, sizeof key);
        if (rc && *ch && strcmp(ch, "email") != 0)
            rc = td_sender_key_handle(ch, m->sender_handle, key, sizeof key);
    }
    if (rc && m->sender_name) {
        if (!strcmp(ch, "facebook")) {
            rc = td_sender_key_handle("facebook", m->sender_name, key, sizeof key);
        } else {
            char norm[KEY_MAX - 8];
            rc = td_sender_name_normalise(m->sender_name, norm, sizeof norm);
            if (rc == TD_OK)
                rc = put(key, sizeof key, "name:", norm, strlen(norm));
        }
    }
    if (rc && m->sender_id && *ch && strcmp(ch, "email") != 0 &&
        (size_t)snprintf(key, sizeof key, "%s:id:%s", ch, m->sender_id) < sizeof key)
        rc = TD_OK; /* a platform user id (a Bluesky DID) is an account too */
    if (rc)
        return td_message_set(&m->sender, NULL, 0);
    return td_message_set(&m->sender, key, (size_t)-1);
}

static int key_of(const struct td_message *m, char *out, size_t size);

int td_sender_key_of(const struct td_message *m, char *out, size_t size)
{
    int rc = key_of(m, out, size);
    /* A sender the caller named is never dropped: what cannot be read as
     * an address, handle or name is kept as given. */
    if (rc == TD_EINVAL && m->sender && *m->sender)
        rc = (size_t)snprintf(out, size, "%s", m->sender) < size ? TD_OK : TD_ETOOBIG;
    return rc;
}

static int key_of(const struct td_message *m, char *out, size_t size)
{
    static const char *const platforms[] = {"twitter", "bluesky", "instagram", "facebook"};
    const char *raw = m->sender;
    if (raw && *raw) {
        const char *colon = strchr(raw, ':');
        size_t pl = colon ? (size_t)(colon - raw) : 0;
        /* Already a key: canonicalise what follows the prefix again, so
         * "email:Bob.Smith+x@GMAIL.com" and "email:bobsmith@gmail.com" are
         * one sender. */
        if (pl == 5 && !memcmp(raw, "email", 5))
            return td_sender_key_email(colon + 1, out, size);
        if (pl == 4 && !memcmp(raw, "name", 4)) {
            char norm[KEY_MAX - 8];
            int rc = td_sender_name_normalise(colon + 1, norm, sizeof norm);
            return rc ? rc : put(out, size, "name:", norm, strlen(norm));
        }
        for (size_t i = 0; i < sizeof platforms / sizeof platforms[0]; i++)
            if (pl == strlen(platforms[i]) && !memcmp(raw, platforms[i], pl)) {
                if (!strncmp(colon + 1, "id:", 3))
                    return (size_t)snprintf(out, size, "%s", raw) < size ? TD_OK : TD_ETOOBIG;
                return td_sender_key_handle(platforms[i], colon + 1, out, size);
            }
        /* Another scheme's key ("x:1", "sms:+4477..."): opaque, kept. */
        size_t k = 0;
        while (k < pl && ((raw[k] >= 'a' && raw[k] <= 'z') || (raw[k] >= '0' && raw[k] <= '9')))
            k++;
        if (colon && pl > 0 && k == pl && colon[1] && !strchr(raw, '@') && !strchr(raw, ' '))
            return (size_t)snprintf(out, size, "%s", raw) < size ? TD_OK : TD_ETOOBIG;
    }
    /* A raw address or handle, or nothing: the reader's rules. */
    struct td_message tmp;
    td_message_init(&tmp);
    tmp.channel = m->channel;
    tmp.sender_handle = raw && *raw ? (char *)raw : m->sender_handle;
    tmp.sender_name = m->sender_name;
    tmp.sender_id = m->sender_id;
    int rc = td_sender_canonicalise(&tmp);
    if (rc == TD_OK && !tmp.sender && raw && *raw) {
        /* Not an address or a handle of a known channel: a name. */
        tmp.sender_handle = NULL;
        tmp.sender_name = (char *)raw;
        rc = td_sender_canonicalise(&tmp);
    }
    if (rc)
        return rc;
    if (!tmp.sender)
        return TD_EINVAL;
    rc = (size_t)snprintf(out, size, "%s", tmp.sender) < size ? TD_OK : TD_ETOOBIG;
    free(tmp.sender);
    return rc;
}

/* ---- tallies -------------------------------------------------------------------- */

struct entry {
    char *key;
    char *name; /* first display name seen */
    char *aliases;
    size_t count, threats;
    int worst;
    size_t parent;
};

struct td_senders {
    GHashTable *index; /* key (owned by entry) -> index + 1 */
    struct entry *e;
    size_t n, cap, max;
};

int td_senders_new(size_t max_senders, struct td_senders **out)
{
    struct td_senders *s = calloc(1, sizeof *s);
    if (!s)
        return TD_ENOMEM;
    s->max = max_senders ? max_senders : 1000000;
    s->index = g_hash_table_new(g_str_hash, g_str_equal);
    *out = s;
    return TD_OK;
}

void td_senders_free(struct td_senders *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].key);
        free(s->e[i].name);
        free(s->e[i].aliases);
    }
    free(s->e);
    g_hash_table_destroy(s->index);
    free(s);
}

static long lookup(struct td_senders *s, const char *key)
{
    gpointer v = g_hash_table_lookup(s->index, key);
    return v ? (long)GPOINTER_TO_SIZE(v) - 1 : -1;
}

int td_senders_add(struct td_senders *s, const struct td_message *m, enum td_severity sev,
                   int threat)
{
    char key[KEY_MAX];
    const char *k = m->sender;
    if (!k) {
        struct td_message tmp;
        td_message_init(&tmp);
        tmp.channel = m->channel;
        tmp.sender_name = m->sender_name;
        tmp.sender_handle = m->sender_handle;
        int rc = td_sender_canonicalise(&tmp);
        if (rc)
            return rc;
        snprintf(key, sizeof key, "%s", tmp.sender ? tmp.sender : "(unknown)");
        free(tmp.sender);
        k = key;
    }
    long i = lookup(s, k);
    if (i < 0 && s->n >= s->max) {
        k = "other";
        i = lookup(s, k);
    }
    if (i < 0) {
        if (s->n == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 64;
            struct entry *e = realloc(s->e, ncap * sizeof *e);
            if (!e)
                return TD_ENOMEM;
            s->e = e;
            s->cap = ncap;
        }
        struct entry *e = &s->e[s->n];
        memset(e, 0, sizeof *e);
        if (!(e->key = strdup(k)))
            return TD_ENOMEM;
        e->parent = s->n;
        e->worst = TD_SEVERITY_NONE;
        g_hash_table_insert(s->index, e->key, GSIZE_TO_POINTER(s->n + 1));
        i = (long)s->n++;
    }
    struct entry *e = &s->e[i];
    if (!e->name && m->sender_name && *m->sender_name)
        e->name = strdup(m->sender_name);
    e->count++;
    if (threat)
        e->threats++;
    if ((int)sev > e->worst)
        e->worst = (int)sev;
    return TD_OK;
}

size_t td_senders_threats(const struct td_senders *s, const char *key)
{
    gpointer v = key ? g_hash_table_lookup(s->index, key) : NULL;
    return v ? s->e[GPOINTER_TO_SIZE(v) - 1].threats : 0;
}

static size_t find(struct td_senders *s, size_t i)
{
    while (s->e[i].parent != i) {
        s->e[i].parent = s->e[s->e[i].parent].parent;
        i = s->e[i].parent;
    }
    return i;
}

/* The stem of a key: letters and digits of the local part / handle (for a
 * Bluesky handle, its first label).  Empty for name: and facebook: keys. */
static void stem_of(const char *key, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = strchr(key, ':');
    if (!p || strncmp(key, "name:", 5) == 0 || strncmp(key, "facebook:", 9) == 0)
        return;
    p++;
    if (*p == '@')
        p++;
    int email = strncmp(key, "email:", 6) == 0;
    size_t o = 0;
    for (; *p && o + 1 < size; p++) {
        if ((email && *p == '@') || (!email && *p == '.'))
            break;
        if (g_ascii_isalnum(*p))
            out[o++] = *p;
    }
    out[o] = '\0';
}

/* "stem\x1fname" of an entry into out; 0 when it cannot be linked. */
static int combo_of(const struct entry *e, char *out, size_t size)
{
    char stem[256], name[256];
    stem_of(e->key, stem, sizeof stem);
    if (strlen(stem) < 5 || !e->name ||
        td_sender_name_normalise(e->name, name, sizeof name) != TD_OK)
        return 0;
    return (size_t)snprintf(out, size, "%s\x1f%s", stem, name) < size;
}

static char *platform_combo(const struct entry *e, const char *combo)
{
    const char *colon = strchr(e->key, ':');
    return g_strdup_printf("%.*s\x1f%s", (int)(colon - e->key), e->key, combo);
}

void td_senders_link(struct td_senders *s)
{
    /* Pass 1: how many accounts of each platform share a (stem, name).  Two
     * on one platform make the match ambiguous, and then none is linked. */
    GHashTable *per_platform = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    char combo[520];
    for (size_t i = 0; i < s->n; i++) {
        if (!combo_of(&s->e[i], combo, sizeof combo))
            continue;
        char *pc = platform_combo(&s->e[i], combo);
        size_t c = GPOINTER_TO_SIZE(g_hash_table_lookup(per_platform, pc));
        g_hash_table_insert(per_platform, pc, GSIZE_TO_POINTER(c + 1));
    }
    /* Pass 2: join the unambiguous accounts of different platforms. */
    GHashTable *first = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < s->n; i++) {
        if (!combo_of(&s->e[i], combo, sizeof combo))
            continue;
        char *pc = platform_combo(&s->e[i], combo);
        size_t c = GPOINTER_TO_SIZE(g_hash_table_lookup(per_platform, pc));
        g_free(pc);
        if (c != 1)
            continue;
        gpointer v = g_hash_table_lookup(first, combo);
        if (!v) {
            g_hash_table_insert(first, g_strdup(combo), GSIZE_TO_POINTER(i + 1));
            continue;
        }
        size_t a = find(s, i), b = find(s, GPOINTER_TO_SIZE(v) - 1);
        if (a != b)
            s->e[a].parent = b;
    }
    g_hash_table_destroy(first);
    g_hash_table_destroy(per_platform);
}

static int cmp_stat(const void *x, const void *y)
{
    const struct td_sender_stat *a = x, *b = y;
    if (a->worst != b->worst)
        return (int)b->worst - (int)a->worst;
    if (a->count != b->count)
        return a->count < b->count ? 1 : -1;
    return strcmp(a->key, b->key);
}

int td_senders_list(struct td_senders *s, struct td_sender_stat **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct td_sender_stat *st = calloc(s->n ? s->n : 1, sizeof *st);
    size_t *slot = calloc(s->n ? s->n : 1, sizeof *slot);
    if (!st || !slot) {
        free(st);
        free(slot);
        return TD_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].aliases); /* rebuilt below, so a second call agrees */
        s->e[i].aliases = NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        size_t r = find(s, i);
        if (r == i)
            slot[i] = k++;
    }
    for (size_t i = 0; i < s->n; i++) {
        size_t r = find(s, i);
        struct td_sender_stat *t = &st[slot[r]];
        struct entry *e = &s->e[i];
        t->key = s->e[r].key;
        if (!t->name)
            t->name = s->e[r].name ? s->e[r].name : e->name;
        t->count += e->count;
        t->threats += e->threats;
        if ((enum td_severity)e->worst > t->worst)
            t->worst = (enum td_severity)e->worst;
        if (r != i) {
            struct entry *re = &s->e[r];
            char *al =
                re->aliases ? g_strdup_printf("%s %s", re->aliases, e->key) : g_strdup(e->key);
            free(re->aliases);
            re->aliases = al ? strdup(al) : NULL;
            g_free(al);
        }
    }
    for (size_t i = 0; i < k; i++) {
        long r = lookup(s, st[i].key);
        st[i].aliases = r >= 0 ? s->e[r].aliases : NULL;
    }
    free(slot);
    qsort(st, k, sizeof *st, cmp_stat);
    *out = st;
    *n = k;
    return TD_OK;
}
