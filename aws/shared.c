/* The replicas' shared state in Redis: sealed values, flights, invalidation.
 *
 * Sealed value: AES-256-GCM(value key, aad = the Redis key,
 *               8-byte big-endian wall-clock expiry in ms | the value's bytes).
 * Sealed message: AES-256-GCM(message key, aad = the pub/sub channel,
 *               16-character replica id | name | "\n" | arn).
 * The two keys are HMAC-SHA256(KVSGATE_REDIS_KEY, a label each), so neither
 * can stand for the other.
 */
#include "aws/shared.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/kvs.h"
#include "core/crypto.h"
#include "core/kvsname.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define SHARED_VALUE_MAX (256 * 1024)
#define SHARED_RESERVE_MS 1500   /* left for the request's own AWS call */
#define SHARED_WAIT_MAX_MS 2000  /* longest wait for another replica's flight */
#define SHARED_MIN_STORE_MS 2000 /* values living shorter are not worth sharing */
#define SHARED_MESSAGE_AGE_MS 30000
#define SHARED_NONCES 64
#define SHARED_ID_LEN 16

static const char *const kind_names[SHARED_KIND_COUNT] = {"channel", "endpoint", "ice", "storage",
                                                          "webrtc"};

struct shared {
    struct shared_options opts;
    char prefix[72];
    char channel[96]; /* the invalidation channel */
    char id[SHARED_ID_LEN + 1];
    unsigned char value_key[KG_AEAD_KEY_LEN], message_key[KG_AEAD_KEY_LEN];
    struct kg_redis_sub *sub;
    /* The subscriber's thread only: */
    char nonces[SHARED_NONCES][SHARED_ID_LEN + 1];
    size_t nonce_next;
};

static struct kg_metric *requests_metric;

static void shared_metrics_register(void)
{
    requests_metric = kg_metric_counter(
        "kvsgate_shared_requests_total",
        "Lookups in the replicas' shared cache (Redis) by result: hit, waited (another replica "
        "loaded it), load (this replica loads for all), alone (loads without Redis), rejected "
        "(a value that does not open with our key).",
        "cache,result");
}

static void count(enum shared_kind kind, const char *result)
{
    kg_metric_inc(requests_metric, (const char *[]){kind_names[kind], result});
}

/* ---- Redis calls ------------------------------------------------------------------ */

/* A command of up to 6 arguments; KG_OK with *reply, else Redis is away. */
static enum kg_err cmd(struct shared *s, struct kg_redis_reply *reply, int argc,
                       const char *const *argv, const size_t *lens)
{
    return kg_redis_command(s->opts.redis, argc, argv, lens, reply);
}

static void cmd_quiet(struct shared *s, int argc, const char *const *argv, const size_t *lens)
{
    struct kg_redis_reply reply;
    if (cmd(s, &reply, argc, argv, lens) == KG_OK)
        kg_redis_reply_cleanup(&reply);
}

/* GET, refusing values longer than ARGV[1] bytes (answered as absent): a
 * Redis writer must not make a replica read 60 MB. */
static const char get_bounded_script[] =
    "if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return false end "
    "if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return false end "
    "return redis.call('GET', KEYS[1])";

static enum kg_err get_bounded(struct shared *s, const char *key, size_t max,
                               struct kg_redis_reply *r)
{
    char max_text[24];
    snprintf(max_text, sizeof max_text, "%zu", max);
    return cmd(s, r, 5, (const char *[]){"EVAL", get_bounded_script, "1", key, max_text}, NULL);
}

/* ---- sealing --------------------------------------------------------------------- */

static int open_with(const unsigned char *key, const char *aad, const unsigned char *sealed,
                     size_t len, char **plain, size_t *plain_len)
{
    if (len < KG_AEAD_OVERHEAD || len > SHARED_VALUE_MAX + KG_AEAD_OVERHEAD + 8)
        return 0;
    size_t n = len - KG_AEAD_OVERHEAD;
    char *p = kg_malloc(n + 1);
    if (kg_aead_open(key, aad, strlen(aad), sealed, len, (unsigned char *)p) != KG_OK) {
        free(p);
        return 0;
    }
    p[n] = '\0';
    *plain = p;
    *plain_len = n;
    return 1;
}

