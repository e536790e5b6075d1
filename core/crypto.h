/* kvsgate: the OpenSSL helper for hashing, HMAC, randomness, comparisons and
 * the authenticated encryption of what kvsgate stores in a shared Redis.
 *
 * SHA-256 and HMAC-SHA256 run on per-thread reused contexts made from
 * algorithms fetched once (measured: explicit fetching and reuse is ~3x
 * faster than the one-shot APIs and scales across threads, where the one-shot
 * ones barely do). Thread-safe; contexts are freed when their thread exits.
 *
 * These calls cannot fail short of memory exhaustion, in which case they abort
 * like kg_malloc.
 */
#ifndef KG_CORE_CRYPTO_H
#define KG_CORE_CRYPTO_H

#include <stddef.h>

#include "core/err.h"

#define KG_SHA256_LEN 32

/* Fetches the algorithms. Called by the first user anyway; call it at start-up
 * before threads exist to keep the first request fast. */
void kg_crypto_init(void);

void kg_sha256(const void *p, size_t n, unsigned char out[KG_SHA256_LEN]);
/* SHA-256 of prefix[0..prefix_len) followed by p[0..n), without joining them. */
void kg_sha256_prefixed(const void *prefix, size_t prefix_len, const void *p, size_t n,
                        unsigned char out[KG_SHA256_LEN]);
/* Lower-case hex SHA-256 (out: 65 bytes). */
void kg_sha256_hex(const void *p, size_t n, char out[2 * KG_SHA256_LEN + 1]);
void kg_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
                    unsigned char out[KG_SHA256_LEN]);

/* Constant-time equality of two n-byte regions (CRYPTO_memcmp). 1 when equal. */
int kg_ct_equal(const void *a, const void *b, size_t n);
/* Constant-time equality of two strings; the length is not hidden. */
int kg_ct_streq(const char *a, const char *b);

/* Cryptographically secure random bytes. KG_ERR_INTERNAL if the DRBG fails. */
KG_WARN_UNUSED enum kg_err kg_random_bytes(void *out, size_t n);

/* n random bytes (at most 32) as 2n lower-case hex digits and a NUL into out
 * (tokens, ids). Aborts if the DRBG fails: not a state for a daemon to go on in. */
void kg_random_hex(char *out, size_t n);

/* AES-256-GCM with a random 96-bit nonce: sealed = nonce | ciphertext | tag,
 * KG_AEAD_OVERHEAD bytes longer than the plaintext; aad is authenticated, not
 * encrypted. kg_aead_open answers KG_ERR_BAD_REQUEST for anything that is not
 * exactly what kg_aead_seal made with this key and aad (out gets len -
 * KG_AEAD_OVERHEAD bytes; nothing is written on failure that survives it). */
#define KG_AEAD_KEY_LEN 32
#define KG_AEAD_NONCE_LEN 12
#define KG_AEAD_TAG_LEN 16
#define KG_AEAD_OVERHEAD (KG_AEAD_NONCE_LEN + KG_AEAD_TAG_LEN)
KG_WARN_UNUSED enum kg_err kg_aead_seal(const unsigned char key[KG_AEAD_KEY_LEN], const void *aad,
                                        size_t aad_len, const void *plain, size_t len,
                                        unsigned char *sealed);
KG_WARN_UNUSED enum kg_err kg_aead_open(const unsigned char key[KG_AEAD_KEY_LEN], const void *aad,
                                        size_t aad_len, const unsigned char *sealed, size_t len,
                                        unsigned char *plain);

#endif
