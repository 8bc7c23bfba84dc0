/*
 * write.c - td_bundle_write: a case, its originals and evidence, its
 * audit proof and a signed manifest, streamed into one tar (bundle.h).
 *
 * Order: the originals are written while the desk reads them (inside the
 * export's transaction, one at a time); then the JSON records, the
 * evidence files (streamed from the content-addressed store in 64 KiB
 * pieces, re-hashed on the way: a file that no longer matches its SHA-256
 * fails the export), the PDF summary, the README and the public key; last
 * the manifest of every member's SHA-256 and its detached signature.
 * Nothing but one piece of one file and the JSON records is ever held.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle/bundle_int.h"
#include "threatdesk/desk_export.h"
#include "threatdesk/report.h"

#define CHUNK 65536

struct bw {
    struct archive *a;
    int fd;
    uint64_t bytes;
    int io_errno; /* errno of a failed write(2) */
    time_t mtime;
    char prefix[64]; /* "threatdesk-case-<id>/" */
    json_t *files;   /* the manifest's list */
    json_t *members; /* member path of each message's original, by index */
    int ascii_names; /* no UTF-8 locale: member names must be ASCII */
    struct td_error *err;
};

static la_ssize_t out_write(struct archive *a, void *ud, const void *buf, size_t n)
{
    struct bw *w = ud;
    const char *p = buf;
    size_t left = n;
    while (left > 0) {
        ssize_t k = write(w->fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->io_errno = k < 0 ? errno : EIO;
            archive_set_error(a, w->io_errno, "write: %s", strerror(w->io_errno));
            return -1;
        }
        p += k;
        left -= (size_t)k;
    }
    w->bytes += n;
    return (la_ssize_t)n;
}

static void sha_hex(const void *p, size_t n, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, n);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

static const char *str(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "";
}

static int arch_fail(struct bw *w, const char *what)
{
    const char *m = archive_error_string(w->a);
    return td_error_set(w->err, TD_EIO, "bundle: %s: %s", what, m ? m : "write failed");
}

/* Stream writer for one member. */
struct member {
    crypto_hash_sha256_state h;
    char path[600];
    int64_t size;
};

static int member_begin(struct bw *w, struct member *m, const char *rel, int64_t size)
{
    snprintf(m->path, sizeof m->path, "%s%s", w->prefix, rel);
    m->size = size;
    crypto_hash_sha256_init(&m->h);
    if (td__bundle_header(w->a, m->path, size, w->mtime) != ARCHIVE_OK)
        return arch_fail(w, m->path);
    return TD_OK;
}

static int member_data(struct bw *w, struct member *m, const void *p, size_t n)
{
    const char *c = p;
    crypto_hash_sha256_update(&m->h, p, n);
    while (n > 0) {
        la_ssize_t k = archive_write_data(w->a, c, n);
        if (k <= 0)
            return arch_fail(w, m->path);
        c += k;
        n -= (size_t)k;
    }
    return TD_OK;
}

