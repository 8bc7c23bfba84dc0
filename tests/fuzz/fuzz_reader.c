/* fuzz_reader.c - libFuzzer: any bytes as a JSON Lines, CSV and (detected)
 * file; every record is either a message or a located error, never a
 * crash, and reading always ends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "threatdesk/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/td_fuzz_reader_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    static const enum td_format formats[] = {TD_FORMAT_JSONL, TD_FORMAT_CSV, TD_FORMAT_LINES};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        struct td_reader_opts o = {.format = formats[f], .max_record = 4096};
        struct td_reader *r = NULL;
        struct td_error err;
        if (td_reader_open(path, &o, &r, &err) != TD_OK)
            continue;
        struct td_message m;
        td_message_init(&m);
        size_t n = 0;
        int rc;
        while ((rc = td_reader_next(r, &m, &err)) != TD_EOF) {
            if (++n > size + 2)
                abort(); /* more records than bytes: it does not end */
            if (rc == TD_OK && (!m.text || !m.id))
                abort();
            if (rc != TD_OK && err.line == 0 && !td_reader_failed(r))
                abort(); /* an error must say where */
        }
        td_message_release(&m);
        td_reader_close(r);
    }
    unlink(path);
    return 0;
}
