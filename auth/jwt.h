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

struct jwtv_options {
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
/* Fetches the JWKS once (when configured) and starts the refresh thread. A
 * failed first fetch is logged and retried by the thread; jwtv_ready tells. */
KG_WARN_UNUSED enum kg_err jwtv_start(struct jwtv *v);
/* True when at least one key is usable (secret, PEM, or a fetched JWKS). */
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
