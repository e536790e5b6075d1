/* What every handler shares: request lifetime, response helpers, problem+json,
 * bearer authentication. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/authz.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/mem.h"
#include "core/timeutil.h"

void api_request_init(struct api_request *req, const struct api_deps *deps)
{
    memset(req, 0, sizeof *req);
    req->deps = deps;
}

static void response_clear(struct api_response *r)
{
    free(r->body);
    for (size_t i = 0; i < r->header_count; i++)
        free(r->headers[i].value);
    memset(r, 0, sizeof *r);
}

void api_request_cleanup(struct api_request *req)
{
    for (size_t i = 0; i < API_QUERY_MAX; i++)
        free(req->query[i]);
    free(req->body);
    if (req->authenticated)
        auth_principal_cleanup(&req->principal);
    /* A connection-info body holds TURN credentials and a signed URL. */
    if (req->resp.body && req->resp.no_store)
        kg_wipe(req->resp.body, req->resp.body_len);
    response_clear(&req->resp);
}

void api_json(struct api_request *req, int status, char *body, size_t len)
{
    int no_store = req->resp.no_store;
    response_clear(&req->resp);
    req->resp.no_store = no_store;
    req->resp.status = status;
    req->resp.content_type = "application/json";
    req->resp.body = body;
    req->resp.body_len = len;
}

void api_empty(struct api_request *req, int status)
{
    response_clear(&req->resp);
    req->resp.status = status;
}

void api_add_header(struct api_request *req, const char *name, const char *value)
{
    struct api_response *r = &req->resp;
    if (r->header_count == API_RESPONSE_HEADERS_MAX)
        return;
    r->headers[r->header_count].name = name;
    r->headers[r->header_count].value = kg_strdup(value);
    r->header_count++;
}

char *api_dump_json(json_t *obj, size_t *len)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s)
        abort(); /* only on out-of-memory: kg_malloc's rule */
    *len = strlen(s);
    return s;
}

/* Shares of API_PROBLEM_MAX, in bytes of each member's JSON string with its
 * quotes; the constant parts (type, title, status, code, names) take < 300. */
#define PROBLEM_DETAIL_MAX 520
#define PROBLEM_REQUEST_ID_MAX 300
#define PROBLEM_INSTANCE_MAX 900

enum kg_err api_problem_write(struct kg_buf *out, enum kg_err err, const char *detail,
                              const char *request_id, const char *instance)
{
    const char *code = kg_err_code(err), *title = kg_err_title(err);
    int status = kg_err_http_status(err);
    char status_text[KG_DECIMAL_MAX + 1];
    kg_decimal(status, status_text);
    enum kg_err e = kg_buf_append_str(out, "{\"type\":\"urn:kvsgate:problem:");
    if (e == KG_OK)
        e = kg_buf_append_str(out, code);
    if (e == KG_OK)
        e = kg_buf_append_str(out, "\",\"title\":");
    if (e == KG_OK)
        e = kg_json_append_string(out, title, strlen(title));
    if (e == KG_OK)
        e = kg_buf_append_str(out, ",\"status\":");
    if (e == KG_OK)
        e = kg_buf_append_str(out, status_text);
    if (e == KG_OK && detail && *detail) {
        e = kg_buf_append_str(out, ",\"detail\":");
        if (e == KG_OK)
            e = kg_json_append_string_cut(out, detail, strlen(detail), PROBLEM_DETAIL_MAX);
    }
    if (e == KG_OK)
        e = kg_buf_append_str(out, ",\"code\":\"");
    if (e == KG_OK)
        e = kg_buf_append_str(out, code);
    if (e == KG_OK)
        e = kg_buf_append_str(out, "\",\"requestId\":");
    if (e == KG_OK)
        e = kg_json_append_string_cut(out, request_id ? request_id : "",
                                      request_id ? strlen(request_id) : 0, PROBLEM_REQUEST_ID_MAX);
    /* The instance is the request path, echoed only when it is valid UTF-8
     * (never as broken text), cut to its share. */
    if (e == KG_OK && instance && kg_utf8_valid(instance, strlen(instance))) {
        e = kg_buf_append_str(out, ",\"instance\":");
        if (e == KG_OK)
            e = kg_json_append_string_cut(out, instance, strlen(instance), PROBLEM_INSTANCE_MAX);
    }
    if (e == KG_OK)
        e = kg_buf_append_char(out, '}');
    return e;
}

