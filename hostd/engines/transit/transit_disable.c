/*
 * transit_disable.c - the transit engine's disable hook (backend.h): when
 * a transit mount is disabled, the token objects of its managed keys are
 * destroyed too. They live in the seal's PKCS#11 token, outside the
 * mount's view, and would otherwise outlive the mount there forever.
 *
 * Owns the walk over the mount's stored keys (policy/) and the report to
 * the operator: every label it could not destroy is logged, one line
 * each, so that it can be removed by hand; a label already gone from the
 * token is logged too. It keeps going after a failure (each object is
 * independent), never changes the view (the mount table clears it next)
 * and never decides whether the mount goes: it always does.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "mount/mount_table.h"

struct disable_tally
{
    size_t keys;      /* managed keys seen */
    size_t destroyed; /* token objects destroyed */
    size_t absent;    /* already gone from the token */
    size_t left;      /* left behind (logged) */
};

/* Destroy every version's token object of one managed key. */
static void disable_key(const struct transit_call *call,
                        const struct transit_policy *pol,
                        struct disable_tally *tally)
{
    char label[TRANSIT_LABEL_BYTES];
    const char *path = call->br->mount->path;
    uint32_t v;

    KH_ASSERT(pol->managed);
    KH_ASSERT(pol->latest_version <= TRANSIT_KEY_VERSIONS_MAX);
    tally->keys++;
    for (v = 1; v <= pol->latest_version; v++) {
        int r = transit_managed_destroy_version(call, pol, v, label);
        if (r == 0) {
            tally->destroyed++;
        } else if (r == KH_ENOTFOUND) {
            tally->absent++;
            log_warn("transit: disabling %s: HSM object \"%s\" was "
                     "already gone from the token",
                     path, label);
        } else {
            tally->left++;
            log_warn("transit: disabling %s: could not destroy HSM object "
                     "\"%s\" (%s); it is left in the token: remove it by "
                     "hand",
                     path, label,
                     call->errmsg[0] != '\0' ? call->errmsg : kh_strerror(r));
            call->errmsg[0] = '\0';
        }
    }
}

/* One stored key: managed ones lose their token objects. A record that
 * cannot be read counts as one object left behind, logged with the
 * label pattern of its versions. */
static void disable_name(const struct transit_call *call, const char *name,
                         struct disable_tally *tally)
{
    struct transit_policy *pol = NULL;
    int r;

    r = transit_policy_load(call->br->view, name, &pol);
    if (r != 0) {
        tally->left++;
        log_warn("transit: disabling %s: cannot read key \"%s\" (%s); if "
                 "it was managed, its HSM objects \"" TRANSIT_LABEL_PREFIX
                 "%s-%s-v*\" are left in the token: remove them by hand",
                 call->br->mount->path, name, kh_strerror(r),
                 call->state->mount_uuid, name);
        return;
    }
    if (pol->managed)
        disable_key(call, pol, tally);
    transit_policy_free(pol);
}

int transit_disable(const struct backend_request *br, char *errmsg,
                    size_t errmsg_size)
{
    struct backend_request with_core;
    struct kh_storage_list list = {NULL, 0};
    struct disable_tally tally = {0, 0, 0, 0};
    char scratch[KH_ERRMSG_SIZE] = "";
    struct transit_call call = {.br = &with_core,
                                .state = br->state,
                                .name = "",
                                .tail = "",
                                .resp = NULL,
                                .errmsg = scratch,
                                .errmsg_size = sizeof(scratch)};
    size_t i;
    int r;

    KH_ASSERT(br->mount != NULL);
    KH_ASSERT(br->req == NULL);
    if (br->state == NULL || br->view == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "transit mount is not initialised");
    with_core = *br;
    if (with_core.core == NULL)
        with_core.core = __atomic_load_n(&call.state->core, __ATOMIC_ACQUIRE);
    transit_lock_write(call.state);
    r = view_list(br->view, "policy/", &list);
    for (i = 0; r == 0 && i < list.count; i++)
        disable_name(&call, list.keys[i], &tally);
    transit_unlock(call.state);
    kh_storage_list_free(&list);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "cannot list the transit keys (%s); the HSM objects "
                         "of managed keys \"" TRANSIT_LABEL_PREFIX "%s-*\" "
                         "are left in the token: remove them by hand",
                         kh_strerror(r), call.state->mount_uuid);
    if (tally.keys > 0)
        log_info("transit: disabling %s: %zu managed keys, %zu HSM objects "
                 "destroyed, %zu already gone, %zu left behind",
                 br->mount->path, tally.keys, tally.destroyed, tally.absent,
                 tally.left);
    if (tally.left > 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "%zu HSM objects of managed transit keys are left "
                         "in the token (each label is logged above)",
                         tally.left);
    return 0;
}
