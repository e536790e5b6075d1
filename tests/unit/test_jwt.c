/* auth/jwt: the verifier with a secret and PEM keys. Every refusal path has a
 * case that names it; tokens are signed here with OpenSSL (authtest.h),
 * independently of the verifier. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/jwt.h"
#include "authtest.h"
#include "core/log.h"
#include "testlib.h"

#define NOW 1700000000LL
#define ISS "https://issuer.example"
#define AUD "kvsgate"

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef-hs256";
#define SECRET_LEN (sizeof secret - 1)

static EVP_PKEY *rsa, *ec256, *ec384, *ec521, *ed25519;
static char *rsa_file, *ec256_file, *ec384_file, *ec521_file, *ed25519_file, *rsa_pem;

static void keys_once(void)
{
    if (rsa)
        return;
    rsa = at_rsa(2048);
    ec256 = at_ec("P-256");
    ec384 = at_ec("P-384");
    ec521 = at_ec("P-521");
    ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!ed25519)
        abort();
    rsa_file = at_pubkey_file(rsa);
    ec256_file = at_pubkey_file(ec256);
    ec384_file = at_pubkey_file(ec384);
    ec521_file = at_pubkey_file(ec521);
    ed25519_file = at_pubkey_file(ed25519);
    rsa_pem = at_pubkey_pem(rsa);
}

static struct jwtv *verifier_with(const unsigned char *sec, const char *const *files, size_t n,
                                  const char *iss, const char *aud, const char *claim)
{
    struct jwtv_options o = {0};
    o.hs256_secret = sec;
    o.hs256_secret_len = sec ? SECRET_LEN : 0;
    o.public_key_files = files;
    o.public_key_file_count = n;
    o.issuer = iss;
    o.audience = aud;
    o.leeway_s = 60;
    o.grants_claim = claim;
    struct jwtv *v = NULL;
    char why[256];
    enum kg_err err = jwtv_new(&o, &v, why, sizeof why);
    if (err != KG_OK)
        t_fail(__FILE__, __LINE__, "jwtv_new: %s", why);
    return v;
}

/* Secret + RSA + P-256 + P-384 + P-521 + Ed25519, issuer and audience enforced. */
static struct jwtv *verifier_all(void)
{
    keys_once();
    const char *files[] = {rsa_file, ec256_file, ec384_file, ec521_file, ed25519_file};
    return verifier_with(secret, files, 5, ISS, AUD, NULL);
}

/* The same keys, no issuer or audience. */
static struct jwtv *verifier_open(void)
{
    keys_once();
    const char *files[] = {rsa_file, ec256_file, ec384_file};
    return verifier_with(secret, files, 3, NULL, NULL, NULL);
}

static EVP_PKEY *key_for(const char *alg)
{
    if (strcmp(alg, "EdDSA") == 0)
        return ed25519;
    if (strncmp(alg, "ES512", 5) == 0)
        return ec521;
    if (strncmp(alg, "ES384", 5) == 0)
        return ec384;
    if (alg[0] == 'E')
        return ec256;
    return rsa;
}

static char *good_payload(void)
{
    char *p = kg_malloc(256);
    snprintf(p, 256,
             "{\"sub\":\"alice\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"iat\":%lld,\"exp\":%lld,"
             "\"kvs\":{\"viewer\":[\"cam-*\"],\"master\":[\"user-{sub}.*\"]}}",
             NOW, NOW + 3600);
    return p;
}

static char *sign_as(const char *alg, const char *payload)
{
    return at_token(alg, NULL, payload, key_for(alg), secret, SECRET_LEN);
}

/* Verifies tok and returns the reason ("ok" on success). */
static const char *verdict(struct jwtv *v, const char *tok, int64_t now)
{
    struct auth_principal p;
    const char *reason = "unset";
    enum kg_err err = jwtv_verify(v, tok, strlen(tok), now, &p, &reason);
    if (err == KG_OK) {
        auth_principal_cleanup(&p);
        return "ok";
    }
    if (err != KG_ERR_UNAUTHENTICATED)
        t_fail(__FILE__, __LINE__, "unexpected error %s", kg_err_name(err));
    /* A refused token leaves an empty principal. */
    if (p.sub || p.grants.counts[0] || p.grants.counts[1] || p.grants.counts[2])
        t_fail(__FILE__, __LINE__, "refused token left a principal behind");
    return reason ? reason : "NULL";
}

static void test_every_supported_algorithm_verifies_and_fills_the_principal(void)
{
    struct jwtv *v = verifier_all();
    const char *algs[] = {"HS256", "RS256", "RS384", "RS512", "PS256", "PS384",
                          "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    char *payload = good_payload();
    for (size_t i = 0; i < T_COUNT(algs); i++) {
        char *tok = sign_as(algs[i], payload);
        struct auth_principal p;
        const char *reason = NULL;
        T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW, &p, &reason), KG_OK);
        if (reason)
            t_fail(__FILE__, __LINE__, "%s: %s", algs[i], reason);
        T_STREQ(p.alg, algs[i]);
        T_STREQ(p.sub, "alice");
        T_STREQ(p.client_id, "alice");
        T_STREQ(p.key_id, "");
        T_INTEQ(p.expires_at_s, NOW + 3600);
        T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 1);
        T_INTEQ(p.grants.counts[AUTHZ_PERM_MASTER], 1);
        T_INTEQ(p.grants.counts[AUTHZ_PERM_MANAGE], 0);
        T_STREQ(p.grants.patterns[AUTHZ_PERM_MASTER][0], "user-alice.*");
        T_CHECK(authz_allows(&p, AUTHZ_PERM_VIEWER, "cam-7"));
        T_CHECK(!authz_allows(&p, AUTHZ_PERM_MANAGE, "cam-7"));
        auth_principal_cleanup(&p);
        free(tok);
    }
    free(payload);
    jwtv_free(v);
}

/* ---- refusals: shape ------------------------------------------------------------- */

