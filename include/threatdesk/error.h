/*
 * error.h - the one error vocabulary of libthreatdesk.
 *
 * Every library function that can fail returns an `int` that is TD_OK (0) or
 * one of the negative codes below, and, when the caller passes a non-NULL
 * `struct td_error *`, fills it with *what* failed and *where* (file, line,
 * byte offset, field).  The library never prints and never exits; only the
 * front doors (cli/, server/) turn a td_error into words on a terminal or an
 * HTTP body.
 *
 * The codes are generated from one X-macro list so that the enum and
 * td_strerror() can never drift apart (the libuv way).
 */
#ifndef THREATDESK_ERROR_H
#define THREATDESK_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TD_ERRNO_MAP(X)                                                                            \
    X(NOMEM, "out of memory")                                                                      \
    X(IO, "input/output error")                                                                    \
    X(INVAL, "invalid argument")                                                                   \
    X(UTF8, "invalid UTF-8")                                                                       \
    X(TOOBIG, "input exceeds size limit")                                                          \
    X(PARSE, "malformed input")                                                                    \
    X(FORMAT, "unsupported or unrecognised format")                                                \
    X(NOTFOUND, "not found")                                                                       \
    X(MODEL, "invalid model file")                                                                 \
    X(PATTERN, "invalid pattern")                                                                  \
    X(EXISTS, "already exists")                                                                    \
    X(DENIED, "permission denied")                                                                 \
    X(STORE, "storage error")                                                                      \
    X(CRYPTO, "cryptographic failure")                                                             \
    X(NET, "network error")                                                                        \
    X(OCR, "OCR failure")                                                                          \
    X(EOF, "end of input")                                                                         \
    X(BUSY, "busy: too much work queued, try again shortly")

enum td_errno {
    TD_OK = 0,
#define TD_ERRNO_ENUM(name, msg) TD_E##name,
    TD__ERRNO_FIRST = -1000,
    TD_ERRNO_MAP(TD_ERRNO_ENUM)
#undef TD_ERRNO_ENUM
        TD__ERRNO_LAST
};

/* End of input: not a failure, the normal end of a reader's stream. */
#define TD_EOF TD_EEOF

/* Where and what.  All fields are optional; 0 / empty means "not known".
 * Caller-owned; the library only writes into it. */
struct td_error {
    int code;          /* one of enum td_errno */
    char file[256];    /* input file name, "-" for stdin */
    size_t line;       /* 1-based line (or record) number */
    size_t byte;       /* 0-based byte offset in the file or text */
    char field[64];    /* field / column / header name */
    char message[512]; /* human sentence, without the location */
};

/* Static English text for a code; never NULL. */
const char *td_strerror(int code);

/* Short symbolic name for a code ("TD_EUTF8"); never NULL. */
const char *td_errname(int code);

/* Reset to "no error". Safe on NULL. */
void td_error_clear(struct td_error *err);

/* Fill err (if non-NULL) and return code, so callers can write
 *     return td_error_set(err, TD_EPARSE, "expected ',' after %s", name);
 * printf-style; the message is truncated to fit. */
int td_error_set(struct td_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set location parts; each call leaves the other parts as they were. */
void td_error_at(struct td_error *err, const char *file, size_t line, size_t byte);
void td_error_field(struct td_error *err, const char *field);

/* Render "file:line: byte N: field F: message" into buf (always NUL-terminated).
 * Returns buf. */
char *td_error_format(const struct td_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
