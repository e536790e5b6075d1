/* STS: AssumeRoleWithWebIdentity (unsigned, the IRSA path) and AssumeRole
 * (SigV4, service sts, on top of the chain's credentials).
 *
 * POST {endpoint}/ with a form body, Version=2011-06-15. The endpoint is
 * KVSGATE_STS_ENDPOINT (options or environment) or the regional
 * https://sts.{region}.{domain}/ (the global endpoint when no region is known).
 * Answers are read with aws/xml.h, strictly: the root must be the action's
 * response, the Credentials element must be there once, each field once and
 * within bounds; anything else is refused rather than guessed at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials_impl.h"
#include "aws/signed_request.h"
#include "core/url.h"
#include "aws/xml.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define STS_VERSION "2011-06-15"
#define STS_URL_MAX 1100
#define STS_FORM_TYPE "application/x-www-form-urlencoded; charset=utf-8"

static const char *sts_domain(const char *region)
{
    return strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
}

void creds_sts_url(const struct creds_ctx *ctx, char *out, size_t cap, const char **region)
{
    const char *r = ctx->region;
    if (!r)
        r = creds_getenv(ctx, "AWS_REGION");
    if (!r)
        r = creds_getenv(ctx, "AWS_DEFAULT_REGION");
    const char *override = ctx->sts_endpoint ? ctx->sts_endpoint
                                             : creds_getenv(ctx, "KVSGATE_STS_ENDPOINT");
    if (override) {
        snprintf(out, cap, "%s", override);
        *region = r ? r : "us-east-1";
    } else if (r) {
        char base[256];
        if (aws_sts_url(r, ctx->mode, base, sizeof base))
            snprintf(out, cap, "%s/", base);
        else
            snprintf(out, cap, "https://sts.%s.%s/", r, sts_domain(r));
        *region = r;
    } else {
        snprintf(out, cap, "https://sts.amazonaws.com/");
        *region = "us-east-1";
    }
}

/* Appends "&name=value" (no '&' first), value percent-encoded. */
static enum kg_err sts_form_add(struct kg_buf *b, const char *name, const char *value)
{
    enum kg_err err = KG_OK;
    if (b->len)
        err = kg_buf_append_char(b, '&');
    if (err == KG_OK)
        err = kg_buf_append_str(b, name);
    if (err == KG_OK)
        err = kg_buf_append_char(b, '=');
    if (err == KG_OK)
        err = kg_uri_encode(b, value, strlen(value), 0);
    return err;
}

/* Leaf text of `name` inside [xml, xml+len), present exactly once, 1..max bytes. */
static int sts_leaf(const char *xml, size_t len, const char *name, size_t max, char **out)
{
    const char *c;
    size_t cl;
    if (xml_find(xml, len, name, &c, &cl) != 1)
        return 0;
    struct kg_buf b;
    kg_buf_init_secret(&b, max);
    if (xml_text(c, cl, &b) != KG_OK || b.len == 0) {
        kg_buf_free(&b);
        return 0;
    }
    *out = kg_buf_take(&b, NULL);
    return 1;
}

