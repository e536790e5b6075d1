/* Helpers for the auth/ tests: keys generated with OpenSSL, tokens signed
 * here independently of the verifier (EVP_DigestSign, DER->raw for ECDSA),
 * JWKs built from keys, and a fake kg_http_client whose answer tests change
 * while a verifier runs. Header-only; every function is static and may be
 * unused by a given test. */
#ifndef KG_TESTS_AUTHTEST_H
#define KG_TESTS_AUTHTEST_H

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/encode.h"
#include "core/http.h"
#include "core/mem.h"
#include "testlib.h"

#define AT_UNUSED __attribute__((unused))

AT_UNUSED static EVP_PKEY *at_rsa(int bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (!k)
        abort();
    return k;
}

/* "P-256" / "P-384" / "P-521" */
AT_UNUSED static EVP_PKEY *at_ec(const char *group)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
    if (!k)
        abort();
    return k;
}

AT_UNUSED static char *at_b64url(const void *p, size_t n)
{
    struct kg_buf b;
    kg_buf_init(&b, 1 << 20);
    if (kg_base64url_encode(&b, p, n) != KG_OK)
        abort();
    return kg_buf_take(&b, NULL);
}

/* PEM text of the public key (malloc'ed). */
AT_UNUSED static char *at_pubkey_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!PEM_write_bio_PUBKEY(bio, k))
        abort();
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = kg_strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* Writes text to a fresh temp file; returns its path (malloc'ed). */
AT_UNUSED static char *at_temp_file(const char *text) { return t_temp_file(text); }

AT_UNUSED static char *at_pubkey_file(EVP_PKEY *k)
{
    char *pem = at_pubkey_pem(k);
    char *path = at_temp_file(pem);
    free(pem);
    return path;
}

static const EVP_MD *at_md(const char *alg)
{
    if (strcmp(alg, "EdDSA") == 0)
        return NULL; /* Ed25519 signs the message itself */
    if (strstr(alg, "384"))
        return EVP_sha384();
    if (strstr(alg, "512"))
        return EVP_sha512();
    return EVP_sha256();
}

/* Signature bytes of alg over msg: HS* with secret, RS/PS/ES with key. ECDSA
 * is converted to JOSE raw r||s of 2 * coord bytes. */
AT_UNUSED static unsigned char *at_sign_bytes(const char *alg, EVP_PKEY *key,
                                              const unsigned char *secret, size_t secret_len,
                                              const char *msg, size_t *sig_len)
{
    const EVP_MD *md = at_md(alg);
    if (alg[0] == 'H') {
        unsigned char *out = kg_malloc(EVP_MAX_MD_SIZE);
        unsigned int n = 0;
        if (!HMAC(md, secret, (int)secret_len, (const unsigned char *)msg, strlen(msg), out, &n))
            abort();
        *sig_len = n;
        return out;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1)
        abort();
    if (alg[0] == 'P') {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        /* "PS256-salt64": a salt longer than the hash (RFC 7518 wants equal). */
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, strstr(alg, "salt64") ? 64 : RSA_PSS_SALTLEN_DIGEST);
    }
    size_t n = 0;
    if (EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)msg, strlen(msg)) != 1)
        abort();
    unsigned char *sig = kg_malloc(n);
    if (EVP_DigestSign(ctx, sig, &n, (const unsigned char *)msg, strlen(msg)) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    if (alg[0] != 'E' || strcmp(alg, "EdDSA") == 0) {
        *sig_len = n;
        return sig;
    }
    /* The key's field size (as JOSE and libjwt expect), whatever alg says. */
    size_t coord = ((size_t)EVP_PKEY_get_bits(key) + 7) / 8;
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
    unsigned char *raw = kg_calloc(1, 2 * coord);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord);
    ECDSA_SIG_free(es);
    free(sig);
    *sig_len = 2 * coord;
    return raw;
}

/* Compact JWS of header and payload JSON texts, signed as alg says (the
 * header is used as given, so it may lie about alg). malloc'ed. */
