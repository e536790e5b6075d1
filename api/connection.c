/* The `connection` tag: what a MASTER or a VIEWER needs to join a channel.
 *
 * ConnectionInfo keeps the keys of the widely copied Express example
 * (`url`, `configuration`, `role`) so its front ends work unchanged, and adds
 * the channel, the region, the viewer's client id and two expiry times. The
 * URL is presigned for this request and never cached; the ICE servers are
 * KVS's TURN servers (urls/username/credential) after the region's STUN URL.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/authz.h"
#include "aws/presign.h"
#include "core/buf.h"
#include "core/mem.h"

/* iceServersExpireAt leaves this margin before the TURN credentials' end (the
 * ICE cache stops handing them out at the same point; KVS's C SDK refreshes 30 s
 * before expiry). */
#define ICE_MARGIN_S 30

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

/* The region's STUN entry, then KVS's TURN servers; ice may be NULL (degraded:
 * STUN only). */
static json_t *ice_servers_json(const char *region, const struct kvs_ice_config *ice)
{
    json_t *list = json_array();
    char stun[KVS_URL_MAX + 1];
    kvs_stun_url(region, stun);
    json_t *stun_entry = json_object();
    json_t *stun_urls = json_array();
    json_array_append_new(stun_urls, json_string(stun));
    json_object_set_new(stun_entry, "urls", stun_urls);
    json_array_append_new(list, stun_entry);
    for (size_t i = 0; ice && i < ice->count; i++) {
        const struct kvs_ice_server *s = &ice->servers[i];
        if (!s->uri_count)
            continue;
        json_t *e = json_object();
        json_t *urls = json_array();
        for (size_t k = 0; k < s->uri_count; k++)
            json_array_append_new(urls, json_string(s->uris[k]));
        json_object_set_new(e, "urls", urls);
        json_object_set_new(e, "username", json_string(s->username ? s->username : ""));
        json_object_set_new(e, "credential", json_string(s->password ? s->password : ""));
        json_array_append_new(list, e);
    }
    return list;
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
    const struct kvs_channel *ch = cache_ref_value(ch_ref);
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
    const struct kvs_endpoints *ep = cache_ref_value(ep_ref);
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

    const struct kvs_ice_config *ice = ice_ref ? cache_ref_value(ice_ref) : NULL;
    char expires_at[KG_ISO8601_LEN + 1], ice_expires_at[KG_ISO8601_LEN + 1];
    api_format_time(now + expires, expires_at);
    int64_t ice_until = ice && ice->count ? ice->fetched_at_s + ice->min_ttl_s - ICE_MARGIN_S : now;
    if (ice_until < now)
        ice_until = now;
    api_format_time(ice_until, ice_expires_at);

    json_t *configuration = json_object();
    json_object_set_new(configuration, "iceServers", ice_servers_json(d->region, ice));
    json_object_set_new(configuration, "iceTransportPolicy", json_string("all"));
    json_t *o = json_object();
    json_object_set_new(o, "role", json_string(role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER"));
    json_object_set_new(o, "url", json_stringn(url.data, url.len));
    json_object_set_new(o, "configuration", configuration);
    json_object_set_new(o, "channelName", json_string(ch->name));
    json_object_set_new(o, "channelArn", json_string(ch->arn));
    json_object_set_new(o, "region", json_string(d->region));
    json_object_set_new(o, "clientId", client_id ? json_string(client_id) : json_null());
    json_object_set_new(o, "expiresAt", json_string(expires_at));
    json_object_set_new(o, "iceServersExpireAt", json_string(ice_expires_at));
    size_t len;
    char *body = api_dump_json(o, &len);
    req->resp.no_store = 1;
    api_json(req, 200, body, len);
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

static enum kg_err check_name(struct api_request *req)
{
    if (api_channel_name_ok(req->channel))
        return KG_OK;
    api_set_detail(req, "a channel name is 1 to 256 of A-Z a-z 0-9 _ . - (not . or ..)");
    return KG_ERR_INVALID_CHANNEL_NAME;
}

enum kg_err api_connection_master(struct api_request *req, int can_block)
{
    enum kg_err err = check_name(req);
    if (err != KG_OK)
        return err;
    req->role = "MASTER";
    if (!authz_allows(&req->principal, AUTHZ_PERM_MASTER, req->channel)) {
        api_set_detail(req, "the token does not grant master on this channel");
        return KG_ERR_FORBIDDEN;
    }
    return connection_info(req, KVS_ROLE_MASTER, NULL, can_block);
}

enum kg_err api_connection_viewer(struct api_request *req, int can_block)
{
    enum kg_err err = check_name(req);
    if (err != KG_OK)
        return err;
    req->role = "VIEWER";
    if (!authz_allows(&req->principal, AUTHZ_PERM_VIEWER, req->channel)) {
        api_set_detail(req, "the token does not grant viewer on this channel");
        return KG_ERR_FORBIDDEN;
    }
    char client_id[AUTH_CLIENT_ID_MAX + 1];
    err = authz_viewer_client_id(&req->principal, req->q_client_id, client_id);
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
