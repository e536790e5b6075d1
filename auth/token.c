/* Development tokens: HS256 JWTs minted with libjwt's jwt_encode_str.
 *
 * The payload is built with jansson (so the grants claim keeps its JSON types)
 * and handed to libjwt whole; libjwt writes {"alg":"HS256","typ":"JWT"} and
 * signs. The token is a bearer credential: every copy we make is wiped. */
#include "auth/token.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/jwt.h"
#include "core/mem.h"

static const char *const perm_names[] = {"master", "viewer", "manage"};

static int patterns_valid(const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char *expanded = NULL;
        if (!list[i] || authz_pattern_expand(list[i], "x", &expanded) != KG_OK)
            return 0;
        free(expanded);
    }
    return 1;
}

static json_t *grants_json(const struct token_request *req)
{
    const char *const *lists[3] = {req->master, req->viewer, req->manage};
    size_t counts[3] = {req->master_count, req->viewer_count, req->manage_count};
    json_t *g = json_object();
    for (int i = 0; i < 3; i++) {
        if (!counts[i])
            continue;
        json_t *arr = json_array();
        for (size_t k = 0; k < counts[i]; k++)
            json_array_append_new(arr, json_string(lists[i][k]));
        json_object_set_new(g, perm_names[i], arr);
    }
    if (req->any_client_id)
        json_object_set_new(g, "anyClientId", json_true());
    if (req->manage_any)
        json_object_set_new(g, "manageAny", json_true());
    return g;
}

enum kg_err token_mint_hs256(const unsigned char *secret, size_t secret_len,
                             const struct token_request *req, struct kg_buf *out)
{
    enum kg_err result = KG_ERR_BAD_REQUEST;
    json_t *payload = NULL;
    char *payload_str = NULL, *token = NULL;
    jwt_t *jwt = NULL;

    if (!secret || secret_len < JWTV_HS256_SECRET_MIN_LEN || secret_len > INT_MAX || !req ||
        !req->sub || !auth_sub_acceptable(req->sub, strlen(req->sub)) || req->ttl_s < 1 || req->now_s < 0 ||
        req->now_s > INT64_MAX - req->ttl_s || (req->grants_claim && !*req->grants_claim) ||
        !patterns_valid(req->master, req->master_count) ||
        !patterns_valid(req->viewer, req->viewer_count) ||
        !patterns_valid(req->manage, req->manage_count))
        goto cleanup;

    payload = json_object();
    if (json_object_set_new(payload, "sub", json_string(req->sub)) != 0)
        goto cleanup; /* not UTF-8 */
    json_object_set_new(payload, "iat", json_integer(req->now_s));
    json_object_set_new(payload, "exp", json_integer(req->now_s + req->ttl_s));
    if ((req->issuer && json_object_set_new(payload, "iss", json_string(req->issuer)) != 0) ||
        (req->audience && json_object_set_new(payload, "aud", json_string(req->audience)) != 0))
        goto cleanup;
    json_object_set_new(payload, req->grants_claim ? req->grants_claim : "kvs", grants_json(req));
    payload_str = json_dumps(payload, JSON_COMPACT);

    result = KG_ERR_INTERNAL;
    if (!payload_str || jwt_new(&jwt) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int)secret_len) != 0 ||
        jwt_add_grants_json(jwt, payload_str) != 0)
        goto cleanup;
    token = jwt_encode_str(jwt);
    if (!token)
        goto cleanup;
    result = kg_buf_append_str(out, token);

cleanup:
    if (token) {
        kg_wipe(token, strlen(token));
        free(token);
    }
    free(payload_str);
    json_decref(payload);
    jwt_free(jwt); /* scrubs its copy of the key */
    return result;
}
