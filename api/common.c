/* What every handler shares: request lifetime, response helpers, problem+json,
 * bearer authentication. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/internal.h"
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
    free(req->q_client_id);
    free(req->q_prefix);
    free(req->q_limit);
    free(req->q_next_token);
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

void api_problem(struct api_request *req, enum kg_err err, const char *instance)
{
    int status = kg_err_http_status(err);
    json_t *o = json_object();
    char type[96];
    snprintf(type, sizeof type, "urn:kvsgate:problem:%s", kg_err_code(err));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "title", json_string(kg_err_title(err)));
    json_object_set_new(o, "status", json_integer(status));
    if (req->detail[0])
        json_object_set_new(o, "detail", json_string(req->detail));
    json_object_set_new(o, "code", json_string(kg_err_code(err)));
    json_object_set_new(o, "requestId", json_string(req->request_id));
    /* The instance is the request path; keep it only when it is valid UTF-8
     * that jansson accepts (json_string refuses the rest). */
    json_t *inst = instance ? json_string(instance) : NULL;
    if (inst)
        json_object_set_new(o, "instance", inst);
    size_t len;
    char *body = api_dump_json(o, &len);
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

enum kg_err api_authenticate(struct api_request *req, const char *authorization, int64_t now_s)
{
    if (!authorization || !*authorization) {
        api_set_detail(req, "missing bearer token");
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
        return KG_ERR_UNAUTHENTICATED;
    }
    const char *reason = NULL;
    enum kg_err err = jwtv_verify(req->deps->jwt, token, len, now_s, &req->principal, &reason);
    if (err != KG_OK) {
        api_set_detail(req, reason ? reason : "invalid token");
        return KG_ERR_UNAUTHENTICATED;
    }
    req->authenticated = 1;
    return KG_OK;
}

int64_t api_now(const struct api_request *req)
{
    return req->deps->now_fn ? req->deps->now_fn() : kg_now_s();
}

int api_channel_name_ok(const char *name)
{
    /* KVS's rule, minus the dot segments a proxy might rewrite. */
    return kvs_channel_name_valid(name) && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
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
