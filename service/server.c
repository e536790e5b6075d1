#include "service/server.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

struct server {
    struct server_options opts;
    _Atomic int draining;
    struct kg_metric *requests;
    struct kg_metric *duration;
    struct kg_metric *in_flight;
    struct kg_metric *rejected;
    struct kg_metric *limited;
    struct kg_metric *auth_failures;
    struct kg_metric *auth_limited;
    struct kg_metric *aws_waits;
};

/* Per-request state, the httpd request's app data. */
struct srv_req {
    struct api_request api;
    struct server *srv;
    struct httpd_request *http;
    const char *route_name; /* pattern, or "unmatched" */
    char origin[256];       /* the allowed Origin to echo, or "" */
    char allow[96];         /* Allow for 405 */
    const char *instance;   /* the request path, for a problem's instance; NULL: none */
    char client_ip[CLIENTADDR_LEN]; /* behind trusted proxies, the client's (clientaddr.h) */
    int is_v1;
};

static const char *CORS_ALLOW_METHODS = "GET, PUT, POST, DELETE, OPTIONS";
static const char *CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-Request-Id";
static const char *CORS_EXPOSE_HEADERS = "X-Request-Id, Retry-After, X-Kvsgate-Ice, Location";

struct server *server_new(const struct server_options *opts)
{
    struct server *s = kg_calloc(1, sizeof *s);
    s->opts = *opts;
    s->requests = kg_metric_counter("kvsgate_http_requests_total",
                                    "HTTP requests answered, by route, method and status.",
                                    "route,method,status");
    s->duration = kg_metric_histogram("kvsgate_http_request_duration_seconds",
                                      "Time from complete request headers to response queued.",
                                      "route", NULL, 0);
    s->in_flight = kg_metric_gauge("kvsgate_http_requests_in_flight",
                                   "Requests being handled now.", "");
    s->rejected = kg_metric_counter("kvsgate_http_overload_rejections_total",
                                    "Requests refused because the AWS worker queue was full.", "");
    s->limited = kg_metric_counter("kvsgate_rate_limited_total",
                                   "Requests refused by the per-subject rate limit.", "");
    s->auth_failures = kg_metric_counter("kvsgate_auth_failures_total",
                                         "Bearer tokens refused (401), against the budget of "
                                         "their client address.", "");
    s->auth_limited = kg_metric_counter(
        "kvsgate_auth_failure_limited_total",
        "Requests refused unverified because their client address was over its budget of "
        "refused tokens.", "");
    s->aws_waits = kg_metric_counter(
        "kvsgate_aws_waits_total",
        "Requests whose answer waited for an AWS call (a cache miss, or a load in flight "
        "joined), by route; refresh-ahead keeps it flat for channels in steady use.", "route");
    return s;
}

void server_free(struct server *s) { free(s); }
void server_set_draining(struct server *s) { atomic_store(&s->draining, 1); }
int server_draining(void *server) { return atomic_load(&((struct server *)server)->draining); }

static void srv_req_free(void *p)
{
    struct srv_req *r = p;
    api_request_cleanup(&r->api);
    free(r);
}

/* Per thread: 8 random bytes drawn once, then a counter. Ids stay unique
 * (within a thread by the counter, across threads and restarts by the random
 * part) without a DRBG call per request. */
struct id_source {
    unsigned char bytes[12]; /* random[8] || counter[4], big-endian */
    uint32_t count;
    int seeded;
};
static _Thread_local struct id_source id_source;

/* X-Request-Id: the caller's when it is 1..128 of [A-Za-z0-9._:-], else 24 hex
 * digits (id_source). */
