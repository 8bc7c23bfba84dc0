/*
 * triage_table.h - the ranked table `scan` and `fetch` print for a person:
 * the messages most urgent first (severity, then probability, then input
 * order), each with its tier, top label, a one-line excerpt around the
 * strongest reason, and the reason.  Only the top N rows are kept (a
 * bounded, sorted array), so the table costs constant memory however many
 * messages go past.  The summary line above the table differs between the
 * commands, so each prints its own; td_triage_table_print_tiers prints the
 * per-tier counts both share.
 */
#ifndef TD_CLI_TRIAGE_TABLE_H
#define TD_CLI_TRIAGE_TABLE_H

#include <stddef.h>

#include "threatdesk/analyse.h"
#include "threatdesk/message.h"

struct td_triage_row;

struct td_triage_table {
    size_t top;                 /* rows kept at most */
    size_t nrows;               /* rows kept so far, best first */
    size_t added;               /* td_triage_table_add calls: the tie-break order */
    struct td_triage_row *rows; /* owned; freed by td_triage_table_release */
};

/* Empty table keeping at most top (>= 1) rows.  TD_ENOMEM leaves t released. */
int td_triage_table_init(struct td_triage_table *t, size_t top);
/* Rank one analysed message; kept (copied) only when it is in the top N.
 * Out of memory drops the row silently, as the table is a best-effort view
 * (the counts and --json stay exact). */
void td_triage_table_add(struct td_triage_table *t, const struct td_message *m,
                         const struct td_verdict *v);
/* " N critical, N high, N medium, N low, N none" (no newline) on stdout. */
void td_triage_table_print_tiers(const size_t by_tier[TD_SEVERITY_COUNT]);
/* The header and rows on stdout; nothing when no row is kept. */
void td_triage_table_print(const struct td_triage_table *t);
/* Free the rows; t may be zeroed or already released. */
void td_triage_table_release(struct td_triage_table *t);

#endif
