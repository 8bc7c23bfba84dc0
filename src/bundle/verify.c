/*
 * verify.c - td_bundle_verify: check a bundle offline (bundle.h).
 *
 * One pass over the file with libarchive's tar reader.  Each member is
 * hashed as it streams, AND written again through the canonical writer
 * (archive.c) whose output is compared with the file's own bytes as they
 * come: the members' contents are covered by the manifest, everything
 * else (headers, pax records, padding, the end-of-archive blocks, trailing
 * bytes) by this comparison, so no byte of the file goes unchecked.
 * Then the manifest: every member listed with its size and SHA-256 and
 * nothing else present, the Ed25519 signature of the manifest's exact
 * bytes, the public key; then the proof inside: every audit entry's hash
 * recomputed from its fields (desk/audit.c's canonical form) and each link
 * between consecutive entries, and each original against the SHA-256 its
 * "message.ingest" entry recorded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "bundle/bundle_int.h"
#include "threatdesk/buf.h"

#define CHUNK 65536

struct vmember {
    char *path;
    int64_t size;
    char sha[65];
};

/* A member kept in memory for the checks after the pass. */
struct kept {
    const char *suffix;
    struct td_buf b;
    int seen;
    size_t index; /* its member's index */
};

enum { K_MANIFEST, K_SIG, K_PUB, K_AUDIT, K_MESSAGES, K_COUNT };

struct vctx {
    struct td_bundle_verify_stats *st;
    td_bundle_verify_cb *cb;
    void *ud;
    int stop;
    /* the canonical comparison */
    FILE *raw;
    uint64_t raw_off;
    int64_t mismatch_at; /* -1: none yet */
    struct vmember *m;
    size_t nm, cap;
    struct kept kept[K_COUNT];
    char writer[64]; /* the manifest's "writer": libarchive's version */
};

static int problem(struct vctx *v, const char *kind, const char *path, const char *what,
                   const char *expected, const char *found)
{
    struct td_bundle_problem p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    snprintf(p.path, sizeof p.path, "%s", path ? path : "");
    snprintf(p.what, sizeof p.what, "%s", what);
    snprintf(p.expected, sizeof p.expected, "%s", expected ? expected : "");
    snprintf(p.found, sizeof p.found, "%s", found ? found : "");
    v->st->problems++;
    if (v->cb && v->cb(v->ud, &p))
        v->stop = 1;
    return v->stop;
}

/* The canonical writer's output, compared with the file as it goes. */
static la_ssize_t cmp_write(struct archive *a, void *ud, const void *buf, size_t n)
{
    struct vctx *v = ud;
    unsigned char tmp[8192];
    const unsigned char *p = buf;
    size_t left = n;
    (void)a;
    while (left > 0) {
        size_t k = left < sizeof tmp ? left : sizeof tmp;
        size_t got = fread(tmp, 1, k, v->raw);
        if (v->mismatch_at < 0) {
            for (size_t i = 0; i < got; i++)
                if (tmp[i] != p[i]) {
                    v->mismatch_at = (int64_t)(v->raw_off + i);
                    break;
                }
            if (v->mismatch_at < 0 && got < k)
                v->mismatch_at = (int64_t)(v->raw_off + got); /* the file is shorter */
        }
        v->raw_off += got;
        p += k;
        left -= k;
    }
    return (la_ssize_t)n;
}

static const char *str_or(const json_t *j, const char *dflt)
{
    const char *s = json_string_value(j);
    return s ? s : dflt;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix) && (a == b || s[a - b - 1] == '/');
}

static struct vmember *find(struct vctx *v, const char *path)
{
    for (size_t i = 0; i < v->nm; i++)
        if (!strcmp(v->m[i].path, path))
            return &v->m[i];
    return NULL;
}

/* Read every member: hash, keep the small ones the checks need, and feed
 * the canonical writer.  Returns TD_OK or a resource error. */