int shared_open(struct shared *s, const char *aad, const unsigned char *sealed, size_t len,
                char **plain, size_t *plain_len)
{
    return open_with(s->value_key, aad, sealed, len, plain, plain_len);
}

/* malloc'ed sealed bytes of plain (n), *len set; NULL on failure. */
static unsigned char *seal(const unsigned char *key, const char *aad, const void *plain, size_t n,
                           size_t *len)
{
    unsigned char *out = kg_malloc(n + KG_AEAD_OVERHEAD);
    if (kg_aead_seal(key, aad, strlen(aad), plain, n, out) != KG_OK) {
        free(out);
        return NULL;
    }
    *len = n + KG_AEAD_OVERHEAD;
    return out;
}

/* ---- invalidation messages ------------------------------------------------------- */

/* Fixed-width lower-case hex of n characters into *out; 0 if any is not. */
static int hex_field(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

int shared_message_parse(const char *plain, size_t len, struct shared_message *out)
{
    enum { HEAD = 3 * SHARED_ID_LEN };
    uint64_t id, nonce, at;
    if (len < HEAD + 1 || memchr(plain, '\0', len) || !hex_field(plain, SHARED_ID_LEN, &id) ||
        !hex_field(plain + SHARED_ID_LEN, SHARED_ID_LEN, &nonce) ||
        !hex_field(plain + 2 * SHARED_ID_LEN, SHARED_ID_LEN, &at) || at > INT64_MAX)
        return 0;
    memcpy(out->id, plain, SHARED_ID_LEN);
    out->id[SHARED_ID_LEN] = '\0';
    memcpy(out->nonce, plain + SHARED_ID_LEN, SHARED_ID_LEN);
    out->nonce[SHARED_ID_LEN] = '\0';
    out->at_ms = (int64_t)at;
    const char *rest = plain + HEAD, *end = plain + len;
    const char *nl = memchr(rest, '\n', (size_t)(end - rest));
    if (!nl)
        return 0;
    size_t name_len = (size_t)(nl - rest), arn_len = (size_t)(end - nl - 1);
    if (name_len > KVS_NAME_MAX || arn_len > KVS_ARN_MAX)
        return 0;
    memcpy(out->name, rest, name_len);
    out->name[name_len] = '\0';
    memcpy(out->arn, nl + 1, arn_len);
    out->arn[arn_len] = '\0';
    if (name_len && !kg_kvs_channel_name_valid(out->name))
        return 0;
    for (size_t i = 0; i < arn_len; i++)
        if (out->arn[i] <= ' ' || out->arn[i] > '~')
            return 0;
    return 1;
}

/* 1 when the message is new: recent (either way), and a nonce not seen. */
static int message_fresh(struct shared *s, const struct shared_message *m)
{
    int64_t age = kg_now_ms() - m->at_ms;
    if (age > SHARED_MESSAGE_AGE_MS || age < -SHARED_MESSAGE_AGE_MS)
        return 0;
    for (size_t i = 0; i < SHARED_NONCES; i++)
        if (strcmp(s->nonces[i], m->nonce) == 0)
            return 0;
    memcpy(s->nonces[s->nonce_next], m->nonce, sizeof s->nonces[0]);
    s->nonce_next = (s->nonce_next + 1) % SHARED_NONCES;
    return 1;
}

static void on_message(void *arg, const char *msg, size_t len)
{
    struct shared *s = arg;
    char *plain;
    size_t n;
    if (!open_with(s->message_key, s->channel, (const unsigned char *)msg, len, &plain, &n)) {
        /* At most once a minute: whoever can publish here must not flood the log. */
        static _Atomic int64_t logged_ms;
        int64_t now = kg_mono_ms(), last = atomic_load(&logged_ms);
        if ((last == 0 || now - last >= 60000) &&
            atomic_compare_exchange_strong(&logged_ms, &last, now))
            kg_log_msg(KG_LOG_WARN, "shared_message_rejected",
                       "an invalidation that does not open with our key (another deployment on "
                       "the same prefix, or a different KVSGATE_REDIS_KEY)");
        return;
    }
    struct shared_message m;
    int ok = shared_message_parse(plain, n, &m);
    free(plain);
    /* Replays (a captured message published again) are dropped. */
    if (ok && strcmp(m.id, s->id) != 0 && message_fresh(s, &m) && s->opts.forget)
        s->opts.forget(s->opts.arg, m.name[0] ? m.name : NULL, m.arn[0] ? m.arn : NULL);
}

static void on_resubscribed(void *arg)
{
    struct shared *s = arg;
    kg_log_msg(KG_LOG_INFO, "shared_resubscribed",
               "invalidations may have been missed while Redis was away: local channel entries "
               "dropped");
    if (s->opts.forget_all)
        s->opts.forget_all(s->opts.arg);
}

/* ---- lifecycle ------------------------------------------------------------------- */

struct shared *shared_new(const struct shared_options *opts)
{
    if (!opts->redis || opts->secret_len < SHARED_SECRET_MIN)
        return NULL;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, shared_metrics_register);
    struct shared *s = kg_calloc(1, sizeof *s);
    s->opts = *opts;
    s->opts.secret = NULL;
    s->opts.secret_len = 0;
    if (!s->opts.lock_ms)
        s->opts.lock_ms = 10000;
    if (!s->opts.poll_ms)
        s->opts.poll_ms = 20;
    if (!s->opts.generation_ttl_ms)
        s->opts.generation_ttl_ms = 2 * 86400 * 1000LL;
    snprintf(s->prefix, sizeof s->prefix, "%s", opts->prefix ? opts->prefix : "kvsgate:");
    snprintf(s->channel, sizeof s->channel, "%sv1:invalidate", s->prefix);
    kg_random_hex(s->id, SHARED_ID_LEN / 2);
    /* The scope (region) is in the labels: deployments of other regions
     * sharing a key and a prefix cannot take each other's ARNs. */
    char label[160];
    int n = snprintf(label, sizeof label, "kvsgate redis values v1 %s", opts->scope ? opts->scope : "");
    kg_hmac_sha256(opts->secret, opts->secret_len, label, (size_t)n, s->value_key);
    n = snprintf(label, sizeof label, "kvsgate redis messages v1 %s", opts->scope ? opts->scope : "");
    kg_hmac_sha256(opts->secret, opts->secret_len, label, (size_t)n, s->message_key);
    s->sub = kg_redis_subscribe(opts->redis, s->channel, on_message, on_resubscribed, s);
    if (!s->sub)
        kg_log_msg(KG_LOG_ERROR, "shared_subscriber_failed",
                   "cannot start the invalidation subscriber: other replicas' deletes reach "
                   "this one through TTLs only");
    return s;
}

