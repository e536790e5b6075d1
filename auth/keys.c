/* Verification keys: one struct auth_key per key, parsed once at load.
 *
 * Design note: libjwt takes a PEM on every jwt_decode call and re-parses it
 * (~230 us of the ~300 us an RS256 verification costs there); we parse once
 * into an EVP_PKEY and keep it, so a verification is only EVP_DigestVerify.
 * A key carries the set of algorithms it may verify, decided from the key
 * itself (RSA: RS256/384/512 and PS256/384/512; P-256: ES256; P-384: ES384;
 * P-521: ES512; Ed25519: EdDSA; a secret:
 * HS256) or pinned by a JWK's "alg": the token's "alg" must be in that set,
 * which is what ties HS* to secrets and each ES* to its curve. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "core/buf.h"
#include "core/file.h"
#include "core/mem.h"

#define PEM_FILE_MAX_LEN (1024 * 1024)

struct auth_key *auth_key_new_hmac(const unsigned char *secret, size_t n)
{
    struct auth_key *k = kg_calloc(1, sizeof *k);
    k->kind = AUTH_KEY_HMAC;
    k->algs = JWA_BIT(JWA_HS256);
    k->secret = kg_malloc(n);
    memcpy(k->secret, secret, n);
    k->secret_len = n;
    k->sig_len = 32;
    return k;
}

void auth_key_free(struct auth_key *k)
{
    if (!k)
        return;
    if (k->secret) {
        kg_wipe(k->secret, k->secret_len);
        free(k->secret);
    }
    EVP_PKEY_free(k->pkey);
    free(k);
}

static int pkey_public_check(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

enum kg_err auth_key_from_pkey(EVP_PKEY *pkey, const char *alg_hint, struct auth_key **out,
                               const char **why)
{
    enum auth_key_kind kind;
    unsigned algs;
    size_t sig_len;
    *out = NULL;

    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA: {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < AUTH_RSA_MIN_BITS) {
            *why = "RSA key shorter than 2048 bits";
            return KG_ERR_BAD_REQUEST;
        }
        if (bits > AUTH_RSA_MAX_BITS) {
            *why = "RSA key longer than 8192 bits";
            return KG_ERR_BAD_REQUEST;
        }
        kind = AUTH_KEY_RSA;
        algs = JWA_RSA_FAMILY;
        sig_len = (size_t)EVP_PKEY_get_size(pkey);
        break;
    }
    case EVP_PKEY_EC: {
        char group[64];
        size_t group_len = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof group, &group_len)) {
            ERR_clear_error();
            *why = "EC key without a named curve";
            return KG_ERR_BAD_REQUEST;
        }
        if (strcmp(group, "prime256v1") == 0) {
            kind = AUTH_KEY_EC_P256;
            algs = JWA_BIT(JWA_ES256);
            sig_len = 64;
        } else if (strcmp(group, "secp384r1") == 0) {
            kind = AUTH_KEY_EC_P384;
            algs = JWA_BIT(JWA_ES384);
            sig_len = 96;
        } else if (strcmp(group, "secp521r1") == 0) {
            kind = AUTH_KEY_EC_P521;
            algs = JWA_BIT(JWA_ES512);
            sig_len = 132; /* RFC 7518 3.4: 66 bytes each for r and s */
        } else {
            *why = "EC curve other than P-256, P-384 or P-521";
            return KG_ERR_BAD_REQUEST;
        }
        break;
    }
    case EVP_PKEY_ED25519:
        kind = AUTH_KEY_ED25519;
        algs = JWA_BIT(JWA_EDDSA);
        sig_len = 64;
        break;
    default:
        *why = "unsupported key type (RSA, P-256, P-384, P-521 or Ed25519 only)";
        return KG_ERR_BAD_REQUEST;
    }
    if (!pkey_public_check(pkey)) {
        *why = "public key fails validation";
        return KG_ERR_BAD_REQUEST;
    }
    if (alg_hint) {
        enum jwa a;
        if (!jwa_parse(alg_hint, strlen(alg_hint), &a)) {
            *why = "unsupported alg";
            return KG_ERR_BAD_REQUEST;
        }
        if (!(algs & JWA_BIT(a))) {
            *why = "alg does not fit the key";
            return KG_ERR_BAD_REQUEST;
        }
        algs = JWA_BIT(a);
    }
    struct auth_key *k = kg_calloc(1, sizeof *k);
    k->kind = kind;
    k->algs = algs;
    k->pkey = pkey;
    k->sig_len = sig_len;
    *out = k;
    return KG_OK;
}

