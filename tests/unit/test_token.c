/* auth/token: development tokens minted with libjwt verify with our verifier,
 * carry exactly the claims asked for, and refuse what the verifier would
 * drop; the secret is read from the environment as the service reads it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/authz.h"
#include "auth/jwt.h"
#include "auth/token.h"
#include "authtest.h"
#include "testlib.h"

#define NOW 1700000000LL
static const unsigned char secret[] = "a-development-secret-of-40-bytes-0123456";
#define SECRET_LEN (sizeof secret - 1)

static char *mint(const struct token_request *req)
{
    struct kg_buf out;
    kg_buf_init(&out, 8192);
    enum kg_err err = token_mint_hs256(secret, SECRET_LEN, req, &out);
    if (err != KG_OK) {
        kg_buf_free(&out);
        return NULL;
    }
    return kg_buf_take(&out, NULL);
}

static json_t *segment_json(const char *tok, int index)
{
    const char *start = tok;
    for (int i = 0; i < index; i++)
        start = strchr(start, '.') + 1;
    size_t n = strcspn(start, ".");
    struct kg_buf b;
    kg_buf_init(&b, 8192);
    json_t *j = NULL;
    if (kg_base64url_decode(&b, start, n) == KG_OK)
        j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    kg_buf_free(&b);
    return j;
}

static void test_minted_tokens_verify_and_carry_the_requested_grants(void)
{
    const char *master[] = {"cam-1"}, *viewer[] = {"cam-*", "user-{sub}.*"}, *manage[] = {"*"};
    struct token_request req = {
        .sub = "alice",
        .master = master,
        .master_count = 1,
        .viewer = viewer,
        .viewer_count = 2,
        .manage = manage,
        .manage_count = 1,
        .any_client_id = 1,
        .issuer = "https://dev.example",
        .audience = "kvsgate",
        .now_s = NOW,
        .ttl_s = 600,
    };
    char *tok = mint(&req);
    T_CHECK(tok != NULL);
    if (!tok)
        return;

    /* Header exactly as libjwt writes it; payload exactly what we asked. */
    json_t *h = segment_json(tok, 0), *p = segment_json(tok, 1);
    T_STREQ(json_string_value(json_object_get(h, "alg")), "HS256");
    T_STREQ(json_string_value(json_object_get(h, "typ")), "JWT");
    T_INTEQ(json_object_size(h), 2);
    T_STREQ(json_string_value(json_object_get(p, "sub")), "alice");
    T_CHECK(json_is_integer(json_object_get(p, "exp")));
    T_INTEQ(json_integer_value(json_object_get(p, "exp")), NOW + 600);
    T_INTEQ(json_integer_value(json_object_get(p, "iat")), NOW);
    T_STREQ(json_string_value(json_object_get(p, "iss")), "https://dev.example");
    T_STREQ(json_string_value(json_object_get(p, "aud")), "kvsgate");
    json_t *kvs = json_object_get(p, "kvs");
    T_CHECK(json_is_true(json_object_get(kvs, "anyClientId")));
    T_STREQ(json_string_value(json_array_get(json_object_get(kvs, "viewer"), 1)), "user-{sub}.*");
    json_decref(h);
    json_decref(p);

    struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = SECRET_LEN,
                             .issuer = "https://dev.example", .audience = "kvsgate", .leeway_s = 60};
    struct jwtv *v = NULL;
    T_INTEQ(jwtv_new(&o, &v, NULL, 0), KG_OK);
    struct auth_principal pr;
    const char *reason = NULL;
    T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW + 10, &pr, &reason), KG_OK);
    T_STREQ(pr.sub, "alice");
    T_STREQ(pr.alg, "HS256");
    T_INTEQ(pr.expires_at_s, NOW + 600);
    T_CHECK(pr.grants.any_client_id);
    T_CHECK(authz_allows(&pr, AUTHZ_PERM_MASTER, "cam-1"));
    T_CHECK(!authz_allows(&pr, AUTHZ_PERM_MASTER, "cam-2"));
    T_CHECK(authz_allows(&pr, AUTHZ_PERM_VIEWER, "user-alice.x"));
    T_CHECK(!authz_allows(&pr, AUTHZ_PERM_VIEWER, "user-alice-x"));
    T_CHECK(authz_allows(&pr, AUTHZ_PERM_MANAGE, "anything"));
    auth_principal_cleanup(&pr);
    /* ttl honoured with the verifier's leeway. */
    T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW + 600 + 60, &pr, &reason), KG_ERR_UNAUTHENTICATED);
    T_STREQ(reason, "token expired");
    /* Another secret does not verify it. */
    struct jwtv *other = NULL;
    o.hs256_secret = (const unsigned char *)"another-secret-another-secret-00";
    o.hs256_secret_len = 32;
    T_INTEQ(jwtv_new(&o, &other, NULL, 0), KG_OK);
    T_INTEQ(jwtv_verify(other, tok, strlen(tok), NOW, &pr, &reason), KG_ERR_UNAUTHENTICATED);
    T_STREQ(reason, "bad signature");
    jwtv_free(other);
    jwtv_free(v);
    free(tok);
}

