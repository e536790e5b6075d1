/* auth/token_cache (the verified-token cache) on its own and inside the
 * verifier: what gets in (only tokens the strict verifier accepted), how long
 * an entry answers (the token's exp and the TTL, pinned clock), a token that
 * differs in one byte, the size bound and its eviction order, metrics, and
 * threads hammering one small cache. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "auth/jwt.h"
#include "authtest.h"
#include "core/log.h"
#include "core/metrics.h"
#include "testlib.h"

#define NOW 1700000000LL

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef-hs256";
#define SECRET_LEN (sizeof secret - 1)

/* A principal as claims_check makes it: sub, grants, exp. */
static struct auth_principal principal(const char *sub, int64_t exp)
{
    struct auth_principal p;
    memset(&p, 0, sizeof p);
    p.sub = kg_strdup(sub);
    snprintf(p.client_id, sizeof p.client_id, "%s", sub);
    p.grants.counts[AUTHZ_PERM_VIEWER] = 1;
    p.grants.patterns[AUTHZ_PERM_VIEWER] = kg_calloc(1, sizeof(char *));
    p.grants.patterns[AUTHZ_PERM_VIEWER][0] = kg_strdup("cam-*");
    p.expires_at_s = exp;
    p.alg = "HS256";
    p.key_id = "";
    return p;
}

/* A digest whose first 8 bytes (the set index) are `set` and whose last byte is `id`. */
static void digest_in_set(unsigned char d[32], uint64_t set, unsigned id)
{
    memset(d, 0xa5, 32);
    memcpy(d, &set, sizeof set);
    d[31] = (unsigned char)id;
}

static int has(struct tokcache *c, const unsigned char *d, int64_t now)
{
    struct auth_principal out;
    if (!tokcache_get(c, d, now, &out))
        return 0;
    auth_principal_cleanup(&out);
    return 1;
}

static void test_a_stored_principal_comes_back_as_a_deep_copy(void)
{
    struct tokcache *c = tokcache_new(64, 60);
    unsigned char d[32];
    tokcache_digest(1, "a.b.c", 5, d);
    struct auth_principal p = principal("alice", NOW + 3600);
    struct auth_principal out;
    T_CHECK(!tokcache_get(c, d, NOW, &out)); /* nothing yet */
    tokcache_put(c, d, NOW, &p);
    auth_principal_cleanup(&p); /* the cache holds its own copy */
    memset(&out, 0, sizeof out);
    T_CHECK(tokcache_get(c, d, NOW + 1, &out));
    T_STREQ(out.sub, "alice");
    T_STREQ(out.client_id, "alice");
    T_INTEQ(out.grants.counts[AUTHZ_PERM_VIEWER], 1);
    T_STREQ(out.grants.patterns[AUTHZ_PERM_VIEWER][0], "cam-*");
    T_INTEQ(out.expires_at_s, NOW + 3600);
    T_STREQ(out.alg, "HS256");
    /* Changing the copy changes nothing in the cache. */
    out.sub[0] = 'X';
    struct auth_principal again;
    T_CHECK(tokcache_get(c, d, NOW + 2, &again));
    T_STREQ(again.sub, "alice");
    auth_principal_cleanup(&again);
    auth_principal_cleanup(&out);
    struct tokcache_stats st;
    tokcache_stats(c, &st);
    T_INTEQ(st.hits, 2);
    T_INTEQ(st.misses, 1);
    T_INTEQ(st.entries, 1);
    tokcache_free(c);
}

/* The copy is one block: every list and string of every permission, the
 * fixed fields, a copy of a copy, and lists left empty, all exactly the
 * original's (ASan sees any write past the block). */
