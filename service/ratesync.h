/* kvsgate: per-subject rate limits across replicas, and the replica count
 * that divides the upstream budgets (`ratesync_`).
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
 * Counter keys are {prefix}v1:rl:{the first 32 hex digits of an HMAC-SHA256
 * of the subject's key under a key derived from KVSGATE_REDIS_KEY}: no subject
 * reaches Redis, nor can a guessed one be confirmed there.
 *
 * Replicas: once a second the thread records this replica in the sorted set
 * {prefix}v1:replicas (scored by Redis's clock, so hosts' clocks do not
 * matter), drops those not seen for 3 s, and hands the count to the budget
 * (aws/budget.h budget_set_replicas): N replicas each keep to 1/N of the
 * account's share (at most 64 replicas are counted). Redis away: the last
 * count stays.
 */
#ifndef KG_SERVICE_RATESYNC_H
#define KG_SERVICE_RATESYNC_H

#include <stdint.h>

#include "core/redis.h"
#include "service/ratelimit.h"

struct ratesync;

struct budget;

/* Starts the thread; rl (NULL: no per-subject limit), budget (NULL: none)
 * and redis outlive it. */
struct ratesync *ratesync_start(struct ratelimit *rl, struct budget *budget, struct kg_redis *redis,
                                const char *prefix, const void *secret, size_t secret_len,
                                int64_t sync_ms);
/* One sync now (tests; the thread calls it every sync_ms). */
void ratesync_once(struct ratesync *rs);
void ratesync_stop(struct ratesync *rs);

#endif
