/*
 * log.c - structured logs: one JSON object per line, for machines first.
 *
 *   {"time":"2026-11-29T04:10:00.123Z","level":"info","request_id":"...",
 *    "method":"POST","path":"/v1/messages","route":"/v1/messages",
 *    "status":201,"duration_ms":3.2,"office":1,"user":4}
 *
 * What is NEVER logged: message text, request bodies, query strings (they
 * carry API keys and sender filters), sender keys, tokens or passwords.  The path is logged because
 * ids are not personal data; a log shipped to a third party must not leak what a constituent wrote.
 * Lines are built with jansson and written under a lock so concurrent requests never interleave
 * half-lines.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_int.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int td__log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, level_names[i]))
            return i;
    return -1;
}

uint64_t td__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_time(json_t *o)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_object_set_new(o, "time", json_string(buf));
}

static void emit(struct td_server *s, json_t *o)
{
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return;
    pthread_mutex_lock(&s->log_lock);
    fputs(line, s->log);
    fputc('\n', s->log);
    fflush(s->log);
    pthread_mutex_unlock(&s->log_lock);
    free(line);
}

void td__log_request(struct td_server *s, const struct td__req *r, uint64_t duration_ns)
{
    int level = r->status >= 500 ? TD__LOG_ERROR : r->status >= 400 ? TD__LOG_WARN : TD__LOG_INFO;
    /* 4xx are the client's problem; log them at info unless debugging. */
    if (level == TD__LOG_WARN)
        level = TD__LOG_INFO;
    if (level < s->log_min_level)
        return;
    json_t *o = json_object();
    if (!o)
        return;
    put_time(o);
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "request_id", json_string(r->id));
    json_object_set_new(o, "method", json_string(r->method ? r->method : ""));
    /* The path without the query string (keys travel in ?key=).  A sender
     * key in the path is an e-mail address or a handle - personal data -
     * so those routes log their pattern instead. */
    const char *path = r->path ? r->path : "";
    if (r->route && strstr(r->route->pattern, "{key}"))
        path = r->route->pattern;
    json_t *p = json_string(path);
    json_object_set_new(o, "path", p ? p : json_string("(not UTF-8)"));
    if (r->route)
        json_object_set_new(o, "route", json_string(r->route->pattern));
    json_object_set_new(o, "status", json_integer(r->status));
    json_object_set_new(o, "duration_ms", json_real((double)(duration_ns / 1000) / 1e3));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)r->body.len));
    if (r->caller.authenticated) {
        json_object_set_new(o, "office", json_integer(r->caller.office_id));
        json_object_set_new(o, "user", json_integer(r->caller.user_id));
    }
    emit(s, o);
}

void td__log_event(struct td_server *s, int level, const char *event, const char *detail)
{
    if (level < s->log_min_level)
        return;
    json_t *o = json_object();
    if (!o)
        return;
    put_time(o);
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "event", json_string(event));
    if (detail)
        json_object_set_new(o, "detail", json_string(detail));
    emit(s, o);
}