static void test_a_copy_keeps_every_list_and_string_in_one_block(void)
{
    struct auth_principal p;
    memset(&p, 0, sizeof p);
    p.sub = kg_strdup("sub with \"quotes\" and {braces}");
    p.issuer = kg_strdup("corp");
    snprintf(p.client_id, sizeof p.client_id, "%s", "cid");
    memset(p.owner_id, 'o', AUTH_OWNER_ID_MAX); /* full length */
    static const char *const pats[][3] = {{"m-1", "m-2*", ""}, {"v*", NULL, NULL}, {NULL}};
    static const size_t counts[AUTHZ_PERM_COUNT] = {3, 1, 0};
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        p.grants.counts[perm] = counts[perm];
        p.grants.patterns[perm] = counts[perm] ? kg_calloc(counts[perm], sizeof(char *)) : NULL;
        for (size_t i = 0; i < counts[perm]; i++)
            p.grants.patterns[perm][i] = kg_strdup(pats[perm][i]);
    }
    p.grants.any_client_id = 1;
    p.expires_at_s = NOW;
    p.alg = "ES256";
    struct auth_principal a, b;
    auth_principal_copy(&a, &p);
    auth_principal_cleanup(&p);
    auth_principal_copy(&b, &a);
    auth_principal_cleanup(&a);
    T_CHECK(b.block != NULL);
    T_STREQ(b.sub, "sub with \"quotes\" and {braces}");
    T_STREQ(b.issuer, "corp");
    T_STREQ(b.client_id, "cid");
    T_INTEQ(strlen(b.owner_id), AUTH_OWNER_ID_MAX);
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        T_INTEQ(b.grants.counts[perm], counts[perm]);
        T_CHECK((b.grants.patterns[perm] == NULL) == (counts[perm] == 0));
        for (size_t i = 0; i < counts[perm]; i++)
            T_STREQ(b.grants.patterns[perm][i], pats[perm][i]);
    }
    T_CHECK(b.grants.any_client_id && !b.grants.manage_any);
    T_INTEQ(b.expires_at_s, NOW);
    T_STREQ(b.alg, "ES256");
    auth_principal_cleanup(&b);
    T_CHECK(b.block == NULL && b.sub == NULL);
}

static void test_an_entry_answers_until_exp_or_the_ttl_whichever_is_first(void)
{
    struct tokcache *c = tokcache_new(64, 60);
    unsigned char long_lived[32], short_lived[32];
    tokcache_digest(1, "long", 4, long_lived);
    tokcache_digest(1, "short", 5, short_lived);
    struct auth_principal a = principal("a", NOW + 3600), b = principal("b", NOW + 10);
    tokcache_put(c, long_lived, NOW, &a);
    tokcache_put(c, short_lived, NOW, &b);
    /* The TTL bounds the long-lived token... */
    T_CHECK(has(c, long_lived, NOW + 59));
    T_CHECK(!has(c, long_lived, NOW + 60));
    /* ...and exp (without leeway) the short one. */
    T_CHECK(has(c, short_lived, NOW + 9));
    T_CHECK(!has(c, short_lived, NOW + 10));
    struct tokcache_stats st;
    tokcache_stats(c, &st);
    T_INTEQ(st.entries, 0); /* both were dropped when found dead */
    /* A clock that steps back before the store time misses (nbf/iat were checked then). */
    tokcache_put(c, long_lived, NOW + 100, &a);
    T_CHECK(!has(c, long_lived, NOW + 99));
    T_CHECK(has(c, long_lived, NOW + 100));
    /* A token already past exp is not stored. */
    unsigned char dead[32];
    tokcache_digest(1, "dead", 4, dead);
    struct auth_principal e = principal("e", NOW);
    tokcache_put(c, dead, NOW, &e);
    T_CHECK(!has(c, dead, NOW));
    auth_principal_cleanup(&a);
    auth_principal_cleanup(&b);
    auth_principal_cleanup(&e);
    tokcache_free(c);
}

static void test_a_digest_differing_in_one_byte_misses(void)
{
    struct tokcache *c = tokcache_new(64, 60);
    const char *tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
    unsigned char d[32], d2[32];
    tokcache_digest(1, tok, strlen(tok), d);
    struct auth_principal p = principal("a", NOW + 3600);
    tokcache_put(c, d, NOW, &p);
    auth_principal_cleanup(&p);
    char *copy = kg_strdup(tok);
    for (size_t i = 0; i < strlen(tok); i++) {
        copy[i] ^= 1;
        tokcache_digest(1, copy, strlen(copy), d2);
        if (has(c, d2, NOW))
            t_fail(__FILE__, __LINE__, "a token differing at byte %zu hit", i);
        copy[i] ^= 1;
    }
    /* A longer or shorter spelling is another key too. */
    tokcache_digest(1, tok, strlen(tok) - 1, d2);
    T_CHECK(!has(c, d2, NOW));
    /* and the same token under another policy generation */
    tokcache_digest(2, tok, strlen(tok), d2);
    T_CHECK(!has(c, d2, NOW));
    /* the digest is SHA-256 of the big-endian generation, then the token */
    unsigned char joined[8 + 64], want[32];
    memset(joined, 0, 8);
    joined[7] = 1;
    memcpy(joined + 8, tok, strlen(tok));
    unsigned int wl = 0;
    T_CHECK(EVP_Digest(joined, 8 + strlen(tok), want, &wl, EVP_sha256(), NULL) == 1);
    T_CHECK(memcmp(d, want, 32) == 0);
    T_CHECK(has(c, d, NOW));
    free(copy);
    tokcache_free(c);
}

