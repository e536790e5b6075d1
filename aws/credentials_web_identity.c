/* Web identity (EKS IRSA): AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 * (+ AWS_ROLE_SESSION_NAME) -> STS AssumeRoleWithWebIdentity. The token file
 * is re-read on every refresh: the kubelet rotates it. */
#include "aws/credentials_impl.h"

enum kg_err creds_web_identity_fetch(const struct creds_ctx *ctx, struct creds_snapshot **out)
{
    const char *role_arn = creds_getenv(ctx, "AWS_ROLE_ARN");
    const char *token_file = creds_getenv(ctx, "AWS_WEB_IDENTITY_TOKEN_FILE");
    if (!role_arn || !token_file)
        return CREDS_NOT_CONFIGURED;
    if (!ctx->http) {
        creds_log_failure("web_identity", "config", KG_ERR_INTERNAL, 0, "no HTTP client");
        return KG_ERR_INTERNAL;
    }
    const char *session = creds_getenv(ctx, "AWS_ROLE_SESSION_NAME");
    if (!session)
        session = "kvsgate";

    struct kg_buf token;
    enum kg_err err = creds_read_token_file(token_file, &token);
    if (err != KG_OK) {
        creds_log_failure("web_identity", "read_token_file", err, 0,
                          "AWS_WEB_IDENTITY_TOKEN_FILE is missing, empty or too large");
        return err;
    }
    struct creds_fields f = {0};
    err = creds_sts_assume_role_with_web_identity(ctx, role_arn, session, token.data, &f);
    kg_buf_free(&token);
    if (err != KG_OK)
        return err;
    *out = creds_snapshot_take(&f, "web_identity");
    return KG_OK;
}
