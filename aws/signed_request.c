#include "aws/signed_request.h"

#include <string.h>

enum kg_err signed_request_build(const struct signed_request_input *in,
                                 struct signed_request *out)
{
    memset(out, 0, sizeof *out);
    sigv4_result_init(&out->sig);
    const char *path = in->url->path[0] ? in->url->path : "/";
    struct sigv4_header sh[2] = {
        {"content-type", 12, in->content_type, strlen(in->content_type)},
        {"host", 4, in->url->authority, strlen(in->url->authority)},
    };
    struct sigv4_request req = {
        .method = "POST",
        .path = path,
        .path_len = strlen(path),
        .headers = sh,
        .header_count = 2,
        .body = in->body,
        .body_len = in->body_len,
    };
    struct sigv4_context ctx = {
        .creds = in->creds,
        .region = in->region,
        .service = in->service,
        .now_epoch_s = in->now_epoch_s,
        .flags = SIGV4_HASH_BODY,
    };
    enum kg_err err = sigv4_sign_headers(&ctx, &req, &out->sig);
    if (err != KG_OK) {
        sigv4_result_cleanup(&out->sig);
        return err;
    }
    size_t n = 0;
    out->headers[n++] = (struct kg_http_header){"host", in->url->authority};
    out->headers[n++] = (struct kg_http_header){"content-type", in->content_type};
    /* The added headers' values are NUL-terminated (the date in the result,
     * the token in creds). */
    for (size_t i = 0; i < out->sig.added_count && n < SIGNED_REQUEST_MAX_HEADERS - 1; i++)
        out->headers[n++] = (struct kg_http_header){out->sig.added[i].name, out->sig.added[i].value};
    out->headers[n++] = (struct kg_http_header){"authorization", out->sig.authorization.data};
    out->header_count = n;
    return KG_OK;
}

void signed_request_cleanup(struct signed_request *r)
{
    sigv4_result_cleanup(&r->sig);
    memset(r->headers, 0, sizeof r->headers);
    r->header_count = 0;
}
