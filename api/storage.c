/* The `storage` tag: WebRTC ingestion (KVS records a channel into a video
 * stream). Once a channel's media storage is ENABLED, peers no longer reach
 * each other: each joins KVS's storage session, which then sends it an SDP
 * offer over its own signaling socket. The joins are SigV4-signed AWS calls,
 * so kvsgate makes them for the caller:
 *
 *   GET/PUT /v1/channels/{name}/media-storage      manage: read or set the
 *       configuration (the stream by ARN or by name; DescribeStream checks it
 *       exists and keeps data first)
 *   POST /v1/channels/{name}/master/storage-session   master: JoinStorageSession
 *   POST /v1/channels/{name}/viewer/storage-session   viewer: JoinStorageSessionAsViewer
 *       with the caller's client id (the same rules as its connection info)
 *
 * A join answers 202: KVS sends the offer later, and only to a participant
 * whose signaling socket is open, so the front end connects first, then
 * joins, and joins again every retryAfterSeconds until the offer arrives (the
 * official SDK sample waits 6 s between tries). Each join makes KVS send an
 * offer, so joins are never retried by kvsgate, and kvsgate's own limit per
 * channel and role (KVSGATE_STORAGE_JOIN_RPS, below AWS's 2 calls per
 * second per channel) answers 429 before AWS would throttle. Not available
 * in China regions (501). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/authz.h"

/* What the official SDK sample waits between joins. */
#define STORAGE_RETRY_AFTER_S 6

static enum kg_err region_check(struct api_request *req)
{
    if (kvs_region_has_storage(req->deps->region))
        return KG_OK;
    api_set_detail(req, "KVS WebRTC ingestion is not available in this region");
    return KG_ERR_UNSUPPORTED_REGION;
}

/* The MediaStorage schema. */
static void respond_storage(struct api_request *req, const char *name, const char *arn,
                            const struct kvs_media_storage *m)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "channelName", name, "channelArn", arn, "enabled",
                          m->enabled);
    json_object_set_new(o, "streamArn", m->stream_arn[0] ? json_string(m->stream_arn) : json_null());
    size_t len;
    char *body = api_dump_json(o, &len);
    api_json(req, 200, body, len);
}

enum kg_err api_storage_get(struct api_request *req, int can_block)
{
    (void)can_block; /* always on a worker (routes.c) */
    enum kg_err err = region_check(req);
    struct kvs_channel ch;
    if (err == KG_OK)
        err = kvs_describe_channel(req->deps->kvs, &req->call, req->channel, NULL, &ch);
    struct kvs_media_storage m;
    if (err == KG_OK)
        err = kvs_describe_media_storage(req->deps->kvs, &req->call, ch.arn, &m);
    if (err == KG_OK)
        respond_storage(req, ch.name, ch.arn, &m);
    return err;
}

enum kg_err api_storage_parse_body(struct api_request *req, struct api_storage_body *out)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    out->root = req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                              : NULL;
    json_t *enabled = json_object_get(out->root, "enabled");
    json_t *sarn = json_object_get(out->root, "streamArn"), *sname = json_object_get(out->root, "streamName");
    size_t known = (enabled != NULL) + (sarn != NULL) + (sname != NULL);
    if (!json_is_object(out->root) || !json_is_boolean(enabled) ||
        json_object_size(out->root) != known) {
        api_set_detail(req, "the body must be {\"enabled\": true, \"streamArn\" or \"streamName\": "
                            "...} or {\"enabled\": false}");
        return KG_ERR_BAD_REQUEST;
    }
    out->enabled = json_is_true(enabled);
    if ((sarn && !json_is_string(sarn)) || (sname && !json_is_string(sname)) ||
        (out->enabled && (sarn != NULL) == (sname != NULL)) || (!out->enabled && (sarn || sname))) {
        api_set_detail(req, "enabled: true needs exactly one of streamArn and streamName (strings); "
                            "enabled: false takes neither");
        return KG_ERR_BAD_REQUEST;
    }
    out->stream_arn = sarn ? json_string_value(sarn) : NULL;
    out->stream_name = sname ? json_string_value(sname) : NULL;
    if ((out->stream_arn && (json_string_length(sarn) > KVS_ARN_MAX ||
                             strncmp(out->stream_arn, "arn:", 4) != 0)) ||
        (out->stream_name && !api_channel_name_ok(out->stream_name))) {
        api_set_detail(req, "streamArn must be a stream's ARN; streamName 1..256 of A-Z a-z 0-9 _ . -");
        return KG_ERR_BAD_REQUEST;
    }
    return KG_OK;
}

