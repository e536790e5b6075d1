/* service/ratelimit: burst, refill, per-subject isolation, Retry-After, bound,
 * and exact accounting under concurrent callers (label concurrency: TSan). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "service/ratelimit.h"
#include "testlib.h"

static void test_a_burst_then_the_rate(void)
{
    struct ratelimit *rl = ratelimit_new(2, 3, 100);
    int64_t ra = 0;
    for (int i = 0; i < 3; i++)
        T_CHECK(ratelimit_take(rl, "alice", 1000, &ra));
    T_CHECK(!ratelimit_take(rl, "alice", 1000, &ra));
    T_INTEQ(ra, 1);
    T_CHECK(ratelimit_take(rl, "alice", 1500, &ra)); /* 0.5 s at 2/s: one token */
    T_CHECK(!ratelimit_take(rl, "alice", 1500, &ra));
    T_CHECK(ratelimit_take(rl, "bob", 1500, &ra)); /* others are not affected */
    T_CHECK(ratelimit_take(rl, "alice", 100000, &ra));
    ratelimit_free(rl);
}

static void test_retry_after_reflects_a_slow_rate(void)
{
    struct ratelimit *rl = ratelimit_new(0.1, 1, 100);
    int64_t ra = 0;
    T_CHECK(ratelimit_take(rl, "s", 0, &ra));
    T_CHECK(!ratelimit_take(rl, "s", 0, &ra));
    T_INTEQ(ra, 10);
    ratelimit_free(rl);
}

static void test_disabled_limits_always_allow(void)
{
    struct ratelimit *rl = ratelimit_new(0, 1, 100);
    T_CHECK(rl == NULL);
    for (int i = 0; i < 1000; i++)
        T_CHECK(ratelimit_take(rl, "x", 0, NULL));
}

static void test_the_table_is_bounded(void)
{
    struct ratelimit *rl = ratelimit_new(1, 1, 64);
    char sub[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(sub, sizeof sub, "user-%d", i);
        T_CHECK(ratelimit_take(rl, sub, 0, NULL));
    }
    ratelimit_free(rl); /* under ASan: no leak, no growth beyond the bound */
}

#define RL_THREADS 4

struct rl_job {
    struct ratelimit *rl;
    struct ratelimit *churn;
    atomic_int *granted_shared;
    int id;
};

static void *hammer(void *arg)
{
    struct rl_job *j = arg;
    char own[32];
    snprintf(own, sizeof own, "own-%d", j->id);
    for (int i = 0; i < 5000; i++) {
        /* One subject every thread shares, at a fixed instant: exactly the
         * burst is granted, whatever the interleaving. */
        if (ratelimit_take(j->rl, "shared", 1000, NULL))
            atomic_fetch_add(j->granted_shared, 1);
        /* Subjects that come and go past the table's bound (evictions); in
         * another limiter, since an evicted subject starts a fresh bucket. */
        snprintf(own, sizeof own, "t%d-%d", j->id, i % 300);
        (void)ratelimit_take(j->churn, own, 1000 + i, NULL);
    }
    return NULL;
}

static void test_concurrent_callers_get_exactly_the_burst(void)
{
    struct ratelimit *rl = ratelimit_new(0.001, 50, 128);
    struct ratelimit *churn = ratelimit_new(5, 2, 128);
    atomic_int granted = 0;
    pthread_t t[RL_THREADS];
    struct rl_job jobs[RL_THREADS];
    for (int i = 0; i < RL_THREADS; i++) {
        jobs[i] = (struct rl_job){rl, churn, &granted, i};
        pthread_create(&t[i], NULL, hammer, &jobs[i]);
    }
    for (int i = 0; i < RL_THREADS; i++)
        pthread_join(t[i], NULL);
    T_INTEQ(atomic_load(&granted), 50);
    ratelimit_free(rl);
    ratelimit_free(churn);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_a_burst_then_the_rate),
        T_CASE(test_retry_after_reflects_a_slow_rate),
        T_CASE(test_disabled_limits_always_allow),
        T_CASE(test_the_table_is_bounded),
        T_CASE(test_concurrent_callers_get_exactly_the_burst),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
