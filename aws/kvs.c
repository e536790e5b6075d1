/* The KVS client: request building, signing, retries, metrics.
 *
 * Every operation is one kvs_execute: build the JSON body once, then per
 * attempt take the current credentials snapshot, sign (x-amz-date is the
 * attempt's time), send, read. Throttling, 5xx, connection failures and
 * timeouts are retried with full-jitter backoff while the call's deadline
 * allows (an attempt's timeout is cut to what is left; a backoff that would
 * end past the deadline is not slept, the last error is returned instead).
 * Errors are read by kvs_errors.c, answers by kvs_json.c.
 */
#include "aws/kvs.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/budget.h"
#include "aws/endpoints.h"
#include "aws/kvs_impl.h"
#include "aws/signed_request.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/num.h"
#include "core/timeutil.h"
#include "core/url.h"

#define KVS_SERVICE "kinesisvideo"
#define KVS_JSON_TYPE "application/json"
#define KVS_RESPONSE_MAX (256 * 1024)
#define KVS_LIST_RESPONSE_MAX (8 * 1024 * 1024)
#define KVS_REQUEST_MAX (64 * 1024)
#define KVS_TAGS_MAX 50
#define KVS_TAG_PAGES_MAX 20

struct kvs_client {
    struct kg_http_client *http;
    struct creds_provider *creds;
    char region[KVS_REGION_MAX + 1];
    char base_url[KVS_URL_MAX + 1]; /* no trailing '/' */
    int64_t connect_timeout_ms;
    int64_t call_timeout_ms;
    struct kvs_retry_policy retry;
    int64_t (*now_fn)(void);
    struct budget *budget; /* borrowed; NULL: no upstream budgets */
};

/* ---- validation ------------------------------------------------------------ */

const char *kvs_region_domain(const char *region)
{
    const struct aws_partition *p = aws_partition_of(region);
    return p ? p->dns : "amazonaws.com";
}

void kvs_stun_url(const char *region, char out[KVS_URL_MAX + 1])
{
    if (!aws_stun_url(region, (struct aws_endpoint_mode){0}, out, KVS_URL_MAX + 1))
        snprintf(out, KVS_URL_MAX + 1, "stun:stun.kinesisvideo.%s.%s:443", region,
                 kvs_region_domain(region));
}

