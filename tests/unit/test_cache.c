/* aws/cache: hits, TTL with a fake clock, LRU bound, single-flight under threads,
 * shared errors, stale values on transient errors only, invalidation, and
 * refresh-ahead (aws/refresh: used entries reloaded before their TTL, unused
 * ones left to expire, one load shared with callers, failures retried,
 * invalidation winning, the rate bound). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/cache.h"
#include "aws/refresh.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "testlib.h"

static _Atomic int64_t fake_now;
static int64_t clock_fn(void) { return atomic_load(&fake_now); }

static _Atomic int loads;
static _Atomic int freed;
static _Atomic int loads_done;
static _Atomic int next_err;
static _Atomic int load_sleep_ms;
static int64_t load_ttl_ms;
static int with_recipe;
static _Atomic int recipes_freed;

static void free_value(void *v)
{
    atomic_fetch_add(&freed, 1);
    free(v);
}

static void free_recipe(void *r)
{
    atomic_fetch_add(&recipes_freed, 1);
    free(r);
}

/* The value is the key, or "key#N" (N: the load's number) with recipes on. */
static enum kg_err loader(void *arg, const char *key, struct cache_loaded *out)
{
    (void)arg;
    int n = atomic_fetch_add(&loads, 1) + 1;
    if (atomic_load(&load_sleep_ms))
        usleep((useconds_t)atomic_load(&load_sleep_ms) * 1000);
    enum kg_err err = (enum kg_err)atomic_load(&next_err);
    if (err == KG_OK) {
        char v[64];
        snprintf(v, sizeof v, with_recipe ? "%s#%d" : "%s", key, n);
        out->value = kg_strdup(v);
        out->ttl_ms = load_ttl_ms;
        out->stale_ms = 5000;
        out->recipe = with_recipe ? kg_strdup(key) : NULL;
    }
    atomic_fetch_add(&loads_done, 1);
    return err;
}

static struct cache *make(size_t max)
{
    atomic_store(&loads, 0);
    atomic_store(&loads_done, 0);
    atomic_store(&freed, 0);
    atomic_store(&recipes_freed, 0);
    atomic_store(&next_err, KG_OK);
    atomic_store(&load_sleep_ms, 0);
    load_ttl_ms = 1000;
    with_recipe = 0;
    atomic_store(&fake_now, 1000000);
    struct cache_options o = {.name = "test", .max_entries = max, .free_value = free_value,
                              .now_ms = clock_fn};
    return cache_new(&o);
}

/* A cache of values living 100 s, refreshed ahead by r: due between 80 s and
 * 90 s after they are stored (lead 10 s, jitter below 10 s). */
static struct cache *make_refreshed(size_t max, struct refresher *r)
{
    struct cache *c = make(max);
    cache_free(c);
    load_ttl_ms = 100000;
    with_recipe = 1;
    struct cache_options o = {"test", max, free_value, clock_fn, r, loader, free_recipe};
    return cache_new(&o);
}

static struct refresher *quick_refresher(double rps)
{
    struct refresher_options ro = {.threads = 2, .rps = rps, .tick_ms = 2};
    return refresher_new(&ro);
}

/* Waits (real time, at most 3 s) until counter reaches n. */
static int wait_for(_Atomic int *counter, int n)
{
    for (int i = 0; i < 1500 && atomic_load(counter) < n; i++)
        usleep(2000);
    return atomic_load(counter) >= n;
}

/* The value cached for key now ("" when none), never loading. */
static void peek_value(struct cache *c, const char *key, char *out, size_t cap)
{
    struct cache_ref *r;
    out[0] = '\0';
    if (cache_peek(c, key, &r) == KG_OK) {
        snprintf(out, cap, "%s", (const char *)cache_ref_value(r));
        cache_ref_release(r);
    }
}

static enum kg_err get(struct cache *c, const char *key, enum cache_outcome *how, char **out)
{
    struct cache_ref *r = NULL;
    *out = NULL;
    enum kg_err err = cache_get(c, key, kg_mono_ms() + 5000, loader, NULL, &r, how);
    if (err == KG_OK) {
        *out = kg_strdup(cache_ref_value(r));
        cache_ref_release(r);
    }
    return err;
}

/* Loads key and hits it once: an entry in use. */
static void load_and_use(struct cache *c, const char *key)
{
    enum cache_outcome how;
    char *v = NULL;
    for (int i = 0; i < 2; i++) {
        T_INTEQ(get(c, key, &how, &v), KG_OK);
        T_INTEQ(how, i ? CACHE_HIT : CACHE_MISS);
        free(v);
    }
}

