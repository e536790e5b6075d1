/* WebRTC ingestion through the KVS client: media storage configuration and
 * streams on the control plane, the storage session's WEBRTC endpoint, and
 * the joins (botocore kinesisvideo-2017-09-30 and
 * kinesis-video-webrtc-storage-2018-05-10). The joins are asynchronous on
 * AWS's side (the offer comes later over signaling) and not idempotent (each
 * call makes KVS send an offer), so they are made once, never retried here. */
#include <jansson.h>
#include <string.h>

#include "aws/kvs.h"
#include "aws/kvs_impl.h"
#include "core/kvsname.h"
#include "core/url.h"

#define KVS_STORAGE_RESPONSE_MAX (64 * 1024)

int kvs_region_has_storage(const char *region)
{
    return region && strncmp(region, "cn-", 3) != 0;
}

static enum kg_err p_media_storage(const char *b, size_t n, void *a)
{
    return kvs_parse_media_storage(b, n, a);
}
static enum kg_err p_stream(const char *b, size_t n, void *a) { return kvs_parse_stream(b, n, a); }
static enum kg_err p_webrtc(const char *b, size_t n, void *a)
{
    return kvs_parse_webrtc_endpoint(b, n, a);
}
static enum kg_err p_empty(const char *b, size_t n, void *a)
{
    (void)a;
    return kvs_parse_empty(b, n);
}

/* A control-plane call on path with doc (consumed). */
static enum kg_err control(struct kvs_client *c, struct kvs_call *call, const char *operation,
                           const char *path, json_t *doc, kvs_parse_fn parse, void *arg)
{
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, path, url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    return kvs_json_call(c, call, operation, url, doc, KVS_STORAGE_RESPONSE_MAX, parse, arg, 0);
}

enum kg_err kvs_describe_media_storage(struct kvs_client *c, struct kvs_call *call,
                                       const char *arn, struct kvs_media_storage *out)
{
    memset(out, 0, sizeof *out);
    if (!kvs_arn_valid(arn))
        return KG_ERR_BAD_REQUEST;
    return control(c, call, "DescribeMediaStorageConfiguration",
                   "/describeMediaStorageConfiguration", json_pack("{s:s}", "ChannelARN", arn),
                   p_media_storage, out);
}

enum kg_err kvs_update_media_storage(struct kvs_client *c, struct kvs_call *call, const char *arn,
                                     int enabled, const char *stream_arn)
{
    if (!kvs_arn_valid(arn) || (enabled && !kvs_arn_valid(stream_arn)) || (!enabled && stream_arn))
        return KG_ERR_BAD_REQUEST;
    json_t *cfg = enabled ? json_pack("{s:s, s:s}", "Status", "ENABLED", "StreamARN", stream_arn)
                          : json_pack("{s:s}", "Status", "DISABLED");
    return control(c, call, "UpdateMediaStorageConfiguration", "/updateMediaStorageConfiguration",
                   json_pack("{s:s, s:o}", "ChannelARN", arn, "MediaStorageConfiguration", cfg),
                   p_empty, NULL);
}

enum kg_err kvs_describe_stream(struct kvs_client *c, struct kvs_call *call, const char *name,
                                const char *arn, struct kvs_stream *out)
{
    memset(out, 0, sizeof *out);
    json_t *doc;
    if (name && !arn && kg_kvs_channel_name_valid(name))
        doc = json_pack("{s:s}", "StreamName", name);
    else if (arn && !name && kvs_arn_valid(arn))
        doc = json_pack("{s:s}", "StreamARN", arn);
    else
        return KG_ERR_BAD_REQUEST;
    enum kg_err err = control(c, call, "DescribeStream", "/describeStream", doc, p_stream, out);
    /* ResourceNotFound means the stream here, not a channel. */
    return err == KG_ERR_CHANNEL_NOT_FOUND ? KG_ERR_STREAM_NOT_FOUND : err;
}

enum kg_err kvs_get_webrtc_endpoint(struct kvs_client *c, struct kvs_call *call, const char *arn,
                                    enum kvs_role role, char out[KVS_URL_MAX + 1])
{
    out[0] = '\0';
    if (!kvs_arn_valid(arn) || (role != KVS_ROLE_MASTER && role != KVS_ROLE_VIEWER))
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:s, s:{s:[s], s:s}}", "ChannelARN", arn,
                            "SingleMasterChannelEndpointConfiguration", "Protocols", "WEBRTC",
                            "Role", role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER");
    return control(c, call, "GetSignalingChannelEndpoint", "/getSignalingChannelEndpoint", doc,
                   p_webrtc, out);
}

enum kg_err kvs_join_storage_session(struct kvs_client *c, struct kvs_call *call,
                                     const char *webrtc_endpoint, const char *arn,
                                     const char *client_id)
{
    if (!kvs_arn_valid(arn) || !webrtc_endpoint || (client_id && !kg_kvs_client_id_valid(client_id)))
        return client_id && !kg_kvs_client_id_valid(client_id) ? KG_ERR_INVALID_CLIENT_ID
                                                               : KG_ERR_BAD_REQUEST;
    size_t len = strlen(webrtc_endpoint);
    while (len && webrtc_endpoint[len - 1] == '/')
        len--;
    char url[KVS_URL_MAX + 64];
    const char *path = client_id ? "/joinStorageSessionAsViewer" : "/joinStorageSession";
    int n = snprintf(url, sizeof url, "%.*s%s", (int)len, webrtc_endpoint, path);
    struct url_parts check;
    if (n < 0 || (size_t)n >= sizeof url || len > KVS_URL_MAX ||
        url_parse(url, 0, &check) != KG_OK)
        return KG_ERR_BAD_REQUEST;
    json_t *doc = client_id ? json_pack("{s:s, s:s}", "channelArn", arn, "clientId", client_id)
                            : json_pack("{s:s}", "channelArn", arn);
    return kvs_json_call(c, call, client_id ? "JoinStorageSessionAsViewer" : "JoinStorageSession",
                         url, doc, KVS_STORAGE_RESPONSE_MAX, p_empty, NULL, 1);
}
