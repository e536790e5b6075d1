/* libFuzzer target: the ConnectionInfo writer (api_connection_info_write),
 * which copies the presigned URL, KVS's TURN servers (URIs, usernames,
 * passwords from AWS's answer), the channel's name and ARN and the viewer's
 * client id into one bounded secret buffer.
 *
 * Input: selector byte (bits 0-2: ICE servers 0..7, bit 3: master, bits 4-5:
 * the buffer's maximum, from 256 bytes to 256 KiB), then fields separated by
 * 0x1F: url, stun, channel, arn, region, client id, then per ICE server
 * username, password and up to three URIs.
 *
 * Invariants: on success the output is one JSON object within the buffer's
 * maximum, holding the URL, name, ARN, region and client id as given (null
 * for a master), the STUN entry first and one entry per server with URIs;
 * on failure (a string that is not UTF-8, or the maximum reached) the buffer
 * is exactly as it was, and the failure is one of those two. */
#include <jansson.h>

#include "tests/fuzz/fuzz.h"

#include "api/internal.h"
#include "core/encode.h"

#define SERVERS_MAX 7
#define URIS_MAX 3

static int same(json_t *v, const char *s) { return json_is_string(v) && strcmp(json_string_value(v), s) == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel = fuzz_selector(&data, &size);
    size_t server_count = sel & 7;
    int master = (sel >> 3) & 1;
    static const size_t maxes[] = {256, 2048, 16384, 256 * 1024};
    size_t max_len = maxes[(sel >> 4) & 3];
    struct fuzz_in in = {(const char *)data, size};
    char *fields[6];
    for (int i = 0; i < 6; i++)
        fields[i] = fuzz_field_str(&in, NULL);

    size_t bytes = sizeof(struct channels_ice) + SERVERS_MAX * sizeof(struct channels_ice_server);
    struct channels_ice *ice = calloc(1, bytes);
    char *strings[SERVERS_MAX][2 + URIS_MAX];
    const char *uris[SERVERS_MAX][URIS_MAX];
    size_t with_uris = 0;
    ice->count = server_count;
    for (size_t i = 0; i < server_count; i++) {
        for (int k = 0; k < 2 + URIS_MAX; k++)
            strings[i][k] = fuzz_field_str(&in, NULL);
        struct channels_ice_server *s = &ice->servers[i];
        s->username = strings[i][0];
        s->password = strings[i][1];
        for (int k = 0; k < URIS_MAX; k++)
            if (strings[i][2 + k][0])
                uris[i][s->uri_count++] = strings[i][2 + k];
        s->uris = uris[i];
        with_uris += s->uri_count != 0;
    }
    struct api_conninfo ci = {
        .role = master ? KVS_ROLE_MASTER : KVS_ROLE_VIEWER,
        .url = fields[0],
        .url_len = strlen(fields[0]),
        .stun_url = fields[1],
        .ice = server_count ? ice : NULL,
        .channel_name = fields[2],
        .channel_arn = fields[3],
        .region = fields[4],
        .client_id = master ? NULL : fields[5],
        .expires_at_s = 1700000000,
        .ice_expires_at_s = 1700000270,
        .server_time_s = 1699999701,
    };

    struct kg_buf b;
    kg_buf_init_secret(&b, max_len);
    FUZZ_CHECK(kg_buf_append_str(&b, "x") == KG_OK); /* something before: it must survive */
    enum kg_err err = api_connection_info_write(&b, &ci);
    if (err != KG_OK) {
        FUZZ_CHECK(err == KG_ERR_BAD_REQUEST || err == KG_ERR_PAYLOAD_TOO_LARGE);
        FUZZ_CHECK(b.len == 1 && b.data[0] == 'x' && b.data[1] == '\0');
        int bad_utf8 = 0;
        for (int i = 0; i < 6; i++)
            bad_utf8 |= !kg_utf8_valid(fields[i], strlen(fields[i]));
        for (size_t i = 0; i < server_count; i++)
            for (int k = 0; k < 2 + URIS_MAX; k++)
                bad_utf8 |= !kg_utf8_valid(strings[i][k], strlen(strings[i][k]));
        if (err == KG_ERR_BAD_REQUEST)
            FUZZ_CHECK(bad_utf8);
    } else {
        FUZZ_CHECK(b.len <= max_len);
        json_error_t e;
        json_t *o = json_loadb(b.data + 1, b.len - 1, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
        if (!o)
            fprintf(stderr, "not JSON (%s)\n", e.text);
        FUZZ_CHECK(o && json_is_object(o));
        FUZZ_CHECK(same(json_object_get(o, "role"), master ? "MASTER" : "VIEWER"));
        FUZZ_CHECK(same(json_object_get(o, "url"), fields[0]));
        FUZZ_CHECK(same(json_object_get(o, "channelName"), fields[2]));
        FUZZ_CHECK(same(json_object_get(o, "channelArn"), fields[3]));
        FUZZ_CHECK(same(json_object_get(o, "region"), fields[4]));
        json_t *cid = json_object_get(o, "clientId");
        FUZZ_CHECK(master ? json_is_null(cid) : same(cid, fields[5]));
        json_t *servers = json_object_get(json_object_get(o, "configuration"), "iceServers");
        FUZZ_CHECK(json_is_array(servers) && json_array_size(servers) == 1 + with_uris);
        FUZZ_CHECK(same(json_array_get(json_object_get(json_array_get(servers, 0), "urls"), 0),
                        fields[1]));
        json_decref(o);
    }
    kg_buf_free(&b);
    for (size_t i = 0; i < server_count; i++)
        for (int k = 0; k < 2 + URIS_MAX; k++)
            free(strings[i][k]);
    free(ice);
    for (int i = 0; i < 6; i++)
        free(fields[i]);
    return 0;
}