static void test_a_miss_loads_once_then_hits_until_the_ttl(void)
{
    struct cache *c = make(10);
    enum cache_outcome how;
    char *v = NULL;
    struct cache_ref *r;
    T_INTEQ(cache_peek(c, "a", &r), KG_ERR_WOULD_BLOCK);
    T_INTEQ(get(c, "a", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_MISS);
    T_STREQ(v, "a");
    free(v);
    T_INTEQ(get(c, "a", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_HIT);
    free(v);
    T_INTEQ(cache_peek(c, "a", &r), KG_OK);
    cache_ref_release(r);
    T_INTEQ(atomic_load(&loads), 1);
    atomic_fetch_add(&fake_now, 1001); /* past the TTL */
    T_INTEQ(cache_peek(c, "a", &r), KG_ERR_WOULD_BLOCK);
    T_INTEQ(get(c, "a", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_MISS);
    free(v);
    T_INTEQ(atomic_load(&loads), 2);
    cache_free(c);
    T_INTEQ(atomic_load(&freed), 2);
}

static void test_the_size_bound_evicts_the_least_recently_used(void)
{
    struct cache *c = make(3);
    enum cache_outcome how;
    char *v = NULL;
    const char *keys[] = {"k1", "k2", "k3"};
    for (int i = 0; i < 3; i++) {
        T_INTEQ(get(c, keys[i], &how, &v), KG_OK);
        free(v);
    }
    T_INTEQ(get(c, "k1", &how, &v), KG_OK); /* k1 becomes most recent */
    free(v);
    T_INTEQ(get(c, "k4", &how, &v), KG_OK); /* evicts k2 */
    free(v);
    T_INTEQ(cache_size(c), 3);
    struct cache_ref *r;
    T_INTEQ(cache_peek(c, "k2", &r), KG_ERR_WOULD_BLOCK);
    T_INTEQ(cache_peek(c, "k1", &r), KG_OK);
    cache_ref_release(r);
    T_INTEQ(atomic_load(&freed), 1);
    cache_free(c);
}

static void test_the_table_grows_with_its_entries_and_finds_every_key(void)
{
    struct cache *c = make(5000);
    enum cache_outcome how;
    char *v = NULL, key[32];
    for (int i = 0; i < 5000; i++) { /* the table doubles from 64 buckets to 8192 */
        snprintf(key, sizeof key, "key-%d", i);
        T_INTEQ(get(c, key, &how, &v), KG_OK);
        free(v);
    }
    T_INTEQ(cache_size(c), 5000);
    for (int i = 0; i < 5000; i++) {
        struct cache_ref *r;
        snprintf(key, sizeof key, "key-%d", i);
        T_INTEQ(cache_peek(c, key, &r), KG_OK);
        T_STREQ(cache_ref_value(r), key);
        cache_ref_release(r);
    }
    T_INTEQ(get(c, "one-more", &how, &v), KG_OK); /* evicts one, every key was hit: CLOCK */
    free(v);
    T_INTEQ(cache_size(c), 5000);
    T_INTEQ(atomic_load(&loads), 5001);
    cache_free(c);
}

static void test_a_value_outlives_its_eviction_while_referenced(void)
{
    struct cache *c = make(1);
    struct cache_ref *r;
    enum cache_outcome how;
    T_INTEQ(cache_get(c, "x", kg_mono_ms() + 1000, loader, NULL, &r, &how), KG_OK);
    char *v = NULL;
    T_INTEQ(get(c, "y", &how, &v), KG_OK); /* evicts x from the cache */
    free(v);
    T_INTEQ(atomic_load(&freed), 0);       /* still referenced */
    T_STREQ(cache_ref_value(r), "x");
    cache_ref_release(r);
    T_INTEQ(atomic_load(&freed), 1);
    cache_free(c);
}

struct racer {
    struct cache *c;
    enum kg_err err;
    enum cache_outcome how;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    struct cache_ref *r = NULL;
    rc->err = cache_get(rc->c, "hot", kg_mono_ms() + 5000, loader, NULL, &r, &rc->how);
    if (rc->err == KG_OK)
        cache_ref_release(r);
    return NULL;
}

static void test_concurrent_misses_make_one_load_and_share_it(void)
{
    struct cache *c = make(10);
    load_sleep_ms = 100;
    struct racer rc[32];
    pthread_t t[32];
    for (int i = 0; i < 32; i++) {
        rc[i] = (struct racer){c, KG_ERR_INTERNAL, CACHE_MISS};
        pthread_create(&t[i], NULL, race, &rc[i]);
    }
    int misses = 0, joined = 0;
    for (int i = 0; i < 32; i++) {
        pthread_join(t[i], NULL);
        T_INTEQ(rc[i].err, KG_OK);
        misses += rc[i].how == CACHE_MISS;
        joined += rc[i].how == CACHE_JOINED || rc[i].how == CACHE_HIT;
    }
    T_INTEQ(atomic_load(&loads), 1);
    T_INTEQ(misses, 1);
    T_INTEQ(joined, 31);
    cache_free(c);
}

static void test_waiters_share_the_leaders_error(void)
{
    struct cache *c = make(10);
    load_sleep_ms = 100;
    next_err = KG_ERR_CHANNEL_NOT_FOUND;
    struct racer rc[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        rc[i] = (struct racer){c, KG_OK, CACHE_MISS};
        pthread_create(&t[i], NULL, race, &rc[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        T_INTEQ(rc[i].err, KG_ERR_CHANNEL_NOT_FOUND);
    }
    T_INTEQ(atomic_load(&loads), 1);
    T_INTEQ(cache_size(c), 0); /* errors are not stored */
    cache_free(c);
}

static void test_a_waiter_gives_up_at_its_deadline(void)
{
    struct cache *c = make(10);
    load_sleep_ms = 400;
    pthread_t t;
    struct racer leader = {c, KG_ERR_INTERNAL, CACHE_MISS};
    pthread_create(&t, NULL, race, &leader);
    usleep(50 * 1000);
    struct cache_ref *r = NULL;
    enum cache_outcome how;
    int64_t t0 = kg_mono_ms();
    T_INTEQ(cache_get(c, "hot", kg_mono_ms() + 100, loader, NULL, &r, &how),
            KG_ERR_UPSTREAM_TIMEOUT);
    T_CHECK(kg_mono_ms() - t0 < 300);
    pthread_join(t, NULL);
    T_INTEQ(leader.err, KG_OK);
    cache_free(c);
}

static void test_stale_values_serve_transient_errors_only(void)
{
    struct cache *c = make(10);
    enum cache_outcome how;
    char *v = NULL;
    T_INTEQ(get(c, "s", &how, &v), KG_OK);
    free(v);
    atomic_fetch_add(&fake_now, 2000); /* past TTL (1 s), inside stale (5 s more) */
    next_err = KG_ERR_UPSTREAM_THROTTLED;
    T_INTEQ(get(c, "s", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_STALE);
    T_STREQ(v, "s");
    free(v);
    next_err = KG_ERR_CHANNEL_NOT_FOUND; /* authoritative: no stale */
    T_INTEQ(get(c, "s", &how, &v), KG_ERR_CHANNEL_NOT_FOUND);
    next_err = KG_ERR_UPSTREAM_UNAVAILABLE;
    atomic_fetch_add(&fake_now, 5000); /* past the stale window too */
    T_INTEQ(get(c, "s", &how, &v), KG_ERR_UPSTREAM_UNAVAILABLE);
    cache_free(c);
}

static void test_invalidation_drops_keys(void)
{
    struct cache *c = make(10);
    enum cache_outcome how;
    char *v = NULL;
    const char *keys[] = {"arn:1|MASTER", "arn:1|VIEWER", "arn:2|MASTER"};
    for (int i = 0; i < 3; i++) {
        T_INTEQ(get(c, keys[i], &how, &v), KG_OK);
        free(v);
    }
    cache_invalidate_prefix(c, "arn:1|");
    T_INTEQ(cache_size(c), 1);
    cache_invalidate(c, "arn:2|MASTER");
    T_INTEQ(cache_size(c), 0);
    T_INTEQ(atomic_load(&freed), 3);
    cache_free(c);
}

static void test_a_used_entry_is_reloaded_before_its_ttl_so_it_never_misses(void)
{
    struct refresher *rf = quick_refresher(100);
    struct cache *c = make_refreshed(10, rf);
    enum cache_outcome how;
    char *v = NULL, now_v[64];
    T_INTEQ(get(c, "k", &how, &v), KG_OK);
    T_STREQ(v, "k#1");
    free(v);
    T_INTEQ(get(c, "k", &how, &v), KG_OK); /* used */
    T_INTEQ(how, CACHE_HIT);
    free(v);
    atomic_fetch_add(&fake_now, 79000);    /* not due yet (due 80..90 s) */
    usleep(30 * 1000);
    T_INTEQ(atomic_load(&loads), 1);
    atomic_fetch_add(&fake_now, 11000);    /* 90 s: due */
    T_CHECK(wait_for(&loads_done, 2));
    for (int i = 0; i < 500; i++) {       /* the settle follows the load */
        peek_value(c, "k", now_v, sizeof now_v);
        if (strcmp(now_v, "k#2") == 0)
            break;
        usleep(2000);
    }
    T_STREQ(now_v, "k#2");
    atomic_fetch_add(&fake_now, 20000);    /* 110 s: the first value's TTL is long past */
    T_INTEQ(get(c, "k", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_HIT);
    T_STREQ(v, "k#2");
    free(v);
    T_INTEQ(atomic_load(&loads), 2);
    T_CHECK(wait_for(&recipes_freed, 1)); /* the first value's, with it */
    refresher_stop(rf);
    cache_free(c);
    refresher_free(rf);
    T_INTEQ(atomic_load(&recipes_freed), 2);
}

static void test_an_entry_not_hit_since_it_was_stored_is_left_to_expire(void)
{
    struct refresher *rf = quick_refresher(100);
    struct cache *c = make_refreshed(10, rf);
    enum cache_outcome how;
    char *v = NULL;
    T_INTEQ(get(c, "idle", &how, &v), KG_OK);
    free(v);
    atomic_fetch_add(&fake_now, 95000); /* due, but never hit */
    usleep(60 * 1000);
    T_INTEQ(atomic_load(&loads), 1);
    atomic_fetch_add(&fake_now, 6000);  /* past the TTL */
    T_INTEQ(get(c, "idle", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_MISS);
    free(v);
    T_INTEQ(atomic_load(&loads), 2);
    cache_free(c);
    refresher_free(rf);
}

static void test_a_caller_missing_during_a_refresh_joins_it(void)
{
    struct refresher *rf = quick_refresher(100);
    struct cache *c = make_refreshed(10, rf);
    enum cache_outcome how;
    char *v = NULL;
    load_and_use(c, "k");
    atomic_store(&load_sleep_ms, 300);
    atomic_fetch_add(&fake_now, 91000);
    T_CHECK(wait_for(&loads, 2));         /* the refresh has begun */
    atomic_fetch_add(&fake_now, 10000);   /* and the old value expires under it */
    T_INTEQ(get(c, "k", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_JOINED);
    T_STREQ(v, "k#2");
    free(v);
    T_INTEQ(atomic_load(&loads), 2);
    cache_free(c);
    refresher_free(rf);
}

static void test_a_failed_refresh_keeps_the_value_and_is_tried_again(void)
{
    struct refresher *rf = quick_refresher(100);
    struct cache *c = make_refreshed(10, rf);
    enum cache_outcome how;
    char *v = NULL;
    load_and_use(c, "k");
    atomic_store(&next_err, KG_ERR_UPSTREAM_THROTTLED);
    atomic_fetch_add(&fake_now, 90000);   /* 90 s */
    T_CHECK(wait_for(&loads_done, 2));
    usleep(20 * 1000);
    T_INTEQ(get(c, "k", &how, &v), KG_OK); /* the old value serves on */
    T_INTEQ(how, CACHE_HIT);
    T_STREQ(v, "k#1");
    free(v);
    atomic_store(&next_err, KG_OK);
    atomic_fetch_add(&fake_now, 5000);    /* 95 s: the retry, halfway to the TTL, is due */
    T_CHECK(wait_for(&loads_done, 3));
    usleep(20 * 1000);
    atomic_fetch_add(&fake_now, 10000);   /* 105 s */
    T_INTEQ(get(c, "k", &how, &v), KG_OK);
    T_INTEQ(how, CACHE_HIT);
    T_STREQ(v, "k#3");
    free(v);
    cache_free(c);
    refresher_free(rf);
}

static void test_a_refresh_does_not_store_a_key_invalidated_meanwhile(void)
{
    struct refresher *rf = quick_refresher(100);
    struct cache *c = make_refreshed(10, rf);
    load_and_use(c, "gone");
    atomic_store(&load_sleep_ms, 200);
    atomic_fetch_add(&fake_now, 91000);
    T_CHECK(wait_for(&loads, 2));
    cache_invalidate(c, "gone");          /* e.g. the channel was deleted */
    T_CHECK(wait_for(&loads_done, 2));
    usleep(30 * 1000);
    T_INTEQ(cache_size(c), 0);
    T_INTEQ(atomic_load(&freed), 2);      /* both values, the refreshed one unstored */
    cache_free(c);
    refresher_free(rf);
}

static void test_short_lived_values_and_caches_without_recipes_are_not_refreshed(void)
{
    struct refresher *rf = quick_refresher(100);
    struct cache *c = make_refreshed(10, rf);
    load_ttl_ms = CACHE_REFRESH_MIN_TTL_MS - 1;
    load_and_use(c, "brief");
    atomic_fetch_add(&fake_now, CACHE_REFRESH_MIN_TTL_MS - 2);
    usleep(40 * 1000);
    T_INTEQ(atomic_load(&loads), 1);
    cache_free(c);
    /* A cache with a refresher but values without recipes. */
    c = make_refreshed(10, rf);
    with_recipe = 0;
    load_and_use(c, "plain");
    atomic_fetch_add(&fake_now, 95000);
    usleep(40 * 1000);
    T_INTEQ(atomic_load(&loads), 1);
    cache_free(c);
    refresher_free(rf);
}

static void test_a_used_entry_is_refreshed_promptly_among_thousands_of_idle_ones(void)
{
    struct refresher_options ro = {.threads = 1, .rps = 100, .tick_ms = 100};
    struct refresher *rf = refresher_new(&ro);
    struct cache *c = make_refreshed(5000, rf);
    enum cache_outcome how;
    char *v = NULL, key[32];
    for (int i = 0; i < 4999; i++) {
        snprintf(key, sizeof key, "idle-%d", i);
        T_INTEQ(get(c, key, &how, &v), KG_OK);
        free(v);
    }
    atomic_fetch_add(&fake_now, 10500); /* "hot" falls due after every idle one */
    load_and_use(c, "hot");
    atomic_fetch_add(&fake_now, 90500); /* all 5000 due at once, the used one last */
    int64_t t0 = kg_mono_ms();
    T_CHECK(wait_for(&loads_done, 5001));
    /* Idle entries are dropped 64 per look, looks follow one another while
     * some are due: well under the 78 ticks (7.8 s) of one look per tick. */
    T_CHECK(kg_mono_ms() - t0 < 2000);
    T_INTEQ(atomic_load(&loads), 5001);
    refresher_stop(rf);
    cache_free(c);
    refresher_free(rf);
}

static void test_the_refresher_starts_at_most_its_rate(void)
{
    struct refresher *rf = quick_refresher(20); /* burst 20, then 20 per second */
    struct cache *c = make_refreshed(100, rf);
    enum cache_outcome how;
    char *v = NULL;
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        T_INTEQ(get(c, key, &how, &v), KG_OK);
        free(v);
        T_INTEQ(get(c, key, &how, &v), KG_OK);
        free(v);
    }
    atomic_fetch_add(&fake_now, 91000);         /* all 100 due at once */
    int64_t t0 = kg_mono_ms();
    T_CHECK(wait_for(&loads, 100 + 20));       /* the burst */
    usleep(500 * 1000);
    double elapsed_s = (double)(kg_mono_ms() - t0) / 1000.0;
    int refreshed = atomic_load(&loads) - 100;
    T_CHECK(refreshed <= 20 + (int)(elapsed_s * 20) + 1);
    T_CHECK(refreshed < 100);
    refresher_stop(rf);
    cache_free(c);
    refresher_free(rf);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_a_miss_loads_once_then_hits_until_the_ttl),
        T_CASE(test_the_size_bound_evicts_the_least_recently_used),
        T_CASE(test_the_table_grows_with_its_entries_and_finds_every_key),
        T_CASE(test_a_value_outlives_its_eviction_while_referenced),
        T_CASE(test_concurrent_misses_make_one_load_and_share_it),
        T_CASE(test_waiters_share_the_leaders_error),
        T_CASE(test_a_waiter_gives_up_at_its_deadline),
        T_CASE(test_stale_values_serve_transient_errors_only),
        T_CASE(test_invalidation_drops_keys),
        T_CASE(test_a_used_entry_is_reloaded_before_its_ttl_so_it_never_misses),
        T_CASE(test_an_entry_not_hit_since_it_was_stored_is_left_to_expire),
        T_CASE(test_a_caller_missing_during_a_refresh_joins_it),
        T_CASE(test_a_failed_refresh_keeps_the_value_and_is_tried_again),
        T_CASE(test_a_refresh_does_not_store_a_key_invalidated_meanwhile),
        T_CASE(test_short_lived_values_and_caches_without_recipes_are_not_refreshed),
        T_CASE(test_a_used_entry_is_refreshed_promptly_among_thousands_of_idle_ones),
        T_CASE(test_the_refresher_starts_at_most_its_rate),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