static void test_malformed_shapes_are_refused_before_any_parsing(void)
{
    struct jwtv *v = verifier_all();
    char *payload = good_payload();
    char *good = sign_as("HS256", payload);
    T_STREQ(verdict(v, good, NOW), "ok");
    const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    char buf[4096];
    struct {
        const char *name;
        const char *tok;
    } cases[] = {
        {"empty", ""},
        {"one segment", "eyJhbGciOiJIUzI1NiJ9"},
        {"two segments", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0"},
        {"two dots only", ".."},
        {"empty header", ".eyJzdWIiOiJhIn0.c2ln"},
        {"empty payload", "eyJhbGciOiJIUzI1NiJ9..c2ln"},
        {"header not JSON", "bm90IGpzb24.eyJzdWIiOiJhIn0.c2ln"},
        {"header a JSON array", "WyJIUzI1NiJd.eyJzdWIiOiJhIn0.c2ln"},
        {"header a JSON string", "IkhTMjU2Ig.eyJzdWIiOiJhIn0.c2ln"},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++)
        if (strcmp(verdict(v, cases[i].tok, NOW), "malformed token") != 0)
            t_fail(__FILE__, __LINE__, "%s: got %s", cases[i].name, verdict(v, cases[i].tok, NOW));

    /* Four segments: a valid token with one more. */
    snprintf(buf, sizeof buf, "%s.c2ln", good);
    T_STREQ(verdict(v, buf, NOW), "malformed token");
    /* An empty signature segment (the alg=none shape). */
    snprintf(buf, sizeof buf, "%.*s.", (int)(dot2 - good), good);
    T_STREQ(verdict(v, buf, NOW), "malformed token");
    /* Characters outside base64url, and padding, anywhere. */
    const char *bad_chars[] = {"=", "+", "/", " ", "\n", "$", "!"};
    for (size_t i = 0; i < T_COUNT(bad_chars); i++) {
        snprintf(buf, sizeof buf, "%s%s", good, bad_chars[i]);
        T_STREQ(verdict(v, buf, NOW), "malformed token");
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(dot1 - good), good, bad_chars[i], dot1);
        T_STREQ(verdict(v, buf, NOW), "malformed token");
    }
    /* Junk inserted into the signature: libjwt's decoder skips it; ours refuses. */
    snprintf(buf, sizeof buf, "%.*s$$!!%s", (int)(dot2 + 5 - good), good, dot2 + 5);
    T_STREQ(verdict(v, buf, NOW), "malformed token");
    /* Non-canonical base64url: a length that leaves 6 bits, and non-zero trailing bits. */
    snprintf(buf, sizeof buf, "%sAA", good);
    T_STREQ(verdict(v, buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%s", good);
    size_t len = strlen(buf);
    /* The signature of HS256 is 32 bytes = 43 chars: the last char carries 2 zero bits. */
    buf[len - 1] = buf[len - 1] == 'B' ? 'C' : 'B';
    T_STREQ(verdict(v, buf, NOW), "malformed token");
    /* An embedded NUL ends nothing: the length is what counts. */
    struct auth_principal p;
    const char *reason = NULL;
    memcpy(buf, good, strlen(good) + 1);
    buf[3] = '\0';
    T_INTEQ(jwtv_verify(v, buf, strlen(good), NOW, &p, &reason), KG_ERR_UNAUTHENTICATED);
    T_STREQ(reason, "malformed token");
    free(good);
    free(payload);
    jwtv_free(v);
}

static void test_a_token_over_the_length_cap_is_refused_unread(void)
{
    struct jwtv *v = verifier_all();
    size_t n = JWTV_DEFAULT_MAX_TOKEN_LEN + 1;
    char *big = kg_malloc(16 * 1024 * 1024 + 1);
    memset(big, 'A', n);
    big[n] = '\0';
    T_STREQ(verdict(v, big, NOW), "token too large");
    /* libjwt crashes on a 16 MiB token (alloca); we never reach it. */
    memset(big, 'A', 16 * 1024 * 1024);
    big[16 * 1024 * 1024] = '\0';
    big[100] = '.';
    big[200] = '.';
    T_STREQ(verdict(v, big, NOW), "token too large");
    free(big);
    /* Exactly at the cap: read (and refused for other reasons). */
    char *payload = kg_malloc(8192);
    int k = snprintf(payload, 8192, "{\"sub\":\"alice\",\"exp\":%lld,\"kvs\":{},\"pad\":\"", NOW + 10);
    char *tok = NULL;
    for (int pad = 5000; pad < 6200; pad++) {
        memset(payload + k, 'x', (size_t)pad);
        memcpy(payload + k + pad, "\"}", 3);
        tok = sign_as("HS256", payload);
        if (strlen(tok) == JWTV_DEFAULT_MAX_TOKEN_LEN)
            break;
        free(tok);
        tok = NULL;
    }
    if (tok) {
        struct jwtv *v2 = verifier_with(secret, NULL, 0, NULL, NULL, NULL);
        T_STREQ(verdict(v2, tok, NOW), "ok");
        jwtv_free(v2);
        free(tok);
    } else {
        t_fail(__FILE__, __LINE__, "could not build a token of exactly the cap");
    }
    free(payload);
    jwtv_free(v);
}

static void test_nested_json_bombs_and_duplicate_keys_are_refused(void)
{
    struct jwtv *v = verifier_open();
    char payload[8192];
    /* A payload nested 5000 deep (jansson alone would go to 2048 levels). */
    int depths[] = {33, 1000, 2500};
    for (size_t i = 0; i < T_COUNT(depths); i++) {
        int k = snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"exp\":%lld,\"kvs\":{},\"x\":", NOW + 10);
        for (int d = 0; d < depths[i]; d++)
            payload[k++] = '[';
        for (int d = 0; d < depths[i]; d++)
            payload[k++] = ']';
        memcpy(payload + k, "}", 2);
        char *tok = sign_as("HS256", payload);
        if (strlen(tok) <= JWTV_DEFAULT_MAX_TOKEN_LEN)
            T_STREQ(verdict(v, tok, NOW), "malformed token");
        free(tok);
    }
    /* 31 levels inside the payload object (32 with it) is still fine. */
    int k = snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"exp\":%lld,\"kvs\":{},\"x\":", NOW + 10);
    for (int d = 0; d < 31; d++)
        payload[k++] = '[';
    for (int d = 0; d < 31; d++)
        payload[k++] = ']';
    memcpy(payload + k, "}", 2);
    char *tok = sign_as("RS256", payload);
    T_STREQ(verdict(v, tok, NOW), "ok");
    free(tok);
    /* Brackets inside strings do not count. */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"exp\":%lld,\"kvs\":{},\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}",
             NOW + 10);
    tok = sign_as("RS256", payload);
    T_STREQ(verdict(v, tok, NOW), "ok");
    free(tok);
    /* Duplicate keys: in the payload (the "sub":"admin","sub":"u1" trick)... */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"admin\",\"sub\":\"u1\",\"exp\":%lld,\"kvs\":{}}", NOW + 10);
    tok = sign_as("RS256", payload);
    T_STREQ(verdict(v, tok, NOW), "malformed token");
    free(tok);
    /* ... inside the grants claim ... */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"u1\",\"exp\":%lld,\"kvs\":{\"viewer\":[],\"viewer\":[\"*\"]}}", NOW + 10);
    tok = sign_as("RS256", payload);
    T_STREQ(verdict(v, tok, NOW), "malformed token");
    free(tok);
    /* ... and in the header ({"alg":"none","alg":"RS256"}). */
    snprintf(payload, sizeof payload, "{\"sub\":\"u1\",\"exp\":%lld,\"kvs\":{}}", NOW + 10);
    tok = at_token_sign("RS256", "{\"alg\":\"none\",\"alg\":\"RS256\"}", payload, rsa, NULL, 0);
    T_STREQ(verdict(v, tok, NOW), "malformed token");
    free(tok);
    /* A nested header. */
    tok = at_token_sign("RS256", "{\"alg\":\"RS256\",\"x\":[[[[[]]]]]}", payload, rsa, NULL, 0);
    T_STREQ(verdict(v, tok, NOW), "malformed token");
    free(tok);
    jwtv_free(v);
}

/* ---- refusals: algorithm and key ------------------------------------------------- */

