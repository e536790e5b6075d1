/* The `operations` tag: liveness, readiness, metrics and the spec. No auth. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "core/buf.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/version.h"

enum kg_err api_operations_healthz(struct api_request *req, int can_block)
{
    (void)can_block;
    static const char body[] = "{\"status\":\"ok\",\"version\":\"" KVSGATE_VERSION "\"}";
    api_json(req, 200, kg_strndup(body, sizeof body - 1), sizeof body - 1);
    return KG_OK;
}

enum kg_err api_operations_readyz(struct api_request *req, int can_block)
{
    (void)can_block;
    const struct api_deps *d = req->deps;
    struct creds_snapshot *c = d->creds ? creds_acquire(d->creds) : NULL;
    int creds_ok = c != NULL;
    if (c)
        creds_release(c);
    int keys_ok = d->jwt && jwtv_ready(d->jwt);
    int draining = d->draining ? d->draining(d->draining_arg) : 0;
    int64_t offset = kg_aws_clock_offset_s();
    int clock_ok = !d->max_clock_skew_s || (offset <= d->max_clock_skew_s && -offset <= d->max_clock_skew_s);
    int ready = creds_ok && keys_ok && !draining && clock_ok;
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(ready ? "ready" : "not_ready"));
    json_object_set_new(o, "credentials", json_boolean(creds_ok));
    json_object_set_new(o, "jwtKeys", json_boolean(keys_ok));
    json_object_set_new(o, "draining", json_boolean(draining));
    json_object_set_new(o, "clockOffsetSeconds", json_integer(offset));
    if (!clock_ok)
        json_object_set_new(o, "reason",
                            json_string("this host's clock is further from AWS's than "
                                        "KVSGATE_MAX_CLOCK_SKEW_S: fix its time sync"));
    size_t len;
    char *body = api_dump_json(o, &len);
    api_json(req, ready ? 200 : 503, body, len);
    if (!ready)
        req->resp.retry_after_s = 1;
    return KG_OK;
}

enum kg_err api_operations_metrics(struct api_request *req, int can_block)
{
    (void)can_block;
    struct kg_buf out;
    kg_buf_init(&out, 16 * 1024 * 1024);
    if (kg_metrics_render(&out) != KG_OK) {
        kg_buf_free(&out);
        return KG_ERR_INTERNAL;
    }
    size_t len;
    char *body = kg_buf_take(&out, &len);
    api_json(req, 200, body, len);
    req->resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return KG_OK;
}

enum kg_err api_operations_openapi(struct api_request *req, int can_block)
{
    (void)can_block;
    const struct api_deps *d = req->deps;
    api_json(req, 200, kg_strndup(d->openapi_yaml, d->openapi_yaml_len), d->openapi_yaml_len);
    req->resp.content_type = "application/yaml";
    return KG_OK;
}