static void test_the_size_is_bounded_and_the_least_recently_used_goes(void)
{
    struct tokcache *c = tokcache_new(16, 60); /* 2 sets of 8 */
    T_INTEQ(tokcache_capacity(c), 16);
    struct auth_principal p = principal("p", NOW + 3600);
    double evictions0 = kg_metric_value(kg_metric_counter("kvsgate_jwt_cache_evictions_total", "", ""), NULL);
    /* Fill set 0 with ids 0..7, touch id 0, then store id 8: id 1 goes. */
    unsigned char d[32];
    for (unsigned id = 0; id < 8; id++) {
        digest_in_set(d, 0, id);
        tokcache_put(c, d, NOW, &p);
    }
    digest_in_set(d, 0, 0);
    T_CHECK(has(c, d, NOW));
    digest_in_set(d, 0, 8);
    tokcache_put(c, d, NOW, &p);
    digest_in_set(d, 0, 1);
    T_CHECK(!has(c, d, NOW));
    for (unsigned id = 0; id <= 8; id++) {
        if (id == 1)
            continue;
        digest_in_set(d, 0, id);
        if (!has(c, d, NOW))
            t_fail(__FILE__, __LINE__, "id %u was evicted", id);
    }
    /* An expired entry makes room before a live one is evicted. */
    struct auth_principal brief = principal("brief", NOW + 5);
    unsigned char b[32];
    digest_in_set(b, 1, 0);
    tokcache_put(c, b, NOW, &brief);
    for (unsigned id = 1; id < 8; id++) {
        digest_in_set(d, 1, id);
        tokcache_put(c, d, NOW, &p);
    }
    digest_in_set(d, 1, 99);
    tokcache_put(c, d, NOW + 6, &p); /* `brief` is dead by now */
    for (unsigned id = 1; id < 8; id++) {
        digest_in_set(d, 1, id);
        if (!has(c, d, NOW + 6))
            t_fail(__FILE__, __LINE__, "live id %u was evicted instead of the dead entry", id);
    }
    struct tokcache_stats st;
    tokcache_stats(c, &st);
    T_INTEQ(st.evictions, 1);
    T_INTEQ(st.entries, 16);
    T_INTEQ(kg_metric_value(kg_metric_counter("kvsgate_jwt_cache_evictions_total", "", ""), NULL) -
                evictions0,
            1);
    /* Thousands of distinct tokens never grow it past the bound. */
    for (unsigned i = 0; i < 5000; i++) {
        char tok[32];
        snprintf(tok, sizeof tok, "t%u", i);
        tokcache_digest(1, tok, strlen(tok), d);
        tokcache_put(c, d, NOW, &p);
    }
    tokcache_stats(c, &st);
    T_INTEQ(st.entries, 16);
    auth_principal_cleanup(&p);
    auth_principal_cleanup(&brief);
    tokcache_free(c);
}

/* ---- inside the verifier ------------------------------------------------------- */

static struct jwtv *hs256_verifier(int64_t leeway_s, int64_t cache_ttl_s)
{
    struct jwtv_options o = {0};
    o.hs256_secret = secret;
    o.hs256_secret_len = SECRET_LEN;
    o.leeway_s = leeway_s;
    o.token_cache_ttl_s = cache_ttl_s;
    o.audience = "kvsgate";
    struct jwtv *v = NULL;
    char why[256];
    if (jwtv_new(&o, &v, why, sizeof why) != KG_OK)
        t_fail(__FILE__, __LINE__, "jwtv_new: %s", why);
    return v;
}

static char *hs256_token(int64_t exp, const char *aud)
{
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"alice\",\"aud\":\"%s\",\"exp\":%lld,\"kvs\":{\"viewer\":[\"cam-*\"]}}", aud,
             (long long)exp);
    return at_token("HS256", NULL, payload, NULL, secret, SECRET_LEN);
}

