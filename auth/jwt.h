/* kvsgate: JWT verification (the `jwtv_` verifier).
 *
 * The key decides the algorithm, never the token:
 *   - the header is decoded by us (strict base64url, JSON without duplicate
 *     keys); `alg` must be one of HS256, RS256, RS384, RS512, PS256, PS384,
 *     PS512, ES256, ES384, ES512, EdDSA (exact, case-sensitive) and equal the algorithm bound to the key
 *     that `kid` selects (or, without `kid`, to a configured key of that kind);
 *   - `none` is always refused; an HS* token is never checked against a public
 *     key (the algorithm-confusion attack);
 *   - libjwt 1.10 checks HMAC signatures (with a non-empty key, and its reported
 *     alg re-checked); RSA, RSA-PSS and ECDSA signatures are checked with
 *     OpenSSL against keys parsed once at load (libjwt re-parses the PEM on every
 *     call, ~300 us, and has no PS256; see docs/auth.md for the measurements).
 * Claims: exp required (a JSON integer), nbf and iat honoured, iss and aud
 * enforced when configured (aud a string or an array), leeway applied to all.
 * Grants come from the claim named by grants_claim (a JSON object
 * {"master": [...], "viewer": [...], "manage": [...], "anyClientId": bool})
 * and from scopes (`scope` string or `scp` array) of the form
 * kvs:<master|viewer|manage>:<pattern>. The token length is capped before any
 * parsing, and payload nesting is bounded.
 *
 * Keys: an HS256 secret, PEM public keys (RSA >= 2048 bits, P-256, P-384) and a
 * JWKS URL fetched with the injected HTTP client, cached, refreshed every
 * jwks_refresh_s by a background thread and on an unknown kid (at most once per
 * jwks_min_refetch_s; the request that saw the unknown kid does not wait:
 * it fails and a later one succeeds). JWK to EVP_PKEY with OpenSSL 3
 * (OSSL_PARAM_BLD + EVP_PKEY_fromdata); kty/crv/alg/use are enforced.
 *
 * Verified tokens are remembered (the verified-token cache, token_cache.c):
 * the SHA-256 of a token's exact bytes maps to a copy of its principal for at
 * most token_cache_ttl_s (default 60) and never past the token's exp, in a
 * bounded table (token_cache_entries, default 8192). Only tokens that passed
 * every check above get in; a hit skips the signature check and the JSON
 * parsing. A JWKS key that is removed or rotated therefore stops verifying
 * cached tokens within token_cache_ttl_s, not at once.
 *
 * Thread-safe. Nothing secret is logged (never a token, a signature or a key).
 */
#ifndef KG_AUTH_JWT_H
#define KG_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "auth/principal.h"
#include "core/err.h"
#include "core/http.h"

#define JWTV_DEFAULT_MAX_TOKEN_LEN 8192
/* The shortest HS256 secret (RFC 7518 3.2: at least the hash's 256 bits). */
#define JWTV_HS256_SECRET_MIN_LEN 32
/* Bounds of jwks_refresh_s; KVSGATE_JWKS_REFRESH_S's row in service/config.c
 * has the same (test_config checks). */
#define JWTV_JWKS_REFRESH_MIN_S 10
#define JWTV_JWKS_REFRESH_MAX_S 86400

/* A rule of an issuer's policy: values of one claim to grants. */
struct jwtv_rule {
    const char *const *claim_path; /* ["cognito:groups"], ["realm_access", "roles"], ... */
    size_t claim_path_len;         /* 1..8 */
    const char *equals;            /* the value (or an element of the array) that grants; NULL:
                                      every string value, as {value} in the patterns */
    const char *const *patterns[AUTHZ_PERM_COUNT]; /* with {sub} and {value} (authz.h) */
    size_t pattern_counts[AUTHZ_PERM_COUNT];
    int any_client_id;
    int manage_any;
};

/* One trusted issuer: where its keys come from, how its tokens name their
 * audience, and how their claims become grants. */
struct jwtv_issuer {
    const char *name;    /* [a-z0-9-]{1,32}, unique: logs, metrics, `kvsgate auth check` */
    const char *issuer;  /* the exact iss; NULL: any (allowed for a lone issuer only) */
    /* keys: any mix */
    const unsigned char *hs256_secret;
    size_t hs256_secret_len;
    const char *const *public_key_files;
    size_t public_key_file_count;
    const char *jwks_url;
    int discovery;       /* jwks_uri from <issuer>/.well-known/openid-configuration */
    /* the audience: every list given must hold the token's value */
    const char *const *aud;       /* aud (string or array) holds one of these */
    size_t aud_count;
    const char *const *client_id; /* the client_id claim is one of these (Cognito access) */
    size_t client_id_count;
    const char *const *azp;       /* azp is one of these */
    size_t azp_count;
    const char *token_use;        /* token_use must be this ("access", "id": Cognito) */
    /* grants */
    const char *grants_claim;     /* the {"master": [...], ...} claim; NULL: "kvs"; "": none */
    const char *scope_prefix;     /* before kvs:<perm>:<pattern> in scopes; NULL: "" */
    const char *const *scope_claims; /* claims holding scopes (string or array); 0: scope, scp */
    size_t scope_claim_count;
    const struct jwtv_rule *rules;
    size_t rule_count;
};