static void request_id(const char *given, char out[129])
{
    if (given) {
        size_t n = strlen(given);
        int ok = n >= 1 && n <= 128;
        for (size_t i = 0; ok && i < n; i++) {
            char c = given[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == ':' || c == '-';
        }
        if (ok) {
            memcpy(out, given, n + 1);
            return;
        }
    }
    struct id_source *src = &id_source;
    if (!src->seeded || src->count == UINT32_MAX) {
        if (kg_random_bytes(src->bytes, 8) != KG_OK)
            memset(src->bytes, 0, 8);
        src->count = 0;
        src->seeded = 1;
    }
    uint32_t c = ++src->count;
    src->bytes[8] = (unsigned char)(c >> 24);
    src->bytes[9] = (unsigned char)(c >> 16);
    src->bytes[10] = (unsigned char)(c >> 8);
    src->bytes[11] = (unsigned char)c;
    kg_hex_lower(src->bytes, sizeof src->bytes, out);
}

static int origin_echo_ok(const char *origin)
{
    size_t n = strlen(origin);
    if (n == 0 || n >= sizeof((struct srv_req *)0)->origin)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (origin[i] <= 0x20 || origin[i] >= 0x7f)
            return 0;
    return 1;
}

static int origin_allowed(const struct server *s, const char *origin)
{
    for (size_t i = 0; i < s->opts.cors_origin_count; i++)
        if (strcmp(s->opts.cors_origins[i], "*") == 0 ||
            strcmp(s->opts.cors_origins[i], origin) == 0)
            return 1;
    return 0;
}

/* Copies the api response into the httpd response, with the common headers. */
static void send_response(struct srv_req *r)
{
    struct api_response *resp = &r->api.resp;
    struct httpd_request *h = r->http;
    httpd_respond_take(h, resp->status ? resp->status : 500, resp->content_type, resp->body,
                       resp->body_len, resp->no_store);
    resp->body = NULL; /* httpd owns it now */
    resp->body_len = 0;
    httpd_add_header(h, "X-Request-Id", r->api.request_id);
    httpd_add_header(h, "X-Content-Type-Options", "nosniff");
    if (r->is_v1)
        httpd_add_header(h, "Cache-Control", "no-store");
    if (resp->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)resp->retry_after_s);
        httpd_add_header(h, "Retry-After", ra);
    }
    for (size_t i = 0; i < resp->header_count; i++)
        httpd_add_header(h, resp->headers[i].name, resp->headers[i].value);
    if (r->origin[0]) {
        httpd_add_header(h, "Access-Control-Allow-Origin", r->origin);
        httpd_add_header(h, "Vary", "Origin");
        httpd_add_header(h, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    }
}

/* RFC 6750 3.1: no error code when no credentials were sent; else
 * invalid_token with the reason, kept to the bytes a quoted-string may hold
 * (the reasons are static phrases; this keeps it so whatever they become). */
static void www_authenticate(struct srv_req *r)
{
    if (r->api.no_credentials) {
        api_add_header(&r->api, "WWW-Authenticate", "Bearer realm=\"kvsgate\"");
        return;
    }
    static const char head[] = "Bearer realm=\"kvsgate\", error=\"invalid_token\", "
                               "error_description=\"";
    char www[sizeof head + sizeof r->api.detail + 1];
    size_t n = sizeof head - 1;
    memcpy(www, head, n);
    for (const char *p = r->api.detail; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            www[n++] = (char)c;
    }
    www[n++] = '"';
    www[n] = '\0';
    api_add_header(&r->api, "WWW-Authenticate", www);
}

/* Sets the response for err (problem+json), or keeps the handler's on KG_OK. */
static void finish(struct srv_req *r, enum kg_err err)
{
    if (err != KG_OK) {
        if (err == KG_ERR_WOULD_BLOCK)
            err = KG_ERR_INTERNAL;
        if (r->api.call.retry_after_s > 0)
            r->api.resp.retry_after_s = r->api.call.retry_after_s;
        api_problem(&r->api, err, r->instance);
        if (err == KG_ERR_UNAUTHENTICATED)
            www_authenticate(r);
        if (err == KG_ERR_METHOD_NOT_ALLOWED)
            api_add_header(&r->api, "Allow", r->allow);
    }
    send_response(r);
}

static void run_deferred(void *arg)
{
    struct srv_req *r = arg;
    enum kg_err err;
    if (kg_mono_ms() >= r->api.deadline_ms) {
        api_set_detail(&r->api, "the request waited too long for an AWS worker");
        err = KG_ERR_UPSTREAM_TIMEOUT;
    } else {
        err = api_dispatch(&r->api, 1);
    }
    finish(r, err);
    httpd_resume(r->http);
}

static const char *query_of(void *h, const char *name, enum kg_err *err)
{
    return httpd_query(h, name, err);
}

