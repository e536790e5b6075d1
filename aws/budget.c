/* Upstream budgets: token buckets per operation and per (operation, channel).
 *
 * A bucket may go below zero: a call that reserves a token arriving later
 * takes it now and sleeps until then, so callers queue in order of arrival
 * and the next caller sees the wait that the reservations ahead of it make.
 * The adaptive factor is kept as (factor at the last shrink, when), and the
 * factor now is computed from them, so recovery needs no timer.
 */
#include "aws/budget.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

/* Amazon Kinesis Video Streams with WebRTC service quotas,
 * https://docs.aws.amazon.com/kinesisvideostreams-webrtc-dg/latest/devguide/kvswebrtc-limits.html
 * (control plane, TURN, WebRTC ingestion; ../shared/notes/KVS.md §3.4), and the
 * Kinesis Video Streams quotas,
 * https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/limits.html (DescribeStream).
 * The emulator enforces the same table (tools/kvs-local/quotas.js). A new row
 * also goes into docs/upstream-budgets.md. */
const struct budget_quota budget_kvs_quotas[] = {
    {"CreateSignalingChannel", 50, 0},
    {"DeleteSignalingChannel", 50, 5},
    {"DescribeSignalingChannel", 300, 5},
    {"GetSignalingChannelEndpoint", 300, 0},
    {"ListSignalingChannels", 50, 0},
    {"ListTagsForResource", 50, 5},
    {"TagResource", 50, 5},
    {"UntagResource", 50, 5},
    {"UpdateSignalingChannel", 50, 5},
    {"DescribeMediaStorageConfiguration", 50, 5},
    {"UpdateMediaStorageConfiguration", 10, 5},
    {"GetIceServerConfig", 100, 5},
    {"JoinStorageSession", 50, 0}, /* per channel: KVSGATE_STORAGE_JOIN_RPS */
    {"JoinStorageSessionAsViewer", 50, 0},
    {"DescribeStream", 300, 5},
    {NULL, 0, 0},
};

#define BUDGET_SHRINK 0.7
#define BUDGET_FLOOR 0.1         /* of the full budget */
#define BUDGET_SHRINK_GAP_MS 1000 /* throttles of calls sent together shrink once */
#define BUDGET_RECOVER_MS 10000  /* from the floor back to the full budget */
#define BUDGET_CHANNEL_HEADS 1024

struct op_budget {
    const struct budget_quota *quota;
    double full_rate, channel_rate; /* the share of the quota, calls per second */
    double tokens;
    int64_t at_ms;
    double shrunk_factor; /* factor right after the last shrink */
    int64_t shrunk_ms;    /* when; 0: never shrunk */
};

struct channel_bucket {
    struct channel_bucket *next;
    size_t op;
    uint64_t hash;
    double tokens;
    int64_t at_ms;
    char name[];
};

struct budget {
    uint64_t seed; /* of the channel hash (core/hash.h) */
    struct budget_options opts;
    pthread_mutex_t lock;
    size_t op_count;
    struct op_budget *ops;
    struct channel_bucket *heads[BUDGET_CHANNEL_HEADS];
    size_t channel_count;
    int replicas; /* the rates are shared among them */
};

static struct kg_metric *rate_metric, *refusals_metric, *waits_metric, *shrinks_metric;

static void budget_metrics_register(void)
{
    rate_metric = kg_metric_gauge("kvsgate_aws_budget_rate",
                                  "Calls per second kvsgate allows itself to send to a KVS "
                                  "operation (account-wide), as of its last call or the last "
                                  "change of the replica count.",
                                  "operation");
    refusals_metric = kg_metric_counter(
        "kvsgate_aws_budget_refusals_total",
        "Calls refused before reaching AWS because the operation's budget was spent.",
        "operation,scope");
    waits_metric = kg_metric_counter("kvsgate_aws_budget_waits_total",
                                     "Calls that waited for their budget before going to AWS.",
                                     "operation");
    shrinks_metric = kg_metric_counter("kvsgate_aws_budget_shrinks_total",
                                       "Times a throttle from AWS cut an operation's budget.",
                                       "operation");
}

