/* What replicas share, without a Redis: the URL, sealing, invalidation
 * messages, the cached values' JSON (round trips and strict refusals) and the
 * rate-limit reconciliation arithmetic. The Redis paths themselves run
 * against a real redis-server in tests/integration/redis.test.js. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/channels_impl.h"
#include "aws/shared.h"
#include "core/crypto.h"
#include "core/redis.h"
#include "service/ratelimit.h"
#include "testlib.h"

static void test_redis_urls_parse_and_hostile_ones_are_refused(void)
{
    struct kg_redis_url u;
    const char *why;
    T_CHECK(kg_redis_url_parse("redis://cache.internal", &u, &why));
    T_STREQ(u.host, "cache.internal");
    T_INTEQ(u.port, 6379);
    T_INTEQ(u.db, 0);
    T_CHECK(kg_redis_url_parse("redis://10.0.0.5:6380/3", &u, &why));
    T_STREQ(u.host, "10.0.0.5");
    T_INTEQ(u.port, 6380);
    T_INTEQ(u.db, 3);
    T_CHECK(kg_redis_url_parse("redis://[fd00::1]:7000/", &u, &why));
    T_STREQ(u.host, "fd00::1");
    T_INTEQ(u.port, 7000);
    T_CHECK(!kg_redis_url_parse("rediss://cache:6380", &u, &why));
    T_CHECK(strstr(why, "TLS") != NULL);
    T_CHECK(!kg_redis_url_parse("redis://user:secret@cache", &u, &why));
    T_CHECK(strstr(why, "credentials") != NULL && strstr(why, "secret") == NULL);
    const char *bad[] = {"", "redis://", "redis://:6379", "redis://host:0", "redis://host:65536",
                         "redis://host:99999999999", "redis://host/1000", "redis://host/x",
                         "redis://host?db=1", "redis://ho st", "redis://[::1", "http://host",
                         "redis://host:6379/1/2", "redis://host\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (kg_redis_url_parse(bad[i], &u, &why))
            t_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
    char long_host[400] = "redis://";
    memset(long_host + 8, 'a', 300);
    T_CHECK(!kg_redis_url_parse(long_host, &u, &why));
}

static void test_sealed_bytes_open_only_with_their_key_and_aad(void)
{
    unsigned char key[KG_AEAD_KEY_LEN], other[KG_AEAD_KEY_LEN];
    memset(key, 7, sizeof key);
    memset(other, 8, sizeof other);
    const char msg[] = "turn-password-and-more";
    unsigned char sealed[sizeof msg + KG_AEAD_OVERHEAD], plain[sizeof msg];
    T_CHECK(kg_aead_seal(key, "k1", 2, msg, sizeof msg, sealed) == KG_OK);
    T_CHECK(kg_aead_open(key, "k1", 2, sealed, sizeof sealed, plain) == KG_OK);
    T_MEMEQ(plain, sizeof msg, msg, sizeof msg);
    T_CHECK(kg_aead_open(other, "k1", 2, sealed, sizeof sealed, plain) == KG_ERR_BAD_REQUEST);
    T_CHECK(kg_aead_open(key, "k2", 2, sealed, sizeof sealed, plain) == KG_ERR_BAD_REQUEST);
    for (size_t i = 0; i < sizeof sealed; i += 7) {
        sealed[i] ^= 1;
        T_CHECK(kg_aead_open(key, "k1", 2, sealed, sizeof sealed, plain) == KG_ERR_BAD_REQUEST);
        sealed[i] ^= 1;
    }
    T_CHECK(kg_aead_open(key, "k1", 2, sealed, KG_AEAD_OVERHEAD - 1, plain) == KG_ERR_BAD_REQUEST);
    /* Two seals of one text differ (a fresh nonce each). */
    unsigned char again[sizeof sealed];
    T_CHECK(kg_aead_seal(key, "k1", 2, msg, sizeof msg, again) == KG_OK);
    T_CHECK(memcmp(again, sealed, sizeof sealed) != 0);
}

#define MSG_HEAD "0123456789abcdef" "fedcba9876543210" "0000018c0a1b2c3d"

