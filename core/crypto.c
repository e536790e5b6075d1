/* Design note: OpenSSL 3 charges a provider lookup on every implicit fetch
 * (EVP_sha256(), HMAC()); we fetch "SHA256" and "HMAC" once and keep one
 * EVP_MD_CTX and one EVP_MAC_CTX per thread, reused for every call. */
#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static pthread_key_t crypto_tls_key;
static EVP_MD *crypto_sha256;
static EVP_MAC *crypto_hmac;

struct crypto_tls {
    EVP_MD_CTX *md;
    EVP_MAC_CTX *mac;
    /* The key mac holds (a SigV4 signing key changes once a day): the same key
     * again is re-used without re-keying (EVP_MAC_init with a NULL key). */
    unsigned char mac_key[64];
    size_t mac_key_len; /* 0: none held */
};

static _Thread_local struct crypto_tls *crypto_tls;

static void crypto_die(const char *what)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"event\":\"crypto_failure\",\"what\":\"%s\"}\n", what);
    abort();
}

static void crypto_tls_free(void *p)
{
    struct crypto_tls *t = p;
    OPENSSL_cleanse(t->mac_key, sizeof t->mac_key);
    EVP_MD_CTX_free(t->md);
    EVP_MAC_CTX_free(t->mac);
    free(t);
}

static void crypto_init_once(void)
{
    crypto_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    crypto_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!crypto_sha256 || !crypto_hmac)
        crypto_die("fetch");
    if (pthread_key_create(&crypto_tls_key, crypto_tls_free) != 0)
        crypto_die("pthread_key_create");
}

void kg_crypto_init(void) { pthread_once(&crypto_once, crypto_init_once); }

static struct crypto_tls *crypto_thread(void)
{
    if (crypto_tls)
        return crypto_tls;
    kg_crypto_init();
    struct crypto_tls *t = calloc(1, sizeof *t);
    if (!t)
        crypto_die("calloc");
    t->md = EVP_MD_CTX_new();
    t->mac = EVP_MAC_CTX_new(crypto_hmac);
    if (!t->md || !t->mac)
        crypto_die("ctx_new");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_CTX_set_params(t->mac, params))
        crypto_die("mac_set_params");
    pthread_setspecific(crypto_tls_key, t);
    crypto_tls = t;
    return t;
}

void kg_sha256(const void *p, size_t n, unsigned char out[KG_SHA256_LEN])
{
    struct crypto_tls *t = crypto_thread();
    unsigned int len = 0;
    if (!EVP_DigestInit_ex(t->md, crypto_sha256, NULL) || !EVP_DigestUpdate(t->md, p, n) ||
        !EVP_DigestFinal_ex(t->md, out, &len) || len != KG_SHA256_LEN)
        crypto_die("sha256");
}

void kg_sha256_hex(const void *p, size_t n, char out[2 * KG_SHA256_LEN + 1])
{
    unsigned char digest[KG_SHA256_LEN];
    kg_sha256(p, n, digest);
    kg_hex_lower(digest, sizeof digest, out);
}

void kg_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
                    unsigned char out[KG_SHA256_LEN])
{
    struct crypto_tls *t = crypto_thread();
    size_t len = 0;
    /* A NULL key would mean "reuse the previous key": never let an empty key do that. */
    static const unsigned char empty_key[1] = {0};
    if (!key_len)
        key = empty_key;
    int same = key_len && key_len == t->mac_key_len && CRYPTO_memcmp(key, t->mac_key, key_len) == 0;
    int ok = same ? EVP_MAC_init(t->mac, NULL, 0, NULL) : EVP_MAC_init(t->mac, key, key_len, NULL);
    if (!ok || !EVP_MAC_update(t->mac, msg, n) ||
        !EVP_MAC_final(t->mac, out, &len, KG_SHA256_LEN) || len != KG_SHA256_LEN)
        crypto_die("hmac_sha256");
    if (!same) {
        OPENSSL_cleanse(t->mac_key, sizeof t->mac_key);
        t->mac_key_len = 0;
        if (key_len && key_len <= sizeof t->mac_key) {
            memcpy(t->mac_key, key, key_len);
            t->mac_key_len = key_len;
        }
    }
}

int kg_ct_equal(const void *a, const void *b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }

int kg_ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

enum kg_err kg_random_bytes(void *out, size_t n)
{
    if (n == 0)
        return KG_OK;
    if (RAND_bytes(out, (int)n) != 1)
        return KG_ERR_INTERNAL;
    return KG_OK;
}

void kg_random_hex(char *out, size_t n)
{
    unsigned char raw[32];
    if (n > sizeof raw || kg_random_bytes(raw, n) != KG_OK)
        crypto_die("RAND_bytes");
    kg_hex_lower(raw, n, out);
}

/* One EVP_CIPHER_CTX per call: sealing and opening happen only on the cold
 * path (values going to and coming from Redis). */
static int aead_run(int encrypt, const unsigned char *key, const unsigned char *nonce,
                    const void *aad, size_t aad_len, const unsigned char *in, size_t len,
                    unsigned char *out, unsigned char *tag)
{
    if (len > INT32_MAX || aad_len > INT32_MAX)
        return 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        crypto_die("EVP_CIPHER_CTX_new");
    int n = 0, ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt) == 1 &&
                    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1 &&
                    EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1;
    if (ok && !encrypt)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KG_AEAD_TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(ctx, out + n, &n) == 1;
    if (ok && encrypt)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KG_AEAD_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

enum kg_err kg_aead_seal(const unsigned char key[KG_AEAD_KEY_LEN], const void *aad, size_t aad_len,
                         const void *plain, size_t len, unsigned char *sealed)
{
    if (kg_random_bytes(sealed, KG_AEAD_NONCE_LEN) != KG_OK)
        return KG_ERR_INTERNAL;
    unsigned char *ct = sealed + KG_AEAD_NONCE_LEN;
    if (!aead_run(1, key, sealed, aad, aad_len, plain, len, ct, ct + len))
        return KG_ERR_INTERNAL;
    return KG_OK;
}

enum kg_err kg_aead_open(const unsigned char key[KG_AEAD_KEY_LEN], const void *aad, size_t aad_len,
                         const unsigned char *sealed, size_t len, unsigned char *plain)
{
    if (len < KG_AEAD_OVERHEAD)
        return KG_ERR_BAD_REQUEST;
    size_t n = len - KG_AEAD_OVERHEAD;
    unsigned char tag[KG_AEAD_TAG_LEN];
    memcpy(tag, sealed + KG_AEAD_NONCE_LEN + n, KG_AEAD_TAG_LEN);
    if (!aead_run(0, key, sealed, aad, aad_len, sealed + KG_AEAD_NONCE_LEN, n, plain, tag)) {
        OPENSSL_cleanse(plain, n);
        return KG_ERR_BAD_REQUEST;
    }
    return KG_OK;
}
