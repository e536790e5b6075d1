/* kvsgate: a SigV4 header-signed HTTP request, built the one way the AWS side
 * sends them (KVS control plane, GetIceServerConfig, STS AssumeRole).
 *
 * Signed headers: content-type, host (the URL's authority, sent explicitly so
 * libcurl sends exactly the signed value), x-amz-date and, with temporary
 * credentials, x-amz-security-token. The payload is hashed. The headers point
 * into the struct and into `creds`: keep both alive while the request is sent.
 */
#ifndef KG_AWS_SIGNED_REQUEST_H
#define KG_AWS_SIGNED_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "aws/sigv4.h"
#include "core/url.h"
#include "core/http.h"

#define SIGNED_REQUEST_MAX_HEADERS 6

struct signed_request {
    struct kg_http_header headers[SIGNED_REQUEST_MAX_HEADERS];
    size_t header_count;
    struct sigv4_result sig;
};

struct signed_request_input {
    const struct url_parts *url;
    const char *content_type;
    const void *body;
    size_t body_len;
    const struct sigv4_credentials *creds;
    const char *region;
    const char *service;
    int64_t now_epoch_s;
};

/* Errors: those of sigv4_sign_headers. On error `out` needs no cleanup. */
KG_WARN_UNUSED enum kg_err signed_request_build(const struct signed_request_input *in,
                                                struct signed_request *out);
void signed_request_cleanup(struct signed_request *r);

/* After AWS refused a request signed at signed_at_s: when the error type is
 * one of the AWS SDKs' clock-skew codes (status 400, 401 or 403) and the
 * answer's Date is 4 minutes or more from the signing time, either the AWS
 * clock already agrees with that Date (another call corrected it) or its
 * offset is set from it (core/timeutil.h; not when a day or more off the
 * host's clock) and logged (`aws_clock_skew`). 1 in both cases: the same
 * request is worth signing again at once. */
int signed_request_note_skew(const struct kg_http_response *resp, const char *error_type,
                             long status, int64_t signed_at_s);

#endif