struct budget *budget_new(const struct budget_options *opts)
{
    if (opts->percent <= 0)
        return NULL;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, budget_metrics_register);
    struct budget *b = kg_calloc(1, sizeof *b);
    b->seed = kg_hash_seed();
    b->opts = *opts;
    if (b->opts.percent > 100)
        b->opts.percent = 100;
    if (b->opts.channel_percent <= 0)
        b->opts.channel_percent = b->opts.percent;
    if (b->opts.channel_percent > 100)
        b->opts.channel_percent = 100;
    if (!b->opts.max_channels)
        b->opts.max_channels = 10000;
    if (!b->opts.now_ms)
        b->opts.now_ms = kg_mono_ms;
    pthread_mutex_init(&b->lock, NULL);
    b->replicas = 1;
    while (budget_kvs_quotas[b->op_count].operation)
        b->op_count++;
    b->ops = kg_calloc(b->op_count, sizeof *b->ops);
    int64_t now = b->opts.now_ms();
    double share = b->opts.percent / 100.0, channel_share = b->opts.channel_percent / 100.0;
    for (size_t i = 0; i < b->op_count; i++) {
        struct op_budget *o = &b->ops[i];
        o->quota = &budget_kvs_quotas[i];
        o->full_rate = o->quota->account_tps * share;
        o->channel_rate = o->quota->channel_tps * channel_share;
        o->tokens = o->full_rate > 1 ? o->full_rate : 1;
        o->at_ms = now;
        kg_metric_set(rate_metric, (const char *[]){o->quota->operation}, o->full_rate);
    }
    return b;
}

void budget_free(struct budget *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < BUDGET_CHANNEL_HEADS; i++) {
        struct channel_bucket *n = b->heads[i];
        while (n) {
            struct channel_bucket *next = n->next;
            free(n);
            n = next;
        }
    }
    pthread_mutex_destroy(&b->lock);
    free(b->ops);
    free(b);
}

/* ---- buckets --------------------------------------------------------------------- */

static struct op_budget *op_find(struct budget *b, const char *operation)
{
    for (size_t i = 0; i < b->op_count; i++)
        if (strcmp(b->ops[i].quota->operation, operation) == 0)
            return &b->ops[i];
    return NULL;
}

/* The adaptive factor now: back from the last shrink to 1 over BUDGET_RECOVER_MS. */
static double op_factor(const struct op_budget *o, int64_t now)
{
    if (!o->shrunk_ms)
        return 1.0;
    double f = o->shrunk_factor +
               (1.0 - o->shrunk_factor) * (double)(now - o->shrunk_ms) / BUDGET_RECOVER_MS;
    return f < 1.0 ? f : 1.0;
}

static double capacity(double rate) { return rate > 1 ? rate : 1; }

/* The operation's account rate now: its share, cut by throttles, divided
 * among the replicas. */
static double op_rate(const struct budget *b, const struct op_budget *o, int64_t now)
{
    return o->full_rate * op_factor(o, now) / b->replicas;
}

/* Adds what rate brought since *at_ms, up to one second's worth. */
static void refill(double *tokens, int64_t *at_ms, double rate, int64_t now)
{
    if (now > *at_ms) {
        *tokens += rate * (double)(now - *at_ms) / 1000.0;
        if (*tokens > capacity(rate))
            *tokens = capacity(rate);
    }
    *at_ms = now;
}

/* Milliseconds until the bucket holds a whole token (0: it does). */
static int64_t wait_for_token(double tokens, double rate)
{
    if (tokens >= 1.0)
        return 0;
    return (int64_t)ceil((1.0 - tokens) / rate * 1000.0);
}

/* The hash of the operation's index and the channel name. */
static uint64_t channel_hash(const struct budget *b, size_t op, const char *name)
{
    return kg_hash_str(kg_hash_bytes(b->seed, &op, sizeof op), name);
}

/* Drops every bucket that has refilled (it is the same as none). */
static void channels_sweep(struct budget *b, int64_t now)
{
    for (size_t i = 0; i < BUDGET_CHANNEL_HEADS; i++) {
        struct channel_bucket **at = &b->heads[i];
        while (*at) {
            struct channel_bucket *n = *at;
            double rate = b->ops[n->op].channel_rate / b->replicas;
            refill(&n->tokens, &n->at_ms, rate, now);
            if (n->tokens >= capacity(rate)) {
                *at = n->next;
                free(n);
                b->channel_count--;
            } else {
                at = &n->next;
            }
        }
    }
}

/* The bucket of (op, name), made full when new; NULL when the table is full
 * of busy buckets. */
static struct channel_bucket *channel_bucket(struct budget *b, size_t op, const char *name,
                                             int64_t now)
{
    uint64_t h = channel_hash(b, op, name);
    struct channel_bucket **head = &b->heads[h % BUDGET_CHANNEL_HEADS];
    for (struct channel_bucket *n = *head; n; n = n->next)
        if (n->hash == h && n->op == op && strcmp(n->name, name) == 0)
            return n;
    if (b->channel_count >= b->opts.max_channels) {
        channels_sweep(b, now);
        if (b->channel_count >= b->opts.max_channels)
            return NULL;
    }
    size_t len = strlen(name) + 1;
    struct channel_bucket *n = kg_malloc(sizeof *n + len);
    memcpy(n->name, name, len);
    n->op = op;
    n->hash = h;
    n->tokens = capacity(b->ops[op].channel_rate / b->replicas);
    n->at_ms = now;
    n->next = *head;
    *head = n;
    b->channel_count++;
    return n;
}

