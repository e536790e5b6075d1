/* Strict readers of KVS's JSON answers.
 *
 * Every member is type-checked and bounded by the fixed-size fields of
 * aws/kvs.h; a value that does not fit refuses the whole answer
 * (KG_ERR_UPSTREAM_REFUSED) rather than being cut. Unknown members are
 * ignored (AWS adds fields). jansson references: json_loadb's result is ours
 * (decref'd here); everything read from it is borrowed.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aws/kvs_impl.h"
#include "core/mem.h"

#define KVS_LIST_MAX_CHANNELS 10000
#define KVS_ICE_STRING_MAX 1024

static json_t *kvs_load_object(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr); /* new reference */
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* A string member of 1..max bytes without NUL copied into out[max + 1].
 * 1 when copied, 0 when absent (and !required), -1 when it does not fit. */
static int kvs_get_str(json_t *obj, const char *key, char *out, size_t max, int required)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? -1 : 0;
    if (!json_is_string(v))
        return -1;
    size_t n = json_string_length(v);
    if (n == 0 || n > max || memchr(json_string_value(v), '\0', n))
        return -1;
    memcpy(out, json_string_value(v), n);
    out[n] = '\0';
    return 1;
}

/* Like kvs_get_str, allocating (0-length allowed when allow_empty). */
static char *kvs_dup_str(json_t *v, size_t max, int allow_empty)
{
    if (!json_is_string(v))
        return NULL;
    size_t n = json_string_length(v);
    if ((!allow_empty && n == 0) || n > max || memchr(json_string_value(v), '\0', n))
        return NULL;
    return kg_strndup(json_string_value(v), n);
}

static int kvs_channel_from(json_t *info, struct kvs_channel *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(info))
        return 0;
    if (kvs_get_str(info, "ChannelName", out->name, KVS_NAME_MAX, 1) < 0 ||
        kvs_get_str(info, "ChannelARN", out->arn, KVS_ARN_MAX, 1) < 0 ||
        kvs_get_str(info, "ChannelType", out->type, sizeof out->type - 1, 0) < 0 ||
        kvs_get_str(info, "ChannelStatus", out->status, sizeof out->status - 1, 0) < 0 ||
        kvs_get_str(info, "Version", out->version, sizeof out->version - 1, 0) < 0)
        return 0;
    json_t *ct = json_object_get(info, "CreationTime");
    if (ct) {
        /* A timestamp: epoch seconds, possibly with a fraction. */
        if (!json_is_number(ct))
            return 0;
        double t = json_number_value(ct);
        if (!isfinite(t) || t < 0 || t > 1e11)
            return 0;
        out->creation_time_s = (int64_t)t;
    }
    json_t *smc = json_object_get(info, "SingleMasterConfiguration");
    if (smc) {
        if (!json_is_object(smc))
            return 0;
        json_t *ttl = json_object_get(smc, "MessageTtlSeconds");
        if (ttl) {
            if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
                json_integer_value(ttl) > 86400)
                return 0;
            out->message_ttl_s = (int)json_integer_value(ttl);
        }
    }
    return 1;
}

enum kg_err kvs_parse_create(const char *body, size_t len, char arn[KVS_ARN_MAX + 1])
{
    json_t *doc = kvs_load_object(body, len);
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    if (doc && kvs_get_str(doc, "ChannelARN", arn, KVS_ARN_MAX, 1) == 1)
        result = KG_OK;
    else
        arn[0] = '\0';
    json_decref(doc);
    return result;
}

enum kg_err kvs_parse_describe(const char *body, size_t len, struct kvs_channel *out)
{
    json_t *doc = kvs_load_object(body, len);
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    if (doc && kvs_channel_from(json_object_get(doc, "ChannelInfo"), out))
        result = KG_OK;
    else
        memset(out, 0, sizeof *out);
    json_decref(doc);
    return result;
}

enum kg_err kvs_parse_list(const char *body, size_t len, struct kvs_channel_page *out)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    memset(out, 0, sizeof *out);
    json_t *doc = kvs_load_object(body, len);
    if (!doc)
        goto cleanup;
    json_t *list = json_object_get(doc, "ChannelInfoList");
    if (!json_is_array(list) || json_array_size(list) > KVS_LIST_MAX_CHANNELS)
        goto cleanup;
    size_t n = json_array_size(list);
    out->channels = n ? kg_calloc(n, sizeof *out->channels) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (!kvs_channel_from(json_array_get(list, i), &out->channels[i]))
            goto cleanup;
        out->count++;
    }
    json_t *next = json_object_get(doc, "NextToken");
    if (next && !json_is_null(next)) {
        if (!json_is_string(next) || json_string_length(next) > sizeof out->next_token - 1 ||
            memchr(json_string_value(next), '\0', json_string_length(next)))
            goto cleanup;
        memcpy(out->next_token, json_string_value(next), json_string_length(next) + 1);
    }
    result = KG_OK;
cleanup:
    json_decref(doc);
    if (result != KG_OK)
        kvs_channel_page_cleanup(out);
    return result;
}

