/*
 * message_out.c - the message half of a `scan` / `fetch` / `import` JSON
 * record (message_out.h).
 */
#include "cli/message_out.h"

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v)); /* NULL (not UTF-8): left out */
}

json_t *td_cli_message_json(const struct td_message *m)
{
    json_t *o = json_pack("{s:s}", "id", m->id ? m->id : "");
    if (!o)
        return NULL;
    set_str(o, "channel", m->channel);
    set_str(o, "source", m->source);
    set_str(o, "sender", m->sender);
    if (m->sender_name || m->sender_handle) {
        json_t *from = json_object();
        set_str(from, "name", m->sender_name);
        set_str(from, "address", m->sender_handle);
        json_object_set_new(o, "from", from);
    }
    set_str(o, "to", m->to);
    set_str(o, "subject", m->subject);
    set_str(o, "message_id", m->message_id);
    if (m->nattachments) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->nattachments; i++) {
            const struct td_attachment *at = &m->attachments[i];
            json_t *e =
                json_pack("{s:s,s:I,s:s}", "type", at->type ? at->type : "application/octet-stream",
                          "size", (json_int_t)at->size, "sha256", at->sha256);
            set_str(e, "name", at->name);
            json_array_append_new(a, e);
        }
        json_object_set_new(o, "attachments", a);
    }
    set_str(o, "warning", m->warning);
    if (m->ocr_confidence >= 0)
        json_object_set_new(o, "ocr_confidence", json_real(m->ocr_confidence));
    return o;
}