static int pass(struct vctx *v, const char *path, struct td_error *err)
{
    struct archive *r = archive_read_new(), *canon = td__bundle_writer();
    struct archive_entry *e;
    unsigned char *buf = malloc(CHUNK);
    int rc = TD_OK, canon_open = 0, first = 1;
    time_t mtime = 0;
    char pos[64];
    if (!r || !canon || !buf) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    archive_read_support_format_tar(r);
    if (archive_read_open_filename(r, path, CHUNK) != ARCHIVE_OK) {
        /* The file opened (the caller read its size): what fails here is
         * its first header - damaged, or not a tar at all. */
        const char *msg = archive_error_string(r);
        problem(v, "archive", NULL, "not a readable tar archive (the first header is damaged)",
                "a tar archive", msg ? msg : "unreadable");
        goto out;
    }
    if (archive_write_open2(canon, v, NULL, cmp_write, NULL, NULL) != ARCHIVE_OK) {
        rc = td_error_set(err, TD_ENOMEM, NULL);
        goto out;
    }
    canon_open = 1;
    for (;;) {
        int h = archive_read_next_header(r, &e);
        if (h == ARCHIVE_EOF)
            break;
        if (h != ARCHIVE_OK) {
            snprintf(pos, sizeof pos, "near byte %" PRId64, (int64_t)archive_filter_bytes(r, -1));
            const char *msg = archive_error_string(r);
            problem(v, "archive", NULL, "the archive is damaged: a header does not read",
                    "a valid tar header", msg ? msg : pos);
            if (h != ARCHIVE_WARN)
                goto out;
        }
        const char *name = archive_entry_pathname_utf8(e);
        if (!name)
            name = archive_entry_pathname(e);
        if (!name)
            name = "";
        v->st->members++;
        if (archive_entry_filetype(e) != AE_IFREG &&
            problem(v, "archive", name, "member is not a regular file", "regular file", "other"))
            goto out;
        if (first) {
            mtime = archive_entry_mtime(e);
            first = 0;
        }
        int64_t size = archive_entry_size(e);
        if (td__bundle_header(canon, name, size, mtime) != ARCHIVE_OK) {
            /* What the file holds cannot be a bundle's header (a size or
             * name no bundle writer makes): an alteration. */
            const char *msg = archive_error_string(canon);
            problem(v, "archive", name, "a member's header is not one a bundle can have",
                    "a canonical header", msg ? msg : "unwritable");
            goto out;
        }
        if (find(v, name) && problem(v, "archive", name, "member appears twice", "once", "twice"))
            goto out;
        struct kept *k = NULL;
        for (int i = 0; i < K_COUNT; i++)
            if (ends_with(name, v->kept[i].suffix) && !v->kept[i].seen) {
                k = &v->kept[i];
                k->seen = 1;
                k->index = v->nm;
            }
        crypto_hash_sha256_state hs;
        crypto_hash_sha256_init(&hs);
        int64_t total = 0;
        la_ssize_t n;
        while ((n = archive_read_data(r, buf, CHUNK)) > 0) {
            crypto_hash_sha256_update(&hs, buf, (size_t)n);
            total += n;
            if (archive_write_data(canon, buf, (size_t)n) != n) {
                problem(v, "archive", name, "a member's data does not fit its header",
                        "data as long as the header says", "more");
                goto out;
            }
            if (k && td_buf_append(&k->b, buf, (size_t)n) != TD_OK &&
                problem(v, "archive", name, "member too large to check", "at most 64 MiB", "more"))
                goto out;
        }
        if (n < 0) {
            const char *msg = archive_error_string(r);
            problem(v, "archive", name, "the archive is damaged: a file's data does not read",
                    "complete data", msg ? msg : "read error");
            goto out;
        }
        if (archive_write_finish_entry(canon) != ARCHIVE_OK) {
            problem(v, "archive", name, "a member's data does not fit its header",
                    "data as long as the header says", "other");
            goto out;
        }
        unsigned char d[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&hs, d);
        if (v->nm == v->cap) {
            size_t nc = v->cap ? v->cap * 2 : 64;
            struct vmember *nm = realloc(v->m, nc * sizeof *nm);
            if (!nm) {
                rc = td_error_set(err, TD_ENOMEM, NULL);
                goto out;
            }
            v->m = nm;
            v->cap = nc;
        }
        struct vmember *m = &v->m[v->nm];
        if (!(m->path = strdup(name))) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            goto out;
        }
        v->nm++;
        m->size = total;
        sodium_bin2hex(m->sha, sizeof m->sha, d, sizeof d);
    }
    canon_open = 0;
    archive_write_close(canon);
    if (v->mismatch_at < 0 && fgetc(v->raw) != EOF)
        v->mismatch_at = (int64_t)v->raw_off;
out:
    if (canon_open)
        archive_write_close(canon);
    if (canon)
        archive_write_free(canon);
    if (r)
        archive_read_free(r);
    free(buf);
    return rc;
}

