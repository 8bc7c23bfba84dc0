/*
 * rules.c - does this message alert, and when to try again.
 *
 * Pure functions of their arguments (no clock, no store), so the unit tests
 * can walk every tier, label, flag and minute of the day.
 */
#include <string.h>

#include "threatdesk/alert.h"
#include "threatdesk/taxonomy.h"

int td_alert_quiet(const struct td_alert_rule *r, int minute)
{
    int s = r->quiet_start, e = r->quiet_end;
    if (s < 0 || e < 0 || s == e || minute < 0)
        return 0;
    if (s < e)
        return minute >= s && minute < e;
    return minute >= s || minute < e; /* 22:00-07:00 wraps past midnight */
}

int td_alert_rule_matches(const struct td_alert_rule *r, int severity, unsigned labels,
                          unsigned flags, int minute)
{
    if (severity < r->min_severity || severity <= TD_SEVERITY_NONE)
        return 0;
    if (r->labels && !(r->labels & labels))
        return 0;
    if ((flags & r->flags) != r->flags)
        return 0;
    /* Quiet hours are for the merely urgent: a critical threat is exactly
     * what someone must hear about at 3 a.m. */
    if (severity < TD_SEVERITY_CRITICAL && td_alert_quiet(r, minute))
        return 0;
    return 1;
}

static const char *const channel_names[] = {"email", "webhook", "browser"};

int td_alert_channel_bit(const char *name)
{
    for (unsigned i = 0; name && i < sizeof channel_names / sizeof channel_names[0]; i++)
        if (!strcmp(name, channel_names[i]))
            return (int)(1u << i);
    return -1;
}

const char *td_alert_channel_name(unsigned bit)
{
    for (unsigned i = 0; i < sizeof channel_names / sizeof channel_names[0]; i++)
        if (bit == 1u << i)
            return channel_names[i];
    return NULL;
}

unsigned td_alert_backoff(unsigned attempt, unsigned base_s, unsigned cap_s, uint32_t rnd)
{
    if (base_s == 0)
        base_s = 1;
    if (cap_s < base_s)
        cap_s = base_s;
    uint64_t d = base_s;
    for (unsigned i = 1; i < attempt && d < cap_s; i++)
        d *= 2;
    if (d > cap_s)
        d = cap_s;
    uint64_t half = d / 2;
    uint64_t wait = d - half + (half * (uint64_t)rnd) / UINT32_MAX;
    return wait ? (unsigned)wait : 1u;
}

int td_alert_parse_hhmm(const char *s)
{
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

int td_alert_header_safe(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return s != NULL;
}

int td_alert_valid_email(const char *s)
{
    if (!s || !*s || strlen(s) > 254 || !td_alert_header_safe(s))
        return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || !at[1] || !strchr(at + 1, '.'))
        return 0;
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '<' || *p == '>' || *p == ',' || *p == ';' || *p == '"' ||
            *p == '(' || *p == ')' || *p == '\\')
            return 0;
    return at[1] != '.' && s[strlen(s) - 1] != '.';
}

int td_alert_valid_url(const char *s)
{
    if (!s || strlen(s) > 1024 || !td_alert_header_safe(s))
        return 0;
    size_t skip = !strncmp(s, "https://", 8) ? 8 : !strncmp(s, "http://", 7) ? 7 : 0;
    if (!skip || !s[skip] || s[skip] == '/')
        return 0;
    for (const char *p = s; *p; p++)
        if (*p == ' ' || (unsigned char)*p >= 0x80)
            return 0;
    return 1;
}

const char *td_alert_top_label(unsigned labels)
{
    static const int order[] = {TD_LABEL_THREAT, TD_LABEL_INTIMIDATION, TD_LABEL_SEXUAL,
                                TD_LABEL_IDENTITY_HATE, TD_LABEL_ABUSE};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (labels & (1u << order[i]))
            return td_label_name(order[i]);
    return "";
}