/* The stream the body names, which must exist and keep data. */
static enum kg_err storage_stream(struct api_request *req, const struct api_storage_body *b,
                                  struct kvs_stream *stream)
{
    enum kg_err err = kvs_describe_stream(req->deps->kvs, &req->call, b->stream_name,
                                          b->stream_arn, stream);
    if (err == KG_ERR_STREAM_NOT_FOUND)
        api_set_detail(req, "no such Kinesis video stream in this account and region");
    if (err == KG_OK && stream->retention_hours == 0) {
        api_set_detail(req, "the stream keeps no data (DataRetentionInHours 0); WebRTC ingestion "
                            "needs retention");
        err = KG_ERR_NO_DATA_RETENTION;
    }
    return err;
}

enum kg_err api_storage_put(struct api_request *req, int can_block)
{
    (void)can_block; /* always on a worker (routes.c) */
    struct api_storage_body b;
    enum kg_err err = region_check(req);
    if (err == KG_OK)
        err = api_storage_parse_body(req, &b);
    else
        b.root = NULL;
    struct kvs_channel ch;
    if (err == KG_OK)
        err = kvs_describe_channel(req->deps->kvs, &req->call, req->channel, NULL, &ch);
    if (err == KG_OK)
        err = api_check_owner(req, ch.arn);
    struct kvs_stream stream;
    memset(&stream, 0, sizeof stream);
    if (err == KG_OK && b.enabled)
        err = storage_stream(req, &b, &stream);
    if (err == KG_OK)
        err = kvs_update_media_storage(req->deps->kvs, &req->call, ch.arn, b.enabled,
                                       b.enabled ? stream.arn : NULL);
    if (err == KG_ERR_CHANNEL_NOT_ACTIVE)
        api_set_detail(req, "the stream records another channel, or the channel is not ACTIVE");
    if (err == KG_OK) {
        channels_forget_storage(req->deps->channels, ch.arn);
        struct kvs_media_storage m = {.enabled = b.enabled};
        snprintf(m.stream_arn, sizeof m.stream_arn, "%s", b.enabled ? stream.arn : "");
        respond_storage(req, ch.name, ch.arn, &m);
    }
    json_decref(b.root);
    return err;
}

/* The channel (ACTIVE, recording) and the storage session's endpoint. */
static enum kg_err join_lookup(struct api_request *req, int can_block, enum kvs_role role,
                               struct cache_ref **ch_ref, struct cache_ref **ep_ref)
{
    struct channels *cs = req->deps->channels;
    enum kg_err err = channels_describe(cs, &req->call, req->channel, can_block, ch_ref, NULL);
    if (err != KG_OK)
        return err;
    const struct channels_channel *ch = cache_ref_value(*ch_ref);
    if (strcmp(ch->status, "ACTIVE") != 0) {
        api_set_detail(req, "the channel is not ACTIVE yet");
        return KG_ERR_CHANNEL_NOT_ACTIVE;
    }
    struct cache_ref *st_ref = NULL;
    err = channels_storage(cs, &req->call, req->channel, ch->arn, can_block, &st_ref, NULL);
    if (err != KG_OK)
        return err;
    int enabled = ((const struct channels_storage *)cache_ref_value(st_ref))->enabled;
    cache_ref_release(st_ref);
    if (!enabled) {
        api_set_detail(req, "the channel does not record to a stream: connect peer to peer "
                            "(or enable media storage first)");
        return KG_ERR_STORAGE_DISABLED;
    }
    return channels_webrtc(cs, &req->call, req->channel, ch->arn, role, can_block, ep_ref, NULL);
}