/* Finish: the member's hash into the manifest's list (and hex, if asked). */
static int member_end(struct bw *w, struct member *m, char hex_out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[65];
    if (archive_write_finish_entry(w->a) != ARCHIVE_OK)
        return arch_fail(w, m->path);
    crypto_hash_sha256_final(&m->h, h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    if (hex_out)
        memcpy(hex_out, hex, 65);
    if (json_array_append_new(w->files, json_pack("{s:s, s:I, s:s}", "path", m->path, "size",
                                                  (json_int_t)m->size, "sha256", hex)))
        return td_error_set(w->err, TD_ENOMEM, NULL);
    return TD_OK;
}

static int member_buf(struct bw *w, const char *rel, const void *p, size_t n)
{
    struct member m;
    int rc = member_begin(w, &m, rel, (int64_t)n);
    if (!rc)
        rc = member_data(w, &m, p, n);
    return rc ? rc : member_end(w, &m, NULL);
}

static int member_json(struct bw *w, const char *rel, const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return td_error_set(w->err, TD_ENOMEM, "bundle: %s", rel);
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the NUL: the text ends with a newline */
    int rc = member_buf(w, rel, s, n + 1);
    free(s);
    return rc;
}

/* An evidence file from the store, re-hashed as it is streamed. */
static int member_file(struct bw *w, const char *rel, const char *fspath, const char *sha,
                       int64_t size)
{
    struct member m;
    struct stat sb;
    char got[65];
    int fd = open(fspath, O_RDONLY);
    if (fd < 0)
        return td_error_set(w->err, TD_EIO, "bundle: evidence %s: %s", sha, strerror(errno));
    int rc;
    if (fstat(fd, &sb) != 0 || sb.st_size != size) {
        rc = td_error_set(w->err, TD_ECRYPTO,
                          "bundle: evidence %s: the file is %lld bytes, the record says %" PRId64,
                          sha, (long long)sb.st_size, size);
        goto out;
    }
    if ((rc = member_begin(w, &m, rel, size)))
        goto out;
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        rc = td_error_set(w->err, TD_ENOMEM, NULL);
        goto out;
    }
    ssize_t k;
    int64_t total = 0;
    while ((k = read(fd, buf, CHUNK)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = td_error_set(w->err, TD_EIO, "bundle: evidence %s: %s", sha, strerror(errno));
            break;
        }
        total += k;
        if (total > size) {
            rc = td_error_set(w->err, TD_ECRYPTO, "bundle: evidence %s grew while read", sha);
            break;
        }
        if ((rc = member_data(w, &m, buf, (size_t)k)))
            break;
    }
    free(buf);
    if (!rc && total != size)
        rc = td_error_set(w->err, TD_ECRYPTO, "bundle: evidence %s shrank while read", sha);
    if (!rc && !(rc = member_end(w, &m, got)) && strcmp(got, sha) != 0)
        rc = td_error_set(w->err, TD_ECRYPTO,
                          "bundle: evidence file %s no longer matches its SHA-256 (found %s)", sha,
                          got);
out:
    close(fd);
    return rc;
}

/* What an original is, for its member's extension: e-mail by channel,
 * the rest by their first bytes. */
static const char *original_ext(const char *channel, const unsigned char *p, size_t n)
{
    if (channel && !strcmp(channel, "email"))
        return "eml";
    if (n >= 4 && !memcmp(p, "%PDF", 4))
        return "pdf";
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
        return "png";
    if (n >= 3 && !memcmp(p, "\xff\xd8\xff", 3))
        return "jpg";
    if (n >= 4 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4)))
        return "tif";
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    if (i < n && (p[i] == '{' || p[i] == '['))
        return "json";
    for (i = 0; i < n; i++)
        if (p[i] == 0)
            return "bin";
    return "txt";
}

static int on_original(void *ud, size_t index, const json_t *msg, const void *data, size_t len,
                       struct td_error *err)
{
    struct bw *w = ud;
    char rel[128];
    snprintf(rel, sizeof rel, "messages/%03zu-message-%" JSON_INTEGER_FORMAT ".%s", index + 1,
             json_integer_value(json_object_get(msg, "id")),
             original_ext(json_string_value(json_object_get(msg, "channel")), data, len));
    w->err = err;
    int rc = member_buf(w, rel, data, len);
    if (!rc && json_array_append_new(w->members, json_sprintf("%s%s", w->prefix, rel)))
        rc = td_error_set(err, TD_ENOMEM, NULL);
    return rc;
}

/* The member name of an evidence file: its real name's last component,
 * control characters and separators replaced, at most ~120 bytes (cut at
 * a UTF-8 boundary). */