int kvs_arn_valid(const char *arn)
{
    if (!arn || !arn[0] || strlen(arn) > KVS_ARN_MAX || strncmp(arn, "arn:", 4) != 0)
        return 0;
    for (const char *p = arn; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

/* ---- metrics ---------------------------------------------------------------- */

static struct kg_metric *kvs_calls_metric, *kvs_duration_metric;
static pthread_once_t kvs_metric_once = PTHREAD_ONCE_INIT;

static void kvs_metric_init(void)
{
    kvs_calls_metric = kg_metric_counter("kvsgate_upstream_calls_total",
                                         "HTTP calls to AWS by operation and outcome",
                                         "operation,outcome");
    kvs_duration_metric = kg_metric_histogram("kvsgate_upstream_duration_seconds",
                                              "Duration of HTTP calls to AWS", "operation", NULL,
                                              0);
}

static const char *kvs_outcome(enum kg_err err)
{
    switch (err) {
    case KG_OK:
        return "ok";
    case KG_ERR_CHANNEL_NOT_FOUND:
        return "not_found";
    case KG_ERR_CHANNEL_NOT_ACTIVE:
        return "not_active";
    case KG_ERR_BAD_REQUEST:
        return "bad_request";
    case KG_ERR_UPSTREAM_THROTTLED:
        return "throttled";
    case KG_ERR_UPSTREAM_REFUSED:
        return "refused";
    case KG_ERR_UPSTREAM_UNAVAILABLE:
        return "unavailable";
    case KG_ERR_UPSTREAM_TIMEOUT:
        return "timeout";
    default:
        return "error";
    }
}

/* ---- client ----------------------------------------------------------------- */

enum kg_err kvs_client_new(const struct kvs_client_options *opts, struct kvs_client **out)
{
    if (!opts || !out || !opts->http || !opts->creds || !opts->region ||
        !kg_kvs_region_valid(opts->region))
        return KG_ERR_BAD_REQUEST;
    struct kvs_client *c = kg_calloc(1, sizeof *c);
    c->http = opts->http;
    c->creds = opts->creds;
    memcpy(c->region, opts->region, strlen(opts->region) + 1);
    int n;
    if (opts->endpoint && opts->endpoint[0]) {
        size_t len = strlen(opts->endpoint);
        while (len && opts->endpoint[len - 1] == '/')
            len--;
        n = snprintf(c->base_url, sizeof c->base_url, "%.*s", (int)len, opts->endpoint);
    } else if (aws_kvs_url(c->region, opts->mode, c->base_url, sizeof c->base_url)) {
        n = (int)strlen(c->base_url);
    } else {
        n = snprintf(c->base_url, sizeof c->base_url, "https://kinesisvideo.%s.%s", c->region,
                     kvs_region_domain(c->region));
    }
    struct url_parts check;
    if (n < 0 || (size_t)n >= sizeof c->base_url - 64 ||
        url_parse(c->base_url, 0, &check) != KG_OK) {
        free(c);
        return KG_ERR_BAD_REQUEST;
    }
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    c->call_timeout_ms = opts->call_timeout_ms > 0 ? opts->call_timeout_ms : 5000;
    c->retry.max_attempts = opts->retry.max_attempts > 0 ? opts->retry.max_attempts : 3;
    c->retry.base_delay_ms = opts->retry.base_delay_ms > 0 ? opts->retry.base_delay_ms : 50;
    c->retry.max_delay_ms = opts->retry.max_delay_ms > 0 ? opts->retry.max_delay_ms : 1000;
    c->now_fn = opts->now_fn ? opts->now_fn : kg_aws_now_s;
    c->budget = opts->budget;
    pthread_once(&kvs_metric_once, kvs_metric_init);
    *out = c;
    return KG_OK;
}

void kvs_client_free(struct kvs_client *c) { free(c); }

const char *kvs_client_region(const struct kvs_client *c) { return c->region; }

/* ---- one call with retries --------------------------------------------------- */

int64_t kvs_backoff_ms(const struct kvs_retry_policy *p, int retry)
{
    int64_t cap = p->base_delay_ms;
    for (int i = 0; i < retry && cap < p->max_delay_ms; i++)
        cap *= 2;
    if (cap > p->max_delay_ms)
        cap = p->max_delay_ms;
    if (cap <= 0)
        return 0;
    uint64_t r = 0;
    if (kg_random_bytes(&r, sizeof r) != KG_OK)
        return cap / 2;
    return (int64_t)(r % (uint64_t)(cap + 1));
}

struct kvs_request {
    const char *operation; /* AWS name, for metrics and logs */
    const char *url;
    const char *body;
    size_t body_len;
    size_t max_response_len;
    kvs_parse_fn parse;
    void *parse_arg;
    int once; /* not idempotent: one attempt */
    const char *channel; /* the resource the budget counts the call against, or NULL */
};

static int kvs_retryable(enum kg_err err)
{
    return err == KG_ERR_UPSTREAM_THROTTLED || err == KG_ERR_UPSTREAM_UNAVAILABLE ||
           err == KG_ERR_UPSTREAM_TIMEOUT;
}

static void kvs_set_type(struct kvs_call *call, const char *type)
{
    snprintf(call->error_type, sizeof call->error_type, "%s", type);
}

static int64_t kvs_retry_after(const struct kg_http_response *resp, enum kg_err err)
{
    if (err != KG_ERR_UPSTREAM_THROTTLED && err != KG_ERR_UPSTREAM_UNAVAILABLE)
        return 0;
    int64_t v;
    if (kg_parse_int64(kg_http_response_header(resp, "retry-after"), 1, 3600, &v))
        return v;
    return 1;
}

/* One attempt: sign with the current credentials and send. */
static enum kg_err kvs_attempt(struct kvs_client *c, struct kvs_call *call,
                               const struct kvs_request *r, const struct url_parts *u,
                               int64_t timeout_ms, struct kg_http_response *resp, long *status,
                               int *skew_corrected)
{
    *status = 0;
    *skew_corrected = 0;
    struct creds_snapshot *creds = creds_acquire(c->creds);
    if (!creds) {
        /* Ours, not AWS's: the credentials lapsed (readiness says so too).
         * A 503 with Retry-After, as the refresh thread will recover. */
        kvs_set_type(call, KVS_ETYPE_NO_CREDENTIALS);
        creds_provider_refresh_soon(c->creds);
        return KG_ERR_UNAVAILABLE;
    }
    struct signed_request sr;
    struct signed_request_input in = {
        .url = u,
        .content_type = KVS_JSON_TYPE,
        .body = r->body,
        .body_len = r->body_len,
        .creds = &creds->sigv4,
        .region = c->region,
        .service = KVS_SERVICE,
        .now_epoch_s = c->now_fn(),
    };
    enum kg_err err = signed_request_build(&in, &sr);
    if (err != KG_OK) {
        creds_release(creds);
        kvs_set_type(call, "kvsgate.SigningFailed");
        return KG_ERR_INTERNAL;
    }
    struct kg_http_request req = {
        .method = "POST",
        .url = r->url,
        .headers = sr.headers,
        .header_count = sr.header_count,
        .body = r->body,
        .body_len = r->body_len,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = c->connect_timeout_ms < timeout_ms ? c->connect_timeout_ms
                                                                 : timeout_ms,
        .max_response_len = r->max_response_len,
    };
    int64_t t0 = kg_mono_us();
    call->upstream_calls++;
    err = kg_http_perform(c->http, &req, resp);
    double seconds = (double)(kg_mono_us() - t0) / 1e6;
    signed_request_cleanup(&sr);
    creds_release(creds);
    kg_metric_observe(kvs_duration_metric, (const char *[]){r->operation}, seconds);

    if (err != KG_OK) {
        kvs_set_type(call, err == KG_ERR_UPSTREAM_TIMEOUT   ? KVS_ETYPE_TIMEOUT
                           : err == KG_ERR_UPSTREAM_REFUSED ? KVS_ETYPE_TOO_LARGE
                                                            : KVS_ETYPE_CONNECTION);
        if (err == KG_ERR_BAD_REQUEST)
            err = KG_ERR_INTERNAL; /* a request we built that the transport refused */
    } else {
        *status = resp->status;
        if (resp->status >= 200 && resp->status < 300) {
            err = r->parse ? r->parse(resp->body.data, resp->body.len, r->parse_arg) : KG_OK;
            if (err != KG_OK) {
                err = KG_ERR_UPSTREAM_REFUSED;
                kvs_set_type(call, KVS_ETYPE_UNREADABLE);
            }
        } else {
            char type[KVS_ERROR_TYPE_MAX + 1];
            kvs_error_type(resp, type, sizeof type);
            err = kvs_error_map(type, resp->status);
            kvs_set_type(call, type[0] ? type : KVS_ETYPE_UNREADABLE);
            *skew_corrected = signed_request_note_skew(resp, type, resp->status, in.now_epoch_s);
            if (kvs_error_is_expired_token(type))
                creds_provider_refresh_soon(c->creds);
        }
    }
    kg_metric_inc(kvs_calls_metric, (const char *[]){r->operation, kvs_outcome(err)});
    return err;
}

static void kvs_log_failure(const struct kvs_request *r, const struct kvs_call *call,
                            enum kg_err err, long status, int attempt, int64_t retry_in_ms)
{
    enum kg_log_level level = retry_in_ms >= 0 ? KG_LOG_INFO
                              : (err == KG_ERR_CHANNEL_NOT_FOUND || err == KG_ERR_BAD_REQUEST ||
                                 err == KG_ERR_CHANNEL_NOT_ACTIVE)
                                  ? KG_LOG_INFO
                                  : KG_LOG_WARN;
    struct kg_log_line l;
    if (!kg_log_begin(&l, level, retry_in_ms >= 0 ? "kvs_retry" : "kvs_call_failed"))
        return;
    kg_log_str(&l, "operation", r->operation);
    if (call->request_id)
        kg_log_str(&l, "request_id", call->request_id);
    kg_log_str(&l, "error", kg_err_name(err));
    kg_log_str(&l, "error_type", call->error_type);
    if (status)
        kg_log_int(&l, "status", status);
    kg_log_int(&l, "attempt", attempt);
    if (retry_in_ms >= 0)
        kg_log_int(&l, "retry_in_ms", retry_in_ms);
    kg_log_end(&l);
}

static enum kg_err kvs_execute(struct kvs_client *c, struct kvs_call *call,
                               const struct kvs_request *r)
{
    struct url_parts u;
    if (url_parse(r->url, 0, &u) != KG_OK)
        return KG_ERR_BAD_REQUEST;
    call->error_type[0] = '\0';
    call->retry_after_s = 0;
    int64_t deadline = call->deadline_ms
                           ? call->deadline_ms
                           : kg_mono_ms() + c->call_timeout_ms * c->retry.max_attempts;
    enum kg_err err = KG_ERR_UPSTREAM_TIMEOUT;
    int corrected_once = 0; /* 1: a skew correction is being tried, 2: done with it */
    int64_t offset_before = 0;
    for (int attempt = 1;; attempt++) {
        int64_t left = deadline - kg_mono_ms();
        if (left <= 0) {
            /* After a failed attempt (a backoff that overslept the deadline on a
             * loaded machine), its answer is still the better error. */
            if (attempt == 1) {
                kvs_set_type(call, KVS_ETYPE_DEADLINE);
                err = KG_ERR_UPSTREAM_TIMEOUT;
            }
            kvs_log_failure(r, call, err, 0, attempt, -1);
            return err;
        }
        int64_t wait = 0;
        if (!budget_take(c->budget, r->operation, r->channel, left - 1, &wait)) {
            /* Over budget: answered now, with when to come back, instead of a
             * call AWS would throttle (or, on a retry, the last answer). */
            int64_t wait_s = (wait + 999) / 1000;
            if (attempt == 1) {
                kvs_set_type(call, KVS_ETYPE_BUDGET);
                err = KG_ERR_UPSTREAM_BUDGET;
            }
            if (call->retry_after_s < wait_s)
                call->retry_after_s = wait_s;
            if (attempt > 1)
                kvs_log_failure(r, call, err, 0, attempt - 1, -1);
            return err;
        }
        if (wait > 0) {
            kg_sleep_ms(wait);
            left = deadline - kg_mono_ms();
            if (left <= 0)
                left = 1;
        }
        int64_t timeout = left < c->call_timeout_ms ? left : c->call_timeout_ms;
        struct kg_http_response resp;
        kg_http_response_init(&resp);
        long status = 0;
        int skew_corrected = 0;
        if (!corrected_once)
            offset_before = kg_aws_clock_offset_s();
        err = kvs_attempt(c, call, r, &u, timeout, &resp, &status, &skew_corrected);
        call->retry_after_s = kvs_retry_after(&resp, err);
        kg_http_response_cleanup(&resp);
        if (err == KG_OK)
            return KG_OK;
        if (err == KG_ERR_UPSTREAM_THROTTLED)
            budget_throttled(c->budget, r->operation, r->channel);
        if (corrected_once == 1 && err == KG_ERR_UPSTREAM_REFUSED) {
            /* Signed with the learnt time and still refused: the Date did
             * not tell the truth about the time; forget it. */
            kg_aws_clock_offset_set(offset_before);
            corrected_once = 2;
        }
        if (skew_corrected && !corrected_once) {
            /* Signed again with AWS's time, at once (joins too: AWS refused
             * the first before doing anything). */
            corrected_once = 1;
            kvs_log_failure(r, call, err, status, attempt, 0);
            call->retries++;
            continue;
        }
        if (!kvs_retryable(err) || attempt >= c->retry.max_attempts || r->once) {
            kvs_log_failure(r, call, err, status, attempt, -1);
            return err;
        }
        int64_t delay = kvs_backoff_ms(&c->retry, attempt - 1);
        if (kg_mono_ms() + delay >= deadline) {
            /* No time for another try: the last answer is the better error. */
            kvs_log_failure(r, call, err, status, attempt, -1);
            return err;
        }
        kvs_log_failure(r, call, err, status, attempt, delay);
        call->retries++;
        if (delay > 0)
            kg_sleep_ms(delay);
    }
}

/* ---- request bodies -------------------------------------------------------------- */

/* Serialises doc (consumes the reference) into a malloc'ed compact string. */
static char *kvs_dump(json_t *doc, size_t *len)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!s)
        return NULL;
    *len = strlen(s);
    if (*len > KVS_REQUEST_MAX) {
        free(s);
        return NULL;
    }
    return s;
}

