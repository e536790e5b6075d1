/* The `channels` tag: create (idempotent), describe, list, delete.
 *
 * Existence is decided by DescribeSignalingChannel, never by a BEGINS_WITH list
 * (a prefix list also returns longer names). Create tags the channel with its
 * creator (kvsgate:owner, auth_owner_id); under the owner policy (the default)
 * only that subject, or a caller granted manageAny, deletes it or gets it
 * back from a PUT. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/authz.h"
#include "core/mem.h"
#include "core/num.h"

#define OWNER_TAG "kvsgate:owner"
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 100

json_t *api_channel_json(const struct channels_channel *ch)
{
    char created[KG_ISO8601_LEN + 1];
    api_format_time(ch->creation_time_s, created);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(ch->name));
    json_object_set_new(o, "arn", json_string(ch->arn));
    json_object_set_new(o, "status", json_string(ch->status[0] ? ch->status : "ACTIVE"));
    json_object_set_new(o, "type", json_string(ch->type[0] ? ch->type : "SINGLE_MASTER"));
    json_object_set_new(o, "createdAt", json_string(created));
    json_object_set_new(o, "messageTtlSeconds",
                        ch->message_ttl_s ? json_integer(ch->message_ttl_s) : json_null());
    json_object_set_new(o, "version", json_string(ch->version));
    return o;
}

/* KVSGATE_OWNER_POLICY=owner: deleting a channel, changing its media storage,
 * or a PUT that finds it already there, is for the subject its kvsgate:owner
 * tag names, or a caller granted manageAny (claim) or kvs:admin (scope). A
 * channel without the tag (made outside kvsgate) has no owner here. */
enum kg_err api_check_owner(struct api_request *req, const char *arn)
{
    if (req->deps->owner_policy_any || req->principal.grants.manage_any)
        return KG_OK;
    struct kvs_tag_list tags;
    enum kg_err err = kvs_list_tags(req->deps->kvs, &req->call, arn, &tags);
    if (err != KG_OK)
        return err;
    int mine = 0;
    for (size_t i = 0; i < tags.count; i++)
        if (strcmp(tags.tags[i].key, OWNER_TAG) == 0 &&
            strcmp(tags.tags[i].value, req->principal.owner_id) == 0)
            mine = 1;
    kvs_tag_list_cleanup(&tags);
    if (mine)
        return KG_OK;
    api_set_detail(req, "the channel belongs to another subject; that needs manageAny or the "
                        "kvs:admin scope");
    return KG_ERR_FORBIDDEN;
}

static void respond_channel(struct api_request *req, int status, const struct kvs_channel *ch)
{
    struct channels_channel view;
    channels_channel_view(ch, &view);
    size_t len;
    char *body = api_dump_json(api_channel_json(&view), &len);
    api_json(req, status, body, len);
}


/* KVS's tag character set, ASCII part: letters, digits, spaces and _.:/=+-@.
 * Non-ASCII letters are left for KVS to judge (its InvalidArgument is a 400). */
int api_tag_text_ok(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x80 && !kg_kvs_tag_ascii_char(*p))
            return 0;
    return 1;
}

