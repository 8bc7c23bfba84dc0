/*
 * dedupe.c - duplicate messages by id or by (sender, normalised text); see
 * dedupe.h.  Keys live in a GLib hash table mapping key -> the first id.
 */
#include "threatdesk/dedupe.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

#include "threatdesk/error.h"

struct td_dedupe {
    GHashTable *seen; /* key (owned) -> first id (owned) */
    size_t max;
};

int td_dedupe_new(size_t max_entries, struct td_dedupe **out)
{
    struct td_dedupe *d = calloc(1, sizeof *d);
    if (!d)
        return TD_ENOMEM;
    d->max = max_entries ? max_entries : 1000000;
    d->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    *out = d;
    return TD_OK;
}

void td_dedupe_free(struct td_dedupe *d)
{
    if (!d)
        return;
    g_hash_table_destroy(d->seen);
    free(d);
}

/* Feed text into the hash: case-folded NFKC, runs of white space as one
 * space, no leading/trailing space.  Invalid UTF-8 is hashed as bytes. */
static void feed_text(XXH3_state_t *st, const char *text, size_t len)
{
    int ascii = 1;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char)text[i] < 0x80;
    utf8proc_uint8_t *f = NULL;
    utf8proc_ssize_t fl;
    if (ascii) { /* NFKC case folding of ASCII is lower-casing: skip utf8proc */
        if (!(f = malloc(len + 1))) {
            XXH3_128bits_update(st, text, len);
            return;
        }
        for (size_t i = 0; i < len; i++)
            f[i] = (utf8proc_uint8_t)g_ascii_tolower(text[i]);
        fl = (utf8proc_ssize_t)len;
    } else {
        fl = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &f,
                          UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |
                              UTF8PROC_IGNORE);
    }
    if (fl < 0) {
        XXH3_128bits_update(st, text, len);
        return;
    }
    /* collapse white space in place, then hash once */
    size_t o = 0;
    int pending = 0;
    for (utf8proc_ssize_t i = 0; i < fl; i++) {
        unsigned char c = f[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
            pending = o > 0;
            continue;
        }
        if (pending)
            f[o++] = ' ';
        pending = 0;
        f[o++] = c;
    }
    XXH3_128bits_update(st, f, o);
    free(f);
}

int td_dedupe_content_key(const char *sender, const char *text, size_t len, char out[33])
{
    if (!sender)
        return TD_EINVAL;
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return TD_ENOMEM;
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, sender, strlen(sender) + 1); /* NUL separates */
    if (text)
        feed_text(st, text, len);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
    return TD_OK;
}

static int check_key(struct td_dedupe *d, char *key, const char *id, const char **dup_of)
{
    const char *first = g_hash_table_lookup(d->seen, key);
    if (first) {
        g_free(key);
        *dup_of = first;
        return 1;
    }
    if (g_hash_table_size(d->seen) >= d->max) {
        g_free(key);
        return 0;
    }
    g_hash_table_insert(d->seen, key, g_strdup(id ? id : ""));
    return 0;
}

int td_dedupe_check(struct td_dedupe *d, const struct td_message *m, const char **dup_of)
{
    *dup_of = NULL;
    int dup = 0;
    /* both keys are recorded, so a later copy matching either is caught */
    if (m->message_id && *m->message_id) {
        char *k = g_strdup_printf("id\x1f%s\x1f%s", m->channel ? m->channel : "", m->message_id);
        dup = check_key(d, k, m->id, dup_of);
    }
    if (m->sender) {
        char hex[33];
        if (td_dedupe_content_key(m->sender, m->text, m->text_len, hex) != TD_OK)
            return TD_ENOMEM;
        const char *other = NULL;
        int cdup = check_key(d, g_strdup_printf("text\x1f%s", hex), m->id, &other);
        if (cdup && !dup) {
            dup = 1;
            *dup_of = other;
        }
    }
    return dup;
}
