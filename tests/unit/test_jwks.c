/* auth/jwks and JWK parsing: keys fetched through a fake kg_http_client on a
 * pinned clock; rotation, the rate-limited refetch on an unknown kid, failed
 * fetches keeping the old keys, bad JWKs skipped, metrics, threads. */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/internal.h"
#include "auth/jwt.h"
#include "authtest.h"
#include "core/log.h"
#include "core/metrics.h"
#include "testlib.h"

#define T0 1700000000LL
#define URL "https://idp.example/.well-known/jwks.json"

static int64_t fake_now = T0;
static int64_t now_fn(void) { return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST); }
static void advance(int64_t s) { __atomic_add_fetch(&fake_now, s, __ATOMIC_SEQ_CST); }

static EVP_PKEY *rsa_a, *rsa_b, *ec_a, *ec384_a;

static void keys_once(void)
{
    if (rsa_a)
        return;
    rsa_a = at_rsa(2048);
    rsa_b = at_rsa(2048);
    ec_a = at_ec("P-256");
    ec384_a = at_ec("P-384");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until the fake has been called `calls` times and the verifier has
 * counted as many fetches (ok + failed); 0 after 5 s. */
static int wait_fetches(struct at_fake_http *f, struct jwtv *v, int calls)
{
    for (int i = 0; i < 1000; i++) {
        struct jwtv_stats s;
        jwtv_get_stats(v, &s);
        if (at_fake_calls(f) >= calls && (int)(s.jwks_fetch_ok + s.jwks_fetch_failed) >= calls)
            return 1;
        sleep_ms(5);
    }
    return 0;
}

/* {"keys":[jwk1, jwk2, ...]} from NULL-terminated JWK texts. */
static char *jwks_doc(const char *first, ...)
{
    struct kg_buf b;
    kg_buf_init(&b, 1 << 20);
    if (kg_buf_append_str(&b, "{\"keys\":[") != KG_OK)
        abort();
    va_list ap;
    va_start(ap, first);
    int n = 0;
    for (const char *j = first; j; j = va_arg(ap, const char *))
        if (kg_buf_appendf(&b, "%s%s", n++ ? "," : "", j) != KG_OK)
            abort();
    va_end(ap);
    if (kg_buf_append_str(&b, "]}") != KG_OK)
        abort();
    return kg_buf_take(&b, NULL);
}

static struct jwtv *jwks_verifier(struct at_fake_http *f, const unsigned char *secret,
                                  size_t secret_len)
{
    struct jwtv_options o = {0};
    o.jwks_url = URL;
    o.http = &f->client;
    o.jwks_refresh_s = 600;
    o.jwks_min_refetch_s = 30;
    o.jwks_timeout_ms = 1500;
    o.leeway_s = 60;
    o.now_fn = now_fn;
    o.hs256_secret = secret;
    o.hs256_secret_len = secret_len;
    struct jwtv *v = NULL;
    char why[256];
    if (jwtv_new(&o, &v, why, sizeof why) != KG_OK)
        t_fail(__FILE__, __LINE__, "jwtv_new: %s", why);
    return v;
}

static char *payload_now(void)
{
    char *p = kg_malloc(256);
    snprintf(p, 256, "{\"sub\":\"alice\",\"exp\":%lld,\"kvs\":{\"viewer\":[\"*\"]}}", (long long)now_fn() + 3600);
    return p;
}

static const char *verdict(struct jwtv *v, const char *tok)
{
    struct auth_principal p;
    const char *reason = NULL;
    enum kg_err err = jwtv_verify(v, tok, strlen(tok), now_fn(), &p, &reason);
    auth_principal_cleanup(&p);
    return err == KG_OK ? "ok" : reason;
}

static void test_jwks_keys_verify_by_kid_and_are_fetched_with_timeout_and_size_cap(void)
{
    keys_once();
    struct at_fake_http f;
    at_fake_init(&f);
    char *j1 = at_jwk(rsa_a, "rsa-a", ",\"use\":\"sig\",\"alg\":\"RS256\"");
    char *j2 = at_jwk(ec_a, "ec-a", ",\"use\":\"sig\"");
    char *j3 = at_jwk(ec384_a, "ec384-a", ",\"key_ops\":[\"verify\"]");
    char *j4 = at_jwk(rsa_b, "rsa-b", "");
    char *doc = jwks_doc(j1, j2, j3, j4, NULL);
    at_fake_set(&f, 200, KG_OK, doc);
    struct jwtv *v = jwks_verifier(&f, NULL, 0);
    T_CHECK(!jwtv_ready(v));
    T_INTEQ(jwtv_start(v), KG_OK);
    T_CHECK(jwtv_ready(v));
    T_INTEQ(f.last_max_response_len, JWKS_MAX_RESPONSE_LEN);
    T_INTEQ(f.last_timeout_ms, 1500);
    struct jwtv_stats st;
    jwtv_get_stats(v, &st);
    T_INTEQ(st.keys_loaded, 4);
    T_INTEQ(st.jwks_fetch_ok, 1);

    char *payload = payload_now();
    struct {
        const char *alg, *kid;
        EVP_PKEY *key;
        const char *want;
    } cases[] = {
        {"RS256", "rsa-a", rsa_a, "ok"},
        {"ES256", "ec-a", ec_a, "ok"},
        {"ES384", "ec384-a", ec384_a, "ok"},
        {"RS512", "rsa-b", rsa_b, "ok"},
        {"PS256", "rsa-b", rsa_b, "ok"},
        /* The JWK's alg pins RS256. */
        {"PS256", "rsa-a", rsa_a, "algorithm does not match key"},
        {"RS384", "rsa-a", rsa_a, "algorithm does not match key"},
        /* The kid selects the key: a signature by another key fails. */
        {"RS256", "rsa-b", rsa_a, "bad signature"},
        {"ES256", "ec384-a", ec_a, "algorithm does not match key"},
        {"ES384", "ec-a", ec384_a, "algorithm does not match key"},
        /* No kid and no static key. */
        {"RS256", NULL, rsa_a, "missing key id"},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        char *tok = at_token(cases[i].alg, cases[i].kid, payload, cases[i].key, NULL, 0);
        struct auth_principal p;
        const char *reason = NULL;
        enum kg_err err = jwtv_verify(v, tok, strlen(tok), now_fn(), &p, &reason);
        const char *got = err == KG_OK ? "ok" : reason;
        if (strcmp(got, cases[i].want) != 0)
            t_fail(__FILE__, __LINE__, "%s kid=%s: got %s, want %s", cases[i].alg,
                   cases[i].kid ? cases[i].kid : "-", got, cases[i].want);
        if (err == KG_OK)
            T_STREQ(p.key_id, cases[i].kid);
        auth_principal_cleanup(&p);
        free(tok);
    }
    free(payload);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(j1);
    free(j2);
    free(j3);
    free(j4);
    free(doc);
}

static void test_hs256_naming_a_jwks_kid_is_refused_even_when_hmac_keyed_with_its_pem(void)
{
    keys_once();
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    struct at_fake_http f;
    at_fake_init(&f);
    char *j1 = at_jwk(rsa_a, "rsa-a", "");
    char *doc = jwks_doc(j1, NULL);
    at_fake_set(&f, 200, KG_OK, doc);
    struct jwtv *v = jwks_verifier(&f, secret, sizeof secret - 1);
    T_INTEQ(jwtv_start(v), KG_OK);
    char *payload = payload_now();
    char *pem = at_pubkey_pem(rsa_a);
    char *forged = at_token("HS256", "rsa-a", payload, NULL, (const unsigned char *)pem, strlen(pem));
    T_STREQ(verdict(v, forged), "algorithm does not match key");
    /* An HS256 token with an unknown kid is checked against the secret only. */
    char *forged2 = at_token("HS256", "nope", payload, NULL, (const unsigned char *)pem, strlen(pem));
    T_STREQ(verdict(v, forged2), "unknown key id");
    char *real = at_token("HS256", "whatever", payload, NULL, secret, sizeof secret - 1);
    T_STREQ(verdict(v, real), "ok");
    free(real);
    free(forged);
    free(forged2);
    free(pem);
    free(payload);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(j1);
    free(doc);
}

static void test_unknown_kid_triggers_one_rate_limited_refetch_without_blocking(void)
{
    keys_once();
    struct at_fake_http f;
    at_fake_init(&f);
    char *ja = at_jwk(rsa_a, "a", ""), *jb = at_jwk(rsa_b, "b", ""), *jc = at_jwk(ec_a, "c", "");
    char *doc_a = jwks_doc(ja, NULL), *doc_ab = jwks_doc(ja, jb, NULL),
         *doc_abc = jwks_doc(ja, jb, jc, NULL);
    at_fake_set(&f, 200, KG_OK, doc_a);
    struct jwtv *v = jwks_verifier(&f, NULL, 0);
    T_INTEQ(jwtv_start(v), KG_OK);
    T_INTEQ(at_fake_calls(&f), 1);
    char *payload = payload_now();
    char *tok_b = at_token("RS256", "b", payload, rsa_b, NULL, 0);
    char *tok_c = at_token("ES256", "c", payload, ec_a, NULL, 0);

    /* Published after our fetch, within min_refetch_s of it: no refetch yet. */
    at_fake_set(&f, 200, KG_OK, doc_ab);
    T_STREQ(verdict(v, tok_b), "unknown key id");
    sleep_ms(150);
    T_INTEQ(at_fake_calls(&f), 1);

    /* 30 s later the unknown kid asks for a fetch; the request itself does
     * not wait for it. */
    advance(30);
    T_STREQ(verdict(v, tok_b), "unknown key id");
    T_CHECK(wait_fetches(&f, v, 2));
    T_STREQ(verdict(v, tok_b), "ok");

    /* Many unknown kids inside the window make no more fetches. */
    at_fake_set(&f, 200, KG_OK, doc_abc);
    for (int i = 0; i < 200; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "random-%d", i);
        char *t = at_token("HS256", kid, payload, NULL, (const unsigned char *)"k", 1);
        T_STREQ(verdict(v, t), "unknown key id");
        free(t);
        t = at_token("RS256", kid, payload, rsa_a, NULL, 0);
        T_STREQ(verdict(v, t), "unknown key id");
        free(t);
    }
    T_STREQ(verdict(v, tok_c), "unknown key id");
    sleep_ms(150);
    T_INTEQ(at_fake_calls(&f), 2);
    advance(29);
    T_STREQ(verdict(v, tok_c), "unknown key id");
    sleep_ms(100);
    T_INTEQ(at_fake_calls(&f), 2);
    advance(1);
    T_STREQ(verdict(v, tok_c), "unknown key id");
    T_CHECK(wait_fetches(&f, v, 3));
    T_STREQ(verdict(v, tok_c), "ok");
    T_INTEQ(at_fake_calls(&f), 3);

    free(tok_b);
    free(tok_c);
    free(payload);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(ja);
    free(jb);
    free(jc);
    free(doc_a);
    free(doc_ab);
    free(doc_abc);
}

