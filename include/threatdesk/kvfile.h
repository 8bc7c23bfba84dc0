/*
 * kvfile.h - the "key = value" configuration files of the server and the
 * alerts, and their THREATDESK_<KEY> environment overrides.
 *
 * One pair a line; blank lines and lines starting with '#' are skipped;
 * spaces around key and value are dropped.  Every pair goes to the
 * caller's setter, which owns the meaning of keys and values.  An error
 * names the file and line (or the environment variable) it came from.
 */
#ifndef THREATDESK_KVFILE_H
#define THREATDESK_KVFILE_H

#include <stddef.h>

#include "threatdesk/error.h"

/* Set `key` to `value` in `target`; a td_error code, TD_OK on success. */
typedef int (*td_kv_set_fn)(void *target, const char *key, const char *value, struct td_error *err);

/* Read `path` pair by pair, stopping at the first refused one.  Lines are
 * at most 2,046 bytes (TD_ETOOBIG beyond); TD_EIO when the file cannot be
 * opened or read; TD_EPARSE for a line without '='. */
int td_kv_file_load(const char *path, td_kv_set_fn set, void *target, struct td_error *err);

/* For each of keys[0..n), THREATDESK_ + the key upper-cased, when set in
 * the environment, goes to `set`. */
int td_kv_env_apply(const char *const *keys, size_t n, td_kv_set_fn set, void *target,
                    struct td_error *err);

#endif
