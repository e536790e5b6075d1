/* kvsgate: rate limits (`ratelimit_`), token buckets per key: per subject
 * (the caller's client id, which stands for exactly one sub) for requests, per
 * client address (service/clientaddr.h) for refused tokens.
 *
 * Each key has a bucket of `burst` tokens refilled at `rate_per_s`; a request
 * takes one. Buckets live in a bounded table (the
 * least recently used is dropped past max_subjects, which only ever forgives).
 * With a shared Redis, replicas reconcile their buckets (ratelimit_collect,
 * ratelimit_reconcile; service/ratesync.h) so a subject's limit holds across
 * them.
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

/* Reconciling with other replicas (service/ratesync.h): what a subject took
 * here since the last collect, and the shared total this replica last saw. */
struct ratelimit_usage {
    char *key;      /* owned */
    int64_t taken;
    long long seen; /* -1: never reconciled */
    int64_t seen_ms; /* when seen was learnt */
};

/* The keys used within the last active_ms (at most max, most recent first in
 * each stripe), with what each took since the last collect (reset to 0). */
size_t ratelimit_collect(struct ratelimit *rl, int64_t now_ms, int64_t active_ms,
                         struct ratelimit_usage *out, size_t max);
/* total: the shared count after adding u->taken. What other replicas let
 * through since the last reconcile (total - seen - taken) is taken from the
 * bucket (down to a debt of one burst). The first reconcile of a key, and one
 * more than max_gap_ms after the last (the key was idle here meanwhile), only
 * learn the total. */
void ratelimit_reconcile(struct ratelimit *rl, const struct ratelimit_usage *u, long long total,
                         int64_t now_ms, int64_t max_gap_ms);
void ratelimit_usage_cleanup(struct ratelimit_usage *u, size_t n);

#endif
