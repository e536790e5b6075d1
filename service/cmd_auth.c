/* `kvsgate auth check`: verifies one token with the settings `kvsgate serve`
 * would use (the policy file, or the KVSGATE_JWT_* settings; JWKS fetched
 * and discovered the same way) and says what the service would make of it:
 * the issuer that took it, its key and algorithm, the subject's client id and
 * owner value, and the grants; or why it is refused, in the words of the 401;
 * and in both cases the token's decoded header and claims.
 *
 * The token comes from a file or stdin, never the command line (shell
 * history, ps). One JSON object on stdout; the token itself is never printed.
 * Exit 0: accepted; 1: refused; 2: usage or settings error. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "aws/transport.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/encode.h"
#include "core/file.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "service/authcfg.h"
#include "service/cli.h"
#include "service/config.h"

static const char auth_help[] =
    "Usage: kvsgate auth check [--token-file FILE] [--at EPOCH_SECONDS]\n"
    "\n"
    "Verifies one JWT (from FILE, or stdin) as `kvsgate serve` would with the same\n"
    "settings (KVSGATE_POLICY_FILE or KVSGATE_JWT_*), and prints one JSON object:\n"
    "  {\"accepted\": true, \"issuer\", \"alg\", \"kid\", \"sub\", \"clientId\", \"owner\",\n"
    "   \"expiresAt\", \"grants\": {\"master\", \"viewer\", \"manage\", \"anyClientId\",\n"
    "   \"manageAny\"}}\n"
    "  {\"accepted\": false, \"reason\": \"wrong audience\"}\n"
    "Both also hold the token's decoded \"header\" and \"claims\" (never its signature).\n"
    "  --token-file  the file holding the token (default: stdin)\n"
    "  --at          verify as at this time (default: now)\n"
    "Exit status: 0 accepted, 1 refused, 2 usage or settings error.\n";

/* The token, one trailing newline dropped. */
static int read_token(const char *file, struct kg_buf *out)
{
    enum kg_err err = KG_OK;
    if (file) {
        err = kg_file_read(file, out);
    } else {
        char chunk[4096];
        size_t n;
        while (err == KG_OK && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            err = kg_buf_append(out, chunk, n);
    }
    while (err == KG_OK && out->len &&
           (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
        kg_buf_truncate(out, out->len - 1);
    return err == KG_OK;
}

static json_t *grants_json(const struct authz_grants *g)
{
    static const char *const perms[AUTHZ_PERM_COUNT] = {"master", "viewer", "manage"};
    json_t *o = json_object();
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        json_t *list = json_array();
        for (size_t i = 0; i < g->counts[perm]; i++)
            json_array_append_new(list, json_string(g->patterns[perm][i]));
        json_object_set_new(o, perms[perm], list);
    }
    json_object_set_new(o, "anyClientId", json_boolean(g->any_client_id));
    json_object_set_new(o, "manageAny", json_boolean(g->manage_any));
    return o;
}

/* Segment index (0 header, 1 claims) of the token decoded as JSON, or NULL:
 * what the operator's token says, verified or not (never its signature). */
static json_t *token_part(const struct kg_buf *tok, int index)
{
    const char *start = tok->data, *end = memchr(start, '.', tok->len);
    if (!end)
        return NULL;
    if (index == 1) {
        start = end + 1;
        end = memchr(start, '.', tok->len - (size_t)(start - tok->data));
        if (!end)
            return NULL;
    }
    struct kg_buf json;
    kg_buf_init(&json, tok->len);
    json_t *out = NULL;
    if (kg_base64url_decode(&json, start, (size_t)(end - start)) == KG_OK)
        out = json_loadb(json.data, json.len, JSON_REJECT_DUPLICATES, NULL);
    kg_buf_free(&json);
    if (out && !json_is_object(out)) {
        json_decref(out);
        out = NULL;
    }
    return out;
}

static void print_json(json_t *o)
{
    char *text = json_dumps(o, JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(o);
}

/* Verifies tok with the verifier of cfg; prints the outcome. */
static int check_token(const struct kg_config *cfg, struct kg_http_client *http,
                       const struct kg_buf *tok, int64_t at_s)
{
    char why[512] = "";
    struct authcfg *a = NULL;
    struct jwtv *v = NULL;
    if (authcfg_load(cfg, http, &a, why, sizeof why) != KG_OK ||
        jwtv_new(authcfg_options(a), &v, why, sizeof why) != KG_OK ||
        jwtv_start(v) != KG_OK) {
        fprintf(stderr, "kvsgate auth check: %s%s\n",
                cfg->policy_file ? "KVSGATE_POLICY_FILE: " : "", why);
        jwtv_free(v);
        authcfg_free(a);
        return KG_EXIT_USAGE;
    }
    struct auth_principal p;
    const char *reason = NULL;
    int rc = KG_EXIT_FAILURE;
    json_t *out;
    if (jwtv_verify(v, tok->data, tok->len, at_s, &p, &reason) == KG_OK) {
        out = json_pack("{s:b, s:s, s:s, s:s, s:s?, s:s, s:s, s:I, s:o}", "accepted", 1, "issuer",
                        p.issuer ? p.issuer : "default", "alg", p.alg, "kid",
                        p.key_id ? p.key_id : "", "sub", p.sub, "clientId", p.client_id, "owner",
                        p.owner_id, "expiresAt", (json_int_t)p.expires_at_s, "grants",
                        grants_json(&p.grants));
        auth_principal_cleanup(&p);
        rc = KG_EXIT_OK;
    } else {
        out = json_pack("{s:b, s:s}", "accepted", 0, "reason", reason ? reason : "invalid token");
    }
    json_t *header = token_part(tok, 0), *claims = token_part(tok, 1);
    if (header)
        json_object_set_new(out, "header", header);
    if (claims)
        json_object_set_new(out, "claims", claims);
    print_json(out);
    jwtv_free(v);
    authcfg_free(a);
    return rc;
}

int cmd_auth(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(auth_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? KG_EXIT_USAGE : KG_EXIT_OK;
    }
    if (strcmp(argv[1], "check") != 0)
        return cli_usage_error("auth", NULL, "the only subcommand is check");
    struct cli_flag flags[] = {{"token-file", NULL, 0}, {"at", NULL, 0}};
    if (cli_flags_parse("auth check", argc - 2, argv + 2, flags, 2) != 0)
        return KG_EXIT_USAGE;
    long long at = 0;
    if (flags[1].value && !cli_parse_int(flags[1].value, 1, 253402300799LL, &at))
        return cli_usage_error("auth check", "--at", "must be seconds since 1970");
    struct kg_config cfg;
    kg_log_set_level(KG_LOG_WARN);
    if (config_load_auth(&cfg, NULL, stderr) != KG_OK)
        return KG_EXIT_USAGE;
    struct kg_buf tok;
    kg_buf_init_secret(&tok, (size_t)cfg.jwt_max_bytes + 2);
    if (!read_token(flags[0].value, &tok)) {
        kg_buf_free(&tok);
        config_cleanup(&cfg);
        return cli_usage_error("auth check", flags[0].value ? "--token-file" : NULL,
                               "cannot read the token (or it is longer than KVSGATE_JWT_MAX_BYTES)");
    }
    kg_crypto_init();
    int rc = KG_EXIT_FAILURE;
    struct kg_http_client *http = NULL;
    if (transport_global_init() == KG_OK) {
        struct transport_options topts = {.ca_file = cfg.aws_ca_file,
                                          .https_proxy = cfg.https_proxy,
                                          .http_proxy = cfg.http_proxy,
                                          .no_proxy = cfg.no_proxy};
        http = transport_new(&topts);
        rc = check_token(&cfg, http, &tok, at ? (int64_t)at : kg_now_s());
        transport_free(http);
        transport_global_cleanup();
    }
    kg_buf_free(&tok);
    config_cleanup(&cfg);
    return rc;
}
