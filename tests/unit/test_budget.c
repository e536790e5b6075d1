/* aws/budget: the share of each quota, per channel, waits, refusals, the
 * adaptive shrink and its recovery, the bound of the channel table, and exact
 * accounting under concurrent callers (label concurrency: TSan). The clock is
 * injected. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "aws/budget.h"
#include "testlib.h"

static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

static struct budget *budget_at(int percent, int64_t max_wait_ms)
{
    fake_now = 1000000;
    struct budget_options o = {.percent = percent, .max_wait_ms = max_wait_ms,
                               .now_ms = fake_clock};
    return budget_new(&o);
}

static int take(struct budget *b, const char *op, const char *channel, int64_t *wait)
{
    return budget_take(b, op, channel, 5000, wait);
}

static void test_an_account_budget_is_its_share_of_the_quota(void)
{
    /* ListSignalingChannels: 50 TPS per account; 50% is 25 per second, one second held. */
    struct budget *b = budget_at(50, 0);
    int64_t wait = -1;
    for (int i = 0; i < 25; i++) {
        T_CHECK(take(b, "ListSignalingChannels", NULL, &wait));
        T_INTEQ(wait, 0);
    }
    T_CHECK(!take(b, "ListSignalingChannels", NULL, &wait));
    T_INTEQ(wait, 40); /* one token per 40 ms */
    fake_now += 40;
    T_CHECK(take(b, "ListSignalingChannels", NULL, &wait));
    T_CHECK(!take(b, "ListSignalingChannels", NULL, &wait));
    /* Another operation has its own budget. */
    T_CHECK(take(b, "CreateSignalingChannel", NULL, &wait));
    budget_free(b);
}

static void test_a_channel_budget_holds_one_channel_by_name_and_by_arn_resource(void)
{
    /* DescribeSignalingChannel: 5 TPS per channel; 50% is 2.5 per second. */
    struct budget *b = budget_at(50, 0);
    int64_t wait = -1;
    T_CHECK(take(b, "DescribeSignalingChannel", "channel/a", &wait));
    T_CHECK(take(b, "DescribeSignalingChannel", "channel/a", &wait));
    T_CHECK(!take(b, "DescribeSignalingChannel", "channel/a", &wait));
    T_INTEQ(wait, 200); /* 0.5 token short at 2.5 per second */
    T_CHECK(take(b, "DescribeSignalingChannel", "channel/b", &wait));
    /* GetSignalingChannelEndpoint has no per-channel quota. */
    for (int i = 0; i < 10; i++)
        T_CHECK(take(b, "GetSignalingChannelEndpoint", "channel/a", &wait));
    fake_now += 200;
    T_CHECK(take(b, "DescribeSignalingChannel", "channel/a", &wait));
    budget_free(b);
}

static void test_calls_wait_their_turn_within_the_wait_and_are_refused_past_it(void)
{
    struct budget *b = budget_at(50, 100);
    int64_t wait = -1;
    for (int i = 0; i < 25; i++)
        T_CHECK(take(b, "ListSignalingChannels", NULL, &wait));
    T_CHECK(take(b, "ListSignalingChannels", NULL, &wait));
    T_INTEQ(wait, 40); /* reserved: the next token */
    T_CHECK(take(b, "ListSignalingChannels", NULL, &wait));
    T_INTEQ(wait, 80); /* behind the first reservation */
    T_CHECK(!take(b, "ListSignalingChannels", NULL, &wait));
    T_INTEQ(wait, 120);
    /* A caller with less time than the budget's wait is refused sooner. */
    fake_now += 80;
    T_CHECK(!budget_take(b, "ListSignalingChannels", NULL, 10, &wait));
    T_INTEQ(wait, 40);
    budget_free(b);
}

static void test_a_throttle_shrinks_once_a_second_and_the_rate_recovers_in_ten(void)
{
    struct budget *b = budget_at(100, 0);
    T_CHECK(budget_rate(b, "ListSignalingChannels") == 50.0);
    budget_throttled(b, "ListSignalingChannels", NULL);
    T_CHECK(budget_rate(b, "ListSignalingChannels") == 35.0);
    budget_throttled(b, "ListSignalingChannels", NULL); /* same second: calls sent together */
    T_CHECK(budget_rate(b, "ListSignalingChannels") == 35.0);
    fake_now += 5000; /* halfway back: 35 + (50 - 35) / 2 */
    T_CHECK(budget_rate(b, "ListSignalingChannels") == 42.5);
    fake_now += 5000;
    T_CHECK(budget_rate(b, "ListSignalingChannels") == 50.0);
    for (int i = 0; i < 40; i++) {
        budget_throttled(b, "ListSignalingChannels", NULL);
        fake_now += 1000;
    }
    /* A throttle every second: the factor right after a cut settles where a
     * second's recovery (a tenth of what is missing) meets the 30% cut:
     * f = 0.7 (0.9 f + 0.1) = 0.189; a second later it is 0.27, 13.5 calls
     * per second (above the floor, a tenth, which only a faster loss reaches). */
    double r = budget_rate(b, "ListSignalingChannels");
    if (!(r > 13.4 && r < 13.6))
        t_fail(__FILE__, __LINE__, "settled at %.3f per second", r);
    T_CHECK(budget_rate(b, "CreateSignalingChannel") == 50.0);
    budget_free(b);
}

