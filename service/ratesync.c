/* Rate-limit reconciliation: collect, add in Redis, debit the others' part. */
#include "service/ratesync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/budget.h"
#include "core/crypto.h"
#include "core/encode.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define RATESYNC_ACTIVE_MS 2000
#define RATESYNC_BATCH 128
#define RATESYNC_MAX 4096
#define RATESYNC_KEY_TTL_MS "60000"

/* INCRBY every key by its delta, refresh its expiry, answer the totals. */
static const char ratesync_script[] =
    "local out = {} "
    "for i, k in ipairs(KEYS) do "
    "  out[i] = redis.call('INCRBY', k, ARGV[i]) "
    "  redis.call('PEXPIRE', k, ARGV[#KEYS + 1]) "
    "end "
    "return out";

/* This replica is alive now; those not seen for 3 s are not (nor entries
 * dated in the future: not ours); answer how many are. */
static const char presence_script[] =
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "redis.call('ZADD', KEYS[1], now, ARGV[1]) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + 3000), '+inf') "
    "redis.call('PEXPIRE', KEYS[1], 60000) "
    "return redis.call('ZCARD', KEYS[1])";

#define RATESYNC_PRESENCE_MS 1000
#define RATESYNC_REPLICAS_MAX 64

struct ratesync {
    struct ratelimit *rl;
    struct budget *budget;
    unsigned char key[KG_SHA256_LEN]; /* names the counters (HMAC of the subject's key) */
    char id[33];
    int64_t presence_at_ms;
    struct kg_redis *redis;
    char prefix[72];
    int64_t sync_ms;
    struct ratelimit_usage *usage; /* RATESYNC_MAX, reused by every sync */
    pthread_t thread;
    atomic_int stop;
};

/* One EVAL for usages u[0..n). */
static void sync_batch(struct ratesync *rs, struct ratelimit_usage *u, size_t n)
{
    char keys[RATESYNC_BATCH][112], deltas[RATESYNC_BATCH][24];
    const char *argv[3 + 2 * RATESYNC_BATCH + 1];
    char count[16];
    snprintf(count, sizeof count, "%zu", n);
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = ratesync_script;
    argv[argc++] = count;
    for (size_t i = 0; i < n; i++) {
        /* Keyed: reading Redis does not confirm a guessed subject. */
        unsigned char mac[KG_SHA256_LEN];
        kg_hmac_sha256(rs->key, sizeof rs->key, u[i].key, strlen(u[i].key), mac);
        char hex[33];
        kg_hex_lower(mac, 16, hex);
        snprintf(keys[i], sizeof keys[i], "%sv1:rl:%s", rs->prefix, hex);
        argv[argc++] = keys[i];
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(deltas[i], sizeof deltas[i], "%lld", (long long)u[i].taken);
        argv[argc++] = deltas[i];
    }
    argv[argc++] = RATESYNC_KEY_TTL_MS;
    struct kg_redis_reply r;
    if (kg_redis_command(rs->redis, argc, argv, NULL, &r) != KG_OK)
        return; /* Redis away: each replica limits alone meanwhile */
    if (r.type == KG_REDIS_ARRAY && r.item_count == n)
        for (size_t i = 0; i < n; i++)
            ratelimit_reconcile(rs->rl, &u[i], r.items[i], kg_mono_ms(), 3 * rs->sync_ms);
    kg_redis_reply_cleanup(&r);
}

/* Records this replica and divides the budgets by the replicas alive. */
static void presence(struct ratesync *rs)
{
    char key[112];
    snprintf(key, sizeof key, "%sv1:replicas", rs->prefix);
    const char *argv[] = {"EVAL", presence_script, "1", key, rs->id};
    struct kg_redis_reply r;
    if (kg_redis_command(rs->redis, 5, argv, NULL, &r) != KG_OK)
        return;
    /* At most RATESYNC_REPLICAS_MAX: whoever writes to Redis must not divide
     * the budgets to nothing. */
    if (r.type == KG_REDIS_INTEGER && r.integer >= 1)
        budget_set_replicas(rs->budget, r.integer < RATESYNC_REPLICAS_MAX ? (int)r.integer
                                                                          : RATESYNC_REPLICAS_MAX);
    kg_redis_reply_cleanup(&r);
}

void ratesync_once(struct ratesync *rs)
{
    if (rs->budget && kg_mono_ms() - rs->presence_at_ms >= RATESYNC_PRESENCE_MS) {
        rs->presence_at_ms = kg_mono_ms();
        presence(rs);
    }
    if (!rs->rl)
        return;
    struct ratelimit_usage *u = rs->usage;
    size_t n = ratelimit_collect(rs->rl, kg_mono_ms(), RATESYNC_ACTIVE_MS, u, RATESYNC_MAX);
    for (size_t at = 0; at < n; at += RATESYNC_BATCH)
        sync_batch(rs, u + at, n - at < RATESYNC_BATCH ? n - at : RATESYNC_BATCH);
    ratelimit_usage_cleanup(u, n);
}

static void *ratesync_main(void *arg)
{
    struct ratesync *rs = arg;
    while (!atomic_load(&rs->stop)) {
        int64_t next = kg_mono_ms() + rs->sync_ms;
        ratesync_once(rs);
        while (!atomic_load(&rs->stop) && kg_mono_ms() < next)
            kg_sleep_ms(next - kg_mono_ms() < 50 ? next - kg_mono_ms() : 50);
    }
    return NULL;
}

struct ratesync *ratesync_start(struct ratelimit *rl, struct budget *budget, struct kg_redis *redis,
                                const char *prefix, const void *secret, size_t secret_len,
                                int64_t sync_ms)
{
    if ((!rl && !budget) || !redis)
        return NULL;
    struct ratesync *rs = kg_calloc(1, sizeof *rs);
    rs->rl = rl;
    rs->budget = budget;
    static const char label[] = "kvsgate redis rate-limit keys v1";
    kg_hmac_sha256(secret, secret_len, label, sizeof label - 1, rs->key);
    kg_random_hex(rs->id, (sizeof rs->id - 1) / 2);
    rs->redis = redis;
    snprintf(rs->prefix, sizeof rs->prefix, "%s", prefix ? prefix : "kvsgate:");
    rs->sync_ms = sync_ms > 0 ? sync_ms : 250;
    rs->usage = kg_calloc(RATESYNC_MAX, sizeof *rs->usage);
    atomic_init(&rs->stop, 0);
    if (pthread_create(&rs->thread, NULL, ratesync_main, rs) != 0) {
        free(rs->usage);
        free(rs);
        return NULL;
    }
    return rs;
}

void ratesync_stop(struct ratesync *rs)
{
    if (!rs)
        return;
    atomic_store(&rs->stop, 1);
    pthread_join(rs->thread, NULL);
    kg_wipe(rs->key, sizeof rs->key);
    free(rs->usage);
    free(rs);
}
