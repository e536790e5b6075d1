/* EC2 instance metadata, IMDSv2 only (no fallback to the v1 GETs):
 *   PUT  /latest/api/token                     x-aws-ec2-metadata-token-ttl-seconds: 21600
 *   GET  /latest/meta-data/iam/security-credentials/        -> role name
 *   GET  /latest/meta-data/iam/security-credentials/<role>  -> credentials JSON
 * with x-aws-ec2-metadata-token on the GETs. The endpoint is the option, else
 * AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254;
 * AWS_EC2_METADATA_DISABLED=true turns the source off. Connects give up after
 * one second, so a machine that is not on EC2 does not wait long here.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aws/credentials_impl.h"
#include "core/url.h"
#include "core/mem.h"

#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_TOKEN_TTL "21600"
#define IMDS_CONNECT_TIMEOUT_MS 1000
#define IMDS_URL_MAX 1400
#define IMDS_TOKEN_MAX 1024
#define IMDS_ROLE_MAX 128

static enum kg_err imds_call(const struct creds_ctx *ctx, const char *method, const char *url,
                             const struct kg_http_header *headers, size_t header_count,
                             const char *step, struct kg_http_response *resp)
{
    struct kg_http_request req = {
        .method = method,
        .url = url,
        .headers = headers,
        .header_count = header_count,
        .timeout_ms = ctx->http_timeout_ms,
        .connect_timeout_ms = ctx->http_timeout_ms < IMDS_CONNECT_TIMEOUT_MS
                                  ? ctx->http_timeout_ms
                                  : IMDS_CONNECT_TIMEOUT_MS,
        .max_response_len = CREDS_RESPONSE_MAX,
        .direct = 1, /* credentials never pass a proxy */
    };
    enum kg_err err = kg_http_perform(ctx->http, &req, resp);
    if (err != KG_OK) {
        creds_log_failure("imds", step, err, 0, "the metadata service did not answer");
        return err;
    }
    err = creds_status_err(resp->status);
    if (err != KG_OK)
        creds_log_failure("imds", step, err, resp->status, NULL);
    return err;
}

/* A role name: 1..128 of IAM's [\w+=,.@-]. */
static int imds_role_ok(const char *s, size_t n)
{
    if (n == 0 || n > IMDS_ROLE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("_+=,.@-", c)))
            return 0;
    }
    return 1;
}

static int imds_token_ok(const char *s, size_t n)
{
    if (n == 0 || n > IMDS_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* Longer than a screen on purpose: the three IMDSv2 calls (token, role,
 * credentials) in their order, sharing the token, the URL buffer and one
 * response; split, each step would take all of them as arguments. */
enum kg_err creds_imds_fetch(const struct creds_ctx *ctx, struct creds_snapshot **out)
{
    const char *disabled = creds_getenv(ctx, "AWS_EC2_METADATA_DISABLED");
    if (disabled && strcasecmp(disabled, "true") == 0)
        return CREDS_NOT_CONFIGURED;
    if (!ctx->http)
        return CREDS_NOT_CONFIGURED;
    const char *base = ctx->imds_endpoint ? ctx->imds_endpoint
                                          : creds_getenv(ctx, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!base)
        base = IMDS_DEFAULT_ENDPOINT;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    char url[IMDS_URL_MAX];
    struct url_parts check;
    int n = snprintf(url, sizeof url, "%.*s", (int)blen, base);
    if (n < 0 || (size_t)n >= sizeof url - 200 || url_parse(url, 0, &check) != KG_OK) {
        creds_log_failure("imds", "config", KG_ERR_UPSTREAM_REFUSED, 0,
                          "the metadata endpoint is not a URL we accept");
        return KG_ERR_UPSTREAM_REFUSED;
    }

    enum kg_err err;
    struct creds_fields f = {0};
    char token[IMDS_TOKEN_MAX + 1] = "";
    char role[IMDS_ROLE_MAX + 1] = "";
    struct kg_http_response resp;
    kg_http_response_init(&resp);

    /* 1. Session token. */
    snprintf(url, sizeof url, "%.*s/latest/api/token", (int)blen, base);
    struct kg_http_header put_headers[] = {{"x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL}};
    err = imds_call(ctx, "PUT", url, put_headers, 1, "token", &resp);
    if (err != KG_OK)
        goto cleanup;
    size_t tl = resp.body.len;
    while (tl && (resp.body.data[tl - 1] == '\n' || resp.body.data[tl - 1] == '\r'))
        tl--;
    if (!imds_token_ok(resp.body.data, tl)) {
        err = KG_ERR_UPSTREAM_REFUSED;
        creds_log_failure("imds", "token", err, resp.status, "not a metadata token");
        goto cleanup;
    }
    memcpy(token, resp.body.data, tl);
    token[tl] = '\0';
    kg_http_response_cleanup(&resp);
    kg_http_response_init(&resp);
    struct kg_http_header get_headers[] = {{"x-aws-ec2-metadata-token", token}};

    /* 2. Role name: the first line. */
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/", (int)blen, base);
    err = imds_call(ctx, "GET", url, get_headers, 1, "role", &resp);
    if (err != KG_OK)
        goto cleanup;
    size_t rl = strcspn(resp.body.data, "\r\n");
    if (!imds_role_ok(resp.body.data, rl)) {
        err = KG_ERR_UPSTREAM_REFUSED;
        creds_log_failure("imds", "role", err, resp.status,
                          "no instance profile role, or not a role name");
        goto cleanup;
    }
    memcpy(role, resp.body.data, rl);
    role[rl] = '\0';
    kg_http_response_cleanup(&resp);
    kg_http_response_init(&resp);

    /* 3. Credentials. */
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int)blen,
             base, role);
    err = imds_call(ctx, "GET", url, get_headers, 1, "credentials", &resp);
    if (err != KG_OK)
        goto cleanup;
    err = creds_parse_json(resp.body.data, resp.body.len, 1, &f);
    if (err != KG_OK)
        creds_log_failure("imds", "credentials", err, resp.status,
                          "the answer is not the credentials document");

cleanup:
    kg_wipe(token, sizeof token);
    kg_http_response_cleanup(&resp);
    if (err != KG_OK) {
        creds_fields_cleanup(&f);
        return err;
    }
    *out = creds_snapshot_take(&f, "imds");
    return KG_OK;
}