static void test_algorithms_outside_the_exact_allow_list_are_refused(void)
{
    struct jwtv *v = verifier_all();
    char *payload = good_payload();
    struct {
        const char *header;
        const char *sign_with;
    } cases[] = {
        {"{\"alg\":\"none\"}", "HS256"},
        {"{\"alg\":\"None\"}", "HS256"},
        {"{\"alg\":\"NONE\",\"typ\":\"JWT\"}", "HS256"},
        {"{\"alg\":\"hs256\",\"typ\":\"JWT\"}", "HS256"},
        {"{\"alg\":\"Hs256\"}", "HS256"},
        {"{\"alg\":\"rs256\"}", "RS256"},
        {"{\"alg\":\"HS384\"}", "HS384"},
        {"{\"alg\":\"HS512\"}", "HS512"},
        {"{\"alg\":\"eddsa\"}", "HS256"},
        {"{\"alg\":\"ES256K\"}", "ES256"},
        {"{\"alg\":\"Ed25519\"}", "HS256"},
        {"{\"alg\":\"HS256 \"}", "HS256"},
        {"{\"alg\":\"\"}", "HS256"},
        {"{\"alg\":[\"HS256\"]}", "HS256"},
        {"{\"alg\":null}", "HS256"},
        {"{\"typ\":\"JWT\"}", "HS256"},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        char *tok = at_token_sign(cases[i].sign_with, cases[i].header, payload,
                                  key_for(cases[i].sign_with), secret, SECRET_LEN);
        const char *got = verdict(v, tok, NOW);
        if (strcmp(got, "unsupported algorithm") != 0)
            t_fail(__FILE__, __LINE__, "%s: got %s", cases[i].header, got);
        free(tok);
    }
    /* alg none with an empty signature never even parses (empty segment). */
    char *h = at_b64url("{\"alg\":\"none\"}", 14);
    char *p = at_b64url(payload, strlen(payload));
    char tok[4096];
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    T_STREQ(verdict(v, tok, NOW), "malformed token");
    snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p);
    T_STREQ(verdict(v, tok, NOW), "unsupported algorithm");
    free(h);
    free(p);
    free(payload);
    jwtv_free(v);
}

static void test_hs256_signed_with_the_rsa_public_key_pem_is_refused(void)
{
    /* The algorithm-confusion forgery: HMAC keyed with the public key PEM. */
    keys_once();
    char *payload = good_payload();
    char *forged = at_token("HS256", NULL, payload, NULL, (const unsigned char *)rsa_pem,
                            strlen(rsa_pem));
    const char *files[] = {rsa_file};
    struct jwtv *pem_only = verifier_with(NULL, files, 1, ISS, AUD, NULL);
    T_STREQ(verdict(pem_only, forged, NOW), "algorithm does not match key");
    /* With a secret configured too, the secret (not the PEM) is tried. */
    struct jwtv *both = verifier_with(secret, files, 1, ISS, AUD, NULL);
    T_STREQ(verdict(both, forged, NOW), "bad signature");
    /* HS512 and a PEM without its final newline fare no better. */
    char *forged512 = at_token_sign("HS512", "{\"alg\":\"HS512\"}", payload, NULL,
                                    (const unsigned char *)rsa_pem, strlen(rsa_pem));
    T_STREQ(verdict(both, forged512, NOW), "unsupported algorithm");
    char *forged_nonl = at_token("HS256", NULL, payload, NULL, (const unsigned char *)rsa_pem,
                                 strlen(rsa_pem) - 1);
    T_STREQ(verdict(both, forged_nonl, NOW), "bad signature");
    free(forged);
    free(forged512);
    free(forged_nonl);
    free(payload);
    jwtv_free(pem_only);
    jwtv_free(both);
}

static void test_the_key_decides_the_algorithm(void)
{
    keys_once();
    char *payload = good_payload();
    const char *rsa_only[] = {rsa_file}, *ec256_only[] = {ec256_file}, *ec384_only[] = {ec384_file};
    struct jwtv *hs = verifier_with(secret, NULL, 0, ISS, AUD, NULL);
    struct jwtv *r = verifier_with(NULL, rsa_only, 1, ISS, AUD, NULL);
    struct jwtv *e256 = verifier_with(NULL, ec256_only, 1, ISS, AUD, NULL);
    struct jwtv *e384 = verifier_with(NULL, ec384_only, 1, ISS, AUD, NULL);

    char *rs = sign_as("RS256", payload), *ps = sign_as("PS256", payload);
    char *es256 = sign_as("ES256", payload), *es384 = sign_as("ES384", payload);
    char *hs256 = sign_as("HS256", payload);
    /* ES256 in the header, signed with the P-384 key over SHA-256 (libjwt accepts). */
    char *es256_p384 = at_token("ES256", NULL, payload, ec384, NULL, 0);
    /* ES384 in the header over a P-256 key. */
    char *es384_p256 = at_token_sign("ES384", "{\"alg\":\"ES384\"}", payload, ec256, NULL, 0);

    T_STREQ(verdict(hs, rs, NOW), "algorithm does not match key");
    T_STREQ(verdict(hs, es256, NOW), "algorithm does not match key");
    T_STREQ(verdict(r, hs256, NOW), "algorithm does not match key");
    T_STREQ(verdict(r, es256, NOW), "algorithm does not match key");
    T_STREQ(verdict(r, rs, NOW), "ok");
    T_STREQ(verdict(r, ps, NOW), "ok");
    T_STREQ(verdict(e256, rs, NOW), "algorithm does not match key");
    T_STREQ(verdict(e256, es384, NOW), "algorithm does not match key");
    T_STREQ(verdict(e256, es256, NOW), "ok");
    T_STREQ(verdict(e384, es256_p384, NOW), "algorithm does not match key");
    T_STREQ(verdict(e256, es256_p384, NOW), "bad signature");
    T_STREQ(verdict(e256, es384_p256, NOW), "algorithm does not match key");
    T_STREQ(verdict(e384, es384, NOW), "ok");
    /* An RS256 signature presented as PS256 and the reverse. */
    char *rs_as_ps = at_token_sign("RS256", "{\"alg\":\"PS256\"}", payload, rsa, NULL, 0);
    char *ps_as_rs = at_token_sign("PS256", "{\"alg\":\"RS256\"}", payload, rsa, NULL, 0);
    T_STREQ(verdict(r, rs_as_ps, NOW), "bad signature");
    T_STREQ(verdict(r, ps_as_rs, NOW), "bad signature");
    /* PS256 with a salt longer than SHA-256's output (RFC 7518 §3.5: equal). */
    char *ps_salt64 = at_token_sign("PS256-salt64", "{\"alg\":\"PS256\"}", payload, rsa, NULL, 0);
    T_STREQ(verdict(r, ps_salt64, NOW), "bad signature");
    free(ps_salt64);
    /* A static key is used whatever kid the token names. */
    char *with_kid = at_token("RS256", "some-kid", payload, rsa, NULL, 0);
    T_STREQ(verdict(r, with_kid, NOW), "ok");

    free(rs_as_ps);
    free(ps_as_rs);
    free(with_kid);
    free(rs);
    free(ps);
    free(es256);
    free(es384);
    free(hs256);
    free(es256_p384);
    free(es384_p256);
    free(payload);
    jwtv_free(hs);
    jwtv_free(r);
    jwtv_free(e256);
    jwtv_free(e384);
}

