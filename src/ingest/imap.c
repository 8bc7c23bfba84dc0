/*
 * imap.c - fetch new mail over IMAP with libcurl, each message once (see
 * imap.h for the protocol steps and the state file format).
 *
 * libcurl does the protocol: login (CURLOPT_USERNAME/PASSWORD, never the
 * URL), SELECT, STARTTLS/TLS, and the literal-aware UID FETCH of the ;UID=
 * URL form.  We send three kinds of custom command (STATUS, UID SEARCH,
 * UID STORE) whose untagged answers curl hands to the write callback; each
 * is one short line of numbers, which is all this file parses.  The
 * ;UIDVALIDITY= URL parameter makes curl itself refuse to fetch if the
 * mailbox was renumbered between our STATUS and the FETCH.
 */
#include "threatdesk/imap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "threatdesk/buf.h"

#define SMALL_REPLY ((size_t)1 << 20)   /* STATUS / STORE answers */
#define SEARCH_REPLY ((size_t)64 << 20) /* "* SEARCH" with millions of UIDs */
#define DIGEST_HEX 32                   /* first 128 bits of SHA-256, hex */

struct conn {
    CURL *h;
    struct td_buf body;
    int overflow; /* the reply hit body.max */
    char errbuf[CURL_ERROR_SIZE];
    char *base;     /* "imap://host:port" */
    char *mbox_esc; /* the mailbox, URL-escaped as one path segment */
    char *mailbox;  /* decoded */
    char *key;      /* the state key */
    const char *user;
};

/* ---- curl plumbing ------------------------------------------------------------ */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct conn *c = ud;
    int rc = td_buf_append(&c->body, p, size * n);
    if (rc == TD_ETOOBIG)
        c->overflow = 1;
    /* returning less than asked aborts the transfer */
    return rc == TD_OK ? size * n : 0;
}

static int curl_fail(struct conn *c, CURLcode cc, const char *what, struct td_error *err)
{
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_LOGIN_DENIED:
        return td_error_set(err, TD_EDENIED, "%s: the server refused the login for user '%s': %s",
                            what, c->user, detail);
    case CURLE_WRITE_ERROR:
        if (c->overflow)
            return td_error_set(err, TD_ETOOBIG, "%s: the answer exceeds %zu bytes", what,
                                c->body.max);
        break;
    case CURLE_REMOTE_FILE_NOT_FOUND:
        return td_error_set(err, TD_ENOTFOUND, "%s: %s", what, detail);
    case CURLE_USE_SSL_FAILED:
        return td_error_set(err, TD_ENET, "%s: the server does not offer STARTTLS: %s", what,
                            detail);
    default:
        break;
    }
    return td_error_set(err, TD_ENET, "%s: %s", what, detail);
}

/* Run one request; the reply (untagged lines or the message) is in c->body. */
static int perform(struct conn *c, const char *url, const char *custom, size_t cap,
                   const char *what, struct td_error *err)
{
    td_buf_release(&c->body);
    td_buf_init(&c->body, cap);
    c->overflow = 0;
    c->errbuf[0] = '\0';
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, custom);
    CURLcode cc = curl_easy_perform(c->h);
    if (cc != CURLE_OK)
        return curl_fail(c, cc, what, err);
    if (!c->body.data)
        td_buf_append(&c->body, "", 0);
    return TD_OK;
}

static char *url_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *url_printf(const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return NULL;
    return strdup(tmp);
}

/* ---- the URL ---------------------------------------------------------------- */

