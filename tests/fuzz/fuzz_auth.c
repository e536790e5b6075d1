/* libFuzzer target for what auth/ reads from outside. The first input byte
 * picks the parser, the rest is its input:
 *   0: jwtv_verify on a token (shape, header, alg, key selection)
 *   1: claims_check on a payload (a signature cannot be forged by a fuzzer,
 *      so the claims and grants parser is driven directly)
 *   2: jwks_parse on a JWKS document
 *   3: header JSON \x1f payload JSON, signed with the verifier's HS256
 *      secret and verified end to end (the claims path of jwtv_verify behind
 *      a valid signature, which case 0 never reaches)
 * Invariants: a token that verifies names a subject and a client id within
 * KVS's rules; in case 3 only an exact "HS256" header verifies, and the
 * verdict on the payload agrees with claims_check run directly (the header
 * adds checks, never lifts one).
 * Build: cmake -S . -B build-fuzz -DKVSGATE_FUZZ=ON -DCMAKE_C_COMPILER=clang
 *        -DKVSGATE_NODE_TESTS=OFF && cmake --build build-fuzz --target fuzz_auth
 * Run:   build-fuzz/tests/fuzz_auth -max_total_time=60 tests/fuzz/corpus_auth */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "auth/jwt.h"
#include "aws/kvs.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/encode.h"
#include "core/log.h"
#include "tests/fuzz/fuzz.h"

static struct jwtv *verifier;
static const unsigned char secret[] = "fuzz-secret-fuzz-secret-fuzz-secret!";

static const char *intern(void *arg, const char *kid)
{
    /* Leaks by design within one input; freed with the pool below. */
    char ***pool = arg;
    size_t n = 0;
    while ((*pool)[n])
        n++;
    *pool = realloc(*pool, (n + 2) * sizeof(char *));
    (*pool)[n] = strdup(kid);
    (*pool)[n + 1] = NULL;
    return (*pool)[n];
}

static void check_principal(const struct auth_principal *p)
{
    FUZZ_CHECK(p->sub && p->sub[0]);
    FUZZ_CHECK(kg_kvs_client_id_valid(p->client_id));
}

/* Case 3: sign header.payload with the secret, then verify. */
static void signed_token(const char *in, size_t n)
{
    struct fuzz_in fin = {in, n};
    const char *h = "", *pl = "";
    size_t hn = 0, pn = 0;
    if (!fuzz_field(&fin, &h, &hn) || !fuzz_field(&fin, &pl, &pn))
        return;
    struct kg_buf tok;
    kg_buf_init(&tok, 64 * 1024);
    if (kg_base64url_encode(&tok, (const unsigned char *)h, hn) != KG_OK ||
        kg_buf_append_char(&tok, '.') != KG_OK ||
        kg_base64url_encode(&tok, (const unsigned char *)pl, pn) != KG_OK) {
        kg_buf_free(&tok);
        return;
    }
    unsigned char mac[32];
    kg_hmac_sha256(secret, sizeof secret - 1, tok.data, tok.len, mac);
    if (kg_buf_append_char(&tok, '.') != KG_OK ||
        kg_base64url_encode(&tok, mac, sizeof mac) != KG_OK) {
        kg_buf_free(&tok);
        return;
    }
    struct auth_principal p;
    const char *reason = NULL;
    enum kg_err err = jwtv_verify(verifier, tok.data, tok.len, 1700000000, &p, &reason);
    if (err == KG_OK) {
        check_principal(&p);
        /* Only {"alg":"HS256", ...} verifies against an HMAC secret. */
        json_t *hdr = json_loadb(h, hn, JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(hdr && json_is_string(json_object_get(hdr, "alg")) &&
                   strcmp(json_string_value(json_object_get(hdr, "alg")), "HS256") == 0);
        json_decref(hdr);
        auth_principal_cleanup(&p);
    } else {
        FUZZ_CHECK(err == KG_ERR_UNAUTHENTICATED && reason && reason[0]);
    }
    /* The verdict on the claims agrees with claims_check on the same payload. */
    json_t *payload = strictjson_object(pl, pn, 32);
    if (payload) {
        struct claims_policy pol = {.issuer = "https://issuer.example", .grants_claim = "kvs",
                                    .scope_prefix = "", .leeway_s = 60};
        struct auth_principal q;
        memset(&q, 0, sizeof q);
        const char *why;
        enum kg_err direct = claims_check(payload, &pol, 1700000000, &q, &why);
        if (err == KG_OK)
            FUZZ_CHECK(direct == KG_OK);
        if (direct == KG_OK)
            check_principal(&q);
        auth_principal_cleanup(&q);
        json_decref(payload);
    } else {
        FUZZ_CHECK(err != KG_OK);
    }
    kg_buf_free(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!verifier) {
        kg_log_set_level(KG_LOG_OFF);
        struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = sizeof secret - 1,
                                 .issuer = "https://issuer.example", .leeway_s = 60};
        if (jwtv_new(&o, &verifier, NULL, 0) != KG_OK)
            abort();
    }
    if (size < 1)
        return 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: {
        struct auth_principal p;
        const char *reason;
        if (jwtv_verify(verifier, in, n, 1700000000, &p, &reason) == KG_OK)
            check_principal(&p); /* (the seed corpus holds one valid token) */
        auth_principal_cleanup(&p);
        break;
    }
    case 3:
        signed_token(in, n);
        break;
    case 1: {
        json_t *payload = strictjson_object(in, n, 32);
        if (payload) {
            static const char *const aud[] = {"kvsgate"};
            struct claims_policy pol = {.issuer = "https://issuer.example", .aud = aud,
                                        .aud_count = 1, .grants_claim = "kvs",
                                        .scope_prefix = "", .leeway_s = 60};
            struct auth_principal p;
            memset(&p, 0, sizeof p);
            const char *reason;
            if (claims_check(payload, &pol, 1700000000, &p, &reason) == KG_OK)
                check_principal(&p);
            auth_principal_cleanup(&p);
            json_decref(payload);
        }
        break;
    }
    default: {
        char **pool = calloc(1, sizeof(char *));
        struct auth_keyset *set = NULL;
        const char *why;
        if (jwks_parse(in, n, intern, &pool, &set, &why) == KG_OK)
            auth_keyset_release(set);
        for (size_t i = 0; pool[i]; i++)
            free(pool[i]);
        free(pool);
        break;
    }
    }
    return 0;
}
