/* kvsgate: the project-wide error enum.
 *
 * Every fallible function returns an enum kg_err. Each value maps to exactly one
 * HTTP status and one stable machine `code` of the problem+json body (see
 * kg_err_http_status / kg_err_code). Library results (libcurl, OpenSSL, jansson,
 * libjwt, libmicrohttpd) are translated into this enum in their wrapper file and
 * nowhere else.
 *
 * Checklist: a new value also goes into the table in err.c, into openapi.yaml
 * (Problem.code enum) and into docs/errors.md.
 */
#ifndef KG_CORE_ERR_H
#define KG_CORE_ERR_H

#define KG_WARN_UNUSED __attribute__((warn_unused_result))

enum kg_err {
    KG_OK = 0,

    /* The caller's fault (4xx). */
    KG_ERR_BAD_REQUEST,          /* 400 bad_request */
    KG_ERR_INVALID_CHANNEL_NAME, /* 400 invalid_channel_name */
    KG_ERR_INVALID_CLIENT_ID,    /* 400 invalid_client_id */
    KG_ERR_UNAUTHENTICATED,      /* 401 unauthenticated */
    KG_ERR_FORBIDDEN,            /* 403 forbidden */
    KG_ERR_NOT_FOUND,            /* 404 not_found (no such route) */
    KG_ERR_CHANNEL_NOT_FOUND,    /* 404 channel_not_found (AWS ResourceNotFound) */
    KG_ERR_METHOD_NOT_ALLOWED,   /* 405 method_not_allowed */
    KG_ERR_CHANNEL_NOT_ACTIVE,   /* 409 channel_not_active (AWS ResourceInUse) */
    KG_ERR_PAYLOAD_TOO_LARGE,    /* 413 payload_too_large */
    KG_ERR_RATE_LIMITED,         /* 429 rate_limited (per-subject limit) */
    KG_ERR_UPSTREAM_BUDGET,      /* 429 upstream_budget_exceeded (the AWS call would pass
                                    kvsgate's share of a KVS quota; aws/budget.h) */
    KG_ERR_HEADERS_TOO_LARGE,    /* 431 headers_too_large (request line + headers) */
    KG_ERR_STORAGE_DISABLED,     /* 409 storage_disabled (the channel does not record) */
    KG_ERR_STREAM_NOT_FOUND,     /* 404 stream_not_found (no such video stream) */
    KG_ERR_NO_DATA_RETENTION,    /* 400 stream_without_retention (AWS NoDataRetention) */
    KG_ERR_UNSUPPORTED_REGION,   /* 501 unsupported_in_region (WebRTC ingestion in China) */

    /* AWS's side (5xx). */
    KG_ERR_UPSTREAM_THROTTLED,   /* 503 upstream_throttled (ClientLimitExceeded) */
    KG_ERR_UPSTREAM_UNAVAILABLE, /* 503 upstream_unavailable (5xx, connection errors) */
    KG_ERR_UPSTREAM_REFUSED,     /* 502 upstream_unavailable (AccessDenied, expired or
                                    missing credentials, a reply we cannot read) */
    KG_ERR_UPSTREAM_TIMEOUT,     /* 504 upstream_timeout */

    /* Ours. */
    KG_ERR_UNAVAILABLE,          /* 503 service_unavailable (draining, not ready) */
    KG_ERR_INTERNAL,             /* 500 internal_error */
    KG_ERR_WOULD_BLOCK,          /* control flow, never on the wire: the work needs
                                    AWS and must move off the HTTP thread */

    KG_ERR__COUNT
};

/* HTTP status for an error; 200 for KG_OK. */
int kg_err_http_status(enum kg_err err);

/* Stable machine code ("channel_not_found"); "ok" for KG_OK. Static storage. */
const char *kg_err_code(enum kg_err err);

/* Short human title ("Channel not found"). Static storage. */
const char *kg_err_title(enum kg_err err);

/* Name of the enum value ("KG_ERR_CHANNEL_NOT_FOUND"), for logs and tests. */
const char *kg_err_name(enum kg_err err);

/* True when retrying the same call later may succeed (throttling, 5xx, timeout). */
int kg_err_is_transient(enum kg_err err);

#endif