static void test_rotation_drops_old_keys_after_the_next_successful_fetch(void)
{
    keys_once();
    struct at_fake_http f;
    at_fake_init(&f);
    char *ja = at_jwk(rsa_a, "2024-a", ""), *jb = at_jwk(rsa_b, "2024-b", "");
    char *doc_a = jwks_doc(ja, NULL), *doc_ab = jwks_doc(ja, jb, NULL), *doc_b = jwks_doc(jb, NULL);
    at_fake_set(&f, 200, KG_OK, doc_a);
    struct jwtv *v = jwks_verifier(&f, NULL, 0);
    T_INTEQ(jwtv_start(v), KG_OK);
    char *payload = payload_now();
    char *tok_a = at_token("RS256", "2024-a", payload, rsa_a, NULL, 0);
    char *tok_b = at_token("RS256", "2024-b", payload, rsa_b, NULL, 0);

    struct auth_principal kept;
    const char *reason;
    T_INTEQ(jwtv_verify(v, tok_a, strlen(tok_a), now_fn(), &kept, &reason), KG_OK);

    /* The identity provider adds b, then retires a; we see each change at the
     * next periodic refresh (refresh_s = 600), with no request involved. */
    at_fake_set(&f, 200, KG_OK, doc_ab);
    advance(600);
    T_CHECK(wait_fetches(&f, v, 2));
    T_STREQ(verdict(v, tok_a), "ok");
    T_STREQ(verdict(v, tok_b), "ok");
    at_fake_set(&f, 200, KG_OK, doc_b);
    advance(599);
    sleep_ms(100);
    T_INTEQ(at_fake_calls(&f), 2);
    advance(1);
    T_CHECK(wait_fetches(&f, v, 3));
    T_STREQ(verdict(v, tok_a), "unknown key id");
    T_STREQ(verdict(v, tok_b), "ok");
    struct jwtv_stats st;
    jwtv_get_stats(v, &st);
    T_INTEQ(st.keys_loaded, 1);
    /* A principal verified by a retired key keeps a valid key_id. */
    T_STREQ(kept.key_id, "2024-a");
    auth_principal_cleanup(&kept);

    free(tok_a);
    free(tok_b);
    free(payload);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(ja);
    free(jb);
    free(doc_a);
    free(doc_ab);
    free(doc_b);
}

