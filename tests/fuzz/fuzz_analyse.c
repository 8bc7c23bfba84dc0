/* fuzz_analyse.c - libFuzzer: any bytes through the whole engine; spans
 * must stay inside the input and the verdict must serialise. */
#include <stdint.h>
#include <stdlib.h>

#include "threatdesk/analyse.h"

static struct td_analyser *an;
static struct td_analysis_ctx *ctx;
static struct td_verdict v;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!an) {
        struct td_error err;
        if (td_analyser_open(TD_SOURCE_DIR, NULL, &an, &err) != TD_OK ||
            td_analysis_ctx_new(an, &ctx) != TD_OK)
            abort();
        td_verdict_init(&v);
    }
    if (td_analyse(ctx, (const char *)data, size, &v, NULL) != TD_OK)
        return 0;
    for (size_t i = 0; i < v.nspans; i++)
        if (v.spans[i].start >= v.spans[i].end || v.spans[i].end > size)
            abort();
    if (v.severity < 0 || v.severity >= TD_SEVERITY_COUNT)
        abort();
    json_t *o = td_verdict_to_json(&v, (const char *)data, size);
    if (!o)
        abort();
    json_decref(o);
    return 0;
}
