/*
 * tokenutil.h - the token-shaping fields every auth method role or user
 * carries (Vault API: auth methods, Vault's sdk/helper/tokenutil), the lenient
 * field parsers the auth methods share, and CIDR lists.
 *
 * Fields and their deprecated aliases (the token_* name wins when a request
 * sends both; reads echo both names):
 *
 *   token_ttl               ttl            TDS
 *   token_max_ttl           max_ttl        TDS
 *   token_period            period         TDS
 *   token_explicit_max_ttl  -              TDS
 *   token_policies          policies       CSL, lowercased, sorted, unique
 *   token_bound_cidrs       bound_cidrs    CSL of CIDRs or addresses
 *   token_num_uses          num_uses       int, 0 = unlimited
 *   token_no_default_policy -              bool
 *   token_type              -              "default", "service", "batch"
 *
 * A struct tokenutil is plain data with fixed-size arrays: no allocation,
 * nothing to free. The parsers read a JSON object (a request's data or a
 * stored record) and change only the fields present in it, so an update
 * keeps what the request does not mention. This file never touches storage
 * and never issues tokens; it only fills struct token_params.
 */
#ifndef KH_AUTH_TOKENUTIL_H
#define KH_AUTH_TOKENUTIL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/assert.h"
#include "token/token_store.h"

/* ---- limits (house style) ---- */

/* Policies of a role or user; one slot stays free for "default". */
#define TOKENUTIL_POLICIES_MAX     (TOKEN_POLICIES_MAX - 1)
#define TOKENUTIL_POLICY_BYTES_MAX (TOKEN_POLICY_NAME_MAX - 1)
/* CIDRs in one list (token_bound_cidrs, secret_id_bound_cidrs, ...). */
#define TOKENUTIL_CIDRS_MAX 16
/* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 49 bytes. */
#define TOKENUTIL_CIDR_BYTES_MAX 63
/* Durations: 100 years keeps now + ttl far inside int64 seconds. */
#define TOKENUTIL_TTL_MAX_S    (100ull * 365ull * 86400ull)
#define TOKENUTIL_NUM_USES_MAX 1000000000ull
/* Entries of one CSL field before trimming and de-duplication. */
#define TOKENUTIL_CSL_ITEMS_MAX 256

static_assert(TOKENUTIL_CIDRS_MAX <=
                  sizeof(((struct token_params *)0)->bound_cidrs) /
                      sizeof(((struct token_params *)0)->bound_cidrs[0]),
              "every bound CIDR must fit struct token_params");
static_assert(TOKENUTIL_POLICIES_MAX + 1 <= TOKEN_POLICIES_MAX,
              "policies plus default must fit struct token_params");

struct tokenutil_policies
{
    size_t count;
    char items[TOKENUTIL_POLICIES_MAX][TOKENUTIL_POLICY_BYTES_MAX + 1];
};

struct tokenutil_cidrs
{
    size_t count;
    char items[TOKENUTIL_CIDRS_MAX][TOKENUTIL_CIDR_BYTES_MAX + 1];
};

struct tokenutil
{
    uint64_t ttl_s; /* 0: mount/system default */
    uint64_t max_ttl_s;
    uint64_t explicit_max_ttl_s;
    uint64_t period_s;
    uint64_t num_uses;
    bool no_default_policy;
    char type[8]; /* "default", "service" or "batch" */
    struct tokenutil_policies policies;
    struct tokenutil_cidrs bound_cidrs;
};

/* All fields at their defaults (zero, type "default"). */
void tokenutil_init(struct tokenutil *t);

/* Apply the token fields present in obj (an object) onto t, then check the
 * result (token_ttl <= token_max_ttl, batch tokens neither periodic nor
 * use-limited). KH_EINVAL/KH_ELIMIT with errmsg; t is unchanged then. */
int tokenutil_parse(struct tokenutil *t, const json_t *obj, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;

/* Add the token_* fields to obj (the stored form). KH_ENOMEM. */
int tokenutil_encode(const struct tokenutil *t, json_t *obj) KH_MUST_CHECK;

/* Add the token_* fields and their legacy aliases to obj (a read):
 * durations in seconds, lists as arrays. KH_ENOMEM. */
int tokenutil_describe(const struct tokenutil *t, json_t *obj) KH_MUST_CHECK;

/* Fill the token fields of params, borrowing strings from t (which must
 * outlive params). meta, display_name, path and renewable stay as set. */
void tokenutil_params(const struct tokenutil *t, struct token_params *params);

/* ---- lenient field parsers over a JSON object (Vault API: request body rules) ----
 * Absent and JSON null are "not supplied": *ret_present false, the output
 * untouched. Malformed or above max: KH_EINVAL/KH_ELIMIT with errmsg. */

/* The value of name, or NULL when absent or null. */
const json_t *tokenutil_field(const json_t *obj, const char *name);
/* name if supplied, else alias if supplied, else NULL (alias may be NULL). */
const char *tokenutil_pick(const json_t *obj, const char *name,
                           const char *alias);

/* Seconds as a JSON integer, a numeric string or a duration ("1h30m"). */
int tokenutil_field_duration(const json_t *obj, const char *name, uint64_t max,
                             bool *ret_present, uint64_t *ret_seconds,
                             char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* A non-negative integer or numeric string. */
int tokenutil_field_uint(const json_t *obj, const char *name, uint64_t max,
                         bool *ret_present, uint64_t *ret, char *errmsg,
                         size_t errmsg_size) KH_MUST_CHECK;
/* A JSON boolean or a Go-style bool string ("true", "1", "F", ...). */
int tokenutil_field_bool(const json_t *obj, const char *name, bool *ret_present,
                         bool *ret, char *errmsg,
                         size_t errmsg_size) KH_MUST_CHECK;
/* CSL of policy names: lowercased, trimmed, empties dropped, sorted,
 * unique; at most TOKENUTIL_POLICIES_MAX. */
int tokenutil_field_policies(const json_t *obj, const char *name,
                             bool *ret_present, struct tokenutil_policies *ret,
                             char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* CSL of CIDRs ("10.0.0.0/8", "::1/128") or bare addresses, each checked;
 * at most TOKENUTIL_CIDRS_MAX. */
int tokenutil_field_cidrs(const json_t *obj, const char *name,
                          bool *ret_present, struct tokenutil_cidrs *ret,
                          char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* ---- CIDR lists ---- */

/* True when list is empty or remote_addr (textual IPv4/IPv6, IPv4-mapped
 * IPv6 accepted) lies in one of its entries. An unparsable address is
 * never allowed by a non-empty list. */
bool tokenutil_cidrs_allow(const struct tokenutil_cidrs *list,
                           const char *remote_addr);
/* True when outer is empty or every entry of inner lies inside an entry of
 * outer. */
bool tokenutil_cidrs_subset(const struct tokenutil_cidrs *inner,
                            const struct tokenutil_cidrs *outer);
/* A JSON array of the entries (new reference), NULL on allocation
 * failure. */
json_t *tokenutil_cidrs_json(const struct tokenutil_cidrs *list);

#endif
