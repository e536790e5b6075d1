/* Rate-limit reconciliation: collect, add in Redis, debit the others' part. */
#include "service/ratesync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
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

struct ratesync {
    struct ratelimit *rl;
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
        char hex[2 * KG_SHA256_LEN + 1];
        kg_sha256_hex(u[i].key, strlen(u[i].key), hex);
        snprintf(keys[i], sizeof keys[i], "%sv1:rl:%.32s", rs->prefix, hex);
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
            ratelimit_reconcile(rs->rl, &u[i], r.items[i]);
    kg_redis_reply_cleanup(&r);
}

void ratesync_once(struct ratesync *rs)
{
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

struct ratesync *ratesync_start(struct ratelimit *rl, struct kg_redis *redis, const char *prefix,
                                int64_t sync_ms)
{
    if (!rl || !redis)
        return NULL;
    struct ratesync *rs = kg_calloc(1, sizeof *rs);
    rs->rl = rl;
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
    free(rs->usage);
    free(rs);
}
