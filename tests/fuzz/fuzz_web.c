/* fuzz_web.c - libFuzzer: the web desk's two small parsers/writers.
 *   - any bytes as an urlencoded body: look up a few names, check the
 *     result is NUL-terminated within the buffer;
 *   - the same bytes through the escaping writer: the output never holds
 *     a raw < > " ' or an & that does not start an entity we wrote.
 * The two files are compiled in here (the web desk lives in the server
 * library, which the fuzz build does not make). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/web/form.c"
#include "../../src/web/html.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"csrf", "reason", "text", "", "a+b", "%41"};
    char out[64];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = td__form_parse((const char *)data, size, names[i], out, sizeof out);
        if (v && (v != out || memchr(out, '\0', sizeof out) == NULL))
            abort();
    }
    struct td__html h;
    td__html_init(&h, (size_t)1 << 20);
    if (td__html_esc(&h, (const char *)data, size) == TD_OK) {
        for (size_t i = 0; i < h.out.len; i++) {
            char c = h.out.data[i];
            if (c == '<' || c == '>' || c == '"' || c == '\'')
                abort();
            if (c == '&' && strncmp(h.out.data + i, "&amp;", 5) &&
                strncmp(h.out.data + i, "&lt;", 4) && strncmp(h.out.data + i, "&gt;", 4) &&
                strncmp(h.out.data + i, "&quot;", 6) && strncmp(h.out.data + i, "&#39;", 5))
                abort();
        }
    }
    td__html_release(&h);
    return 0;
}