enum kg_err kvs_parse_endpoints(const char *body, size_t len, struct kvs_endpoints *out)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    memset(out, 0, sizeof *out);
    json_t *doc = kvs_load_object(body, len);
    if (!doc)
        goto cleanup;
    json_t *list = json_object_get(doc, "ResourceEndpointList");
    if (!json_is_array(list))
        goto cleanup;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char proto[16], url[KVS_URL_MAX + 1];
        if (!json_is_object(e) || kvs_get_str(e, "Protocol", proto, sizeof proto - 1, 1) < 0 ||
            kvs_get_str(e, "ResourceEndpoint", url, KVS_URL_MAX, 1) < 0)
            goto cleanup;
        if (strcmp(proto, "WSS") == 0) {
            if (strncmp(url, "wss://", 6) != 0 && strncmp(url, "ws://", 5) != 0)
                goto cleanup;
            memcpy(out->wss, url, strlen(url) + 1);
        } else if (strcmp(proto, "HTTPS") == 0) {
            if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
                goto cleanup;
            memcpy(out->https, url, strlen(url) + 1);
        }
        /* Other protocols (WEBRTC) are not ours. */
    }
    if (out->wss[0] && out->https[0])
        result = KG_OK;
cleanup:
    json_decref(doc);
    if (result != KG_OK)
        memset(out, 0, sizeof *out);
    return result;
}

enum kg_err kvs_parse_webrtc_endpoint(const char *body, size_t len, char out[KVS_URL_MAX + 1])
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    out[0] = '\0';
    json_t *doc = kvs_load_object(body, len);
    json_t *list = doc ? json_object_get(doc, "ResourceEndpointList") : NULL;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char proto[16], url[KVS_URL_MAX + 1];
        if (!json_is_object(e) || kvs_get_str(e, "Protocol", proto, sizeof proto - 1, 1) < 0 ||
            kvs_get_str(e, "ResourceEndpoint", url, KVS_URL_MAX, 1) < 0)
            goto cleanup;
        if (strcmp(proto, "WEBRTC") != 0)
            continue;
        if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
            goto cleanup;
        memcpy(out, url, strlen(url) + 1);
    }
    if (out[0])
        result = KG_OK;
cleanup:
    json_decref(doc);
    if (result != KG_OK)
        out[0] = '\0';
    return result;
}

enum kg_err kvs_parse_media_storage(const char *body, size_t len, struct kvs_media_storage *out)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    memset(out, 0, sizeof *out);
    json_t *doc = kvs_load_object(body, len);
    json_t *cfg = doc ? json_object_get(doc, "MediaStorageConfiguration") : NULL;
    char status[16];
    if (!json_is_object(cfg) || kvs_get_str(cfg, "Status", status, sizeof status - 1, 1) < 0)
        goto cleanup;
    int arn = kvs_get_str(cfg, "StreamARN", out->stream_arn, KVS_ARN_MAX, 0);
    if (arn < 0 && !json_is_null(json_object_get(cfg, "StreamARN")))
        goto cleanup;
    if (strcmp(status, "ENABLED") == 0)
        out->enabled = 1;
    else if (strcmp(status, "DISABLED") != 0)
        goto cleanup;
    /* ENABLED names the stream it records into. */
    if (out->enabled && arn != 1)
        goto cleanup;
    result = KG_OK;
cleanup:
    json_decref(doc);
    if (result != KG_OK)
        memset(out, 0, sizeof *out);
    return result;
}

enum kg_err kvs_parse_stream(const char *body, size_t len, struct kvs_stream *out)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    memset(out, 0, sizeof *out);
    json_t *doc = kvs_load_object(body, len);
    json_t *info = doc ? json_object_get(doc, "StreamInfo") : NULL;
    if (!json_is_object(info) || kvs_get_str(info, "StreamName", out->name, KVS_NAME_MAX, 1) < 0 ||
        kvs_get_str(info, "StreamARN", out->arn, KVS_ARN_MAX, 1) < 0 ||
        kvs_get_str(info, "Status", out->status, sizeof out->status - 1, 0) < 0)
        goto cleanup;
    json_t *hours = json_object_get(info, "DataRetentionInHours");
    if (hours && !json_is_null(hours)) {
        if (!json_is_integer(hours) || json_integer_value(hours) < 0 ||
            json_integer_value(hours) > 10 * 365 * 24 * 100)
            goto cleanup;
        out->retention_hours = (int64_t)json_integer_value(hours);
    }
    result = KG_OK;
cleanup:
    json_decref(doc);
    if (result != KG_OK)
        memset(out, 0, sizeof *out);
    return result;
}

static int kvs_ice_uri_ok(const char *u)
{
    return strncmp(u, "turn:", 5) == 0 || strncmp(u, "turns:", 6) == 0 ||
           strncmp(u, "stun:", 5) == 0 || strncmp(u, "stuns:", 6) == 0;
}