void shared_free(struct shared *s)
{
    if (!s)
        return;
    kg_redis_sub_free(s->sub);
    kg_wipe(s->value_key, sizeof s->value_key);
    kg_wipe(s->message_key, sizeof s->message_key);
    free(s);
}

/* ---- keys ------------------------------------------------------------------------ */

/* The key holding a channel name's generation; 0 when it does not fit. */
static int gen_key(const struct shared *s, const char *name, char out[SHARED_KEY_MAX])
{
    int n = snprintf(out, SHARED_KEY_MAX, "%sv1:gen:%s", s->prefix, name);
    return n > 0 && n < SHARED_KEY_MAX;
}

#define SHARED_LOCK_KEY_MAX (SHARED_KEY_MAX + 8)

/* The key of the slot's flight lock. */
static void lock_key(const struct shared_slot *slot, char out[SHARED_LOCK_KEY_MAX])
{
    snprintf(out, SHARED_LOCK_KEY_MAX, "%s:lock", slot->key);
}

/* The generation of a channel name (0 when never invalidated); -1: Redis away. */
static long long generation(struct shared *s, const char *name)
{
    char key[SHARED_KEY_MAX];
    if (!gen_key(s, name, key))
        return -1;
    struct kg_redis_reply r;
    if (get_bounded(s, key, 20, &r) != KG_OK)
        return -1;
    long long gen = 0;
    if (r.type == KG_REDIS_STRING)
        gen = strtoll(r.str, NULL, 10);
    else if (r.type != KG_REDIS_NIL)
        gen = -1;
    kg_redis_reply_cleanup(&r);
    return gen;
}