/* The verified-token cache remembers a token for at most its TTL (60 s): a key
 * the identity provider removes stops verifying its cached tokens by then. */
static void test_a_removed_key_stops_verifying_cached_tokens_within_the_cache_ttl(void)
{
    keys_once();
    struct at_fake_http f;
    at_fake_init(&f);
    char *ja = at_jwk(rsa_a, "2025-a", ""), *jb = at_jwk(rsa_b, "2025-b", "");
    char *doc_a = jwks_doc(ja, NULL), *doc_b = jwks_doc(jb, NULL);
    at_fake_set(&f, 200, KG_OK, doc_a);
    struct jwtv_options o = {0};
    o.jwks_url = URL;
    o.http = &f.client;
    o.jwks_refresh_s = 30;
    o.jwks_min_refetch_s = 30;
    o.jwks_timeout_ms = 1500;
    o.leeway_s = 60;
    o.now_fn = now_fn;
    struct jwtv *v = NULL;
    char why[256];
    T_INTEQ(jwtv_new(&o, &v, why, sizeof why), KG_OK);
    T_INTEQ(jwtv_start(v), KG_OK);
    char *payload = payload_now();
    char *tok_a = at_token("RS256", "2025-a", payload, rsa_a, NULL, 0);
    T_STREQ(verdict(v, tok_a), "ok"); /* verified in full, remembered */

    at_fake_set(&f, 200, KG_OK, doc_b);
    advance(30);
    T_CHECK(wait_fetches(&f, v, 2)); /* 2025-a is gone from the key set */
    T_STREQ(verdict(v, tok_a), "ok"); /* still answered from the cache... */
    advance(30);
    T_CHECK(wait_fetches(&f, v, 3));
    T_STREQ(verdict(v, tok_a), "unknown key id"); /* ...for 60 s at most */
    struct jwtv_stats st;
    jwtv_get_stats(v, &st);
    T_INTEQ(st.token_cache_hits, 1);

    free(tok_a);
    free(payload);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(ja);
    free(jb);
    free(doc_a);
    free(doc_b);
}

