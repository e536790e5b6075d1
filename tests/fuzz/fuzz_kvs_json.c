/* libFuzzer target: everything kvsgate reads from KVS answers (aws/kvs_json.c,
 * aws/kvs_errors.c).
 *
 * Input: selector byte (which reader), then the body. For the error reader
 * (selector 7) the input is  x-amzn-ErrorType value \x1f body  and the
 * selector's high bits choose the HTTP status. A selector with bit 0x80 set
 * picks a WebRTC-ingestion reader by its low bits instead: media storage
 * configuration, stream, WEBRTC endpoint.
 *
 * Invariants: on success every string is NUL-terminated within its field and
 * free of NUL; endpoints carry the schemes asked for; ICE servers and URIs stay
 * within their bounds with a turn/stun scheme, positive TTLs and credentials,
 * and a deep copy equals the original; a media storage configuration that is
 * enabled names a stream; a WEBRTC endpoint is http(s); an error type holds only
 * [A-Za-z0-9_.] and maps onto an upstream error. On failure outputs are empty.
 */
#include "tests/fuzz/fuzz.h"

#include "aws/kvs.h"
#include "aws/kvs_impl.h"
#include "core/log.h"

static int bounded(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static void check_channel(const struct kvs_channel *c)
{
    FUZZ_CHECK(bounded(c->name, sizeof c->name) && c->name[0]);
    FUZZ_CHECK(bounded(c->arn, sizeof c->arn) && c->arn[0]);
    FUZZ_CHECK(bounded(c->type, sizeof c->type));
    FUZZ_CHECK(bounded(c->status, sizeof c->status));
    FUZZ_CHECK(bounded(c->version, sizeof c->version));
    FUZZ_CHECK(c->creation_time_s >= 0);
    FUZZ_CHECK(c->message_ttl_s >= 0 && c->message_ttl_s <= 86400);
}

static int prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static void check_ice(const struct kvs_ice_config *ice)
{
    FUZZ_CHECK(ice->count <= KVS_ICE_SERVERS_MAX);
    for (size_t i = 0; i < ice->count; i++) {
        const struct kvs_ice_server *s = &ice->servers[i];
        FUZZ_CHECK(s->uri_count >= 1 && s->uri_count <= KVS_ICE_URIS_MAX);
        for (size_t k = 0; k < s->uri_count; k++) {
            FUZZ_CHECK(strlen(s->uris[k]) <= KVS_URL_MAX);
            FUZZ_CHECK(prefix(s->uris[k], "turn:") || prefix(s->uris[k], "turns:") ||
                       prefix(s->uris[k], "stun:") || prefix(s->uris[k], "stuns:"));
        }
        FUZZ_CHECK(s->username && s->username[0] && s->password && s->password[0]);
        FUZZ_CHECK(s->ttl_s >= 1 && s->ttl_s <= 86400 && s->ttl_s >= ice->min_ttl_s);
    }
}

static void fuzz_error(unsigned sel, const char *data, size_t size)
{
    static const long statuses[] = {400, 403, 404, 429, 500, 503, 200, 418};
    struct fuzz_in in = {data, size};
    const char *h, *b;
    size_t hn = 0, bn = 0;
    if (!fuzz_field(&in, &h, &hn))
        h = "";
    if (!fuzz_field(&in, &b, &bn))
        b = "";
    struct kg_http_response resp;
    kg_http_response_init(&resp);
    resp.status = statuses[(sel >> 3) & 7];
    if (hn) {
        resp.headers[0].name = strdup("x-amzn-ErrorType");
        resp.headers[0].value = strndup(h, hn);
        resp.header_count = 1;
    }
    resp.body.max_len = bn; /* as the transport sets it (max_response_len) */
    if (kg_buf_append(&resp.body, b, bn) != KG_OK)
        abort();
    char type[KVS_ERROR_TYPE_MAX + 1];
    memset(type, 'x', sizeof type);
    kvs_error_type(&resp, type, sizeof type);
    FUZZ_CHECK(bounded(type, sizeof type));
    for (const char *p = type; *p; p++)
        FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '_' || *p == '.');
    enum kg_err err = kvs_error_map(type, resp.status);
    FUZZ_CHECK(err == KG_ERR_CHANNEL_NOT_FOUND || err == KG_ERR_CHANNEL_NOT_ACTIVE ||
               err == KG_ERR_BAD_REQUEST || err == KG_ERR_UPSTREAM_THROTTLED ||
               err == KG_ERR_UPSTREAM_REFUSED || err == KG_ERR_UPSTREAM_UNAVAILABLE ||
               err == KG_ERR_NO_DATA_RETENTION);
    (void)kvs_error_is_expired_token(type);
    kg_http_response_cleanup(&resp);
}