static void test_tampered_tokens_and_wrong_signature_shapes_are_refused(void)
{
    struct jwtv *v = verifier_all();
    char *payload = good_payload();
    const char *algs[] = {"HS256", "RS256", "RS384", "RS512", "PS256", "PS384",
                          "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    char other[512];
    snprintf(other, sizeof other,
             "{\"sub\":\"mallory\",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld,"
             "\"kvs\":{\"viewer\":[\"*\"]}}",
             NOW + 3600);
    char *other_b64 = at_b64url(other, strlen(other));
    for (size_t i = 0; i < T_COUNT(algs); i++) {
        char *tok = sign_as(algs[i], payload);
        char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
        char buf[8192];
        /* Payload swapped, signature kept. */
        snprintf(buf, sizeof buf, "%.*s.%s%s", (int)(dot1 - tok), tok, other_b64, dot2);
        T_STREQ(verdict(v, buf, NOW), "bad signature");
        /* One signature byte flipped (a change in the first char keeps the encoding canonical). */
        snprintf(buf, sizeof buf, "%s", tok);
        size_t s = (size_t)(dot2 + 1 - tok);
        buf[s] = buf[s] == 'A' ? 'B' : 'A';
        T_STREQ(verdict(v, buf, NOW), "bad signature");
        /* The signature one byte shorter and one byte longer (canonically encoded). */
        struct kg_buf raw;
        kg_buf_init(&raw, 1024);
        T_INTEQ(kg_base64url_decode(&raw, dot2 + 1, strlen(dot2 + 1)), KG_OK);
        size_t sig_n = raw.len;
        T_INTEQ(kg_buf_append_char(&raw, 0), KG_OK);
        for (int delta = -1; delta <= 1; delta += 2) {
            char *s64 = at_b64url(raw.data, (size_t)((long)sig_n + delta));
            snprintf(buf, sizeof buf, "%.*s.%s", (int)(dot2 - tok), tok, s64);
            T_STREQ(verdict(v, buf, NOW), "bad signature");
            free(s64);
        }
        kg_buf_free(&raw);
        free(tok);
    }
    /* An ECDSA signature in DER (as OpenSSL emits it) instead of raw r||s. */
    char h_p[4096];
    char *h = at_b64url("{\"alg\":\"ES256\"}", 15);
    char *p = at_b64url(payload, strlen(payload));
    snprintf(h_p, sizeof h_p, "%s.%s", h, p);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t der_len = sizeof der;
    T_CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, ec256) == 1);
    T_CHECK(EVP_DigestSign(ctx, der, &der_len, (unsigned char *)h_p, strlen(h_p)) == 1);
    EVP_MD_CTX_free(ctx);
    char *der_b64 = at_b64url(der, der_len);
    char tok[8192];
    snprintf(tok, sizeof tok, "%s.%s", h_p, der_b64);
    T_STREQ(verdict(v, tok, NOW), "bad signature");
    /* r||s of zeros. */
    unsigned char zeros[64] = {0};
    char *z = at_b64url(zeros, sizeof zeros);
    snprintf(tok, sizeof tok, "%s.%s", h_p, z);
    T_STREQ(verdict(v, tok, NOW), "bad signature");
    free(z);
    free(der_b64);
    free(h);
    free(p);
    free(other_b64);
    free(payload);
    jwtv_free(v);
}