/* kvsgate's own limit per channel and role, before AWS's. */
static enum kg_err join_admit(struct api_request *req, const char *arn, enum kvs_role role)
{
    const struct api_deps *d = req->deps;
    if (!d->storage_join_take)
        return KG_OK;
    char key[KVS_ARN_MAX + 8];
    snprintf(key, sizeof key, "%s|%s", role == KVS_ROLE_MASTER ? "M" : "V", arn);
    int64_t retry_after_s = 1;
    if (d->storage_join_take(d->storage_join_arg, key, &retry_after_s))
        return KG_OK;
    req->resp.retry_after_s = retry_after_s;
    api_set_detail(req, "joins of this channel's storage session are limited to stay within "
                        "AWS's quota; try again after Retry-After");
    return KG_ERR_RATE_LIMITED;
}

static void respond_join(struct api_request *req, const struct channels_channel *ch,
                         enum kvs_role role, const char *client_id)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "channelName", ch->name, "channelArn", ch->arn,
                          "role", role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER",
                          "retryAfterSeconds", STORAGE_RETRY_AFTER_S);
    json_object_set_new(o, "clientId", client_id ? json_string(client_id) : json_null());
    size_t len;
    char *body = api_dump_json(o, &len);
    api_json(req, 202, body, len);
}

static enum kg_err join(struct api_request *req, int can_block, enum kvs_role role,
                        const char *client_id)
{
    struct cache_ref *ch_ref = NULL, *ep_ref = NULL;
    req->role = role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER";
    enum kg_err err = region_check(req);
    if (err == KG_OK)
        err = join_lookup(req, can_block, role, &ch_ref, &ep_ref);
    const struct channels_channel *ch = ch_ref ? cache_ref_value(ch_ref) : NULL;
    if (err == KG_OK && !can_block)
        err = KG_ERR_WOULD_BLOCK; /* the join itself is always an AWS call */
    if (err == KG_OK)
        err = join_admit(req, ch->arn, role); /* once, right before the call */
    if (err == KG_OK) {
        const struct channels_webrtc *ep = cache_ref_value(ep_ref);
        err = kvs_join_storage_session(req->deps->kvs, &req->call, ep->url, ch->arn, client_id);
        if (err == KG_ERR_BAD_REQUEST) {
            /* KVS's InvalidArgument: most likely storage was turned off meanwhile. */
            channels_forget_storage(req->deps->channels, ch->arn);
            api_set_detail(req, "KVS refused the join (InvalidArgument): the channel may no "
                                "longer record");
            err = KG_ERR_STORAGE_DISABLED;
        }
    }
    if (err == KG_OK) {
        if (client_id)
            snprintf(req->signed_client_id, sizeof req->signed_client_id, "%s", client_id);
        respond_join(req, ch, role, client_id);
    }
    if (ch_ref)
        cache_ref_release(ch_ref);
    if (ep_ref)
        cache_ref_release(ep_ref);
    return err;
}

enum kg_err api_storage_join_master(struct api_request *req, int can_block)
{
    return join(req, can_block, KVS_ROLE_MASTER, NULL);
}

enum kg_err api_storage_join_viewer(struct api_request *req, int can_block)
{
    char client_id[AUTH_CLIENT_ID_MAX + 1];
    enum kg_err err = api_viewer_client_id(req, client_id);
    if (err != KG_OK)
        return err;
    return join(req, can_block, KVS_ROLE_VIEWER, client_id);
}
