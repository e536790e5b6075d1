/* aws/sigv4 and aws/presign beyond the vectors: the key cache, input checks,
 * endpoint parsing, the empty-token rule, threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aws/presign.h"
#include "aws/sigv4.h"
#include "core/encode.h"
#include "core/mem.h"
#include "testlib.h"

static const struct sigv4_credentials creds = {"AKIDEXAMPLE",
                                               "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

static void test_derived_key_matches_the_aws_documentation_example(void)
{
    /* From the AWS General Reference's "Examples of how to derive a signing key". */
    unsigned char key[32];
    char hex[65];
    sigv4_derive_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam",
                     key);
    kg_hex_lower(key, 32, hex);
    T_STREQ(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static enum kg_err presign_with(const struct sigv4_credentials *c, int64_t now,
                                const char *client_id, int64_t expires, struct kg_buf *url)
{
    struct kvs_presign_input in = {
        .creds = c,
        .region = "us-west-2",
        .endpoint = "wss://v-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com",
        .channel_arn = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo/1",
        .client_id = client_id,
        .expires_s = expires,
        .now_epoch_s = now,
    };
    return kvs_presign_url(&in, url);
}

static void test_key_cache_gives_the_same_signatures_as_fresh_derivation(void)
{
    /* Alternate secrets, dates and more distinct keys than cache slots: every
     * signature must equal one computed with a cleared cache. */
    const char *secrets[] = {"secretA", "secretB", "secretC", "secretD", "secretE", "secretF"};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < T_COUNT(secrets); i++) {
            struct sigv4_credentials c = {"AKID", secrets[i], NULL};
            int64_t now = 1440938160 + (int64_t)i * 86400;
            struct kg_buf cached, fresh;
            kg_buf_init(&cached, SIGV4_MAX_STRING);
            kg_buf_init(&fresh, SIGV4_MAX_STRING);
            T_INTEQ(presign_with(&c, now, "viewer-1", 299, &cached), KG_OK);
            sigv4_key_cache_clear();
            T_INTEQ(presign_with(&c, now, "viewer-1", 299, &fresh), KG_OK);
            T_STREQ(cached.data, fresh.data);
            kg_buf_free(&cached);
            kg_buf_free(&fresh);
        }
    }
    /* Two secrets sharing a prefix never share a key. */
    struct sigv4_credentials a = {"AKID", "secret", NULL}, b = {"AKID", "secretX", NULL};
    struct kg_buf ua, ub;
    kg_buf_init(&ua, SIGV4_MAX_STRING);
    kg_buf_init(&ub, SIGV4_MAX_STRING);
    T_INTEQ(presign_with(&a, 1440938160, NULL, 299, &ua), KG_OK);
    T_INTEQ(presign_with(&b, 1440938160, NULL, 299, &ub), KG_OK);
    T_CHECK(strcmp(strstr(ua.data, "X-Amz-Signature="), strstr(ub.data, "X-Amz-Signature=")) != 0);
    kg_buf_free(&ua);
    kg_buf_free(&ub);
}

/* The presign path signs in the thread's scratch result: a URL is the same
 * before and after a hostile presign that grew every buffer (a 40 KiB session
 * token) and after failed ones, and a failure leaves the caller's buffer as
 * it was. */
static void test_the_thread_scratch_leaves_no_trace_between_presigns(void)
{
    struct sigv4_credentials c = {"AKID", "secret", "short-token"};
    struct kg_buf first, again, big, failed;
    kg_buf_init(&first, SIGV4_MAX_STRING);
    kg_buf_init(&again, SIGV4_MAX_STRING);
    kg_buf_init(&big, SIGV4_MAX_STRING * 2);
    kg_buf_init(&failed, SIGV4_MAX_STRING);
    T_INTEQ(presign_with(&c, 1440938160, "viewer-1", 299, &first), KG_OK);
    size_t token_len = 40 * 1024;
    char *token = kg_malloc(token_len + 1);
    memset(token, 'T', token_len);
    token[token_len] = '\0';
    struct sigv4_credentials hostile = {"AKID", "secret", token};
    T_INTEQ(presign_with(&hostile, 1440938160, "viewer-1", 299, &big), KG_OK);
    T_CHECK(big.len > token_len);
    T_CHECK(kg_buf_append_str(&failed, "kept") == KG_OK);
    T_INTEQ(presign_with(&c, 1440938160, "viewer-1", 0, &failed), KG_ERR_BAD_REQUEST);
    token_len = SIGV4_MAX_STRING + 1; /* past the signer's bound: refused */
    token = kg_realloc(token, token_len + 1);
    memset(token, 'V', token_len);
    token[token_len] = '\0';
    hostile.session_token = token;
    T_INTEQ(presign_with(&hostile, 1440938160, "viewer-1", 299, &failed), KG_ERR_PAYLOAD_TOO_LARGE);
    T_STREQ(failed.data, "kept");
    T_INTEQ(presign_with(&c, 1440938160, "viewer-1", 299, &again), KG_OK);
    T_STREQ(again.data, first.data);
    free(token);
    kg_buf_free(&first);
    kg_buf_free(&again);
    kg_buf_free(&big);
    kg_buf_free(&failed);
}