static void test_minimal_token_and_a_custom_claim_name(void)
{
    struct token_request req = {.sub = "bob", .grants_claim = "https://example.com/kvs",
                                .now_s = NOW, .ttl_s = 1};
    char *tok = mint(&req);
    json_t *p = segment_json(tok, 1);
    T_CHECK(json_is_object(json_object_get(p, "https://example.com/kvs")));
    T_INTEQ(json_object_size(json_object_get(p, "https://example.com/kvs")), 0);
    T_CHECK(json_object_get(p, "kvs") == NULL);
    T_CHECK(json_object_get(p, "iss") == NULL);
    T_CHECK(json_object_get(p, "aud") == NULL);
    json_decref(p);
    struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = SECRET_LEN,
                             .grants_claim = "https://example.com/kvs"};
    struct jwtv *v = NULL;
    T_INTEQ(jwtv_new(&o, &v, NULL, 0), KG_OK);
    struct auth_principal pr;
    const char *reason;
    T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW, &pr, &reason), KG_OK);
    T_INTEQ(pr.grants.counts[0] + pr.grants.counts[1] + pr.grants.counts[2], 0);
    auth_principal_cleanup(&pr);
    jwtv_free(v);
    free(tok);
}

static void test_bad_requests_are_refused_and_nothing_is_appended(void)
{
    const char *bad_pattern[] = {"cam-*", "a b"};
    const char *ok_pattern[] = {"cam-*"};
    struct token_request base = {.sub = "alice", .now_s = NOW, .ttl_s = 60};
    struct {
        const char *name;
        struct token_request req;
        size_t secret_len;
    } cases[] = {
        {"short secret", base, 31},
        {"empty sub", base, SECRET_LEN},
        {"NULL sub", base, SECRET_LEN},
        {"ttl 0", base, SECRET_LEN},
        {"ttl negative", base, SECRET_LEN},
        {"bad viewer pattern", base, SECRET_LEN},
        {"bad master pattern", base, SECRET_LEN},
        {"empty claim name", base, SECRET_LEN},
        {"sub not UTF-8", base, SECRET_LEN},
    };
    cases[1].req.sub = "";
    cases[2].req.sub = NULL;
    cases[3].req.ttl_s = 0;
    cases[4].req.ttl_s = -5;
    cases[5].req.viewer = bad_pattern;
    cases[5].req.viewer_count = 2;
    cases[6].req.master = bad_pattern + 1;
    cases[6].req.master_count = 1;
    cases[6].req.viewer = ok_pattern;
    cases[6].req.viewer_count = 1;
    cases[7].req.grants_claim = "";
    cases[8].req.sub = "\xff\xfe";
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        struct kg_buf out;
        kg_buf_init(&out, 8192);
        enum kg_err err = token_mint_hs256(secret, cases[i].secret_len, &cases[i].req, &out);
        if (err != KG_ERR_BAD_REQUEST || out.len != 0)
            t_fail(__FILE__, __LINE__, "%s: %s, %zu bytes", cases[i].name, kg_err_name(err), out.len);
        kg_buf_free(&out);
    }
    struct kg_buf out;
    kg_buf_init(&out, 8192);
    T_INTEQ(token_mint_hs256(NULL, 0, &base, &out), KG_ERR_BAD_REQUEST);
    T_INTEQ(token_mint_hs256(secret, SECRET_LEN, NULL, &out), KG_ERR_BAD_REQUEST);
    kg_buf_free(&out);
}

static const struct t_case cases[] = {
    T_CASE(test_minted_tokens_verify_and_carry_the_requested_grants),
    T_CASE(test_minimal_token_and_a_custom_claim_name),
    T_CASE(test_bad_requests_are_refused_and_nothing_is_appended),
};

int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
