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

    if (!secret || secret_len < TOKEN_SECRET_MIN_LEN || secret_len > INT_MAX || !req ||
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

static enum kg_err secret_error(char *why, size_t why_len, const char *var, const char *detail)
{
    if (why && why_len)
        snprintf(why, why_len, "%s: %s", var, detail);
    return KG_ERR_BAD_REQUEST;
}

enum kg_err token_secret_from_env(struct kg_buf *secret, char *why, size_t why_len)
{
    const char *var = "KVSGATE_JWT_HS256_SECRET";
    const char *const var_file = "KVSGATE_JWT_HS256_SECRET_FILE";
    const char *value = getenv(var), *path = getenv(var_file);
    if (value && path)
        return secret_error(why, why_len, var, "set only one of it and KVSGATE_JWT_HS256_SECRET_FILE");
    kg_buf_reset(secret);
    if (value) {
        if (kg_buf_append_str(secret, value) != KG_OK)
            return secret_error(why, why_len, var, "longer than 4096 bytes");
    } else if (path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            char detail[512];
            snprintf(detail, sizeof detail, "%s: %s", path, strerror(errno));
            return secret_error(why, why_len, var_file, detail);
        }
        char chunk[512];
        size_t n;
        enum kg_err err = KG_OK;
        while (err == KG_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
            err = kg_buf_append(secret, chunk, n);
        kg_wipe(chunk, sizeof chunk);
        int read_failed = ferror(f);
        fclose(f);
        if (err != KG_OK)
            return secret_error(why, why_len, var_file, "longer than 4096 bytes");
        if (read_failed)
            return secret_error(why, why_len, var_file, "read error");
        if (secret->len && secret->data[secret->len - 1] == '\n') {
            kg_buf_truncate(secret, secret->len - 1);
            if (secret->len && secret->data[secret->len - 1] == '\r')
                kg_buf_truncate(secret, secret->len - 1);
        }
        var = var_file;
    } else {
        return secret_error(why, why_len, var, "not set (nor KVSGATE_JWT_HS256_SECRET_FILE)");
    }
    if (secret->len < TOKEN_SECRET_MIN_LEN) {
        kg_buf_reset(secret);
        return secret_error(why, why_len, var, "must be at least 32 bytes");
    }
    return KG_OK;
}