static int parse_url(struct conn *c, const struct td_imap_opts *o, struct td_error *err)
{
    int rc = TD_OK;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *part = NULL;
    CURLU *u = curl_url();
    if (!u)
        return td_error_set(err, TD_ENOMEM, "curl_url");
    td_error_field(err, "url");
    if (curl_url_set(u, CURLUPART_URL, o->url, 0) != CURLUE_OK) {
        rc = td_error_set(err, TD_EINVAL, "'%s' is not a URL (imap://host[:port]/MAILBOX)", o->url);
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!scheme || (strcmp(scheme, "imap") != 0 && strcmp(scheme, "imaps") != 0)) {
        rc = td_error_set(err, TD_EINVAL, "the URL scheme must be imap:// or imaps://");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_OPTIONS, &part, 0) == CURLUE_OK) {
        rc = td_error_set(err, TD_EINVAL,
                          "credentials do not belong in the URL (they would show in the process "
                          "list and shell history); use the config file or the environment");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
        rc = td_error_set(err, TD_EINVAL, "the URL must not have a query or fragment");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
        rc = td_error_set(err, TD_EINVAL, "the URL has no host");
        goto out;
    }
    /* the mailbox: the path without its slashes at either end */
    const char *mb = path;
    while (*mb == '/')
        mb++;
    size_t n = strlen(mb);
    while (n > 0 && mb[n - 1] == '/')
        n--;
    if (n == 0) {
        mb = "INBOX";
        n = 5;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)mb[i];
        /* quoted-string safe, and no curl URL parameters; non-ASCII names
         * would need modified UTF-7, which curl does not do */
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == ';') {
            rc = td_error_set(err, TD_EINVAL,
                              "mailbox name has a character this client does not send "
                              "(control, non-ASCII, '\"', '\\\\' or ';') at byte %zu",
                              i);
            goto out;
        }
    }
    c->mailbox = strndup(mb, n);
    c->mbox_esc = c->mailbox ? curl_easy_escape(c->h, c->mailbox, (int)n) : NULL;
    c->base = url_printf("%s://%s:%s", scheme, host, port);
    c->key = url_printf("%s://%s@%s:%s/%s", scheme, o->user, host, port, c->mailbox);
    if (!c->mailbox || !c->mbox_esc || !c->base || !c->key)
        rc = td_error_set(err, TD_ENOMEM, "building URLs");
    else
        td_error_field(err, ""); /* the URL is fine: later errors are not about it */
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(part);
    curl_url_cleanup(u);
    return rc;
}

/* ---- replies ---------------------------------------------------------------- */

/* The number after `name ` in a STATUS reply, 0 if absent or invalid. */
static uint32_t status_item(const char *reply, const char *name)
{
    const char *p = strstr(reply, name);
    if (!p)
        return 0;
    p += strlen(name);
    if (*p != ' ')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(p + 1, &end, 10);
    if (errno || end == p + 1 || v == 0 || v > UINT32_MAX)
        return 0;
    return (uint32_t)v;
}

struct uids {
    uint32_t *v;
    size_t n, cap;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Collect the numbers of every "* SEARCH ..." line above `after`, sorted. */
static int parse_search(const char *reply, uint32_t after, struct uids *out, struct td_error *err)
{
    const char *p = reply;
    while ((p = strstr(p, "* SEARCH")) != NULL) {
        p += 8;
        while (*p == ' ') {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(p + 1, &end, 10);
            if (end == p + 1)
                break;
            if (errno || v == 0 || v > UINT32_MAX)
                return td_error_set(err, TD_EPARSE, "the server sent an invalid UID in SEARCH");
            p = end;
            if (v <= after) /* "n:*" always includes the highest UID */
                continue;
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 64;
                uint32_t *nv = realloc(out->v, cap * sizeof *nv);
                if (!nv)
                    return td_error_set(err, TD_ENOMEM, "UID list");
                out->v = nv;
                out->cap = cap;
            }
            out->v[out->n++] = (uint32_t)v;
        }
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_u32);
    return TD_OK;
}

static int has_uid(const struct uids *u, uint32_t uid)
{
    return u->n && bsearch(&uid, u->v, u->n, sizeof *u->v, cmp_u32) != NULL;
}

/* ---- the state file --------------------------------------------------------- */

static int state_load(const char *path, json_t **out, struct td_error *err)
{
    json_error_t je;
    json_t *root = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        root = json_pack("{s:i,s:{}}", "version", 1, "mailboxes");
    } else {
        root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
            td_error_at(err, path, (size_t)(je.line > 0 ? je.line : 0),
                        (size_t)(je.position > 0 ? je.position : 0));
            return td_error_set(err, TD_EPARSE, "the IMAP state file is not valid JSON: %s",
                                je.text);
        }
        if (!json_is_object(json_object_get(root, "mailboxes")) ||
            json_integer_value(json_object_get(root, "version")) != 1) {
            json_decref(root);
            td_error_at(err, path, 0, 0);
            return td_error_set(err, TD_EPARSE,
                                "the IMAP state file has no \"mailboxes\" object or an unknown "
                                "version");
        }
    }
    if (!root)
        return td_error_set(err, TD_ENOMEM, "state");
    *out = root;
    return TD_OK;
}

