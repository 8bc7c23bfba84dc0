/* fuzz_bundle_verify.c - libFuzzer: any bytes as a bundle handed to
 * td_bundle_verify (a bundle comes from outside: a USB stick, an e-mail).
 * It must answer - a problem list or an I/O error - never crash, leak or
 * hang; an archive of junk is never "intact". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "threatdesk/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct td_bundle_verify_stats st;
    struct td_error err;
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz-bundle-%d.tar", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    td_error_clear(&err);
    if (td_bundle_verify(path, NULL, NULL, NULL, &st, &err) == TD_OK && st.problems == 0 &&
        !st.signature_ok)
        abort(); /* "intact" without a valid signature */
    return 0;
}
