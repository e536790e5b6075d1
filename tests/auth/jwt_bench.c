/* jwt_bench: cost of one verification per algorithm, ours (jwtv_verify: keys
 * parsed once, EVP_DigestVerify; HS256 through libjwt) next to raw libjwt
 * jwt_decode with the PEM (which re-parses it per call), on 1 and 2 threads;
 * then ours again with the verified-token cache on (the same token every
 * time: every call after the first is a hit).
 * Not a test; numbers for docs/auth.md.
 *
 *   build/tests/jwt_bench [ITERATIONS]     (default 2000) */
#include <jwt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "../unit/authtest.h"
#include "core/log.h"
#include "core/timeutil.h"

#define NOW 1700000000LL
static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";

struct job {
    struct jwtv *v;
    const char *tok;
    const char *pem; /* NULL: ours */
    const void *key;
    size_t key_len;
    int iterations;
    int failures;
};

static void *run(void *arg)
{
    struct job *j = arg;
    size_t len = strlen(j->tok);
    for (int i = 0; i < j->iterations; i++) {
        if (j->v) {
            struct auth_principal p;
            const char *reason;
            if (jwtv_verify(j->v, j->tok, len, NOW, &p, &reason) != KG_OK)
                j->failures++;
            auth_principal_cleanup(&p);
        } else {
            jwt_t *t = NULL;
            if (jwt_decode(&t, j->tok, j->key, (int)j->key_len) != 0)
                j->failures++;
            jwt_free(t);
        }
    }
    return NULL;
}

/* Aggregate microseconds per verification with `threads` threads. */
static double measure(struct job *proto, int threads)
{
    struct job jobs[2];
    pthread_t th[2];
    int64_t t0 = kg_mono_us();
    for (int i = 0; i < threads; i++) {
        jobs[i] = *proto;
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        proto->failures += jobs[i].failures;
    }
    return (double)(kg_mono_us() - t0) / (double)(proto->iterations * threads);
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2000;
    if (iterations < 1)
        iterations = 2000;
    kg_log_set_level(KG_LOG_OFF);
    EVP_PKEY *rsa = at_rsa(2048), *ec256 = at_ec("P-256"), *ec384 = at_ec("P-384");
    char *pems[3] = {at_pubkey_pem(rsa), at_pubkey_pem(ec256), at_pubkey_pem(ec384)};
    char *files[3] = {at_temp_file(pems[0]), at_temp_file(pems[1]), at_temp_file(pems[2])};
    struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = sizeof secret - 1,
                             .public_key_files = (const char *const *)files,
                             .public_key_file_count = 3, .leeway_s = 60,
                             .token_cache_ttl_s = -1};
    struct jwtv *v = NULL, *vc = NULL;
    if (jwtv_new(&o, &v, NULL, 0) != KG_OK)
        return 1;
    o.token_cache_ttl_s = 0; /* the default: on, 60 s */
    if (jwtv_new(&o, &vc, NULL, 0) != KG_OK)
        return 1;
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"alice\",\"exp\":%lld,\"kvs\":{\"viewer\":[\"cam-*\"]}}", NOW + 3600);
    struct {
        const char *alg;
        EVP_PKEY *key;
        int pem; /* index, or -1 for the secret */
    } algs[] = {{"HS256", NULL, -1}, {"RS256", rsa, 0}, {"RS384", rsa, 0}, {"RS512", rsa, 0},
                {"PS256", rsa, 0},   {"ES256", ec256, 1}, {"ES384", ec384, 2}};
    printf("%d iterations per thread, RSA 2048, P-256, P-384; microseconds per verification\n",
           iterations);
    printf("%-6s %12s %12s %14s %14s %12s %12s\n", "alg", "ours 1 thr", "ours 2 thr",
           "libjwt 1 thr", "libjwt 2 thr", "cached 1 thr", "cached 2 thr");
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char *tok = at_token(algs[i].alg, NULL, payload, algs[i].key, secret, sizeof secret - 1);
        struct job ours = {.v = v, .tok = tok, .iterations = iterations};
        double o1 = measure(&ours, 1), o2 = measure(&ours, 2);
        struct job raw = {.tok = tok, .iterations = iterations};
        raw.key = algs[i].pem < 0 ? (const void *)secret : (const void *)pems[algs[i].pem];
        raw.key_len = algs[i].pem < 0 ? sizeof secret - 1 : strlen(pems[algs[i].pem]);
        double r1 = measure(&raw, 1), r2 = measure(&raw, 2);
        char c1[32] = "refused", c2[32] = "refused";
        if (raw.failures == 0) {
            snprintf(c1, sizeof c1, "%.1f", r1);
            snprintf(c2, sizeof c2, "%.1f", r2);
        }
        struct job cached = {.v = vc, .tok = tok, .iterations = iterations};
        double h1 = measure(&cached, 1), h2 = measure(&cached, 2);
        printf("%-6s %12.1f %12.1f %14s %14s %12.2f %12.2f%s\n", algs[i].alg, o1, o2, c1, c2, h1,
               h2, ours.failures || cached.failures ? "  (ours FAILED)" : "");
        free(tok);
    }
    jwtv_free(v);
    jwtv_free(vc);
    for (int i = 0; i < 3; i++) {
        unlink(files[i]);
        free(files[i]);
        free(pems[i]);
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    return 0;
}
