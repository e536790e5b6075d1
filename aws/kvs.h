/* kvsgate: the KVS control-plane and signaling-channel client.
 *
 * Control plane: POST https://kinesisvideo.{region}.{domain}/{operation} with a
 * JSON body, SigV4 header-signed (service kinesisvideo, payload hashed, the
 * session token sent and signed as x-amz-security-token). {domain} is
 * amazonaws.com, or amazonaws.com.cn for cn-* regions; `endpoint` overrides
 * the whole base URL (tests, VPC endpoints).
 * ICE: POST {channel HTTPS endpoint}/v1/get-ice-server-config.
 * WebRTC ingestion (kvs_storage.c): POST {channel WEBRTC endpoint}/joinStorageSession
 * and /joinStorageSessionAsViewer (service kinesis-video-webrtc-storage, signing
 * name kinesisvideo); media storage and streams on the control plane.
 *
 * AWS errors are read from the status, x-amzn-ErrorType and the JSON (or XML)
 * body and mapped to the project's enum:
 *   ResourceNotFoundException            -> KG_ERR_CHANNEL_NOT_FOUND
 *   ResourceInUseException, VersionMismatchException
 *                                        -> KG_ERR_CHANNEL_NOT_ACTIVE
 *   NoDataRetentionException             -> KG_ERR_NO_DATA_RETENTION
 *   InvalidArgumentException, ValidationException, TagsPerResourceExceededLimit,
 *   InvalidClientException               -> KG_ERR_BAD_REQUEST
 *   ClientLimitExceededException, ThrottlingException, 429
 *                                        -> KG_ERR_UPSTREAM_THROTTLED
 *   AccessDenied*, NotAuthorized*, UnrecognizedClient*, InvalidSignature*,
 *   SignatureDoesNotMatch, ExpiredToken*, AccountChannelLimitExceeded,
 *   other 4xx, unreadable replies        -> KG_ERR_UPSTREAM_REFUSED
 *   5xx, connection failures             -> KG_ERR_UPSTREAM_UNAVAILABLE
 *   timeouts, deadline passed            -> KG_ERR_UPSTREAM_TIMEOUT
 *   no credentials (none loaded, or lapsed) -> KG_ERR_UNAVAILABLE (no call made)
 * and the AWS error type is kept in kvs_call.error_type for logs. An
 * ExpiredToken asks the credentials provider to refresh.
 *
 * Retries: throttling, 5xx, connection failures and timeouts are retried with
 * exponential backoff and full jitter (delay = random(0, min(cap, base * 2^n))),
 * never past the call's deadline; other 4xx are not retried.
 *
 * Budgets (aws/budget.h, optional): every attempt, retries included, first
 * takes from its operation's budget (and its channel's: the request's
 * ChannelName, ChannelARN, ResourceARN, StreamName or StreamARN). A call over
 * budget is not sent: KG_ERR_UPSTREAM_BUDGET (429) with error type
 * kvsgate.BudgetExceeded and retry_after_s (a retry over budget returns the
 * last answer instead). A throttle from AWS shrinks the budget.
 *
 * Upstream calls are counted in the metrics kvsgate_upstream_calls_total
 * {operation,outcome} and kvsgate_upstream_duration_seconds{operation}, and in
 * kvs_call.upstream_calls. Thread-safe; calls block (run them off the HTTP
 * threads). Nothing secret is logged: never a credential, signature, TURN
 * password or request body.
 */
#ifndef KG_AWS_KVS_H
#define KG_AWS_KVS_H

#include <stddef.h>
#include <stdint.h>

#include "aws/credentials.h"
#include "aws/endpoints.h"
#include "core/err.h"
#include "core/kvsname.h"
#include "core/http.h"

#define KVS_NAME_MAX KG_KVS_NAME_MAX
#define KVS_REGION_MAX KG_KVS_REGION_MAX
#define KVS_ARN_MAX 1024
#define KVS_CLIENT_ID_MAX KG_KVS_CLIENT_ID_MAX
#define KVS_URL_MAX 1024
#define KVS_ICE_SERVERS_MAX 8
#define KVS_ICE_URIS_MAX 8

enum kvs_role { KVS_ROLE_MASTER = 0, KVS_ROLE_VIEWER = 1 };

struct kvs_retry_policy {
    int max_attempts;      /* including the first; 0: 3 */
    int64_t base_delay_ms; /* 0: 50 */
    int64_t max_delay_ms;  /* 0: 1000 */
};

