/*
 * model.c - load, save and score the linear model (format in model.h).
 */
#include "threatdesk/model.h"
#include "le.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define MAGIC "TDMODEL"
#define FORMAT_VERSION 2u /* 1: linear only; 2: + embeddings and network */
#define LABEL_REC 40
#define MAX_META (1u << 20)

int td_model_new(unsigned bits, struct td_model **out)
{
    if (bits < 10 || bits > 26)
        return TD_EINVAL;
    struct td_model *m = calloc(1, sizeof *m);
    if (!m)
        return TD_ENOMEM;
    m->bits = bits;
    m->qbits = 16;
    m->w = calloc((size_t)TD_LABEL_COUNT << bits, sizeof *m->w);
    if (!m->w) {
        free(m);
        return TD_ENOMEM;
    }
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        m->platt_a[l] = 1.0f;
        m->threshold[l] = 0.5f;
    }
    *out = m;
    return TD_OK;
}

void td_model_free(struct td_model *m)
{
    if (!m)
        return;
    free(m->w);
    free(m->meta);
    td_embed_free(m->embed);
    td_nn_free(m->nn);
    if (m->map_)
        munmap(m->map_, m->maplen_);
    free(m);
}

/* ---- save ------------------------------------------------------------------------ */

int td_model_save(const struct td_model *m, const char *path, struct td_error *err)
{
    const size_t nb = (size_t)1 << m->bits;
    const size_t nw = nb * TD_LABEL_COUNT;
    const unsigned qbits = m->qbits == 8 ? 8 : 16;
    const size_t qbytes = qbits / 8;
    const size_t metalen = m->meta ? strlen(m->meta) : 0;
    const size_t head = 88 + LABEL_REC * TD_LABEL_COUNT + 4;
    /* version 2: the embeddings and the network, serialised by their own
     * modules into one blob that follows the linear weights */
    char *deep = NULL;
    size_t deeplen = 0;
    if (m->nn && m->embed) {
        FILE *mf = open_memstream(&deep, &deeplen);
        if (!mf)
            return td_error_set(err, TD_ENOMEM, NULL);
        int bad = td_embed_write(m->embed, mf) || td_nn_write(m->nn, mf);
        if (fclose(mf) != 0 || bad) {
            free(deep);
            return td_error_set(err, TD_ENOMEM, NULL);
        }
    }
    const uint32_t version = deep ? 2u : 1u;
    const size_t total = head + metalen + nw * qbytes + (deep ? 8 + deeplen : 0) + 8;
    int rc = TD_OK;
    unsigned char *buf = calloc(1, total);
    if (!buf)
        return td_error_set(err, TD_ENOMEM, NULL);

    /* Per-label scale: the largest |w| maps to the largest integer. */
    const float qmax = qbits == 8 ? 127.0f : 32767.0f;
    float scale[TD_LABEL_COUNT];
    for (int l = 0; l < TD_LABEL_COUNT; l++) {
        float mx = 0;
        for (size_t b = 0; b < nb; b++) {
            float a = fabsf(m->w[b * TD_LABEL_COUNT + l]);
            if (a > mx)
                mx = a;
        }
        scale[l] = mx > 0 ? mx / qmax : 1.0f;
    }

    memcpy(buf, MAGIC, 8);
    td__put_u32(buf + 8, version);
    td__put_u32(buf + 12, m->bits);
    td__put_u32(buf + 16, TD_LABEL_COUNT);
    td__put_u32(buf + 20, qbits);
    memcpy(buf + 24, m->version, strnlen(m->version, 63));
    unsigned char *p = buf + 88;
    for (int l = 0; l < TD_LABEL_COUNT; l++, p += LABEL_REC) {
        memcpy(p, td_label_name(l), strlen(td_label_name(l)));
        td__put_u32(p + 16, (uint32_t)m->trained[l]);
        td__put_f32(p + 20, m->bias[l]);
        td__put_f32(p + 24, scale[l]);
        td__put_f32(p + 28, m->platt_a[l]);
        td__put_f32(p + 32, m->platt_b[l]);
        td__put_f32(p + 36, m->threshold[l]);
    }
    td__put_u32(p, (uint32_t)metalen);
    p += 4;
    memcpy(p, m->meta ? m->meta : "", metalen);
    p += metalen;
    for (size_t i = 0; i < nw; i++) {
        float q = roundf(m->w[i] / scale[i % TD_LABEL_COUNT]);
        if (q > qmax)
            q = qmax;
        if (q < -qmax)
            q = -qmax;
        int32_t v = (int32_t)q;
        if (qbits == 8) {
            *p++ = (unsigned char)(int8_t)v;
        } else {
            uint16_t u = (uint16_t)(int16_t)v;
            *p++ = (unsigned char)(u & 0xff);
            *p++ = (unsigned char)(u >> 8);
        }
    }
    if (deep) {
        td__put_u64(p, deeplen);
        memcpy(p + 8, deep, deeplen);
        p += 8 + deeplen;
    }
    td__put_u64(p, XXH3_64bits(buf, (size_t)(p - buf)));

    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        rc = td_error_set(err, TD_EINVAL, "path too long");
        goto out;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        td_error_at(err, tmp, 0, 0);
        rc = td_error_set(err, TD_EIO, "cannot create: %s", strerror(errno));
        goto out;
    }
    int bad = fwrite(buf, 1, total, f) != total;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        td_error_at(err, path, 0, 0);
        rc = td_error_set(err, TD_EIO, "cannot write model: %s", strerror(errno));
    }
