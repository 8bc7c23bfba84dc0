/*
 * form.c - application/x-www-form-urlencoded fields (form.h).
 *
 * A field is looked up by name in the body as sent: '&'-separated
 * name=value pairs, '+' for space, %XX escapes (a malformed escape is kept
 * as it is).  The value is decoded into the caller's buffer and refused,
 * not cut, when it does not fit; nothing is read past `len`.
 */
#include <string.h>

#include "web/form.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode one urlencoded component [s, s+n) into out; -1 when too long. */
static int urldecode(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

const char *td__form_parse(const char *body, size_t len, const char *name, char *out, size_t size)
{
    const char *p = body, *end = body + len;
    char key[64];
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if (urldecode(p, (size_t)(kend - p), key, sizeof key) == 0 && !strcmp(key, name)) {
            const char *v = eq ? eq + 1 : stop;
            if (urldecode(v, (size_t)(stop - v), out, size) != 0)
                return NULL;
            return out;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return NULL;
}