struct kvs_client_options {
    struct kg_http_client *http;   /* required */
    struct creds_provider *creds;  /* required */
    const char *region;            /* required */
    const char *endpoint;          /* NULL: the region's (aws/endpoints.h, with mode) */
    struct aws_endpoint_mode mode; /* FIPS, dual-stack */
    int64_t connect_timeout_ms;    /* 0: 2000 */
    int64_t call_timeout_ms;       /* one attempt; 0: 5000 */
    struct kvs_retry_policy retry;
    int64_t (*now_fn)(void);       /* NULL: kg_aws_now_s (signing time) */
    struct budget *budget;         /* NULL: none; else outlives the client (aws/budget.h) */
};

/* Per-call context. deadline_ms is absolute on kg_mono_ms()'s clock (0: now +
 * call_timeout_ms * max_attempts); out fields are filled by the call. */
struct kvs_call {
    int64_t deadline_ms;
    const char *request_id; /* for log lines; may be NULL */
    /* out */
    int upstream_calls;     /* HTTP attempts made, cumulative across calls */
    int retries;            /* cumulative */
    char error_type[96];    /* AWS error type of the last failure, or "" */
    int64_t retry_after_s;  /* hint for 429/503 answers, 0 when none */
};

struct budget;

struct kvs_tag {
    const char *key;
    const char *value;
};

struct kvs_channel {
    char name[KVS_NAME_MAX + 1];
    char arn[KVS_ARN_MAX + 1];
    char type[32];   /* SINGLE_MASTER */
    char status[16]; /* CREATING | ACTIVE | UPDATING | DELETING */
    char version[65];
    int64_t creation_time_s;
    int message_ttl_s; /* 0 when absent */
};

struct kvs_channel_page {
    struct kvs_channel *channels; /* owned */
    size_t count;
    char next_token[513]; /* "" at the end */
};

struct kvs_endpoints {
    char wss[KVS_URL_MAX + 1];
    char https[KVS_URL_MAX + 1];
};

struct kvs_ice_server {
    char *uris[KVS_ICE_URIS_MAX]; /* owned */
    size_t uri_count;
    char *username; /* owned */
    char *password; /* owned, secret: wiped by kvs_ice_config_cleanup */
    int ttl_s;
};

struct kvs_ice_config {
    struct kvs_ice_server servers[KVS_ICE_SERVERS_MAX];
    size_t count;
    int64_t fetched_at_s; /* wall clock when fetched */
    int min_ttl_s;        /* smallest Ttl of the list */
};

/* DescribeMediaStorageConfiguration's answer. */
struct kvs_media_storage {
    int enabled;                      /* Status ENABLED */
    char stream_arn[KVS_ARN_MAX + 1]; /* "" when none */
};

/* DescribeStream's StreamInfo, what kvsgate needs of it. */
struct kvs_stream {
    char name[KVS_NAME_MAX + 1];
    char arn[KVS_ARN_MAX + 1];
    char status[16];             /* CREATING | ACTIVE | UPDATING | DELETING */
    int64_t retention_hours;     /* DataRetentionInHours; 0 keeps nothing */
};

struct kvs_tag_list {
    struct kvs_tag *tags; /* owned strings */
    size_t count;
};

struct kvs_client;

KG_WARN_UNUSED enum kg_err kvs_client_new(const struct kvs_client_options *opts,
                                          struct kvs_client **out);
void kvs_client_free(struct kvs_client *c);

/* The region's partition's DNS suffix (aws/endpoints.h; "amazonaws.com" for
 * a region of no known partition). Names, ids and regions are checked with
 * core/kvsname.h. */
const char *kvs_region_domain(const char *region);

/* CreateSignalingChannel (SINGLE_MASTER). message_ttl_s 0: KVS's default (60);
 * else 5..120. arn_out gets the new ARN. An existing name answers
 * KG_ERR_CHANNEL_NOT_ACTIVE (ResourceInUse): decide existence with describe. */
KG_WARN_UNUSED enum kg_err kvs_create_channel(struct kvs_client *c, struct kvs_call *call,
                                              const char *name, int message_ttl_s,
                                              const struct kvs_tag *tags, size_t tag_count,
                                              char arn_out[KVS_ARN_MAX + 1]);
