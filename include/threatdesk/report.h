/*
 * report.h - what the desk prints and exports for people outside it: the
 * PDF summary inside a police evidence bundle, the weekly digest, and CSV
 * exports of the queue and of cases.
 *
 * PDFs are drawn with cairo (A4, 595 x 842 pt) and their text laid out by
 * pango in DejaVu Sans, so any script the office receives prints.  The
 * functions here take the desk's JSON (desk_export.h) and never touch the
 * store: what a report may show is decided by the desk call that made it.
 */
#ifndef THREATDESK_REPORT_H
#define THREATDESK_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "threatdesk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The bundle's summary.pdf from td_desk_case_export()'s JSON (its
 * "evidence" entries may carry a "member": the file's name in the bundle),
 * for a police officer who has never seen threatdesk: what this is, the
 * incident, the timeline, every message with its tier, labels, flags, the
 * reason and the words that drove the assessment highlighted, the senders,
 * the evidence files, the shared notes, and every SHA-256.  *pdf (free())
 * and *len are yours.  Capped at 64 MiB (TD_ETOOBIG).
 */
int td_report_case_summary(const json_t *x, void **pdf, size_t *len, struct td_error *err);

/*
 * The weekly digest for the MP and the office manager, from
 * td_desk_digest()'s JSON (desk_export.h) over 7 days from "since":
 * page 1 the week at a glance and charts of volume per day by tier, by
 * label and by channel (drawn with cairo, embedded as images); page 2 the
 * top senders by severity, the open cases by status and the median time to
 * review a critical message; page 3 de-identified aggregates to share
 * outside the office: counts only - no message text, no sender, no
 * handle - and every count from 1 to 2 shown as "<3" so a rare case cannot
 * be picked out.  *pdf (free()) and *len are yours.
 */
int td_report_digest(const json_t *digest, const char *office, void **pdf, size_t *len,
                     struct td_error *err);

/* ---- CSV (RFC 4180) ------------------------------------------------------
 * Fields are quoted when they hold a comma, a double quote, CR or LF
 * (quotes doubled); rows end with CRLF; UTF-8 as stored.  A spreadsheet
 * runs a cell that starts with = + - @ (or TAB / CR) as a formula, and a
 * sender's display name or a subject is the sender's to choose: such a
 * cell is written with a leading apostrophe ('=HYPERLINK(...) stays text).
 * Each call writes one row; the caller streams rows from the desk
 * (desk_export.h), so memory does not grow with the export. */

/* One row of n cells (NULL cells are empty).  TD_EIO when f fails. */
int td_csv_row(FILE *f, const char *const *cells, size_t n, struct td_error *err);

/* The queue export: the header, then one row per MESSAGE row of
 * td_desk_queue_export (id, received, channel, sender, sender_name,
 * subject, tier, labels, the five label probabilities, flags, status,
 * status_reason, cases, message_id, reason).  No message text. */
int td_report_queue_csv_header(FILE *f, struct td_error *err);
int td_report_queue_csv_row(FILE *f, const json_t *row, struct td_error *err);

/* The cases export: header, then one row per row of td_desk_case_rows. */
int td_report_cases_csv_header(FILE *f, struct td_error *err);
int td_report_cases_csv_row(FILE *f, const json_t *row, struct td_error *err);

#ifdef __cplusplus
}
#endif
#endif
