/* The JWT verifier (jwtv_): shape, header, key, signature, claims, in that
 * order, each step refusing before the next sees the input.
 *
 * Design note (the measured reasons are in docs/auth.md):
 * 1. The length is capped before anything (libjwt sizes an alloca by it).
 * 2. Exactly three segments of the base64url alphabet, decoded strictly, so a
 *    signature has one spelling (libjwt's decoder skips junk).
 * 3. The header is parsed by us (duplicates refused): alg must be in the
 *    allow-list by exact match ("hs256" and "none" are not), crit is refused,
 *    typ is JWT or at+jwt (HS256: JWT only, which is all libjwt takes).
 * 4. The key decides: kid selects a JWKS key whose algorithm set must hold
 *    alg; otherwise (no kid, or a kid we do not know) the configured static
 *    keys whose set holds alg are tried. HS256 is only in a secret's set, so
 *    an HMAC token never meets a public key (algorithm confusion).
 * 5. The payload is parsed by us before the signature check, its nesting
 *    bounded first (libjwt parses the payload of HS256 tokens itself, and a
 *    payload it cannot read must not pass for a bad signature); its claims
 *    are believed only once the signature holds.
 * 6. Claims and grants (claims.c).
 * 7. A token that passed all of it is remembered by the SHA-256 of its exact
 *    bytes (token_cache.c); the same bytes again skip steps 1-6 until the
 *    token's exp or the cache's short TTL, whichever comes first. */
#include "auth/jwt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/internal.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/url.h"

#define JWTV_MAX_STATIC_KEYS 16
#define JWTV_HEADER_MAX_DEPTH 4
#define JWTV_PAYLOAD_MAX_DEPTH 32
#define JWTV_MAX_TOKEN_LEN_LIMIT 65536
#define JWTV_MAX_LEEWAY_S 300
#define JWTV_MAX_CLAIM_NAME_LEN 256

struct jwtv {
    struct auth_key *static_keys[JWTV_MAX_STATIC_KEYS];
    size_t static_count;
    struct jwks *jwks;
    char *issuer, *audience, *grants_claim;
    struct claims_policy policy;
    size_t max_token_len;
    struct tokcache *cache; /* NULL: every token is verified in full */
};

static enum kg_err config_error(char *why, size_t why_len, const char *msg)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", msg);
    return KG_ERR_BAD_REQUEST;
}

/* https, or http to this host only (a local IdP in tests and demos): keys
 * fetched in clear text from elsewhere could be swapped on the way. Parsed by
 * the project's URL splitter, so userinfo ("http://127.0.0.1:x@idp/") and
 * anything else it does not understand is refused, and the host checked is
 * the host libcurl connects to. */
static int jwks_url_ok(const char *url)
{
    struct url_parts u;
    if (url_parse(url, URL_ALLOW_QUERY, &u) != KG_OK)
        return 0;
    return strcmp(u.scheme, "https") == 0 || url_host_is_loopback(u.host);
}

