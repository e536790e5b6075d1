/* The error table: one row per enum kg_err value, in enum order. */
#include "core/err.h"

#include <stddef.h>

struct err_row {
    const char *name;
    int http_status;
    const char *code;
    const char *title;
    int transient;
};

static const struct err_row err_table[KG_ERR__COUNT] = {
    [KG_OK] = {"KG_OK", 200, "ok", "OK", 0},
    [KG_ERR_BAD_REQUEST] = {"KG_ERR_BAD_REQUEST", 400, "bad_request", "Bad request", 0},
    [KG_ERR_INVALID_CHANNEL_NAME] = {"KG_ERR_INVALID_CHANNEL_NAME", 400, "invalid_channel_name",
                                     "Invalid channel name", 0},
    [KG_ERR_INVALID_CLIENT_ID] = {"KG_ERR_INVALID_CLIENT_ID", 400, "invalid_client_id",
                                  "Invalid client id", 0},
    [KG_ERR_UNAUTHENTICATED] = {"KG_ERR_UNAUTHENTICATED", 401, "unauthenticated",
                                "Authentication required", 0},
    [KG_ERR_FORBIDDEN] = {"KG_ERR_FORBIDDEN", 403, "forbidden", "Forbidden", 0},
    [KG_ERR_NOT_FOUND] = {"KG_ERR_NOT_FOUND", 404, "not_found", "Not found", 0},
    [KG_ERR_CHANNEL_NOT_FOUND] = {"KG_ERR_CHANNEL_NOT_FOUND", 404, "channel_not_found",
                                  "Channel not found", 0},
    [KG_ERR_METHOD_NOT_ALLOWED] = {"KG_ERR_METHOD_NOT_ALLOWED", 405, "method_not_allowed",
                                   "Method not allowed", 0},
    [KG_ERR_CHANNEL_NOT_ACTIVE] = {"KG_ERR_CHANNEL_NOT_ACTIVE", 409, "channel_not_active",
                                   "Channel not active", 1},
    [KG_ERR_PAYLOAD_TOO_LARGE] = {"KG_ERR_PAYLOAD_TOO_LARGE", 413, "payload_too_large",
                                  "Payload too large", 0},
    [KG_ERR_RATE_LIMITED] = {"KG_ERR_RATE_LIMITED", 429, "rate_limited", "Too many requests", 1},
    [KG_ERR_UPSTREAM_BUDGET] = {"KG_ERR_UPSTREAM_BUDGET", 429, "upstream_budget_exceeded",
                                "Too many calls to AWS for now", 1},
    [KG_ERR_HEADERS_TOO_LARGE] = {"KG_ERR_HEADERS_TOO_LARGE", 431, "headers_too_large",
                                  "Request headers too large", 0},
    [KG_ERR_STORAGE_DISABLED] = {"KG_ERR_STORAGE_DISABLED", 409, "storage_disabled",
                                 "The channel does not record to a stream", 0},
    [KG_ERR_STREAM_NOT_FOUND] = {"KG_ERR_STREAM_NOT_FOUND", 404, "stream_not_found",
                                 "Stream not found", 0},
    [KG_ERR_NO_DATA_RETENTION] = {"KG_ERR_NO_DATA_RETENTION", 400, "stream_without_retention",
                                  "The stream keeps no data", 0},
    [KG_ERR_UNSUPPORTED_REGION] = {"KG_ERR_UNSUPPORTED_REGION", 501, "unsupported_in_region",
                                   "Not available in this region", 0},
    [KG_ERR_UPSTREAM_THROTTLED] = {"KG_ERR_UPSTREAM_THROTTLED", 503, "upstream_throttled",
                                   "AWS is throttling requests", 1},
    [KG_ERR_UPSTREAM_UNAVAILABLE] = {"KG_ERR_UPSTREAM_UNAVAILABLE", 503, "upstream_unavailable",
                                     "AWS is unavailable", 1},
    [KG_ERR_UPSTREAM_REFUSED] = {"KG_ERR_UPSTREAM_REFUSED", 502, "upstream_unavailable",
                                 "AWS refused the request", 0},
    [KG_ERR_UPSTREAM_TIMEOUT] = {"KG_ERR_UPSTREAM_TIMEOUT", 504, "upstream_timeout",
                                 "AWS did not answer in time", 1},
    [KG_ERR_UNAVAILABLE] = {"KG_ERR_UNAVAILABLE", 503, "service_unavailable",
                            "Service unavailable", 1},
    [KG_ERR_INTERNAL] = {"KG_ERR_INTERNAL", 500, "internal_error", "Internal error", 0},
    [KG_ERR_WOULD_BLOCK] = {"KG_ERR_WOULD_BLOCK", 500, "internal_error", "Internal error", 0},
};

static const struct err_row *err_row(enum kg_err err)
{
    if ((int)err < 0 || err >= KG_ERR__COUNT)
        return &err_table[KG_ERR_INTERNAL];
    return &err_table[err];
}

int kg_err_http_status(enum kg_err err) { return err_row(err)->http_status; }
const char *kg_err_code(enum kg_err err) { return err_row(err)->code; }
const char *kg_err_title(enum kg_err err) { return err_row(err)->title; }
const char *kg_err_name(enum kg_err err) { return err_row(err)->name; }
int kg_err_is_transient(enum kg_err err) { return err_row(err)->transient; }
