/* kvsgate: the REST API (`api_`): the route table, the dispatcher and the
 * handlers, one file per OpenAPI tag (channels.c, connection.c, storage.c,
 * operations.c).
 *
 * Each route is a row of the table in routes.c: method, path, handler, whether
 * it needs a token, what it reads ({name}, query parameters, a JSON body),
 * the access it needs, and whether it may wait for AWS. The service layer
 * turns an HTTP request into a struct api_request and:
 *   1. api_route_match finds the row (404, 405 + Allow);
 *   2. api_request_prepare copies what the row reads (the declared query
 *      parameters once each, the body when the row takes one);
 *   3. authenticates when the row needs it (service/server.c: it owns the
 *      budgets);
 *   4. api_dispatch checks the {name}, the access, and calls the handler on
 *      the HTTP thread (can_block = 0) unless the row always blocks; a
 *      handler that needs AWS answers KG_ERR_WOULD_BLOCK and the service calls
 *      api_dispatch again on an AWS worker (can_block = 1).
 * A handler answers by filling req->resp (api_json, api_empty) and returning
 * KG_OK, or returns an error that the service renders as problem+json
 * (req->detail says more). Handlers keep only their own logic.
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
    int64_t max_clock_skew_s; /* /readyz fails past it (kg_aws_clock_offset_s); 0: never */
    const char *stun_url;     /* the STUN URL handed out; NULL: the region's plain one */
    int allow_plain_endpoints; /* ws:// and http:// channel endpoints (local emulator only) */
    int owner_policy_any; /* KVSGATE_OWNER_POLICY=any: a manage grant may delete any channel */
    /* kvsgate's limit on storage-session joins per channel and role: 1 when key
     * may go on, else 0 with *retry_after_s (NULL: no limit) */
    int (*storage_join_take)(void *arg, const char *key, int64_t *retry_after_s);
    void *storage_join_arg;
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

#define API_QUERY_MAX 4 /* query parameters one route reads */

struct api_request {
    const struct api_deps *deps;
    const struct api_route *route;
    const char *method;
    char request_id[129];
    char channel[KVS_NAME_MAX + 1]; /* the {name} path segment, raw */
    char *query[API_QUERY_MAX];     /* the route's query parameters, in its order (NULL: absent) */
    char *body; /* copy, NUL-terminated (routes that take a body) */
    size_t body_len;
    int admitted; /* api_dispatch checked the name and the access */
    int authenticated;
    int no_credentials; /* api_authenticate found no bearer token at all */
    struct auth_principal principal;
    int64_t deadline_ms; /* kg_mono_ms clock */
    struct kvs_call call;
    /* for the access log (the audit of every URL handed out) */
    const char *role;  /* "MASTER", "VIEWER" or NULL */
    char signed_client_id[AUTH_CLIENT_ID_MAX + 1]; /* the viewer's id in the URL, or "" */
    int64_t url_expires_at_s;                      /* when the URL handed out expires, or 0 */
    const char *cache; /* "hit", "joined", "miss", "stale" or NULL */
    /* outcome */
    struct api_response resp;
    char detail[256]; /* problem detail for an error; safe to show */
};

typedef enum kg_err (*api_handler_fn)(struct api_request *req, int can_block);

/* What a route's caller must be granted on its {name} (api_dispatch checks). */
enum api_access {
    API_ACCESS_NONE = 0, /* no token, or the handler decides (list) */
    API_ACCESS_MANAGE,
    API_ACCESS_DESCRIBE, /* any of manage, master, viewer */
    API_ACCESS_MASTER,
    API_ACCESS_VIEWER,
};

enum api_blocking {
    API_NEVER_BLOCKS = 0, /* answers on the HTTP thread */
    API_MAY_BLOCK,        /* tries the caches first; KG_ERR_WOULD_BLOCK when AWS is needed */
    API_ALWAYS_BLOCKS,    /* always calls AWS: dispatched to a worker at once */
};

struct api_route {
    const char *method;  /* "GET", "PUT", "DELETE" */
    const char *pattern; /* "/v1/channels/{name}"; also the name in logs and metrics */
    api_handler_fn handler;
    const char *tag;
    int needs_auth;
    int takes_name;                          /* {name}: a channel name, checked first */
    enum api_access access;                  /* on {name} */
    const char *query[API_QUERY_MAX + 1];    /* parameters read, NULL-terminated */
    int takes_body;                          /* an optional application/json body */
    enum api_blocking blocking;
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

/* Copies what req->route reads: each declared query parameter through
 * query_fn (which fails for a repeated or malformed one), and the body
 * (content_type must then be application/json; a body on a route that takes
 * none is checked the same way and ignored). KG_ERR_BAD_REQUEST with
 * req->detail set on failure. */
typedef const char *(*api_query_fn)(void *ctx, const char *name, enum kg_err *err);
KG_WARN_UNUSED enum kg_err api_request_prepare(struct api_request *req, api_query_fn query_fn,
                                               void *query_ctx, const char *content_type,
                                               const char *body, size_t body_len);

/* The value of a query parameter the route declared, or NULL when absent. */
const char *api_query(const struct api_request *req, const char *name);

/* Runs req->route: on the first call checks the {name} and the access
 * (KG_ERR_INVALID_CHANNEL_NAME, KG_ERR_FORBIDDEN with req->detail), then the
 * handler. A route that always blocks answers KG_ERR_WOULD_BLOCK at once when
 * !can_block. */
KG_WARN_UNUSED enum kg_err api_dispatch(struct api_request *req, int can_block);

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
enum kg_err api_storage_get(struct api_request *req, int can_block);
enum kg_err api_storage_put(struct api_request *req, int can_block);
enum kg_err api_storage_join_master(struct api_request *req, int can_block);
enum kg_err api_storage_join_viewer(struct api_request *req, int can_block);
enum kg_err api_operations_healthz(struct api_request *req, int can_block);
enum kg_err api_operations_readyz(struct api_request *req, int can_block);
enum kg_err api_operations_metrics(struct api_request *req, int can_block);
enum kg_err api_operations_openapi(struct api_request *req, int can_block);

#endif
