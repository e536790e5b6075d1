/* kvsgate: a bounded TTL cache with single-flight loading (`cache_`).
 *
 * Values are immutable and reference-counted: a hit hands out a reference
 * (cache_ref) and copies nothing; the value is freed when the cache dropped it
 * and the last reference is released.
 *
 * Each entry is fresh until its TTL, then may still be served for a further
 * stale window when reloading fails with a transient error (AWS throttling or
 * down): the degraded mode that keeps warm channels working. Entries with a
 * zero stale window (TURN credentials) are never served past their TTL.
 *
 * Single-flight: when several callers miss the same key at once, exactly one
 * (the leader) runs the loader; the others wait for its result, or its error,
 * up to their own deadline. Loaders run without any cache lock held.
 *
 * Bounded: at most max_entries; the least recently used entry is evicted.
 * Metrics: kvsgate_cache_requests_total{cache,result}, with result hit, miss,
 * stale, joined; kvsgate_cache_evictions_total{cache}; kvsgate_cache_entries{cache}.
 *
 * Thread-safe.
 */
#ifndef KG_AWS_CACHE_H
#define KG_AWS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct cache;
struct cache_ref;

struct cache_options {
    const char *name;          /* metrics label, e.g. "channel" */
    size_t max_entries;        /* > 0 */
    void (*free_value)(void *value);
    int64_t (*now_ms)(void);   /* NULL: kg_mono_ms (tests inject) */
};

/* Loads the value for key. On KG_OK sets *value (owned by the cache from then
 * on), *ttl_ms (fresh lifetime, > 0) and *stale_ms (extra window usable when a
 * later reload fails; 0 for none). On an error, nothing is stored. */
typedef enum kg_err (*cache_load_fn)(void *arg, const char *key, void **value, int64_t *ttl_ms,
                                     int64_t *stale_ms);

enum cache_outcome { CACHE_HIT = 0, CACHE_MISS, CACHE_JOINED, CACHE_STALE };

struct cache *cache_new(const struct cache_options *opts);
/* Frees the cache; values still referenced live until released. */
void cache_free(struct cache *c);

/* Never blocks: a fresh value for key (KG_OK and *out), else KG_ERR_WOULD_BLOCK. */
KG_WARN_UNUSED enum kg_err cache_peek(struct cache *c, const char *key, struct cache_ref **out);

/* A fresh value, loading it (or joining a load in flight) when needed, waiting
 * at most until deadline_ms (kg_mono_ms clock; a waiter past it gets
 * KG_ERR_UPSTREAM_TIMEOUT). When the load fails with a transient error and a
 * stale value is still inside its window, that value is returned with
 * *outcome CACHE_STALE. outcome may be NULL. */
KG_WARN_UNUSED enum kg_err cache_get(struct cache *c, const char *key, int64_t deadline_ms,
                                     cache_load_fn load, void *load_arg, struct cache_ref **out,
                                     enum cache_outcome *outcome);

/* Drops key (the next get loads it again). */
void cache_invalidate(struct cache *c, const char *key);
/* Drops every key that starts with prefix. */
void cache_invalidate_prefix(struct cache *c, const char *prefix);
size_t cache_size(struct cache *c);

const void *cache_ref_value(const struct cache_ref *r);
void cache_ref_release(struct cache_ref *r);

#endif
