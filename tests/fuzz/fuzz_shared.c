/* libFuzzer target: what kvsgate reads back from a shared Redis
 * (aws/channels_values.c channels_value_decode for every kind, aws/shared.c
 * shared_message_parse) and the Redis URL (core/redis.c kg_redis_url_parse).
 * Sealing keeps others' bytes out, but these readers are written as if it did
 * not: a bug, an old format or a leaked key must cost a reload, never memory.
 *
 * Input: a kind byte (0..4: channel, endpoint, ice, storage, webrtc; 5: an
 * invalidation message; 6: a Redis URL), then the text.
 *
 * Invariants: never a crash, hang or leak; a decoded value encodes again and
 * that JSON decodes to a value that encodes to the same JSON (the round trip
 * is stable); strings within their bounds; a parsed message has a valid
 * channel name (or none) and a printable ARN; a parsed URL has a host of
 * 1..255 bytes without '@', a port of 1..65535 and a database of 0..999. */
#include "tests/fuzz/fuzz.h"

#include "aws/channels_impl.h"
#include "aws/shared.h"
#include "core/kvsname.h"
#include "core/redis.h"

static void value_round_trip(enum shared_kind kind, const char *text, size_t len)
{
    void *v = channels_value_decode(kind, text, len);
    if (!v)
        return;
    size_t n1 = 0, n2 = 0;
    char *j1 = channels_value_encode(kind, v, &n1);
    FUZZ_CHECK(j1 != NULL);
    void *w = channels_value_decode(kind, j1, n1);
    FUZZ_CHECK(w != NULL);
    char *j2 = channels_value_encode(kind, w, &n2);
    FUZZ_CHECK(j2 && n1 == n2 && memcmp(j1, j2, n1) == 0);
    if (kind == SHARED_CHANNEL) {
        const struct channels_channel *c = v;
        FUZZ_CHECK(strlen(c->name) <= KVS_NAME_MAX && strlen(c->arn) <= KVS_ARN_MAX);
    }
    free(j1);
    free(j2);
    channels_value_free(kind, v);
    channels_value_free(kind, w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned kind = data[0] % 7;
    size_t len = size - 1;
    char *text = malloc(len + 1);
    if (!text)
        abort();
    memcpy(text, data + 1, len);
    text[len] = '\0';
    if (kind < SHARED_KIND_COUNT) {
        value_round_trip((enum shared_kind)kind, text, len);
    } else if (kind == 5) {
        struct shared_message m;
        if (shared_message_parse(text, len, &m)) {
            FUZZ_CHECK(strlen(m.id) == 16 && strlen(m.nonce) == 16 && m.at_ms >= 0);
            FUZZ_CHECK(!m.name[0] || kg_kvs_channel_name_valid(m.name));
            for (const char *p = m.arn; *p; p++)
                FUZZ_CHECK(*p > ' ' && *p <= '~');
        }
    } else {
        struct kg_redis_url u;
        const char *why = NULL;
        if (kg_redis_url_parse(text, &u, &why)) {
            size_t h = strlen(u.host);
            FUZZ_CHECK(h >= 1 && h <= KG_REDIS_HOST_MAX && !strchr(u.host, '@'));
            FUZZ_CHECK(u.port >= 1 && u.port <= 65535 && u.db >= 0 && u.db <= 999);
        } else {
            FUZZ_CHECK(why && why[0]);
        }
    }
    free(text);
    return 0;
}
