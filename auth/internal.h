/* kvsgate: what the auth/ files share with each other. Not a contract for
 * other layers (they use jwt.h, authz.h, principal.h, token.h).
 *
 *   strictjson.c   strict JSON input: nesting bounded before jansson parses
 *   keys.c      struct auth_key (one verification key), PEM loading, the
 *               refcounted immutable key set
 *   jwk.c       JWK (RFC 7517) to auth_key with OSSL_PARAM_BLD + EVP_PKEY_fromdata
 *   jws.c       the algorithm table; signature checks: OpenSSL for RS/PS/ES,
 *               libjwt for HS256
 *   jwks.c      the JWKS fetcher: injected HTTP client, refresh thread
 *   claims.c    registered claims and grants -> auth_principal
 *   token_cache.c  tokens already verified (SHA-256 of the exact bytes ->
 *               a copy of their principal), bounded, short-lived
 *   jwt.c       jwtv_*: the verifier that ties these together
 */
#ifndef KG_AUTH_INTERNAL_H
#define KG_AUTH_INTERNAL_H

#include <jansson.h>
#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "auth/principal.h"
#include "core/err.h"
#include "core/http.h"

/* ---- algorithms (jws.c) ---------------------------------------------------- */

enum jwa { JWA_HS256 = 0, JWA_RS256, JWA_RS384, JWA_RS512, JWA_PS256, JWA_PS384, JWA_PS512,
           JWA_ES256, JWA_ES384, JWA_ES512, JWA_EDDSA, JWA__COUNT };
#define JWA_BIT(a) (1u << (unsigned)(a))
#define JWA_RSA_FAMILY (JWA_BIT(JWA_RS256) | JWA_BIT(JWA_RS384) | JWA_BIT(JWA_RS512) | \
                        JWA_BIT(JWA_PS256) | JWA_BIT(JWA_PS384) | JWA_BIT(JWA_PS512))

/* Exact, case-sensitive match of s[0..n) against the allow-list. "none",
 * "hs256", "HS384", "ES512"... return 0. */
int jwa_parse(const char *s, size_t n, enum jwa *out);
/* "HS256", ... Static storage. */
const char *jwa_name(enum jwa a);
/* "SHA256", "SHA384", "SHA512"; NULL for EdDSA (no separate digest). */
const char *jwa_digest_name(enum jwa a);

/* ---- strict JSON (strictjson.c) ----------------------------------------------- */

/* Nesting depth of objects and arrays never passes max_depth (strings are
 * skipped), and no string holds the escape \u0000. Cheap, linear, and run
 * before jansson so that a nested bomb never reaches its recursive parser.
 * Unbalanced input is left to jansson. */
int strictjson_shape_ok(const char *s, size_t n, int max_depth);
/* Parses s[0..n) as one JSON object: nesting bounded by max_depth, duplicate
 * keys refused, no NUL in strings, nothing after the value. New reference, or
 * NULL. */
json_t *strictjson_object(const char *s, size_t n, int max_depth);

/* ---- keys (keys.c, jwk.c) --------------------------------------------------- */

enum auth_key_kind { AUTH_KEY_HMAC = 0, AUTH_KEY_RSA, AUTH_KEY_EC_P256, AUTH_KEY_EC_P384,
                     AUTH_KEY_EC_P521, AUTH_KEY_ED25519 };

#define AUTH_KID_MAX 256
#define AUTH_RSA_MIN_BITS 2048
#define AUTH_RSA_MAX_BITS 8192

/* One verification key. Immutable once built; shared read-only by threads. */
struct auth_key {
    enum auth_key_kind kind;
    unsigned algs;             /* JWA_BIT set this key may verify */
    const char *kid;           /* NULL for static keys; else interned by the JWKS
                                  fetcher (lives as long as the verifier) */
    EVP_PKEY *pkey;            /* RSA or EC; NULL for HMAC */
    unsigned char *secret;     /* HMAC; wiped on free */
    size_t secret_len;
    size_t sig_len;            /* exact signature length: RSA modulus bytes, 64, 96 */
};

/* HMAC key over a copy of secret[0..n). HS256 only. */
struct auth_key *auth_key_new_hmac(const unsigned char *secret, size_t n);
/* Wraps pkey (ownership moves in on success, stays with the caller on
 * failure). Refuses RSA under 2048 or over 8192 bits, EC other than P-256 and
 * P-384, other key types, and keys that fail EVP_PKEY_public_check. alg_hint,
 * when not NULL, pins the key to that one algorithm (it must fit the key).
 * *why gets a static phrase on failure. */
KG_WARN_UNUSED enum kg_err auth_key_from_pkey(EVP_PKEY *pkey, const char *alg_hint,
                                              struct auth_key **out, const char **why);
void auth_key_free(struct auth_key *k);

/* Appends every public key of a PEM file ("PUBLIC KEY" or "CERTIFICATE"
 * blocks; at most max_keys) to keys[*count]. A private key, an unsupported or
 * weak key, or a file without a key fails with a one-line reason in why that
 * names the file. */