static enum httpd_action preflight(struct srv_req *r, enum kg_err route_err)
{
    struct httpd_request *h = r->http;
    const char *origin = httpd_header(h, "Origin");
    const char *want = httpd_header(h, "Access-Control-Request-Method");
    if (route_err == KG_ERR_NOT_FOUND) {
        finish(r, KG_ERR_NOT_FOUND);
        return HTTPD_RESPOND;
    }
    if (!origin || !want) {
        /* A plain OPTIONS: say what the path supports. */
        api_empty(&r->api, 204);
        api_add_header(&r->api, "Allow", r->allow);
        finish(r, KG_OK);
        return HTTPD_RESPOND;
    }
    int method_ok = 0;
    for (const char *p = r->allow; *p;) {
        size_t n = strcspn(p, ", ");
        if (n && strlen(want) == n && strncmp(p, want, n) == 0 && strcmp(want, "OPTIONS") != 0)
            method_ok = 1;
        p += n;
        p += strspn(p, ", ");
    }
    if (!origin_allowed(r->srv, origin) || !method_ok) {
        r->origin[0] = '\0';
        api_set_detail(&r->api, !method_ok ? "the method is not allowed on this path"
                                           : "the origin is not allowed");
        finish(r, KG_ERR_FORBIDDEN);
        return HTTPD_RESPOND;
    }
    api_empty(&r->api, 204);
    api_add_header(&r->api, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
    api_add_header(&r->api, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    api_add_header(&r->api, "Access-Control-Max-Age", "600");
    finish(r, KG_OK);
    return HTTPD_RESPOND;
}

/* The bearer token, within two budgets: tokens refused per client address
 * (each costs a verification; a forged RS/ES one costs up to a millisecond),
 * past which only tokens already verified pass; then requests per subject. */
static enum kg_err authenticate(struct srv_req *r)
{
    struct server *s = r->srv;
    char key[CLIENTADDR_LEN];
    clientaddr_budget_key(r->client_ip, key);
    int64_t now_ms = kg_mono_ms(), retry_after = 0;
    int over = !ratelimit_check(s->opts.auth_failures, key, now_ms, &retry_after);
    enum kg_err err =
        api_authenticate(&r->api, httpd_header(r->http, "Authorization"), kg_now_s(), over);
    if (err == KG_ERR_RATE_LIMITED) {
        kg_metric_inc(s->auth_limited, NULL);
        r->api.resp.retry_after_s = retry_after;
        return err;
    }
    if (err != KG_OK) {
        if (!r->api.no_credentials) {
            kg_metric_inc(s->auth_failures, NULL);
            ratelimit_take(s->opts.auth_failures, key, now_ms, NULL);
        }
        return err;
    }
    if (!ratelimit_take(s->opts.ratelimit, r->api.principal.client_id, now_ms, &retry_after)) {
        kg_metric_inc(s->limited, NULL);
        api_set_detail(&r->api, "too many requests for this subject; slow down");
        r->api.resp.retry_after_s = retry_after;
        return KG_ERR_RATE_LIMITED;
    }
    return KG_OK;
}

/* The per-request state: request id, client address, path. */
static struct srv_req *srv_req_new(struct server *s, struct httpd_request *h)
{
    struct srv_req *r = kg_calloc(1, sizeof *r);
    r->srv = s;
    r->http = h;
    r->route_name = "unmatched";
    api_request_init(&r->api, s->opts.deps);
    httpd_set_app_data(h, r, srv_req_free);
    kg_metric_add(s->in_flight, NULL, 1);
    request_id(httpd_header(h, "X-Request-Id"), r->api.request_id);
    clientaddr_resolve(s->opts.trusted_proxies, httpd_client_ip(h),
                       s->opts.trusted_proxies ? httpd_header_last(h, "X-Forwarded-For") : NULL,
                       r->client_ip);
    const char *path = httpd_path(h);
    r->api.method = httpd_method(h);
    r->is_v1 = strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0;
    r->instance = path; /* lives as long as the request */
    return r;
}

static enum httpd_action on_request(struct httpd_request *h, void *app)
{
    struct server *s = app;
    struct srv_req *r = srv_req_new(s, h);
    const char *path = httpd_path(h);
    const char *method = r->api.method;
    enum kg_err err = httpd_path_error(h);
    if (err != KG_OK) {
        r->instance = NULL;
        const char *why = httpd_error_detail(h);
        api_set_detail(&r->api, why ? why : "malformed request");
        finish(r, err);
        return HTTPD_RESPOND;
    }
    /* Echoed only once the head passed its checks, and only as visible ASCII
     * that fits whole (an allowed "*" echoes what the caller sent). */
    const char *origin = httpd_header(h, "Origin");
    if (origin && origin_echo_ok(origin) && origin_allowed(s, origin))
        memcpy(r->origin, origin, strlen(origin) + 1);

    const char *pattern = NULL;
    const struct api_route *route = api_route_match(method, path, r->api.channel, r->allow,
                                                    sizeof r->allow, &pattern, &err);
    if (pattern)
        r->route_name = pattern;
    if (strcmp(method, "OPTIONS") == 0)
        return preflight(r, err);
    if (!route) {
        finish(r, err);
        return HTTPD_RESPOND;
    }
    r->api.route = route;

    /* What the route reads, copied: the handler may run on another thread. */
    size_t body_len;
    const char *body = httpd_body(h, &body_len);
    err = api_request_prepare(&r->api, query_of, h, httpd_header(h, "Content-Type"), body,
                              body_len);
    if (err != KG_OK) {
        finish(r, err);
        return HTTPD_RESPOND;
    }
    if (route->needs_auth) {
        err = authenticate(r);
        if (err != KG_OK) {
            finish(r, err);
            return HTTPD_RESPOND;
        }
    }

    r->api.deadline_ms = kg_mono_ms() + s->opts.request_deadline_ms;
    r->api.call.deadline_ms = r->api.deadline_ms;
    r->api.call.request_id = r->api.request_id;
    err = api_dispatch(&r->api, 0);
    if (err != KG_ERR_WOULD_BLOCK) {
        finish(r, err);
        return HTTPD_RESPOND;
    }
    httpd_suspend(h);
    if (workers_submit(s->opts.workers, run_deferred, r) != KG_OK) {
        kg_metric_inc(s->rejected, NULL);
        api_set_detail(&r->api, "kvsgate is overloaded; try again shortly");
        finish(r, KG_ERR_UNAVAILABLE);
        httpd_resume(h);
    }
    return HTTPD_SUSPENDED;
}

static void access_log(struct srv_req *r, int status, double seconds, int completed_ok)
{
    struct kg_log_line l;
    if (!kg_log_begin(&l, KG_LOG_INFO, "access"))
        return;
    const struct api_request *a = &r->api;
    kg_log_str(&l, "request_id", a->request_id);
    kg_log_str(&l, "method", a->method ? a->method : "");
    kg_log_str(&l, "route", r->route_name);
    kg_log_int(&l, "status", status);
    kg_log_int(&l, "duration_us", (int64_t)(seconds * 1e6));
    kg_log_int(&l, "bytes", (int64_t)httpd_response_bytes(r->http));
    kg_log_str(&l, "client_ip", r->client_ip);
    if (a->authenticated) {
        kg_log_str(&l, "issuer", a->principal.issuer);
        kg_log_str(&l, "subject", a->principal.sub);
    }
    if (a->channel[0])
        kg_log_str(&l, "channel", a->channel);
    if (a->role)
        kg_log_str(&l, "role", a->role);
    if (a->signed_client_id[0])
        kg_log_str(&l, "client_id", a->signed_client_id);
    if (a->url_expires_at_s) {
        char at[KG_ISO8601_LEN + 1];
        kg_time_format_iso8601(a->url_expires_at_s, at);
        kg_log_str(&l, "url_expires_at", at);
    }
    if (a->cache)
        kg_log_str(&l, "cache", a->cache);
    kg_log_int(&l, "upstream_calls", a->call.upstream_calls);
    if (a->call.retries)
        kg_log_int(&l, "retries", a->call.retries);
    if (a->call.error_type[0])
        kg_log_str(&l, "aws_error", a->call.error_type);
    if (status >= 400 && a->detail[0])
        kg_log_str(&l, "detail", a->detail);
    if (!completed_ok)
        kg_log_bool(&l, "client_gone", 1);
    kg_log_end(&l);
}

static void on_complete(struct httpd_request *h, int completed_ok, void *app)
{
    struct server *s = app;
    struct srv_req *r = httpd_app_data(h);
    if (!r)
        return;
    int status = httpd_status(h);
    double seconds = (double)(kg_mono_us() - httpd_started_us(h)) / 1e6;
    char status_text[KG_DECIMAL_MAX + 1];
    kg_decimal(status, status_text);
    const char *method = r->api.method ? r->api.method : "OTHER";
    static const char *const known[] = {"GET", "PUT", "DELETE", "OPTIONS", "HEAD", "POST", "PATCH"};
    const char *m = "OTHER";
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            m = known[i];
    kg_metric_inc(s->requests, (const char *[]){r->route_name, m, status_text});
    kg_metric_observe(s->duration, (const char *[]){r->route_name}, seconds);
    kg_metric_add(s->in_flight, NULL, -1);
    if (r->api.cache && strcmp(r->api.cache, "hit") != 0)
        kg_metric_inc(s->aws_waits, (const char *[]){r->route_name});
    if (s->opts.access_log)
        access_log(r, status, seconds, completed_ok);
}

struct httpd_app server_httpd_app(struct server *s)
{
    return (struct httpd_app){on_request, on_complete, s};
}