enum kg_err api_channels_parse_body(struct api_request *req, struct api_create_body *out)
{
    memset(out, 0, sizeof *out);
    if (req->body_len == 0)
        return KG_OK;
    json_error_t jerr;
    out->root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!out->root || !json_is_object(out->root)) {
        api_set_detail(req, "the body must be a JSON object");
        return KG_ERR_BAD_REQUEST;
    }
    const char *key;
    json_t *value;
    json_object_foreach(out->root, key, value)
    {
        if (strcmp(key, "messageTtlSeconds") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 5 ||
                json_integer_value(value) > 120) {
                api_set_detail(req, "messageTtlSeconds must be an integer from 5 to 120");
                return KG_ERR_BAD_REQUEST;
            }
            out->message_ttl_s = (int)json_integer_value(value);
        } else if (strcmp(key, "tags") == 0) {
            if (!json_is_object(value) || json_object_size(value) > API_USER_TAGS_MAX) {
                api_set_detail(req, "tags must be an object of at most 49 string values");
                return KG_ERR_BAD_REQUEST;
            }
            const char *tk;
            json_t *tv;
            json_object_foreach(value, tk, tv)
            {
                if (!json_is_string(tv) || !api_tag_text_ok(tk, 1, 128) ||
                    !api_tag_text_ok(json_string_value(tv), 0, 256)) {
                    api_set_detail(req, "a tag key is 1..128 and a value 0..256 of letters, "
                                        "digits, spaces and _.:/=+-@");
                    return KG_ERR_BAD_REQUEST;
                }
                if (strncmp(tk, "kvsgate:", 8) == 0 || strncmp(tk, "aws:", 4) == 0) {
                    api_set_detail(req, "tag keys starting with kvsgate: or aws: are reserved");
                    return KG_ERR_BAD_REQUEST;
                }
                out->tags[out->tag_count].key = tk;
                out->tags[out->tag_count].value = json_string_value(tv);
                out->tag_count++;
            }
        } else {
            api_set_detail(req, "unknown field in the body (allowed: messageTtlSeconds, tags)");
            return KG_ERR_BAD_REQUEST;
        }
    }
    return KG_OK;
}

enum kg_err api_channels_put(struct api_request *req, int can_block)
{
    (void)can_block; /* always on a worker (routes.c) */
    struct api_create_body body;
    enum kg_err err = api_channels_parse_body(req, &body);
    if (err != KG_OK) {
        json_decref(body.root);
        return err;
    }

    struct kvs_channel ch;
    err = kvs_describe_channel(req->deps->kvs, &req->call, req->channel, NULL, &ch);
    if (err == KG_OK) {
        err = api_check_owner(req, ch.arn);
        if (err == KG_OK)
            respond_channel(req, 200, &ch);
        goto cleanup;
    }
    if (err != KG_ERR_CHANNEL_NOT_FOUND)
        goto cleanup;

    const char *owner = req->principal.owner_id;
    body.tags[body.tag_count].key = OWNER_TAG;
    body.tags[body.tag_count].value = owner;
    char arn[KVS_ARN_MAX + 1];
    err = kvs_create_channel(req->deps->kvs, &req->call, req->channel, body.message_ttl_s,
                             body.tags, body.tag_count + 1, arn);
    if (err == KG_ERR_CHANNEL_NOT_ACTIVE) {
        /* Someone created it meanwhile, or it is being deleted: Describe decides. */
        err = kvs_describe_channel(req->deps->kvs, &req->call, req->channel, NULL, &ch);
        if (err == KG_OK)
            err = api_check_owner(req, ch.arn);
        if (err == KG_OK)
            respond_channel(req, 200, &ch);
        else if (err == KG_ERR_CHANNEL_NOT_FOUND) {
            api_set_detail(req, "the channel is being deleted; try again shortly");
            err = KG_ERR_CHANNEL_NOT_ACTIVE;
        }
        goto cleanup;
    }
    if (err != KG_OK)
        goto cleanup;
    /* A name cached from before (deleted elsewhere) and every list page are out of date. */
    channels_forget(req->deps->channels, req->channel, NULL);
    err = kvs_describe_channel(req->deps->kvs, &req->call, NULL, arn, &ch);
    if (err != KG_OK) {
        /* Created, but not describable yet: answer with what we know. */
        memset(&ch, 0, sizeof ch);
        snprintf(ch.name, sizeof ch.name, "%s", req->channel);
        snprintf(ch.arn, sizeof ch.arn, "%s", arn);
        snprintf(ch.status, sizeof ch.status, "CREATING");
        ch.creation_time_s = api_now(req);
        ch.message_ttl_s = body.message_ttl_s;
        err = KG_OK;
    }
    char location[KVS_NAME_MAX + 16];
    snprintf(location, sizeof location, "/v1/channels/%s", req->channel);
    respond_channel(req, 201, &ch);
    api_add_header(req, "Location", location);
cleanup:
    json_decref(body.root);
    return err;
}

