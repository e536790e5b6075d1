/* Design note: one mutex per cache guards a chained hash table (doubling with
 * its entries), an LRU list kept by CLOCK (a hit marks its entry; eviction gives
 * marked entries a second chance at the front) and the list of loads in
 * flight. A lookup never waits on the network: loaders
 * run unlocked, and callers that miss a key already being loaded sleep on that
 * flight's condition variable (monotonic clock, bounded by their deadline).
 * A flight lives until its leader and every waiter let go of it, so a waiter
 * that times out never touches freed memory.
 *
 * Refresh-ahead: entries with a recipe also sit in a binary min-heap ordered
 * by refresh_at (each entry knows its heap slot, so removal is O(log n)); a
 * refresher thread pops due entries (cache_refresh_take) and reloads the used
 * ones through a flight registered like a foreground one. */
#include "aws/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/cache_impl.h"
#include "aws/refresh.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define NOT_SCHEDULED SIZE_MAX

struct cache_ref {
    _Atomic int refs;
    void *value;
    void (*free_value)(void *);
    void *recipe;
    void (*free_recipe)(void *);
};

struct entry {
    const char *key; /* key_text below */
    uint64_t hash;
    struct cache_ref *val; /* one reference held by the entry */
    int64_t fresh_until;
    int64_t stale_until;
    int64_t refresh_at;    /* when scheduled: due for a reload */
    size_t heap_at;        /* slot in c->heap, or NOT_SCHEDULED */
    int used;              /* hit since the value was stored */
    int referenced;        /* hit since it last came to the LRU's front (second chance) */
    struct entry *chain;
    struct entry *prev, *next; /* LRU: head is most recent */
    char key_text[];           /* one allocation with the entry */
};

struct flight {
    char *key;
    uint64_t hash;
    int done;
    int stale;
    enum kg_err err;
    struct cache_ref *val; /* one reference held by the flight when set */
    int users;             /* leader + waiters still looking at it */
    int invalidated;       /* the key was invalidated meanwhile: do not store */
    pthread_cond_t cond;
    struct flight *next;
};

struct cache {
    struct cache_options opts;
    uint64_t seed; /* of the key hash (core/hash.h) */
    _Atomic(struct kg_series *) counted[CACHE_STALE + 1]; /* per outcome (count) */
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t bucket_count;
    size_t count;
    struct entry *head, *tail;
    struct flight *flights;
    struct entry **heap; /* refresh schedule, min refresh_at at [0] */
    size_t heap_count;
    uint64_t jitter_state;
    struct kg_metric *requests, *evictions, *entries, *refreshes;
};

struct cache_job {
    struct cache *c;
    struct flight *f;
    struct cache_ref *val; /* the value being refreshed (holds the recipe) */
};

static int64_t cache_now(const struct cache *c)
{
    return c->opts.now_ms ? c->opts.now_ms() : kg_mono_ms();
}

static void ref_release(struct cache_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        if (r->free_value)
            r->free_value(r->value);
        if (r->recipe && r->free_recipe)
            r->free_recipe(r->recipe);
        free(r);
    }
}