#define JWTV_MAX_ISSUERS 16

struct jwtv_options {
    /* Several issuers (a policy file), or, when issuer_count is 0, one from
     * the fields below (the environment's settings). The first issuer is the
     * primary one: its subjects' client ids and owner values come from sub
     * alone; every other issuer's are hashed with its iss, so the same sub
     * from two issuers is two subjects. */
    const struct jwtv_issuer *issuers;
    size_t issuer_count;
    const unsigned char *hs256_secret; /* NULL: no HS256 key */
    size_t hs256_secret_len;           /* >= JWTV_HS256_SECRET_MIN_LEN required */
    const char *const *public_key_files; /* PEM files, each one or more public keys */
    size_t public_key_file_count;
    const char *jwks_url;              /* NULL: none */
    struct kg_http_client *http;       /* required with jwks_url */
    int64_t jwks_refresh_s;            /* 0: 600 */
    int64_t jwks_min_refetch_s;        /* 0: 30 */
    int64_t jwks_timeout_ms;           /* 0: 5000 */
    const char *issuer;                /* NULL: not checked */
    const char *audience;              /* NULL: not checked */
    int64_t leeway_s;                  /* default 60 applied by the caller's settings */
    int64_t max_lifetime_s;            /* > 0: refuse exp further than this from now */
    const char *grants_claim;          /* NULL: "kvs" */
    size_t max_token_len;              /* 0: JWTV_DEFAULT_MAX_TOKEN_LEN */
    int64_t (*now_fn)(void);           /* NULL: kg_now_s; for the JWKS timers */
    size_t token_cache_entries;        /* 0: 8192 */
    int64_t token_cache_ttl_s;         /* 0: 60; < 0: no verified-token cache */
};

struct jwtv;

/* Builds a verifier and loads the secret and PEM keys. On a configuration error
 * returns KG_ERR_BAD_REQUEST and writes a one-line reason naming the problem
 * (e.g. "KVSGATE_JWT_PUBLIC_KEY_FILE: /x.pem: not a public key") into why. */
KG_WARN_UNUSED enum kg_err jwtv_new(const struct jwtv_options *opts, struct jwtv **out, char *why,
                                    size_t why_len);
/* Fetches each JWKS once (discovering it first where asked) and starts their
 * refresh threads. A failed first fetch is logged and retried by the thread;
 * jwtv_ready tells. */
KG_WARN_UNUSED enum kg_err jwtv_start(struct jwtv *v);
/* Builds a new generation from opts (keys and files read again, new issuers'
 * JWKS fetched first) and swaps it in atomically: requests in flight finish
 * on the old one, the next ones use the new one, tokens verified under the
 * old one are verified again. On an error nothing changes: the old
 * generation keeps serving and why says what was refused. *generation
 * (optional) gets the new generation's number. Thread-safe. */
KG_WARN_UNUSED enum kg_err jwtv_reload(struct jwtv *v, const struct jwtv_options *opts,
                                       uint64_t *generation, char *why, size_t why_len);
/* The number of the generation in use (1 at start, +1 per reload). */
uint64_t jwtv_generation(struct jwtv *v);
/* True when every issuer has a usable key (a secret, PEM keys, or a fetched
 * JWKS: once fetched, its keys stay through failures). */
int jwtv_ready(struct jwtv *v);
void jwtv_free(struct jwtv *v);

/* Verifies a compact JWS at now_s and fills out (cleanup with
 * auth_principal_cleanup). Returns KG_OK, or KG_ERR_UNAUTHENTICATED with
 * *reason set to a short static phrase safe to log and to return
 * ("malformed token", "token too large", "unsupported algorithm",
 * "algorithm does not match key", "unknown key id", "bad signature",
 * "token expired", "token not yet valid", "wrong issuer", "wrong audience",
 * "missing exp", "bad claim type", "no grants claim", "bad subject",
 * "token lifetime too long"...). */
KG_WARN_UNUSED enum kg_err jwtv_verify(struct jwtv *v, const char *token, size_t token_len,
                                       int64_t now_s, struct auth_principal *out,
                                       const char **reason);

/* jwtv_verify for callers that budget failures: with cached_only, only the
 * verified-token cache answers, and a token not in it is not verified at all
 * (KG_ERR_RATE_LIMITED, *reason set). */
KG_WARN_UNUSED enum kg_err jwtv_check(struct jwtv *v, const char *token, size_t token_len,
                                      int64_t now_s, int cached_only, struct auth_principal *out,
                                      const char **reason);

/* For metrics and tests: JWKS fetches made, by outcome; verified-token cache
 * lookups, by result. */
struct jwtv_stats {
    uint64_t jwks_fetch_ok;
    uint64_t jwks_fetch_failed;
    size_t keys_loaded;
    uint64_t token_cache_hits;
    uint64_t token_cache_misses;
    uint64_t token_cache_evictions;
    size_t token_cache_entries;
};
void jwtv_get_stats(struct jwtv *v, struct jwtv_stats *out);

#endif
