/* kvsgate: helpers shared by the api/ handler files (not a public interface). */
#ifndef KG_API_INTERNAL_H
#define KG_API_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "api/api.h"
#include "core/buf.h"
#include "core/timeutil.h"

/* Largest response body a handler writes itself (a ConnectionInfo is ~1.5 KB). */
#define API_BODY_MAX (256 * 1024)

/* Largest problem+json body: every member a caller can influence is cut to its
 * share of it (api_problem_write). */
#define API_PROBLEM_MAX 2048

/* Writes the problem+json body for err (type, title, status, detail, code,
 * requestId, instance) into out: at most API_PROBLEM_MAX bytes whatever detail,
 * request_id and instance hold (each escaped, cut with "..." past its share;
 * instance left out unless valid UTF-8). Exposed for the fuzz target. */
KG_WARN_UNUSED enum kg_err api_problem_write(struct kg_buf *out, enum kg_err err,
                                             const char *detail, const char *request_id,
                                             const char *instance);

/* What a ConnectionInfo body says. */
struct api_conninfo {
    enum kvs_role role;
    const char *url; /* the presigned URL */
    size_t url_len;
    const char *stun_url;
    const struct channels_ice *ice; /* NULL: STUN only */
    const char *channel_name;
    const char *channel_arn;
    const char *region;
    const char *client_id; /* NULL for a master */
    int64_t expires_at_s;
    int64_t ice_expires_at_s;
    int64_t server_time_s; /* the clock expires_at_s was reckoned on (serverTime) */
    const char *storage_stream_arn; /* the channel records into it; NULL: it does not (or
                                       that is not known) */
};

/* Appends the ConnectionInfo JSON object to out (a secret buffer: it holds the
 * URL and TURN passwords). Fails cleanly, out as it was, when a string is not
 * UTF-8 (KG_ERR_BAD_REQUEST) or out's maximum is reached
 * (KG_ERR_PAYLOAD_TOO_LARGE). Exposed for the fuzz target. */
KG_WARN_UNUSED enum kg_err api_connection_info_write(struct kg_buf *out,
                                                     const struct api_conninfo *ci);

/* Serializes obj compactly and drops the reference (obj is a new reference). */
char *api_dump_json(json_t *obj, size_t *len);
int64_t api_now(const struct api_request *req);
/* KVS's channel-name rule, minus "." and "..". */
int api_channel_name_ok(const char *name);
/* KG_OK, or KG_ERR_INVALID_CHANNEL_NAME with req->detail set, for req->channel. */
enum kg_err api_check_channel_name(struct api_request *req);
void api_format_time(int64_t epoch_s, char out[KG_ISO8601_LEN + 1]);
/* The Channel schema of openapi.yaml (new reference). */
json_t *api_channel_json(const struct channels_channel *ch);
/* Keeps the weakest cache outcome seen for the access log (req->cache):
 * stale > miss > joined > hit. */
void api_note_cache(struct api_request *req, enum cache_outcome how);

/* The viewer's client id for this request (authz_viewer_client_id on the
 * clientId query parameter), or KG_ERR_INVALID_CLIENT_ID / KG_ERR_FORBIDDEN
 * with req->detail set: one rule for connection info and storage joins. */
KG_WARN_UNUSED enum kg_err api_viewer_client_id(struct api_request *req,
                                                char out[AUTH_CLIENT_ID_MAX + 1]);

/* KVSGATE_OWNER_POLICY=owner: the caller may change or delete the channel
 * (it is the subject of its kvsgate:owner tag, or is granted manageAny).
 * KG_OK, KG_ERR_FORBIDDEN with req->detail, or the AWS error. */
KG_WARN_UNUSED enum kg_err api_check_owner(struct api_request *req, const char *arn);

/* KVS's tag character set, ASCII part, and a length of min..max bytes. */
int api_tag_text_ok(const char *s, size_t min, size_t max);

#define API_USER_TAGS_MAX 49 /* KVS allows 50 tags, one is the owner's */

/* The optional body of PUT /v1/channels/{name}. */
struct api_create_body {
    int message_ttl_s; /* 0: KVS's default */
    struct kvs_tag tags[API_USER_TAGS_MAX + 1]; /* one slot left for the owner tag */
    size_t tag_count;
    json_t *root; /* owns the tag strings; json_decref it in every case */
};

/* Parses req->body[0..body_len) (empty: all defaults) into out. On failure
 * KG_ERR_BAD_REQUEST with req->detail set. Exposed for the fuzz target. */
KG_WARN_UNUSED enum kg_err api_channels_parse_body(struct api_request *req,
                                                   struct api_create_body *out);

/* The body of PUT /v1/channels/{name}/media-storage: {"enabled": true,
 * "streamArn" | "streamName": ...} or {"enabled": false}, nothing else. */
struct api_storage_body {
    int enabled;
    const char *stream_arn, *stream_name; /* borrowed from root; exactly one when enabled */
    json_t *root;                         /* json_decref it in every case */
};

/* Parses req->body into out. KG_ERR_BAD_REQUEST with req->detail set when it
 * does not hold. Exposed for the fuzz target. */
KG_WARN_UNUSED enum kg_err api_storage_parse_body(struct api_request *req,
                                                  struct api_storage_body *out);

#endif