static const char *verdict(struct jwtv *v, const char *tok, int64_t now)
{
    struct auth_principal p;
    const char *reason = NULL;
    enum kg_err err = jwtv_verify(v, tok, strlen(tok), now, &p, &reason);
    if (err == KG_OK) {
        if (!p.sub || strcmp(p.sub, "alice") != 0 || p.grants.counts[AUTHZ_PERM_VIEWER] != 1)
            t_fail(__FILE__, __LINE__, "accepted with a wrong principal");
        auth_principal_cleanup(&p);
        return "ok";
    }
    return reason ? reason : "NULL";
}

static struct jwtv_stats stats(struct jwtv *v)
{
    struct jwtv_stats s;
    jwtv_get_stats(v, &s);
    return s;
}

static void test_the_verifier_skips_the_checks_for_a_token_it_accepted(void)
{
    struct jwtv *v = hs256_verifier(60, 0);
    char *tok = hs256_token(NOW + 3600, "kvsgate");
    struct kg_metric *m = kg_metric_counter("kvsgate_jwt_cache_requests_total", "", "result");
    double hits0 = kg_metric_value(m, (const char *[]){"hit"});
    T_STREQ(verdict(v, tok, NOW), "ok");
    T_INTEQ(stats(v).token_cache_misses, 1);
    T_INTEQ(stats(v).token_cache_entries, 1);
    for (int i = 0; i < 5; i++)
        T_STREQ(verdict(v, tok, NOW + i), "ok");
    T_INTEQ(stats(v).token_cache_hits, 5);
    T_INTEQ(kg_metric_value(m, (const char *[]){"hit"}) - hits0, 5);
    free(tok);
    jwtv_free(v);
}

static void test_a_token_differing_in_one_byte_from_a_cached_one_is_verified_in_full(void)
{
    struct jwtv *v = hs256_verifier(60, 0);
    char *tok = hs256_token(NOW + 3600, "kvsgate");
    T_STREQ(verdict(v, tok, NOW), "ok");
    size_t n = strlen(tok);
    char *last_dot = strrchr(tok, '.');
    /* Every single-byte change of the signature, and a few of header and
     * payload, is refused although the original sits in the cache. */
    char *bad = kg_strdup(tok);
    for (size_t i = (size_t)(last_dot - tok) + 1; i < n; i++) {
        char was = bad[i];
        bad[i] = was == 'A' ? 'B' : 'A';
        if (strcmp(verdict(v, bad, NOW), "ok") == 0)
            t_fail(__FILE__, __LINE__, "signature byte %zu changed and still accepted", i);
        bad[i] = was;
    }
    bad[3] ^= 0x01;
    T_CHECK(strcmp(verdict(v, bad, NOW), "ok") != 0);
    bad[3] ^= 0x01;
    /* libjwt's decoder skips junk in a signature; ours does not, cached or not. */
    char junk[2048];
    snprintf(junk, sizeof junk, "%.*s$$%s", (int)(last_dot - tok + 5), tok, last_dot + 5);
    T_STREQ(verdict(v, junk, NOW), "malformed token");
    snprintf(junk, sizeof junk, "%s=", tok);
    T_STREQ(verdict(v, junk, NOW), "malformed token");
    T_INTEQ(stats(v).token_cache_entries, 1); /* only the good token is in */
    T_STREQ(verdict(v, tok, NOW), "ok");
    free(bad);
    free(tok);
    jwtv_free(v);
}

static void test_refused_tokens_never_get_in(void)
{
    struct jwtv *v = hs256_verifier(60, 0);
    char *wrong_aud = hs256_token(NOW + 3600, "someone-else");
    char *expired = hs256_token(NOW - 3600, "kvsgate");
    for (int i = 0; i < 3; i++) {
        T_STREQ(verdict(v, wrong_aud, NOW), "wrong audience");
        T_STREQ(verdict(v, expired, NOW), "token expired");
    }
    struct jwtv_stats s = stats(v);
    T_INTEQ(s.token_cache_hits, 0);
    T_INTEQ(s.token_cache_entries, 0);
    free(wrong_aud);
    free(expired);
    jwtv_free(v);
}