int kvs_build_url(struct kvs_client *c, const char *path, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", c->base_url, path);
    return n > 0 && (size_t)n < cap;
}

static int kvs_tags_valid(const struct kvs_tag *tags, size_t count, size_t min)
{
    if (count < min || count > KVS_TAGS_MAX || (count && !tags))
        return 0;
    for (size_t i = 0; i < count; i++) {
        if (!tags[i].key || !tags[i].value)
            return 0;
        size_t kl = strlen(tags[i].key), vl = strlen(tags[i].value);
        if (kl < 1 || kl > 128 || vl > 256)
            return 0;
    }
    return 1;
}

/* The Tags array; NULL when a key or value is not UTF-8 (json_pack refuses
 * it): a tag is never dropped on the quiet. */
static json_t *kvs_tags_json(const struct kvs_tag *tags, size_t count)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++) {
        json_t *tag = json_pack("{s:s, s:s}", "Key", tags[i].key, "Value", tags[i].value);
        if (!tag || json_array_append_new(arr, tag) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static enum kg_err kvs_run(struct kvs_client *c, struct kvs_call *call, const char *operation,
                           const char *url, json_t *doc, size_t max_response, kvs_parse_fn parse,
                           void *arg)
{
    return kvs_json_call(c, call, operation, url, doc, max_response, parse, arg, 0);
}

/* The resource a call counts against in the per-channel budgets, from its
 * request: "channel/NAME" (ChannelName, or the channel's ARN: by name and by
 * ARN one channel is one resource) or "stream/NAME"; "" when it names none. */
static void kvs_budget_resource(json_t *doc, char *out, size_t cap)
{
    static const char *const names[][2] = {{"ChannelName", "channel"}, {"StreamName", "stream"}};
    static const char *const arns[] = {"ChannelARN", "ResourceARN", "StreamARN"};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = json_string_value(json_object_get(doc, names[i][0]));
        if (v) {
            snprintf(out, cap, "%s/%s", names[i][1], v);
            return;
        }
    }
    for (size_t i = 0; i < sizeof arns / sizeof arns[0]; i++) {
        const char *v = json_string_value(json_object_get(doc, arns[i]));
        if (!v)
            continue;
        /* arn:PARTITION:kinesisvideo:REGION:ACCOUNT:TYPE/NAME/CREATION */
        const char *res = v;
        for (int colons = 0; colons < 5 && res; colons++) {
            res = strchr(res, ':');
            if (res)
                res++;
        }
        const char *slash = res ? strchr(res, '/') : NULL;
        if (!slash)
            return;
        const char *end = strchr(slash + 1, '/');
        size_t n = end ? (size_t)(end - res) : strlen(res);
        if (n < cap) {
            memcpy(out, res, n);
            out[n] = '\0';
        }
        return;
    }
}

enum kg_err kvs_json_call(struct kvs_client *c, struct kvs_call *call, const char *operation,
                          const char *url, json_t *doc, size_t max_response, kvs_parse_fn parse,
                          void *arg, int once)
{
    if (!doc)
        return KG_ERR_BAD_REQUEST; /* json_pack refuses invalid UTF-8 */
    char resource[KVS_ARN_MAX + 16];
    kvs_budget_resource(doc, resource, sizeof resource);
    size_t len = 0;
    char *body = kvs_dump(doc, &len);
    if (!body)
        return KG_ERR_BAD_REQUEST;
    struct kvs_request r = {
        .operation = operation,
        .url = url,
        .body = body,
        .body_len = len,
        .max_response_len = max_response,
        .parse = parse,
        .parse_arg = arg,
        .once = once,
        .channel = resource[0] ? resource : NULL,
    };
    enum kg_err err = kvs_execute(c, call, &r);
    free(body);
    return err;
}

/* ---- parse adapters --------------------------------------------------------------- */

static enum kg_err kvs_p_create(const char *b, size_t n, void *a) { return kvs_parse_create(b, n, a); }
static enum kg_err kvs_p_describe(const char *b, size_t n, void *a)
{
    return kvs_parse_describe(b, n, a);
}
static enum kg_err kvs_p_list(const char *b, size_t n, void *a)
{
    /* A retried call may parse twice: drop an earlier page. */
    kvs_channel_page_cleanup(a);
    return kvs_parse_list(b, n, a);
}
static enum kg_err kvs_p_endpoints(const char *b, size_t n, void *a)
{
    return kvs_parse_endpoints(b, n, a);
}
static enum kg_err kvs_p_empty(const char *b, size_t n, void *a)
{
    (void)a;
    return kvs_parse_empty(b, n);
}

struct kvs_ice_arg {
    struct kvs_ice_config *out;
    int64_t (*now_fn)(void);
};
static enum kg_err kvs_p_ice(const char *b, size_t n, void *a)
{
    /* The time of the answer, on the signing clock: after a skew correction
     * made by this very call, not before it. */
    struct kvs_ice_arg *x = a;
    return kvs_parse_ice(b, n, x->now_fn(), x->out);
}

struct kvs_tags_arg {
    struct kvs_tag_list *acc;
    char next[513];
};
static enum kg_err kvs_p_tags(const char *b, size_t n, void *a)
{
    struct kvs_tags_arg *x = a;
    return kvs_parse_tags(b, n, KVS_TAGS_MAX * KVS_TAG_PAGES_MAX, x->acc, x->next);
}

/* ---- operations --------------------------------------------------------------------- */

enum kg_err kvs_create_channel(struct kvs_client *c, struct kvs_call *call, const char *name,
                               int message_ttl_s, const struct kvs_tag *tags, size_t tag_count,
                               char arn_out[KVS_ARN_MAX + 1])
{
    arn_out[0] = '\0';
    if (!kg_kvs_channel_name_valid(name))
        return KG_ERR_INVALID_CHANNEL_NAME;
    if ((message_ttl_s != 0 && (message_ttl_s < 5 || message_ttl_s > 120)) ||
        !kvs_tags_valid(tags, tag_count, 0))
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:s, s:s}", "ChannelName", name, "ChannelType", "SINGLE_MASTER");
    if (doc && message_ttl_s)
        json_object_set_new(doc, "SingleMasterConfiguration",
                            json_pack("{s:i}", "MessageTtlSeconds", message_ttl_s));
    if (doc && tag_count && json_object_set_new(doc, "Tags", kvs_tags_json(tags, tag_count)) != 0) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/createSignalingChannel", url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    return kvs_run(c, call, "CreateSignalingChannel", url, doc, KVS_RESPONSE_MAX, kvs_p_create,
                   arn_out);
}

