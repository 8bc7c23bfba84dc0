/*
 * social_reader.c - the social-media formats (twitter, bluesky, facebook)
 * as entries of the reader table, over the library of social.c.
 *
 * Platform exports are single JSON documents (or a few, one after another),
 * not lines, so the file is read whole - up to 16 x max_record (256 MiB by
 * default), beyond which it is refused with TD_ETOOBIG rather than grown.
 */
#include "ingest/reader_int.h"

#include <stdlib.h>

#include "threatdesk/social.h"

#define DOC_FACTOR 16

static int social_open(struct td_reader *r, struct td_error *err)
{
    struct td_buf b;
    size_t cap = r->opts.max_record > ((size_t)-1) / DOC_FACTOR ? (size_t)-1
                                                                : r->opts.max_record * DOC_FACTOR;
    td_buf_init(&b, cap);
    int rc = td__src_slurp(&r->src, &b);
    if (rc) {
        td__reader_locate(r, err, 0, r->src.offset);
        td_buf_release(&b);
        if (rc == TD_ETOOBIG)
            return td_error_set(err, rc, "export larger than %zu bytes", cap);
        return td_error_set(err, rc, "read failed");
    }
    struct td_social *s = NULL;
    rc = td_social_open(b.data, b.len, r->ops->format, r->display, &s, err);
    td_buf_release(&b);
    if (rc)
        return rc;
    r->state = s;
    return TD_OK;
}

static int social_next(struct td_reader *r, struct td_message *m, struct td_error *err)
{
    return td_social_next(r->state, m, err);
}

static void social_close(struct td_reader *r)
{
    td_social_close(r->state);
    r->state = NULL;
}

const struct td_reader_ops td__reader_twitter = {
    TD_FORMAT_TWITTER, "twitter", 1, social_open, social_next, social_close,
};
const struct td_reader_ops td__reader_bluesky = {
    TD_FORMAT_BLUESKY, "bluesky", 1, social_open, social_next, social_close,
};
const struct td_reader_ops td__reader_facebook = {
    TD_FORMAT_FACEBOOK, "facebook", 1, social_open, social_next, social_close,
};
