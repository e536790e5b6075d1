/* aws/cache: hits, TTL with a fake clock, LRU bound, single-flight under threads,
 * shared errors, stale values on transient errors only, invalidation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/cache.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "testlib.h"

static _Atomic int64_t fake_now;
static int64_t clock_fn(void) { return atomic_load(&fake_now); }

static _Atomic int loads;
static _Atomic int freed;
static enum kg_err next_err;
static int load_sleep_ms;

static void free_value(void *v)
{
    atomic_fetch_add(&freed, 1);
    free(v);
}

static enum kg_err loader(void *arg, const char *key, void **value, int64_t *ttl_ms,
                          int64_t *stale_ms)
{
    (void)arg;
    atomic_fetch_add(&loads, 1);
    if (load_sleep_ms)
        usleep((useconds_t)load_sleep_ms * 1000);
    if (next_err != KG_OK)
        return next_err;
    *value = kg_strdup(key);
    *ttl_ms = 1000;
    *stale_ms = 5000;
    return KG_OK;
}

static struct cache *make(size_t max)
{
    atomic_store(&loads, 0);
    atomic_store(&freed, 0);
    next_err = KG_OK;
    load_sleep_ms = 0;
    atomic_store(&fake_now, 1000000);
    struct cache_options o = {"test", max, free_value, clock_fn};
    return cache_new(&o);
}

static enum kg_err get(struct cache *c, const char *key, enum cache_outcome *how, char **out)
{
    struct cache_ref *r = NULL;
    enum kg_err err = cache_get(c, key, kg_mono_ms() + 5000, loader, NULL, &r, how);
    if (err == KG_OK) {
        *out = kg_strdup(cache_ref_value(r));
        cache_ref_release(r);
    }
    return err;
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
    char *v;
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

static void test_a_value_outlives_its_eviction_while_referenced(void)
{
    struct cache *c = make(1);
    struct cache_ref *r;
    enum cache_outcome how;
    T_INTEQ(cache_get(c, "x", kg_mono_ms() + 1000, loader, NULL, &r, &how), KG_OK);
    char *v;
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
    char *v;
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
    char *v;
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

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_a_miss_loads_once_then_hits_until_the_ttl),
        T_CASE(test_the_size_bound_evicts_the_least_recently_used),
        T_CASE(test_a_value_outlives_its_eviction_while_referenced),
        T_CASE(test_concurrent_misses_make_one_load_and_share_it),
        T_CASE(test_waiters_share_the_leaders_error),
        T_CASE(test_a_waiter_gives_up_at_its_deadline),
        T_CASE(test_stale_values_serve_transient_errors_only),
        T_CASE(test_invalidation_drops_keys),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