enum kg_err kvs_describe_channel(struct kvs_client *c, struct kvs_call *call, const char *name,
                                 const char *arn, struct kvs_channel *out)
{
    memset(out, 0, sizeof *out);
    json_t *doc;
    if (name && !arn) {
        if (!kg_kvs_channel_name_valid(name))
            return KG_ERR_INVALID_CHANNEL_NAME;
        doc = json_pack("{s:s}", "ChannelName", name);
    } else if (arn && !name) {
        if (!kvs_arn_valid(arn))
            return KG_ERR_BAD_REQUEST;
        doc = json_pack("{s:s}", "ChannelARN", arn);
    } else {
        return KG_ERR_BAD_REQUEST;
    }
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/describeSignalingChannel", url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    return kvs_run(c, call, "DescribeSignalingChannel", url, doc, KVS_RESPONSE_MAX,
                   kvs_p_describe, out);
}

enum kg_err kvs_list_channels(struct kvs_client *c, struct kvs_call *call, const char *prefix,
                              int max_results, const char *next_token,
                              struct kvs_channel_page *out)
{
    memset(out, 0, sizeof *out);
    if (max_results < 1 || max_results > 10000)
        return KG_ERR_BAD_REQUEST;
    if (prefix && prefix[0] && !kg_kvs_channel_name_valid(prefix))
        return KG_ERR_INVALID_CHANNEL_NAME;
    if (next_token && next_token[0] && !kg_kvs_token_valid(next_token, KG_KVS_NEXT_TOKEN_MAX))
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:i}", "MaxResults", max_results);
    if (doc && next_token && next_token[0])
        json_object_set_new(doc, "NextToken", json_string(next_token));
    if (doc && prefix && prefix[0])
        json_object_set_new(doc, "ChannelNameCondition",
                            json_pack("{s:s, s:s}", "ComparisonOperator", "BEGINS_WITH",
                                      "ComparisonValue", prefix));
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/listSignalingChannels", url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    enum kg_err err = kvs_run(c, call, "ListSignalingChannels", url, doc, KVS_LIST_RESPONSE_MAX,
                              kvs_p_list, out);
    if (err != KG_OK)
        kvs_channel_page_cleanup(out);
    return err;
}