KG_WARN_UNUSED enum kg_err auth_keys_load_pem_file(const char *path, struct auth_key **keys,
                                                   size_t *count, size_t max_keys, char *why,
                                                   size_t why_len);

/* One JWK object to a key. kty RSA or EC only (never oct: a symmetric key from
 * a URL would let HS256 tokens in); use must be "sig" and alg one of ours that
 * fits the key when present; key_ops, when present, must hold "verify". kid is
 * copied into *kid_out (malloc'ed; NULL when absent) for the caller to intern.
 * *why gets a static phrase on failure. */
KG_WARN_UNUSED enum kg_err auth_key_from_jwk(json_t *jwk, struct auth_key **out, char **kid_out,
                                             const char **why);

/* An immutable set of keys, shared by reference between the fetcher and the
 * requests that use it; the last release frees it. */
struct auth_keyset {
    int refs; /* atomic */
    size_t count;
    struct auth_key **keys; /* owned */
};

struct auth_keyset *auth_keyset_new(struct auth_key **keys, size_t count); /* takes keys */
void auth_keyset_acquire(struct auth_keyset *s);
void auth_keyset_release(struct auth_keyset *s);
const struct auth_key *auth_keyset_find(const struct auth_keyset *s, const char *kid, size_t n);

/* ---- signatures (jws.c) ------------------------------------------------------ */

/* Verifies sig over signing_input with k for alg (which k->algs must hold).
 * RS/PS/ES with OpenSSL EVP_DigestVerify on the parsed key; ES signatures are
 * JOSE raw r||s and must be exactly k->sig_len bytes. HS256 goes through
 * libjwt: token[0..token_len) is the whole compact token, already checked by
 * the caller to be three strict base64url segments; libjwt's reported
 * algorithm is re-checked afterwards. 1 when valid. */
int jws_verify(const struct auth_key *k, enum jwa alg, const char *token, size_t token_len,
               size_t signing_input_len, const unsigned char *sig, size_t sig_len);

/* ---- JWKS fetcher (jwks.c) --------------------------------------------------- */

struct jwks_options {
    const char *url;              /* the JWKS; NULL with discovery_issuer */
    const char *discovery_issuer; /* non-NULL: the JWKS URL is discovered (OIDC Discovery
                                     1.0 §4) from <issuer>/.well-known/openid-configuration
                                     before every fetch */
    const char *name;             /* the issuer's name, for metrics and logs */
    struct kg_http_client *http;
    int64_t refresh_s;
    int64_t min_refetch_s;
    int64_t timeout_ms;
    int64_t (*now_fn)(void);
};

#define JWKS_URL_MAX 2048

/* https, or http to a loopback host only (a local IdP in tests and demos):
 * keys fetched in clear text from elsewhere could be swapped on the way.
 * Through core/url.c, so userinfo and anything it does not understand is
 * refused and the host checked is the one libcurl connects to. */
int jwks_url_ok(const char *url);

/* An OpenID Provider's discovery document (OIDC Discovery 1.0 §3, §4.3): its
 * "issuer" must be exactly issuer, its "jwks_uri" a URL jwks_url_ok accepts,
 * which is copied into jwks_uri. KG_ERR_BAD_REQUEST with a static *why
 * otherwise. Exposed for the fuzz target. */
KG_WARN_UNUSED enum kg_err jwks_discovery_parse(const char *body, size_t len, const char *issuer,
                                                char jwks_uri[JWKS_URL_MAX + 1],
                                                const char **why);

#define JWKS_MAX_RESPONSE_LEN (512 * 1024)
#define JWKS_MAX_KEYS 64

struct jwks;

struct jwks *jwks_new(const struct jwks_options *opts);
/* One fetch now, on the calling thread. KG_OK when keys were replaced. */
KG_WARN_UNUSED enum kg_err jwks_fetch_now(struct jwks *j);
KG_WARN_UNUSED enum kg_err jwks_start(struct jwks *j);
/* The current key set with a reference (release it), or NULL when none yet. */
struct auth_keyset *jwks_acquire(struct jwks *j);
/* Asks the thread for an early fetch (an unknown kid was seen). Never blocks;
 * ignored within min_refetch_s of the previous attempt. */
void jwks_request_refetch(struct jwks *j);
void jwks_stats(struct jwks *j, uint64_t *ok, uint64_t *failed, size_t *keys);
void jwks_free(struct jwks *j);

/* Parses a JWKS document into a key set (kids interned through intern_fn).
 * Bad keys are skipped and logged; a document that is not a JWKS or holds no
 * usable key fails. Exposed for the tests. */
KG_WARN_UNUSED enum kg_err jwks_parse(const char *body, size_t len,
                                      const char *(*intern_fn)(void *arg, const char *kid),
                                      void *intern_arg, struct auth_keyset **out,
                                      const char **why);