/* The slot's Redis key; 0 when it cannot be shared. */
static int slot_key(struct shared *s, struct shared_slot *slot, enum shared_kind kind,
                    const char *key)
{
    slot->kind = kind;
    slot->key[0] = '\0';
    int n;
    if (kind == SHARED_CHANNEL) {
        long long gen = generation(s, key);
        if (gen < 0)
            return 0;
        n = snprintf(slot->key, sizeof slot->key, "%sv1:%s:%lld:%s", s->prefix, kind_names[kind],
                     gen, key);
    } else {
        n = snprintf(slot->key, sizeof slot->key, "%sv1:%s:%s", s->prefix, kind_names[kind], key);
    }
    if (n < 0 || (size_t)n + sizeof ":lock" > sizeof slot->key) {
        slot->key[0] = '\0';
        return 0;
    }
    return 1;
}

/* ---- flights --------------------------------------------------------------------- */

enum look { LOOK_FOUND, LOOK_ABSENT, LOOK_AWAY };

/* The value at slot->key if it opens and lives at least min_ttl_ms. */
static enum look look(struct shared *s, struct shared_slot *slot, int64_t min_ttl_ms,
                      char **value, size_t *len, int64_t *ttl_ms)
{
    struct kg_redis_reply r;
    if (get_bounded(s, slot->key, SHARED_VALUE_MAX + 8 + KG_AEAD_OVERHEAD, &r) != KG_OK)
        return LOOK_AWAY;
    enum look out = LOOK_ABSENT;
    char *plain;
    size_t n;
    if (r.type == KG_REDIS_STRING) {
        int opened = open_with(s->value_key, slot->key, (const unsigned char *)r.str, r.len,
                               &plain, &n);
        if (opened && n < 8) {
            free(plain);
            opened = 0;
        }
        if (!opened) {
            if (r.len)
                count(slot->kind, "rejected");
        } else {
            uint64_t expires = 0;
            for (int i = 0; i < 8; i++)
                expires = expires << 8 | (unsigned char)plain[i];
            int64_t left = (int64_t)expires - kg_now_ms();
            if (left >= min_ttl_ms && left > 0) {
                memmove(plain, plain + 8, n - 8 + 1);
                *value = plain;
                *len = n - 8;
                *ttl_ms = left;
                out = LOOK_FOUND;
            } else {
                kg_wipe(plain, n); /* TURN passwords */
                free(plain);
            }
        }
    } else if (r.type != KG_REDIS_NIL) {
        out = LOOK_AWAY;
    }
    kg_redis_reply_cleanup(&r);
    return out;
}

/* SET NX PX, and when another holds it, whether its lock looks like ours:
 * 1 taken, 0 held (with a lifetime up to ours), -2 held without one or with a
 * longer one (not a flight of ours: a Redis writer's). */
static const char take_lock_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
    "local t = redis.call('PTTL', KEYS[1]) "
    "if t < 0 or t > tonumber(ARGV[2]) then return -2 end "
    "return 0";

/* 1: this replica holds the flight; 0: another does; -1: Redis away or the
 * lock is not one of ours (load without it). */