enum kg_err kvs_delete_channel(struct kvs_client *c, struct kvs_call *call, const char *arn,
                               const char *version)
{
    if (!kvs_arn_valid(arn))
        return KG_ERR_BAD_REQUEST;
    if (version && (!version[0] || strlen(version) > 64 || !kg_kvs_token_valid(version, 64)))
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:s}", "ChannelARN", arn);
    if (doc && version)
        json_object_set_new(doc, "CurrentVersion", json_string(version));
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/deleteSignalingChannel", url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    return kvs_run(c, call, "DeleteSignalingChannel", url, doc, KVS_RESPONSE_MAX, kvs_p_empty,
                   NULL);
}

enum kg_err kvs_get_endpoints(struct kvs_client *c, struct kvs_call *call, const char *arn,
                              enum kvs_role role, struct kvs_endpoints *out)
{
    memset(out, 0, sizeof *out);
    if (!kvs_arn_valid(arn) || (role != KVS_ROLE_MASTER && role != KVS_ROLE_VIEWER))
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:s, s:{s:[s,s], s:s}}", "ChannelARN", arn,
                            "SingleMasterChannelEndpointConfiguration", "Protocols", "WSS",
                            "HTTPS", "Role", role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER");
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/getSignalingChannelEndpoint", url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    return kvs_run(c, call, "GetSignalingChannelEndpoint", url, doc, KVS_RESPONSE_MAX,
                   kvs_p_endpoints, out);
}

