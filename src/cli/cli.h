/*
 * cli.h - helpers shared by the commands: the only place that turns a
 * td_error into words on stderr.
 */
#ifndef TD_CLI_CLI_H
#define TD_CLI_CLI_H

#include <stddef.h>

#include "threatdesk/analyse.h"
#include "threatdesk/text.h"
#include "threatdesk/error.h"

/* "threatdesk <cmd>: <file>:<line>: byte N: field F: message" on stderr. */
void td_cli_error(const char *cmd, const struct td_error *err);
/* printf-style message on stderr, prefixed "threatdesk <cmd>: ". */
void td_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a non-negative integer option strictly (whole string, in range). */
int td_cli_size(const char *s, size_t max, size_t *out);
/* A positive option value up to max (td_cli_size, and not 0); otherwise
 * prints "threatdesk <cmd>: <msg>" on stderr and returns nonzero. */
int td_cli_positive(const char *cmd, const char *s, size_t max, const char *msg, size_t *out);
/* The installation home: --home, else $THREATDESK_HOME, else the source tree. */
const char *td_cli_home(const char *opt);
/* Open the analyser (home as td_cli_home takes it; model NULL for the
 * default) and one analysis context.  On failure prints the error as
 * td_cli_error does, frees what was opened, sets both to NULL and returns
 * nonzero.  The caller owns *an and *ctx on success. */
/* Load the normaliser of <home>/data/text (home as td_cli_home takes it).
 * On failure prints why, as td_cli_error does, and returns NULL; else the
 * normaliser is yours (td_normaliser_free). */
struct td_normaliser *td_cli_open_normaliser(const char *cmd, const char *home);
int td_cli_open_analyser(const char *cmd, const char *home, const char *model,
                         struct td_analyser **an, struct td_analysis_ctx **ctx);

#endif
