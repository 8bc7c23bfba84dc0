/* cli.c - error printing and option parsing shared by the commands. */
#include "cli/cli.h"
#include "cli/desk_open.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void td_cli_error(const char *cmd, const struct td_error *err)
{
    char buf[1024];
    fprintf(stderr, "threatdesk %s: %s\n", cmd, td_error_format(err, buf, sizeof buf));
}

void td_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "threatdesk %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int td_cli_size(const char *s, size_t max, size_t *out)
{
    if (!s || !*s || *s == '-')
        return TD_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return TD_EINVAL;
    *out = (size_t)v;
    return TD_OK;
}

int td_cli_positive(const char *cmd, const char *s, size_t max, const char *msg, size_t *out)
{
    size_t v;
    if (td_cli_size(s, max, &v) || v == 0) {
        td_cli_fail(cmd, "%s", msg);
        return TD_EINVAL;
    }
    *out = v;
    return TD_OK;
}

const char *td_cli_home(const char *opt)
{
    if (opt)
        return opt;
    const char *h = getenv("THREATDESK_HOME");
    return h && *h ? h : TD_SOURCE_DIR;
}

struct td_normaliser *td_cli_open_normaliser(const char *cmd, const char *home)
{
    struct td_error err;
    td_error_clear(&err);
    char path[4096];
    snprintf(path, sizeof path, "%s/data/text", td_cli_home(home));
    struct td_normaliser *nz = NULL;
    if (td_normaliser_load(path, &nz, &err)) {
        td_cli_error(cmd, &err);
        return NULL;
    }
    return nz;
}

int td_cli_open_analyser(const char *cmd, const char *home, const char *model,
                         struct td_analyser **an, struct td_analysis_ctx **ctx)
{
    struct td_error err;
    td_error_clear(&err);
    *an = NULL;
    *ctx = NULL;
    if (td_analyser_open(td_cli_home(home), model, an, &err) || td_analysis_ctx_new(*an, ctx)) {
        td_cli_error(cmd, &err);
        td_analysis_ctx_free(*ctx);
        td_analyser_free(*an);
        *an = NULL;
        *ctx = NULL;
        return TD_EINVAL;
    }
    return TD_OK;
}

int td_cli_open_desk(const char *cmd, const char *db, const char *data_dir, const char *home,
                     struct td_desk **d)
{
    struct td_desk_opts o;
    struct td_error err;
    td_error_clear(&err);
    td_desk_opts_init(&o);
    o.db = td_cli_db(db);
    o.data_dir = td_cli_data_dir(data_dir);
    o.home = td_cli_home(home);
    if (td_desk_open(&o, d, &err) != TD_OK) {
        td_cli_error(cmd, &err);
        return TD_EINVAL;
    }
    return TD_OK;
}