static int sts_code_char_ok(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

static enum kg_err sts_error_map(const char *code, long status)
{
    static const char *const throttled[] = {"Throttling", "ThrottlingException",
                                            "RequestLimitExceeded", "TooManyRequestsException"};
    static const char *const unavailable[] = {"IDPCommunicationError", "ServiceUnavailable",
                                              "InternalFailure", "InternalError"};
    for (size_t i = 0; i < sizeof throttled / sizeof throttled[0]; i++)
        if (strcmp(code, throttled[i]) == 0)
            return KG_ERR_UPSTREAM_THROTTLED;
    for (size_t i = 0; i < sizeof unavailable / sizeof unavailable[0]; i++)
        if (strcmp(code, unavailable[i]) == 0)
            return KG_ERR_UPSTREAM_UNAVAILABLE;
    if (status == 429)
        return KG_ERR_UPSTREAM_THROTTLED;
    if (status >= 500)
        return KG_ERR_UPSTREAM_UNAVAILABLE;
    return KG_ERR_UPSTREAM_REFUSED;
}

enum kg_err creds_sts_parse(const char *action, long status, const char *body, size_t len,
                            struct creds_fields *out, char *error_code, size_t error_code_cap)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    char root[64], want[64];
    char *expiration = NULL;
    if (error_code_cap)
        error_code[0] = '\0';
    int ok2xx = status >= 200 && status < 300;

    if (xml_check(body, len) != KG_OK || xml_root_name(body, len, root, sizeof root) != KG_OK) {
        result = ok2xx ? KG_ERR_UPSTREAM_REFUSED : creds_status_err(status);
        goto cleanup;
    }
    if (strcmp(root, "ErrorResponse") == 0 || !ok2xx) {
        const char *e, *c;
        size_t el, cl;
        struct kg_buf code;
        char storage[65];
        kg_buf_init_fixed(&code, storage, sizeof storage);
        if (xml_find(body, len, "Error", &e, &el) == 1 && xml_find(e, el, "Code", &c, &cl) == 1 &&
            xml_text(c, cl, &code) == KG_OK && code.len && sts_code_char_ok(code.data)) {
            if (error_code_cap)
                snprintf(error_code, error_code_cap, "%s", code.data);
            result = sts_error_map(code.data, status);
        } else {
            result = ok2xx ? KG_ERR_UPSTREAM_REFUSED : creds_status_err(status);
        }
        /* An error document with a 2xx status is not something to act on. */
        if (ok2xx)
            result = KG_ERR_UPSTREAM_REFUSED;
        goto cleanup;
    }

    snprintf(want, sizeof want, "%sResponse", action);
    if (strcmp(root, want) != 0)
        goto cleanup;
    const char *res, *cred;
    size_t res_len, cred_len;
    snprintf(want, sizeof want, "%sResult", action);
    if (xml_find(body, len, want, &res, &res_len) != 1 ||
        xml_find(res, res_len, "Credentials", &cred, &cred_len) != 1)
        goto cleanup;
    if (!sts_leaf(cred, cred_len, "AccessKeyId", CREDS_ACCESS_KEY_ID_MAX, &out->access_key_id) ||
        !sts_leaf(cred, cred_len, "SecretAccessKey", CREDS_SECRET_MAX, &out->secret_access_key) ||
        !sts_leaf(cred, cred_len, "SessionToken", CREDS_TOKEN_MAX, &out->session_token) ||
        !sts_leaf(cred, cred_len, "Expiration", 64, &expiration))
        goto cleanup;
    if (kg_time_parse_iso8601(expiration, &out->expires_at_s) != KG_OK || out->expires_at_s <= 0)
        goto cleanup;
    result = creds_fields_validate(out);
cleanup:
    free(expiration);
    if (result != KG_OK)
        creds_fields_cleanup(out);
    return result;
}

/* POSTs the form and reads the answer. */
/* signed_at_s: when a signed request was signed (0: unsigned). */
static enum kg_err sts_call(const struct creds_ctx *ctx, const char *action, const char *url,
                            const struct kg_http_header *headers, size_t header_count,
                            const struct kg_buf *form, int64_t signed_at_s,
                            struct creds_fields *out)
{
    struct kg_http_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .header_count = header_count,
        .body = form->data,
        .body_len = form->len,
        .timeout_ms = ctx->http_timeout_ms,
        .connect_timeout_ms = ctx->http_timeout_ms < 2000 ? ctx->http_timeout_ms : 2000,
        .max_response_len = CREDS_RESPONSE_MAX,
    };
    struct kg_http_response resp;
    kg_http_response_init(&resp);
    enum kg_err err = kg_http_perform(ctx->http, &req, &resp);
    const char *source = strcmp(action, "AssumeRole") == 0 ? "assume_role" : "web_identity";
    if (err != KG_OK) {
        creds_log_failure(source, action, err, 0, "STS did not answer");
    } else {
        char code[65] = "";
        err = creds_sts_parse(action, resp.status, resp.body.data, resp.body.len, out, code,
                              sizeof code);
        if (err != KG_OK)
            creds_log_failure(source, action, err, resp.status, code);
        /* A skewed clock refused here is learnt too: the refresher's next try
         * (soon, as after any failure) signs with AWS's time. */
        if (err != KG_OK && signed_at_s)
            (void)signed_request_note_skew(&resp, code, resp.status, signed_at_s);
    }
    kg_http_response_cleanup(&resp);
    return err;
}