static void test_failed_fetches_keep_the_old_keys_and_are_counted_by_outcome(void)
{
    keys_once();
    struct kg_metric *m = kg_metric_counter("kvsgate_jwks_refreshes_total", "", "issuer,outcome");
    struct kg_metric *g = kg_metric_gauge("kvsgate_jwks_keys_loaded", "", "issuer");
    const char *outcomes[] = {"ok", "network_error", "http_error", "invalid"};
    double before[4];
    for (int i = 0; i < 4; i++)
        before[i] = kg_metric_value(m, (const char *[]){"default", outcomes[i]});

    struct at_fake_http f;
    at_fake_init(&f);
    char *ja = at_jwk(rsa_a, "a", ""), *jb = at_jwk(rsa_b, "b", "");
    EVP_PKEY *small = at_rsa(1024);
    char *jsmall = at_jwk(small, "small", "");
    char *doc_a = jwks_doc(ja, NULL), *doc_b = jwks_doc(jb, NULL), *doc_small = jwks_doc(jsmall, NULL);
    at_fake_set(&f, 200, KG_OK, doc_a);
    struct jwtv *v = jwks_verifier(&f, NULL, 0);
    T_INTEQ(jwtv_start(v), KG_OK);
    T_INTEQ(kg_metric_value(g, (const char *[]){"default"}), 1);
    char *payload = payload_now();
    char *tok_a = at_token("RS256", "a", payload, rsa_a, NULL, 0);
    char *tok_b = at_token("RS256", "b", payload, rsa_b, NULL, 0);

    char *huge = kg_malloc(JWKS_MAX_RESPONSE_LEN + 2);
    memset(huge, ' ', JWKS_MAX_RESPONSE_LEN + 1);
    huge[JWKS_MAX_RESPONSE_LEN + 1] = '\0';
    struct {
        long status;
        enum kg_err err;
        const char *body;
    } failures[] = {
        {500, KG_OK, "{\"keys\":[]}"},
        {404, KG_OK, doc_b}, /* a good body with a bad status is not used */
        {0, KG_ERR_UPSTREAM_UNAVAILABLE, ""},
        {0, KG_ERR_UPSTREAM_TIMEOUT, ""},
        {200, KG_OK, "<html>not json</html>"},
        {200, KG_OK, "{\"keys\":[]}"},
        {200, KG_OK, "{\"keys\":{}}"},
        {200, KG_OK, "[]"},
        {200, KG_OK, doc_small},
        {200, KG_OK, huge},
    };
    int calls = 1;
    for (size_t i = 0; i < T_COUNT(failures); i++) {
        at_fake_set(&f, failures[i].status, failures[i].err, failures[i].body);
        advance(i == 0 ? 600 : 30); /* after a failure: retried after min_refetch_s */
        calls++;
        if (!wait_fetches(&f, v, calls))
            t_fail(__FILE__, __LINE__, "failure case %zu: no fetch", i);
        if (strcmp(verdict(v, tok_a), "ok") != 0)
            t_fail(__FILE__, __LINE__, "failure case %zu dropped the old keys", i);
        T_CHECK(jwtv_ready(v));
    }
    struct jwtv_stats st;
    jwtv_get_stats(v, &st);
    T_INTEQ(st.jwks_fetch_ok, 1);
    T_INTEQ(st.jwks_fetch_failed, T_COUNT(failures));
    T_INTEQ(st.keys_loaded, 1);
    T_STREQ(verdict(v, tok_b), "unknown key id");

    /* Recovery replaces the set. */
    at_fake_set(&f, 200, KG_OK, doc_b);
    advance(30);
    T_CHECK(wait_fetches(&f, v, calls + 1));
    T_STREQ(verdict(v, tok_b), "ok");
    T_STREQ(verdict(v, tok_a), "unknown key id");

    double want[4] = {2, 2, 2, 6}; /* ok; unavailable+timeout; 500+404; the rest */
    for (int i = 0; i < 4; i++) {
        double got = kg_metric_value(m, (const char *[]){"default", outcomes[i]}) - before[i];
        if (got != want[i])
            t_fail(__FILE__, __LINE__, "outcome %s: %.0f, want %.0f", outcomes[i], got, want[i]);
    }

    free(huge);
    free(tok_a);
    free(tok_b);
    free(payload);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(ja);
    free(jb);
    free(jsmall);
    free(doc_a);
    free(doc_b);
    free(doc_small);
    EVP_PKEY_free(small);
}