/* One PEM block to an EVP_PKEY, or NULL with *why. *skip is set for blocks
 * that carry no key (EC PARAMETERS and the like). */
static EVP_PKEY *pem_block_key(const char *name, const unsigned char *data, long len,
                               int *skip, const char **why)
{
    const unsigned char *p = data;
    EVP_PKEY *pkey = NULL;
    *skip = 0;
    if (strstr(name, "PRIVATE KEY")) {
        *why = "holds a private key; give the public key (openssl pkey -pubout)";
        return NULL;
    }
    if (strcmp(name, "PUBLIC KEY") == 0) {
        pkey = d2i_PUBKEY(NULL, &p, len);
    } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
        pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
    } else if (strcmp(name, "CERTIFICATE") == 0) {
        X509 *cert = d2i_X509(NULL, &p, len);
        if (cert && p == data + len)
            pkey = X509_get_pubkey(cert);
        X509_free(cert);
        if (!pkey) {
            *why = "unreadable certificate";
            return NULL;
        }
        return pkey;
    } else {
        *skip = 1;
        return NULL;
    }
    if (pkey && p != data + len) { /* trailing bytes inside the block */
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    if (!pkey)
        *why = "not a public key";
    return pkey;
}

enum kg_err auth_keys_load_pem_file(const char *path, struct auth_key **keys, size_t *count,
                                    size_t max_keys, char *why, size_t why_len)
{
    enum kg_err result = KG_ERR_BAD_REQUEST;
    const char *reason = NULL;
    size_t loaded = 0;
    struct kg_buf file;
    kg_buf_init(&file, PEM_FILE_MAX_LEN);
    BIO *bio = NULL;

    enum kg_err read = kg_file_read(path, &file);
    if (read != KG_OK) {
        reason = read == KG_ERR_PAYLOAD_TOO_LARGE ? "larger than 1 MiB" : strerror(errno);
        goto cleanup;
    }
    bio = BIO_new_mem_buf(file.data, (int)file.len);
    if (!bio) {
        reason = "out of memory";
        goto cleanup;
    }
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
            unsigned long e = ERR_peek_last_error();
            ERR_clear_error();
            if (ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
                reason = "malformed PEM";
                goto cleanup;
            }
            break;
        }
        int skip = 0;
        EVP_PKEY *pkey = pem_block_key(name, data, len, &skip, &reason);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        ERR_clear_error();
        if (skip)
            continue;
        if (!pkey)
            goto cleanup;
        if (*count >= max_keys) {
            EVP_PKEY_free(pkey);
            reason = "too many keys";
            goto cleanup;
        }
        struct auth_key *k = NULL;
        if (auth_key_from_pkey(pkey, NULL, &k, &reason) != KG_OK) {
            EVP_PKEY_free(pkey);
            goto cleanup;
        }
        keys[(*count)++] = k;
        loaded++;
    }
    if (loaded == 0) {
        reason = "no PEM public key found";
        goto cleanup;
    }
    result = KG_OK;

cleanup:
    if (result != KG_OK && why_len)
        snprintf(why, why_len, "KVSGATE_JWT_PUBLIC_KEY_FILE: %s: %s", path, reason);
    BIO_free(bio);
    kg_buf_free(&file);
    return result;
}

/* ---- key sets ---------------------------------------------------------------- */

struct auth_keyset *auth_keyset_new(struct auth_key **keys, size_t count)
{
    struct auth_keyset *s = kg_calloc(1, sizeof *s);
    s->refs = 1;
    s->count = count;
    s->keys = kg_calloc(count ? count : 1, sizeof *s->keys);
    for (size_t i = 0; i < count; i++)
        s->keys[i] = keys[i];
    return s;
}

void auth_keyset_acquire(struct auth_keyset *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void auth_keyset_release(struct auth_keyset *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < s->count; i++)
        auth_key_free(s->keys[i]);
    free(s->keys);
    free(s);
}

const struct auth_key *auth_keyset_find(const struct auth_keyset *s, const char *kid, size_t n)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->count; i++) {
        const char *k = s->keys[i]->kid;
        if (k && strlen(k) == n && memcmp(k, kid, n) == 0)
            return s->keys[i];
    }
    return NULL;
}
