#include "aws/signed_request.h"

#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"

#define SKEW_CORRECT_S 240 /* a skew error this far from AWS's Date is corrected */
#define SKEW_MAX_S 86400   /* and one further than this is not */

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

/* The AWS errors that may mean a signature too far from AWS's time (the
 * AWS SDKs' clock-skew codes; KVS answers InvalidSignatureException 403
 * "Signature expired" / "Signature not yet current"). */
static int skew_error(const char *type, long status)
{
    static const char *const types[] = {"InvalidSignatureException", "SignatureDoesNotMatch",
                                        "RequestTimeTooSkewed", "RequestExpired",
                                        "RequestInTheFuture", "AuthFailure"};
    if (status != 400 && status != 401 && status != 403)
        return 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i]) == 0)
            return 1;
    return 0;
}

int signed_request_note_skew(const struct kg_http_response *resp, const char *type, long status,
                             int64_t signed_at_s)
{
    int64_t server_s;
    if (!skew_error(type, status) ||
        kg_time_parse_http_date(kg_http_response_header(resp, "date"), &server_s) != KG_OK)
        return 0;
    /* The request was not signed that far off: another reason (a wrong key). */
    if (signed_at_s - server_s > -SKEW_CORRECT_S && signed_at_s - server_s < SKEW_CORRECT_S)
        return 0;
    int64_t now = kg_now_s(), was = kg_aws_clock_offset_s();
    /* Another call corrected the clock since this one was signed: sign again. */
    int64_t off_by = now + was - server_s;
    if (off_by > -SKEW_CORRECT_S && off_by < SKEW_CORRECT_S)
        return 1;
    if (server_s - now >= SKEW_MAX_S || now - server_s >= SKEW_MAX_S)
        return 0; /* a day or more: a broken host or a forged Date, not drift to follow */
    kg_aws_clock_offset_set(server_s - now);
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_WARN, "aws_clock_skew")) {
        kg_log_int(&l, "offset_s", server_s - now);
        kg_log_int(&l, "previous_offset_s", was);
        kg_log_str(&l, "msg", "AWS's clock and this host's differ: signing with AWS's time from "
                              "now on (fix the host's time sync)");
        kg_log_end(&l);
    }
    return 1;
}