static int take_lock(struct shared *s, struct shared_slot *slot)
{
    char lock[SHARED_LOCK_KEY_MAX], px[24];
    lock_key(slot, lock);
    snprintf(px, sizeof px, "%lld", (long long)s->opts.lock_ms);
    kg_random_hex(slot->token, 16);
    struct kg_redis_reply r;
    if (cmd(s, &r, 6, (const char *[]){"EVAL", take_lock_script, "1", lock, slot->token, px},
            NULL) != KG_OK)
        return -1;
    int got = r.type == KG_REDIS_INTEGER && (r.integer == 1 || r.integer == 0) ? (int)r.integer : -1;
    kg_redis_reply_cleanup(&r);
    return got;
}

/* Deletes the lock if this replica still holds it. */
static void release_lock(struct shared *s, struct shared_slot *slot)
{
    static const char script[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
        "return 0";
    char lock[SHARED_LOCK_KEY_MAX];
    lock_key(slot, lock);
    cmd_quiet(s, 5, (const char *[]){"EVAL", script, "1", lock, slot->token}, NULL);
    slot->leader = 0;
}

enum shared_found shared_fetch(struct shared *s, enum shared_kind kind, const char *key,
                               int64_t deadline_ms, int64_t min_ttl_ms, struct shared_slot *slot,
                               char **value, size_t *len, int64_t *ttl_ms)
{
    memset(slot, 0, sizeof *slot);
    slot->kind = kind;
    /* Waiting for another replica's flight leaves this request enough time
     * for its own AWS call, and is short in any case. */
    int64_t now = kg_mono_ms();
    int64_t wait_until = deadline_ms - SHARED_RESERVE_MS;
    if (wait_until > now + SHARED_WAIT_MAX_MS)
        wait_until = now + SHARED_WAIT_MAX_MS;
    if (!s || now >= wait_until || !slot_key(s, slot, kind, key)) {
        if (s)
            count(kind, "alone");
        slot->key[0] = '\0';
        return SHARED_LOAD;
    }
    for (int waited = 0;; waited = 1) {
        enum look l = look(s, slot, min_ttl_ms, value, len, ttl_ms);
        if (l == LOOK_FOUND) {
            count(kind, waited ? "waited" : "hit");
            return SHARED_FOUND;
        }
        int got = l == LOOK_AWAY ? -1 : take_lock(s, slot);
        if (got == 1) {
            /* The holder before us may have stored it and let go between our
             * look and our lock: look once more. */
            slot->leader = 1;
            if (look(s, slot, min_ttl_ms, value, len, ttl_ms) == LOOK_FOUND) {
                release_lock(s, slot);
                count(kind, "waited");
                return SHARED_FOUND;
            }
            count(kind, "load");
            return SHARED_LOAD;
        }
        if (got < 0 || kg_mono_ms() + s->opts.poll_ms >= wait_until) {
            slot->key[0] = got < 0 ? '\0' : slot->key[0];
            count(kind, "alone");
            return SHARED_LOAD;
        }
        kg_sleep_ms(s->opts.poll_ms);
    }
}

void shared_store(struct shared *s, struct shared_slot *slot, const char *value, size_t len,
                  int64_t ttl_ms)
{
    if (!s || !slot->key[0] || ttl_ms < SHARED_MIN_STORE_MS || len > SHARED_VALUE_MAX) {
        if (s && slot->leader)
            release_lock(s, slot);
        return;
    }
    unsigned char *plain = kg_malloc(len + 8);
    uint64_t expires = (uint64_t)(kg_now_ms() + ttl_ms);
    for (int i = 7; i >= 0; i--, expires >>= 8)
        plain[i] = (unsigned char)(expires & 0xff);
    memcpy(plain + 8, value, len);
    size_t sealed_len = 0;
    unsigned char *sealed = seal(s->value_key, slot->key, plain, len + 8, &sealed_len);
    kg_wipe(plain, len + 8); /* TURN passwords */
    free(plain);
    if (sealed) {
        char px[24];
        snprintf(px, sizeof px, "%lld", (long long)ttl_ms);
        cmd_quiet(s, 5, (const char *[]){"SET", slot->key, (const char *)sealed, "PX", px},
                  (const size_t[]){3, strlen(slot->key), sealed_len, 2, strlen(px)});
        free(sealed);
    }
    if (slot->leader)
        release_lock(s, slot);
}

void shared_abandon(struct shared *s, struct shared_slot *slot)
{
    if (s && slot->leader)
        release_lock(s, slot);
}

/* ---- invalidation ---------------------------------------------------------------- */

/* Deletes what is stored for the ARN (channels.c's keys: "ARN|ROLE", "ARN"). */
static void drop_arn(struct shared *s, const char *arn)
{
    static const struct {
        enum shared_kind kind;
        const char *suffix;
    } keys[] = {{SHARED_ENDPOINT, "|MASTER"}, {SHARED_ENDPOINT, "|VIEWER"},
                {SHARED_ICE, "|MASTER"},      {SHARED_ICE, "|VIEWER"},
                {SHARED_WEBRTC, "|MASTER"},   {SHARED_WEBRTC, "|VIEWER"},
                {SHARED_STORAGE, ""}};
    enum { N = sizeof keys / sizeof keys[0] };
    char names[N][SHARED_KEY_MAX];
    const char *argv[N + 1] = {"DEL"};
    int argc = 1;
    for (size_t i = 0; i < N; i++) {
        int n = snprintf(names[i], sizeof names[i], "%sv1:%s:%s%s", s->prefix,
                         kind_names[keys[i].kind], arn, keys[i].suffix);
        if (n > 0 && (size_t)n < sizeof names[i])
            argv[argc++] = names[i];
    }
    if (argc > 1)
        cmd_quiet(s, argc, argv, NULL);
}

void shared_invalidate(struct shared *s, const char *name, const char *arn)
{
    if (!s)
        return;
    if (name) {
        /* The next generation, an expiry past every value of the old ones,
         * and the old generation's value gone (no rollback brings it back). */
        static const char script[] =
            "local g = redis.call('INCR', KEYS[1]) "
            "redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
            "redis.call('DEL', ARGV[2] .. (g - 1) .. ARGV[3]) "
            "return g";
        char gen[SHARED_KEY_MAX], ttl[24], head[SHARED_KEY_MAX], tail[KVS_NAME_MAX + 2];
        snprintf(ttl, sizeof ttl, "%lld", (long long)s->opts.generation_ttl_ms);
        snprintf(head, sizeof head, "%sv1:%s:", s->prefix, kind_names[SHARED_CHANNEL]);
        snprintf(tail, sizeof tail, ":%s", name);
        if (gen_key(s, name, gen))
            cmd_quiet(s, 6, (const char *[]){"EVAL", script, "1", gen, ttl, head, tail}, NULL);
    }
    if (arn)
        drop_arn(s, arn);
    char plain[3 * SHARED_ID_LEN + KVS_NAME_MAX + KVS_ARN_MAX + 2], nonce[SHARED_ID_LEN + 1];
    kg_random_hex(nonce, SHARED_ID_LEN / 2);
    int n = snprintf(plain, sizeof plain, "%s%s%016llx%s\n%s", s->id, nonce,
                     (unsigned long long)kg_now_ms(), name ? name : "", arn ? arn : "");
    if (n < 0 || (size_t)n >= sizeof plain)
        return;
    size_t sealed_len = 0;
    unsigned char *sealed = seal(s->message_key, s->channel, plain, (size_t)n, &sealed_len);
    if (!sealed)
        return;
    cmd_quiet(s, 3, (const char *[]){"PUBLISH", s->channel, (const char *)sealed},
              (const size_t[]){7, strlen(s->channel), sealed_len});
    free(sealed);
}
