/*
 * fuzz_email.c - libFuzzer driver for td_email_parse (GMime + our MIME
 * walk, charset handling, HTML to text, quote stripping).  Build and run:
 *     bash tests/fuzz/run.sh email [seconds]
 * (seeded with tests/fixtures/email), or with the others, unseeded, by
 * scripts/fuzz.sh (cmake -DTD_FUZZ=ON).
 */
#include <stddef.h>
#include <stdint.h>

#include "threatdesk/email.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct td_email_opts o;
    td_email_opts_default(&o);
    o.max_text = 64 * 1024;
    struct td_message m;
    td_message_init(&m);
    struct td_error err;
    td_error_clear(&err);
    td_email_parse((const char *)data, size, "fuzz", &o, &m, &err);
    td_message_release(&m);
    return 0;
}