enum kg_err api_channels_get(struct api_request *req, int can_block)
{
    (void)can_block;
    struct cache_ref *ref;
    enum cache_outcome how = CACHE_MISS;
    enum kg_err err = channels_describe_now(req->deps->channels, &req->call, req->channel, &ref, &how);
    if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget_known(req->deps->channels, req->channel);
    if (err != KG_OK)
        return err;
    api_note_cache(req, how);
    size_t len;
    char *body = api_dump_json(api_channel_json(cache_ref_value(ref)), &len);
    cache_ref_release(ref);
    api_json(req, 200, body, len);
    return KG_OK;
}

enum kg_err api_channels_delete(struct api_request *req, int can_block)
{
    (void)can_block;
    struct kvs_channel ch;
    enum kg_err err = kvs_describe_channel(req->deps->kvs, &req->call, req->channel, NULL, &ch);
    if (err == KG_OK)
        err = api_check_owner(req, ch.arn);
    if (err == KG_OK)
        err = kvs_delete_channel(req->deps->kvs, &req->call, ch.arn, NULL);
    if (err == KG_OK)
        channels_forget(req->deps->channels, req->channel, ch.arn);
    else if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget_known(req->deps->channels, req->channel);
    if (err == KG_OK)
        api_empty(req, 204);
    return err;
}

enum kg_err api_channels_list(struct api_request *req, int can_block)
{
    (void)can_block;
    const char *prefix = api_query(req, "prefix"), *limit_text = api_query(req, "limit");
    const char *next_token = api_query(req, "nextToken");
    if (prefix && !kg_kvs_channel_name_valid(prefix)) {
        api_set_detail(req, "prefix must be 1..256 of A-Z a-z 0-9 _ . -");
        return KG_ERR_INVALID_CHANNEL_NAME;
    }
    int64_t limit = LIST_LIMIT_DEFAULT;
    if (limit_text && !kg_parse_int64(limit_text, 1, LIST_LIMIT_MAX, &limit)) {
        api_set_detail(req, "limit must be an integer from 1 to 100");
        return KG_ERR_BAD_REQUEST;
    }
    if (next_token && (!next_token[0] || !kg_kvs_token_valid(next_token, KG_KVS_NEXT_TOKEN_MAX))) {
        api_set_detail(req, "nextToken must be the value a previous page returned");
        return KG_ERR_BAD_REQUEST;
    }
    if (req->principal.grants.counts[AUTHZ_PERM_MANAGE] == 0) {
        api_set_detail(req, "the token grants no channel to manage");
        return KG_ERR_FORBIDDEN;
    }

    struct cache_ref *ref;
    enum cache_outcome how = CACHE_MISS;
    enum kg_err err = channels_list(req->deps->channels, &req->call, prefix, (int)limit,
                                    next_token, &ref, &how);
    if (err != KG_OK)
        return err;
    api_note_cache(req, how);
    const struct channels_list *page = cache_ref_value(ref);
    json_t *list = json_array();
    for (size_t i = 0; i < page->count; i++)
        if (authz_allows(&req->principal, AUTHZ_PERM_MANAGE, page->channels[i].name))
            json_array_append_new(list, api_channel_json(&page->channels[i]));
    json_t *o = json_object();
    json_object_set_new(o, "channels", list);
    json_object_set_new(o, "nextToken",
                        page->next_token[0] ? json_string(page->next_token) : json_null());
    cache_ref_release(ref);
    size_t len;
    char *body = api_dump_json(o, &len);
    api_json(req, 200, body, len);
    return KG_OK;
}
