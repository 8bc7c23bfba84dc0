/*
 * fuzz_social.c - libFuzzer driver for the platform JSON readers
 * (td_social_open / td_social_next) and format detection.  Build and run:
 *     bash tests/fuzz/run.sh social [seconds]
 * (seeded with tests/fixtures/social), or with the others, unseeded, by
 * scripts/fuzz.sh (cmake -DTD_FUZZ=ON).
 */
#include <stddef.h>
#include <stdint.h>

#include "threatdesk/social.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)td_social_detect(data, size);
    struct td_social *s = NULL;
    struct td_error err;
    td_error_clear(&err);
    if (td_social_open((const char *)data, size, TD_FORMAT_AUTO, "fuzz", &s, &err) != TD_OK)
        return 0;
    struct td_message m;
    td_message_init(&m);
    int rc;
    while ((rc = td_social_next(s, &m, &err)) != TD_EOF)
        td_error_clear(&err);
    td_message_release(&m);
    td_social_close(s);
    return 0;
}