static void test_a_shrunk_budget_refuses_what_the_full_one_allowed(void)
{
    struct budget *b = budget_at(100, 0);
    int64_t wait;
    for (int i = 0; i < 50; i++)
        T_CHECK(take(b, "ListSignalingChannels", NULL, &wait));
    budget_throttled(b, "ListSignalingChannels", NULL); /* 35 per second */
    fake_now += 100;
    int granted = 0;
    while (take(b, "ListSignalingChannels", NULL, &wait))
        granted++;
    T_INTEQ(granted, 3); /* 3.5 tokens in 100 ms at 35 per second */
    budget_free(b);
}

static void test_a_throttle_empties_the_channel_bucket(void)
{
    struct budget *b = budget_at(100, 0);
    int64_t wait;
    T_CHECK(take(b, "DescribeSignalingChannel", "channel/a", &wait));
    budget_throttled(b, "DescribeSignalingChannel", "channel/a");
    T_CHECK(!take(b, "DescribeSignalingChannel", "channel/a", &wait));
    T_INTEQ(wait, 200); /* a whole token at 5 per second */
    T_CHECK(take(b, "DescribeSignalingChannel", "channel/b", &wait));
    budget_free(b);
}

static void test_without_a_budget_or_a_quota_every_call_goes(void)
{
    struct budget_options off = {.percent = 0};
    T_CHECK(budget_new(&off) == NULL);
    int64_t wait = -1;
    for (int i = 0; i < 1000; i++)
        T_CHECK(budget_take(NULL, "ListSignalingChannels", NULL, 0, &wait));
    T_INTEQ(wait, 0);
    budget_throttled(NULL, "ListSignalingChannels", NULL);
    struct budget *b = budget_at(1, 0);
    for (int i = 0; i < 1000; i++)
        T_CHECK(take(b, "NotAKvsOperation", "channel/a", &wait));
    budget_free(b);
}

static void test_the_channel_table_is_bounded(void)
{
    fake_now = 0;
    struct budget_options o = {.percent = 100, .max_channels = 64, .now_ms = fake_clock};
    struct budget *b = budget_new(&o);
    char name[32];
    int64_t wait;
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "channel/c-%d", i);
        T_CHECK(take(b, "DescribeSignalingChannel", name, &wait));
        fake_now += 4; /* 250 per second, inside the account's 300 */
    }
    budget_free(b); /* under ASan: nothing leaks, the table never passed 64 */
}

static void test_a_full_table_of_busy_buckets_holds_new_channels_to_the_account(void)
{
    fake_now = 0;
    struct budget_options o = {.percent = 100, .max_channels = 4, .now_ms = fake_clock};
    struct budget *b = budget_new(&o);
    char name[32];
    int64_t wait;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "channel/busy-%d", i);
        for (int k = 0; k < 5; k++)
            T_CHECK(take(b, "DescribeSignalingChannel", name, &wait));
    }
    for (int k = 0; k < 8; k++)
        T_CHECK(take(b, "DescribeSignalingChannel", "channel/late", &wait));
    T_CHECK(!take(b, "DescribeSignalingChannel", "channel/busy-0", &wait));
    budget_free(b);
}

#define BUDGET_THREADS 4

struct budget_job {
    struct budget *b;
    atomic_int *granted;
};

static void *budget_worker(void *arg)
{
    struct budget_job *j = arg;
    char name[32];
    for (int i = 0; i < 2000; i++) {
        int64_t wait;
        snprintf(name, sizeof name, "channel/c-%d", i % 50);
        if (budget_take(j->b, "DescribeSignalingChannel", name, 0, &wait))
            atomic_fetch_add(j->granted, 1);
        if (i % 100 == 0)
            budget_throttled(j->b, "ListSignalingChannels", NULL);
    }
    return NULL;
}

static void test_concurrent_callers_get_exactly_the_budget(void)
{
    /* The clock stands still: the account holds 300 tokens, 50 channels 5 each. */
    struct budget *b = budget_at(100, 0);
    atomic_int granted = 0;
    pthread_t t[BUDGET_THREADS];
    struct budget_job job = {b, &granted};
    for (int i = 0; i < BUDGET_THREADS; i++)
        pthread_create(&t[i], NULL, budget_worker, &job);
    for (int i = 0; i < BUDGET_THREADS; i++)
        pthread_join(t[i], NULL);
    T_INTEQ(atomic_load(&granted), 250); /* 50 channels x 5, inside the account's 300 */
    budget_free(b);
}

static const struct t_case cases[] = {
    T_CASE(test_an_account_budget_is_its_share_of_the_quota),
    T_CASE(test_a_channel_budget_holds_one_channel_by_name_and_by_arn_resource),
    T_CASE(test_calls_wait_their_turn_within_the_wait_and_are_refused_past_it),
    T_CASE(test_a_throttle_shrinks_once_a_second_and_the_rate_recovers_in_ten),
    T_CASE(test_a_shrunk_budget_refuses_what_the_full_one_allowed),
    T_CASE(test_a_throttle_empties_the_channel_bucket),
    T_CASE(test_without_a_budget_or_a_quota_every_call_goes),
    T_CASE(test_the_channel_table_is_bounded),
    T_CASE(test_a_full_table_of_busy_buckets_holds_new_channels_to_the_account),
    T_CASE(test_concurrent_callers_get_exactly_the_budget),
};

int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