enum kg_err creds_sts_assume_role_with_web_identity(const struct creds_ctx *ctx,
                                                    const char *role_arn, const char *session_name,
                                                    const char *web_identity_token,
                                                    struct creds_fields *out)
{
    char url[STS_URL_MAX];
    const char *region;
    creds_sts_url(ctx, url, sizeof url, &region);
    struct kg_buf form;
    kg_buf_init_secret(&form, 2 * CREDS_TOKEN_FILE_MAX + 4096);
    enum kg_err err = sts_form_add(&form, "Action", "AssumeRoleWithWebIdentity");
    if (err == KG_OK)
        err = sts_form_add(&form, "RoleArn", role_arn);
    if (err == KG_OK)
        err = sts_form_add(&form, "RoleSessionName", session_name);
    if (err == KG_OK)
        err = sts_form_add(&form, "Version", STS_VERSION);
    if (err == KG_OK)
        err = sts_form_add(&form, "WebIdentityToken", web_identity_token);
    if (err == KG_OK) {
        struct kg_http_header headers[] = {{"content-type", STS_FORM_TYPE},
                                           {"accept", "text/xml"}};
        err = sts_call(ctx, "AssumeRoleWithWebIdentity", url, headers, 2, &form, 0, out);
    }
    kg_buf_free(&form);
    return err;
}

enum kg_err creds_sts_assume_role(const struct creds_ctx *ctx,
                                  const struct sigv4_credentials *base, struct creds_fields *out)
{
    char url[STS_URL_MAX];
    const char *region;
    creds_sts_url(ctx, url, sizeof url, &region);
    struct url_parts u;
    enum kg_err err = url_parse(url, 0, &u);
    if (err != KG_OK) {
        creds_log_failure("assume_role", "endpoint", err, 0, "the STS endpoint is not a URL");
        return KG_ERR_INTERNAL;
    }
    if (!ctx->http)
        return KG_ERR_INTERNAL;
    char duration[24];
    snprintf(duration, sizeof duration, "%lld", (long long)ctx->assume_role_duration_s);
    struct kg_buf form;
    kg_buf_init(&form, 8192);
    err = sts_form_add(&form, "Action", "AssumeRole");
    if (err == KG_OK)
        err = sts_form_add(&form, "DurationSeconds", duration);
    if (err == KG_OK && ctx->assume_role_external_id)
        err = sts_form_add(&form, "ExternalId", ctx->assume_role_external_id);
    if (err == KG_OK)
        err = sts_form_add(&form, "RoleArn", ctx->assume_role_arn);
    if (err == KG_OK)
        err = sts_form_add(&form, "RoleSessionName", ctx->assume_role_session_name);
    if (err == KG_OK)
        err = sts_form_add(&form, "Version", STS_VERSION);
    if (err != KG_OK) {
        kg_buf_free(&form);
        return KG_ERR_INTERNAL;
    }
    struct signed_request sr;
    struct signed_request_input in = {
        .url = &u,
        .content_type = STS_FORM_TYPE,
        .body = form.data,
        .body_len = form.len,
        .creds = base,
        .region = region,
        .service = "sts",
        .now_epoch_s = ctx->now_fn() + kg_aws_clock_offset_s(), /* AWS's time */
    };
    err = signed_request_build(&in, &sr);
    if (err != KG_OK) {
        creds_log_failure("assume_role", "sign", err, 0, NULL);
        kg_buf_free(&form);
        return KG_ERR_UPSTREAM_REFUSED;
    }
    err = sts_call(ctx, "AssumeRole", url, sr.headers, sr.header_count, &form, in.now_epoch_s, out);
    signed_request_cleanup(&sr);
    kg_buf_free(&form);
    return err;
}
