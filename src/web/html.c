/*
 * html.c - the escaping writer (html.h).
 *
 * Escaping replaces the five characters that can end an element's text or
 * a quoted attribute value; everything else, including bytes that are not
 * valid UTF-8, is copied (the page is served as UTF-8 and the browser
 * shows U+FFFD for a bad byte - it cannot become markup).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "threatdesk/error.h"
#include "web/html.h"

void td__html_init(struct td__html *h, size_t max)
{
    td_buf_init(&h->out, max);
    h->rc = TD_OK;
}

void td__html_release(struct td__html *h)
{
    td_buf_release(&h->out);
}

static const char *entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

int td__html_esc(struct td__html *h, const char *s, size_t n)
{
    if (h->rc || !s)
        return h->rc;
    if (n == (size_t)-1)
        n = strlen(s);
    size_t run = 0;
    for (size_t i = 0; i < n && !h->rc; i++) {
        const char *e = entity(s[i]);
        if (!e)
            continue;
        if (i > run)
            h->rc = td_buf_append(&h->out, s + run, i - run);
        if (!h->rc)
            h->rc = td_buf_append(&h->out, e, strlen(e));
        run = i + 1;
    }
    if (!h->rc && n > run)
        h->rc = td_buf_append(&h->out, s + run, n - run);
    return h->rc;
}

size_t td__html_escape_to(const char *s, char *out, size_t size)
{
    size_t o = 0;
    if (!size)
        return 0;
    for (; s && *s; s++) {
        const char *e = entity(*s);
        size_t n = e ? strlen(e) : 1;
        if (o + n >= size)
            break;
        if (e)
            memcpy(out + o, e, n);
        else
            out[o] = *s;
        o += n;
    }
    out[o] = '\0';
    return o;
}

int td__html(struct td__html *h, const char *fmt, ...)
{
    va_list ap;
    char num[32];
    if (h->rc)
        return h->rc;
    va_start(ap, fmt);
    const char *run = fmt;
    for (const char *p = fmt; *p && !h->rc; p++) {
        if (*p != '%')
            continue;
        if (p > run)
            h->rc = td_buf_append(&h->out, run, (size_t)(p - run));
        if (h->rc)
            break;
        p++;
        num[0] = '\0';
        switch (*p) {
        case 's':
            td__html_esc(h, va_arg(ap, const char *), (size_t)-1);
            break;
        case 'R': {
            const char *raw = va_arg(ap, const char *);
            if (raw)
                h->rc = td_buf_append(&h->out, raw, strlen(raw));
            break;
        }
        case 'd':
            snprintf(num, sizeof num, "%d", va_arg(ap, int));
            break;
        case 'u':
            snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
            break;
        case 'I':
            snprintf(num, sizeof num, "%lld", (long long)va_arg(ap, int64_t));
            break;
        case 'z':
            snprintf(num, sizeof num, "%zu", va_arg(ap, size_t));
            break;
        case '%':
            h->rc = td_buf_putc(&h->out, '%');
            break;
        default:
            /* A bad conversion is a programming error: say so in the page
             * rather than read a vararg of the wrong type. */
            h->rc = TD_EINVAL;
            break;
        }
        if (num[0] && !h->rc)
            h->rc = td_buf_append(&h->out, num, strlen(num));
        if (!*p) {
            run = p;
            break;
        }
        run = p + 1;
    }
    if (!h->rc && *run)
        h->rc = td_buf_append(&h->out, run, strlen(run));
    va_end(ap);
    return h->rc;
}
