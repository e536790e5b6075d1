/* Design note: OpenSSL 3 charges a provider lookup on every implicit fetch
 * (EVP_sha256(), HMAC()); we fetch "SHA256" and "HMAC" once and keep one
 * EVP_MD_CTX and a few keyed EVP_MAC_CTXs per thread, reused for every call.
 * Keying an HMAC costs two SHA-256 blocks and OpenSSL's key setup; a request
 * uses two keys in turn (the token cache's and the day's SigV4 signing key),
 * so one context re-keyed on every call; each key now keeps its own. */
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

#define MAC_SLOTS 4

/* A keyed HMAC context: the same key again is re-used without re-keying
 * (EVP_MAC_init with a NULL key). */
struct mac_slot {
    EVP_MAC_CTX *mac;
    unsigned char key[64];
    size_t key_len; /* 0: none held */
    uint64_t last_use;
};

struct crypto_tls {
    EVP_MD_CTX *md;
    struct mac_slot macs[MAC_SLOTS];
    uint64_t tick;
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
    EVP_MD_CTX_free(t->md);
    for (int i = 0; i < MAC_SLOTS; i++)
        EVP_MAC_CTX_free(t->macs[i].mac);
    OPENSSL_cleanse(t, sizeof *t);
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
    if (!t->md)
        crypto_die("ctx_new");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    for (int i = 0; i < MAC_SLOTS; i++) {
        t->macs[i].mac = EVP_MAC_CTX_new(crypto_hmac);
        if (!t->macs[i].mac || !EVP_MAC_CTX_set_params(t->macs[i].mac, params))
            crypto_die("mac_ctx");
    }
    pthread_setspecific(crypto_tls_key, t);
    crypto_tls = t;
    return t;
}

void kg_sha256_prefixed(const void *prefix, size_t prefix_len, const void *p, size_t n,
                        unsigned char out[KG_SHA256_LEN])
{
    struct crypto_tls *t = crypto_thread();
    unsigned int len = 0;
    if (!EVP_DigestInit_ex(t->md, crypto_sha256, NULL) ||
        !EVP_DigestUpdate(t->md, prefix, prefix_len) || !EVP_DigestUpdate(t->md, p, n) ||
        !EVP_DigestFinal_ex(t->md, out, &len) || len != KG_SHA256_LEN)
        crypto_die("sha256");
}

void kg_sha256(const void *p, size_t n, unsigned char out[KG_SHA256_LEN])
{
    kg_sha256_prefixed("", 0, p, n, out);
}

void kg_sha256_hex(const void *p, size_t n, char out[2 * KG_SHA256_LEN + 1])
{
    unsigned char digest[KG_SHA256_LEN];
    kg_sha256(p, n, digest);
    kg_hex_lower(digest, sizeof digest, out);
}

/* The slot holding key (reuse: *keyed = 1), else the least recently used
 * one, emptied for it. Keys longer than a slot holds are keyed every time. */
static struct mac_slot *mac_slot_for(struct crypto_tls *t, const void *key, size_t key_len,
                                     int *keyed)
{
    struct mac_slot *lru = &t->macs[0];
    for (int i = 0; i < MAC_SLOTS; i++) {
        struct mac_slot *m = &t->macs[i];
        if (m->key_len && m->key_len == key_len && CRYPTO_memcmp(key, m->key, key_len) == 0) {
            m->last_use = ++t->tick;
            *keyed = 1;
            return m;
        }
        if (m->last_use < lru->last_use)
            lru = m;
    }
    OPENSSL_cleanse(lru->key, sizeof lru->key);
    lru->key_len = 0;
    lru->last_use = ++t->tick;
    *keyed = 0;
    return lru;
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
    int keyed = 0;
    struct mac_slot *m = mac_slot_for(t, key, key_len, &keyed);
    int ok = keyed ? EVP_MAC_init(m->mac, NULL, 0, NULL) : EVP_MAC_init(m->mac, key, key_len, NULL);
    if (!ok || !EVP_MAC_update(m->mac, msg, n) ||
        !EVP_MAC_final(m->mac, out, &len, KG_SHA256_LEN) || len != KG_SHA256_LEN)
        crypto_die("hmac_sha256");
    if (!keyed && key_len && key_len <= sizeof m->key) {
        memcpy(m->key, key, key_len);
        m->key_len = key_len;
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