static void test_header_typ_and_crit(void)
{
    struct jwtv *v = verifier_all();
    char *payload = good_payload();
    struct {
        const char *alg, *header, *want;
    } cases[] = {
        {"RS256", "{\"alg\":\"RS256\"}", "ok"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "ok"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":\"jwt\"}", "ok"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":\"application/jwt\"}", "ok"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", "ok"},
        {"ES256", "{\"alg\":\"ES256\",\"typ\":\"application/at+jwt\"}", "ok"},
        {"HS256", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "ok"},
        {"HS256", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", "unsupported token type"},
        {"HS256", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "ok"},
        {"HS256", "{\"alg\":\"HS256\",\"typ\":\"application/jwt\"}", "unsupported token type"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":\"JOSE\"}", "unsupported token type"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":\"dpop+jwt\"}", "unsupported token type"},
        {"RS256", "{\"alg\":\"RS256\",\"typ\":1}", "unsupported token type"},
        {"RS256", "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", "unsupported critical header"},
        {"RS256", "{\"alg\":\"RS256\",\"b64\":false,\"crit\":[\"b64\"]}", "unsupported critical header"},
        {"RS256", "{\"alg\":\"RS256\",\"kid\":7}", "malformed token"},
        {"RS256", "{\"alg\":\"RS256\",\"kid\":\"\"}", "malformed token"},
        /* Embedded keys and key URLs are never used. */
        {"RS256", "{\"alg\":\"RS256\",\"jku\":\"https://evil.example/jwks\"}", "ok"},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        char *tok = at_token_sign(cases[i].alg, cases[i].header, payload, key_for(cases[i].alg),
                                  secret, SECRET_LEN);
        const char *got = verdict(v, tok, NOW);
        if (strcmp(got, cases[i].want) != 0)
            t_fail(__FILE__, __LINE__, "%s: got %s, want %s", cases[i].header, got, cases[i].want);
        free(tok);
    }
    /* A 257-byte kid is refused. */
    char header[512];
    char kid[258];
    memset(kid, 'k', 257);
    kid[257] = '\0';
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    char *tok = at_token_sign("RS256", header, payload, rsa, NULL, 0);
    T_STREQ(verdict(v, tok, NOW), "malformed token");
    free(tok);
    free(payload);
    jwtv_free(v);
}

/* ---- refusals: claims ---------------------------------------------------------------- */

struct claim_case {
    const char *name;
    const char *payload_fmt; /* %lld receives NOW where it appears (up to 3 times) */
    const char *want;
};

/* Copies fmt with every "%lld" replaced by NOW (a format that is not a literal
 * would defeat -Wformat). */
static void fill_now(char *out, size_t cap, const char *fmt)
{
    struct kg_buf b;
    kg_buf_init_fixed(&b, out, cap);
    for (const char *p = fmt; *p;) {
        if (strncmp(p, "%lld", 4) == 0) {
            T_INTEQ(kg_buf_appendf(&b, "%lld", NOW), KG_OK);
            p += 4;
        } else {
            T_INTEQ(kg_buf_append_char(&b, *p++), KG_OK);
        }
    }
}

static void run_claim_cases(struct jwtv *v, const struct claim_case *cases, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        char payload[2048];
        fill_now(payload, sizeof payload, cases[i].payload_fmt);
        char *tok = sign_as("RS256", payload);
        const char *got = verdict(v, tok, now);
        if (strcmp(got, cases[i].want) != 0)
            t_fail(__FILE__, __LINE__, "%s: got \"%s\", want \"%s\"", cases[i].name, got,
                   cases[i].want);
        free(tok);
    }
}

#define GOOD_REST "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\",\"kvs\":{}"

static void test_exp_nbf_iat_are_checked_with_leeway_and_must_be_integers(void)
{
    struct jwtv *v = verifier_all();
    static const struct claim_case cases[] = {
        {"valid", "{" GOOD_REST ",\"exp\":%lld}", "ok"}, /* exp == now: within leeway */
        {"exp missing", "{" GOOD_REST "}", "missing exp"},
        {"exp null", "{" GOOD_REST ",\"exp\":null}", "bad claim type"},
        {"exp real", "{" GOOD_REST ",\"exp\":%lld.5}", "bad claim type"},
        {"exp 1e10 real", "{" GOOD_REST ",\"exp\":1e10}", "bad claim type"},
        {"exp string", "{" GOOD_REST ",\"exp\":\"%lld\"}", "bad claim type"},
        {"exp bool", "{" GOOD_REST ",\"exp\":true}", "bad claim type"},
        {"exp array", "{" GOOD_REST ",\"exp\":[%lld]}", "bad claim type"},
        {"exp far past", "{" GOOD_REST ",\"exp\":0}", "token expired"},
        {"exp negative", "{" GOOD_REST ",\"exp\":-9223372036854775807}", "token expired"},
        {"exp int64 max", "{" GOOD_REST ",\"exp\":9223372036854775807}", "ok"},
        {"exp too big for int64", "{" GOOD_REST ",\"exp\":9223372036854775808}", "malformed token"},
        {"nbf string", "{" GOOD_REST ",\"exp\":%lld,\"nbf\":\"0\"}", "bad claim type"},
        {"nbf real", "{" GOOD_REST ",\"exp\":%lld,\"nbf\":1.0}", "bad claim type"},
        {"nbf int64 max", "{" GOOD_REST ",\"exp\":%lld,\"nbf\":9223372036854775807}", "token not yet valid"},
        {"nbf int64 min", "{" GOOD_REST ",\"exp\":%lld,\"nbf\":-9223372036854775807}", "ok"},
        {"iat real", "{" GOOD_REST ",\"exp\":%lld,\"iat\":1.5}", "bad claim type"},
        {"iat string", "{" GOOD_REST ",\"exp\":%lld,\"iat\":\"x\"}", "bad claim type"},
    };
    run_claim_cases(v, cases, T_COUNT(cases), NOW);
    jwtv_free(v);
}

static void test_leeway_edges_are_exact(void)
{
    struct jwtv *v = verifier_all();
    /* leeway 60: exp E is accepted while now < E + 60. */
    char payload[512];
    snprintf(payload, sizeof payload, "{" GOOD_REST ",\"exp\":%lld}", NOW);
    char *tok = sign_as("ES256", payload);
    T_STREQ(verdict(v, tok, NOW - 1000), "ok");
    T_STREQ(verdict(v, tok, NOW + 59), "ok");
    T_STREQ(verdict(v, tok, NOW + 60), "token expired");
    T_STREQ(verdict(v, tok, NOW + 61), "token expired");
    free(tok);
    /* nbf N is accepted once now >= N - 60. */
    snprintf(payload, sizeof payload, "{" GOOD_REST ",\"exp\":%lld,\"nbf\":%lld}", NOW + 9999, NOW);
    tok = sign_as("ES256", payload);
    T_STREQ(verdict(v, tok, NOW - 61), "token not yet valid");
    T_STREQ(verdict(v, tok, NOW - 60), "ok");
    T_STREQ(verdict(v, tok, NOW), "ok");
    free(tok);
    /* iat I is refused when I > now + 60. */
    snprintf(payload, sizeof payload, "{" GOOD_REST ",\"exp\":%lld,\"iat\":%lld}", NOW + 9999, NOW);
    tok = sign_as("ES256", payload);
    T_STREQ(verdict(v, tok, NOW - 61), "token issued in the future");
    T_STREQ(verdict(v, tok, NOW - 60), "ok");
    free(tok);
    jwtv_free(v);

    /* leeway 0. */
    keys_once();
    struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = SECRET_LEN, .leeway_s = 0};
    struct jwtv *strict = NULL;
    T_INTEQ(jwtv_new(&o, &strict, NULL, 0), KG_OK);
    snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"kvs\":{},\"exp\":%lld,\"nbf\":%lld}", NOW,
             NOW - 10);
    tok = sign_as("HS256", payload);
    T_STREQ(verdict(strict, tok, NOW - 1), "ok");
    T_STREQ(verdict(strict, tok, NOW), "token expired");
    T_STREQ(verdict(strict, tok, NOW - 11), "token not yet valid");
    free(tok);
    jwtv_free(strict);
}

static void test_issuer_and_audience_are_enforced_when_configured(void)
{
    struct jwtv *v = verifier_all();
#define REST_NO_ISS_AUD "\"sub\":\"alice\",\"kvs\":{},\"exp\":%lld"
    static const struct claim_case cases[] = {
        {"iss missing", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\"}", "wrong issuer"},
        {"iss other", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\",\"iss\":\"https://evil.example\"}", "wrong issuer"},
        {"iss prefix", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\",\"iss\":\"https://issuer.exampl\"}", "wrong issuer"},
        {"iss longer", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\",\"iss\":\"https://issuer.example/\"}", "wrong issuer"},
        {"iss case", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\",\"iss\":\"HTTPS://issuer.example\"}", "wrong issuer"},
        {"iss array", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\",\"iss\":[\"" ISS "\"]}", "bad claim type"},
        {"iss number", "{" REST_NO_ISS_AUD ",\"aud\":\"" AUD "\",\"iss\":1}", "bad claim type"},
        {"aud missing", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\"}", "wrong audience"},
        {"aud other", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":\"other\"}", "wrong audience"},
        {"aud array ok", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":[\"x\",\"" AUD "\"]}", "ok"},
        {"aud array without ours", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":[\"x\",\"y\"]}", "wrong audience"},
        {"aud empty array", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":[]}", "wrong audience"},
        {"aud array with a number", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\",1]}", "bad claim type"},
        {"aud number", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":1}", "bad claim type"},
        {"aud object", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":{\"" AUD "\":1}}", "bad claim type"},
        {"aud substring", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":\"kvsgate2\"}", "wrong audience"},
        {"both right", "{" REST_NO_ISS_AUD ",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", "ok"},
    };
    run_claim_cases(v, cases, T_COUNT(cases), NOW);
    jwtv_free(v);

    /* Not configured: not required, but still type-checked. */
    keys_once();
    struct jwtv *open = verifier_with(secret, NULL, 0, NULL, NULL, NULL);
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"kvs\":{},\"exp\":%lld}", NOW + 5);
    char *tok = sign_as("HS256", payload);
    T_STREQ(verdict(open, tok, NOW), "ok");
    free(tok);
    snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"kvs\":{},\"exp\":%lld,\"aud\":7}", NOW + 5);
    tok = sign_as("HS256", payload);
    T_STREQ(verdict(open, tok, NOW), "bad claim type");
    free(tok);
    snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"kvs\":{},\"exp\":%lld,\"iss\":false}", NOW + 5);
    tok = sign_as("HS256", payload);
    T_STREQ(verdict(open, tok, NOW), "bad claim type");
    free(tok);
    jwtv_free(open);
}

