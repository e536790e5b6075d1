/* JWS signature checks (RFC 7515/7518) and the algorithm allow-list.
 *
 * Design note (measured, see docs/auth.md): libjwt 1.10.2 verifies RSA and ECDSA tokens
 * only by re-parsing a PEM on every call (~300 us vs ~17 us with a parsed
 * EVP_PKEY), has no PS* and no EdDSA, and ties no curve to ES*. So RS/PS/ES
 * and EdDSA go through EVP_DigestVerify on keys parsed once, with digests
 * fetched once (EdDSA takes none: Ed25519 hashes internally, RFC 8037).
 * HS256 goes through libjwt's jwt_decode (the Debian build carries the
 * constant-time compare fix for CVE-2024-25189): the caller has already
 * checked the token's shape, header and algorithm, we never pass an empty key,
 * and we re-check the algorithm libjwt reports. libjwt is included here and in
 * token.c only. */
#include <jwt.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "core/mem.h"

static const struct {
    const char *name;
    const char *digest;
} jwa_table[JWA__COUNT] = {
    [JWA_HS256] = {"HS256", "SHA256"}, [JWA_RS256] = {"RS256", "SHA256"},
    [JWA_RS384] = {"RS384", "SHA384"}, [JWA_RS512] = {"RS512", "SHA512"},
    [JWA_PS256] = {"PS256", "SHA256"}, [JWA_PS384] = {"PS384", "SHA384"},
    [JWA_PS512] = {"PS512", "SHA512"}, [JWA_ES256] = {"ES256", "SHA256"},
    [JWA_ES384] = {"ES384", "SHA384"}, [JWA_ES512] = {"ES512", "SHA512"},
    [JWA_EDDSA] = {"EdDSA", NULL}, /* RFC 8037: Ed25519 signs the message itself */
};

int jwa_parse(const char *s, size_t n, enum jwa *out)
{
    for (int a = 0; a < JWA__COUNT; a++) {
        if (strlen(jwa_table[a].name) == n && memcmp(jwa_table[a].name, s, n) == 0) {
            *out = (enum jwa)a;
            return 1;
        }
    }
    return 0;
}

const char *jwa_name(enum jwa a) { return jwa_table[a].name; }
const char *jwa_digest_name(enum jwa a) { return jwa_table[a].digest; }

/* Digests fetched once: an implicit fetch per call costs a provider lookup
 * and scales badly across threads in OpenSSL 3.0 (LIBRARIES.md §4). */
static pthread_once_t jws_once = PTHREAD_ONCE_INIT;
static EVP_MD *jws_md[JWA__COUNT];

static void jws_init_once(void)
{
    for (int a = 0; a < JWA__COUNT; a++) {
        if (!jwa_table[a].digest)
            continue;
        jws_md[a] = EVP_MD_fetch(NULL, jwa_table[a].digest, NULL);
        if (!jws_md[a]) {
            fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"crypto_failure\",\"what\":\"%s\"}\n",
                    jwa_table[a].digest);
            abort();
        }
    }
}

/* JOSE ECDSA signatures are r||s, each exactly half of sig (RFC 7518 §3.4);
 * OpenSSL wants DER. *der is OPENSSL_malloc'ed. */
static int ecdsa_raw_to_der(const unsigned char *sig, size_t sig_len, unsigned char **der,
                            int *der_len)
{
    size_t half = sig_len / 2;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
    int ok = 0;
    if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL; /* owned by es now */
        *der = NULL;
        *der_len = i2d_ECDSA_SIG(es, der);
        ok = *der_len > 0;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

static int verify_pkey(const struct auth_key *k, enum jwa alg, const char *msg, size_t msg_len,
                       const unsigned char *sig, size_t sig_len)
{
    int ok = 0;
    unsigned char *der = NULL;
    int der_len = 0;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;

    pthread_once(&jws_once, jws_init_once);
    if (sig_len != k->sig_len)
        goto cleanup;
    if (alg == JWA_ES256 || alg == JWA_ES384 || alg == JWA_ES512) {
        if (!ecdsa_raw_to_der(sig, sig_len, &der, &der_len))
            goto cleanup;
        sig = der;
        sig_len = (size_t)der_len;
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, &pctx, jws_md[alg], NULL, k->pkey) != 1)
        goto cleanup;
    if (alg == JWA_PS256 || alg == JWA_PS384 || alg == JWA_PS512) {
        /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash. */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            goto cleanup;
    } else if (k->kind == AUTH_KEY_RSA) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto cleanup;
    }
    ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)msg, msg_len) == 1;

cleanup:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

static int verify_hmac_libjwt(const struct auth_key *k, const char *token, size_t token_len)
{
    /* libjwt with a NULL or empty key accepts every token (LIBRARIES.md §1.2). */
    if (!k->secret || k->secret_len == 0 || k->secret_len > INT_MAX)
        return 0;
    char *copy = kg_malloc(token_len + 1); /* jwt_decode wants a C string */
    memcpy(copy, token, token_len);
    copy[token_len] = '\0';
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, copy, k->secret, (int)k->secret_len);
    int ok = rc == 0 && jwt && jwt_get_alg(jwt) == JWT_ALG_HS256;
    jwt_free(jwt);
    kg_wipe(copy, token_len);
    free(copy);
    return ok;
}

int jws_verify(const struct auth_key *k, enum jwa alg, const char *token, size_t token_len,
               size_t signing_input_len, const unsigned char *sig, size_t sig_len)
{
    if (!(k->algs & JWA_BIT(alg)))
        return 0;
    if (alg == JWA_HS256)
        return k->kind == AUTH_KEY_HMAC && sig_len == k->sig_len &&
               verify_hmac_libjwt(k, token, token_len);
    if (k->kind == AUTH_KEY_HMAC || !k->pkey)
        return 0;
    return verify_pkey(k, alg, token, signing_input_len, sig, sig_len);
}
