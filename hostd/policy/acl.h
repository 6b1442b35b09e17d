/*
 * acl.h - the ACL of one token: its policies merged, and the decision for
 * one request path (Vault API: capabilities and policy matching).
 *
 * Evaluation for a path P: the exact rule for P (for LIST also P without
 * its trailing '/'); otherwise the single highest-priority glob or '+'
 * rule that matches; otherwise nothing (denied). Only that rule's
 * capabilities and parameter constraints count. Identical patterns from
 * different policies were merged when the ACL was built (DENY wins);
 * different patterns are never combined. A root ACL allows everything.
 *
 * An ACL is immutable once built and owns copies of its rules, so it does
 * not depend on the policies it was built from; any number of threads may
 * evaluate it concurrently. acl_check and acl_capabilities never allocate.
 */
#ifndef KH_POLICY_ACL_H
#define KH_POLICY_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/assert.h"
#include "core/request.h"
#include "policy/policy.h"

/* Policies merged into one ACL (= TOKEN_POLICIES_MAX) and rules in it. */
#define ACL_POLICIES_MAX 64
#define ACL_RULES_MAX    100000

struct acl;

/* Build the ACL of policies[0..count) (NULL entries are skipped, as Vault
 * ignores unknown policy names). root: the token carries the root policy,
 * the ACL allows everything and the policies are not read. The policies
 * stay owned by the caller. *ret_acl is freed with acl_free().
 * KH_ELIMIT when count > ACL_POLICIES_MAX or the rules exceed
 * ACL_RULES_MAX; KH_ENOMEM. */
int acl_create(struct policy *const *policies, size_t count, bool root,
               struct acl **ret_acl) KH_MUST_CHECK;

/* Accepts NULL. */
void acl_free(struct acl *acl);

bool acl_is_root(const struct acl *acl);

/* The rule that decides path (list_op: the LIST fallback to P without a
 * trailing '/'), or NULL when none matches or the ACL is root. Valid while
 * acl lives. */
const struct policy_rule *acl_match(const struct acl *acl, const char *path,
                                    bool list_op);

/* Decide one request. op maps to a capability: READ and HEAD -> read,
 * LIST -> list, CREATE -> create, UPDATE -> update, PATCH -> patch,
 * DELETE -> delete. sudo_required: the path is root-protected and also
 * needs sudo. request_data (an object, or NULL) is checked against the
 * winning rule's required/allowed/denied parameters for READ, CREATE,
 * UPDATE and PATCH. Returns 0 when allowed, with the rule's capabilities
 * in *ret_caps (may be NULL; POLICY_CAP_ROOT plus every granting bit for
 * root); KH_EPERM with errmsg "permission denied" otherwise. Whether a
 * POST/PUT is CREATE or UPDATE is the caller's existence check: use
 * acl_capabilities() to see which of the two a path grants. */
int acl_check(const struct acl *acl, const char *path, enum kh_operation op,
              bool sudo_required, const json_t *request_data,
              unsigned *ret_caps, char *errmsg,
              size_t errmsg_size) KH_MUST_CHECK;

/* The capabilities the ACL grants on path, as sys/capabilities-self
 * reports them (evaluated as for LIST, like Vault): POLICY_CAP_ROOT for
 * root, the winning rule's bits, or 0 when no rule matches. Turn them
 * into names with policy_caps_names()/policy_caps_json(). */
unsigned acl_capabilities(const struct acl *acl, const char *path);

#endif
