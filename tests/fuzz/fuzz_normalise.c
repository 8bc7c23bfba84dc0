/* fuzz_normalise.c - libFuzzer: any bytes through the normaliser, then
 * check the offset map invariants the verdict spans rely on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/text.h"

static struct td_normaliser *nz;
static struct td_norm norm;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!nz) {
        struct td_error err;
        if (td_normaliser_load(TD_SOURCE_DIR "/data/text", &nz, &err) != TD_OK)
            abort();
        td_norm_init(&norm);
    }
    if (td_normalise(nz, (const char *)data, size, &norm, NULL) != TD_OK)
        return 0;
    if (td_utf8_valid_prefix(norm.text, norm.len) != norm.len)
        abort(); /* the normalised text is always valid UTF-8 */
    for (size_t i = 0; i < norm.len; i++)
        if (norm.orig_start[i] > norm.orig_end[i] || norm.orig_end[i] > size)
            abort();
    for (size_t i = 0; i < norm.nfixes; i++) {
        const struct td_fix *f = &norm.fixes[i];
        if (f->norm_end > norm.len || f->orig_end > size || f->norm_start > f->norm_end)
            abort();
    }
    return 0;
}