/* Write temp, fsync, rename over, fsync the directory: a crash leaves the
 * old state or the new, never half of one. */
static int state_save(const char *path, json_t *root, struct td_error *err)
{
    int rc = TD_OK, fd = -1, dfd = -1;
    char *tmp = url_printf("%s.tmp", path);
    char *dir = strdup(path);
    if (!tmp || !dir) {
        rc = td_error_set(err, TD_ENOMEM, "state path");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || json_dumpfd(root, fd, JSON_INDENT(1)) != 0 || fsync(fd) != 0) {
        td_error_at(err, tmp, 0, 0);
        rc = td_error_set(err, TD_EIO, "cannot write the IMAP state: %s", strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        td_error_at(err, path, 0, 0);
        rc = td_error_set(err, TD_EIO, "cannot replace the IMAP state: %s", strerror(errno));
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (dfd >= 0)
        close(dfd);
    free(tmp);
    free(dir);
    return rc;
}

static int state_lock(const char *path, int *fd_out, struct td_error *err)
{
    char *lock = url_printf("%s.lock", path);
    if (!lock)
        return td_error_set(err, TD_ENOMEM, "lock path");
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = TD_OK;
    if (fd < 0) {
        td_error_at(err, lock, 0, 0);
        rc = td_error_set(err, TD_EIO, "cannot open the state lock: %s", strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        td_error_at(err, lock, 0, 0);
        rc = td_error_set(err, errno == EWOULDBLOCK ? TD_EEXISTS : TD_EIO,
                          "another fetch is using this state file");
        close(fd);
        fd = -1;
    }
    free(lock);
    *fd_out = fd;
    return rc;
}

static void digest_hex(const char *data, size_t len, char hex[DIGEST_HEX + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)data, len);
    sodium_bin2hex(hex, DIGEST_HEX + 1, h, DIGEST_HEX / 2);
}

/* Record a digest, evicting the oldest beyond TD_IMAP_SEEN_MAX (jansson
 * objects keep insertion order, and the file is written in that order). */
static int seen_add(json_t *seen, const char *hex, uint32_t uid)
{
    while (json_object_size(seen) >= TD_IMAP_SEEN_MAX) {
        void *it = json_object_iter(seen);
        if (!it)
            break;
        json_object_del(seen, json_object_iter_key(it));
    }
    return json_object_set_new(seen, hex, json_integer(uid)) == 0 ? TD_OK : TD_ENOMEM;
}

/* After a failed FETCH: is the mailbox still numbered `validity`
 * (else fatal: the next run starts on the new numbering) and does `uid`
 * still exist (*gone = 0) or was it expunged (*gone = 1)?  c->body is
 * preserved. */
static int recheck(struct conn *c, const char *box_url, uint32_t validity, uint32_t uid, int *gone,
                   struct td_error *err)
{
    int rc;
    char cmd[600], status_url[4096];
    struct td_buf keep = c->body;
    struct uids found = {0};
    memset(&c->body, 0, sizeof c->body);
    snprintf(status_url, sizeof status_url, "%s/", c->base);
    snprintf(cmd, sizeof cmd, "STATUS \"%s\" (UIDVALIDITY)", c->mailbox);
    if ((rc = perform(c, status_url, cmd, SMALL_REPLY, "STATUS", err)) != TD_OK)
        goto out;
    uint32_t now = status_item(c->body.data, "UIDVALIDITY");
    if (now != validity) {
        rc = td_error_set(err, TD_ENET,
                          "mailbox '%s' was renumbered during the fetch (UIDVALIDITY %u -> %u); "
                          "run fetch again",
                          c->mailbox, validity, now);
        goto out;
    }
    snprintf(cmd, sizeof cmd, "UID SEARCH UID %u", uid);
    if ((rc = perform(c, box_url, cmd, SMALL_REPLY, "UID SEARCH", err)) != TD_OK ||
        (rc = parse_search(c->body.data, uid - 1, &found, err)) != TD_OK)
        goto out;
    *gone = !has_uid(&found, uid);
out:
    free(found.v);
    td_buf_release(&c->body);
    c->body = keep;
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

int td_imap_fetch(const struct td_imap_opts *o, td_imap_message_fn on_message,
                  td_imap_skip_fn on_skip, void *ud, struct td_imap_stats *stats,
                  struct td_error *err)
{
    int rc = TD_OK, lockfd = -1;
    struct conn c = {0};
    json_t *root = NULL;
    struct uids fresh = {0}, unseen = {0};
    char *url = NULL;
    uint32_t last = 0;
    struct td_imap_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);

    if (!o || !o->url || !on_message)
        return td_error_set(err, TD_EINVAL, "td_imap_fetch: url and callback are required");
    if (!o->user || !*o->user || !o->password)
        return td_error_set(err, TD_EINVAL, "no IMAP user name or password was given");
    if (!o->state_path || !*o->state_path)
        return td_error_set(err, TD_EINVAL, "no IMAP state file was given");
    size_t max_message = o->max_message ? o->max_message : TD_IMAP_DEFAULT_MAX_MESSAGE;
    if (sodium_init() < 0)
        return td_error_set(err, TD_ECRYPTO, "libsodium failed to initialise");

    c.user = o->user;
    c.h = curl_easy_init();
    if (!c.h)
        return td_error_set(err, TD_ENOMEM, "curl_easy_init");
    if ((rc = parse_url(&c, o, err)) != TD_OK)
        goto out;

    curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, "imap,imaps");
    curl_easy_setopt(c.h, CURLOPT_USERNAME, o->user);
    curl_easy_setopt(c.h, CURLOPT_PASSWORD, o->password);
    curl_easy_setopt(c.h, CURLOPT_USE_SSL, o->require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY);
    if (o->ca_file)
        curl_easy_setopt(c.h, CURLOPT_CAINFO, o->ca_file);
    long timeout = o->timeout > 0 ? o->timeout : 60;
    curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT, timeout);
    /* no overall cap (a large message may take a while); a stalled
     * connection is cut after `timeout` seconds below 1 byte/s */
    curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_TIME, timeout);
    curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, c.errbuf);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &c);

    if ((rc = state_lock(o->state_path, &lockfd, err)) != TD_OK)
        goto out;
    if ((rc = state_load(o->state_path, &root, err)) != TD_OK)
        goto out;
    json_t *boxes = json_object_get(root, "mailboxes");
    json_t *box = json_object_get(boxes, c.key);
    if (!json_is_object(box)) {
        box = json_pack("{s:i,s:i,s:{}}", "uidvalidity", 0, "last_uid", 0, "seen");
        if (!box || json_object_set_new(boxes, c.key, box) != 0) {
            rc = td_error_set(err, TD_ENOMEM, "state");
            goto out;
        }
    }
    json_t *seen = json_object_get(box, "seen");
    if (!json_is_object(seen)) {
        seen = json_object();
        if (!seen || json_object_set_new(box, "seen", seen) != 0) {
            rc = td_error_set(err, TD_ENOMEM, "state");
            goto out;
        }
    }
    json_int_t saved_validity = json_integer_value(json_object_get(box, "uidvalidity"));
    json_int_t saved_last = json_integer_value(json_object_get(box, "last_uid"));
    last = saved_last > 0 && saved_last <= UINT32_MAX ? (uint32_t)saved_last : 0;

    /* 1. which numbering is the mailbox in now? */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "STATUS \"%s\" (UIDVALIDITY UIDNEXT)", c.mailbox);
    if (!(url = url_printf("%s/", c.base))) {
        rc = td_error_set(err, TD_ENOMEM, "URL");
        goto out;
    }
    if ((rc = perform(&c, url, cmd, SMALL_REPLY, "STATUS", err)) != TD_OK)
        goto out;
    uint32_t validity = status_item(c.body.data, "UIDVALIDITY");
    if (!validity) {
        rc = td_error_set(err, TD_ENET, "the server gave no UIDVALIDITY for mailbox '%s'",
                          c.mailbox);
        goto out;
    }
    stats->uidvalidity = validity;
    if (saved_validity != 0 && saved_validity != (json_int_t)validity) {
        /* renumbered: start again from UID 1, the digests in `seen` keep
         * already-analysed messages from being handed over again */
        stats->uidvalidity_changed = 1;
        last = 0;
    }
    json_object_set_new(box, "uidvalidity", json_integer(validity));
    json_object_set_new(box, "last_uid", json_integer(last));

    /* 2. what is new, and which of it is unread */
    free(url);
    if (!(url = url_printf("%s/%s;UIDVALIDITY=%u", c.base, c.mbox_esc, validity))) {
        rc = td_error_set(err, TD_ENOMEM, "URL");
        goto out;
    }
    snprintf(cmd, sizeof cmd, "UID SEARCH UID %u:*", last + 1);
    if ((rc = perform(&c, url, cmd, SEARCH_REPLY, "UID SEARCH", err)) != TD_OK ||
        (rc = parse_search(c.body.data, last, &fresh, err)) != TD_OK)
        goto out;
    stats->new_uids = fresh.n;
    if (fresh.n) {
        snprintf(cmd, sizeof cmd, "UID SEARCH UID %u:* UNSEEN", last + 1);
        if ((rc = perform(&c, url, cmd, SEARCH_REPLY, "UID SEARCH UNSEEN", err)) != TD_OK ||
            (rc = parse_search(c.body.data, last, &unseen, err)) != TD_OK)
            goto out;
    }

    /* 3. each new message, in UID order */
    for (size_t i = 0; i < fresh.n; i++) {
        if (o->max_messages && stats->fetched + stats->duplicates >= o->max_messages)
            break;
        uint32_t uid = fresh.v[i];
        char fetch_url[4096];
        snprintf(fetch_url, sizeof fetch_url, "%s/;UID=%u", url, uid);
        struct td_error merr;
        td_error_clear(&merr);
        int mrc = perform(&c, fetch_url, NULL, max_message, "UID FETCH", &merr);
        if (mrc != TD_OK && mrc != TD_ETOOBIG) {
            /* curl fails a FETCH both when the message was expunged since
             * the SEARCH (Dovecot then answers without a body) and when
             * something is really wrong: tell them apart by asking */
            int gone = 0;
            if ((rc = recheck(&c, url, validity, uid, &gone, err)) != TD_OK)
                goto out;
            if (!gone) {
                *err = merr;
                rc = mrc;
                goto out;
            }
            td_error_set(&merr, TD_ENOTFOUND, "message UID %u was deleted before it was fetched",
                         uid);
            mrc = TD_ENOTFOUND;
        }
        if ((mrc == TD_OK || mrc == TD_ETOOBIG) && has_uid(&unseen, uid)) {
            /* FETCH BODY[] set \Seen (even when we cut it short): give the
             * office its unread mail back */
            snprintf(cmd, sizeof cmd, "UID STORE %u -FLAGS.SILENT (\\Seen)", uid);
            struct td_buf keep = c.body;
            memset(&c.body, 0, sizeof c.body);
            int src = perform(&c, url, cmd, SMALL_REPLY, "UID STORE", err);
            td_buf_release(&c.body);
            c.body = keep;
            if (src != TD_OK) {
                rc = src;
                goto out;
            }
        }
        if (mrc == TD_ETOOBIG || mrc == TD_ENOTFOUND || (mrc == TD_OK && c.body.len == 0)) {
            /* will never be fetchable: report, and do not try it again */
            if (mrc == TD_OK)
                td_error_set(&merr, TD_ENOTFOUND, "message UID %u vanished before it was fetched",
                             uid);
            else if (mrc == TD_ETOOBIG)
                td_error_set(&merr, TD_ETOOBIG, "message UID %u is larger than %zu bytes", uid,
                             max_message);
            stats->skipped++;
            if (on_skip)
                on_skip(ud, uid, &merr);
        } else {
            char hex[DIGEST_HEX + 1];
            digest_hex(c.body.data, c.body.len, hex);
            if (json_object_get(seen, hex)) {
                stats->duplicates++;
            } else {
                struct td_imap_msg msg = {.mailbox = c.key,
                                          .uidvalidity = validity,
                                          .uid = uid,
                                          .data = c.body.data,
                                          .len = c.body.len};
                if ((rc = on_message(ud, &msg, err)) != TD_OK)
                    goto out;
                if ((rc = seen_add(seen, hex, uid)) != TD_OK) {
                    td_error_set(err, rc, "state");
                    goto out;
                }
                stats->fetched++;
            }
        }
        last = uid;
        json_object_set_new(box, "last_uid", json_integer(last));
        if ((rc = state_save(o->state_path, root, err)) != TD_OK)
            goto out;
    }
    rc = state_save(o->state_path, root, err);
out:
    stats->last_uid = last;
    free(url);
    free(fresh.v);
    free(unseen.v);
    json_decref(root);
    td_buf_release(&c.body);
    if (c.h)
        curl_easy_cleanup(c.h);
    curl_free(c.mbox_esc);
    free(c.base);
    free(c.mailbox);
    free(c.key);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}
