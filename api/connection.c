/* The `connection` tag: what a MASTER or a VIEWER needs to join a channel.
 *
 * ConnectionInfo keeps the keys of the widely copied Express example
 * (`url`, `configuration`, `role`) so its front ends work unchanged, and adds
 * the channel, the region, the viewer's client id, two expiry times and, for
 * a channel that records (WebRTC ingestion), `storage`: then the front end
 * joins the storage session (api/storage.c) instead of offering to a peer. The
 * URL is presigned for this request and never cached; the ICE servers are
 * KVS's TURN servers (urls/username/credential) after the region's STUN URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/authz.h"
#include "aws/presign.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/mem.h"

static int endpoint_scheme_ok(const struct api_request *req, const char *url, const char *secure,
                              const char *plain)
{
    size_t n = strlen(secure);
    if (strncmp(url, secure, n) == 0 && strncmp(url + n, "://", 3) == 0)
        return 1;
    n = strlen(plain);
    return req->deps->allow_plain_endpoints && strncmp(url, plain, n) == 0 &&
           strncmp(url + n, "://", 3) == 0;
}

/* Appends `"name":` and the JSON string of value. */
static enum kg_err put_member(struct kg_buf *b, const char *name, const char *value)
{
    enum kg_err err = kg_buf_append_str(b, name);
    if (err == KG_OK)
        err = kg_json_append_string(b, value, strlen(value));
    return err;
}

/* "iceServers": the region's STUN entry, then KVS's TURN servers; ice may be
 * NULL (degraded: STUN only). */
static enum kg_err put_ice_servers(struct kg_buf *b, const char *stun,
                                   const struct channels_ice *ice)
{
    enum kg_err err = kg_buf_append_str(b, "\"iceServers\":[{\"urls\":[");
    if (err == KG_OK)
        err = kg_json_append_string(b, stun, strlen(stun));
    if (err == KG_OK)
        err = kg_buf_append_str(b, "]}");
    for (size_t i = 0; ice && i < ice->count && err == KG_OK; i++) {
        const struct channels_ice_server *s = &ice->servers[i];
        if (!s->uri_count)
            continue;
        err = kg_buf_append_str(b, ",{\"urls\":[");
        for (size_t k = 0; k < s->uri_count && err == KG_OK; k++) {
            if (k)
                err = kg_buf_append_char(b, ',');
            if (err == KG_OK)
                err = kg_json_append_string(b, s->uris[k], strlen(s->uris[k]));
        }
        if (err == KG_OK)
            err = put_member(b, "],\"username\":", s->username ? s->username : "");
        if (err == KG_OK)
            err = put_member(b, ",\"credential\":", s->password ? s->password : "");
        if (err == KG_OK)
            err = kg_buf_append_char(b, '}');
    }
    if (err == KG_OK)
        err = kg_buf_append_char(b, ']');
    return err;
}