out:
    free(buf);
    free(deep);
    return rc;
}

/* ---- load ------------------------------------------------------------------------ */

int td_model_load(const char *path, struct td_model **out, struct td_error *err)
{
    int rc = TD_OK;
    unsigned char *buf = NULL;
    size_t total = 0;
    struct td_model *m = NULL;
    td_error_at(err, path, 0, 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return td_error_set(err, errno == ENOENT ? TD_ENOTFOUND : TD_EIO, "cannot open model: %s",
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = td_error_set(err, TD_EIO, "cannot stat: %s", strerror(errno));
        goto out;
    }
    const size_t head = 88 + LABEL_REC * TD_LABEL_COUNT + 4;
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)(head + 8) || st.st_size > (1L << 30)) {
        rc = td_error_set(err, TD_EMODEL, "file size %lld is not that of a model",
                          (long long)st.st_size);
        goto out;
    }
    total = (size_t)st.st_size;
    /* Mapped, not read: the embeddings (most of the file) are used where
     * they lie, so start-up neither copies them nor touches the rows no
     * text needs beyond the checksum's one pass.  Private and writable:
     * a stray write changes this process's copy, never the file. */
    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = td_error_set(err, errno == ENOMEM ? TD_ENOMEM : TD_EIO, "cannot map: %s",
                          strerror(errno));
        goto out;
    }
    buf = map;
    if (memcmp(buf, MAGIC, 8) != 0) {
        rc = td_error_set(err, TD_EMODEL, "bad magic: not a threatdesk model");
        goto out;
    }
    uint32_t fver = td__get_u32(buf + 8);
    if (fver < 1 || fver > FORMAT_VERSION) {
        td_error_at(err, path, 0, 8);
        rc = td_error_set(err, TD_EMODEL, "format version %u, this build reads 1..%u", fver,
                          FORMAT_VERSION);
        goto out;
    }
    if (td__get_u64(buf + total - 8) != XXH3_64bits(buf, total - 8)) {
        td_error_at(err, path, 0, total - 8);
        rc = td_error_set(err, TD_EMODEL, "checksum mismatch: file truncated or corrupted");
        goto out;
    }
    unsigned bits = td__get_u32(buf + 12), nl = td__get_u32(buf + 16),
             qbits = td__get_u32(buf + 20);
    if (bits < 10 || bits > 26 || nl != TD_LABEL_COUNT || (qbits != 8 && qbits != 16)) {
        td_error_at(err, path, 0, 12);
        rc = td_error_set(err, TD_EMODEL, "unsupported shape: bits=%u labels=%u qbits=%u", bits, nl,
                          qbits);
        goto out;
    }
    size_t metalen = td__get_u32(buf + head - 4);
    size_t nw = (size_t)TD_LABEL_COUNT << bits;
    size_t lin_end = head + metalen + nw * (qbits / 8);
    size_t deeplen = 0;
    if (metalen <= MAX_META && fver == 2 && lin_end + 16 <= total)
        deeplen = (size_t)td__get_u64(buf + lin_end);
    if (metalen > MAX_META || (fver == 1 && lin_end + 8 != total) ||
        (fver == 2 && (deeplen > total || lin_end + 16 + deeplen != total))) {
        rc = td_error_set(err, TD_EMODEL, "size does not match header");
        goto out;
    }
    if ((rc = td_model_new(bits, &m)) != TD_OK) {
        rc = td_error_set(err, rc, NULL);
        goto out;
    }
    m->qbits = qbits;
    memcpy(m->version, buf + 24, 63);
    m->version[63] = '\0';
    float scale[TD_LABEL_COUNT];
    const unsigned char *p = buf + 88;
    for (int l = 0; l < TD_LABEL_COUNT; l++, p += LABEL_REC) {
        if (strncmp((const char *)p, td_label_name(l), 16) != 0) {
            td_error_at(err, path, 0, (size_t)(p - buf));
            rc = td_error_set(err, TD_EMODEL, "label %d is '%.16s', expected '%s'", l,
                              (const char *)p, td_label_name(l));
            goto out;
        }
        m->trained[l] = (int)td__get_u32(p + 16);
        m->bias[l] = td__get_f32(p + 20);
        scale[l] = td__get_f32(p + 24);
        m->platt_a[l] = td__get_f32(p + 28);
        m->platt_b[l] = td__get_f32(p + 32);
        m->threshold[l] = td__get_f32(p + 36);
    }
    p += 4;
    if (metalen) {
        m->meta = malloc(metalen + 1);
        if (!m->meta) {
            rc = td_error_set(err, TD_ENOMEM, NULL);
            goto out;
        }
        memcpy(m->meta, p, metalen);
        m->meta[metalen] = '\0';
        p += metalen;
    }
    for (size_t i = 0; i < nw; i++) {
        int32_t v;
        if (qbits == 8) {
            v = (int8_t)*p++;
        } else {
            v = (int16_t)(uint16_t)(p[0] | p[1] << 8);
            p += 2;
        }
        m->w[i] = (float)v * scale[i % TD_LABEL_COUNT];
    }
    if (fver == 2) {
        size_t used, used2;
        p += 8;
        if ((rc = td_embed_view(p, deeplen, &m->embed, &used, err)) != TD_OK ||
            (rc = td_nn_read(p + used, deeplen - used, &m->nn, &used2, err)) != TD_OK)
            goto out;
        if (used + used2 != deeplen || m->nn->dim != m->embed->dim) {
            rc = td_error_set(err, TD_EMODEL, "network and embeddings do not fit together");
            goto out;
        }
    }
    if (m->embed) {
        /* the mapping now belongs to the model (its embeddings view it) */
        m->map_ = buf;
        m->maplen_ = total;
        buf = NULL;
    }
    td_error_clear(err);
    *out = m;
    m = NULL;