static void test_a_failed_first_fetch_is_retried_and_readiness_follows(void)
{
    keys_once();
    struct at_fake_http f;
    at_fake_init(&f);
    at_fake_set(&f, 0, KG_ERR_UPSTREAM_UNAVAILABLE, "");
    struct jwtv *v = jwks_verifier(&f, NULL, 0);
    T_INTEQ(jwtv_start(v), KG_OK);
    T_CHECK(!jwtv_ready(v));
    char *ja = at_jwk(ec_a, "a", "");
    char *doc = jwks_doc(ja, NULL);
    at_fake_set(&f, 200, KG_OK, doc);
    sleep_ms(100);
    T_INTEQ(at_fake_calls(&f), 1);
    T_CHECK(!jwtv_ready(v));
    advance(30);
    T_CHECK(wait_fetches(&f, v, 2));
    T_CHECK(jwtv_ready(v));
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(ja);
    free(doc);
}

/* ---- JWK parsing ------------------------------------------------------------------- */

static char *interned[256];
static size_t interned_count;
static const char *test_intern(void *arg, const char *kid)
{
    (void)arg;
    for (size_t i = 0; i < interned_count; i++)
        if (strcmp(interned[i], kid) == 0)
            return interned[i];
    if (interned_count == 256)
        return NULL;
    interned[interned_count] = kg_strdup(kid);
    return interned[interned_count++];
}