/* "ed25519 <hex>\n" -> bytes; 0 ok. */
static int parse_key_line(const struct td_buf *b, unsigned char *out, size_t n)
{
    size_t pl = strlen(TD__KEY_PREFIX);
    if (b->len != pl + 2 * n + 1 || memcmp(b->data, TD__KEY_PREFIX, pl) ||
        b->data[b->len - 1] != '\n')
        return -1;
    size_t got = 0;
    char again[2 * 64 + 1];
    if (n > 64 || sodium_hex2bin(out, n, b->data + pl, 2 * n, NULL, &got, NULL) != 0 || got != n)
        return -1;
    /* Exactly the lower-case hex the writer makes: "AB" decodes like "ab",
     * and a signature line is covered by no hash but its own check. */
    sodium_bin2hex(again, sizeof again, out, n);
    return memcmp(again, b->data + pl, 2 * n) == 0 ? 0 : -1;
}

static int hex32(const char *hex, unsigned char out[32])
{
    size_t got = 0;
    return hex && strlen(hex) == 64 && sodium_hex2bin(out, 32, hex, 64, NULL, &got, NULL) == 0 &&
                   got == 32
               ? 0
               : -1;
}

static void check_manifest(struct vctx *v, const char *pubkey_hex)
{
    struct kept *man = &v->kept[K_MANIFEST], *sig = &v->kept[K_SIG], *pub = &v->kept[K_PUB];
    unsigned char pk[32], pk_file[32], want[32], s[crypto_sign_BYTES];
    if (!man->seen) {
        problem(v, "manifest", "manifest.json", "the manifest is missing", "present", "absent");
        return;
    }
    json_error_t je;
    json_t *j = json_loadb(man->b.data ? man->b.data : "", man->b.len, 0, &je);
    if (!j) {
        problem(v, "manifest", "manifest.json", "the manifest is not valid JSON", "JSON", je.text);
        return;
    }
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!fmt || strcmp(fmt, TD_BUNDLE_FORMAT))
        problem(v, "manifest", "manifest.json", "unknown bundle format", TD_BUNDLE_FORMAT,
                fmt ? fmt : "none");
    v->st->case_id = json_integer_value(json_object_get(j, "case"));
    snprintf(v->writer, sizeof v->writer, "%s", str_or(json_object_get(j, "writer"), ""));
    const char *pkh = json_string_value(json_object_get(j, "public_key"));
    snprintf(v->st->public_key, sizeof v->st->public_key, "%s", pkh ? pkh : "");

    /* Every listed file present, with its size and hash. */
    json_t *files = json_object_get(j, "files"), *f;
    size_t i;
    if (!json_is_array(files))
        problem(v, "manifest", "manifest.json", "the manifest lists no files", "files[]", "none");
    char *listed = calloc(v->nm ? v->nm : 1, 1);
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        int64_t size = json_integer_value(json_object_get(f, "size"));
        char e[40], g[40];
        if (v->stop)
            break;
        v->st->files++;
        struct vmember *m = p ? find(v, p) : NULL;
        if (!m) {
            problem(v, "file", p, "listed in the manifest but missing from the archive", "present",
                    "absent");
            continue;
        }
        if (listed)
            listed[m - v->m] = 1;
        if (!sha || strcmp(sha, m->sha))
            problem(v, "file", p, "contents differ from the manifest (SHA-256)", sha, m->sha);
        else if (size != m->size) {
            snprintf(e, sizeof e, "%" PRId64 " bytes", size);
            snprintf(g, sizeof g, "%" PRId64 " bytes", m->size);
            problem(v, "file", p, "size differs from the manifest", e, g);
        }
    }
    for (size_t k = 0; listed && k < v->nm && !v->stop; k++)
        if (!listed[k] && !(man->seen && k == man->index) && !(sig->seen && k == sig->index))
            problem(v, "file", v->m[k].path, "in the archive but not in the manifest", "absent",
                    "present");
    free(listed);

    /* The key and the signature. */
    if (hex32(pkh, pk) != 0) {
        problem(v, "key", "manifest.json", "the manifest names no valid public key",
                "64 hex digits", pkh ? pkh : "none");
        goto out;
    }
    if (!pub->seen || parse_key_line(&pub->b, pk_file, sizeof pk_file) != 0)
        problem(v, "key", "office-key.pub", "office-key.pub is missing or malformed",
                "ed25519 <64 hex>", pub->seen ? "malformed" : "absent");
    else if (sodium_memcmp(pk, pk_file, 32) != 0)
        problem(v, "key", "office-key.pub", "office-key.pub differs from the manifest's key", pkh,
                "another key");
    if (pubkey_hex) {
        if (hex32(pubkey_hex, want) != 0)
            problem(v, "key", NULL, "the --pubkey given is not 64 hex digits", "64 hex digits",
                    pubkey_hex);
        else if (sodium_memcmp(want, pk, 32) != 0)
            problem(v, "key", "manifest.json",
                    "signed with a different key than the office's published key", pubkey_hex, pkh);
    }
    if (!sig->seen || parse_key_line(&sig->b, s, sizeof s) != 0) {
        problem(v, "signature", "manifest.sig", "the signature is missing or malformed",
                "ed25519 <128 hex>", sig->seen ? "malformed" : "absent");
        goto out;
    }
    if (crypto_sign_verify_detached(s, (const unsigned char *)man->b.data, man->b.len, pk) == 0)
        v->st->signature_ok = 1;
    else
        problem(v, "signature", "manifest.sig",
                "the signature does not verify: manifest.json or manifest.sig was altered, or "
                "another key signed it",
                "a valid Ed25519 signature", "invalid");
