/*
 * form.h - the web desk's form parser: one field of an urlencoded body.
 * Pure (no request, no allocation), so it is unit-tested and fuzzed alone
 * (tests/unit/test_server_web.c, tests/fuzz/fuzz_web.c).
 */
#ifndef TD_WEB_FORM_H
#define TD_WEB_FORM_H

#include <stddef.h>

/* The field `name` of the urlencoded body [body, body+len), decoded into
 * out (size bytes, NUL-terminated): returns out, or NULL when the field is
 * absent or its value needs more than size-1 bytes.  A field without '='
 * reads as "". */
const char *td__form_parse(const char *body, size_t len, const char *name, char *out, size_t size);

#endif