enum kg_err jwtv_new(const struct jwtv_options *opts, struct jwtv **out, char *why, size_t why_len)
{
    *out = NULL;
    if (why && why_len)
        why[0] = '\0';
    if (!opts)
        return config_error(why, why_len, "no JWT options");
    if (opts->hs256_secret && opts->hs256_secret_len < JWTV_HS256_SECRET_MIN_LEN)
        return config_error(why, why_len,
                            "KVSGATE_JWT_HS256_SECRET: must be at least 32 bytes");
    if (!opts->hs256_secret && !opts->public_key_file_count && !opts->jwks_url)
        return config_error(why, why_len,
                            "no JWT key: set KVSGATE_JWT_HS256_SECRET(_FILE), "
                            "KVSGATE_JWT_PUBLIC_KEY_FILE or KVSGATE_JWKS_URL");
    if (opts->jwks_url && !jwks_url_ok(opts->jwks_url))
        return config_error(why, why_len,
                            "KVSGATE_JWKS_URL: must be an https:// URL (http:// only to localhost)");
    if (opts->jwks_url && !opts->http)
        return config_error(why, why_len, "KVSGATE_JWKS_URL: no HTTP client");
    if (opts->issuer && !*opts->issuer)
        return config_error(why, why_len, "KVSGATE_JWT_ISSUER: must not be empty");
    if (opts->audience && !*opts->audience)
        return config_error(why, why_len, "KVSGATE_JWT_AUDIENCE: must not be empty");
    if (opts->max_lifetime_s < 0)
        return config_error(why, why_len, "KVSGATE_JWT_MAX_LIFETIME_S: must not be negative");
    if (opts->leeway_s < 0 || opts->leeway_s > JWTV_MAX_LEEWAY_S)
        return config_error(why, why_len, "KVSGATE_JWT_LEEWAY_S: must be 0..300");
    if (opts->grants_claim &&
        (!*opts->grants_claim || strlen(opts->grants_claim) > JWTV_MAX_CLAIM_NAME_LEN))
        return config_error(why, why_len, "KVSGATE_JWT_GRANTS_CLAIM: must be 1..256 bytes");
    int64_t refresh_s = opts->jwks_refresh_s ? opts->jwks_refresh_s : 600;
    int64_t refetch_s = opts->jwks_min_refetch_s ? opts->jwks_min_refetch_s : 30;
    int64_t timeout_ms = opts->jwks_timeout_ms ? opts->jwks_timeout_ms : 5000;
    if (refresh_s < JWTV_JWKS_REFRESH_MIN_S || refresh_s > JWTV_JWKS_REFRESH_MAX_S)
        return config_error(why, why_len, "jwks_refresh_s: must be 10..86400");
    if (refetch_s < 1 || refetch_s > 86400)
        return config_error(why, why_len, "jwks_min_refetch_s: must be 1..86400");
    if (timeout_ms < 1 || timeout_ms > 120000)
        return config_error(why, why_len, "jwks_timeout_ms: must be 1..120000");
    if (opts->token_cache_ttl_s > 3600 || opts->token_cache_entries > (1u << 24))
        return config_error(why, why_len,
                            "token cache: ttl at most 3600 s, at most 16777216 entries");
    size_t max_len = opts->max_token_len ? opts->max_token_len : JWTV_DEFAULT_MAX_TOKEN_LEN;
    if (max_len > JWTV_MAX_TOKEN_LEN_LIMIT)
        return config_error(why, why_len, "max_token_len: at most 65536");

    /* Before any thread of ours parses JSON (jansson's thread-safety notes). */
    json_object_seed(0);

    struct jwtv *v = kg_calloc(1, sizeof *v);
    if (opts->hs256_secret)
        v->static_keys[v->static_count++] =
            auth_key_new_hmac(opts->hs256_secret, opts->hs256_secret_len);
    for (size_t i = 0; i < opts->public_key_file_count; i++) {
        if (auth_keys_load_pem_file(opts->public_key_files[i], v->static_keys, &v->static_count,
                                    JWTV_MAX_STATIC_KEYS, why, why_len) != KG_OK) {
            jwtv_free(v);
            return KG_ERR_BAD_REQUEST;
        }
    }
    v->issuer = opts->issuer ? kg_strdup(opts->issuer) : NULL;
    v->audience = opts->audience ? kg_strdup(opts->audience) : NULL;
    v->grants_claim = kg_strdup(opts->grants_claim ? opts->grants_claim : "kvs");
    v->policy = (struct claims_policy){v->issuer, v->audience, v->grants_claim, opts->leeway_s,
                                       opts->max_lifetime_s};
    v->max_token_len = max_len;
    if (opts->token_cache_ttl_s >= 0)
        v->cache = tokcache_new(opts->token_cache_entries, opts->token_cache_ttl_s);
    if (opts->jwks_url) {
        struct jwks_options jo = {opts->jwks_url, opts->http, refresh_s, refetch_s, timeout_ms,
                                  opts->now_fn};
        v->jwks = jwks_new(&jo);
    }
    *out = v;
    return KG_OK;
}

enum kg_err jwtv_start(struct jwtv *v)
{
    if (!v->jwks)
        return KG_OK;
    if (jwks_fetch_now(v->jwks) != KG_OK) {
        /* logged inside; the thread retries and jwtv_ready tells */
    }
    return jwks_start(v->jwks);
}

int jwtv_ready(struct jwtv *v)
{
    if (v->static_count)
        return 1;
    struct jwtv_stats s;
    jwtv_get_stats(v, &s);
    return s.keys_loaded > 0;
}

