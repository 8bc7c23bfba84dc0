/* taxonomy.c - wire names for labels, tiers, flags and sources (taxonomy.h). */
#include "threatdesk/taxonomy.h"

#include <string.h>

static const char *const label_names[] = {
#define TD_LABEL_STR(name, str) str,
    TD_LABEL_MAP(TD_LABEL_STR)
#undef TD_LABEL_STR
};

static const char *const severity_names[] = {
#define TD_SEVERITY_STR(name, str) str,
    TD_SEVERITY_MAP(TD_SEVERITY_STR)
#undef TD_SEVERITY_STR
};

static const char *const flag_names[] = {
#define TD_FLAG_STR(name, str) str,
    TD_FLAG_MAP(TD_FLAG_STR)
#undef TD_FLAG_STR
};

static const char *const source_names[] = {"model", "grammar", "lexicon", "normaliser"};

const char *td_label_name(int label)
{
    return label >= 0 && label < TD_LABEL_COUNT ? label_names[label] : NULL;
}

const char *td_severity_name(int severity)
{
    return severity >= 0 && severity < TD_SEVERITY_COUNT ? severity_names[severity] : NULL;
}

const char *td_flag_name(int bit)
{
    return bit >= 0 && bit < TD_FLAG_COUNT ? flag_names[bit] : NULL;
}

const char *td_source_name(int source)
{
    return source >= 0 && source < TD_SOURCE_COUNT ? source_names[source] : NULL;
}

int td_label_from_name(const char *name)
{
    for (int i = 0; name && i < TD_LABEL_COUNT; i++)
        if (strcmp(name, label_names[i]) == 0)
            return i;
    return -1;
}

int td_severity_from_name(const char *name)
{
    for (int i = 0; name && i < TD_SEVERITY_COUNT; i++)
        if (strcmp(name, severity_names[i]) == 0)
            return i;
    return -1;
}