static void evidence_name(char *out, size_t size, size_t index, int64_t id, const char *name,
                          int ascii)
{
    char base[128];
    const char *b = name && *name ? name : "file";
    for (const char *p = b; *p; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    size_t n = 0;
    for (const char *p = b; *p && n < 120; p++) {
        unsigned char c = (unsigned char)*p;
        base[n++] = c < 0x20 || c == 0x7f || (ascii && c >= 0x80) ? '_' : (char)c;
    }
    while (n > 0 && ((unsigned char)base[n - 1] & 0xC0) == 0x80)
        n--; /* a cut continuation: drop back to the lead byte ... */
    if (n > 0 && ((unsigned char)base[n - 1] & 0xC0) == 0xC0)
        n--; /* ... and the lead byte itself */
    base[n] = '\0';
    if (!n || !strcmp(base, ".") || !strcmp(base, ".."))
        snprintf(base, sizeof base, "file");
    snprintf(out, size, "evidence/%03zu-%" PRId64 "-%s", index + 1, id, base);
}

static int write_readme(struct bw *w, const json_t *x, const char *pk_hex)
{
    const json_t *c = json_object_get(x, "case");
    char when[64];
    time_t t = (time_t)w->mtime;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        return td_error_set(w->err, TD_ENOMEM, NULL);
    fprintf(f,
            "THREATDESK EVIDENCE BUNDLE\n"
            "==========================\n\n"
            "Case %" JSON_INTEGER_FORMAT ": %s\n"
            "Office: %s\n"
            "Exported: %s by %s (%s)\n\n"
            "What is in it\n"
            "  summary.pdf     a printable summary: the incident, timeline, messages\n"
            "                  with the system's assessment, senders, and hashes\n"
            "  messages/       every message linked to the case, byte for byte as\n"
            "                  received (.eml files open in any mail program)\n"
            "  evidence/       every evidence file under its original name\n"
            "  *.json          the case record, messages with their assessment,\n"
            "                  evidence list, timeline, shared notes, sender\n"
            "                  histories and the audit log entries\n"
            "  manifest.json   the SHA-256 and size of every file above\n"
            "  manifest.sig    the office's Ed25519 signature of manifest.json\n"
            "  office-key.pub  the office's public key\n\n"
            "How to check it has not been altered\n"
            "  threatdesk verify-bundle THIS.tar --pubkey %s\n"
            "  checks every byte of the archive, every file's SHA-256, the signature\n"
            "  and the audit entries, and names anything that differs.\n"
            "  Without threatdesk: `sha256sum` each file and compare with\n"
            "  manifest.json, and verify manifest.sig (Ed25519, hex) over the exact\n"
            "  bytes of manifest.json with the public key above.  Confirm the public\n"
            "  key with the office by a separate channel.\n",
            json_integer_value(json_object_get(c, "id")), str(json_object_get(c, "title")),
            str(json_object_get(json_object_get(x, "office"), "name")), when,
            str(json_object_get(x, "exported_by")), str(json_object_get(x, "exported_role")),
            pk_hex);
    fclose(f);
    int rc = s ? member_buf(w, "README.txt", s, n) : td_error_set(w->err, TD_ENOMEM, NULL);
    free(s);
    return rc;
}

int td_bundle_write(struct td_desk *d, const struct td_actor *actor, int64_t case_id, int fd,
                    struct td_bundle_info *info, struct td_error *err)
{
    struct bw w;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char sig[crypto_sign_BYTES];
    char pk_hex[65], sig_hex[129], line[200], msha[65];
    json_t *x = NULL, *man = NULL, *evl = NULL;
    char *mtext = NULL;
    int rc, opened = 0;
    memset(&w, 0, sizeof w);
    w.fd = fd;
    w.err = err;
    w.mtime = time(NULL);
    snprintf(w.prefix, sizeof w.prefix, "threatdesk-case-%" PRId64 "/", case_id);
    if (sodium_init() < 0)
        return td_error_set(err, TD_ECRYPTO, "libsodium did not initialise");
    if (!actor)
        return td_error_set(err, TD_EDENIED, "no actor");
    if ((rc = td_desk_office_key(d, actor->office_id, pk, sk, err)))
        return rc;
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    struct td__bundle_locale loc;
    w.ascii_names = td__bundle_utf8_begin(&loc) != 0;
    if (!(w.files = json_array()) || !(w.members = json_array()) || !(w.a = td__bundle_writer())) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    if (archive_write_open2(w.a, &w, NULL, out_write, NULL, NULL) != ARCHIVE_OK) {
        rc = arch_fail(&w, "open");
        goto out;
    }
    opened = 1;
    if ((rc = td_desk_case_export(d, actor, case_id, on_original, &w, &x, err)))
        goto out;
    w.err = err;

    /* The records. */
    json_t *msgs = json_object_get(x, "messages"), *m;
    size_t i;
    json_array_foreach(msgs, i, m) json_object_set(m, "member", json_array_get(w.members, i));
    json_t *rec =
        json_pack("{s:O, s:O, s:O, s:O, s:O, s:s}", "case", json_object_get(x, "case"), "office",
                  json_object_get(x, "office"), "exported", json_object_get(x, "exported"),
                  "exported_by", json_object_get(x, "exported_by"), "exported_role",
                  json_object_get(x, "exported_role"), "format", TD_BUNDLE_FORMAT);
    rc = rec ? member_json(&w, "case.json", rec) : td_error_set(err, TD_ENOMEM, NULL);
    json_decref(rec);
    if (rc || (rc = member_json(&w, "messages.json", msgs)) ||
        (rc = member_json(&w, "timeline.json", json_object_get(x, "timeline"))) ||
        (rc = member_json(&w, "notes.json", json_object_get(x, "notes"))) ||
        (rc = member_json(&w, "senders.json", json_object_get(x, "senders"))))
        goto out;
    json_t *audit = json_pack("{s:O, s:O}", "entries", json_object_get(x, "audit"), "chain_head",
                              json_object_get(x, "chain_head"));
    rc = audit ? member_json(&w, "audit.json", audit) : td_error_set(err, TD_ENOMEM, NULL);
    json_decref(audit);
    if (rc)
        goto out;

    /* Evidence, streamed. */
    json_t *ev;
    if (!(evl = json_array())) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    json_array_foreach(json_object_get(x, "evidence"), i, ev)
    {
        char rel[300], fspath[1300];
        const char *sha = json_string_value(json_object_get(ev, "sha256"));
        int64_t id = json_integer_value(json_object_get(ev, "id"));
        if (!sha || strlen(sha) != 64) {
            rc = td_error_set(err, TD_ECRYPTO, "bundle: evidence %" PRId64 " has no hash", id);
            goto out;
        }
        evidence_name(rel, sizeof rel, i, id, json_string_value(json_object_get(ev, "name")),
                      w.ascii_names);
        td_desk_evidence_path(d, sha, fspath, sizeof fspath);
        if ((rc = member_file(&w, rel, fspath, sha,
                              json_integer_value(json_object_get(ev, "size")))))
            goto out;
        json_t *e2 = json_copy(ev);
        json_object_set_new(e2, "member", json_sprintf("%s%s", w.prefix, rel));
        json_array_append_new(evl, e2);
    }
    if ((rc = member_json(&w, "evidence.json", evl)))
        goto out;

    /* The summary for people, with every hash above. */
    {
        void *pdf = NULL;
        size_t plen = 0;
        json_object_set(x, "evidence", evl);
        if ((rc = td_report_case_summary(x, &pdf, &plen, err)))
            goto out;
        rc = member_buf(&w, "summary.pdf", pdf, plen);
        free(pdf);
        if (rc)
            goto out;
    }
    if ((rc = write_readme(&w, x, pk_hex)))
        goto out;
    int n = snprintf(line, sizeof line, "%s%s\n", TD__KEY_PREFIX, pk_hex);
    if ((rc = member_buf(&w, "office-key.pub", line, (size_t)n)))
        goto out;

    /* The manifest, signed. */
    man = json_pack("{s:s, s:s, s:O, s:O, s:I, s:s, s:O}", "format", TD_BUNDLE_FORMAT, "writer",
                    archive_version_string(), "case",
                    json_object_get(json_object_get(x, "case"), "id"), "office",
                    json_object_get(x, "office"), "created", (json_int_t)w.mtime, "public_key",
                    pk_hex, "files", w.files);
    if (!man || !(mtext = json_dumps(man, JSON_INDENT(2) | JSON_SORT_KEYS))) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    size_t mlen = strlen(mtext);
    crypto_sign_detached(sig, NULL, (const unsigned char *)mtext, mlen, sk);
    sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
    sha_hex(mtext, mlen, msha);
    size_t nfiles = json_array_size(w.files);
    if ((rc = member_buf(&w, "manifest.json", mtext, mlen)))
        goto out;
    n = snprintf(line, sizeof line, "%s%s\n", TD__KEY_PREFIX, sig_hex);
    if ((rc = member_buf(&w, "manifest.sig", line, (size_t)n)))
        goto out;
    opened = 0;
    if (archive_write_close(w.a) != ARCHIVE_OK) {
        rc = arch_fail(&w, "close");
        goto out;
    }
    json_t *det = json_pack("{s:s, s:I, s:I, s:s}", "manifest_sha256", msha, "bytes",
                            (json_int_t)w.bytes, "files", (json_int_t)nfiles, "public_key", pk_hex);
    rc = td_desk_case_export_done(d, actor, case_id, det, err);
    json_decref(det);
    if (!rc && info) {
        memset(info, 0, sizeof *info);
        info->case_id = case_id;
        info->bytes = w.bytes;
        info->files = nfiles;
        info->messages = json_array_size(msgs);
        info->evidence = json_array_size(evl);
        memcpy(info->manifest_sha256, msha, 65);
        memcpy(info->public_key, pk_hex, 65);
    }
out:
    td__bundle_utf8_end(&loc);
    sodium_memzero(sk, sizeof sk);
    if (w.a) {
        if (opened)
            archive_write_close(w.a);
        archive_write_free(w.a);
    }
    free(mtext);
    json_decref(man);
    json_decref(evl);
    json_decref(x);
    json_decref(w.files);
    json_decref(w.members);
    return rc;
}
