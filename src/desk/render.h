/*
 * render.h - inside the desk: the JSON the front doors get, rendered from
 * the store's typed rows (store.h), in ONE place for both backends.
 *
 * The shapes are the API's (desk.h: MESSAGE, CASE, EVIDENCE, ...): members
 * in a fixed order, a NULL column left out, JSON-text columns parsed here
 * (a verdict merged into its message without "severity_rank", other JSON
 * text set under its member; text that does not parse is left out), and
 * text that is not valid UTF-8 left out rather than sent broken.
 *
 * Every function answers a NEW reference (json_decref) or NULL when out of
 * memory; the rows are only read.
 */
#ifndef TD_DESK_RENDER_H
#define TD_DESK_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "threatdesk/store.h"

/* MESSAGE; an array of them. */
json_t *td__render_message(const struct td_store_message_row *r);
json_t *td__render_messages(const struct td_store_message_row *rows, size_t n);
/* The queue's page: {"messages", "total", "limit", "offset"[, "next_offset"]}. */
json_t *td__render_queue(const struct td_store_message_page *p, size_t limit, size_t offset);
/* The sender's history: its tallies ("worst_severity" by name) and "recent". */
json_t *td__render_sender(const struct td_store_sender_row *r);

/* EVIDENCE: with_case 1 for a file read alone ("case" after "id"), 0 in
 * its case's list. */
json_t *td__render_evidence(const struct td_store_evidence_row *r, int with_case);

/* CASE as listed; with its "messages", "evidence" and "notes" (case_get). */
json_t *td__render_case(const struct td_store_case_row *r);
json_t *td__render_case_detail(const struct td_store_case_detail *d);
/* A page: {"<key>": [...], "total", "limit", "offset"} and "next_offset"
 * when more follow; items is stolen (also on failure). */
json_t *td__render_page(const char *key, json_t *items, int64_t total, size_t limit, size_t offset);
/* case_list's page. */
json_t *td__render_case_page(const struct td_store_case_page *p, size_t limit, size_t offset);

/* The office's alerts: [{"id", "message", "rule", "rule_name", "severity"
 * (name), "label" (the top one), "created", "step", "state" (acknowledged,
 * failed or open), "deliveries": [{..., "attempt_log": [...]}],
 * "acknowledged": {"at", "by", "via"} once acknowledged}]. */
json_t *td__render_alerts(const struct td_store_alert_list *l);

/* A verdict (td_verdict_to_json) as a message row stores it: without
 * "predicted", "severity", "flags" and "model", which the row keeps in its
 * columns, so the decision is stored once; the rendering of a message puts
 * them back in their places.  Deletes those members of v.  malloc()ed
 * text (free()), NULL when out of memory. */
char *td__verdict_stored_text(json_t *v);

/* The exports' rows (desk_export.h, reports): a message of the queue's
 * export (MESSAGE without text, client_key and attachments; "cases" the
 * ids joined by spaces, in link order, left out when none), a case of the
 * case export (the list's row without description and people, with
 * "messages" and "evidence" counts), and one group of the digest by kind
 * ("volume", "senders", "cases"; "review" is a bare integer). */
json_t *td__render_export_message(const struct td_store_message_row *r);
json_t *td__render_export_case(const struct td_store_case_export_row *r);
json_t *td__render_digest(const char *kind, const struct td_store_digest_row *r);

#endif