static struct cache_ref *ref_acquire(struct cache_ref *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

struct cache_ref *cache_ref_private(void *value, void (*free_value)(void *value))
{
    struct cache_ref *r = kg_calloc(1, sizeof *r);
    atomic_init(&r->refs, 1);
    r->value = value;
    r->free_value = free_value;
    return r;
}

const void *cache_ref_value(const struct cache_ref *r) { return r->value; }
void cache_ref_release(struct cache_ref *r) { ref_release(r); }

const char *cache_outcome_name(enum cache_outcome how)
{
    static const char *const names[] = {
        [CACHE_HIT] = "hit", [CACHE_MISS] = "miss", [CACHE_JOINED] = "joined", [CACHE_STALE] = "stale"};
    return (unsigned)how <= CACHE_STALE ? names[how] : "miss";
}

/* One lookup's outcome in kvsgate_cache_requests_total: the series of each
 * outcome found once per cache (the labels are fixed), then kept. */
static void count(struct cache *c, enum cache_outcome how)
{
    kg_metric_add_kept(c->requests, (const char *[]){c->opts.name, cache_outcome_name(how)},
                       &c->counted[how], 1);
}

struct cache *cache_new(const struct cache_options *opts)
{
    struct cache *c = kg_calloc(1, sizeof *c);
    c->opts = *opts;
    c->opts.name = kg_strdup(opts->name ? opts->name : "cache");
    c->seed = kg_hash_seed();
    if (!c->opts.max_entries)
        c->opts.max_entries = 1;
    c->bucket_count = 64; /* doubles with the entries (buckets_grow) */
    c->buckets = kg_calloc(c->bucket_count, sizeof *c->buckets);
    pthread_mutex_init(&c->lock, NULL);
    c->requests = kg_metric_counter("kvsgate_cache_requests_total",
                                    "Cache lookups by cache and result (hit, miss, joined, stale).",
                                    "cache,result");
    c->evictions = kg_metric_counter("kvsgate_cache_evictions_total",
                                     "Entries evicted to stay within the size bound.", "cache");
    c->entries = kg_metric_gauge("kvsgate_cache_entries", "Entries held now.", "cache");
    c->refreshes = kg_metric_counter(
        "kvsgate_cache_refreshes_total",
        "Refresh-ahead by cache and outcome (ok, error, unused, dropped).", "cache,outcome");
    c->jitter_state = (uint64_t)kg_mono_ms() * 0x9E3779B97F4A7C15ULL + (uintptr_t)c;
    if (c->opts.refresher && c->opts.refresh_load) {
        c->heap = kg_calloc(c->opts.max_entries, sizeof *c->heap);
        refresher_join(c->opts.refresher, c);
    } else {
        c->opts.refresher = NULL;
    }
    return c;
}

static void lru_unlink(struct cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* ---- the refresh schedule (c->lock held) ---------------------------------------- */

static void heap_place(struct cache *c, size_t at, struct entry *e)
{
    c->heap[at] = e;
    e->heap_at = at;
}

static void heap_up(struct cache *c, size_t at)
{
    struct entry *e = c->heap[at];
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (c->heap[parent]->refresh_at <= e->refresh_at)
            break;
        heap_place(c, at, c->heap[parent]);
        at = parent;
    }
    heap_place(c, at, e);
}

static void heap_down(struct cache *c, size_t at)
{
    struct entry *e = c->heap[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= c->heap_count)
            break;
        if (child + 1 < c->heap_count && c->heap[child + 1]->refresh_at < c->heap[child]->refresh_at)
            child++;
        if (e->refresh_at <= c->heap[child]->refresh_at)
            break;
        heap_place(c, at, c->heap[child]);
        at = child;
    }
    heap_place(c, at, e);
}

static void schedule_drop(struct cache *c, struct entry *e)
{
    if (e->heap_at == NOT_SCHEDULED)
        return;
    size_t at = e->heap_at;
    e->heap_at = NOT_SCHEDULED;
    struct entry *last = c->heap[--c->heap_count];
    if (last == e)
        return;
    heap_place(c, at, last);
    heap_up(c, at);
    heap_down(c, last->heap_at);
}

/* Schedules e's reload for refresh_at (dropping an earlier slot). The heap
 * holds at most max_entries (one slot per entry). */
static void schedule_at(struct cache *c, struct entry *e, int64_t refresh_at)
{
    schedule_drop(c, e);
    e->refresh_at = refresh_at;
    heap_place(c, c->heap_count++, e);
    heap_up(c, e->heap_at);
}

static uint64_t jitter_next(struct cache *c)
{
    uint64_t x = c->jitter_state; /* xorshift64: spreading, not secrecy */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->jitter_state = x;
    return x;
}

/* A value stored at now for ttl_ms is due at fresh_until - lead - jitter. */
static void schedule_fresh(struct cache *c, struct entry *e, int64_t now, int64_t ttl_ms)
{
    if (!c->opts.refresher || !e->val->recipe || ttl_ms < CACHE_REFRESH_MIN_TTL_MS) {
        schedule_drop(c, e);
        return;
    }
    int64_t lead = ttl_ms / 10;
    if (lead < 1000)
        lead = 1000;
    if (lead > 300000)
        lead = 300000;
    int64_t jitter = (int64_t)(jitter_next(c) % (uint64_t)lead);
    schedule_at(c, e, now + ttl_ms - lead - jitter);
}

/* Keeps the table at most one entry per bucket on average: a table sized for
 * max_entries up front (e.g. 64 Ki buckets, 512 KiB, for 20,000) made every
 * lookup of a few hundred warm keys a cache miss on the bucket array. */
