/* kvsgate: per-subject rate limits across replicas (`ratesync_`).
 *
 * Each replica limits from its own buckets, on the request path, with no
 * Redis round trip. A thread adds, every sync_ms, what each subject active
 * in the last two seconds took here to a shared counter in Redis (one EVAL
 * for up to 128 subjects: INCRBY and an expiry), reads back the total and
 * takes from the local bucket what the other replicas let through since the
 * last sync. So each bucket sees every replica's requests, the others' at
 * most sync_ms late.
 *
 * Tolerance (docs/redis.md): over any window, N replicas let a subject
 * through at most what one would, plus what the others let through in one
 * sync interval each (about (N-1) x rate x sync_ms), plus, when the subject
 * first reaches a replica, that replica's burst. Redis down: each replica
 * limits alone (the configured rate per replica) until it is back.
 *
 * Counter keys are {prefix}v1:rl:{the first 32 hex digits of SHA-256 of the
 * subject's key}: no subject text reaches Redis.
 */
#ifndef KG_SERVICE_RATESYNC_H
#define KG_SERVICE_RATESYNC_H

#include <stdint.h>

#include "core/redis.h"
#include "service/ratelimit.h"

struct ratesync;

/* Starts the thread; rl and redis outlive it. */
struct ratesync *ratesync_start(struct ratelimit *rl, struct kg_redis *redis, const char *prefix,
                                int64_t sync_ms);
/* One sync now (tests; the thread calls it every sync_ms). */
void ratesync_once(struct ratesync *rs);
void ratesync_stop(struct ratesync *rs);

#endif
