/* kvsgate: AWS Signature Version 4, header signing and query-string presigning.
 *
 * Written from the SigV4 specification and proven against AWS's own test data
 * (tests/vectors): the 38 cases of the aws-c-auth suite in both modes and
 * the KVS presign and control-plane vectors computed by botocore.
 *
 * Inputs are raw (unencoded) path, query names and values; the signer encodes
 * them with SigV4's rules (everything but A-Z a-z 0-9 - . _ ~ as %XX upper-case)
 * exactly once, so the bytes signed are the bytes sent.
 *
 * The time is an argument (now_epoch_s): nothing here reads a clock.
 * The derived signing key is cached per thread and per (secret, date, region,
 * service) in a small LRU; evicted entries and the cache of an exiting thread
 * are wiped. Nothing here logs.
 *
 * Thread-safe: all state is per call or per thread.
 */
#ifndef KG_AWS_SIGV4_H
#define KG_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define SIGV4_MAX_HEADERS 32
#define SIGV4_MAX_PARAMS 64
/* Hard bound of any string the signer builds (canonical request, query, ...). */
#define SIGV4_MAX_STRING (64 * 1024)
/* Longest X-Amz-Expires SigV4 accepts (7 days). */
#define SIGV4_MAX_EXPIRES_S 604800

struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" when there is none */
};

/* Signing options. */
#define SIGV4_NORMALIZE_PATH 1u   /* remove . and .. segments, collapse "//" */
#define SIGV4_HASH_BODY 2u        /* payload hash over the body (else over "") */
#define SIGV4_ADD_CONTENT_SHA256 4u /* header mode: add and sign x-amz-content-sha256 */
#define SIGV4_OMIT_SESSION_TOKEN 8u /* token sent but not signed (legacy STS services) */

struct sigv4_context {
    const struct sigv4_credentials *creds;
    const char *region;
    const char *service;
    int64_t now_epoch_s;
    unsigned flags;
};

struct sigv4_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct sigv4_param {
    const char *name; /* raw: not percent-encoded */
    size_t name_len;
    const char *value; /* raw */
    size_t value_len;
};

struct sigv4_request {
    const char *method;
    const char *path; /* raw; "" means "/" */
    size_t path_len;
    const struct sigv4_param *params;
    size_t param_count;
    const struct sigv4_header *headers; /* must include Host */
    size_t header_count;
    const void *body;
    size_t body_len;
};

/* What signing produced. Buffers are owned; free with sigv4_result_cleanup. */
struct sigv4_result {
    char amz_date[17];
    char signature[65];
    char payload_hash[65];
    struct kg_buf canonical_request;
    struct kg_buf string_to_sign;
    struct kg_buf signed_headers;
    /* Header mode: the Authorization value, and the headers the caller must add
     * to the request besides Authorization (X-Amz-Date, X-Amz-Security-Token,
     * x-amz-content-sha256 as applicable). Values point into this result. */
    struct kg_buf authorization;
    struct sigv4_header added[3];
    size_t added_count;
    /* Presign mode: the complete query string of the signed request, every
     * parameter percent-encoded and sorted by name (then value), with
     * X-Amz-Signature at its sorted place, as the KVS JavaScript SDK emits it. */
    struct kg_buf query;
};

void sigv4_result_init(struct sigv4_result *r);
void sigv4_result_cleanup(struct sigv4_result *r);

/* Signs with an Authorization header.
 * Errors: KG_ERR_BAD_REQUEST for malformed input (missing credentials, region
 * or service, too many headers or params, a header name with bad bytes),
 * KG_ERR_PAYLOAD_TOO_LARGE when a string passes SIGV4_MAX_STRING. */
KG_WARN_UNUSED enum kg_err sigv4_sign_headers(const struct sigv4_context *ctx,
                                              const struct sigv4_request *req,
                                              struct sigv4_result *out);

/* Presigns: the auth data goes into the query string, valid expires_s seconds
 * (1..SIGV4_MAX_EXPIRES_S). Errors as sigv4_sign_headers, and
 * KG_ERR_BAD_REQUEST for a request parameter the presigner adds itself
 * (X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
 * -Security-Token, -Signature; in any case). */
KG_WARN_UNUSED enum kg_err sigv4_presign(const struct sigv4_context *ctx,
                                         const struct sigv4_request *req, int64_t expires_s,
                                         struct sigv4_result *out);

/* Presigns as sigv4_presign and appends only the final query string to
 * query_out (which must hold it: KG_ERR_PAYLOAD_TOO_LARGE otherwise, out
 * unchanged). The intermediate strings live in this thread's scratch result,
 * wiped after the call: the presigning path of every request allocates none
 * of them. Errors as sigv4_presign. */
KG_WARN_UNUSED enum kg_err sigv4_presign_query(const struct sigv4_context *ctx,
                                               const struct sigv4_request *req, int64_t expires_s,
                                               struct kg_buf *query_out);

/* Derives the SigV4 signing key for (secret, YYYYMMDD, region, service)
 * without the cache. Exposed for tests; wipe the output after use. */
void sigv4_derive_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char out[32]);

/* Drops and wipes this thread's signing-key cache (tests, credential rotation). */
void sigv4_key_cache_clear(void);

#endif
