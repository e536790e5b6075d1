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
 * Refresh-ahead (optional, with a refresher, aws/refresh.h): a value whose
 * load left a recipe (how to load the key again without the caller) and whose
 * TTL is at least CACHE_REFRESH_MIN_TTL_MS is due for a background reload a
 * little before its TTL ends: lead = TTL/10 within 1 s..300 s, plus a random
 * jitter of up to one more lead, so entries loaded together are not refreshed
 * together. When it is due and was hit since it was stored, a refresher thread
 * reloads it through the same single flight as foreground loads (a caller
 * that misses meanwhile joins it; hits keep the old value until the new one
 * lands). An entry not hit since it was stored is left to expire as without
 * refresh-ahead. A failed refresh is tried again halfway to the TTL while at
 * least 2 s remain. The refresher bounds how many run at once and how many
 * start per second.
 *
 * Invalidation wins over loads in flight: a value whose load began before its
 * key was invalidated is handed to that load's callers but not stored.
 *
 * Bounded: at most max_entries; the least recently used entry is evicted
 * (approximately: CLOCK, so a hit writes only its own entry).
 * Metrics: kvsgate_cache_requests_total{cache,result}, with result hit, miss,
 * stale, joined; kvsgate_cache_evictions_total{cache}; kvsgate_cache_entries{cache};
 * kvsgate_cache_refreshes_total{cache,outcome}, outcome ok, error (AWS failed;
 * the old value serves on), unused (due but not hit: left to expire),
 * dropped (the key was invalidated or replaced while it reloaded).
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
struct refresher;

/* Values living shorter than this are never refreshed ahead. */
#define CACHE_REFRESH_MIN_TTL_MS 10000

/* What a load brings. */
struct cache_loaded {
    void *value;      /* owned by the cache from then on */
    int64_t ttl_ms;   /* fresh lifetime, > 0 */
    int64_t stale_ms; /* extra window usable when a later reload fails; 0 for none */
    void *recipe;     /* optional, owned by the cache: refresh_load's arg for this key
                         (freed with the value by free_recipe); NULL: never refreshed */
};

/* Loads the value for key into *out (zeroed by the cache). On an error,
 * nothing is stored and *out is ignored (the loader frees what it made). */
typedef enum kg_err (*cache_load_fn)(void *arg, const char *key, struct cache_loaded *out);

struct cache_options {
    const char *name;          /* metrics label, e.g. "channel" */
    size_t max_entries;        /* > 0 */
    void (*free_value)(void *value);
    int64_t (*now_ms)(void);   /* NULL: kg_mono_ms (tests inject) */
    /* Refresh-ahead, all three or none: */
    struct refresher *refresher;  /* outlives the cache */
    cache_load_fn refresh_load;   /* called with the entry's recipe as arg, on a refresher thread */
    void (*free_recipe)(void *recipe);
};

enum cache_outcome { CACHE_HIT = 0, CACHE_MISS, CACHE_JOINED, CACHE_STALE };
/* "hit", "miss", "joined" or "stale": the metric's result label and the log's cache field. */
const char *cache_outcome_name(enum cache_outcome how);

struct cache *cache_new(const struct cache_options *opts);
/* Frees the cache; values still referenced live until released. */
void cache_free(struct cache *c);

/* Never blocks: a fresh value for key (KG_OK and *out), else KG_ERR_WOULD_BLOCK. */
KG_WARN_UNUSED enum kg_err cache_peek(struct cache *c, const char *key, struct cache_ref **out);

/* Whatever value key holds, fresh or not, without counting a hit or marking
 * it used (comparisons with what a load brings); KG_ERR_WOULD_BLOCK if none. */
KG_WARN_UNUSED enum kg_err cache_peek_any(struct cache *c, const char *key, struct cache_ref **out);

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

/* A reference to a value no cache holds (freed with free_value on the last
 * release): callers that bypass a cache hand out the same kind of reference. */
struct cache_ref *cache_ref_private(void *value, void (*free_value)(void *value));

const void *cache_ref_value(const struct cache_ref *r);
void cache_ref_release(struct cache_ref *r);

#endif
