/* What Debian's libjwt 1.10.2 really verifies, next to our verifier.
 *
 * Where both should agree (RS256/384/512, ES256/384, HS256: valid and
 * tampered tokens) they must; where libjwt is unsafe or lacking, the test
 * pins libjwt's behaviour so that a libjwt upgrade that changes it shows up
 * here, and shows that ours refuses: PS256 (libjwt cannot), the
 * algorithm-confusion forgery, "hs256", a NULL or empty key, a P-384 key under
 * ES256, junk in the signature, a real-valued exp. */
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "authtest.h"
#include "core/log.h"
#include "testlib.h"

#define NOW 1700000000LL
static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
#define SECRET_LEN (sizeof secret - 1)

static EVP_PKEY *rsa, *ec256, *ec384;
static char *rsa_pem, *ec256_pem, *ec384_pem, *rsa_file, *ec256_file, *ec384_file;
static struct jwtv *ours;
static char payload[256];

static void setup(void)
{
    rsa = at_rsa(2048);
    ec256 = at_ec("P-256");
    ec384 = at_ec("P-384");
    rsa_pem = at_pubkey_pem(rsa);
    ec256_pem = at_pubkey_pem(ec256);
    ec384_pem = at_pubkey_pem(ec384);
    rsa_file = at_temp_file(rsa_pem);
    ec256_file = at_temp_file(ec256_pem);
    ec384_file = at_temp_file(ec384_pem);
    const char *files[] = {rsa_file, ec256_file, ec384_file};
    struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = SECRET_LEN,
                             .public_key_files = files, .public_key_file_count = 3, .leeway_s = 60};
    if (jwtv_new(&o, &ours, NULL, 0) != KG_OK)
        abort();
    snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"exp\":%lld,\"kvs\":{\"viewer\":[\"*\"]}}",
             NOW + 3600);
}

static void teardown(void)
{
    jwtv_free(ours);
    unlink(rsa_file);
    unlink(ec256_file);
    unlink(ec384_file);
    free(rsa_file);
    free(ec256_file);
    free(ec384_file);
    free(rsa_pem);
    free(ec256_pem);
    free(ec384_pem);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
}

/* Raw libjwt: 1 when jwt_decode accepts; *alg gets what it reports. */
static int libjwt_accepts(const char *tok, const void *key, size_t key_len, jwt_alg_t *alg)
{
    jwt_t *j = NULL;
    int rc = jwt_decode(&j, tok, key, (int)key_len);
    if (alg)
        *alg = j ? jwt_get_alg(j) : JWT_ALG_INVAL;
    jwt_free(j);
    return rc == 0;
}

static int ours_accepts(const char *tok)
{
    struct auth_principal p;
    const char *reason;
    enum kg_err err = jwtv_verify(ours, tok, strlen(tok), NOW, &p, &reason);
    auth_principal_cleanup(&p);
    return err == KG_OK;
}

static char *tampered_payload(const char *tok)
{
    /* Same header and signature, payload of another subject. */
    char other[256];
    snprintf(other, sizeof other, "{\"sub\":\"mallory\",\"exp\":%lld,\"kvs\":{\"manage\":[\"*\"]}}",
             NOW + 3600);
    char *b = at_b64url(other, strlen(other));
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    size_t n = (size_t)(dot1 - tok) + 1 + strlen(b) + strlen(dot2) + 1;
    char *out = kg_malloc(n);
    snprintf(out, n, "%.*s.%s%s", (int)(dot1 - tok), tok, b, dot2);
    free(b);
    return out;
}

static char *tampered_signature(const char *tok)
{
    char *out = kg_strdup(tok);
    char *s = strrchr(out, '.') + 1;
    s[0] = s[0] == 'A' ? 'B' : 'A';
    return out;
}

static void test_both_agree_on_valid_and_tampered_rs_es_hs_tokens(void)
{
    struct {
        const char *alg;
        EVP_PKEY *key;
        const char *pem;
        jwt_alg_t want;
    } cases[] = {
        {"RS256", rsa, NULL, JWT_ALG_RS256}, {"RS384", rsa, NULL, JWT_ALG_RS384},
        {"RS512", rsa, NULL, JWT_ALG_RS512}, {"ES256", ec256, NULL, JWT_ALG_ES256},
        {"ES384", ec384, NULL, JWT_ALG_ES384}, {"HS256", NULL, NULL, JWT_ALG_HS256},
    };
    cases[0].pem = cases[1].pem = cases[2].pem = rsa_pem;
    cases[3].pem = ec256_pem;
    cases[4].pem = ec384_pem;
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        const void *key = cases[i].pem ? (const void *)cases[i].pem : (const void *)secret;
        size_t key_len = cases[i].pem ? strlen(cases[i].pem) : SECRET_LEN;
        for (int round = 0; round < 5; round++) { /* ECDSA signatures differ each time */
            char *tok = at_token(cases[i].alg, NULL, payload, cases[i].key, secret, SECRET_LEN);
            jwt_alg_t alg;
            if (!libjwt_accepts(tok, key, key_len, &alg) || alg != cases[i].want)
                t_fail(__FILE__, __LINE__, "%s: libjwt refused a valid token", cases[i].alg);
            if (!ours_accepts(tok))
                t_fail(__FILE__, __LINE__, "%s: ours refused a valid token", cases[i].alg);
            char *tp = tampered_payload(tok), *ts = tampered_signature(tok);
            if (libjwt_accepts(tp, key, key_len, NULL) || ours_accepts(tp))
                t_fail(__FILE__, __LINE__, "%s: a tampered payload was accepted", cases[i].alg);
            if (libjwt_accepts(ts, key, key_len, NULL) || ours_accepts(ts))
                t_fail(__FILE__, __LINE__, "%s: a tampered signature was accepted", cases[i].alg);
            free(tp);
            free(ts);
            free(tok);
        }
    }
}