enum kg_err kvs_parse_ice(const char *body, size_t len, int64_t now_s, struct kvs_ice_config *out)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    memset(out, 0, sizeof *out);
    json_t *doc = kvs_load_object(body, len);
    if (!doc)
        goto cleanup;
    json_t *list = json_object_get(doc, "IceServerList");
    if (!json_is_array(list) || json_array_size(list) > KVS_ICE_SERVERS_MAX)
        goto cleanup;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        struct kvs_ice_server *s = &out->servers[out->count];
        out->count++; /* counted first, so cleanup frees a half-filled entry */
        if (!json_is_object(e))
            goto cleanup;
        json_t *uris = json_object_get(e, "Uris");
        if (!json_is_array(uris) || json_array_size(uris) == 0 ||
            json_array_size(uris) > KVS_ICE_URIS_MAX)
            goto cleanup;
        size_t k;
        json_t *u;
        json_array_foreach(uris, k, u)
        {
            char *uri = kvs_dup_str(u, KVS_URL_MAX, 0);
            if (!uri)
                goto cleanup;
            s->uris[s->uri_count++] = uri;
            if (!kvs_ice_uri_ok(uri))
                goto cleanup;
        }
        s->username = kvs_dup_str(json_object_get(e, "Username"), KVS_ICE_STRING_MAX, 0);
        s->password = kvs_dup_str(json_object_get(e, "Password"), KVS_ICE_STRING_MAX, 0);
        json_t *ttl = json_object_get(e, "Ttl");
        if (!s->username || !s->password || !json_is_integer(ttl) ||
            json_integer_value(ttl) < 1 || json_integer_value(ttl) > 86400)
            goto cleanup;
        s->ttl_s = (int)json_integer_value(ttl);
        if (out->min_ttl_s == 0 || s->ttl_s < out->min_ttl_s)
            out->min_ttl_s = s->ttl_s;
    }
    out->fetched_at_s = now_s;
    result = KG_OK;
cleanup:
    if (doc) {
        /* TURN passwords were in the document: wipe jansson's copies. */
        json_array_foreach(json_object_get(doc, "IceServerList"), i, e)
        {
            json_t *p = json_object_get(e, "Password");
            if (json_is_string(p))
                kg_wipe((void *)json_string_value(p), json_string_length(p));
        }
        json_decref(doc);
    }
    if (result != KG_OK)
        kvs_ice_config_cleanup(out);
    return result;
}

enum kg_err kvs_parse_tags(const char *body, size_t len, size_t max_tags,
                           struct kvs_tag_list *acc, char next_token[513])
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    next_token[0] = '\0';
    json_t *doc = kvs_load_object(body, len);
    if (!doc)
        goto cleanup;
    json_t *tags = json_object_get(doc, "Tags");
    if (tags && !json_is_object(tags))
        goto cleanup;
    if (tags) {
        size_t n = json_object_size(tags);
        if (n > max_tags || acc->count + n > max_tags)
            goto cleanup;
        struct kvs_tag *grown = kg_realloc(acc->tags, (acc->count + n + 1) * sizeof *grown);
        acc->tags = grown;
        const char *key;
        json_t *value;
        json_object_foreach(tags, key, value)
        {
            size_t kl = strlen(key);
            char *v = kvs_dup_str(value, 256, 1);
            if (kl == 0 || kl > 128 || !v) {
                free(v);
                goto cleanup;
            }
            acc->tags[acc->count].key = kg_strndup(key, kl);
            acc->tags[acc->count].value = v;
            acc->count++;
        }
    }
    json_t *next = json_object_get(doc, "NextToken");
    if (next && !json_is_null(next)) {
        if (!json_is_string(next) || json_string_length(next) > 512 ||
            memchr(json_string_value(next), '\0', json_string_length(next)))
            goto cleanup;
        memcpy(next_token, json_string_value(next), json_string_length(next) + 1);
    }
    result = KG_OK;
cleanup:
    json_decref(doc);
    return result;
}

enum kg_err kvs_parse_empty(const char *body, size_t len)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len)
        return KG_OK;
    json_t *doc = kvs_load_object(body, len);
    enum kg_err result = doc ? KG_OK : KG_ERR_UPSTREAM_REFUSED;
    json_decref(doc);
    return result;
}

/* ---- ownership helpers of aws/kvs.h ---------------------------------------- */

void kvs_channel_page_cleanup(struct kvs_channel_page *page)
{
    free(page->channels);
    page->channels = NULL;
    page->count = 0;
    page->next_token[0] = '\0';
}

void kvs_ice_config_cleanup(struct kvs_ice_config *cfg)
{
    for (size_t i = 0; i < cfg->count && i < KVS_ICE_SERVERS_MAX; i++) {
        struct kvs_ice_server *s = &cfg->servers[i];
        for (size_t k = 0; k < s->uri_count; k++)
            free(s->uris[k]);
        free(s->username);
        kg_free_secret(s->password);
    }
    memset(cfg, 0, sizeof *cfg);
}

void kvs_tag_list_cleanup(struct kvs_tag_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free((char *)list->tags[i].key);
        free((char *)list->tags[i].value);
    }
    free(list->tags);
    list->tags = NULL;
    list->count = 0;
}
