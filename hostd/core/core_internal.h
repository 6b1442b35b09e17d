/*
 * core_internal.h - functions shared by core*.c only. "_locked" functions
 * require core->lock to be held.
 */
#ifndef KH_CORE_INTERNAL_H
#define KH_CORE_INTERNAL_H

#include "core/core.h"

#define CORE_CLUSTER_PATH "core/cluster"

int core_after_unseal_locked(struct kh_core *core);
void core_progress_reset_locked(struct kh_core *core);
/* Unload mounts, forget cached secrets, wipe the keyring. */
void core_seal_locked(struct kh_core *core);

#endif