static void test_ps256_is_refused_by_libjwt_and_verified_by_openssl(void)
{
    char *tok = at_token("PS256", NULL, payload, rsa, NULL, 0);
    T_CHECK(!libjwt_accepts(tok, rsa_pem, strlen(rsa_pem), NULL));
    T_CHECK(ours_accepts(tok));
    char *ts = tampered_signature(tok);
    T_CHECK(!ours_accepts(ts));
    free(ts);
    free(tok);
}

static void test_libjwt_accepts_the_confusion_forgery_that_ours_refuses(void)
{
    char *forged = at_token("HS256", NULL, payload, NULL, (const unsigned char *)rsa_pem,
                            strlen(rsa_pem));
    jwt_alg_t alg;
    T_CHECK(libjwt_accepts(forged, rsa_pem, strlen(rsa_pem), &alg));
    T_INTEQ(alg, JWT_ALG_HS256);
    T_CHECK(!ours_accepts(forged));
    /* Also through a verifier holding only the PEM (the set-up the attack targets). */
    const char *files[] = {rsa_file};
    struct jwtv_options o = {.public_key_files = files, .public_key_file_count = 1, .leeway_s = 60};
    struct jwtv *pem_only = NULL;
    T_INTEQ(jwtv_new(&o, &pem_only, NULL, 0), KG_OK);
    struct auth_principal p;
    const char *reason;
    T_INTEQ(jwtv_verify(pem_only, forged, strlen(forged), NOW, &p, &reason), KG_ERR_UNAUTHENTICATED);
    T_STREQ(reason, "algorithm does not match key");
    jwtv_free(pem_only);
    free(forged);
}

static void test_libjwt_leniencies_that_ours_refuses(void)
{
    /* "hs256" (strcasecmp in libjwt). */
    char *lower = at_token_sign("HS256", "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", payload, NULL, secret,
                                SECRET_LEN);
    T_CHECK(libjwt_accepts(lower, secret, SECRET_LEN, NULL));
    T_CHECK(!ours_accepts(lower));
    /* A NULL or empty key: libjwt accepts anything and reports alg none. */
    char *rs = at_token("RS256", NULL, payload, rsa, NULL, 0);
    char *forged = tampered_signature(rs);
    jwt_alg_t alg;
    T_CHECK(libjwt_accepts(forged, NULL, 0, &alg));
    T_INTEQ(alg, JWT_ALG_NONE);
    T_CHECK(libjwt_accepts(forged, secret, 0, &alg));
    T_INTEQ(alg, JWT_ALG_NONE);
    T_CHECK(!ours_accepts(forged));
    /* ES256 in the header over a P-384 key: libjwt ties no curve to ES256. */
    char *mixed = at_token("ES256", NULL, payload, ec384, NULL, 0);
    T_CHECK(libjwt_accepts(mixed, ec384_pem, strlen(ec384_pem), NULL));
    T_CHECK(!ours_accepts(mixed));
    /* Junk inside the signature: libjwt's base64 decoder skips it. */
    char junk[4096];
    const char *dot2 = strrchr(rs, '.');
    snprintf(junk, sizeof junk, "%.*s$$!!%s", (int)(dot2 + 6 - rs), rs, dot2 + 6);
    T_CHECK(libjwt_accepts(junk, rsa_pem, strlen(rsa_pem), NULL));
    T_CHECK(!ours_accepts(junk));
    /* libjwt checks no claim: a real exp (and an expired one) pass. */
    char p2[256];
    snprintf(p2, sizeof p2, "{\"sub\":\"a\",\"exp\":%lld.5,\"kvs\":{}}", NOW + 10);
    char *real_exp = at_token("RS256", NULL, p2, rsa, NULL, 0);
    T_CHECK(libjwt_accepts(real_exp, rsa_pem, strlen(rsa_pem), NULL));
    T_CHECK(!ours_accepts(real_exp));
    snprintf(p2, sizeof p2, "{\"sub\":\"a\",\"exp\":1,\"kvs\":{}}");
    char *expired = at_token("RS256", NULL, p2, rsa, NULL, 0);
    T_CHECK(libjwt_accepts(expired, rsa_pem, strlen(rsa_pem), NULL));
    T_CHECK(!ours_accepts(expired));
    /* Duplicate keys: libjwt takes the last; ours refuses the token. */
    snprintf(p2, sizeof p2, "{\"sub\":\"admin\",\"sub\":\"u1\",\"exp\":%lld,\"kvs\":{}}", NOW + 10);
    char *dups = at_token("RS256", NULL, p2, rsa, NULL, 0);
    T_CHECK(libjwt_accepts(dups, rsa_pem, strlen(rsa_pem), NULL));
    T_CHECK(!ours_accepts(dups));
    free(dups);
    free(expired);
    free(real_exp);
    free(mixed);
    free(forged);
    free(rs);
    free(lower);
}

static const struct t_case cases[] = {
    T_CASE(test_both_agree_on_valid_and_tampered_rs_es_hs_tokens),
    T_CASE(test_ps256_is_refused_by_libjwt_and_verified_by_openssl),
    T_CASE(test_libjwt_accepts_the_confusion_forgery_that_ours_refuses),
    T_CASE(test_libjwt_leniencies_that_ours_refuses),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    setup();
    int rc = t_main(cases, T_COUNT(cases), argc, argv);
    teardown();
    return rc;
}
