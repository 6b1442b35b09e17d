/*
 * authutil.h - small storage helpers the auth methods share where their
 * handlers would otherwise copy the same loop (a LIST of the records under
 * one prefix of the mount's view).
 *
 * It must never decide permissions or shape a response envelope: callers
 * wrap the data with their own respond function.
 */
#ifndef KH_AUTH_AUTHUTIL_H
#define KH_AUTH_AUTHUTIL_H

#include <jansson.h>

#include "barrier/view.h"
#include "common/assert.h"

/* Vault's list data {"keys": [...]} of the keys directly under prefix in
 * view, in *ret_data (the caller owns it). KH_ENOTFOUND when there are
 * none (Vault answers such a LIST with 404). */
int auth_list_keys(const struct barrier_view *view, const char *prefix,
                   json_t **ret_data) KH_MUST_CHECK;

#endif
