/*
 * taxonomy.h - the contract of ../docs/product.md in C: the five labels, the
 * five severity tiers, the verdict flags and where a flag came from.
 *
 * Names are the wire names used in JSON, the model file and the store; they
 * never change once shipped (add, never rename).
 */
#ifndef THREATDESK_TAXONOMY_H
#define THREATDESK_TAXONOMY_H

#ifdef __cplusplus
extern "C" {
#endif

/* Multi-label: each is scored 0..1 independently. */
#define TD_LABEL_MAP(X)                                                                            \
    X(THREAT, "threat")                                                                            \
    X(IDENTITY_HATE, "identity_hate")                                                              \
    X(ABUSE, "abuse")                                                                              \
    X(SEXUAL, "sexual")                                                                            \
    X(INTIMIDATION, "intimidation")

enum td_label {
#define TD_LABEL_ENUM(name, str) TD_LABEL_##name,
    TD_LABEL_MAP(TD_LABEL_ENUM)
#undef TD_LABEL_ENUM
        TD_LABEL_COUNT
};

/* Ordered: a larger value is more urgent. */
#define TD_SEVERITY_MAP(X)                                                                         \
    X(NONE, "none")                                                                                \
    X(LOW, "low")                                                                                  \
    X(MEDIUM, "medium")                                                                            \
    X(HIGH, "high")                                                                                \
    X(CRITICAL, "critical")

enum td_severity {
#define TD_SEVERITY_ENUM(name, str) TD_SEVERITY_##name,
    TD_SEVERITY_MAP(TD_SEVERITY_ENUM)
#undef TD_SEVERITY_ENUM
        TD_SEVERITY_COUNT
};

/* Verdict flags: a bit set. */
#define TD_FLAG_MAP(X)                                                                             \
    X(TIME_BOUND, "time_bound")                                                                    \
    X(LOCATION, "location")                                                                        \
    X(FAMILY, "family")                                                                            \
    X(ADDRESS, "address")                                                                          \
    X(PAST_ATTACK_REFERENCE, "past_attack_reference")                                              \
    X(OBFUSCATED, "obfuscated")                                                                    \
    X(MEANS, "means")

enum td_flag_bit {
#define TD_FLAG_ENUM(name, str) TD_FLAG_BIT_##name,
    TD_FLAG_MAP(TD_FLAG_ENUM)
#undef TD_FLAG_ENUM
        TD_FLAG_COUNT
};
#define TD_FLAG(name) (1u << TD_FLAG_BIT_##name)

/* Where a span or a flag came from. */
enum td_source {
    TD_SOURCE_MODEL,      /* the learned linear model (top-weighted n-grams) */
    TD_SOURCE_GRAMMAR,    /* a threat-grammar rule */
    TD_SOURCE_LEXICON,    /* a lexicon entry (slur, profanity, ...) */
    TD_SOURCE_NORMALISER, /* de-obfuscation (leet, spacing, censoring) */
    TD_SOURCE_COUNT
};

/* Wire names; NULL for out-of-range values. */
const char *td_label_name(int label);
const char *td_severity_name(int severity);
const char *td_flag_name(int bit);
const char *td_source_name(int source);

/* Reverse look-ups; -1 when unknown. */
int td_label_from_name(const char *name);
int td_severity_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
