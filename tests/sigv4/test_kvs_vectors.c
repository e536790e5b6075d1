/* One case of tests/vectors/kvs-presign.json or kvs-headers.json (computed by
 * botocore, cross-checked with AWS's JavaScript signers), read at test time.
 * Usage: test_kvs_vectors FILE.json CASE_ID */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/testlib.h"
#include "aws/presign.h"
#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/timeutil.h"

static json_t *vec_case;

static const char *in_str(const char *key)
{
    return json_string_value(json_object_get(json_object_get(vec_case, "inputs"), key));
}

static const char *want_str(const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(vec_case, "expected"), key));
    if (!s)
        t_fail(__FILE__, __LINE__, "expected.%s missing", key);
    return s;
}

static void load_creds(struct sigv4_credentials *c)
{
    c->access_key_id = in_str("accessKeyId");
    c->secret_access_key = in_str("secretAccessKey");
    c->session_token = in_str("sessionToken"); /* null -> NULL */
}

static int64_t load_time(void)
{
    int64_t t = 0;
    T_INTEQ(kg_time_parse_amz(in_str("datetime"), &t), KG_OK);
    return t;
}

/* The production path: kvs_presign_url, byte for byte against the URL. */
static void test_presigned_url(void)
{
    struct sigv4_credentials creds;
    load_creds(&creds);
    json_t *qp = json_object_get(json_object_get(vec_case, "inputs"), "queryParams");
    const char *arn = NULL, *client_id = NULL;
    size_t i;
    json_t *pair;
    json_array_foreach(qp, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        if (strcmp(name, "X-Amz-ChannelARN") == 0)
            arn = value;
        else if (strcmp(name, "X-Amz-ClientId") == 0)
            client_id = value;
        else
            t_fail(__FILE__, __LINE__, "unexpected query param %s", name);
    }
    T_STREQ(in_str("service"), KVS_SIGNING_SERVICE);
    const char *role = json_string_value(json_object_get(vec_case, "role"));
    T_CHECK((strcmp(role, "VIEWER") == 0) == (client_id != NULL));

    char endpoint[2048];
    snprintf(endpoint, sizeof endpoint, "wss://%s%s", in_str("host"), in_str("path"));
    json_t *exp = json_object_get(json_object_get(vec_case, "inputs"), "expires");
    struct kvs_presign_input in = {
        .creds = &creds,
        .region = in_str("region"),
        .endpoint = endpoint,
        .channel_arn = arn,
        .client_id = client_id,
        .expires_s = json_integer_value(exp),
        .now_epoch_s = load_time(),
    };
    struct kg_buf url;
    kg_buf_init(&url, SIGV4_MAX_STRING);
    T_INTEQ(kvs_presign_url(&in, &url), KG_OK);
    T_STREQ(url.data, want_str("url"));
    kg_buf_free(&url);
}

/* The intermediate strings and the signature, through the generic signer. */
static void test_presign_intermediates(void)
{
    struct sigv4_credentials creds;
    load_creds(&creds);
    json_t *qp = json_object_get(json_object_get(vec_case, "inputs"), "queryParams");
    struct sigv4_param params[8];
    size_t n = 0, i;
    json_t *pair;
    json_array_foreach(qp, i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        params[n++] = (struct sigv4_param){name, strlen(name), value, strlen(value)};
    }
    const char *host = in_str("host");
    struct sigv4_header headers[1] = {{"host", 4, host, strlen(host)}};
    struct sigv4_request req = {
        .method = "GET",
        .path = in_str("path"),
        .path_len = strlen(in_str("path")),
        .params = params,
        .param_count = n,
        .headers = headers,
        .header_count = 1,
    };
    struct sigv4_context ctx = {&creds, in_str("region"), in_str("service"), load_time(), 0};
    struct sigv4_result res;
    sigv4_result_init(&res);
    json_t *exp = json_object_get(json_object_get(vec_case, "inputs"), "expires");
    T_INTEQ(sigv4_presign(&ctx, &req, json_integer_value(exp), &res), KG_OK);
    T_STREQ(res.canonical_request.data, want_str("canonicalRequest"));
    T_STREQ(res.string_to_sign.data, want_str("stringToSign"));
    T_STREQ(res.signature, want_str("signature"));
    sigv4_result_cleanup(&res);
}

static void test_authorization_header(void)
{
    struct sigv4_credentials creds;
    load_creds(&creds);
    json_t *inputs = json_object_get(vec_case, "inputs");
    T_STREQ(in_str("query"), "");
    struct sigv4_header headers[8];
    size_t n = 0, i;
    json_t *pair;
    json_array_foreach(json_object_get(inputs, "requestHeaders"), i, pair)
    {
        const char *name = json_string_value(json_array_get(pair, 0));
        const char *value = json_string_value(json_array_get(pair, 1));
        headers[n++] = (struct sigv4_header){name, strlen(name), value, strlen(value)};
    }
    const char *host = in_str("host");
    headers[n++] = (struct sigv4_header){"host", 4, host, strlen(host)};
    const char *body = in_str("body");
    struct sigv4_request req = {
        .method = in_str("method"),
        .path = in_str("path"),
        .path_len = strlen(in_str("path")),
        .headers = headers,
        .header_count = n,
        .body = body,
        .body_len = strlen(body),
    };
    struct sigv4_context ctx = {&creds, in_str("region"), in_str("service"), load_time(),
                                SIGV4_HASH_BODY};
    struct sigv4_result res;
    sigv4_result_init(&res);
    T_INTEQ(sigv4_sign_headers(&ctx, &req, &res), KG_OK);
    T_STREQ(res.canonical_request.data, want_str("canonicalRequest"));
    T_STREQ(res.string_to_sign.data, want_str("stringToSign"));
    T_STREQ(res.payload_hash, want_str("payloadHash"));
    T_STREQ(res.signed_headers.data, want_str("signedHeaders"));
    T_STREQ(res.signature, want_str("signature"));
    T_STREQ(res.authorization.data, want_str("authorization"));
    /* The token travels as a header exactly when there is one. */
    int token_sent = 0;
    for (size_t k = 0; k < res.added_count; k++)
        if (strcmp(res.added[k].name, "X-Amz-Security-Token") == 0) {
            token_sent = 1;
            T_STREQ(res.added[k].value, creds.session_token);
        }
    T_INTEQ(token_sent, creds.session_token != NULL);
    sigv4_result_cleanup(&res);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE.json CASE_ID\n", argv[0]);
        return 2;
    }
    json_error_t jerr;
    json_t *root = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fprintf(stderr, "%s: %s\n", argv[1], jerr.text);
        return 1;
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "id")), argv[2]) == 0)
            vec_case = c;
    }
    if (!vec_case) {
        fprintf(stderr, "%s: no case %s\n", argv[1], argv[2]);
        return 1;
    }
    const char *format = json_string_value(json_object_get(root, "format"));
    int rc;
    if (strcmp(format, "kvs-presign/1") == 0) {
        static const struct t_case cases[] = {T_CASE(test_presigned_url),
                                              T_CASE(test_presign_intermediates)};
        rc = t_main(cases, T_COUNT(cases), 1, argv);
    } else if (strcmp(format, "kvs-headers/1") == 0) {
        static const struct t_case cases[] = {T_CASE(test_authorization_header)};
        rc = t_main(cases, T_COUNT(cases), 1, argv);
    } else {
        fprintf(stderr, "unknown format %s\n", format);
        rc = 1;
    }
    json_decref(root);
    return rc;
}