/* DescribeSignalingChannel by name (arn NULL) or by ARN (name NULL). */
KG_WARN_UNUSED enum kg_err kvs_describe_channel(struct kvs_client *c, struct kvs_call *call,
                                                const char *name, const char *arn,
                                                struct kvs_channel *out);
/* ListSignalingChannels; prefix NULL or "" lists all (BEGINS_WITH otherwise);
 * max_results 1..10000; next_token NULL or "" starts at the beginning. */
KG_WARN_UNUSED enum kg_err kvs_list_channels(struct kvs_client *c, struct kvs_call *call,
                                             const char *prefix, int max_results,
                                             const char *next_token,
                                             struct kvs_channel_page *out);
void kvs_channel_page_cleanup(struct kvs_channel_page *page);
/* DeleteSignalingChannel; version NULL deletes the latest. */
KG_WARN_UNUSED enum kg_err kvs_delete_channel(struct kvs_client *c, struct kvs_call *call,
                                              const char *arn, const char *version);
/* GetSignalingChannelEndpoint with Protocols [WSS, HTTPS] for the role. */
KG_WARN_UNUSED enum kg_err kvs_get_endpoints(struct kvs_client *c, struct kvs_call *call,
                                             const char *arn, enum kvs_role role,
                                             struct kvs_endpoints *out);
/* GetIceServerConfig on the channel's HTTPS endpoint; client_id NULL for a
 * master (KVS then uses its own), else the viewer's. */
KG_WARN_UNUSED enum kg_err kvs_get_ice_config(struct kvs_client *c, struct kvs_call *call,
                                              const char *https_endpoint, const char *arn,
                                              const char *client_id, struct kvs_ice_config *out);
void kvs_ice_config_cleanup(struct kvs_ice_config *cfg);

KG_WARN_UNUSED enum kg_err kvs_tag_resource(struct kvs_client *c, struct kvs_call *call,
                                            const char *arn, const struct kvs_tag *tags,
                                            size_t tag_count);
/* ListTagsForResource, every page. */
KG_WARN_UNUSED enum kg_err kvs_list_tags(struct kvs_client *c, struct kvs_call *call,
                                         const char *arn, struct kvs_tag_list *out);
void kvs_tag_list_cleanup(struct kvs_tag_list *list);

/* ---- WebRTC ingestion (kvs_storage.c) ---- */

/* 0 in the regions without WebRTC ingestion (China, cn-*). */
int kvs_region_has_storage(const char *region);
/* DescribeMediaStorageConfiguration of the channel (by ARN). */
KG_WARN_UNUSED enum kg_err kvs_describe_media_storage(struct kvs_client *c, struct kvs_call *call,
                                                      const char *arn,
                                                      struct kvs_media_storage *out);
/* UpdateMediaStorageConfiguration: ENABLED into stream_arn, or DISABLED
 * (stream_arn NULL). */
KG_WARN_UNUSED enum kg_err kvs_update_media_storage(struct kvs_client *c, struct kvs_call *call,
                                                    const char *arn, int enabled,
                                                    const char *stream_arn);
/* DescribeStream by name (arn NULL) or by ARN (name NULL). A missing stream
 * is KG_ERR_STREAM_NOT_FOUND. */
KG_WARN_UNUSED enum kg_err kvs_describe_stream(struct kvs_client *c, struct kvs_call *call,
                                               const char *name, const char *arn,
                                               struct kvs_stream *out);
/* GetSignalingChannelEndpoint with Protocols [WEBRTC] for the role: the
 * storage session's endpoint (KVS refuses it, InvalidArgument, for a channel
 * that does not record). */
KG_WARN_UNUSED enum kg_err kvs_get_webrtc_endpoint(struct kvs_client *c, struct kvs_call *call,
                                                   const char *arn, enum kvs_role role,
                                                   char out[KVS_URL_MAX + 1]);
/* JoinStorageSession (client_id NULL: the master) or JoinStorageSessionAsViewer
 * on the WEBRTC endpoint. Not idempotent, so never retried here: a throttled
 * or failed join is reported and the caller decides. */
KG_WARN_UNUSED enum kg_err kvs_join_storage_session(struct kvs_client *c, struct kvs_call *call,
                                                    const char *webrtc_endpoint, const char *arn,
                                                    const char *client_id);

/* The region's STUN URL without FIPS or dual-stack:
 * stun:stun.kinesisvideo.{region}.{domain}:443 (aws_stun_url for the others). */
void kvs_stun_url(const char *region, char out[KVS_URL_MAX + 1]);

#endif
