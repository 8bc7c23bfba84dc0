/*
 * config.c - where alerts go and how hard to try: defaults < file <
 * environment.  Never the command line: the SMTP password must not show
 * in `ps` or a shell history.  The file format is the server's (key =
 * value, '#' comments); an unknown key is an error so a typo cannot leave
 * a default in force.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threatdesk/alert.h"
#include "threatdesk/kvfile.h"

void td_alert_config_init(struct td_alert_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->smtp_tls, sizeof c->smtp_tls, "starttls");
    snprintf(c->smtp_from, sizeof c->smtp_from, "threatdesk@localhost");
    c->max_attempts = 8;
    c->backoff_base_s = 5;
    c->backoff_cap_s = 900;
    c->timeout_s = 20;
    c->lease_s = 120;
    c->minute_s = 60;
    c->poll_ms = 500;
}

static const struct {
    const char *key;
    size_t off, size;
} strs[] = {
#define S(k)                                                                                       \
    {                                                                                              \
#k, offsetof(struct td_alert_config, k), sizeof((struct td_alert_config *)0)->k            \
    }
    S(smtp_url), S(smtp_tls), S(smtp_user), S(smtp_password), S(smtp_from), S(smtp_ca), S(base_url),
#undef S
};

static const struct {
    const char *key;
    unsigned min, max;
    size_t off;
} nums[] = {
#define N(k, lo, hi)                                                                               \
    {                                                                                              \
#k, lo, hi, offsetof(struct td_alert_config, k)                                            \
    }
    N(max_attempts, 1, 100), N(backoff_base_s, 1, 3600), N(backoff_cap_s, 1, 86400),
    N(timeout_s, 1, 600),    N(lease_s, 1, 3600),        N(minute_s, 1, 3600),
    N(poll_ms, 10, 60000),
#undef N
};

int td_alert_config_set(struct td_alert_config *c, const char *key, const char *value,
                        struct td_error *err)
{
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (strcmp(key, strs[i].key))
            continue;
        size_t n = strlen(value);
        if (n >= strs[i].size || !td_alert_header_safe(value)) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "%s is too long or holds a control character", key);
        }
        if (!strcmp(key, "smtp_tls") && strcmp(value, "starttls") && strcmp(value, "tls") &&
            strcmp(value, "try") && strcmp(value, "none")) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "smtp_tls must be starttls, tls, try or none");
        }
        if (!strcmp(key, "smtp_from") && !td_alert_valid_email(value)) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "smtp_from is not an e-mail address");
        }
        if (!strcmp(key, "smtp_url") && *value && strncmp(value, "smtp://", 7) &&
            strncmp(value, "smtps://", 8)) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "smtp_url must start smtp:// or smtps://");
        }
        if (!strcmp(key, "base_url") && *value && !td_alert_valid_url(value)) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "base_url must be an http(s) URL");
        }
        memcpy((char *)c + strs[i].off, value, n + 1);
        return TD_OK;
    }
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(key, nums[i].key))
            continue;
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || !end || *end || end == value || *value == '-' || v < nums[i].min ||
            v > nums[i].max) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "%s must be a whole number from %u to %u", key,
                                nums[i].min, nums[i].max);
        }
        *(unsigned *)((char *)c + nums[i].off) = (unsigned)v;
        return TD_OK;
    }
    td_error_field(err, key);
    return td_error_set(err, TD_EINVAL, "unknown alert configuration key '%s'", key);
}

static int set_kv(void *target, const char *key, const char *value, struct td_error *err)
{
    return td_alert_config_set(target, key, value, err);
}

int td_alert_config_load_file(struct td_alert_config *c, const char *path, struct td_error *err)
{
    return td_kv_file_load(path, set_kv, c, err);
}

int td_alert_config_apply_env(struct td_alert_config *c, struct td_error *err)
{
    int rc;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if ((rc = td_kv_env_apply(&strs[i].key, 1, set_kv, c, err)))
            return rc;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if ((rc = td_kv_env_apply(&nums[i].key, 1, set_kv, c, err)))
            return rc;
    return TD_OK;
}
