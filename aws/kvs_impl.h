/* kvsgate: internals of the KVS client shared by aws/kvs*.c and their unit
 * tests: AWS error reading (kvs_errors.c) and response parsing (kvs_json.c).
 */
#ifndef KG_AWS_KVS_IMPL_H
#define KG_AWS_KVS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "aws/kvs.h"
#include "core/http.h"

#define KVS_ERROR_TYPE_MAX 95

struct json_t;
typedef enum kg_err (*kvs_parse_fn)(const char *body, size_t len, void *arg);

/* One JSON operation: POST url with doc (consumed; NULL refuses) signed as
 * the control plane is, the answer (at most max_response bytes) read by
 * parse on 2xx (NULL: ignored), AWS errors mapped, retried as kvs.h says
 * unless once (operations that are not idempotent). */
KG_WARN_UNUSED enum kg_err kvs_json_call(struct kvs_client *c, struct kvs_call *call,
                                         const char *operation, const char *url,
                                         struct json_t *doc, size_t max_response,
                                         kvs_parse_fn parse, void *arg, int once);
/* The control plane's URL for path; 0 when it does not fit. */
int kvs_build_url(struct kvs_client *c, const char *path, char *out, size_t cap);
/* An ARN as the client accepts one (printable ASCII, "arn:", bounded). */
int kvs_arn_valid(const char *arn);
/* The client's region. */
const char *kvs_client_region(const struct kvs_client *c);

/* Error types for failures that are not AWS's (kvs_call.error_type). */
#define KVS_ETYPE_TIMEOUT "kvsgate.Timeout"
#define KVS_ETYPE_CONNECTION "kvsgate.ConnectionFailed"
#define KVS_ETYPE_TOO_LARGE "kvsgate.ResponseTooLarge"
#define KVS_ETYPE_UNREADABLE "kvsgate.UnreadableResponse"
#define KVS_ETYPE_NO_CREDENTIALS "kvsgate.NoCredentials"
#define KVS_ETYPE_DEADLINE "kvsgate.DeadlinePassed"
#define KVS_ETYPE_BUDGET "kvsgate.BudgetExceeded"

/* Reads the AWS error type of a non-2xx answer: x-amzn-ErrorType (without its
 * ":http://..." suffix), else the JSON body's __type (after any '#'), code or
 * Code, else the XML body's <Code> or root element. type gets "" when none
 * (cap bytes, only [A-Za-z0-9_.] kept). */
void kvs_error_type(const struct kg_http_response *resp, char *type, size_t cap);

/* The project error for an AWS error type and status (the table in kvs.h). */
enum kg_err kvs_error_map(const char *type, long status);

/* True for the error types that mean the credentials expired. */
int kvs_error_is_expired_token(const char *type);

/* Response readers: strict (types, bounds, required members). All answer
 * KG_ERR_UPSTREAM_REFUSED when the document does not fit. */
KG_WARN_UNUSED enum kg_err kvs_parse_create(const char *body, size_t len,
                                            char arn[KVS_ARN_MAX + 1]);
KG_WARN_UNUSED enum kg_err kvs_parse_describe(const char *body, size_t len,
                                              struct kvs_channel *out);
KG_WARN_UNUSED enum kg_err kvs_parse_list(const char *body, size_t len,
                                          struct kvs_channel_page *out);
KG_WARN_UNUSED enum kg_err kvs_parse_endpoints(const char *body, size_t len,
                                               struct kvs_endpoints *out);
KG_WARN_UNUSED enum kg_err kvs_parse_ice(const char *body, size_t len, int64_t now_s,
                                         struct kvs_ice_config *out);
/* Appends one page of ListTagsForResource to acc (bounded by max_tags);
 * next_token gets the page's NextToken or "". */
KG_WARN_UNUSED enum kg_err kvs_parse_tags(const char *body, size_t len, size_t max_tags,
                                          struct kvs_tag_list *acc, char next_token[513]);
KG_WARN_UNUSED enum kg_err kvs_parse_media_storage(const char *body, size_t len,
                                                   struct kvs_media_storage *out);
KG_WARN_UNUSED enum kg_err kvs_parse_stream(const char *body, size_t len, struct kvs_stream *out);
/* The WEBRTC endpoint of a GetSignalingChannelEndpoint answer (http(s)://). */
KG_WARN_UNUSED enum kg_err kvs_parse_webrtc_endpoint(const char *body, size_t len,
                                                     char out[KVS_URL_MAX + 1]);
/* An empty or {} body (Delete, TagResource). */
KG_WARN_UNUSED enum kg_err kvs_parse_empty(const char *body, size_t len);

/* Full-jitter backoff: a delay in [0, min(max_ms, base_ms * 2^retry)]. */
int64_t kvs_backoff_ms(const struct kvs_retry_policy *p, int retry);

#endif
