/* libFuzzer target: SigV4 canonicalization and signing (aws/sigv4.c) with
 * arbitrary paths, query parameters and headers, in both modes.
 *
 * Input: selector byte (flags, session token on/off), then fields separated
 * by 0x1F:
 *   method \x1f path \x1f body \x1f name \x1f value \x1f name \x1f value ...
 * Pairs go alternately to query parameters and headers (a first Host header is
 * always there). The clock is fixed; the derived key comes from the cache.
 *
 * Invariants: only the documented errors; on success every built string stays
 * within SIGV4_MAX_STRING, the signature is 64 lower-case hex digits, signing
 * the same request again gives the same signature (the key cache is
 * consistent, also from an empty cache), the canonical request ends with the
 * signed headers and the payload hash, the Authorization value carries the
 * signature, and the presigned query carries X-Amz-Signature equal to the
 * signature and nothing that is not percent-encoded.
 */
#include "tests/fuzz/fuzz.h"

#include "aws/sigv4.h"
#include "core/buf.h"

#define PAIRS_MAX 40

static int hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

static int unreserved_or_pct(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '=' || c == '&';
}

static void check_result(const struct sigv4_result *r, int presign)
{
    FUZZ_CHECK(hex64(r->signature) && hex64(r->payload_hash));
    FUZZ_CHECK(strlen(r->amz_date) == 16);
    FUZZ_CHECK(r->canonical_request.len <= SIGV4_MAX_STRING);
    FUZZ_CHECK(r->string_to_sign.len <= SIGV4_MAX_STRING);
    FUZZ_CHECK(r->signed_headers.len <= SIGV4_MAX_STRING);
    FUZZ_CHECK(r->query.len <= SIGV4_MAX_STRING && r->authorization.len <= SIGV4_MAX_STRING);
    FUZZ_CHECK(strncmp(r->string_to_sign.data, "AWS4-HMAC-SHA256\n", 17) == 0);
    /* The canonical request ends with "\n" SignedHeaders "\n" payload hash. */
    size_t sh = r->signed_headers.len;
    FUZZ_CHECK(r->canonical_request.len > sh + 66);
    const char *tail = r->canonical_request.data + r->canonical_request.len - 64 - 1 - sh - 1;
    FUZZ_CHECK(tail[0] == '\n' && memcmp(tail + 1, r->signed_headers.data, sh) == 0);
    if (presign) {
        FUZZ_CHECK(r->authorization.len == 0);
        size_t count = 0;
        const char *p = r->query.data;
        while ((p = strstr(p, "X-Amz-Signature=")) != NULL) {
            if (p == r->query.data || p[-1] == '&') {
                count++;
                FUZZ_CHECK(strncmp(p + 16, r->signature, 64) == 0);
                FUZZ_CHECK(p[80] == '\0' || p[80] == '&');
            }
            p += 16;
        }
        FUZZ_CHECK(count >= 1);
        for (size_t i = 0; i < r->query.len; i++)
            FUZZ_CHECK(unreserved_or_pct(r->query.data[i]));
    } else {
        FUZZ_CHECK(strstr(r->authorization.data, r->signature) != NULL);
        FUZZ_CHECK(strncmp(r->authorization.data, "AWS4-HMAC-SHA256 Credential=", 28) == 0);
        FUZZ_CHECK(r->added_count >= 1 && r->added_count <= 3);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel = fuzz_selector(&data, &size);
    struct fuzz_in in = {(const char *)data, size};
    const char *method = "GET", *path = "", *body = "";
    size_t ml = 3, pl = 0, bl = 0;
    char method_buf[32];
    if (fuzz_field(&in, &method, &ml)) {
        if (ml >= sizeof method_buf)
            ml = sizeof method_buf - 1;
        memcpy(method_buf, method, ml);
        method_buf[ml] = '\0';
        method = method_buf;
    }
    if (!fuzz_field(&in, &path, &pl))
        pl = 0;
    if (!fuzz_field(&in, &body, &bl))
        bl = 0;

    struct sigv4_param params[PAIRS_MAX];
    struct sigv4_header headers[PAIRS_MAX + 1];
    size_t np = 0, nh = 0;
    headers[nh++] = (struct sigv4_header){"Host", 4, "kinesisvideo.us-west-2.amazonaws.com", 36};
    for (int i = 0; i < 2 * PAIRS_MAX; i++) {
        const char *n, *v;
        size_t nl, vl;
        if (!fuzz_field(&in, &n, &nl))
            break;
        if (!fuzz_field(&in, &v, &vl)) {
            v = "";
            vl = 0;
        }
        if (i % 2 == 0 && np < PAIRS_MAX)
            params[np++] = (struct sigv4_param){n, nl, v, vl};
        else if (nh < PAIRS_MAX + 1)
            headers[nh++] = (struct sigv4_header){n, nl, v, vl};
    }

    const struct sigv4_credentials creds = {
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        (sel & 8) ? "FQoGZXIvYXdzEPT//////////wEaD+token=" : NULL};
    struct sigv4_context ctx = {&creds, "us-west-2", "kinesisvideo", 1700000000,
                                sel & (SIGV4_NORMALIZE_PATH | SIGV4_HASH_BODY |
                                       SIGV4_ADD_CONTENT_SHA256)};
    if (sel & 16)
        ctx.flags |= SIGV4_OMIT_SESSION_TOKEN;
    struct sigv4_request req = {method, path, pl, params, np, headers, nh, body, bl};
    int presign = (sel & 32) != 0;
    int64_t expires = presign ? 1 + (int64_t)((sel >> 6) * 1000) : 0;

    struct sigv4_result r1, r2;
    sigv4_result_init(&r1);
    sigv4_result_init(&r2);
    enum kg_err e1 = presign ? sigv4_presign(&ctx, &req, expires, &r1)
                             : sigv4_sign_headers(&ctx, &req, &r1);
    FUZZ_CHECK(e1 == KG_OK || e1 == KG_ERR_BAD_REQUEST || e1 == KG_ERR_PAYLOAD_TOO_LARGE);
    if (e1 == KG_OK) {
        check_result(&r1, presign);
        enum kg_err e2 = presign ? sigv4_presign(&ctx, &req, expires, &r2)
                                 : sigv4_sign_headers(&ctx, &req, &r2);
        FUZZ_CHECK(e2 == KG_OK);
        FUZZ_CHECK(strcmp(r1.signature, r2.signature) == 0);
        /* And from a fresh key cache. */
        sigv4_key_cache_clear();
        sigv4_result_cleanup(&r2);
        sigv4_result_init(&r2);
        e2 = presign ? sigv4_presign(&ctx, &req, expires, &r2) : sigv4_sign_headers(&ctx, &req, &r2);
        FUZZ_CHECK(e2 == KG_OK && strcmp(r1.signature, r2.signature) == 0);
    }
    sigv4_result_cleanup(&r1);
    sigv4_result_cleanup(&r2);
    return 0;
}