enum kg_err api_connection_info_write(struct kg_buf *body, const struct api_conninfo *ci)
{
    /* Written straight into one buffer in the member order of openapi.yaml (a
     * jansson tree and its dump cost ~10x more). Every string goes through
     * kg_json_append_string: escaped, and refused (KG_ERR_BAD_REQUEST) rather
     * than written when it is not UTF-8; the buffer's maximum bounds the rest. */
    char expires_at[KG_ISO8601_LEN + 1], ice_expires_at[KG_ISO8601_LEN + 1];
    char server_time[KG_ISO8601_LEN + 1];
    api_format_time(ci->expires_at_s, expires_at);
    api_format_time(ci->ice_expires_at_s, ice_expires_at);
    api_format_time(ci->server_time_s, server_time);
    size_t start = body->len;
    enum kg_err err = kg_buf_reserve(body, 1024 + ci->url_len + (ci->ice ? ci->ice->count * 512 : 0));
    if (err == KG_OK)
        err = put_member(body, "{\"role\":", ci->role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER");
    if (err == KG_OK)
        err = kg_buf_append_str(body, ",\"url\":");
    if (err == KG_OK)
        err = kg_json_append_string(body, ci->url, ci->url_len);
    if (err == KG_OK)
        err = kg_buf_append_str(body, ",\"configuration\":{");
    if (err == KG_OK)
        err = put_ice_servers(body, ci->stun_url, ci->ice);
    if (err == KG_OK)
        err = kg_buf_append_str(body, ",\"iceTransportPolicy\":\"all\"}");
    if (err == KG_OK)
        err = put_member(body, ",\"channelName\":", ci->channel_name);
    if (err == KG_OK)
        err = put_member(body, ",\"channelArn\":", ci->channel_arn);
    if (err == KG_OK)
        err = put_member(body, ",\"region\":", ci->region);
    if (err == KG_OK)
        err = ci->client_id ? put_member(body, ",\"clientId\":", ci->client_id)
                            : kg_buf_append_str(body, ",\"clientId\":null");
    if (err == KG_OK)
        err = put_member(body, ",\"expiresAt\":", expires_at);
    if (err == KG_OK)
        err = put_member(body, ",\"iceServersExpireAt\":", ice_expires_at);
    if (err == KG_OK)
        err = put_member(body, ",\"serverTime\":", server_time);
    if (err == KG_OK && ci->storage_stream_arn)
        err = put_member(body, ",\"storage\":{\"enabled\":true,\"streamArn\":",
                         ci->storage_stream_arn);
    if (err == KG_OK && ci->storage_stream_arn)
        err = kg_buf_append_char(body, '}');
    if (err == KG_OK)
        err = kg_buf_append_char(body, '}');
    if (err != KG_OK)
        kg_buf_truncate(body, start);
    return err;
}

/* What a connection answer is made of: the cached channel, endpoints and TURN
 * servers (held by reference until the answer is written). */
struct conn_parts {
    enum kvs_role role;
    const char *client_id;
    struct cache_ref *ch_ref, *ep_ref, *ice_ref, *st_ref;
    const struct channels_channel *ch;
    const struct channels_storage *storage; /* NULL: not known (or no ingestion here) */
    const struct channels_endpoints *ep;
    const struct channels_ice *ice; /* NULL: STUN only */
    int stun_only;                  /* TURN could not be had (degraded mode) */
};

static void conn_parts_release(struct conn_parts *c)
{
    if (c->ch_ref)
        cache_ref_release(c->ch_ref);
    if (c->ep_ref)
        cache_ref_release(c->ep_ref);
    if (c->ice_ref)
        cache_ref_release(c->ice_ref);
    if (c->st_ref)
        cache_ref_release(c->st_ref);
}

/* Whether the channel records: a front end must then join the storage
 * session. Not knowing (AWS refused DescribeMediaStorageConfiguration, e.g.
 * an IAM policy without it) leaves `storage` out rather than failing a
 * channel that may well be peer to peer; it is logged (at most once a minute). */
static enum kg_err conn_storage(struct api_request *req, int can_block, struct conn_parts *c)
{
    const struct api_deps *d = req->deps;
    if (!kvs_region_has_storage(d->region))
        return KG_OK;
    enum cache_outcome how = CACHE_HIT;
    enum kg_err err = channels_storage(d->channels, &req->call, req->channel, c->ch->arn,
                                       can_block, &c->st_ref, &how);
    if (err == KG_OK) {
        api_note_cache(req, how);
        c->storage = cache_ref_value(c->st_ref);
        return KG_OK;
    }
    if (err == KG_ERR_WOULD_BLOCK || err == KG_ERR_CHANNEL_NOT_FOUND)
        return err;
    static int64_t last_logged_s;
    int64_t now = api_now(req), last = __atomic_load_n(&last_logged_s, __ATOMIC_RELAXED);
    struct kg_log_line l;
    if (now - last >= 60 &&
        __atomic_compare_exchange_n(&last_logged_s, &last, now, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED) &&
        kg_log_begin(&l, KG_LOG_WARN, "storage_unknown")) {
        kg_log_str(&l, "channel", req->channel);
        kg_log_str(&l, "error", kg_err_name(err));
        kg_log_str(&l, "aws_error", req->call.error_type);
        kg_log_str(&l, "msg", "cannot tell whether the channel records (DescribeMediaStorage"
                              "Configuration); connection info leaves storage out");
        kg_log_end(&l);
    }
    return KG_OK;
}

/* Step 1: the channel (ACTIVE), its endpoints for the role, and TURN servers
 * (or, when AWS fails and the fallback allows it, none). */
static enum kg_err conn_lookup(struct api_request *req, int can_block, struct conn_parts *c)
{
    const struct api_deps *d = req->deps;
    enum cache_outcome how = CACHE_HIT;
    enum kg_err err = channels_describe(d->channels, &req->call, req->channel, can_block,
                                        &c->ch_ref, &how);
    if (err != KG_OK)
        return err;
    api_note_cache(req, how);
    c->ch = cache_ref_value(c->ch_ref);
    if (strcmp(c->ch->status, "ACTIVE") != 0) {
        api_set_detail(req, "the channel is not ACTIVE yet");
        return KG_ERR_CHANNEL_NOT_ACTIVE;
    }
    if ((err = conn_storage(req, can_block, c)) != KG_OK)
        return err;
    err = channels_endpoints(d->channels, &req->call, req->channel, c->ch->arn, c->role,
                             can_block, &c->ep_ref, &how);
    if (err != KG_OK)
        return err;
    api_note_cache(req, how);
    c->ep = cache_ref_value(c->ep_ref);
    if (!endpoint_scheme_ok(req, c->ep->wss, "wss", "ws") ||
        !endpoint_scheme_ok(req, c->ep->https, "https", "http")) {
        api_set_detail(req, "AWS returned an endpoint that is not wss:// or https://");
        return KG_ERR_UPSTREAM_REFUSED;
    }
    err = channels_ice(d->channels, &req->call, req->channel, c->ep->https, c->ch->arn, c->role,
                       c->client_id, can_block, &c->ice_ref, &how);
    if (err == KG_OK) {
        api_note_cache(req, how);
        c->ice = cache_ref_value(c->ice_ref);
        return KG_OK;
    }
    if (err == KG_ERR_WOULD_BLOCK || err == KG_ERR_CHANNEL_NOT_FOUND ||
        !d->ice_fallback_stun_only || !kg_err_is_transient(err))
        return err;
    /* Degraded mode: no TURN to hand out; STUN still lets open networks connect. */
    c->stun_only = 1;
    return KG_OK;
}

/* Step 2: the presigned URL, valid for KVSGATE_PRESIGN_EXPIRES_S and never past
 * the credentials that sign it; *expires_at_s gets its end. */
static enum kg_err conn_presign(struct api_request *req, const struct conn_parts *c, int64_t now,
                                struct kg_buf *url, int64_t *expires_at_s)
{
    const struct api_deps *d = req->deps;
    struct creds_snapshot *creds = creds_acquire(d->creds);
    if (!creds) {
        api_set_detail(req, "AWS credentials are not available");
        return KG_ERR_UNAVAILABLE;
    }
    int64_t expires = d->presign_expires_s;
    if (creds->expires_at_s && creds->expires_at_s - now < expires)
        expires = creds->expires_at_s - now;
    enum kg_err err = KG_OK;
    if (expires < 1) {
        api_set_detail(req, "AWS credentials are expiring; try again shortly");
        err = KG_ERR_UNAVAILABLE;
    } else {
        struct kvs_presign_input in = {
            .creds = &creds->sigv4,
            .region = d->region,
            .endpoint = c->ep->wss,
            .channel_arn = c->ch->arn,
            .client_id = c->client_id,
            .expires_s = expires,
            .now_epoch_s = now,
        };
        if (kvs_presign_url(&in, url) != KG_OK) {
            api_set_detail(req, "cannot sign the signaling URL");
            err = KG_ERR_INTERNAL;
        }
        *expires_at_s = now + expires;
        req->url_expires_at_s = *expires_at_s;
        if (c->client_id) { /* an id auth_derive_client_id made: it fits */
            size_t n = strnlen(c->client_id, sizeof req->signed_client_id - 1);
            memcpy(req->signed_client_id, c->client_id, n);
            req->signed_client_id[n] = '\0';
        }
    }
    creds_release(creds);
    return err;
}

/* Step 3: the ConnectionInfo body, in a secret buffer (it holds TURN
 * credentials and a signed URL: wiped when it grows and, once handed over,
 * when the response is freed: no_store). */
static enum kg_err conn_respond(struct api_request *req, const struct conn_parts *c, int64_t now,
                                const struct kg_buf *url, int64_t expires_at_s)
{
    const struct channels_ice *ice = c->ice;
    char stun_buf[KVS_URL_MAX + 1];
    const char *stun = req->deps->stun_url;
    if (!stun) {
        kvs_stun_url(req->deps->region, stun_buf);
        stun = stun_buf;
    }
    struct api_conninfo ci = {
        .role = c->role,
        .url = url->data,
        .url_len = url->len,
        .stun_url = stun,
        .ice = ice,
        .channel_name = c->ch->name,
        .channel_arn = c->ch->arn,
        .region = req->deps->region,
        .client_id = c->client_id,
        .expires_at_s = expires_at_s,
        .ice_expires_at_s = ice && ice->count && ice->expires_at_s > now ? ice->expires_at_s : now,
        .server_time_s = now,
        .storage_stream_arn = c->storage && c->storage->enabled ? c->storage->stream_arn : NULL,
    };
    struct kg_buf body;
    kg_buf_init_secret(&body, API_BODY_MAX);
    kg_buf_presize(&body, 2048); /* a ConnectionInfo is ~1.5 KB */
    if (api_connection_info_write(&body, &ci) != KG_OK) {
        kg_buf_free(&body);
        api_set_detail(req, "cannot encode the connection info");
        return KG_ERR_INTERNAL;
    }
    size_t len;
    char *text = kg_buf_take(&body, &len);
    req->resp.no_store = 1;
    api_json(req, 200, text, len);
    if (c->stun_only)
        api_add_header(req, "X-Kvsgate-Ice", "stun-only");
    return KG_OK;
}

static enum kg_err connection_info(struct api_request *req, enum kvs_role role,
                                   const char *client_id, int can_block)
{
    struct conn_parts c = {.role = role, .client_id = client_id};
    struct kg_buf url;
    kg_buf_init_secret(&url, SIGV4_MAX_STRING);
    kg_buf_presize(&url, 2048);
    int64_t now = 0, expires_at_s = 0;
    enum kg_err err = conn_lookup(req, can_block, &c);
    if (err == KG_OK) {
        now = api_now(req); /* after the lookups: they may have waited for AWS */
        err = conn_presign(req, &c, now, &url, &expires_at_s);
    }
    if (err == KG_OK)
        err = conn_respond(req, &c, now, &url, expires_at_s);
    conn_parts_release(&c);
    kg_buf_free(&url);
    return err;
}


enum kg_err api_connection_master(struct api_request *req, int can_block)
{
    return connection_info(req, KVS_ROLE_MASTER, NULL, can_block);
}

enum kg_err api_connection_viewer(struct api_request *req, int can_block)
{
    char client_id[AUTH_CLIENT_ID_MAX + 1];
    enum kg_err err = api_viewer_client_id(req, client_id);
    if (err != KG_OK)
        return err;
    return connection_info(req, KVS_ROLE_VIEWER, client_id, can_block);
}
