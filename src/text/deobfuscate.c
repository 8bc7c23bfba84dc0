/*
 * deobfuscate.c - td_normalise() pass 2 (first cut: records the words that
 * carried pass-1 events; the de-obfuscation layers come next).
 */
#include "text/text_int.h"

int td__deobfuscate(const struct td_normaliser *nz, struct td_norm *out)
{
    (void)nz;
    struct td__scratch *sc = out->priv_;
    size_t ev = 0, i = 0;
    while (i < out->len) {
        if (out->text[i] == ' ') {
            i++;
            continue;
        }
        size_t ts = i;
        while (i < out->len && out->text[i] != ' ')
            i++;
        unsigned kinds = 0;
        while (ev < sc->nev && sc->ev[ev].pos <= i) {
            if (sc->ev[ev].pos >= ts)
                kinds |= sc->ev[ev].kind;
            ev++;
        }
        if (kinds) {
            struct td_fix f = {ts, i, out->orig_start[ts], out->orig_end[i - 1], kinds};
            int rc = td__fix_push(out, &f);
            if (rc)
                return rc;
        }
    }
    return TD_OK;
}
