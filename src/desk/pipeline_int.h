/*
 * pipeline_int.h - the desk-side rules of the ingest pipeline (pipeline.h),
 * shared by ingest.c (the desk's batches) and pipeline.c (not installed).
 */
#ifndef TD_DESK_PIPELINE_INT_H
#define TD_DESK_PIPELINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "threatdesk/desk.h"
#include "threatdesk/error.h"
#include "threatdesk/message.h"

/* What a message is filed under, computed once before the store is
 * touched. */
struct td__ingest_keys {
    char sender[512]; /* canonical sender key (sender.h), when has_sender */
    int has_sender;
    char content[33]; /* dedupe.h rule 2 key, when has_content */
    int has_content;
    char *attachments; /* JSON array text, or NULL; owned */
};

/* Fill k from m.  TD_OK (an unknown sender is not an error) or TD_ENOMEM. */
int td__ingest_keys(const struct td_message *m, struct td__ingest_keys *k, struct td_error *err);
void td__ingest_keys_release(struct td__ingest_keys *k);

/* 1 when s[0..n) is empty or only white space (ASCII or Unicode Zs). */
int td__blank(const char *s, size_t n);

/* *conflict = 1 when the stored message `id` of the office holds another
 * text than m: an idempotency key reused for new content (a retry carries
 * the same text, whatever else of the request changed).  Inside the
 * caller's transaction. */
int td__ingest_conflict(struct td_desk *d, int64_t office_id, int64_t id,
                        const struct td_message *m, int *conflict, struct td_error *err);

#endif