static void fuzz_storage(unsigned sel, const char *body, size_t size)
{
    switch (sel % 3) {
    case 0: {
        struct kvs_media_storage m;
        memset(&m, 'x', sizeof m);
        enum kg_err err = kvs_parse_media_storage(body, size, &m);
        FUZZ_CHECK(bounded(m.stream_arn, sizeof m.stream_arn));
        if (err == KG_OK)
            FUZZ_CHECK(!m.enabled || m.stream_arn[0]);
        else
            FUZZ_CHECK(!m.enabled && !m.stream_arn[0]);
        break;
    }
    case 1: {
        struct kvs_stream st;
        enum kg_err err = kvs_parse_stream(body, size, &st);
        FUZZ_CHECK(bounded(st.name, sizeof st.name) && bounded(st.arn, sizeof st.arn) &&
                   bounded(st.status, sizeof st.status));
        if (err == KG_OK)
            FUZZ_CHECK(st.name[0] && st.arn[0] && st.retention_hours >= 0);
        else
            FUZZ_CHECK(!st.name[0] && !st.arn[0] && st.retention_hours == 0);
        break;
    }
    default: {
        char url[KVS_URL_MAX + 1];
        memset(url, 'x', sizeof url);
        enum kg_err err = kvs_parse_webrtc_endpoint(body, size, url);
        FUZZ_CHECK(bounded(url, sizeof url));
        FUZZ_CHECK(err == KG_OK ? prefix(url, "https://") || prefix(url, "http://") : !url[0]);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        kg_log_set_level(KG_LOG_OFF);
        init = 1;
    }
    unsigned sel = fuzz_selector(&data, &size);
    const char *body = (const char *)data;
    enum kg_err err;
    if (sel & 0x80) {
        fuzz_storage(sel & 0x7f, body, size);
        return 0;
    }
    switch (sel & 7) {
    case 0: {
        char arn[KVS_ARN_MAX + 1];
        memset(arn, 'x', sizeof arn);
        err = kvs_parse_create(body, size, arn);
        FUZZ_CHECK(bounded(arn, sizeof arn));
        FUZZ_CHECK(err == KG_OK ? arn[0] != '\0' : arn[0] == '\0');
        break;
    }
    case 1: {
        struct kvs_channel ch;
        err = kvs_parse_describe(body, size, &ch);
        if (err == KG_OK)
            check_channel(&ch);
        else
            FUZZ_CHECK(ch.name[0] == '\0' && ch.arn[0] == '\0');
        break;
    }
    case 2: {
        struct kvs_channel_page page;
        err = kvs_parse_list(body, size, &page);
        if (err == KG_OK) {
            for (size_t i = 0; i < page.count; i++)
                check_channel(&page.channels[i]);
            FUZZ_CHECK(bounded(page.next_token, sizeof page.next_token));
        } else {
            FUZZ_CHECK(page.count == 0 && page.channels == NULL);
        }
        kvs_channel_page_cleanup(&page);
        break;
    }
    case 3: {
        struct kvs_endpoints ep;
        err = kvs_parse_endpoints(body, size, &ep);
        if (err == KG_OK) {
            FUZZ_CHECK(bounded(ep.wss, sizeof ep.wss) && bounded(ep.https, sizeof ep.https));
            FUZZ_CHECK(prefix(ep.wss, "wss://") || prefix(ep.wss, "ws://"));
            FUZZ_CHECK(prefix(ep.https, "https://") || prefix(ep.https, "http://"));
        } else {
            FUZZ_CHECK(ep.wss[0] == '\0' && ep.https[0] == '\0');
        }
        break;
    }
    case 4: {
        struct kvs_ice_config ice;
        err = kvs_parse_ice(body, size, 1700000000, &ice);
        if (err == KG_OK) {
            check_ice(&ice);
            FUZZ_CHECK(ice.fetched_at_s == 1700000000);
        } else {
            FUZZ_CHECK(ice.count == 0);
        }
        kvs_ice_config_cleanup(&ice);
        break;
    }
    case 5: {
        struct kvs_tag_list acc = {0};
        char next[513];
        memset(next, 'x', sizeof next);
        /* Two pages into one list, as kvs_list_tags reads them. */
        err = kvs_parse_tags(body, size, 50, &acc, next);
        FUZZ_CHECK(bounded(next, sizeof next));
        if (err == KG_OK)
            err = kvs_parse_tags(body, size, 50, &acc, next);
        FUZZ_CHECK(acc.count <= 50);
        for (size_t i = 0; i < acc.count; i++) {
            size_t kl = strlen(acc.tags[i].key);
            FUZZ_CHECK(kl >= 1 && kl <= 128 && strlen(acc.tags[i].value) <= 256);
        }
        kvs_tag_list_cleanup(&acc);
        break;
    }
    case 6:
        err = kvs_parse_empty(body, size);
        FUZZ_CHECK(err == KG_OK || err == KG_ERR_UPSTREAM_REFUSED);
        break;
    default:
        fuzz_error(sel, body, size);
        break;
    }
    return 0;
}
