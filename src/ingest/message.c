/* message.c - td_message lifecycle (see message.h). */
#include "threatdesk/message.h"
#include "threatdesk/error.h"

#include <stdlib.h>
#include <string.h>

void td_message_init(struct td_message *m)
{
    memset(m, 0, sizeof *m);
    m->time = INT64_MIN;
    m->ocr_confidence = -1.0;
}

void td_message_release(struct td_message *m)
{
    char **owned[] = {&m->id,          &m->text,          &m->channel,   &m->sender,
                      &m->sender_name, &m->sender_handle, &m->sender_id, &m->to,
                      &m->subject,     &m->message_id,    &m->url,       &m->reply_to,
                      &m->quoted_text, &m->source,        &m->original,  &m->warning};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        free(*owned[i]);
    for (size_t i = 0; i < m->nattachments; i++) {
        free(m->attachments[i].name);
        free(m->attachments[i].type);
    }
    free(m->attachments);
    td_message_init(m);
}

int td_message_set(char **field, const char *s, size_t n)
{
    if (!s) {
        free(*field);
        *field = NULL;
        return TD_OK;
    }
    if (n == (size_t)-1)
        n = strlen(s);
    char *p = malloc(n + 1);
    if (!p)
        return TD_ENOMEM;
    memcpy(p, s, n);
    p[n] = '\0';
    free(*field);
    *field = p;
    return TD_OK;
}
