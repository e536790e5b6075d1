/* JWK (RFC 7517/7518) to auth_key.
 *
 * RSA n/e and EC x/y are strict base64url (libjwt's decoder skips junk; ours
 * does not), big-endian bytes. n and e go through BIGNUMs into OSSL_PARAM_BLD
 * (OSSL_PARAM_construct_BN would want native-endian bytes); the EC point is
 * built as 0x04||x||y and EVP_PKEY_fromdata refuses points that are not on the
 * curve; an Ed25519 key (kty OKP, RFC 8037) is its 32 raw bytes. Everything a
 * JWK may say about its purpose is enforced: kty RSA, EC or OKP (oct is
 * refused outright: a symmetric key taken from a URL would let an
 * HS256 token in), use "sig", key_ops holding "verify", alg one of ours that
 * fits the key and curve, no private parts. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/mem.h"

#define JWK_MAX_RSA_N_LEN 1024 /* 8192 bits */
#define JWK_MAX_RSA_E_LEN 8

/* Decodes member name of jwk (a string) into out; exact_len 0 means 1..max_len. */
static int jwk_bytes(json_t *jwk, const char *name, struct kg_buf *out, size_t exact_len,
                     size_t max_len)
{
    json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v))
        return 0;
    kg_buf_init(out, max_len);
    if (kg_base64url_decode(out, json_string_value(v), json_string_length(v)) != KG_OK ||
        out->len == 0 || (exact_len && out->len != exact_len)) {
        kg_buf_free(out);
        return 0;
    }
    return 1;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    ERR_clear_error();
    return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk, const char **why)
{
    struct kg_buf n, e;
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    if (!jwk_bytes(jwk, "n", &n, 0, JWK_MAX_RSA_N_LEN)) {
        *why = "RSA JWK without a valid n";
        return NULL;
    }
    if (!jwk_bytes(jwk, "e", &e, 0, JWK_MAX_RSA_E_LEN)) {
        kg_buf_free(&n);
        *why = "RSA JWK without a valid e";
        return NULL;
    }
    bn_n = BN_bin2bn((const unsigned char *)n.data, (int)n.len, NULL);
    bn_e = BN_bin2bn((const unsigned char *)e.data, (int)e.len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        pkey = pkey_fromdata("RSA", bld);
    if (!pkey)
        *why = "RSA JWK refused by OpenSSL";
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    kg_buf_free(&n);
    kg_buf_free(&e);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk, const char **why)
{
    json_t *crv = json_object_get(jwk, "crv");
    const char *group;
    size_t coord_len;
    if (!json_is_string(crv)) {
        *why = "EC JWK without crv";
        return NULL;
    }
    if (strcmp(json_string_value(crv), "P-256") == 0) {
        group = "prime256v1";
        coord_len = 32;
    } else if (strcmp(json_string_value(crv), "P-384") == 0) {
        group = "secp384r1";
        coord_len = 48;
    } else if (strcmp(json_string_value(crv), "P-521") == 0) {
        group = "secp521r1";
        coord_len = 66; /* RFC 7518 6.2.1.2: ceil(521 / 8) */
    } else {
        *why = "EC JWK curve other than P-256, P-384 or P-521";
        return NULL;
    }
    struct kg_buf x, y;
    if (!jwk_bytes(jwk, "x", &x, coord_len, coord_len)) {
        *why = "EC JWK x missing or of the wrong length";
        return NULL;
    }
    if (!jwk_bytes(jwk, "y", &y, coord_len, coord_len)) {
        kg_buf_free(&x);
        *why = "EC JWK y missing or of the wrong length";
        return NULL;
    }
    unsigned char point[1 + 2 * 66];
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x.data, coord_len);
    memcpy(point + 1 + coord_len, y.data, coord_len);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                         1 + 2 * coord_len))
        pkey = pkey_fromdata("EC", bld);
    if (!pkey)
        *why = "EC JWK point is not on the curve";
    OSSL_PARAM_BLD_free(bld);
    kg_buf_free(&x);
    kg_buf_free(&y);
    return pkey;
}