static void test_sub_and_grants_claim_types(void)
{
    struct jwtv *v = verifier_all();
#define IA "\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld"
    static const struct claim_case cases[] = {
        {"sub missing", "{" IA ",\"kvs\":{}}", "missing sub"},
        {"sub number", "{" IA ",\"sub\":1,\"kvs\":{}}", "bad claim type"},
        {"sub empty", "{" IA ",\"sub\":\"\",\"kvs\":{}}", "bad subject"},
        {"no grants at all", "{" IA ",\"sub\":\"a\"}", "no grants claim"},
        {"grants a string", "{" IA ",\"sub\":\"a\",\"kvs\":\"{\\\"viewer\\\":[\\\"*\\\"]}\"}", "bad claim type"},
        {"grants an array", "{" IA ",\"sub\":\"a\",\"kvs\":[\"viewer\"]}", "bad claim type"},
        {"viewer a string", "{" IA ",\"sub\":\"a\",\"kvs\":{\"viewer\":\"*\"}}", "bad claim type"},
        {"viewer with a number", "{" IA ",\"sub\":\"a\",\"kvs\":{\"viewer\":[\"a\",1]}}", "bad claim type"},
        {"viewer with null", "{" IA ",\"sub\":\"a\",\"kvs\":{\"viewer\":[null]}}", "bad claim type"},
        {"anyClientId a string", "{" IA ",\"sub\":\"a\",\"kvs\":{\"anyClientId\":\"true\"}}", "bad claim type"},
        {"anyClientId a number", "{" IA ",\"sub\":\"a\",\"kvs\":{\"anyClientId\":1}}", "bad claim type"},
        {"unknown grant members ignored", "{" IA ",\"sub\":\"a\",\"kvs\":{\"future\":[1]}}", "ok"},
        {"empty grants object", "{" IA ",\"sub\":\"a\",\"kvs\":{}}", "ok"},
        {"scope a number", "{" IA ",\"sub\":\"a\",\"scope\":1}", "bad claim type"},
        {"scp an object", "{" IA ",\"sub\":\"a\",\"scp\":{}}", "bad claim type"},
        {"scp with a number", "{" IA ",\"sub\":\"a\",\"scp\":[\"kvs:viewer:a\",2]}", "bad claim type"},
        {"scope without kvs entries", "{" IA ",\"sub\":\"a\",\"scope\":\"openid profile\"}", "no grants claim"},
        {"scope with a kvs entry", "{" IA ",\"sub\":\"a\",\"scope\":\"openid kvs:viewer:cam-1\"}", "ok"},
    };
    run_claim_cases(v, cases, T_COUNT(cases), NOW);
    jwtv_free(v);
}

/* ---- grants ------------------------------------------------------------------------- */

static struct auth_principal verify_ok(struct jwtv *v, const char *payload)
{
    char *tok = sign_as("HS256", payload);
    struct auth_principal p;
    const char *reason = NULL;
    if (jwtv_verify(v, tok, strlen(tok), NOW, &p, &reason) != KG_OK)
        t_fail(__FILE__, __LINE__, "refused: %s (%s)", reason, payload);
    free(tok);
    return p;
}

static void test_grants_from_the_claim_scope_and_scp(void)
{
    keys_once();
    struct jwtv *v = verifier_with(secret, NULL, 0, NULL, NULL, NULL);
    char payload[2048];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"bob@example.com\",\"exp\":%lld,"
             "\"kvs\":{\"master\":[\"cam-1\",\"home-{sub}.*\"],\"viewer\":[\"lobby\"],"
             "\"manage\":[\"{sub}\"],\"anyClientId\":true},"
             "\"scope\":\"openid kvs:viewer:cam-* kvs:manage:x-{sub}.* kvs:admin:all other:kvs:viewer:z\","
             "\"scp\":[\"kvs:master:studio\",\"email\"]}",
             NOW + 100);
    struct auth_principal p = verify_ok(v, payload);
    char id[AUTH_CLIENT_ID_MAX + 1];
    auth_derive_client_id("bob@example.com", id);
    T_STREQ(p.client_id, id);
    T_CHECK(p.client_id[0] == '_');
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MASTER], 3);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MASTER][0], "cam-1");
    char want[300];
    snprintf(want, sizeof want, "home-%s.*", id);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MASTER][1], want);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MASTER][2], "studio");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 2);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_VIEWER][1], "cam-*");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MANAGE], 2);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MANAGE][0], id);
    snprintf(want, sizeof want, "x-%s.*", id);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MANAGE][1], want);
    T_CHECK(p.grants.any_client_id);
    T_CHECK(!p.grants.manage_any); /* "kvs:admin:all" is not kvs:admin */
    T_CHECK(authz_allows(&p, AUTHZ_PERM_VIEWER, "cam-9"));
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_VIEWER, "z"));
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_MASTER, "cam-2"));

    /* A principal copy is deep and outlives the original. */
    struct auth_principal copy;
    auth_principal_copy(&copy, &p);
    auth_principal_cleanup(&p);
    T_STREQ(copy.sub, "bob@example.com");
    snprintf(want, sizeof want, "home-%s.*", id);
    T_STREQ(copy.grants.patterns[AUTHZ_PERM_MASTER][1], want);
    T_STREQ(copy.alg, "HS256");
    auth_principal_cleanup(&copy);
    auth_principal_cleanup(&copy); /* idempotent */

    /* scp as a space-separated string (Microsoft Entra). */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"exp\":%lld,\"scp\":\"kvs:viewer:one  kvs:viewer:two\"}", NOW + 100);
    p = verify_ok(v, payload);
    T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 2);
    T_CHECK(!p.grants.any_client_id);
    auth_principal_cleanup(&p);
    jwtv_free(v);
}

static void test_invalid_patterns_are_dropped_and_never_widen(void)
{
    keys_once();
    struct jwtv *v = verifier_with(secret, NULL, 0, NULL, NULL, NULL);
    char payload[4096];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"alice\",\"exp\":%lld,\"kvs\":{\"viewer\":[\"ok-1\",\"\",\"a*b\",\"**\","
             "\"a b\",\"cam/1\",\"{user}\",\"{sub\",\"\\u00e9t\\u00e9\",\"x*\"]},"
             "\"scope\":\"kvs:viewer: kvs:viewer:a*b kvs:viewer kvs:viewer:ok-2\"}",
             NOW + 100);
    struct auth_principal p = verify_ok(v, payload);
    T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 3);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_VIEWER][0], "ok-1");
    T_STREQ(p.grants.patterns[AUTHZ_PERM_VIEWER][1], "x*");
    T_STREQ(p.grants.patterns[AUTHZ_PERM_VIEWER][2], "ok-2");
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_VIEWER, "a"));
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_VIEWER, "ab"));
    auth_principal_cleanup(&p);

    /* A 257-byte name is dropped, a 256-byte one kept. */
    char name[300];
    memset(name, 'n', 257);
    name[257] = '\0';
    snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"exp\":%lld,\"kvs\":{\"viewer\":[\"%s\",\"%.256s\"]}}",
             NOW + 100, name, name);
    p = verify_ok(v, payload);
    T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 1);
    T_INTEQ(strlen(p.grants.patterns[AUTHZ_PERM_VIEWER][0]), 256);
    auth_principal_cleanup(&p);
    jwtv_free(v);
}