enum kg_err kvs_get_ice_config(struct kvs_client *c, struct kvs_call *call,
                               const char *https_endpoint, const char *arn, const char *client_id,
                               struct kvs_ice_config *out)
{
    memset(out, 0, sizeof *out);
    if (!kvs_arn_valid(arn) || !https_endpoint)
        return KG_ERR_BAD_REQUEST;
    if (client_id && !kg_kvs_client_id_valid(client_id))
        return KG_ERR_INVALID_CLIENT_ID;
    size_t len = strlen(https_endpoint);
    while (len && https_endpoint[len - 1] == '/')
        len--;
    char url[KVS_URL_MAX + 64];
    int n = snprintf(url, sizeof url, "%.*s/v1/get-ice-server-config", (int)len, https_endpoint);
    struct url_parts check;
    if (n < 0 || (size_t)n >= sizeof url || len > KVS_URL_MAX ||
        url_parse(url, 0, &check) != KG_OK)
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:s}", "ChannelARN", arn);
    if (doc && client_id)
        json_object_set_new(doc, "ClientId", json_string(client_id));
    if (doc)
        json_object_set_new(doc, "Service", json_string("TURN"));
    struct kvs_ice_arg arg = {.out = out, .now_fn = c->now_fn};
    return kvs_run(c, call, "GetIceServerConfig", url, doc, KVS_RESPONSE_MAX, kvs_p_ice, &arg);
}

