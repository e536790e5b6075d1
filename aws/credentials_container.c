/* Container credentials (ECS task roles, EKS Pod Identity).
 *
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is taken against http://169.254.170.2
 * (ECS); otherwise AWS_CONTAINER_CREDENTIALS_FULL_URI, which over plain http is
 * allowed only to loopback and to the ECS/EKS link-local addresses, like the
 * SDKs (a FULL_URI elsewhere would send the authorization token in clear to
 * whoever it names). The token comes from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 * (re-read on every refresh: EKS rotates it) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 * The answer is {"AccessKeyId","SecretAccessKey","Token","Expiration"}.
 */
#include <stdio.h>
#include <string.h>

#include "aws/credentials_impl.h"
#include "core/url.h"
#include "core/mem.h"

#define CONTAINER_ECS_BASE "http://169.254.170.2"
#define CONTAINER_URL_MAX 2048

int creds_container_uri_allowed(const char *uri)
{
    struct url_parts u;
    if (url_parse(uri, URL_ALLOW_QUERY, &u) != KG_OK)
        return 0;
    if (strcmp(u.scheme, "https") == 0)
        return 1;
    static const char *const allowed[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcmp(u.host, allowed[i]) == 0)
            return 1;
    return url_host_is_loopback(u.host);
}

static int container_token_ok(const char *t)
{
    for (; *t; t++)
        if (*t == '\r' || *t == '\n')
            return 0;
    return 1;
}

/* The endpoint from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS) or _FULL_URI
 * (ECS, EKS Pod Identity, local agents). */
static enum kg_err container_url(const char *relative, const char *full,
                                 char url[CONTAINER_URL_MAX])
{
    int n;
    if (relative) {
        if (relative[0] != '/') {
            creds_log_failure("container", "config", KG_ERR_UPSTREAM_REFUSED, 0,
                              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
            return KG_ERR_UPSTREAM_REFUSED;
        }
        n = snprintf(url, CONTAINER_URL_MAX, "%s%s", CONTAINER_ECS_BASE, relative);
    } else {
        if (!creds_container_uri_allowed(full)) {
            creds_log_failure("container", "config", KG_ERR_UPSTREAM_REFUSED, 0,
                              "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to "
                              "loopback or the ECS/EKS container endpoint");
            return KG_ERR_UPSTREAM_REFUSED;
        }
        n = snprintf(url, CONTAINER_URL_MAX, "%s", full);
    }
    if (n < 0 || (size_t)n >= CONTAINER_URL_MAX)
        return KG_ERR_UPSTREAM_REFUSED;
    struct url_parts check;
    if (url_parse(url, URL_ALLOW_QUERY, &check) != KG_OK) {
        creds_log_failure("container", "config", KG_ERR_UPSTREAM_REFUSED, 0,
                          "the container credentials URI is not a URL we accept");
        return KG_ERR_UPSTREAM_REFUSED;
    }
    return KG_OK;
}

/* The authorization token, from its file (EKS Pod Identity, re-read on every
 * fetch: it rotates) or the variable; none is fine. */
static enum kg_err container_token(const struct creds_ctx *ctx, struct kg_buf *token)
{
    kg_buf_init_secret(token, CREDS_TOKEN_FILE_MAX);
    const char *token_file = creds_getenv(ctx, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *token_env = creds_getenv(ctx, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (token_file) {
        enum kg_err err = creds_read_token_file(token_file, token);
        if (err != KG_OK) {
            creds_log_failure("container", "read_token_file", err, 0,
                              "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE is missing, empty or too "
                              "large");
            return err;
        }
    } else if (token_env && kg_buf_append_str(token, token_env) != KG_OK) {
        kg_buf_free(token);
        return KG_ERR_UPSTREAM_REFUSED;
    }
    if (!container_token_ok(token->data)) {
        creds_log_failure("container", "read_token", KG_ERR_UPSTREAM_REFUSED, 0,
                          "the authorization token holds a line break");
        kg_buf_free(token);
        return KG_ERR_UPSTREAM_REFUSED;
    }
    return KG_OK;
}

enum kg_err creds_container_fetch(const struct creds_ctx *ctx, struct creds_snapshot **out)
{
    const char *relative = creds_getenv(ctx, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = creds_getenv(ctx, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!relative && !full)
        return CREDS_NOT_CONFIGURED;
    if (!ctx->http) {
        creds_log_failure("container", "config", KG_ERR_INTERNAL, 0, "no HTTP client");
        return KG_ERR_INTERNAL;
    }
    char url[CONTAINER_URL_MAX];
    enum kg_err err = container_url(relative, full, url);
    if (err != KG_OK)
        return err;
    struct kg_buf token;
    if ((err = container_token(ctx, &token)) != KG_OK)
        return err;

    struct kg_http_header headers[2] = {{"accept", "application/json"},
                                        {"authorization", token.data}};
    struct kg_http_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .header_count = token.len ? 2 : 1,
        .timeout_ms = ctx->http_timeout_ms,
        .connect_timeout_ms = ctx->http_timeout_ms < 2000 ? ctx->http_timeout_ms : 2000,
        .max_response_len = CREDS_RESPONSE_MAX,
        .direct = 1, /* credentials never pass a proxy */
    };
    struct kg_http_response resp;
    kg_http_response_init(&resp);
    err = kg_http_perform(ctx->http, &req, &resp);
    kg_buf_free(&token);
    struct creds_fields f = {0};
    if (err != KG_OK) {
        creds_log_failure("container", "get", err, 0, "the container endpoint did not answer");
    } else if ((err = creds_status_err(resp.status)) != KG_OK) {
        creds_log_failure("container", "get", err, resp.status, NULL);
    } else if ((err = creds_parse_json(resp.body.data, resp.body.len, 0, &f)) != KG_OK) {
        creds_log_failure("container", "parse", err, resp.status,
                          "the answer is not the credentials document");
    }
    kg_http_response_cleanup(&resp);
    if (err != KG_OK)
        return err;
    *out = creds_snapshot_take(&f, "container");
    return KG_OK;
}
