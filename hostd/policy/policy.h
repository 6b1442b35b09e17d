/*
 * policy.h - one ACL policy (Vault API: ACL policies): its text parsed with the
 * project's HCL/JSON parser (config/hcl.h) and compiled into rules that
 * evaluate without re-parsing and without allocation.
 *
 * Owns the policy language: the keys a path block may carry, the
 * capability names, the legacy `policy = "read"` forms, wildcard syntax
 * (`*` only last, `+` a whole segment, `+*` illegal), the parameter
 * constraints, and the priority order of non-exact rules (§8.3 (a)-(e)).
 * It never touches storage (policy_store.c does) and never decides a
 * request (acl.c does, over the rules compiled here).
 *
 * Invariants of a compiled rule set: exact rules are sorted by pattern
 * (strcmp) with no two equal; glob and `+` rules are sorted from the
 * highest priority to the lowest, also with no two equal patterns; a rule
 * whose caps contain POLICY_CAP_DENY has no other capability bit.
 *
 * Thread safety: a compiled struct policy is immutable; it is shared by
 * reference count (policy_ref/policy_unref are atomic), so any number of
 * threads may read it while one drops the last reference.
 */
#ifndef KH_POLICY_POLICY_H
#define KH_POLICY_POLICY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/assert.h"
#include "config/limits.h"

/* Limits (house style). The text cap is
 * the HCL parser's own file cap. */
#define POLICY_TEXT_BYTES_MAX       KH_CONFIG_FILE_BYTES_MAX /* 1 MiB */
#define POLICY_RULES_MAX            10000 /* path blocks in one policy */
#define POLICY_PATH_BYTES_MAX       KH_HTTP_PATH_BYTES_MAX /* one pattern */
#define POLICY_NAME_BYTES_MAX       127   /* < TOKEN_POLICY_NAME_MAX */
#define POLICY_CAPS_LISTED_MAX      32    /* entries of `capabilities` */
#define POLICY_PARAMS_MAX           256   /* names per parameter list */
#define POLICY_PARAM_VALUES_MAX     256   /* values per parameter */
#define POLICY_PARAM_NAME_BYTES_MAX 256   /* one parameter name */
#define POLICY_COUNT_MAX            10000 /* stored policies */

/* Capabilities as a bit mask. DENY excludes every other bit; ROOT marks
 * the implicit root policy only (never written in a policy). */
enum policy_cap {
    POLICY_CAP_DENY = 1u << 0,
    POLICY_CAP_CREATE = 1u << 1,
    POLICY_CAP_READ = 1u << 2,
    POLICY_CAP_UPDATE = 1u << 3,
    POLICY_CAP_PATCH = 1u << 4,
    POLICY_CAP_DELETE = 1u << 5,
    POLICY_CAP_LIST = 1u << 6,
    POLICY_CAP_SUDO = 1u << 7,
    POLICY_CAP_ROOT = 1u << 8,
};

#define POLICY_CAPS_GRANTING                                                   \
    (POLICY_CAP_CREATE | POLICY_CAP_READ | POLICY_CAP_UPDATE |                 \
     POLICY_CAP_PATCH | POLICY_CAP_DELETE | POLICY_CAP_LIST | POLICY_CAP_SUDO)
#define POLICY_CAP_NAMES_MAX 9

enum policy_match {
    POLICY_MATCH_EXACT = 1, /* "secret/foo": that path only */
    POLICY_MATCH_PREFIX,    /* "secret/zip-*": every path with the prefix */
    POLICY_MATCH_SEGMENT,   /* "secret/+/foo", also with a trailing star */
};

