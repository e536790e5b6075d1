/* kvsgate: the REST API (`api_`): the route table and its handlers, one file per
 * OpenAPI tag (channels.c, connection.c, operations.c).
 *
 * The service layer turns an HTTP request into a struct api_request, finds the
 * route, authenticates when the route needs it, and calls the handler twice at
 * most: first on the HTTP thread with can_block = 0 (a handler that can answer
 * without AWS does so; otherwise it returns KG_ERR_WOULD_BLOCK), then, if
 * needed, on an AWS worker thread with can_block = 1. A handler answers by
 * filling req->resp (api_json, api_empty) and returning KG_OK, or returns an
 * error that the service renders as problem+json (req->detail says more).
 *
 * This layer knows nothing of libmicrohttpd.
 */
#ifndef KG_API_API_H
#define KG_API_API_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "auth/principal.h"
#include "aws/channels.h"
#include "aws/credentials.h"
#include "aws/kvs.h"
#include "core/err.h"

/* What the handlers use, built once by the daemon. */
struct api_deps {
    struct jwtv *jwt;
    struct creds_provider *creds;
    struct kvs_client *kvs;
    struct channels *channels; /* cached describe / endpoints / ICE for connection info */
    int ice_fallback_stun_only; /* TURN unavailable and none cached: STUN only (else 503) */
    const char *region;
    int64_t presign_expires_s;
    int allow_plain_endpoints; /* ws:// and http:// channel endpoints (local emulator only) */
    int owner_policy_any; /* KVSGATE_OWNER_POLICY=any: a manage grant may delete any channel */
    const char *openapi_yaml;  /* the spec built into the binary */
    size_t openapi_yaml_len;
    /* readiness */
    int (*draining)(void *arg);
    void *draining_arg;
    int64_t (*now_fn)(void); /* NULL: kg_now_s */
};

#define API_RESPONSE_HEADERS_MAX 8

struct api_response {
    int status;
    const char *content_type; /* static */
    char *body;               /* owned */
    size_t body_len;
    int no_store;             /* Cache-Control: no-store */
    int64_t retry_after_s;    /* > 0: Retry-After */
    struct {
        const char *name; /* static */
        char *value;      /* owned */
    } headers[API_RESPONSE_HEADERS_MAX];
    size_t header_count;
};

struct api_route;

struct api_request {
    const struct api_deps *deps;
    const struct api_route *route;
    const char *method;
    char request_id[129];
    char channel[KVS_NAME_MAX + 1]; /* the {name} path segment, raw */
    /* query parameters the routes use (copies, NULL when absent) */
    char *q_client_id;
    char *q_prefix;
    char *q_limit;
    char *q_next_token;
    char *body; /* copy, NUL-terminated */
    size_t body_len;
    int authenticated;
    int no_credentials; /* api_authenticate found no bearer token at all */
    struct auth_principal principal;
    int64_t deadline_ms; /* kg_mono_ms clock */
    struct kvs_call call;
    /* for the access log */
    const char *role;  /* "MASTER", "VIEWER" or NULL */
    const char *cache; /* "hit", "miss", "partial" or NULL */
    /* outcome */
    struct api_response resp;
    char detail[256]; /* problem detail for an error; safe to show */
};

typedef enum kg_err (*api_handler_fn)(struct api_request *req, int can_block);

struct api_route {
    const char *method;   /* "GET", "PUT", "DELETE" */
    const char *pattern;  /* "/v1/channels/{name}"; also the name in logs and metrics */
    api_handler_fn handler;
    int needs_auth;
    const char *tag;
};

/* Finds the route for method and path. Returns it, or NULL with *err
 * KG_ERR_NOT_FOUND (no such path) or KG_ERR_METHOD_NOT_ALLOWED (then allow
 * gets the path's methods, e.g. "GET, PUT, DELETE, OPTIONS"). A {name} segment
 * is copied into channel (truncated names fail the handler's validation).
 * HEAD matches GET. path_pattern (optional) gets the matched path's pattern
 * even on 405, for logs. */
const struct api_route *api_route_match(const char *method, const char *path,
                                        char channel[KVS_NAME_MAX + 1], char *allow,
                                        size_t allow_len, const char **path_pattern,
                                        enum kg_err *err);

/* Verifies "Bearer <jwt>" and fills req->principal. KG_ERR_UNAUTHENTICATED
 * with req->detail set on failure (and req->no_credentials when there was no
 * token). With cached_only (the caller's address is over its failure budget)
 * only a token already verified is accepted; any other is KG_ERR_RATE_LIMITED,
 * unchecked. */
KG_WARN_UNUSED enum kg_err api_authenticate(struct api_request *req, const char *authorization,
                                            int64_t now_s, int cached_only);

void api_request_init(struct api_request *req, const struct api_deps *deps);
void api_request_cleanup(struct api_request *req);

/* Response helpers for handlers. */
void api_json(struct api_request *req, int status, char *body, size_t len); /* takes body */
void api_empty(struct api_request *req, int status);
void api_add_header(struct api_request *req, const char *name, const char *value);
/* Renders err as problem+json into req->resp (status, code, title, detail,
 * requestId, instance). */
void api_problem(struct api_request *req, enum kg_err err, const char *instance);
/* Sets req->detail (a sentence safe to show the caller). */
void api_set_detail(struct api_request *req, const char *detail);

/* Handlers, by tag. */
enum kg_err api_channels_list(struct api_request *req, int can_block);
enum kg_err api_channels_put(struct api_request *req, int can_block);
enum kg_err api_channels_get(struct api_request *req, int can_block);
enum kg_err api_channels_delete(struct api_request *req, int can_block);
enum kg_err api_connection_master(struct api_request *req, int can_block);
enum kg_err api_connection_viewer(struct api_request *req, int can_block);
enum kg_err api_operations_healthz(struct api_request *req, int can_block);
enum kg_err api_operations_readyz(struct api_request *req, int can_block);
enum kg_err api_operations_metrics(struct api_request *req, int can_block);
enum kg_err api_operations_openapi(struct api_request *req, int can_block);

#endif
