/* kvsgate: what the credential sources share (private to aws/credentials*.c
 * and their unit tests).
 *
 * Each source is one file with one fetch function:
 *     credentials_env.c           creds_env_fetch
 *     credentials_web_identity.c  creds_web_identity_fetch
 *     credentials_container.c     creds_container_fetch
 *     credentials_imds.c          creds_imds_fetch
 *     credentials_sts.c           creds_sts_* (AssumeRole[WithWebIdentity], XML)
 * and credentials.c holds snapshots, the chain and the refresh thread.
 * Checklist: a new source also goes into creds_chain[] in credentials.c, the
 * list in credentials.h and the docs of the source strings.
 */
#ifndef KG_AWS_CREDENTIALS_IMPL_H
#define KG_AWS_CREDENTIALS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "aws/credentials.h"
#include "core/buf.h"
#include "core/http.h"

/* A source that is not configured answers this, and the chain moves on. */
#define CREDS_NOT_CONFIGURED KG_ERR_NOT_FOUND

/* Bounds of what we accept from any source. */
#define CREDS_ACCESS_KEY_ID_MAX 128
#define CREDS_SECRET_MAX 256
#define CREDS_TOKEN_MAX 16384
/* Largest body we read from STS, the container endpoint or IMDS. */
#define CREDS_RESPONSE_MAX (64 * 1024)
/* Largest token file (web identity, container authorization). */
#define CREDS_TOKEN_FILE_MAX (16 * 1024)

/* The provider's settings as sources see them (strings owned by the provider). */
struct creds_ctx {
    struct kg_http_client *http;
    const char *(*getenv_fn)(const char *name);
    int64_t (*now_fn)(void);
    char *region;
    struct aws_endpoint_mode mode;
    char *sts_endpoint;
    char *imds_endpoint;
    char *assume_role_arn;
    char *assume_role_external_id;
    char *assume_role_session_name;
    int64_t assume_role_duration_s;
    int64_t http_timeout_ms;
};

/* A set of credentials being built by a source. Secrets are wiped by cleanup. */
struct creds_fields {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL when none */
    int64_t expires_at_s; /* 0: does not expire */
};

void creds_fields_cleanup(struct creds_fields *f);
/* Checks the bounds and characters of every field (KG_ERR_UPSTREAM_REFUSED when
 * something does not fit: a source answered what we cannot use). */
KG_WARN_UNUSED enum kg_err creds_fields_validate(const struct creds_fields *f);

/* A new snapshot (one reference) taking the fields' strings; `source` must be
 * static storage. */
struct creds_snapshot *creds_snapshot_take(struct creds_fields *f, const char *source);
/* One more reference to a snapshot. */
struct creds_snapshot *creds_snapshot_ref(struct creds_snapshot *s);

/* ---- helpers the sources share ------------------------------------------- */

/* The environment variable, or NULL when unset or empty. */
const char *creds_getenv(const struct creds_ctx *ctx, const char *name);
/* Reads a small file (a token), trims trailing whitespace, refuses an empty
 * one. The buffer is a secret buffer: free it with kg_buf_free. */
KG_WARN_UNUSED enum kg_err creds_read_token_file(const char *path, struct kg_buf *out);
/* Error for a non-2xx answer of a credential endpoint: 429 throttled, other
 * 4xx refused, 5xx unavailable. */
enum kg_err creds_status_err(long status);
/* Parses the JSON document of the container endpoint and IMDS:
 * {"AccessKeyId","SecretAccessKey","Token","Expiration"[,"Code"]}. With
 * require_success a present "Code" must be "Success". KG_ERR_UPSTREAM_REFUSED
 * for anything else. */
KG_WARN_UNUSED enum kg_err creds_parse_json(const char *body, size_t len, int require_success,
                                            struct creds_fields *out);
/* Logs a failure of a source (never a secret). */
void creds_log_failure(const char *source, const char *step, enum kg_err err, long status,
                       const char *detail);

/* ---- sources -------------------------------------------------------------- */

KG_WARN_UNUSED enum kg_err creds_env_fetch(const struct creds_ctx *ctx,
                                           struct creds_snapshot **out);
KG_WARN_UNUSED enum kg_err creds_web_identity_fetch(const struct creds_ctx *ctx,
                                                    struct creds_snapshot **out);
KG_WARN_UNUSED enum kg_err creds_container_fetch(const struct creds_ctx *ctx,
                                                 struct creds_snapshot **out);
KG_WARN_UNUSED enum kg_err creds_imds_fetch(const struct creds_ctx *ctx,
                                            struct creds_snapshot **out);

/* Whether a container FULL_URI may be used (https anywhere; http only to
 * loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23, like the SDKs). */
int creds_container_uri_allowed(const char *uri);

/* ---- STS ------------------------------------------------------------------ */

/* AssumeRoleWithWebIdentity (unsigned). */
KG_WARN_UNUSED enum kg_err creds_sts_assume_role_with_web_identity(
    const struct creds_ctx *ctx, const char *role_arn, const char *session_name,
    const char *web_identity_token, struct creds_fields *out);
/* AssumeRole, SigV4-signed (service sts) with `base`. */
KG_WARN_UNUSED enum kg_err creds_sts_assume_role(const struct creds_ctx *ctx,
                                                 const struct sigv4_credentials *base,
                                                 struct creds_fields *out);
/* Reads an STS answer of `action` ("AssumeRole", "AssumeRoleWithWebIdentity").
 * On an STS error document, error_code (cap bytes) gets its <Code>. Errors:
 * KG_ERR_UPSTREAM_THROTTLED (Throttling, 429), KG_ERR_UPSTREAM_UNAVAILABLE
 * (5xx, IDPCommunicationError), KG_ERR_UPSTREAM_REFUSED (other errors, or a
 * document that does not read). */
KG_WARN_UNUSED enum kg_err creds_sts_parse(const char *action, long status, const char *body,
                                           size_t len, struct creds_fields *out,
                                           char *error_code, size_t error_code_cap);
/* STS base URL for ctx: the override, else https://sts.{region}.{domain}/. */
void creds_sts_url(const struct creds_ctx *ctx, char *out, size_t cap, const char **region);

/* ---- testing hooks (credentials.c) ---------------------------------------- */

/* Wakes the refresh thread so it re-reads the (injected) clock. */
void creds_provider_wake(struct creds_provider *p);
/* Number of refresh attempts the thread made (successful or not). */
int creds_provider_attempts(struct creds_provider *p);

#endif