static size_t parsed_count(const char *doc, const char **why)
{
    struct auth_keyset *set = NULL;
    *why = NULL;
    if (jwks_parse(doc, strlen(doc), test_intern, NULL, &set, why) != KG_OK)
        return 0;
    size_t n = set->count;
    auth_keyset_release(set);
    return n;
}

/* Replaces the value of member name (a string) in a JWK text. */
static char *jwk_with(const char *jwk, const char *name, const char *value)
{
    json_error_t e;
    json_t *j = json_loads(jwk, 0, &e);
    json_object_set_new(j, name, json_string(value));
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out;
}

static char *jwk_without(const char *jwk, const char *name)
{
    json_error_t e;
    json_t *j = json_loads(jwk, 0, &e);
    json_object_del(j, name);
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out;
}

static void test_bad_jwks_are_skipped_one_by_one(void)
{
    keys_once();
    EVP_PKEY *small = at_rsa(1024), *p521 = at_ec("P-521");
    char *good = at_jwk(rsa_a, "good", "");
    char *ec = at_jwk(ec_a, "ec", "");
    char *ec384 = at_jwk(ec384_a, "ec384", "");
    /* An EC point off the curve: y of another key. */
    EVP_PKEY *other_key = at_ec("P-256");
    char *other_ec = at_jwk(other_key, "x", "");
    EVP_PKEY_free(other_key);
    json_error_t e;
    json_t *oj = json_loads(other_ec, 0, &e);
    char *off_curve = jwk_with(ec, "y", json_string_value(json_object_get(oj, "y")));
    json_decref(oj);
    /* y one byte short. */
    json_t *ej = json_loads(ec, 0, &e);
    char yshort[64];
    snprintf(yshort, sizeof yshort, "%.42s", json_string_value(json_object_get(ej, "y")));
    json_decref(ej);
    char *y_short = jwk_with(ec, "y", yshort);

    char *p521_plain = at_jwk(p521, "p521", "");
    struct {
        const char *name;
        char *jwk;
    } bad[] = {
        {"RSA 1024 bits", at_jwk(small, "small", "")},
        {"P-521 with alg ES384", jwk_with(p521_plain, "alg", "ES384")},
        {"point not on the curve", off_curve},
        {"y too short", y_short},
        {"crv P-384 with P-256 coordinates", jwk_with(ec, "crv", "P-384")},
        {"crv secp256k1", jwk_with(ec, "crv", "secp256k1")},
        {"kty oct", kg_strdup("{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"}")},
        {"kty OKP Ed448", kg_strdup("{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed448\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}")},
        {"kty OKP x of 31 bytes", kg_strdup("{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUQ\"}")},
        {"alg EdDSA on an RSA key", jwk_with(good, "alg", "EdDSA")},
        {"kty lowercase", jwk_with(good, "kty", "rsa")},
        {"kty missing", jwk_without(good, "kty")},
        {"use enc", jwk_with(good, "use", "enc")},
        {"alg RS256 on an EC key", jwk_with(ec, "alg", "RS256")},
        {"alg HS256 on an RSA key", jwk_with(good, "alg", "HS256")},
        {"alg ES384 on a P-256 key", jwk_with(ec, "alg", "ES384")},
        {"alg ES256 on a P-384 key", jwk_with(ec384, "alg", "ES256")},
        {"alg PS384 on an EC key", jwk_with(ec, "alg", "PS384")},
        {"alg RSA-OAEP", jwk_with(good, "alg", "RSA-OAEP")},
        {"alg none", jwk_with(good, "alg", "none")},
        {"private RSA (d)", jwk_with(good, "d", "AQAB")},
        {"private EC (d)", jwk_with(ec, "d", "AQAB")},
        {"no kid", jwk_without(good, "kid")},
        {"empty kid", jwk_with(good, "kid", "")},
        {"n not base64url", jwk_with(good, "n", "###")},
        {"n padded", jwk_with(good, "n", "AQAB==")},
        {"e missing", jwk_without(good, "e")},
        {"e = 1", jwk_with(good, "e", "AQ")},
        {"e even", jwk_with(good, "e", "AQAA")},
        {"key_ops without verify", kg_strdup("{\"kty\":\"RSA\",\"kid\":\"k\",\"key_ops\":[\"encrypt\"]}")},
        {"not an object", kg_strdup("\"RSA\"")},
    };
    const char *why;
    T_INTEQ(parsed_count(good, &why) ? 0 : 1, 1); /* a bare JWK is not a JWKS */
    char *doc = jwks_doc(good, ec, ec384, NULL);
    T_INTEQ(parsed_count(doc, &why), 3);
    free(doc);
    /* P-521 (ES512) and Ed25519 (EdDSA, RFC 8037) load too. */
    char *p521_jwk = at_jwk(p521, "p521", "");
    char *ed = kg_strdup("{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
    doc = jwks_doc(p521_jwk, ed, NULL);
    T_INTEQ(parsed_count(doc, &why), 2);
    free(doc);
    free(p521_jwk);
    free(ed);
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        doc = jwks_doc(bad[i].jwk, NULL);
        size_t n = parsed_count(doc, &why);
        if (n != 0)
            t_fail(__FILE__, __LINE__, "%s: loaded", bad[i].name);
        else if (!why || strcmp(why, "no usable key") != 0)
            t_fail(__FILE__, __LINE__, "%s: why %s", bad[i].name, why ? why : "NULL");
        free(doc);
        /* Next to a good key, only the good key loads. */
        doc = jwks_doc(bad[i].jwk, good, NULL);
        if (parsed_count(doc, &why) != 1)
            t_fail(__FILE__, __LINE__, "%s: good key not loaded alone", bad[i].name);
        free(doc);
        free(bad[i].jwk);
    }
    free(p521_plain);
    /* A duplicate kid: the first wins. */
    char *dup = at_jwk(rsa_b, "good", "");
    doc = jwks_doc(good, dup, NULL);
    T_INTEQ(parsed_count(doc, &why), 1);
    free(doc);
    free(dup);
    /* Documents that are not JWKS. */
    const char *not_jwks[] = {"", "{}", "{\"keys\":{}}", "{\"keys\":[],\"keys\":[]}", "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
                              "{\"keys\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}", "{\"keys\":[]} trailing"};
    for (size_t i = 0; i < T_COUNT(not_jwks); i++)
        if (parsed_count(not_jwks[i], &why) != 0 || !why)
            t_fail(__FILE__, __LINE__, "accepted: %s", not_jwks[i]);
    /* More than 64 usable keys: the first 64 load. */
    struct kg_buf b;
    kg_buf_init(&b, 1 << 20);
    T_INTEQ(kg_buf_append_str(&b, "{\"keys\":["), KG_OK);
    for (int i = 0; i < 70; i++) {
        char kid[16];
        snprintf(kid, sizeof kid, "k%d", i);
        char *j = jwk_with(ec, "kid", kid);
        T_INTEQ(kg_buf_appendf(&b, "%s%s", i ? "," : "", j), KG_OK);
        free(j);
    }
    T_INTEQ(kg_buf_append_str(&b, "]}"), KG_OK);
    T_INTEQ(parsed_count(b.data, &why), JWKS_MAX_KEYS);
    kg_buf_free(&b);

    free(good);
    free(ec);
    free(ec384);
    free(other_ec);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p521);
    for (size_t i = 0; i < interned_count; i++)
        free(interned[i]);
    interned_count = 0;
}

