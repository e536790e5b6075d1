/* kvsgate: rate limits (`ratelimit_`), token buckets per key: per subject
 * (the caller's client id, which stands for exactly one sub) for requests, per
 * client address (service/clientaddr.h) for refused tokens.
 *
 * Each key has a bucket of `burst` tokens refilled at `rate_per_s`; a request
 * takes one. Buckets live in a bounded table (the
 * least recently used is dropped past max_subjects, which only ever forgives).
 * Thread-safe (striped locks).
 */
#ifndef KG_SERVICE_RATELIMIT_H
#define KG_SERVICE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* rate_per_s <= 0 disables limiting (ratelimit_new returns NULL). */
struct ratelimit *ratelimit_new(double rate_per_s, double burst, size_t max_subjects);
void ratelimit_free(struct ratelimit *rl);

/* 1 when the request may go on; 0 when the subject is over its limit, then
 * *retry_after_s is how long until a token is back (>= 1). */
int ratelimit_take(struct ratelimit *rl, const char *subject, int64_t now_ms,
                   int64_t *retry_after_s);

/* As ratelimit_take, without taking: 1 when a token is there now (a key with
 * no bucket yet has a full one, and gets none from this call). */
int ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_s);

#endif