/* A request that carries a parameter presigning adds itself would send it
 * twice (found by fuzz_sigv4: a second X-Amz-Signature): refused in presign
 * mode, in any case; header signing, which adds none, still signs it. */
static void test_presign_refuses_the_parameters_it_adds(void)
{
    static const char *const names[] = {"X-Amz-Signature", "x-amz-signature", "X-Amz-Date",
                                        "X-AMZ-CREDENTIAL", "X-Amz-Algorithm", "X-Amz-Expires",
                                        "X-Amz-SignedHeaders", "X-Amz-Security-Token"};
    struct sigv4_header host = {"Host", 4, "kinesisvideo.us-west-2.amazonaws.com", 36};
    struct sigv4_context ctx = {&creds, "us-west-2", "kinesisvideo", 1700000000, 0};
    for (size_t i = 0; i < T_COUNT(names); i++) {
        struct sigv4_param p = {names[i], strlen(names[i]), "\\-forged", 8};
        struct sigv4_request req = {"GET", "/", 1, &p, 1, &host, 1, NULL, 0};
        struct sigv4_result r;
        sigv4_result_init(&r);
        T_INTEQ(sigv4_presign(&ctx, &req, 300, &r), KG_ERR_BAD_REQUEST);
        sigv4_result_cleanup(&r);
        sigv4_result_init(&r);
        T_INTEQ(sigv4_sign_headers(&ctx, &req, &r), KG_OK);
        sigv4_result_cleanup(&r);
    }
    /* Names that only start alike are the caller's own. */
    struct sigv4_param p = {"X-Amz-Signatures", 16, "v", 1};
    struct sigv4_request req = {"GET", "/", 1, &p, 1, &host, 1, NULL, 0};
    struct sigv4_result r;
    sigv4_result_init(&r);
    T_INTEQ(sigv4_presign(&ctx, &req, 300, &r), KG_OK);
    T_CHECK(strstr(r.query.data, "&X-Amz-Signatures=v&") != NULL);
    sigv4_result_cleanup(&r);
}

static void test_an_empty_session_token_is_no_token(void)
{
    struct sigv4_credentials empty = creds;
    empty.session_token = "";
    struct kg_buf a, b;
    kg_buf_init(&a, SIGV4_MAX_STRING);
    kg_buf_init(&b, SIGV4_MAX_STRING);
    T_INTEQ(presign_with(&creds, 1440938160, "v", 299, &a), KG_OK);
    T_INTEQ(presign_with(&empty, 1440938160, "v", 299, &b), KG_OK);
    T_STREQ(a.data, b.data);
    T_CHECK(strstr(b.data, "Security-Token") == NULL);
    kg_buf_free(&a);
    kg_buf_free(&b);
}

static void test_presign_refuses_bad_input(void)
{
    struct kg_buf url;
    kg_buf_init(&url, SIGV4_MAX_STRING);
    T_INTEQ(presign_with(&creds, 1440938160, "", 299, &url), KG_ERR_BAD_REQUEST);
    T_INTEQ(presign_with(&creds, 1440938160, "v", 0, &url), KG_ERR_BAD_REQUEST);
    T_INTEQ(presign_with(&creds, 1440938160, "v", SIGV4_MAX_EXPIRES_S + 1, &url),
            KG_ERR_BAD_REQUEST);
    struct sigv4_credentials no_secret = {"AKID", "", NULL};
    T_INTEQ(presign_with(&no_secret, 1440938160, "v", 299, &url), KG_ERR_BAD_REQUEST);
    struct sigv4_credentials bad_akid = {"AK/ID", "s", NULL};
    T_INTEQ(presign_with(&bad_akid, 1440938160, "v", 299, &url), KG_ERR_BAD_REQUEST);
    T_INTEQ(url.len, 0);
    /* A URL that would pass the buffer's bound fails cleanly. */
    char storage[64];
    struct kg_buf small;
    kg_buf_init_fixed(&small, storage, sizeof storage);
    T_INTEQ(presign_with(&creds, 1440938160, "v", 299, &small), KG_ERR_PAYLOAD_TOO_LARGE);
    T_INTEQ(small.len, 0);
    kg_buf_free(&url);
}