static void test_more_than_64_patterns_per_permission_refuses_the_token(void)
{
    keys_once();
    struct jwtv *v = verifier_with(secret, NULL, 0, NULL, NULL, NULL);
    for (int n = 64; n <= 65; n++) {
        struct kg_buf b;
        kg_buf_init(&b, 8192);
        T_INTEQ(kg_buf_appendf(&b, "{\"sub\":\"a\",\"exp\":%lld,\"kvs\":{\"viewer\":[", NOW + 100), KG_OK);
        for (int i = 0; i < n; i++)
            T_INTEQ(kg_buf_appendf(&b, "%s\"c%d\"", i ? "," : "", i), KG_OK);
        T_INTEQ(kg_buf_append_str(&b, "]}}"), KG_OK);
        char *tok = sign_as("HS256", b.data);
        T_STREQ(verdict(v, tok, NOW), n == 64 ? "ok" : "too many grants");
        free(tok);
        kg_buf_free(&b);
    }
    /* The cap counts claim and scopes together. */
    struct kg_buf b;
    kg_buf_init(&b, 8192);
    T_INTEQ(kg_buf_appendf(&b, "{\"sub\":\"a\",\"exp\":%lld,\"kvs\":{\"viewer\":[", NOW + 100), KG_OK);
    for (int i = 0; i < 64; i++)
        T_INTEQ(kg_buf_appendf(&b, "%s\"c%d\"", i ? "," : "", i), KG_OK);
    T_INTEQ(kg_buf_append_str(&b, "]},\"scope\":\"kvs:viewer:one-more\"}"), KG_OK);
    char *tok = sign_as("HS256", b.data);
    T_STREQ(verdict(v, tok, NOW), "too many grants");
    free(tok);
    kg_buf_free(&b);
    jwtv_free(v);
}

static void test_a_namespaced_grants_claim_is_read_by_its_full_name(void)
{
    keys_once();
    struct jwtv *v = verifier_with(secret, NULL, 0, NULL, NULL, "https://example.com/kvs");
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"exp\":%lld,\"https://example.com/kvs\":{\"manage\":[\"m-*\"]},"
             "\"kvs\":{\"manage\":[\"*\"]}}",
             NOW + 100);
    struct auth_principal p = verify_ok(v, payload);
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MANAGE], 1);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MANAGE][0], "m-*");
    auth_principal_cleanup(&p);
    /* The default name is then just another claim. */
    snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"exp\":%lld,\"kvs\":{\"manage\":[\"*\"]}}", NOW + 100);
    char *tok = sign_as("HS256", payload);
    T_STREQ(verdict(v, tok, NOW), "no grants claim");
    free(tok);
    jwtv_free(v);
}

/* ---- configuration ------------------------------------------------------------------ */

static void expect_config_error(const struct jwtv_options *o, const char *want_substring)
{
    struct jwtv *v = NULL;
    char why[512] = "";
    T_INTEQ(jwtv_new(o, &v, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(v == NULL);
    if (!strstr(why, want_substring))
        t_fail(__FILE__, __LINE__, "why \"%s\" lacks \"%s\"", why, want_substring);
    if (strchr(why, '\n'))
        t_fail(__FILE__, __LINE__, "why is not one line: %s", why);
}

static void test_configuration_errors_name_the_setting_and_pem_kinds_load(void)
{
    keys_once();
    struct jwtv_options o = {0};
    expect_config_error(&o, "no JWT key");
    o.hs256_secret = secret;
    o.hs256_secret_len = 31;
    expect_config_error(&o, "KVSGATE_JWT_HS256_SECRET: must be at least 32 bytes");
    o.hs256_secret_len = 0;
    expect_config_error(&o, "KVSGATE_JWT_HS256_SECRET");
    o.hs256_secret_len = SECRET_LEN;
    o.leeway_s = -1;
    expect_config_error(&o, "KVSGATE_JWT_LEEWAY_S");
    o.leeway_s = 301;
    expect_config_error(&o, "KVSGATE_JWT_LEEWAY_S");
    o.leeway_s = 60;
    o.issuer = "";
    expect_config_error(&o, "KVSGATE_JWT_ISSUER");
    o.issuer = NULL;
    o.audience = "";
    expect_config_error(&o, "KVSGATE_JWT_AUDIENCE");
    o.audience = NULL;
    o.grants_claim = "";
    expect_config_error(&o, "KVSGATE_JWT_GRANTS_CLAIM");
    o.grants_claim = NULL;
    o.jwks_url = "http://idp.example/jwks.json";
    expect_config_error(&o, "KVSGATE_JWKS_URL: must be an https:// URL");
    o.jwks_url = "http://localhost.evil.example/jwks.json";
    expect_config_error(&o, "KVSGATE_JWKS_URL");
    o.jwks_url = "https://idp.example/jwks.json";
    expect_config_error(&o, "KVSGATE_JWKS_URL: no HTTP client");
    o.jwks_url = NULL;

    /* PEM files: each refusal names the variable and the file. */
    EVP_PKEY *small = at_rsa(1024), *p521 = at_ec("secp256k1"); /* a curve we do not take */
    char *small_file = at_pubkey_file(small), *p521_file = at_pubkey_file(p521);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, ec256, NULL, NULL, 0, NULL, NULL);
    char *priv_text;
    long priv_len = BIO_get_mem_data(bio, &priv_text);
    char *priv_copy = kg_strndup(priv_text, (size_t)priv_len);
    char *priv_file = at_temp_file(priv_copy);
    char *garbage_file = at_temp_file("not a pem file at all\n");
    char *empty_file = at_temp_file("");
    char *bad_b64_file = at_temp_file("-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n");
    struct {
        const char *file, *want;
    } cases[] = {
        {small_file, "RSA key shorter than 2048 bits"},
        {p521_file, "EC curve other than P-256, P-384 or P-521"},
        {priv_file, "private key"},
        {garbage_file, "no PEM public key found"},
        {empty_file, "no PEM public key found"},
        {bad_b64_file, "malformed PEM"},
        {"/nonexistent/key.pem", "No such file"},
    };
    o.hs256_secret = NULL;
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        const char *files[] = {cases[i].file};
        o.public_key_files = files;
        o.public_key_file_count = 1;
        char want[512];
        snprintf(want, sizeof want, "KVSGATE_JWT_PUBLIC_KEY_FILE: %s: ", cases[i].file);
        expect_config_error(&o, want);
        expect_config_error(&o, cases[i].want);
    }
    /* Several keys in one file, and a certificate, load. */
    char *pem_a = at_pubkey_pem(rsa), *pem_b = at_pubkey_pem(ec384);
    char both[8192];
    snprintf(both, sizeof both, "%s%s", pem_a, pem_b);
    char *both_file = at_temp_file(both);
    const char *files[] = {both_file};
    o.public_key_files = files;
    o.public_key_file_count = 1;
    struct jwtv *v = NULL;
    T_INTEQ(jwtv_new(&o, &v, NULL, 0), KG_OK);
    struct jwtv_stats st;
    jwtv_get_stats(v, &st);
    T_INTEQ(st.keys_loaded, 2);
    T_CHECK(jwtv_ready(v));
    char *payload = good_payload();
    char *tok = sign_as("ES384", payload);
    struct auth_principal p;
    const char *reason;
    T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW, &p, &reason), KG_OK);
    auth_principal_cleanup(&p);
    free(tok);
    jwtv_free(v);

    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, rsa);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    T_CHECK(X509_sign(cert, rsa, EVP_sha256()) > 0);
    BIO *cb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, cert);
    char *cert_text;
    long cert_len = BIO_get_mem_data(cb, &cert_text);
    char *cert_copy = kg_strndup(cert_text, (size_t)cert_len);
    char *cert_file = at_temp_file(cert_copy);
    files[0] = cert_file;
    T_INTEQ(jwtv_new(&o, &v, NULL, 0), KG_OK);
    tok = sign_as("RS256", payload);
    T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW, &p, &reason), KG_OK);
    auth_principal_cleanup(&p);
    free(tok);
    jwtv_free(v);

    /* PKCS#1 "RSA PUBLIC KEY" (openssl rsa -RSAPublicKey_out). */
    unsigned char *der = NULL;
    int der_len = i2d_PublicKey(rsa, &der);
    BIO *pb = BIO_new(BIO_s_mem());
    T_CHECK(PEM_write_bio(pb, "RSA PUBLIC KEY", "", der, der_len) > 0);
    char *pkcs1_text;
    long pkcs1_len = BIO_get_mem_data(pb, &pkcs1_text);
    char *pkcs1_copy = kg_strndup(pkcs1_text, (size_t)pkcs1_len);
    char *pkcs1_file = at_temp_file(pkcs1_copy);
    files[0] = pkcs1_file;
    T_INTEQ(jwtv_new(&o, &v, NULL, 0), KG_OK);
    tok = sign_as("PS256", payload);
    T_INTEQ(jwtv_verify(v, tok, strlen(tok), NOW, &p, &reason), KG_OK);
    auth_principal_cleanup(&p);
    free(tok);
    jwtv_free(v);
    free(pkcs1_copy);
    BIO_free(pb);
    OPENSSL_free(der);

    char *to_unlink[] = {small_file, p521_file, priv_file, garbage_file, empty_file,
                         bad_b64_file, both_file, cert_file, pkcs1_file};
    for (size_t i = 0; i < T_COUNT(to_unlink); i++) {
        unlink(to_unlink[i]);
        free(to_unlink[i]);
    }
    free(payload);
    free(cert_copy);
    BIO_free(cb);
    X509_free(cert);
    free(pem_a);
    free(pem_b);
    free(priv_copy);
    BIO_free(bio);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p521);
}