/* RFC 8037: {"kty":"OKP","crv":"Ed25519","x": 32 bytes}. Ed448 is not taken. */
static EVP_PKEY *jwk_okp(json_t *jwk, const char **why)
{
    json_t *crv = json_object_get(jwk, "crv");
    if (!json_is_string(crv) || strcmp(json_string_value(crv), "Ed25519") != 0) {
        *why = "OKP JWK curve other than Ed25519";
        return NULL;
    }
    struct kg_buf x;
    if (!jwk_bytes(jwk, "x", &x, 32, 32)) {
        *why = "OKP JWK x missing or not 32 bytes";
        return NULL;
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                                 (const unsigned char *)x.data, x.len);
    ERR_clear_error();
    if (!pkey)
        *why = "OKP JWK refused by OpenSSL";
    kg_buf_free(&x);
    return pkey;
}

static int str_member_is(json_t *obj, const char *name, const char *want)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

enum kg_err auth_key_from_jwk(json_t *jwk, struct auth_key **out, char **kid_out,
                              const char **why)
{
    *out = NULL;
    *kid_out = NULL;
    if (!json_is_object(jwk)) {
        *why = "not a JSON object";
        return KG_ERR_BAD_REQUEST;
    }
    json_t *kty = json_object_get(jwk, "kty");
    if (!json_is_string(kty)) {
        *why = "no kty";
        return KG_ERR_BAD_REQUEST;
    }
    const char *k = json_string_value(kty);
    int is_rsa = strcmp(k, "RSA") == 0, is_ec = strcmp(k, "EC") == 0;
    int is_okp = strcmp(k, "OKP") == 0;
    if (!is_rsa && !is_ec && !is_okp) {
        *why = strcmp(k, "oct") == 0 ? "symmetric (oct) keys are never taken from a JWKS"
                                     : "unsupported kty";
        return KG_ERR_BAD_REQUEST;
    }
    if (json_object_get(jwk, "use") && !str_member_is(jwk, "use", "sig")) {
        *why = "use is not sig";
        return KG_ERR_BAD_REQUEST;
    }
    json_t *ops = json_object_get(jwk, "key_ops");
    if (ops) {
        int verify = 0;
        size_t i;
        json_t *op;
        if (!json_is_array(ops)) {
            *why = "key_ops is not an array";
            return KG_ERR_BAD_REQUEST;
        }
        json_array_foreach(ops, i, op)
        {
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                verify = 1;
        }
        if (!verify) {
            *why = "key_ops without verify";
            return KG_ERR_BAD_REQUEST;
        }
    }
    json_t *alg = json_object_get(jwk, "alg");
    if (alg && !json_is_string(alg)) {
        *why = "alg is not a string";
        return KG_ERR_BAD_REQUEST;
    }
    json_t *kid = json_object_get(jwk, "kid");
    if (kid && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                json_string_length(kid) > AUTH_KID_MAX)) {
        *why = "kid is not a string of 1..256 bytes";
        return KG_ERR_BAD_REQUEST;
    }
    if (json_object_get(jwk, "d") || json_object_get(jwk, "p") || json_object_get(jwk, "k")) {
        *why = "holds private key material";
        return KG_ERR_BAD_REQUEST;
    }

    EVP_PKEY *pkey = is_rsa ? jwk_rsa(jwk, why) : is_ec ? jwk_ec(jwk, why) : jwk_okp(jwk, why);
    if (!pkey)
        return KG_ERR_BAD_REQUEST;
    if (auth_key_from_pkey(pkey, alg ? json_string_value(alg) : NULL, out, why) != KG_OK) {
        EVP_PKEY_free(pkey);
        return KG_ERR_BAD_REQUEST;
    }
    if (kid)
        *kid_out = kg_strdup(json_string_value(kid));
    return KG_OK;
}