void api_problem(struct api_request *req, enum kg_err err, const char *instance)
{
    struct kg_buf b;
    kg_buf_init(&b, API_PROBLEM_MAX);
    if (api_problem_write(&b, err, req->detail, req->request_id, instance) != KG_OK)
        abort(); /* the shares above add up to less than API_PROBLEM_MAX */
    size_t len;
    char *body = kg_buf_take(&b, &len);
    int status = kg_err_http_status(err);
    int64_t retry_after = req->resp.retry_after_s;
    response_clear(&req->resp);
    req->resp.status = status;
    req->resp.content_type = "application/problem+json";
    req->resp.body = body;
    req->resp.body_len = len;
    if (status == 429 || status == 503 || err == KG_ERR_CHANNEL_NOT_ACTIVE)
        req->resp.retry_after_s = retry_after > 0 ? retry_after : 1;
}

void api_set_detail(struct api_request *req, const char *detail)
{
    snprintf(req->detail, sizeof req->detail, "%s", detail);
}

enum kg_err api_authenticate(struct api_request *req, const char *authorization, int64_t now_s,
                             int cached_only)
{
    if (!authorization || !*authorization) {
        api_set_detail(req, "missing bearer token");
        req->no_credentials = 1;
        return KG_ERR_UNAUTHENTICATED;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        api_set_detail(req, "the Authorization scheme must be Bearer");
        return KG_ERR_UNAUTHENTICATED;
    }
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    while (len && token[len - 1] == ' ')
        len--;
    if (!len) {
        api_set_detail(req, "missing bearer token");
        req->no_credentials = 1;
        return KG_ERR_UNAUTHENTICATED;
    }
    const char *reason = NULL;
    enum kg_err err = jwtv_check(req->deps->jwt, token, len, now_s, cached_only, &req->principal,
                                 &reason);
    if (err == KG_ERR_RATE_LIMITED) {
        api_set_detail(req, "too many tokens from this address failed verification; only tokens "
                            "already verified are accepted for now");
        return err;
    }
    if (err != KG_OK) {
        api_set_detail(req, reason ? reason : "invalid token");
        return KG_ERR_UNAUTHENTICATED;
    }
    req->authenticated = 1;
    return KG_OK;
}

int64_t api_now(const struct api_request *req)
{
    return req->deps->now_fn ? req->deps->now_fn() : kg_aws_now_s();
}

int api_channel_name_ok(const char *name)
{
    /* KVS's rule, minus the dot segments a proxy might rewrite. */
    return kg_kvs_channel_name_valid(name) && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

enum kg_err api_check_channel_name(struct api_request *req)
{
    if (api_channel_name_ok(req->channel))
        return KG_OK;
    api_set_detail(req, "a channel name is 1 to 256 of A-Z a-z 0-9 _ . - (not . or ..)");
    return KG_ERR_INVALID_CHANNEL_NAME;
}

void api_format_time(int64_t epoch_s, char out[KG_ISO8601_LEN + 1])
{
    kg_time_format_iso8601(epoch_s, out);
}

enum kg_err api_viewer_client_id(struct api_request *req, char out[AUTH_CLIENT_ID_MAX + 1])
{
    enum kg_err err = authz_viewer_client_id(&req->principal, api_query(req, "clientId"), out);
    if (err == KG_ERR_INVALID_CLIENT_ID)
        api_set_detail(req, "clientId must be 1..256 of A-Z a-z 0-9 _ . - and not start with AWS_");
    else if (err != KG_OK)
        api_set_detail(req, "clientId must be the caller's own id, optionally with a .suffix");
    return err;
}

/* Keeps the weakest outcome seen for the access log: stale > miss > joined > hit. */
void api_note_cache(struct api_request *req, enum cache_outcome how)
{
    static const char *const order[] = {"hit", "joined", "miss", "stale"};
    const char *name = cache_outcome_name(how);
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