AT_UNUSED static char *at_token_sign(const char *sign_alg, const char *header, const char *payload,
                                     EVP_PKEY *key, const unsigned char *secret, size_t secret_len)
{
    char *h = at_b64url(header, strlen(header));
    char *p = at_b64url(payload, strlen(payload));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = kg_malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", h, p);
    size_t sig_len = 0;
    unsigned char *sig = at_sign_bytes(sign_alg, key, secret, secret_len, input, &sig_len);
    char *s = at_b64url(sig, sig_len);
    size_t n = in_len + 1 + strlen(s);
    char *tok = kg_malloc(n + 1);
    snprintf(tok, n + 1, "%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(sig);
    free(s);
    return tok;
}

/* Header {"alg":alg,"typ":"JWT"[,"kid":kid]} signed with alg. */
AT_UNUSED static char *at_token(const char *alg, const char *kid, const char *payload,
                                EVP_PKEY *key, const unsigned char *secret, size_t secret_len)
{
    char header[512];
    if (kid)
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    return at_token_sign(alg, header, payload, key, secret, secret_len);
}

static char *at_bn_b64(EVP_PKEY *k, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(k, param, &bn))
        abort();
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char *bytes = kg_calloc(1, n);
    BN_bn2binpad(bn, bytes, (int)n);
    char *out = at_b64url(bytes, n);
    free(bytes);
    BN_free(bn);
    return out;
}

/* A JWK for k's public part; extra is spliced in as more members
 * (",\"use\":\"sig\"" ...), or "". malloc'ed. */
AT_UNUSED static char *at_jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
    char *out = kg_malloc(4096);
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        char *n = at_bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0);
        char *e = at_bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0);
        snprintf(out, 4096, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n,
                 e, extra);
        free(n);
        free(e);
    } else {
        char group[32];
        size_t glen;
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &glen);
        size_t coord = strcmp(group, "secp384r1") == 0 ? 48 : (strcmp(group, "secp521r1") == 0 ? 66 : 32);
        const char *crv = coord == 48 ? "P-384" : (coord == 66 ? "P-521" : "P-256");
        char *x = at_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, coord);
        char *y = at_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, coord);
        snprintf(out, 4096, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
                 kid, crv, x, y, extra);
        free(x);
        free(y);
    }
    return out;
}

/* ---- a fake HTTP client ------------------------------------------------------ */

struct at_fake_http {
    struct kg_http_client client;
    pthread_mutex_t lock;
    long status;
    enum kg_err err; /* returned instead of a response when not KG_OK */
    char *body;
    int calls;
    struct kg_http_request last; /* method/url pointers are the caller's */
    size_t last_max_response_len;
    int64_t last_timeout_ms;
};

static enum kg_err at_fake_perform(struct kg_http_client *self, const struct kg_http_request *req,
                                   struct kg_http_response *resp)
{
    struct at_fake_http *f = self->impl;
    pthread_mutex_lock(&f->lock);
    f->calls++;
    f->last_max_response_len = req->max_response_len;
    f->last_timeout_ms = req->timeout_ms;
    enum kg_err err = f->err;
    if (err == KG_OK) {
        resp->status = f->status;
        kg_buf_free(&resp->body);
        kg_buf_init(&resp->body, req->max_response_len);
        if (strlen(f->body) > req->max_response_len)
            err = KG_ERR_UPSTREAM_REFUSED;
        else
            err = kg_buf_append_str(&resp->body, f->body);
    }
    pthread_mutex_unlock(&f->lock);
    return err;
}

AT_UNUSED static void at_fake_init(struct at_fake_http *f)
{
    memset(f, 0, sizeof *f);
    f->client.perform = at_fake_perform;
    f->client.impl = f;
    pthread_mutex_init(&f->lock, NULL);
    f->status = 200;
    f->body = kg_strdup("");
}

AT_UNUSED static void at_fake_set(struct at_fake_http *f, long status, enum kg_err err,
                                  const char *body)
{
    pthread_mutex_lock(&f->lock);
    f->status = status;
    f->err = err;
    free(f->body);
    f->body = kg_strdup(body);
    pthread_mutex_unlock(&f->lock);
}

AT_UNUSED static int at_fake_calls(struct at_fake_http *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->calls;
    pthread_mutex_unlock(&f->lock);
    return n;
}

AT_UNUSED static void at_fake_cleanup(struct at_fake_http *f)
{
    free(f->body);
    pthread_mutex_destroy(&f->lock);
}

#endif
