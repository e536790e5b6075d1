/* The `connection` tag: what a MASTER or a VIEWER needs to join a channel.
 *
 * ConnectionInfo keeps the keys of the widely copied Express example
 * (`url`, `configuration`, `role`) so its front ends work unchanged, and adds
 * the channel, the region, the viewer's client id and two expiry times. The
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
    api_format_time(ci->expires_at_s, expires_at);
    api_format_time(ci->ice_expires_at_s, ice_expires_at);
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
        err = kg_buf_append_char(body, '}');
    if (err != KG_OK)
        kg_buf_truncate(body, start);
    return err;
}

static const char *outcome_name(enum cache_outcome how)
{
    switch (how) {
    case CACHE_HIT:
        return "hit";
    case CACHE_STALE:
        return "stale";
    case CACHE_JOINED:
        return "joined";
    case CACHE_MISS:
        break;
    }
    return "miss";
}

/* Keeps the weakest outcome seen for the access log: stale > miss > joined > hit. */
static void note_outcome(struct api_request *req, enum cache_outcome how)
{
    static const char *const order[] = {"hit", "joined", "miss", "stale"};
    const char *name = outcome_name(how);
    int cur = -1, next = 0;
    for (int i = 0; i < 4; i++) {
        if (req->cache && strcmp(req->cache, order[i]) == 0)
            cur = i;
        if (strcmp(name, order[i]) == 0)
            next = i;
    }
    if (next > cur)
        req->cache = order[next];
}

static enum kg_err connection_info(struct api_request *req, enum kvs_role role,
                                   const char *client_id, int can_block)
{
    const struct api_deps *d = req->deps;
    struct cache_ref *ch_ref = NULL, *ep_ref = NULL, *ice_ref = NULL;
    struct creds_snapshot *creds = NULL;
    struct kg_buf url;
    kg_buf_init_secret(&url, SIGV4_MAX_STRING);
    enum cache_outcome how = CACHE_HIT;
    int stun_only = 0;

    enum kg_err err = channels_describe(d->channels, &req->call, req->channel, can_block, &ch_ref,
                                        &how);
    if (err != KG_OK)
        goto cleanup;
    note_outcome(req, how);
    const struct channels_channel *ch = cache_ref_value(ch_ref);
    if (strcmp(ch->status, "ACTIVE") != 0) {
        api_set_detail(req, "the channel is not ACTIVE yet");
        err = KG_ERR_CHANNEL_NOT_ACTIVE;
        goto cleanup;
    }
    err = channels_endpoints(d->channels, &req->call, req->channel, ch->arn, role, can_block,
                             &ep_ref, &how);
    if (err != KG_OK)
        goto cleanup;
    note_outcome(req, how);
    const struct channels_endpoints *ep = cache_ref_value(ep_ref);
    if (!endpoint_scheme_ok(req, ep->wss, "wss", "ws") ||
        !endpoint_scheme_ok(req, ep->https, "https", "http")) {
        api_set_detail(req, "AWS returned an endpoint that is not wss:// or https://");
        err = KG_ERR_UPSTREAM_REFUSED;
        goto cleanup;
    }
    err = channels_ice(d->channels, &req->call, req->channel, ep->https, ch->arn, role, client_id,
                       can_block, &ice_ref, &how);
    if (err == KG_ERR_WOULD_BLOCK || err == KG_ERR_CHANNEL_NOT_FOUND)
        goto cleanup;
    if (err != KG_OK) {
        if (!d->ice_fallback_stun_only || !kg_err_is_transient(err))
            goto cleanup;
        /* Degraded mode: no TURN to hand out; STUN still lets open networks connect. */
        stun_only = 1;
        err = KG_OK;
    } else {
        note_outcome(req, how);
    }

    creds = creds_acquire(d->creds);
    if (!creds) {
        api_set_detail(req, "AWS credentials are not available");
        err = KG_ERR_UNAVAILABLE;
        goto cleanup;
    }
    int64_t now = api_now(req);
    int64_t expires = d->presign_expires_s;
    if (creds->expires_at_s && creds->expires_at_s - now < expires)
        expires = creds->expires_at_s - now; /* never past the credentials */
    if (expires < 1) {
        api_set_detail(req, "AWS credentials are expiring; try again shortly");
        err = KG_ERR_UNAVAILABLE;
        goto cleanup;
    }
    struct kvs_presign_input in = {
        .creds = &creds->sigv4,
        .region = d->region,
        .endpoint = ep->wss,
        .channel_arn = ch->arn,
        .client_id = client_id,
        .expires_s = expires,
        .now_epoch_s = now,
    };
    err = kvs_presign_url(&in, &url);
    if (err != KG_OK) {
        api_set_detail(req, "cannot sign the signaling URL");
        err = KG_ERR_INTERNAL;
        goto cleanup;
    }

    const struct channels_ice *ice = ice_ref ? cache_ref_value(ice_ref) : NULL;
    char stun[KVS_URL_MAX + 1];
    kvs_stun_url(d->region, stun);
    struct api_conninfo ci = {
        .role = role,
        .url = url.data,
        .url_len = url.len,
        .stun_url = stun,
        .ice = ice,
        .channel_name = ch->name,
        .channel_arn = ch->arn,
        .region = d->region,
        .client_id = client_id,
        .expires_at_s = now + expires,
        .ice_expires_at_s = ice && ice->count && ice->expires_at_s > now ? ice->expires_at_s : now,
    };
    /* It holds TURN credentials and a signed URL: a secret buffer, wiped when
     * it grows and, once handed over, when the request ends (no_store). */
    struct kg_buf body;
    kg_buf_init_secret(&body, API_BODY_MAX);
    err = api_connection_info_write(&body, &ci);
    if (err != KG_OK) {
        kg_buf_free(&body);
        api_set_detail(req, "cannot encode the connection info");
        err = KG_ERR_INTERNAL;
        goto cleanup;
    }
    size_t len;
    char *text = kg_buf_take(&body, &len);
    req->resp.no_store = 1;
    api_json(req, 200, text, len);
    if (stun_only)
        api_add_header(req, "X-Kvsgate-Ice", "stun-only");

cleanup:
    if (creds)
        creds_release(creds);
    if (ch_ref)
        cache_ref_release(ch_ref);
    if (ep_ref)
        cache_ref_release(ep_ref);
    if (ice_ref)
        cache_ref_release(ice_ref);
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
    enum kg_err err =
        authz_viewer_client_id(&req->principal, api_query(req, "clientId"), client_id);
    if (err == KG_ERR_INVALID_CLIENT_ID) {
        api_set_detail(req, "clientId must be 1..256 of A-Z a-z 0-9 _ . - and not start with AWS_");
        return err;
    }
    if (err != KG_OK) {
        api_set_detail(req, "clientId must be the caller's own id, optionally with a .suffix");
        return err;
    }
    return connection_info(req, KVS_ROLE_VIEWER, client_id, can_block);
}