static void test_endpoints_are_parsed_strictly(void)
{
    char host[256], path[1024];
    T_INTEQ(kvs_endpoint_split("wss://h.example.com", "wss", host, path), KG_OK);
    T_STREQ(host, "h.example.com");
    T_STREQ(path, "/");
    T_INTEQ(kvs_endpoint_split("wss://127.0.0.1:4566/sig/x", "wss", host, path), KG_OK);
    T_STREQ(host, "127.0.0.1:4566");
    T_STREQ(path, "/sig/x");
    static const char *bad[] = {"https://h/", "wss:/h", "wss://", "wss:///x", "wss://h/?a",
                                "wss://h/#f", "wss://h /", "wss://h@x/", "wss://h/a b",
                                "WSS://h/", "wss://h\r\n/"};
    for (size_t i = 0; i < T_COUNT(bad); i++)
        if (kvs_endpoint_split(bad[i], "wss", host, path) == KG_OK)
            t_fail(__FILE__, __LINE__, "accepted endpoint '%s'", bad[i]);
}

static void test_ws_endpoints_keep_their_scheme_and_sign_like_wss(void)
{
    struct kvs_presign_input in = {
        .creds = &creds, .region = "us-west-2", .endpoint = "ws://127.0.0.1:4566/sig/v/1",
        .channel_arn = "arn", .client_id = "v", .expires_s = 299, .now_epoch_s = 1440938160,
    };
    struct kg_buf ws, wss;
    kg_buf_init(&ws, SIGV4_MAX_STRING);
    kg_buf_init(&wss, SIGV4_MAX_STRING);
    T_INTEQ(kvs_presign_url(&in, &ws), KG_OK);
    in.endpoint = "wss://127.0.0.1:4566/sig/v/1";
    T_INTEQ(kvs_presign_url(&in, &wss), KG_OK);
    T_CHECK(strncmp(ws.data, "ws://127.0.0.1:4566/sig/v/1?", 28) == 0);
    T_STREQ(ws.data + 2, wss.data + 3); /* same host, path, query and signature */
    kg_buf_free(&ws);
    kg_buf_free(&wss);
}

static void test_header_signing_refuses_bad_headers_and_too_many(void)
{
    struct sigv4_header bad[2] = {{"host", 4, "h", 1}, {"bad name", 8, "v", 1}};
    struct sigv4_request req = {.method = "POST", .path = "/", .path_len = 1, .headers = bad,
                                .header_count = 2};
    struct sigv4_context ctx = {&creds, "us-east-1", "service", 1440938160, 0};
    struct sigv4_result res;
    sigv4_result_init(&res);
    T_INTEQ(sigv4_sign_headers(&ctx, &req, &res), KG_ERR_BAD_REQUEST);
    sigv4_result_cleanup(&res);
    struct sigv4_header many[SIGV4_MAX_HEADERS + 1];
    for (size_t i = 0; i < T_COUNT(many); i++)
        many[i] = (struct sigv4_header){"x-h", 3, "v", 1};
    req.headers = many;
    req.header_count = T_COUNT(many);
    sigv4_result_init(&res);
    T_INTEQ(sigv4_sign_headers(&ctx, &req, &res), KG_ERR_BAD_REQUEST);
    sigv4_result_cleanup(&res);
    ctx.region = "";
    req.header_count = 1;
    sigv4_result_init(&res);
    T_INTEQ(sigv4_sign_headers(&ctx, &req, &res), KG_ERR_BAD_REQUEST);
    sigv4_result_cleanup(&res);
}

struct thread_job {
    const char *secret;
    char first[4096];
    int mismatches;
};

static void *sign_many(void *arg)
{
    struct thread_job *job = arg;
    struct sigv4_credentials c = {"AKID", job->secret, "token/with+chars="};
    for (int i = 0; i < 2000; i++) {
        struct kg_buf url;
        kg_buf_init(&url, SIGV4_MAX_STRING);
        if (presign_with(&c, 1440938160, "viewer", 299, &url) != KG_OK) {
            job->mismatches++;
        } else if (i == 0) {
            memcpy(job->first, url.data, url.len + 1);
        } else if (strcmp(job->first, url.data) != 0) {
            job->mismatches++;
        }
        kg_buf_free(&url);
    }
    return NULL;
}

static void test_threads_sign_independently(void)
{
    struct thread_job jobs[4] = {{"s1", "", 0}, {"s2", "", 0}, {"s1", "", 0}, {"s3", "", 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sign_many, &jobs[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        T_INTEQ(jobs[i].mismatches, 0);
    T_STREQ(jobs[0].first, jobs[2].first);
    T_CHECK(strcmp(jobs[0].first, jobs[1].first) != 0);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_derived_key_matches_the_aws_documentation_example),
        T_CASE(test_key_cache_gives_the_same_signatures_as_fresh_derivation),
        T_CASE(test_the_thread_scratch_leaves_no_trace_between_presigns),
        T_CASE(test_presign_refuses_the_parameters_it_adds),
        T_CASE(test_an_empty_session_token_is_no_token),
        T_CASE(test_presign_refuses_bad_input),
        T_CASE(test_endpoints_are_parsed_strictly),
        T_CASE(test_ws_endpoints_keep_their_scheme_and_sign_like_wss),
        T_CASE(test_header_signing_refuses_bad_headers_and_too_many),
        T_CASE(test_threads_sign_independently),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