/* One compiled path rule. */
struct policy_rule
{
    char *pattern; /* as written, leading '/' stripped; owned */
    size_t wc_len; /* pattern length without a trailing '*' */
    enum policy_match kind;
    bool is_prefix;         /* pattern ends in '*' */
    size_t first_wc;        /* index of the first '+' (SEGMENT) or of the
                               '*' (PREFIX): priority rule (a) */
    unsigned wc_segments;   /* segments that are exactly "+": rule (c) */
    unsigned segment_count; /* '/'-separated segments of pattern[0..wc_len) */
    unsigned caps;          /* enum policy_cap bits */
    json_t *allowed;        /* object: lowercase name -> array; or NULL */
    json_t *denied;         /* same shape; or NULL */
    json_t *required;       /* array of lowercase names; or NULL */
    uint64_t min_wrapping_ttl_s; /* 0 = unset */
    uint64_t max_wrapping_ttl_s; /* 0 = unset */
};

/* Rules after merging identical patterns (see the invariants above). */
struct policy_ruleset
{
    struct policy_rule *exact;
    size_t exact_count;
    struct policy_rule *glob;
    size_t glob_count;
};

struct policy
{
    char name[POLICY_NAME_BYTES_MAX + 1];
    char *text; /* the text as parsed (NUL-terminated); owned */
    size_t text_len;
    struct policy_ruleset rules;
    atomic_uint refs;
};

/* Parse and compile len bytes of policy text (HCL or JSON; need not be
 * NUL-terminated). name is copied (at most POLICY_NAME_BYTES_MAX bytes).
 * On success *ret_policy holds one reference: drop it with policy_unref().
 * Errors: KH_EINVAL with errmsg "<name>:line:col: what" for syntax errors,
 * unknown keys, unknown capabilities, illegal wildcards, bad parameter
 * lists; KH_ELIMIT when a limit above is exceeded; KH_ENOMEM. */
int policy_parse(const char *name, const char *text, size_t len,
                 struct policy **ret_policy, char *errmsg,
                 size_t errmsg_size) KH_MUST_CHECK;

/* Take another reference; returns p. */
struct policy *policy_ref(struct policy *p);

/* Drop a reference; frees on the last one. Accepts NULL. */
void policy_unref(struct policy *p);

/* The capability names of caps, sorted as Vault sorts them
 * ("create" < "delete" < "deny" < "list" < "patch" < "read" < "root" <
 * "sudo" < "update"). ROOT gives only "root"; DENY, or no granting bit,
 * gives only "deny". names must hold POLICY_CAP_NAMES_MAX entries; the
 * strings are static. Returns the count (>= 1). */
size_t policy_caps_names(unsigned caps,
                         const char *names[POLICY_CAP_NAMES_MAX]);

/* The same as a new JSON array of strings, or NULL on allocation failure. */
json_t *policy_caps_json(unsigned caps);

/* ---- for acl.c: building rule sets ---- */

/* Deep copy of one rule into *dst (JSON members are shared by reference,
 * they are never modified once compiled). KH_ENOMEM. */
int policy_rule_copy(struct policy_rule *dst,
                     const struct policy_rule *src) KH_MUST_CHECK;

/* Free the members of a rule and zero it. */
void policy_rule_clear(struct policy_rule *rule);

/* Merge rule b into a (identical patterns): capabilities are unioned and
 * DENY wins alone; parameter lists are merged as Vault does (an empty value
 * list means "any value" and wins); wrapping TTL bounds keep the widest
 * min and max. b is left unchanged. KH_ENOMEM. */
int policy_rule_merge(struct policy_rule *a,
                      const struct policy_rule *b) KH_MUST_CHECK;

/* Build a rule set from count rules, which it takes over (also on failure:
 * every rule and the array are freed then). Identical patterns are merged.
 * *ret is written on success only. KH_ENOMEM. */
int policy_ruleset_build(struct policy_rule *rules, size_t count,
                         struct policy_ruleset *ret) KH_MUST_CHECK;

/* Free every rule of rs and zero it. */
void policy_ruleset_clear(struct policy_ruleset *rs);

/* Negative when a has a higher priority than b (§8.3 (a)-(e)), positive
 * when lower, 0 for identical patterns. Non-exact rules only. */
int policy_rule_priority_cmp(const struct policy_rule *a,
                             const struct policy_rule *b);

#endif