static void buckets_grow(struct cache *c)
{
    if (c->count < c->bucket_count || c->bucket_count >= (1u << 24))
        return;
    size_t n = c->bucket_count * 2;
    struct entry **fresh = kg_calloc(n, sizeof *fresh);
    for (size_t i = 0; i < c->bucket_count; i++) {
        struct entry *e = c->buckets[i];
        while (e) {
            struct entry *next = e->chain;
            e->chain = fresh[e->hash & (n - 1)];
            fresh[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = fresh;
    c->bucket_count = n;
}

/* The least recently used entry, approximately (CLOCK): an entry hit since it
 * last came to the front gets a second chance at the front instead. Hits then
 * write only their own entry, not the list's head shared by every thread. */
static struct entry *lru_victim(struct cache *c)
{
    for (size_t turns = 0; c->tail && turns < c->count; turns++) {
        struct entry *e = c->tail;
        if (!e->referenced)
            return e;
        e->referenced = 0;
        lru_unlink(c, e);
        lru_push_front(c, e);
    }
    return c->tail;
}

static struct entry *entry_find(struct cache *c, const char *key, uint64_t h)
{
    for (struct entry *e = c->buckets[h & (c->bucket_count - 1)]; e; e = e->chain)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void entry_remove(struct cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->bucket_count - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    schedule_drop(c, e);
    c->count--;
    ref_release(e->val);
    free(e);
}

static void publish_size(struct cache *c)
{
    kg_metric_set(c->entries, (const char *[]){c->opts.name}, (double)c->count);
}

/* Stores val under key (taking the caller's reference), replacing and
 * evicting, fresh for ttl_ms from now and usable stale for stale_ms more. */
static void entry_store(struct cache *c, const char *key, uint64_t h, struct cache_ref *val,
                        int64_t now, int64_t ttl_ms, int64_t stale_ms)
{
    int64_t fresh_until = now + ttl_ms, stale_until = fresh_until + stale_ms;
    struct entry *e = entry_find(c, key, h);
    if (e) {
        ref_release(e->val);
        e->val = val;
        e->fresh_until = fresh_until;
        e->stale_until = stale_until;
        e->used = 0;
        e->referenced = 0;
        lru_unlink(c, e);
        lru_push_front(c, e);
        schedule_fresh(c, e, now, ttl_ms);
        return;
    }
    while (c->count >= c->opts.max_entries && c->tail) {
        entry_remove(c, lru_victim(c));
        kg_metric_inc(c->evictions, (const char *[]){c->opts.name});
    }
    size_t key_len = strlen(key);
    e = kg_calloc(1, sizeof *e + key_len + 1);
    memcpy(e->key_text, key, key_len + 1);
    e->key = e->key_text;
    e->hash = h;
    e->val = val;
    e->fresh_until = fresh_until;
    e->stale_until = stale_until;
    e->heap_at = NOT_SCHEDULED;
    size_t b = h & (c->bucket_count - 1);
    e->chain = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    c->count++;
    buckets_grow(c);
    schedule_fresh(c, e, now, ttl_ms);
    publish_size(c);
}

/* A fresh entry's value with a new reference, or NULL (dropping a dead entry). */
static struct cache_ref *fresh_locked(struct cache *c, const char *key, uint64_t h, int64_t now)
{
    struct entry *e = entry_find(c, key, h);
    if (!e)
        return NULL;
    if (now < e->fresh_until) {
        if (!e->referenced)
            e->referenced = 1;
        if (!e->used)
            e->used = 1;
        return ref_acquire(e->val);
    }
    if (now >= e->stale_until) {
        entry_remove(c, e);
        publish_size(c);
    }
    return NULL;
}

enum kg_err cache_peek(struct cache *c, const char *key, struct cache_ref **out)
{
    uint64_t h = kg_hash_str(c->seed, key);
    pthread_mutex_lock(&c->lock);
    struct cache_ref *r = fresh_locked(c, key, h, cache_now(c));
    pthread_mutex_unlock(&c->lock);
    if (!r)
        return KG_ERR_WOULD_BLOCK;
    count(c, CACHE_HIT);
    *out = r;
    return KG_OK;
}

enum kg_err cache_peek_any(struct cache *c, const char *key, struct cache_ref **out)
{
    uint64_t h = kg_hash_str(c->seed, key);
    pthread_mutex_lock(&c->lock);
    struct entry *e = entry_find(c, key, h);
    struct cache_ref *r = e ? ref_acquire(e->val) : NULL;
    pthread_mutex_unlock(&c->lock);
    if (!r)
        return KG_ERR_WOULD_BLOCK;
    *out = r;
    return KG_OK;
}

static void flight_put(struct cache *c, struct flight *f)
{
    (void)c;
    if (--f->users > 0)
        return;
    ref_release(f->val);
    pthread_cond_destroy(&f->cond);
    free(f->key);
    free(f);
}

static int stale_allowed(enum kg_err err)
{
    return err == KG_ERR_UPSTREAM_THROTTLED || err == KG_ERR_UPSTREAM_UNAVAILABLE ||
           err == KG_ERR_UPSTREAM_REFUSED || err == KG_ERR_UPSTREAM_TIMEOUT;
}

static struct flight *flight_find(struct cache *c, const char *key, uint64_t h)
{
    struct flight *f = c->flights;
    while (f && !(f->hash == h && strcmp(f->key, key) == 0))
        f = f->next;
    return f;
}

/* Waits (c->lock held) for the load in flight f, at most until deadline_ms,
 * and takes its answer; unlocks. */
static enum kg_err flight_join(struct cache *c, struct flight *f, int64_t deadline_ms,
                               struct cache_ref **out, enum cache_outcome *how)
{
    f->users++;
    while (!f->done && !kg_cond_wait_until(&f->cond, &c->lock, deadline_ms))
        ;
    enum kg_err err = KG_ERR_UPSTREAM_TIMEOUT;
    *how = CACHE_JOINED;
    if (f->done) {
        err = f->err;
        if (err == KG_OK)
            *out = ref_acquire(f->val);
        if (f->stale)
            *how = CACHE_STALE;
    }
    flight_put(c, f);
    pthread_mutex_unlock(&c->lock);
    count(c, *how == CACHE_STALE ? CACHE_STALE : CACHE_JOINED);
    return err;
}

/* Stores what a load brought (c->lock held): a new entry, or, when AWS failed
 * in a way that allows it, the entry past its TTL (stale). Fills f. */
static enum kg_err flight_settle(struct cache *c, struct flight *f, enum kg_err err,
                                 const struct cache_loaded *got)
{
    int64_t now = cache_now(c);
    if (err == KG_OK) {
        struct cache_ref *val = kg_calloc(1, sizeof *val);
        atomic_store(&val->refs, 1); /* the entry's, or the flight's when not stored */
        val->value = got->value;
        val->free_value = c->opts.free_value;
        val->recipe = got->recipe;
        val->free_recipe = c->opts.free_recipe;
        if (f->invalidated) {
            f->val = val; /* for this load's callers only */
        } else {
            entry_store(c, f->key, f->hash, ref_acquire(val), now, got->ttl_ms < 1 ? 1 : got->ttl_ms,
                        got->stale_ms > 0 ? got->stale_ms : 0);
            f->val = val;
        }
    } else if (stale_allowed(err)) {
        struct entry *e = entry_find(c, f->key, f->hash);
        if (e && now < e->stale_until) {
            f->val = ref_acquire(e->val);
            f->stale = 1;
            err = KG_OK;
        }
    }
    f->done = 1;
    f->err = err;
    pthread_cond_broadcast(&f->cond);
    /* New callers start a fresh flight from now on. */
    struct flight **pp = &c->flights;
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    return err;
}

/* Leads a load (c->lock held, unlocks): registers the flight so others join
 * it, loads without the lock, settles. */
static enum kg_err flight_lead(struct cache *c, const char *key, uint64_t h, cache_load_fn load,
                               void *load_arg, struct cache_ref **out, enum cache_outcome *how)
{
    struct flight *f = kg_calloc(1, sizeof *f);
    f->key = kg_strdup(key);
    f->hash = h;
    f->users = 1;
    kg_cond_init_mono(&f->cond);
    f->next = c->flights;
    c->flights = f;
    pthread_mutex_unlock(&c->lock);

    struct cache_loaded got = {0};
    enum kg_err err = load(load_arg, key, &got);

    pthread_mutex_lock(&c->lock);
    err = flight_settle(c, f, err, &got);
    *how = f->stale ? CACHE_STALE : CACHE_MISS;
    if (err == KG_OK)
        *out = ref_acquire(f->val);
    flight_put(c, f);
    pthread_mutex_unlock(&c->lock);
    count(c, *how == CACHE_STALE ? CACHE_STALE : CACHE_MISS);
    return err;
}

enum kg_err cache_get(struct cache *c, const char *key, int64_t deadline_ms, cache_load_fn load,
                      void *load_arg, struct cache_ref **out, enum cache_outcome *outcome)
{
    enum cache_outcome how = CACHE_HIT;
    uint64_t h = kg_hash_str(c->seed, key);
    pthread_mutex_lock(&c->lock);
    struct cache_ref *r = fresh_locked(c, key, h, cache_now(c));
    enum kg_err err = KG_OK;
    if (r) {
        pthread_mutex_unlock(&c->lock);
        count(c, CACHE_HIT);
        *out = r;
    } else {
        struct flight *f = flight_find(c, key, h);
        err = f ? flight_join(c, f, deadline_ms, out, &how)
                : flight_lead(c, key, h, load, load_arg, out, &how);
    }
    if (outcome)
        *outcome = how;
    return err;
}

/* Loads in flight for key (or, with prefix, for keys starting with it) will
 * not store what they bring (c->lock held). */
static void flights_invalidate(struct cache *c, const char *key, int prefix)
{
    size_t n = strlen(key);
    for (struct flight *f = c->flights; f; f = f->next)
        if (prefix ? strncmp(f->key, key, n) == 0 : strcmp(f->key, key) == 0)
            f->invalidated = 1;
}

void cache_invalidate(struct cache *c, const char *key)
{
    uint64_t h = kg_hash_str(c->seed, key);
    pthread_mutex_lock(&c->lock);
    flights_invalidate(c, key, 0);
    struct entry *e = entry_find(c, key, h);
    if (e) {
        entry_remove(c, e);
        publish_size(c);
    }
    pthread_mutex_unlock(&c->lock);
}

void cache_invalidate_prefix(struct cache *c, const char *prefix)
{
    size_t n = strlen(prefix);
    pthread_mutex_lock(&c->lock);
    flights_invalidate(c, prefix, 1);
    struct entry *e = c->head;
    while (e) {
        struct entry *next = e->next;
        if (strncmp(e->key, prefix, n) == 0)
            entry_remove(c, e);
        e = next;
    }
    publish_size(c);
    pthread_mutex_unlock(&c->lock);
}

size_t cache_size(struct cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- refresh-ahead ---------------------------------------------------------------- */

static void count_refresh(struct cache *c, const char *outcome)
{
    kg_metric_inc(c->refreshes, (const char *[]){c->opts.name, outcome});
}

struct cache_job *cache_refresh_take(struct cache *c, int *more_due)
{
    struct cache_job *job = NULL;
    pthread_mutex_lock(&c->lock);
    int64_t now = cache_now(c);
    /* Bounded work per call under the lock callers share: thousands of idle
     * entries falling due together are dropped a batch per tick. */
    for (int budget = 64; !job && budget > 0 && c->heap_count && c->heap[0]->refresh_at <= now;
         budget--) {
        struct entry *e = c->heap[0];
        schedule_drop(c, e);
        if (!e->used) {
            count_refresh(c, "unused");
            continue;
        }
        if (flight_find(c, e->key, e->hash))
            continue; /* a caller is loading it already */
        struct flight *f = kg_calloc(1, sizeof *f);
        f->key = kg_strdup(e->key);
        f->hash = e->hash;
        f->users = 1;
        kg_cond_init_mono(&f->cond);
        f->next = c->flights;
        c->flights = f;
        job = kg_malloc(sizeof *job);
        job->c = c;
        job->f = f;
        job->val = ref_acquire(e->val);
    }
    *more_due = !job && c->heap_count && c->heap[0]->refresh_at <= now;
    pthread_mutex_unlock(&c->lock);
    return job;
}

/* After a failed refresh (c->lock held): try again halfway to the TTL while at
 * least 2 s remain, if the entry still holds the value that was refreshed. */
static void refresh_retry_later(struct cache *c, const struct cache_job *job, int64_t now)
{
    struct entry *e = entry_find(c, job->f->key, job->f->hash);
    if (!e || e->val != job->val || e->fresh_until - now < 2000)
        return;
    e->used = 1; /* it was in use; keep it so */
    schedule_at(c, e, now + (e->fresh_until - now) / 2);
}

void cache_refresh_run(struct cache_job *job)
{
    struct cache *c = job->c;
    struct flight *f = job->f;
    struct cache_loaded got = {0};
    enum kg_err err = c->opts.refresh_load(job->val->recipe, f->key, &got);

    pthread_mutex_lock(&c->lock);
    int64_t now = cache_now(c);
    int invalidated = f->invalidated;
    flight_settle(c, f, err, &got);
    if (err != KG_OK)
        refresh_retry_later(c, job, now);
    count_refresh(c, invalidated ? "dropped" : err == KG_OK ? "ok" : "error");
    flight_put(c, f);
    pthread_mutex_unlock(&c->lock);
    ref_release(job->val);
    free(job);
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    if (c->opts.refresher)
        refresher_leave(c->opts.refresher, c);
    pthread_mutex_lock(&c->lock);
    while (c->head)
        entry_remove(c, c->head);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_destroy(&c->lock);
    free(c->heap);
    free(c->buckets);
    free((char *)c->opts.name);
    free(c);
}
