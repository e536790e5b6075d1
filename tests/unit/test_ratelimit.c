/* service/ratelimit: burst, refill, per-subject isolation, Retry-After, bound. */
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

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_a_burst_then_the_rate),
        T_CASE(test_retry_after_reflects_a_slow_rate),
        T_CASE(test_disabled_limits_always_allow),
        T_CASE(test_the_table_is_bounded),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
