/* kvsgate: AWS credentials, the standard chain, refreshed in the background.
 *
 * Sources, first that yields (each in its own file, aws-c-auth style):
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. web identity (EKS IRSA): AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
 *      (+ AWS_ROLE_SESSION_NAME) -> STS AssumeRoleWithWebIdentity
 *   3. container (ECS, EKS Pod Identity): AWS_CONTAINER_CREDENTIALS_FULL_URI or
 *      _RELATIVE_URI (host 169.254.170.2), AWS_CONTAINER_AUTHORIZATION_TOKEN or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *   4. EC2 IMDSv2: PUT /latest/api/token, then
 *      /latest/meta-data/iam/security-credentials/<role>
 * then, when assume_role_arn is set, STS AssumeRole on top of the result.
 *
 * Readers get an immutable, reference-counted snapshot: a refresh publishes a
 * new one and never changes one in use (no torn reads). Temporary credentials
 * are refreshed by a background thread `refresh_before_s` before they expire;
 * a failed refresh keeps the old snapshot until it expires, logs a warning and
 * retries with backoff. Secrets are wiped when the last reference goes. Nothing
 * secret is logged.
 *
 * Thread-safe.
 */
#ifndef KG_AWS_CREDENTIALS_H
#define KG_AWS_CREDENTIALS_H

#include <stdint.h>

#include "aws/endpoints.h"
#include "aws/sigv4.h"
#include "core/err.h"
#include "core/http.h"

struct creds_options {
    struct kg_http_client *http;                 /* required for all but env */
    const char *(*getenv_fn)(const char *name);  /* NULL: getenv (tests inject) */
    int64_t (*now_fn)(void);                     /* NULL: kg_now_s (tests inject) */
    const char *region;                          /* STS regional endpoint */
    struct aws_endpoint_mode mode;               /* FIPS, dual-stack (STS's endpoint) */
    const char *sts_endpoint;                    /* KVSGATE_STS_ENDPOINT, or NULL (then read
                                                    through getenv_fn) */
    const char *imds_endpoint;                   /* AWS_EC2_METADATA_SERVICE_ENDPOINT, or NULL
                                                    (then read through getenv_fn) */
    const char *assume_role_arn;                 /* KVSGATE_ASSUME_ROLE_ARN, or NULL */
    const char *assume_role_external_id;         /* KVSGATE_ASSUME_ROLE_EXTERNAL_ID, or NULL */
    const char *assume_role_session_name;        /* NULL: "kvsgate" */
    int64_t assume_role_duration_s;              /* 0: 3600 */
    int64_t refresh_before_s;                    /* 0: 300 (and at most half the lifetime) */
    int64_t http_timeout_ms;                     /* 0: 5000 */
};

/* An immutable set of credentials. Borrow fields only while you hold it. */
struct creds_snapshot {
    struct sigv4_credentials sigv4; /* session_token NULL for long-term keys */
    int64_t expires_at_s;           /* 0: does not expire */
    const char *source;             /* "environment", "web_identity", "container",
                                       "imds", plus "+assume_role" when assumed */
};

struct creds_provider;

KG_WARN_UNUSED enum kg_err creds_provider_new(const struct creds_options *opts,
                                              struct creds_provider **out);
/* Resolves the chain now (blocking, bounded by the HTTP timeouts). KG_OK when a
 * source yielded; else the last source's error, logged with which source failed. */
KG_WARN_UNUSED enum kg_err creds_provider_load(struct creds_provider *p);
/* Starts the refresh thread (also retries a failed first load). */
KG_WARN_UNUSED enum kg_err creds_provider_start(struct creds_provider *p);
/* Stops the thread, drops the current snapshot (snapshots still held stay valid). */
void creds_provider_free(struct creds_provider *p);

/* The current credentials with a reference, or NULL when none are loaded or the
 * last ones expired. Release with creds_release. Never blocks on the network. */
struct creds_snapshot *creds_acquire(struct creds_provider *p);
void creds_release(struct creds_snapshot *s);

/* Asks the refresh thread to refresh now (e.g. after ExpiredToken from AWS). */
void creds_provider_refresh_soon(struct creds_provider *p);
/* Expiry of the current snapshot (0: none or long-term), for metrics. */
int64_t creds_provider_expires_at(struct creds_provider *p);

#endif