/* ---- threads ------------------------------------------------------------------------ */

struct thread_arg {
    struct jwtv *v;
    char *good[7];
    char *bad[3];
    int failures;
};

static void *verify_loop(void *p)
{
    struct thread_arg *a = p;
    for (int round = 0; round < 150; round++) {
        for (int i = 0; i < 7; i++) {
            struct auth_principal pr;
            const char *reason;
            if (jwtv_verify(a->v, a->good[i], strlen(a->good[i]), NOW, &pr, &reason) != KG_OK ||
                strcmp(pr.sub, "alice") != 0)
                __atomic_add_fetch(&a->failures, 1, __ATOMIC_RELAXED);
            auth_principal_cleanup(&pr);
        }
        for (int i = 0; i < 3; i++) {
            struct auth_principal pr;
            const char *reason;
            if (jwtv_verify(a->v, a->bad[i], strlen(a->bad[i]), NOW, &pr, &reason) == KG_OK)
                __atomic_add_fetch(&a->failures, 1, __ATOMIC_RELAXED);
            auth_principal_cleanup(&pr);
        }
    }
    return NULL;
}

static void test_threads_verify_concurrently_with_shared_keys(void)
{
    struct thread_arg a = {.v = verifier_all()};
    const char *algs[] = {"HS256", "RS256", "RS384", "RS512", "PS256", "PS384",
                          "PS512", "ES256", "ES384", "ES512", "EdDSA"};
    char *payload = good_payload();
    for (int i = 0; i < 7; i++)
        a.good[i] = sign_as(algs[i], payload);
    a.bad[0] = at_token("HS256", NULL, payload, NULL, (const unsigned char *)rsa_pem, strlen(rsa_pem));
    a.bad[1] = kg_strdup(a.good[1]);
    a.bad[1][strlen(a.bad[1]) - 10] ^= 1;
    a.bad[2] = at_token("ES256", NULL, payload, ec384, NULL, 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, verify_loop, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    T_INTEQ(a.failures, 0);
    for (int i = 0; i < 7; i++)
        free(a.good[i]);
    for (int i = 0; i < 3; i++)
        free(a.bad[i]);
    free(payload);
    jwtv_free(a.v);
}

static void test_null_and_empty_inputs_are_refused_without_crashing(void)
{
    struct jwtv *v = verifier_all();
    struct auth_principal p;
    const char *reason = NULL;
    T_INTEQ(jwtv_verify(v, NULL, 0, NOW, &p, &reason), KG_ERR_UNAUTHENTICATED);
    T_STREQ(reason, "malformed token");
    T_INTEQ(jwtv_verify(v, "", 0, NOW, &p, &reason), KG_ERR_UNAUTHENTICATED);
    T_INTEQ(jwtv_verify(NULL, "a.b.c", 5, NOW, &p, &reason), KG_ERR_UNAUTHENTICATED);
    jwtv_free(v);
    jwtv_free(NULL);
}

static void cleanup_keys(void)
{
    unlink(rsa_file);
    unlink(ec256_file);
    unlink(ec384_file);
    free(rsa_file);
    free(ec256_file);
    free(ec384_file);
    free(rsa_pem);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
}

static const struct t_case cases[] = {
    T_CASE(test_every_supported_algorithm_verifies_and_fills_the_principal),
    T_CASE(test_malformed_shapes_are_refused_before_any_parsing),
    T_CASE(test_a_token_over_the_length_cap_is_refused_unread),
    T_CASE(test_nested_json_bombs_and_duplicate_keys_are_refused),
    T_CASE(test_algorithms_outside_the_exact_allow_list_are_refused),
    T_CASE(test_hs256_signed_with_the_rsa_public_key_pem_is_refused),
    T_CASE(test_the_key_decides_the_algorithm),
    T_CASE(test_tampered_tokens_and_wrong_signature_shapes_are_refused),
    T_CASE(test_header_typ_and_crit),
    T_CASE(test_exp_nbf_iat_are_checked_with_leeway_and_must_be_integers),
    T_CASE(test_leeway_edges_are_exact),
    T_CASE(test_issuer_and_audience_are_enforced_when_configured),
    T_CASE(test_sub_and_grants_claim_types),
    T_CASE(test_grants_from_the_claim_scope_and_scp),
    T_CASE(test_invalid_patterns_are_dropped_and_never_widen),
    T_CASE(test_more_than_64_patterns_per_permission_refuses_the_token),
    T_CASE(test_a_namespaced_grants_claim_is_read_by_its_full_name),
    T_CASE(test_configuration_errors_name_the_setting_and_pem_kinds_load),
    T_CASE(test_threads_verify_concurrently_with_shared_keys),
    T_CASE(test_null_and_empty_inputs_are_refused_without_crashing),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    int rc = t_main(cases, T_COUNT(cases), argc, argv);
    cleanup_keys();
    return rc;
}