/* ---- the interface --------------------------------------------------------------- */

int budget_take(struct budget *b, const char *operation, const char *channel, int64_t max_wait_ms,
                int64_t *wait_ms)
{
    *wait_ms = 0;
    if (!b)
        return 1;
    pthread_mutex_lock(&b->lock);
    struct op_budget *o = op_find(b, operation);
    if (!o) {
        pthread_mutex_unlock(&b->lock);
        return 1;
    }
    int64_t now = b->opts.now_ms();
    double rate = op_rate(b, o, now), channel_rate = o->channel_rate / b->replicas;
    refill(&o->tokens, &o->at_ms, rate, now);
    int64_t account_wait = wait_for_token(o->tokens, rate), channel_wait = 0;
    struct channel_bucket *cb = NULL;
    if (channel && channel[0] && o->channel_rate > 0) {
        cb = channel_bucket(b, (size_t)(o - b->ops), channel, now);
        if (cb) {
            refill(&cb->tokens, &cb->at_ms, channel_rate, now);
            channel_wait = wait_for_token(cb->tokens, channel_rate);
        }
    }
    int64_t wait = account_wait > channel_wait ? account_wait : channel_wait;
    if (max_wait_ms > b->opts.max_wait_ms)
        max_wait_ms = b->opts.max_wait_ms;
    int allowed = wait <= max_wait_ms;
    if (allowed) {
        o->tokens -= 1.0;
        if (cb)
            cb->tokens -= 1.0;
    }
    pthread_mutex_unlock(&b->lock);

    const char *op_label[] = {o->quota->operation};
    kg_metric_set(rate_metric, op_label, rate);
    if (!allowed)
        kg_metric_inc(refusals_metric,
                      (const char *[]){o->quota->operation,
                                       account_wait >= channel_wait ? "account" : "channel"});
    else if (wait > 0)
        kg_metric_inc(waits_metric, op_label);
    *wait_ms = wait > 0 ? wait : (allowed ? 0 : 1);
    return allowed;
}

void budget_throttled(struct budget *b, const char *operation, const char *channel)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    struct op_budget *o = op_find(b, operation);
    if (!o) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    int64_t now = b->opts.now_ms();
    int shrunk = 0;
    if (!o->shrunk_ms || now - o->shrunk_ms >= BUDGET_SHRINK_GAP_MS) {
        double f = op_factor(o, now) * BUDGET_SHRINK;
        refill(&o->tokens, &o->at_ms, op_rate(b, o, now), now);
        o->shrunk_factor = f > BUDGET_FLOOR ? f : BUDGET_FLOOR;
        o->shrunk_ms = now;
        shrunk = 1;
    }
    if (channel && channel[0] && o->channel_rate > 0) {
        struct channel_bucket *cb = channel_bucket(b, (size_t)(o - b->ops), channel, now);
        if (cb && cb->tokens > 0) {
            cb->tokens = 0;
            cb->at_ms = now;
        }
    }
    double rate = op_rate(b, o, now);
    pthread_mutex_unlock(&b->lock);
    kg_metric_set(rate_metric, (const char *[]){o->quota->operation}, rate);
    if (shrunk)
        kg_metric_inc(shrinks_metric, (const char *[]){o->quota->operation});
}

void budget_set_replicas(struct budget *b, int replicas)
{
    if (!b || replicas < 1)
        return;
    pthread_mutex_lock(&b->lock);
    int changed = b->replicas != replicas;
    b->replicas = replicas;
    int64_t now = b->opts.now_ms();
    for (size_t i = 0; changed && i < b->op_count; i++)
        kg_metric_set(rate_metric, (const char *[]){b->ops[i].quota->operation},
                      op_rate(b, &b->ops[i], now));
    pthread_mutex_unlock(&b->lock);
}

double budget_rate(struct budget *b, const char *operation)
{
    if (!b)
        return 0;
    pthread_mutex_lock(&b->lock);
    struct op_budget *o = op_find(b, operation);
    double rate = o ? op_rate(b, o, b->opts.now_ms()) : 0;
    pthread_mutex_unlock(&b->lock);
    return rate;
}
