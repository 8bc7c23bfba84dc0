/*
 * grammar_int.h - grammar internals shared with the tests and benches.
 */
#ifndef THREATDESK_GRAMMAR_INT_H
#define THREATDESK_GRAMMAR_INT_H

#include "threatdesk/grammar.h"

/* td_grammar_match() with the pre-filter switched off: every rule runs on
 * every text.  The result must equal td_grammar_match()'s for any text whose
 * trigger lists are complete, so tests and benches use it to catch a rule
 * that can match without any word of its @trigger lists (a silent miss). */
int td__grammar_match_unfiltered(const struct td_grammar *g, const char *text, size_t len,
                                 struct td_grammar_result *r, struct td_error *err);

#endif