out:
    json_decref(j);
}

/* desk/audit.c's canonical form: "td-audit-1\n" then netstrings of id,
 * time, office_id, user_id, action, object_type, object_id, details,
 * prev_hash. */
static int ns(struct td_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int rc = td_buf_printf(b, "%zu:", n);
    if (!rc && n)
        rc = td_buf_append(b, s, n);
    return rc ? rc : td_buf_putc(b, ',');
}

static int ns_int(struct td_buf *b, json_int_t x)
{
    char num[32];
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, x);
    return ns(b, num);
}

static int audit_hash(const json_t *e, char hex[65])
{
    struct td_buf b;
    unsigned char h[crypto_hash_sha256_BYTES];
    td_buf_init(&b, TD__BUNDLE_JSON_MAX);
    int rc = td_buf_append(&b, "td-audit-1\n", 11);
    if (!rc)
        rc = ns_int(&b, json_integer_value(json_object_get(e, "id")));
    if (!rc)
        rc = ns_int(&b, json_integer_value(json_object_get(e, "time")));
    if (!rc)
        rc = ns_int(&b, json_integer_value(json_object_get(e, "office_id")));
    if (!rc)
        rc = ns_int(&b, json_integer_value(json_object_get(e, "user_id")));
    if (!rc)
        rc = ns(&b, json_string_value(json_object_get(e, "action")));
    if (!rc)
        rc = ns(&b, json_string_value(json_object_get(e, "object_type")));
    if (!rc)
        rc = ns_int(&b, json_integer_value(json_object_get(e, "object_id")));
    if (!rc)
        rc = ns(&b, json_string_value(json_object_get(e, "details")));
    if (!rc)
        rc = ns(&b, json_string_value(json_object_get(e, "prev_hash")));
    if (!rc) {
        crypto_hash_sha256(h, (const unsigned char *)b.data, b.len);
        sodium_bin2hex(hex, 65, h, sizeof h);
    }
    td_buf_release(&b);
    return rc;
}

static json_t *load_kept(struct vctx *v, int which, const char *name)
{
    struct kept *k = &v->kept[which];
    json_error_t je;
    if (!k->seen) {
        problem(v, "file", name, "missing from the bundle", "present", "absent");
        return NULL;
    }
    json_t *j = json_loadb(k->b.data ? k->b.data : "", k->b.len, 0, &je);
    if (!j)
        problem(v, "file", name, "not valid JSON", "JSON", je.text);
    return j;
}

