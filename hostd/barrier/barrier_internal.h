/*
 * barrier_internal.h - knobs of the barrier for tests only.
 *
 * Production code never calls these: the defaults are the limits of
 * barrier.h. They exist so tests can reach automatic rotation and counter
 * reservation in a handful of puts.
 */
#ifndef KH_BARRIER_BARRIER_INTERNAL_H
#define KH_BARRIER_BARRIER_INTERNAL_H

#include <stdint.h>

#include "barrier/barrier.h"

/* Rotate once the active term's counter passes n (1 <= n <=
 * KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX, the default). */
void barrier_set_rotation_threshold(struct barrier *b, uint64_t n);

/* Reserve n encryptions per counter write (1 <= n <=
 * BARRIER_PERSIST_INTERVAL, the default). */
void barrier_set_persist_interval(struct barrier *b, uint64_t n);

#endif
