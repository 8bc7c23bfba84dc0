/* error.c - td_strerror and the td_error helpers (see error.h). */
#include "threatdesk/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *td_strerror(int code)
{
    switch (code) {
    case TD_OK:
        return "success";
#define TD_ERRNO_STR(name, msg)                                                                    \
    case TD_E##name:                                                                               \
        return msg;
        TD_ERRNO_MAP(TD_ERRNO_STR)
#undef TD_ERRNO_STR
    default:
        return "unknown error";
    }
}

const char *td_errname(int code)
{
    switch (code) {
    case TD_OK:
        return "TD_OK";
#define TD_ERRNO_NAME(name, msg)                                                                   \
    case TD_E##name:                                                                               \
        return "TD_E" #name;
        TD_ERRNO_MAP(TD_ERRNO_NAME)
#undef TD_ERRNO_NAME
    default:
        return "TD_EUNKNOWN";
    }
}

void td_error_clear(struct td_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

int td_error_set(struct td_error *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err->message, sizeof err->message, fmt, ap);
            va_end(ap);
        } else {
            snprintf(err->message, sizeof err->message, "%s", td_strerror(code));
        }
    }
    return code;
}

void td_error_at(struct td_error *err, const char *file, size_t line, size_t byte)
{
    if (!err)
        return;
    if (file)
        snprintf(err->file, sizeof err->file, "%s", file);
    err->line = line;
    err->byte = byte;
}

void td_error_field(struct td_error *err, const char *field)
{
    if (err && field)
        snprintf(err->field, sizeof err->field, "%s", field);
}

char *td_error_format(const struct td_error *err, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    buf[0] = '\0';
    if (!err)
        return buf;
    size_t off = 0;
#define TD_APPEND(...)                                                                             \
    do {                                                                                           \
        int n_ = snprintf(buf + off, size - off, __VA_ARGS__);                                     \
        if (n_ < 0 || (size_t)n_ >= size - off) {                                                  \
            return buf;                                                                            \
        }                                                                                          \
        off += (size_t)n_;                                                                         \
    } while (0)
    if (err->file[0])
        TD_APPEND("%s:", err->file);
    if (err->line)
        TD_APPEND("%zu:", err->line);
    if (off)
        TD_APPEND(" ");
    if (err->byte)
        TD_APPEND("byte %zu: ", err->byte);
    if (err->field[0])
        TD_APPEND("field '%s': ", err->field);
    TD_APPEND("%s", err->message[0] ? err->message : td_strerror(err->code));
#undef TD_APPEND
    return buf;
}
