/*
 * message_out.h - what `scan`, `fetch` and `import` print about one
 * message besides its verdict: where it came from and what a caseworker
 * reads first (subject, sender, recipients, attachments).
 */
#ifndef TD_CLI_MESSAGE_OUT_H
#define TD_CLI_MESSAGE_OUT_H

#include <jansson.h>

#include "threatdesk/message.h"

/*
 * {"id", "channel"?, "source"?, "sender"? (canonical key), "from"?
 *  {"name"?, "address"?}, "to"?, "subject"?, "message_id"?, "attachments"?
 *  [{"name"?, "type", "size", "sha256"}], "warning"?, "ocr_confidence"?}
 * A new reference (NULL on out of memory).  Strings that are not UTF-8 are
 * left out rather than failing the record.
 */
json_t *td_cli_message_json(const struct td_message *m);

#endif