out:
    td_model_free(m);
    if (buf)
        munmap(buf, total);
    close(fd);
    return rc;
}

/* ---- scoring ------------------------------------------------------------------- */

void td_model_score(const struct td_model *m, const struct td_features *f, float z[TD_LABEL_COUNT])
{
    float acc[TD_LABEL_COUNT] = {0};
    for (size_t i = 0; i < f->n; i++) {
        const float *w = m->w + (size_t)f->idx[i] * TD_LABEL_COUNT;
        for (int l = 0; l < TD_LABEL_COUNT; l++)
            acc[l] += w[l];
    }
    for (int l = 0; l < TD_LABEL_COUNT; l++)
        z[l] = m->bias[l] + f->value * acc[l];
}

float td_model_calibrate(const struct td_model *m, enum td_label l, float z)
{
    if (!m->trained[l])
        return 0.0f;
    double t = (double)m->platt_a[l] * z + m->platt_b[l];
    return (float)(1.0 / (1.0 + exp(-t)));
}

void td_model_word_scores(const struct td_model *m, const struct td_features *f, enum td_label l,
                          float *out)
{
    /* one pass over the features: a word's score is the sum of the weights
     * of the features it produced, scaled like the document score */
    memset(out, 0, f->nwords * sizeof *out);
    for (size_t i = 0; i < f->n; i++)
        out[f->word[i]] += m->w[(size_t)f->idx[i] * TD_LABEL_COUNT + l];
    for (size_t w = 0; w < f->nwords; w++)
        out[w] *= f->value;
}