/* ---- claims (claims.c) -------------------------------------------------------- */

/* A claim-to-grants rule (jwtv_rule, owned copy). */
struct claims_rule {
    char **path;
    size_t path_len;
    char *equals; /* NULL: every string value, as {value} */
    char **patterns[AUTHZ_PERM_COUNT];
    size_t counts[AUTHZ_PERM_COUNT];
    int any_client_id, manage_any;
};

/* What one issuer's tokens must say, and how their claims become grants. */
struct claims_policy {
    const char *issuer;   /* NULL: not checked */
    const char *const *aud;
    size_t aud_count;     /* 0: aud not checked */
    const char *const *client_id;
    size_t client_id_count;
    const char *const *azp;
    size_t azp_count;
    const char *token_use; /* NULL: not checked */
    const char *grants_claim; /* NULL: none */
    const char *scope_prefix; /* "" for none */
    const char *const *scope_claims;
    size_t scope_claim_count;
    const struct claims_rule *rules;
    size_t rule_count;
    int secondary;        /* ids hashed with iss (auth_qualified_id) */
    const char *issuer_name; /* copied into the principal */
    int64_t leeway_s;
    int64_t max_lifetime_s; /* > 0: exp at most this far past now (and past iat) */
};

#define CLAIMS_MAX_SUB_LEN AUTH_SUB_MAX_LEN
#define CLAIMS_MAX_PATTERNS 64  /* per permission */
#define CLAIMS_MAX_PATTERN_LEN 512

/* Checks exp/nbf/iat/iss/aud/sub at now_s and fills out's sub, client_id,
 * grants and expires_at_s. On failure returns KG_ERR_UNAUTHENTICATED with a
 * static *reason and leaves out empty. */
KG_WARN_UNUSED enum kg_err claims_check(json_t *payload, const struct claims_policy *pol,
                                        int64_t now_s, struct auth_principal *out,
                                        const char **reason);

/* ---- trusted issuers, one generation of them (jwt.c) --------------------------- */

#define AUTH_ISSUER_MAX_STATIC_KEYS 16

/* One issuer as the verifier holds it: an owned copy of its jwtv_issuer, its
 * keys, and the claims policy that views them. */
struct auth_issuer {
    char *name, *issuer, *token_use, *grants_claim, *scope_prefix;
    char **aud, **client_id, **azp, **scope_claims;
    size_t aud_count, client_id_count, azp_count, scope_claim_count;
    struct claims_rule *rules;
    size_t rule_count;
    struct claims_policy claims;
    struct auth_key *static_keys[AUTH_ISSUER_MAX_STATIC_KEYS];
    size_t static_count;
    struct jwks *jwks; /* the verifier's (shared across generations), or NULL */
};

/* What the verifier trusts, immutable once built; requests hold a reference
 * for one verification, a reload swaps in a new generation. */
struct auth_policy {
    int refs; /* atomic */
    uint64_t generation;
    size_t count;
    struct auth_issuer issuers[JWTV_MAX_ISSUERS];
};

/* ---- verified-token cache (token_cache.c) ------------------------------------ */

#define TOKCACHE_DEFAULT_ENTRIES 8192
#define TOKCACHE_DEFAULT_TTL_S 60

struct tokcache;

/* At least max_entries entries (0: TOKCACHE_DEFAULT_ENTRIES; rounded up to a
 * whole number of sets), each answering at most ttl_s seconds (<= 0:
 * TOKCACHE_DEFAULT_TTL_S). Registers its metrics. */
struct tokcache *tokcache_new(size_t max_entries, int64_t ttl_s);
void tokcache_free(struct tokcache *c);
size_t tokcache_capacity(const struct tokcache *c);
/* The key of a token under a policy generation: SHA-256 of the generation (8
 * bytes, big-endian) followed by token[0..len), byte for byte: a collision
 * would be one of SHA-256. The generation is no secret, so it is a prefix
 * rather than an HMAC key (two compressions fewer per request). A reload (a
 * new generation) makes every earlier entry unreachable; they age out. */
void tokcache_digest(uint64_t generation, const char *token, size_t len, unsigned char out[32]);
/* 1 and a deep copy of the principal in *out (auth_principal_cleanup it) when
 * a token with this digest was stored at or before now_s and its entry still
 * answers (now_s < min(exp, stored + ttl)); 0 and *out untouched otherwise.
 * Counted as a hit or a miss. */
int tokcache_get(struct tokcache *c, const unsigned char digest[32], int64_t now_s,
                 struct auth_principal *out);
/* Stores a deep copy of p, the principal of a token the verifier has just
 * accepted at now_s, under its digest. Callers never store anything else. */
void tokcache_put(struct tokcache *c, const unsigned char digest[32], int64_t now_s,
                  const struct auth_principal *p);
struct tokcache_stats {
    uint64_t hits, misses, evictions;
    size_t entries;
};
void tokcache_stats(struct tokcache *c, struct tokcache_stats *out);

#endif