void jwtv_get_stats(struct jwtv *v, struct jwtv_stats *out)
{
    memset(out, 0, sizeof *out);
    size_t jwks_keys = 0;
    if (v->jwks)
        jwks_stats(v->jwks, &out->jwks_fetch_ok, &out->jwks_fetch_failed, &jwks_keys);
    out->keys_loaded = v->static_count + jwks_keys;
    if (v->cache) {
        struct tokcache_stats ts;
        tokcache_stats(v->cache, &ts);
        out->token_cache_hits = ts.hits;
        out->token_cache_misses = ts.misses;
        out->token_cache_evictions = ts.evictions;
        out->token_cache_entries = ts.entries;
    }
}

void jwtv_free(struct jwtv *v)
{
    if (!v)
        return;
    jwks_free(v->jwks);
    tokcache_free(v->cache);
    for (size_t i = 0; i < v->static_count; i++)
        auth_key_free(v->static_keys[i]);
    free(v->issuer);
    free(v->audience);
    free(v->grants_claim);
    free(v);
}

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* header "typ" (RFC 7515 §4.1.9: compare case-insensitively, "application/"
 * may be left out). */
static int typ_ok(json_t *typ, enum jwa alg)
{
    if (!typ)
        return 1;
    if (!json_is_string(typ))
        return 0;
    const char *t = json_string_value(typ);
    /* libjwt takes "JWT" in any case and nothing else: HMAC tokens are that. */
    if (alg == JWA_HS256)
        return strcasecmp(t, "JWT") == 0;
    if (strncasecmp(t, "application/", 12) == 0)
        t += 12;
    return strcasecmp(t, "JWT") == 0 || strcasecmp(t, "at+jwt") == 0;
}

/* One verification in progress: the token's decoded parts and what each step
 * found. */
struct verify_state {
    const char *token;
    size_t token_len;
    size_t signing_input_len; /* header.payload */
    struct kg_buf header_json, payload_json, sig;
    json_t *header, *payload;
    enum jwa alg;
    const char *kid;
    size_t kid_len;
    struct auth_keyset *set;
    const struct auth_key *verified_by;
};