static void test_invalidation_messages_are_read_strictly(void)
{
    struct shared_message m;
    const char ok[] = MSG_HEAD "cam-1\narn:aws:kinesisvideo:us-west-2:1:channel/cam-1/2";
    T_CHECK(shared_message_parse(ok, sizeof ok - 1, &m));
    T_STREQ(m.id, "0123456789abcdef");
    T_STREQ(m.nonce, "fedcba9876543210");
    T_INTEQ(m.at_ms, 0x18c0a1b2c3dLL);
    T_STREQ(m.name, "cam-1");
    T_STREQ(m.arn, "arn:aws:kinesisvideo:us-west-2:1:channel/cam-1/2");
    T_CHECK(shared_message_parse(MSG_HEAD "\n", 49, &m));
    T_STREQ(m.name, "");
    T_STREQ(m.arn, "");
    const char *bad[] = {
        MSG_HEAD "cam-1",                        /* no newline */
        "short",
        MSG_HEAD "c m\narn",                     /* not a channel name */
        MSG_HEAD "cam\narn x",                   /* not a printable ARN */
        "0123456789abcdeX" "fedcba9876543210" "0000018c0a1b2c3d" "cam\n", /* not hex */
        "0123456789abcdef" "fedcba9876543210" "8000000000000000" "cam\n", /* time past int64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (shared_message_parse(bad[i], strlen(bad[i]), &m))
            t_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
    char nul[] = MSG_HEAD "cam\narn";
    nul[50] = '\0';
    T_CHECK(!shared_message_parse(nul, sizeof nul - 1, &m));
    char big[2000];
    memset(big, 'a', sizeof big);
    memcpy(big, MSG_HEAD, 48);
    big[48 + 300] = '\n';
    T_CHECK(!shared_message_parse(big, sizeof big, &m)); /* name past 256 */
}

static void test_cached_values_round_trip_through_their_json(void)
{
    struct kvs_channel c = {.name = "cam-1",
                            .arn = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/cam-1/1",
                            .type = "SINGLE_MASTER", .status = "ACTIVE", .version = "v1",
                            .creation_time_s = 1700000000, .message_ttl_s = 60};
    struct channels_channel *cv = channels_channel_compact(&c);
    size_t len;
    char *json = channels_value_encode(SHARED_CHANNEL, cv, &len);
    struct channels_channel *back = channels_value_decode(SHARED_CHANNEL, json, len);
    T_CHECK(back != NULL);
    if (back) {
        T_STREQ(back->arn, c.arn);
        T_STREQ(back->status, "ACTIVE");
        T_INTEQ(back->creation_time_s, 1700000000);
        T_INTEQ(back->message_ttl_s, 60);
    }
    free(json);
    free(back);
    free(cv);

    struct kvs_ice_config cfg = {.count = 1, .fetched_at_s = 1700000000, .min_ttl_s = 300};
    cfg.servers[0].uris[0] = "turn:1.2.3.4:443?transport=udp";
    cfg.servers[0].uris[1] = "turns:1.2.3.4:443?transport=tcp";
    cfg.servers[0].uri_count = 2;
    cfg.servers[0].username = "1700000300:user";
    cfg.servers[0].password = "c2VjcmV0";
    cfg.servers[0].ttl_s = 300;
    struct channels_ice *iv = channels_ice_compact(&cfg);
    iv->expires_at_s = 1700000270;
    json = channels_value_encode(SHARED_ICE, iv, &len);
    struct channels_ice *ib = channels_value_decode(SHARED_ICE, json, len);
    T_CHECK(ib != NULL);
    if (ib) {
        T_INTEQ(ib->count, 1);
        T_INTEQ(ib->servers[0].uri_count, 2);
        T_STREQ(ib->servers[0].uris[1], "turns:1.2.3.4:443?transport=tcp");
        T_STREQ(ib->servers[0].password, "c2VjcmV0");
        T_INTEQ(ib->expires_at_s, 1700000270);
        channels_free_ice(ib);
    }
    free(json);
    channels_free_ice(iv);

    struct kvs_endpoints e = {.wss = "wss://v-1.kinesisvideo.us-west-2.amazonaws.com",
                              .https = "https://v-1.kinesisvideo.us-west-2.amazonaws.com"};
    struct channels_endpoints *ev = channels_endpoints_compact(&e);
    json = channels_value_encode(SHARED_ENDPOINT, ev, &len);
    struct channels_endpoints *eb = channels_value_decode(SHARED_ENDPOINT, json, len);
    T_CHECK(eb && strcmp(eb->wss, e.wss) == 0 && strcmp(eb->https, e.https) == 0);
    free(eb);
    free(json);
    free(ev);
}

static void test_cached_value_json_that_does_not_fit_is_refused(void)
{
    const char *bad[] = {
        "", "[]", "{}", "null", "{\"w\":\"a\"}",
        "{\"w\":\"a\",\"h\":\"b\",\"x\":1}",            /* an extra member */
        "{\"w\":\"a\",\"h\":1}",                         /* a wrong type */
        "{\"w\":\"a\",\"w\":\"a\",\"h\":\"b\"}",         /* a duplicate */
        "{\"w\":\"a\\u0000b\",\"h\":\"b\"}",             /* a NUL inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *v = channels_value_decode(SHARED_ENDPOINT, bad[i], strlen(bad[i]));
        if (v) {
            t_fail(__FILE__, __LINE__, "decoded %s", bad[i]);
            free(v);
        }
    }
    /* Past a bound: a 2000-byte URL. */
    char big[2100];
    int n = snprintf(big, sizeof big, "{\"u\":\"%02000d\"}", 0);
    T_CHECK(channels_value_decode(SHARED_WEBRTC, big, (size_t)n) == NULL);
    /* TURN servers: more than KVS_ICE_SERVERS_MAX, or a negative TTL. */
    char many[4096] = "{\"f\":1,\"m\":1,\"x\":1,\"s\":[";
    for (int i = 0; i < 9; i++)
        strcat(many, i ? ",{\"u\":[],\"n\":\"a\",\"p\":\"b\",\"t\":1}" : "{\"u\":[],\"n\":\"a\",\"p\":\"b\",\"t\":1}");
    strcat(many, "]}");
    T_CHECK(channels_value_decode(SHARED_ICE, many, strlen(many)) == NULL);
    const char neg[] = "{\"f\":1,\"m\":-1,\"x\":1,\"s\":[]}";
    T_CHECK(channels_value_decode(SHARED_ICE, neg, sizeof neg - 1) == NULL);
    const char chan[] = "{\"n\":\"a b\",\"a\":\"x\",\"t\":\"t\",\"s\":\"ACTIVE\",\"v\":\"1\",\"c\":1,\"m\":99999}";
    T_CHECK(channels_value_decode(SHARED_CHANNEL, chan, sizeof chan - 1) == NULL);
}

static void test_reconciling_takes_what_other_replicas_let_through(void)
{
    struct ratelimit *rl = ratelimit_new(1, 10, 100);
    int64_t ra;
    for (int i = 0; i < 4; i++)
        T_CHECK(ratelimit_take(rl, "alice", 1000, &ra));
    struct ratelimit_usage u[4];
    T_INTEQ(ratelimit_collect(rl, 1000, 2000, u, 4), 1);
    T_STREQ(u[0].key, "alice");
    T_INTEQ(u[0].taken, 4);
    T_INTEQ(u[0].seen, -1);
    ratelimit_reconcile(rl, &u[0], 100, 1000, 750); /* the first time: learns the total only */
    ratelimit_usage_cleanup(u, 1);
    T_CHECK(ratelimit_take(rl, "alice", 1000, &ra)); /* 6 tokens -> 5 */
    T_INTEQ(ratelimit_collect(rl, 1000, 2000, u, 4), 1);
    T_INTEQ(u[0].taken, 1);
    T_INTEQ(u[0].seen, 100);
    ratelimit_reconcile(rl, &u[0], 100 + 1 + 4, 1250, 750); /* others let 4 through meanwhile */
    ratelimit_usage_cleanup(u, 1);
    int granted = 0;
    while (ratelimit_take(rl, "alice", 1000, &ra))
        granted++;
    T_INTEQ(granted, 1); /* 5 - 4 */
    /* A debt is at most one burst, and idle keys are not collected. */
    T_INTEQ(ratelimit_collect(rl, 1000, 2000, u, 4), 1);
    ratelimit_reconcile(rl, &u[0], 1000000, 1500, 750);
    ratelimit_usage_cleanup(u, 1);
    T_CHECK(!ratelimit_take(rl, "alice", 11000, &ra)); /* -10 + 10 s x 1 = 0 */
    T_CHECK(ratelimit_take(rl, "alice", 12000, &ra));  /* not a debt of a million */
    T_INTEQ(ratelimit_collect(rl, 30000, 2000, u, 4), 0);
    /* After a gap (idle here while others went on), the total is learnt, not owed. */
    T_CHECK(ratelimit_take(rl, "alice", 21000, &ra));
    T_INTEQ(ratelimit_collect(rl, 21000, 2000, u, 4), 1);
    ratelimit_reconcile(rl, &u[0], 5000000, 21000, 750);
    ratelimit_usage_cleanup(u, 1);
    T_CHECK(ratelimit_take(rl, "alice", 21000, &ra));
    /* A total below what was seen (a Redis writer's) takes nothing. */
    T_INTEQ(ratelimit_collect(rl, 21000, 2000, u, 4), 1);
    ratelimit_reconcile(rl, &u[0], -9223372036854775807LL, 21100, 750);
    ratelimit_usage_cleanup(u, 1);
    T_CHECK(ratelimit_take(rl, "alice", 21100, &ra));
    ratelimit_free(rl);
}

static const struct t_case cases[] = {
    T_CASE(test_redis_urls_parse_and_hostile_ones_are_refused),
    T_CASE(test_sealed_bytes_open_only_with_their_key_and_aad),
    T_CASE(test_invalidation_messages_are_read_strictly),
    T_CASE(test_cached_values_round_trip_through_their_json),
    T_CASE(test_cached_value_json_that_does_not_fit_is_refused),
    T_CASE(test_reconciling_takes_what_other_replicas_let_through),
};

int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