static void test_the_cache_never_outlives_exp_or_the_ttl(void)
{
    /* Leeway 0, so that a full verification past exp refuses. */
    struct jwtv *v = hs256_verifier(0, 60);
    char *soon = hs256_token(NOW + 30, "kvsgate");
    T_STREQ(verdict(v, soon, NOW), "ok");
    T_STREQ(verdict(v, soon, NOW + 29), "ok");
    T_INTEQ(stats(v).token_cache_hits, 1);
    T_STREQ(verdict(v, soon, NOW + 30), "token expired");
    T_INTEQ(stats(v).token_cache_hits, 1);

    /* A long-lived token is verified in full again once the TTL has passed. */
    char *later = hs256_token(NOW + 86400, "kvsgate");
    T_STREQ(verdict(v, later, NOW), "ok");
    uint64_t misses = stats(v).token_cache_misses;
    T_STREQ(verdict(v, later, NOW + 59), "ok");
    T_INTEQ(stats(v).token_cache_misses, misses);
    T_STREQ(verdict(v, later, NOW + 60), "ok");
    T_INTEQ(stats(v).token_cache_misses, misses + 1);
    T_STREQ(verdict(v, later, NOW + 61), "ok"); /* stored again at NOW + 60 */
    T_INTEQ(stats(v).token_cache_misses, misses + 1);
    free(soon);
    free(later);
    jwtv_free(v);
}

static void test_a_negative_ttl_turns_the_cache_off(void)
{
    struct jwtv *v = hs256_verifier(60, -1);
    char *tok = hs256_token(NOW + 3600, "kvsgate");
    T_STREQ(verdict(v, tok, NOW), "ok");
    T_STREQ(verdict(v, tok, NOW), "ok");
    struct jwtv_stats s = stats(v);
    T_INTEQ(s.token_cache_hits + s.token_cache_misses, 0);
    free(tok);
    jwtv_free(v);

    struct jwtv_options o = {.hs256_secret = secret, .hs256_secret_len = SECRET_LEN,
                             .token_cache_ttl_s = 3601};
    char why[256] = "";
    T_INTEQ(jwtv_new(&o, &v, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "token cache") != NULL);
}

/* ---- threads --------------------------------------------------------------------- */

#define POOL 256

struct hammer {
    struct tokcache *c;
    unsigned seed;
    int wrong;
    int hits;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 20000; i++) {
        unsigned id = (unsigned)rand_r(&h->seed) % POOL;
        char sub[16];
        snprintf(sub, sizeof sub, "user-%u", id);
        unsigned char d[32];
        tokcache_digest(1, sub, strlen(sub), d);
        struct auth_principal out;
        if (tokcache_get(h->c, d, NOW, &out)) {
            h->hits++;
            if (strcmp(out.sub, sub) != 0)
                h->wrong++;
            auth_principal_cleanup(&out);
        } else {
            struct auth_principal p = principal(sub, NOW + 3600);
            tokcache_put(h->c, d, NOW, &p);
            auth_principal_cleanup(&p);
        }
    }
    return NULL;
}

static void test_threads_share_one_small_cache(void)
{
    struct tokcache *c = tokcache_new(64, 60); /* smaller than the pool: constant eviction */
    struct hammer h[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){c, (unsigned)i * 7919u + 1u, 0, 0};
        pthread_create(&th[i], NULL, hammer_main, &h[i]);
    }
    int hits = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        T_INTEQ(h[i].wrong, 0);
        hits += h[i].hits;
    }
    T_CHECK(hits > 0);
    struct tokcache_stats st;
    tokcache_stats(c, &st);
    T_CHECK(st.entries <= 64);
    T_INTEQ(st.hits + st.misses, 4 * 20000);
    tokcache_free(c);
}

static const struct t_case cases[] = {
    T_CASE(test_a_stored_principal_comes_back_as_a_deep_copy),
    T_CASE(test_a_copy_keeps_every_list_and_string_in_one_block),
    T_CASE(test_an_entry_answers_until_exp_or_the_ttl_whichever_is_first),
    T_CASE(test_a_digest_differing_in_one_byte_misses),
    T_CASE(test_the_size_is_bounded_and_the_least_recently_used_goes),
    T_CASE(test_the_verifier_skips_the_checks_for_a_token_it_accepted),
    T_CASE(test_a_token_differing_in_one_byte_from_a_cached_one_is_verified_in_full),
    T_CASE(test_refused_tokens_never_get_in),
    T_CASE(test_the_cache_never_outlives_exp_or_the_ttl),
    T_CASE(test_a_negative_ttl_turns_the_cache_off),
    T_CASE(test_threads_share_one_small_cache),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    return t_main(cases, T_COUNT(cases), argc, argv);
}
