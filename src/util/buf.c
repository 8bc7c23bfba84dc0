/* buf.c - capped growable buffer (see buf.h). */
#include "threatdesk/buf.h"
#include "threatdesk/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void td_buf_init(struct td_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

int td_buf_reserve(struct td_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return TD_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return TD_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1 < need ? need : b->max + 1;
    char *p = realloc(b->data, ncap);
    if (!p)
        return TD_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return TD_OK;
}

int td_buf_append(struct td_buf *b, const void *p, size_t n)
{
    int rc = td_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TD_OK;
}

int td_buf_putc(struct td_buf *b, char c)
{
    return td_buf_append(b, &c, 1);
}

int td_buf_printf(struct td_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TD_EINVAL;
    int rc = td_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TD_OK;
}

void td_buf_reset(struct td_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void td_buf_release(struct td_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *td_buf_detach(struct td_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p) {
        p = calloc(1, 1);
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
