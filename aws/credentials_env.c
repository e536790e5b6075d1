/* Credentials from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * and, for temporary keys, AWS_SESSION_TOKEN. They carry no expiry, so they
 * are never refreshed on a timer (a forced refresh re-reads them). */
#include "aws/credentials_impl.h"
#include "core/mem.h"

enum kg_err creds_env_fetch(const struct creds_ctx *ctx, struct creds_snapshot **out)
{
    const char *akid = creds_getenv(ctx, "AWS_ACCESS_KEY_ID");
    const char *secret = creds_getenv(ctx, "AWS_SECRET_ACCESS_KEY");
    const char *token = creds_getenv(ctx, "AWS_SESSION_TOKEN");
    if (!akid && !secret)
        return CREDS_NOT_CONFIGURED;
    if (!akid || !secret) {
        creds_log_failure("environment", "read", KG_ERR_UPSTREAM_REFUSED, 0,
                          akid ? "AWS_SECRET_ACCESS_KEY is not set"
                               : "AWS_ACCESS_KEY_ID is not set");
        return KG_ERR_UPSTREAM_REFUSED;
    }
    struct creds_fields f = {
        .access_key_id = kg_strdup(akid),
        .secret_access_key = kg_strdup(secret),
        .session_token = token ? kg_strdup(token) : NULL,
        .expires_at_s = 0,
    };
    enum kg_err err = creds_fields_validate(&f);
    if (err != KG_OK) {
        creds_log_failure("environment", "read", err, 0,
                          "a credential variable holds characters or a length AWS never uses");
        creds_fields_cleanup(&f);
        return err;
    }
    *out = creds_snapshot_take(&f, "environment");
    return KG_OK;
}