/* Step 1: exactly three non-empty base64url segments, decoded strictly. */
static const char *split_token(struct verify_state *st)
{
    const char *token = st->token;
    size_t token_len = st->token_len;
    const char *dot1 = memchr(token, '.', token_len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', token_len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2)
        return "malformed token";
    size_t h_len = (size_t)(dot1 - token), p_len = (size_t)(dot2 - dot1 - 1);
    size_t s_len = token_len - (size_t)(dot2 + 1 - token);
    if (!h_len || !p_len || !s_len)
        return "malformed token";
    for (size_t i = 0; i < token_len; i++)
        if (token + i != dot1 && token + i != dot2 && !b64url_char((unsigned char)token[i]))
            return "malformed token"; /* a third dot lands here too */
    if (kg_base64url_decode(&st->header_json, token, h_len) != KG_OK ||
        kg_base64url_decode(&st->payload_json, dot1 + 1, p_len) != KG_OK ||
        kg_base64url_decode(&st->sig, dot2 + 1, s_len) != KG_OK)
        return "malformed token";
    st->signing_input_len = (size_t)(dot2 - token);
    return NULL;
}

/* Step 2: the header (alg, typ, crit, kid) and the payload's nesting. */
static const char *read_header(struct verify_state *st)
{
    st->header = strictjson_object(st->header_json.data, st->header_json.len, JWTV_HEADER_MAX_DEPTH);
    if (!st->header)
        return "malformed token";
    json_t *j_alg = json_object_get(st->header, "alg");
    if (!json_is_string(j_alg) ||
        !jwa_parse(json_string_value(j_alg), json_string_length(j_alg), &st->alg))
        return "unsupported algorithm";
    if (!typ_ok(json_object_get(st->header, "typ"), st->alg))
        return "unsupported token type";
    if (json_object_get(st->header, "crit"))
        return "unsupported critical header";
    json_t *j_kid = json_object_get(st->header, "kid");
    if (j_kid) {
        if (!json_is_string(j_kid) || json_string_length(j_kid) == 0 ||
            json_string_length(j_kid) > AUTH_KID_MAX)
            return "malformed token";
        st->kid = json_string_value(j_kid);
        st->kid_len = json_string_length(j_kid);
    }
    /* The payload is read now (nesting bounded, duplicates refused, text that
     * is not UTF-8 refused), so that one libjwt cannot read never passes for a
     * bad signature; its claims are believed only once the signature holds. */
    st->payload = strictjson_object(st->payload_json.data, st->payload_json.len,
                                 JWTV_PAYLOAD_MAX_DEPTH);
    return st->payload ? NULL : "malformed token";
}

/* Step 3: the key decides (design note 4), then the signature. */
static const char *check_signature(struct jwtv *v, struct verify_state *st)
{
    const struct auth_key *cands[JWTV_MAX_STATIC_KEYS + 1];
    size_t n_cands = 0;
    int kid_unknown = 0;
    if (st->kid && v->jwks) {
        st->set = jwks_acquire(v->jwks);
        const struct auth_key *k = auth_keyset_find(st->set, st->kid, st->kid_len);
        if (k && !(k->algs & JWA_BIT(st->alg)))
            return "algorithm does not match key";
        if (k)
            cands[n_cands++] = k;
        else
            kid_unknown = 1;
    }
    if (n_cands == 0)
        for (size_t i = 0; i < v->static_count; i++)
            if (v->static_keys[i]->algs & JWA_BIT(st->alg))
                cands[n_cands++] = v->static_keys[i];
    for (size_t i = 0; i < n_cands && !st->verified_by; i++)
        if (jws_verify(cands[i], st->alg, st->token, st->token_len, st->signing_input_len,
                       (const unsigned char *)st->sig.data, st->sig.len))
            st->verified_by = cands[i];
    if (st->verified_by)
        return NULL;
    if (kid_unknown) {
        jwks_request_refetch(v->jwks);
        return "unknown key id";
    }
    if (n_cands)
        return "bad signature";
    return !st->kid && v->jwks ? "missing key id" : "algorithm does not match key";
}

enum kg_err jwtv_check(struct jwtv *v, const char *token, size_t token_len, int64_t now_s,
                       int cached_only, struct auth_principal *out, const char **reason)
{
    const char *local;
    if (!reason)
        reason = &local;
    *reason = NULL;
    memset(out, 0, sizeof *out);
    if (!v || !token || token_len == 0) {
        *reason = "malformed token";
        return KG_ERR_UNAUTHENTICATED;
    }
    if (token_len > v->max_token_len) {
        *reason = "token too large";
        return KG_ERR_UNAUTHENTICATED;
    }

    /* 0. Seen and accepted shortly before, byte for byte. */
    unsigned char digest[32];
    if (v->cache) {
        tokcache_digest(token, token_len, digest);
        if (tokcache_get(v->cache, digest, now_s, out))
            return KG_OK;
    }
    if (cached_only) {
        *reason = "not verified: too many failed authentications";
        return KG_ERR_RATE_LIMITED;
    }

    struct verify_state st = {.token = token, .token_len = token_len};
    kg_buf_init(&st.header_json, token_len);
    kg_buf_init(&st.payload_json, token_len);
    kg_buf_init(&st.sig, token_len);
    const char *why = split_token(&st);
    if (!why)
        why = read_header(&st);
    if (!why)
        why = check_signature(v, &st);
    /* 4. Claims, now that they are known to be the issuer's. */
    if (!why && claims_check(st.payload, &v->policy, now_s, out, &why) == KG_OK)
        why = NULL;
    if (!why) {
        out->alg = jwa_name(st.alg);
        out->key_id = st.verified_by->kid ? st.verified_by->kid : "";
        if (v->cache)
            tokcache_put(v->cache, digest, now_s, out);
    }
    *reason = why;
    auth_keyset_release(st.set);
    json_decref(st.header);
    json_decref(st.payload);
    kg_buf_free(&st.header_json);
    st.payload_json.flags |= KG_BUF_SECRET;
    kg_buf_free(&st.payload_json);
    kg_buf_free(&st.sig);
    return why ? KG_ERR_UNAUTHENTICATED : KG_OK;
}

enum kg_err jwtv_verify(struct jwtv *v, const char *token, size_t token_len, int64_t now_s,
                        struct auth_principal *out, const char **reason)
{
    return jwtv_check(v, token, token_len, now_s, 0, out, reason);
}
