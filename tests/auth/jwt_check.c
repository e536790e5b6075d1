/* jwt_check: one verdict of the real verifier for a token on stdin, as JSON,
 * for tests written in other languages (tests/auth/jose_interop.test.js).
 *
 *   jwt_check [--hs256-from-env] [--pem FILE]... [--jwks FILE] [--iss I] [--aud A]
 *             [--claim NAME] [--leeway S] [--now EPOCH_S] [--client-id ID]
 *             [--channel NAME] < token
 *
 * --hs256-from-env reads the secret exactly as the service does
 * (KVSGATE_JWT_HS256_SECRET or KVSGATE_JWT_HS256_SECRET_FILE); --jwks serves a
 * JWKS file through a file-backed kg_http_client. Prints
 *   {"ok":true,"sub":..,"client_id":..,"alg":..,"kid":..,"exp":..,"grants":{..},
 *    "viewer":{"ok":true,"client_id":..}|{"ok":false,"code":..},"allows":{..}}
 * or {"ok":false,"reason":".."}; exits 0, 1 (refused) or 2 (usage). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/jwt.h"
#include "auth/token.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "service/config.h"

static enum kg_err file_perform(struct kg_http_client *self, const struct kg_http_request *req,
                                struct kg_http_response *resp)
{
    FILE *f = fopen(self->impl, "rb");
    if (!f)
        return KG_ERR_UPSTREAM_UNAVAILABLE;
    kg_buf_free(&resp->body);
    kg_buf_init(&resp->body, req->max_response_len);
    char chunk[4096];
    size_t n;
    enum kg_err err = KG_OK;
    while (err == KG_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        err = kg_buf_append(&resp->body, chunk, n) == KG_OK ? KG_OK : KG_ERR_UPSTREAM_REFUSED;
    fclose(f);
    resp->status = 200;
    return err;
}

static int usage(const char *why)
{
    fprintf(stderr, "jwt_check: %s\n", why);
    return 2;
}

static json_t *patterns_json(const struct auth_principal *p, enum authz_perm perm)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->grants.counts[perm]; i++)
        json_array_append_new(a, json_string(p->grants.patterns[perm][i]));
    return a;
}

int main(int argc, char **argv)
{
    const char *pems[8];
    size_t pem_count = 0;
    const char *jwks_file = NULL, *iss = NULL, *aud = NULL, *claim = NULL, *client_id = NULL,
               *channel = NULL;
    int hs256 = 0;
    long long leeway = 60, now = kg_now_s();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--hs256-from-env") == 0) {
            hs256 = 1;
            continue;
        }
        if (!v)
            return usage("flag without a value");
        i++;
        if (strcmp(a, "--pem") == 0 && pem_count < 8)
            pems[pem_count++] = v;
        else if (strcmp(a, "--jwks") == 0)
            jwks_file = v;
        else if (strcmp(a, "--iss") == 0)
            iss = v;
        else if (strcmp(a, "--aud") == 0)
            aud = v;
        else if (strcmp(a, "--claim") == 0)
            claim = v;
        else if (strcmp(a, "--client-id") == 0)
            client_id = v;
        else if (strcmp(a, "--channel") == 0)
            channel = v;
        else if (strcmp(a, "--leeway") == 0)
            leeway = strtoll(v, NULL, 10);
        else if (strcmp(a, "--now") == 0)
            now = strtoll(v, NULL, 10);
        else
            return usage("unknown flag");
    }
    kg_log_set_level(KG_LOG_WARN);

    struct kg_buf secret;
    kg_buf_init_secret(&secret, CONFIG_SECRET_MAX_LEN);
    char why[512];
    if (hs256 && config_hs256_secret(NULL, &secret, why, sizeof why) != KG_OK)
        return usage(why);
    struct kg_http_client file_client = {file_perform, (void *)jwks_file};
    struct jwtv_options o = {
        .hs256_secret = hs256 ? (const unsigned char *)secret.data : NULL,
        .hs256_secret_len = hs256 ? secret.len : 0,
        .public_key_files = pems,
        .public_key_file_count = pem_count,
        .jwks_url = jwks_file ? "https://jwks.file.invalid/jwks.json" : NULL,
        .http = jwks_file ? &file_client : NULL,
        .issuer = iss,
        .audience = aud,
        .leeway_s = leeway,
        .grants_claim = claim,
    };
    struct jwtv *v = NULL;
    if (jwtv_new(&o, &v, why, sizeof why) != KG_OK)
        return usage(why);
    if (jwtv_start(v) != KG_OK)
        return usage("cannot start the JWKS thread");

    struct kg_buf token;
    kg_buf_init_secret(&token, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (kg_buf_append(&token, chunk, n) != KG_OK)
            return usage("token over 1 MiB");
    while (token.len && (token.data[token.len - 1] == '\n' || token.data[token.len - 1] == '\r'))
        kg_buf_truncate(&token, token.len - 1);

    struct auth_principal p;
    const char *reason = NULL;
    enum kg_err err = jwtv_verify(v, token.data, token.len, now, &p, &reason);
    json_t *out = json_object();
    json_object_set_new(out, "ok", json_boolean(err == KG_OK));
    if (err != KG_OK) {
        json_object_set_new(out, "reason", json_string(reason ? reason : kg_err_code(err)));
    } else {
        json_object_set_new(out, "sub", json_string(p.sub));
        json_object_set_new(out, "client_id", json_string(p.client_id));
        json_object_set_new(out, "alg", json_string(p.alg));
        json_object_set_new(out, "kid", json_string(p.key_id));
        json_object_set_new(out, "exp", json_integer(p.expires_at_s));
        json_t *g = json_object();
        json_object_set_new(g, "master", patterns_json(&p, AUTHZ_PERM_MASTER));
        json_object_set_new(g, "viewer", patterns_json(&p, AUTHZ_PERM_VIEWER));
        json_object_set_new(g, "manage", patterns_json(&p, AUTHZ_PERM_MANAGE));
        json_object_set_new(g, "anyClientId", json_boolean(p.grants.any_client_id));
        json_object_set_new(out, "grants", g);
        char id[AUTH_CLIENT_ID_MAX + 1];
        enum kg_err e = authz_viewer_client_id(&p, client_id, id);
        json_t *viewer = json_object();
        json_object_set_new(viewer, "ok", json_boolean(e == KG_OK));
        if (e == KG_OK)
            json_object_set_new(viewer, "client_id", json_string(id));
        else
            json_object_set_new(viewer, "code", json_string(kg_err_code(e)));
        json_object_set_new(out, "viewer", viewer);
        if (channel) {
            json_t *allows = json_object();
            json_object_set_new(allows, "master", json_boolean(authz_allows(&p, AUTHZ_PERM_MASTER, channel)));
            json_object_set_new(allows, "viewer", json_boolean(authz_allows(&p, AUTHZ_PERM_VIEWER, channel)));
            json_object_set_new(allows, "manage", json_boolean(authz_allows(&p, AUTHZ_PERM_MANAGE, channel)));
            json_object_set_new(allows, "describe", json_boolean(authz_can_describe(&p, channel)));
            json_object_set_new(out, "allows", allows);
        }
        auth_principal_cleanup(&p);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(out);
    jwtv_free(v);
    kg_buf_free(&token);
    kg_buf_free(&secret);
    return err == KG_OK ? 0 : 1;
}