/* ---- threads ----------------------------------------------------------------------- */

struct rot_arg {
    struct jwtv *v;
    const char *tok;
    int stop;
    int failures;
    int done;
};

static void *verify_while_rotating(void *p)
{
    struct rot_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_SEQ_CST)) {
        struct auth_principal pr;
        const char *reason;
        if (jwtv_verify(a->v, a->tok, strlen(a->tok), T0, &pr, &reason) != KG_OK)
            __atomic_add_fetch(&a->failures, 1, __ATOMIC_RELAXED);
        else if (strcmp(pr.key_id, "stable") != 0)
            __atomic_add_fetch(&a->failures, 1, __ATOMIC_RELAXED);
        auth_principal_cleanup(&pr);
        __atomic_add_fetch(&a->done, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_threads_verify_while_the_key_set_is_replaced(void)
{
    keys_once();
    struct at_fake_http f;
    at_fake_init(&f);
    char *stable = at_jwk(ec_a, "stable", ""), *x1 = at_jwk(rsa_a, "x1", ""), *x2 = at_jwk(rsa_b, "x2", "");
    char *doc1 = jwks_doc(stable, x1, NULL), *doc2 = jwks_doc(x2, stable, NULL);
    at_fake_set(&f, 200, KG_OK, doc1);
    struct jwtv *v = jwks_verifier(&f, NULL, 0);
    T_INTEQ(jwtv_start(v), KG_OK);
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"t\",\"exp\":%lld,\"kvs\":{}}", T0 + 1000000);
    char *tok = at_token("ES256", "stable", payload, ec_a, NULL, 0);
    struct rot_arg a = {.v = v, .tok = tok};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, verify_while_rotating, &a);
    for (int round = 0; round < 20; round++) {
        at_fake_set(&f, 200, KG_OK, round % 2 ? doc1 : doc2);
        advance(600);
        if (!wait_fetches(&f, v, round + 2))
            t_fail(__FILE__, __LINE__, "round %d: no fetch", round);
    }
    __atomic_store_n(&a.stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    T_INTEQ(a.failures, 0);
    T_CHECK(a.done > 0);
    free(tok);
    jwtv_free(v);
    at_fake_cleanup(&f);
    free(stable);
    free(x1);
    free(x2);
    free(doc1);
    free(doc2);
}

static void test_jwks_url_must_be_https_except_to_localhost(void)
{
    struct at_fake_http f;
    at_fake_init(&f);
    const char *ok[] = {"https://idp.example/jwks", "http://127.0.0.1:8080/jwks", "http://localhost/jwks",
                        "http://[::1]:9/jwks", "http://localhost"};
    const char *bad[] = {"http://idp.example/jwks", "http://localhost.evil/jwks", "http://127.0.0.1.evil/x",
                         "ftp://idp.example/jwks", "https://", "file:///etc/jwks.json", ""};
    for (size_t i = 0; i < T_COUNT(ok) + T_COUNT(bad); i++) {
        int good = i < T_COUNT(ok);
        struct jwtv_options o = {.http = &f.client, .leeway_s = 60, .now_fn = now_fn};
        o.jwks_url = good ? ok[i] : bad[i - T_COUNT(ok)];
        struct jwtv *v = NULL;
        enum kg_err err = jwtv_new(&o, &v, NULL, 0);
        if ((err == KG_OK) != good)
            t_fail(__FILE__, __LINE__, "%s: %s", o.jwks_url, kg_err_name(err));
        jwtv_free(v);
    }
    at_fake_cleanup(&f);
}

static void cleanup_keys(void)
{
    EVP_PKEY_free(rsa_a);
    EVP_PKEY_free(rsa_b);
    EVP_PKEY_free(ec_a);
    EVP_PKEY_free(ec384_a);
}

static const struct t_case cases[] = {
    T_CASE(test_jwks_keys_verify_by_kid_and_are_fetched_with_timeout_and_size_cap),
    T_CASE(test_hs256_naming_a_jwks_kid_is_refused_even_when_hmac_keyed_with_its_pem),
    T_CASE(test_unknown_kid_triggers_one_rate_limited_refetch_without_blocking),
    T_CASE(test_rotation_drops_old_keys_after_the_next_successful_fetch),
    T_CASE(test_a_removed_key_stops_verifying_cached_tokens_within_the_cache_ttl),
    T_CASE(test_failed_fetches_keep_the_old_keys_and_are_counted_by_outcome),
    T_CASE(test_a_failed_first_fetch_is_retried_and_readiness_follows),
    T_CASE(test_bad_jwks_are_skipped_one_by_one),
    T_CASE(test_threads_verify_while_the_key_set_is_replaced),
    T_CASE(test_jwks_url_must_be_https_except_to_localhost),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    int rc = t_main(cases, T_COUNT(cases), argc, argv);
    cleanup_keys();
    return rc;
}
