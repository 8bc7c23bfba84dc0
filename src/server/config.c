/*
 * config.c - server configuration: defaults < file < environment < flags.
 *
 * The file format is deliberately tiny (no library is warranted):
 *
 *     # comment
 *     listen = 127.0.0.1:8080
 *     db     = /var/lib/threatdesk/desk.db
 *
 * one `key = value` per line, blanks and '#' lines ignored, surrounding
 * spaces trimmed, no quoting.  An unknown key is an error (a typo must not
 * silently leave a default in force), reported with the file and line.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "server/server_int.h"
#include "threatdesk/kvfile.h"

void td_server_config_init(struct td_server_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    snprintf(c->db, sizeof c->db, "threatdesk.db");
    snprintf(c->data_dir, sizeof c->data_dir, "threatdesk-data");
    c->max_body = (size_t)16 << 20;
    c->max_connections = 256;
    c->shutdown_grace_ms = 10000;
    c->request_timeout_s = 30;
    c->request_deadline_s = 20;
    c->per_ip_connections = 32;
    c->login_rate = 10;
    c->login_burst = 5;
    c->hash_slots = 2;
    c->hash_queue = 8;
    c->pwhash_mem_kib = 32768;
    snprintf(c->log_level, sizeof c->log_level, "info");
    c->perspective_open = 0;
}

static int set_str(char *dst, size_t size, const char *key, const char *value, struct td_error *err)
{
    size_t n = strlen(value);
    if (n >= size) {
        td_error_field(err, key);
        return td_error_set(err, TD_EINVAL, "value of %s is longer than %zu bytes", key, size - 1);
    }
    memcpy(dst, value, n + 1);
    return TD_OK;
}

static int set_uint(const char *key, const char *value, uint64_t min, uint64_t max, uint64_t *out,
                    struct td_error *err)
{
    uint64_t v;
    if (td__parse_u64(value, max, &v) != 0 || v < min) {
        td_error_field(err, key);
        return td_error_set(err, TD_EINVAL, "%s must be a whole number from %llu to %llu, not '%s'",
                            key, (unsigned long long)min, (unsigned long long)max, value);
    }
    *out = v;
    return TD_OK;
}

static int set_bool(const char *key, const char *value, int *out, struct td_error *err)
{
    if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") ||
        !strcmp(value, "on")) {
        *out = 1;
        return TD_OK;
    }
    if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
        !strcmp(value, "off")) {
        *out = 0;
        return TD_OK;
    }
    td_error_field(err, key);
    return td_error_set(err, TD_EINVAL, "%s must be true or false, not '%s'", key, value);
}

int td_server_config_set(struct td_server_config *c, const char *key, const char *value,
                         struct td_error *err)
{
    uint64_t v = 0;
    int rc;

    if (!strcmp(key, "listen")) {
        const char *colon = strrchr(value, ':');
        uint64_t port;
        if (!colon || colon == value || td__parse_u64(colon + 1, 65535, &port) != 0) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "listen must be host:port, not '%s'", value);
        }
        return set_str(c->listen, sizeof c->listen, key, value, err);
    }
    if (!strcmp(key, "db"))
        return set_str(c->db, sizeof c->db, key, value, err);
    if (!strcmp(key, "data_dir"))
        return set_str(c->data_dir, sizeof c->data_dir, key, value, err);
    if (!strcmp(key, "home"))
        return set_str(c->home, sizeof c->home, key, value, err);
    if (!strcmp(key, "model"))
        return set_str(c->model, sizeof c->model, key, value, err);
    if (!strcmp(key, "log_level")) {
        if (td__log_level_from_name(value) < 0) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "log_level must be debug, info, warn or error");
        }
        return set_str(c->log_level, sizeof c->log_level, key, value, err);
    }
    if (!strcmp(key, "max_body")) {
        if ((rc = set_uint(key, value, 1024, (uint64_t)1 << 30, &v, err)) == TD_OK)
            c->max_body = (size_t)v;
        return rc;
    }
    if (!strcmp(key, "max_connections")) {
        if ((rc = set_uint(key, value, 1, 4096, &v, err)) == TD_OK)
            c->max_connections = (unsigned)v;
        return rc;
    }
    if (!strcmp(key, "shutdown_grace_ms")) {
        if ((rc = set_uint(key, value, 0, 600000, &v, err)) == TD_OK)
            c->shutdown_grace_ms = (unsigned)v;
        return rc;
    }
    if (!strcmp(key, "request_timeout_s")) {
        if ((rc = set_uint(key, value, 1, 3600, &v, err)) == TD_OK)
            c->request_timeout_s = (unsigned)v;
        return rc;
    }
    if (!strcmp(key, "perspective_open"))
        return set_bool(key, value, &c->perspective_open, err);
    if (!strcmp(key, "insecure_http"))
        return set_bool(key, value, &c->insecure_http, err);
    if (!strcmp(key, "tls_cert"))
        return set_str(c->tls_cert, sizeof c->tls_cert, key, value, err);
    if (!strcmp(key, "tls_key"))
        return set_str(c->tls_key, sizeof c->tls_key, key, value, err);
    if (!strcmp(key, "trusted_proxy")) {
        char ip[64];
        if (*value && td__normalise_ip(value, ip, sizeof ip) != 0) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "trusted_proxy must be an IP address, not '%s'",
                                value);
        }
        return set_str(c->trusted_proxy, sizeof c->trusted_proxy, key, *value ? ip : "", err);
    }
    if (!strcmp(key, "metrics_listen")) {
        const char *colon = strrchr(value, ':');
        uint64_t port;
        if (*value && (!colon || colon == value || td__parse_u64(colon + 1, 65535, &port) != 0)) {
            td_error_field(err, key);
            return td_error_set(err, TD_EINVAL, "metrics_listen must be host:port, not '%s'",
                                value);
        }
        return set_str(c->metrics_listen, sizeof c->metrics_listen, key, value, err);
    }
    static const struct {
        const char *key;
        uint64_t min, max;
        size_t off;
    } nums[] = {
        {"request_deadline_s", 1, 3600, offsetof(struct td_server_config, request_deadline_s)},
        {"per_ip_connections", 1, 4096, offsetof(struct td_server_config, per_ip_connections)},
        {"login_rate", 1, 100000, offsetof(struct td_server_config, login_rate)},
        {"login_burst", 1, 100000, offsetof(struct td_server_config, login_burst)},
        {"hash_slots", 1, 64, offsetof(struct td_server_config, hash_slots)},
        {"hash_queue", 1, 4096, offsetof(struct td_server_config, hash_queue)},
        {"pwhash_mem_kib", 8192, 1u << 20, offsetof(struct td_server_config, pwhash_mem_kib)},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (!strcmp(key, nums[i].key)) {
            if ((rc = set_uint(key, value, nums[i].min, nums[i].max, &v, err)) == TD_OK)
                *(unsigned *)((char *)c + nums[i].off) = (unsigned)v;
            return rc;
        }

    td_error_field(err, key);
    return td_error_set(err, TD_EINVAL, "unknown configuration key '%s'", key);
}

static int set_kv(void *target, const char *key, const char *value, struct td_error *err)
{
    return td_server_config_set(target, key, value, err);
}

int td_server_config_load_file(struct td_server_config *c, const char *path, struct td_error *err)
{
    return td_kv_file_load(path, set_kv, c, err);
}

/* Environment names are THREATDESK_ + the key upper-cased. */
static const char *const env_keys[] = {
    "listen",
    "db",
    "data_dir",
    "home",
    "model",
    "max_body",
    "max_connections",
    "shutdown_grace_ms",
    "request_timeout_s",
    "log_level",
    "perspective_open",
    "request_deadline_s",
    "per_ip_connections",
    "login_rate",
    "login_burst",
    "hash_slots",
    "hash_queue",
    "pwhash_mem_kib",
    "tls_cert",
    "tls_key",
    "insecure_http",
    "trusted_proxy",
    "metrics_listen",
};

int td_server_config_apply_env(struct td_server_config *c, struct td_error *err)
{
    return td_kv_env_apply(env_keys, sizeof env_keys / sizeof env_keys[0], set_kv, c, err);
}