static void check_proof(struct vctx *v)
{
    json_t *audit = load_kept(v, K_AUDIT, "audit.json");
    json_t *msgs = load_kept(v, K_MESSAGES, "messages.json");
    json_t *entries = json_object_get(audit, "entries"), *e, *prev = NULL, *m;
    size_t i;
    char where[48];
    json_array_foreach(entries, i, e)
    {
        char got[65];
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        const char *hash = json_string_value(json_object_get(e, "hash"));
        const char *ph = json_string_value(json_object_get(e, "prev_hash"));
        snprintf(where, sizeof where, "audit.json entry %" JSON_INTEGER_FORMAT, id);
        if (v->stop)
            break;
        if (prev && json_integer_value(json_object_get(prev, "id")) == id - 1) {
            const char *prevh = json_string_value(json_object_get(prev, "hash"));
            if (!prevh || !ph || strcmp(prevh, ph))
                problem(v, "audit", where, "does not link to the entry before it (prev_hash)",
                        prevh, ph);
        }
        prev = e;
        if (json_is_null(json_object_get(e, "details")))
            continue; /* withheld (an internal note): its hash stands unproved */
        v->st->audit_entries++;
        if (audit_hash(e, got) != 0 || !hash || strcmp(got, hash))
            problem(v, "audit", where, "its hash does not match its fields", hash, got);
    }
    /* Each original against what the desk recorded when it arrived. */
    json_array_foreach(msgs, i, m)
    {
        json_int_t mid = json_integer_value(json_object_get(m, "id"));
        const char *member = json_string_value(json_object_get(m, "member"));
        const char *osha = json_string_value(json_object_get(m, "original_sha256"));
        struct vmember *vm = member ? find(v, member) : NULL;
        if (v->stop)
            break;
        if (!vm) {
            problem(v, "message", member, "the original named in messages.json is missing",
                    "present", "absent");
            continue;
        }
        if (!osha || strcmp(osha, vm->sha))
            problem(v, "message", member, "original differs from messages.json's SHA-256", osha,
                    vm->sha);
        size_t j;
        json_array_foreach(entries, j, e)
        {
            const char *act = json_string_value(json_object_get(e, "action"));
            if (!act || strcmp(act, "message.ingest") ||
                json_integer_value(json_object_get(e, "object_id")) != mid)
                continue;
            json_t *det = json_loads(str_or(json_object_get(e, "details"), "{}"), 0, NULL);
            const char *isha = json_string_value(json_object_get(det, "sha256"));
            if (isha && strcmp(isha, vm->sha))
                problem(v, "message", member,
                        "original differs from the SHA-256 the desk recorded at ingest", isha,
                        vm->sha);
            json_decref(det);
        }
    }
    json_decref(audit);
    json_decref(msgs);
}

int td_bundle_verify(const char *path, const char *pubkey_hex, td_bundle_verify_cb *cb, void *ud,
                     struct td_bundle_verify_stats *stats, struct td_error *err)
{
    static const char *suffix[K_COUNT] = {"manifest.json", "manifest.sig", "office-key.pub",
                                          "audit.json", "messages.json"};
    struct vctx v;
    memset(&v, 0, sizeof v);
    memset(stats, 0, sizeof *stats);
    v.st = stats;
    v.cb = cb;
    v.ud = ud;
    v.mismatch_at = -1;
    if (sodium_init() < 0)
        return td_error_set(err, TD_ECRYPTO, "libsodium did not initialise");
    for (int i = 0; i < K_COUNT; i++) {
        v.kept[i].suffix = suffix[i];
        td_buf_init(&v.kept[i].b, TD__BUNDLE_JSON_MAX);
    }
    if (!(v.raw = fopen(path, "rb"))) {
        for (int i = 0; i < K_COUNT; i++)
            td_buf_release(&v.kept[i].b);
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "%s: %s", path,
                            strerror(errno));
    }
    struct td__bundle_locale loc;
    td__bundle_utf8_begin(&loc); /* without one, ASCII names still read */
    fseeko(v.raw, 0, SEEK_END);
    stats->bytes = (uint64_t)ftello(v.raw);
    rewind(v.raw);
    int rc = pass(&v, path, err);
    if (!rc && !v.stop)
        check_manifest(&v, pubkey_hex);
    if (!rc && !v.stop && v.mismatch_at >= 0) {
        /* After the manifest: it names the libarchive that wrote the file,
         * and another version could serialise the same members otherwise. */
        char pos[200];
        const char *mine = archive_version_string();
        if (v.writer[0] && strcmp(v.writer, mine))
            snprintf(pos, sizeof pos,
                     "byte %" PRId64 " (written by %s, checked with %s: "
                     "verify with the writer's version to rule that out)",
                     v.mismatch_at, v.writer, mine);
        else
            snprintf(pos, sizeof pos, "byte %" PRId64, v.mismatch_at);
        problem(&v, "archive", NULL,
                "a byte outside the files differs from the canonical archive (a header, "
                "padding or the end of the archive was altered, or bytes were added)",
                "the canonical byte", pos);
    }
    if (!rc && !v.stop)
        check_proof(&v);
    td__bundle_utf8_end(&loc);
    fclose(v.raw);
    for (size_t i = 0; i < v.nm; i++)
        free(v.m[i].path);
    free(v.m);
    for (int i = 0; i < K_COUNT; i++)
        td_buf_release(&v.kept[i].b);
    return rc;
}
