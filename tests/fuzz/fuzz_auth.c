/* libFuzzer target for what auth/ reads from outside. The first input byte
 * picks the parser, the rest is its input:
 *   0: jwtv_verify on a token (shape, header, alg, key selection)
 *   1: claims_check on a payload (a signature cannot be forged by a fuzzer,
 *      so the claims and grants parser is driven directly)
 *   2: jwks_parse on a JWKS document
 * Build: cmake -S . -B build-fuzz -DKVSGATE_FUZZ=ON -DCMAKE_C_COMPILER=clang
 *        -DKVSGATE_NODE_TESTS=OFF && cmake --build build-fuzz --target fuzz_auth
 * Run:   build-fuzz/tests/fuzz_auth -max_total_time=60 tests/fuzz/corpus_auth */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "auth/jwt.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    switch (data[0] % 3) {
    case 0: {
        struct auth_principal p;
        const char *reason;
        if (jwtv_verify(verifier, in, n, 1700000000, &p, &reason) == KG_OK && !p.sub)
            abort(); /* (the seed corpus holds one valid token) */
        auth_principal_cleanup(&p);
        break;
    }
    case 1: {
        json_t *payload = json_in_object(in, n, 32);
        if (payload) {
            struct claims_policy pol = {"https://issuer.example", "kvsgate", "kvs", 60};
            struct auth_principal p;
            memset(&p, 0, sizeof p);
            const char *reason;
            if (claims_check(payload, &pol, 1700000000, &p, &reason) == KG_OK && !p.sub)
                abort();
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
