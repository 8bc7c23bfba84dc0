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

#ifdef __cplusplus
}
#endif
#endif