enum kg_err kvs_tag_resource(struct kvs_client *c, struct kvs_call *call, const char *arn,
                             const struct kvs_tag *tags, size_t tag_count)
{
    if (!kvs_arn_valid(arn) || !kvs_tags_valid(tags, tag_count, 1))
        return KG_ERR_BAD_REQUEST;
    json_t *doc = json_pack("{s:s}", "ResourceARN", arn);
    if (doc && json_object_set_new(doc, "Tags", kvs_tags_json(tags, tag_count)) != 0) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/TagResource", url, sizeof url)) {
        json_decref(doc);
        return KG_ERR_BAD_REQUEST;
    }
    return kvs_run(c, call, "TagResource", url, doc, KVS_RESPONSE_MAX, kvs_p_empty, NULL);
}

enum kg_err kvs_list_tags(struct kvs_client *c, struct kvs_call *call, const char *arn,
                          struct kvs_tag_list *out)
{
    memset(out, 0, sizeof *out);
    if (!kvs_arn_valid(arn))
        return KG_ERR_BAD_REQUEST;
    char url[KVS_URL_MAX + 64];
    if (!kvs_build_url(c, "/ListTagsForResource", url, sizeof url))
        return KG_ERR_BAD_REQUEST;
    struct kvs_tags_arg arg = {.acc = out};
    enum kg_err err = KG_OK;
    for (int page = 0; page < KVS_TAG_PAGES_MAX; page++) {
        json_t *doc = json_pack("{s:s}", "ResourceARN", arn);
        if (doc && arg.next[0])
            json_object_set_new(doc, "NextToken", json_string(arg.next));
        err = kvs_run(c, call, "ListTagsForResource", url, doc, KVS_RESPONSE_MAX, kvs_p_tags,
                      &arg);
        if (err != KG_OK || !arg.next[0])
            break;
        if (!kg_kvs_token_valid(arg.next, KG_KVS_NEXT_TOKEN_MAX)) {
            err = KG_ERR_UPSTREAM_REFUSED;
            break;
        }
    }
    if (err == KG_OK && arg.next[0])
        err = KG_ERR_UPSTREAM_REFUSED; /* more pages than any resource has tags */
    if (err != KG_OK)
        kvs_tag_list_cleanup(out);
    return err;
}
