/* kvsgate: upstream budgets (`budget_`): how many calls per second kvsgate
 * sends to each KVS operation, for the account and per channel.
 *
 * KVS's control-plane quotas are per AWS account and, for most operations,
 * per channel as well (docs/upstream-budgets.md has the table and its
 * source). They are shared with every other application in the account, so
 * kvsgate keeps to a share of each (percent of the documented quota) and
 * never lets its own retries exceed it. Per-channel quotas are mostly the
 * application's own (its channels), so their share is set apart.
 *
 * Each budget is a token bucket holding one second of its rate. A call takes
 * a token now, or reserves one that arrives within max_wait_ms (the caller
 * sleeps that long: calls are spread instead of sent together); past that the
 * call is refused at once with the time until a token is back, and the caller
 * answers 429/503 with Retry-After instead of sending a call AWS would
 * throttle. A call must pass its operation's account bucket and, where KVS
 * counts per channel, the channel's (or takes from neither).
 *
 * Adaptive, as the AWS SDKs' adaptive retry mode: a throttle from AWS (the
 * account is busier than our share assumed, other applications included)
 * cuts the operation's rate to 70% (at most once a second, down to a tenth of
 * the budget) and empties the channel's bucket; the rate grows back linearly
 * to the full budget over 10 s without throttles.
 *
 * Replicas: the quotas are the account's, so with N replicas each keeps to
 * 1/N of the share (budget_set_replicas; with Redis the count is kept up to
 * date, without it the operator divides KVSGATE_AWS_QUOTA_PERCENT).
 *
 * Per-channel buckets live in a bounded table: a bucket that has refilled is
 * the same as none and is dropped when the table is full; a channel that
 * finds the table full of busy buckets is held to the account budget only
 * (which only ever forgives).
 *
 * Metrics: kvsgate_aws_budget_rate{operation} (calls per second allowed now),
 * kvsgate_aws_budget_refusals_total{operation,scope} (scope account or
 * channel), kvsgate_aws_budget_waits_total{operation} (calls spread by a
 * wait), kvsgate_aws_budget_shrinks_total{operation}.
 *
 * Thread-safe (one lock: only calls that go to AWS come here).
 */
#ifndef KG_AWS_BUDGET_H
#define KG_AWS_BUDGET_H

#include <stddef.h>
#include <stdint.h>

/* One documented quota. */
struct budget_quota {
    const char *operation; /* AWS name */
    double account_tps;
    double channel_tps;    /* 0: KVS counts none per channel */
};

/* The documented KVS quotas kvsgate keeps to (terminated by a NULL operation). */
extern const struct budget_quota budget_kvs_quotas[];

struct budget_options {
    int percent;            /* of each account quota, 1..100 */
    int channel_percent;    /* of each per-channel quota, 1..100; 0: percent */
    int64_t max_wait_ms;    /* a call may wait this long for a token; 0: none */
    size_t max_channels;    /* per-channel buckets kept at most; 0: 10000 */
    int64_t (*now_ms)(void); /* NULL: kg_mono_ms (tests inject) */
};

struct budget;

/* NULL when percent is 0 (no budgets). */
struct budget *budget_new(const struct budget_options *opts);
void budget_free(struct budget *b);

/* Asks for one call of operation on channel (the channel's resource name, or
 * NULL when the call names none), willing to wait at most max_wait_ms (and
 * at most the options' max_wait_ms). Answers 1 and sets *wait_ms (0, or the
 * wait: sleep that long, then send) when the call may go; 0 when it is
 * refused, with *wait_ms the time until a token is back (>= 1). An operation
 * without a documented quota always goes; so does every call when b is NULL. */
int budget_take(struct budget *b, const char *operation, const char *channel, int64_t max_wait_ms,
                int64_t *wait_ms);

/* AWS throttled a call of operation on channel: shrink, as the header says. */
void budget_throttled(struct budget *b, const char *operation, const char *channel);

/* The budgets are the account's to share among `replicas` replicas (1 by
 * default; with Redis, the replicas alive, service/ratesync.h): every rate is
 * divided by it from now on. */
void budget_set_replicas(struct budget *b, int replicas);

/* The operation's rate allowed now, calls per second (0 when it has none). */
double budget_rate(struct budget *b, const char *operation);

#endif
