/* auth/jwt with several issuers: the issuer is picked by iss and only its keys
 * verify; secondary issuers' subjects are qualified; client_id, azp and
 * token_use; prefixed scopes in configured claims; claim rules; reloads swap
 * generations atomically, refuse broken ones, and forget tokens verified under
 * the old one. Tokens are signed here with OpenSSL (authtest.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/jwt.h"
#include "authtest.h"
#include "core/log.h"
#include "testlib.h"

#define NOW 1700000000LL
#define ISS_A "https://a.example"
#define ISS_B "https://b.example/realms/x"

static const unsigned char secret_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-issuer-a";
static const unsigned char secret_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-issuer-b";
#define SECRET_A_LEN (sizeof secret_a - 1)
#define SECRET_B_LEN (sizeof secret_b - 1)

static EVP_PKEY *rsa;
static char *rsa_file;

static void keys_once(void)
{
    if (rsa)
        return;
    rsa = at_rsa(2048);
    rsa_file = at_pubkey_file(rsa);
}

/* Issuer a: HS256 with secret_a. Issuer b: the RSA key. */
static void two_issuers(struct jwtv_issuer out[2])
{
    keys_once();
    static const char *files[1];
    files[0] = rsa_file;
    memset(out, 0, 2 * sizeof *out);
    out[0] = (struct jwtv_issuer){.name = "a", .issuer = ISS_A, .hs256_secret = secret_a,
                                  .hs256_secret_len = SECRET_A_LEN};
    out[1] = (struct jwtv_issuer){.name = "b", .issuer = ISS_B, .public_key_files = files,
                                  .public_key_file_count = 1};
}

static struct jwtv *verifier_of(const struct jwtv_issuer *issuers, size_t n)
{
    struct jwtv_options o = {.issuers = issuers, .issuer_count = n, .leeway_s = 60};
    struct jwtv *v = NULL;
    char why[256];
    if (jwtv_new(&o, &v, why, sizeof why) != KG_OK)
        t_fail(__FILE__, __LINE__, "jwtv_new: %s", why);
    return v;
}

static char *payload(const char *iss, const char *sub, const char *extra)
{
    char *p = kg_malloc(2048);
    snprintf(p, 2048, "{\"iss\":\"%s\",\"sub\":\"%s\",\"exp\":%lld%s%s}", iss, sub, NOW + 600,
             extra && *extra ? "," : "", extra ? extra : "");
    return p;
}

static char *hs(const unsigned char *secret, size_t len, const char *pl)
{
    return at_token("HS256", NULL, pl, NULL, secret, len);
}

static char *rs(const char *pl) { return at_token("RS256", NULL, pl, rsa, NULL, 0); }

/* Verifies and returns "ok" or the reason; fills p on success (cleanup by caller). */
static const char *check(struct jwtv *v, char *tok, struct auth_principal *p)
{
    struct auth_principal local;
    struct auth_principal *out = p ? p : &local;
    const char *reason = NULL;
    enum kg_err err = jwtv_verify(v, tok, strlen(tok), NOW, out, &reason);
    free(tok);
    if (err != KG_OK)
        return reason ? reason : "NULL";
    if (!p)
        auth_principal_cleanup(&local);
    return "ok";
}

static const char *grants_kvs = "\"kvs\":{\"viewer\":[\"cam-1\"]}";

static void test_the_issuer_is_picked_by_iss_and_only_its_keys_verify(void)
{
    struct jwtv_issuer is[2];
    two_issuers(is);
    struct jwtv *v = verifier_of(is, 2);
    char *pa = payload(ISS_A, "alice", grants_kvs), *pb = payload(ISS_B, "alice", grants_kvs);
    char *pc = payload("https://c.example", "alice", grants_kvs);
    struct auth_principal p;
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pa), &p), "ok");
    T_STREQ(p.issuer, "a");
    auth_principal_cleanup(&p);
    T_STREQ(check(v, rs(pb), &p), "ok");
    T_STREQ(p.issuer, "b");
    auth_principal_cleanup(&p);
    /* a's secret does not verify for b, b's key not for a */
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pb), NULL), "algorithm does not match key");
    T_STREQ(check(v, rs(pa), NULL), "algorithm does not match key");
    /* another issuer's secret, an unknown iss, no iss at all */
    T_STREQ(check(v, hs(secret_b, SECRET_B_LEN, pa), NULL), "bad signature");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pc), NULL), "wrong issuer");
    char *none = kg_strdup("{\"sub\":\"alice\",\"exp\":1700000600,\"kvs\":{}}");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, none), NULL), "wrong issuer");
    free(none);
    free(pa);
    free(pb);
    free(pc);
    jwtv_free(v);
}

static void test_a_secondary_issuers_subjects_are_qualified_by_iss(void)
{
    struct jwtv_issuer is[2];
    two_issuers(is);
    struct jwtv *v = verifier_of(is, 2);
    char *pa = payload(ISS_A, "alice", grants_kvs), *pb = payload(ISS_B, "alice", grants_kvs);
    struct auth_principal p;
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pa), &p), "ok");
    T_STREQ(p.client_id, "alice");
    T_STREQ(p.owner_id, "alice");
    auth_principal_cleanup(&p);
    char want[AUTH_CLIENT_ID_MAX + 1];
    auth_qualified_id(ISS_B, "alice", want);
    T_CHECK(want[0] == '_' && strlen(want) == 41);
    T_STREQ(check(v, rs(pb), &p), "ok");
    T_STREQ(p.sub, "alice");
    T_STREQ(p.client_id, want);
    T_STREQ(p.owner_id, want);
    auth_principal_cleanup(&p);
    /* {sub} grants of b's alice name b's alice, not a's */
    char *pg = payload(ISS_B, "alice", "\"kvs\":{\"master\":[\"user-{sub}.*\"]}");
    T_STREQ(check(v, rs(pg), &p), "ok");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MASTER], 1);
    char expect[128];
    snprintf(expect, sizeof expect, "user-%s.*", want);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MASTER][0], expect);
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_MASTER, "user-alice.cam"));
    auth_principal_cleanup(&p);
    free(pa);
    free(pb);
    free(pg);
    jwtv_free(v);
}

static void test_client_id_azp_and_token_use_are_enforced(void)
{
    static const char *clients[] = {"client-1"}, *azps[] = {"web"};
    struct jwtv_issuer is = {.name = "cognito", .issuer = ISS_A, .hs256_secret = secret_a,
                             .hs256_secret_len = SECRET_A_LEN, .client_id = clients,
                             .client_id_count = 1, .token_use = "access"};
    struct jwtv *v = verifier_of(&is, 1);
    const struct {
        const char *claims, *want;
    } cases[] = {
        {"\"client_id\":\"client-1\",\"token_use\":\"access\"", "ok"},
        {"\"client_id\":\"client-2\",\"token_use\":\"access\"", "wrong audience"},
        {"\"token_use\":\"access\"", "wrong audience"},
        {"\"client_id\":\"client-1\",\"token_use\":\"id\"", "wrong token use"},
        {"\"client_id\":\"client-1\"", "wrong token use"},
        {"\"client_id\":[\"client-1\"],\"token_use\":\"access\"", "bad claim type"},
        {"\"client_id\":\"client-1\",\"token_use\":\"access\",\"aud\":\"anything\"", "ok"},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        char extra[512];
        snprintf(extra, sizeof extra, "%s,%s", cases[i].claims, grants_kvs);
        char *pl = payload(ISS_A, "alice", extra);
        const char *got = check(v, hs(secret_a, SECRET_A_LEN, pl), NULL);
        if (strcmp(got, cases[i].want) != 0)
            t_fail(__FILE__, __LINE__, "case %zu: %s, want %s", i, got, cases[i].want);
        free(pl);
    }
    jwtv_free(v);

    struct jwtv_issuer az = {.name = "keycloak", .issuer = ISS_A, .hs256_secret = secret_a,
                             .hs256_secret_len = SECRET_A_LEN, .azp = azps, .azp_count = 1};
    v = verifier_of(&az, 1);
    char *ok = payload(ISS_A, "alice", "\"azp\":\"web\",\"aud\":\"account\",\"kvs\":{}");
    char *other = payload(ISS_A, "alice", "\"azp\":\"admin-cli\",\"kvs\":{}");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, ok), NULL), "ok");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, other), NULL), "wrong audience");
    free(ok);
    free(other);
    jwtv_free(v);
}

static void test_scopes_need_the_prefix_and_come_from_the_configured_claims(void)
{
    static const char *claims[] = {"scp"};
    struct jwtv_issuer is = {.name = "entra", .issuer = ISS_A, .hs256_secret = secret_a,
                             .hs256_secret_len = SECRET_A_LEN, .scope_prefix = "api://kvsgate/",
                             .scope_claims = claims, .scope_claim_count = 1};
    struct jwtv *v = verifier_of(&is, 1);
    struct auth_principal p;
    char *pl = payload(ISS_A, "alice",
                       "\"scp\":\"api://kvsgate/kvs:viewer:cam-1 kvs:master:cam-2 "
                       "api://other/kvs:master:cam-3\",\"scope\":\"api://kvsgate/kvs:manage:*\"");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pl), &p), "ok");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 1);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_VIEWER][0], "cam-1");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MASTER], 0);
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MANAGE], 0);
    auth_principal_cleanup(&p);
    free(pl);
    /* only unprefixed scopes: no kvs scope, no claim, no rule */
    pl = payload(ISS_A, "alice", "\"scp\":\"kvs:viewer:cam-1\"");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pl), NULL), "no grants claim");
    free(pl);
    /* scp as an array (Okta) */
    pl = payload(ISS_A, "alice", "\"scp\":[\"openid\",\"api://kvsgate/kvs:master:cam-9\"]");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pl), &p), "ok");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MASTER], 1);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MASTER][0], "cam-9");
    auth_principal_cleanup(&p);
    free(pl);
    jwtv_free(v);
}

static void test_rules_grant_by_equal_value_and_by_each_value(void)
{
    static const char *path_groups[] = {"cognito:groups"}, *path_roles[] = {"realm_access",
                                                                            "roles"};
    static const char *manage_all[] = {"*"}, *team[] = {"team-{value}.*"};
    struct jwtv_rule rules[2] = {
        {.claim_path = path_groups, .claim_path_len = 1, .equals = "operators",
         .patterns = {[AUTHZ_PERM_MANAGE] = manage_all}, .pattern_counts = {[AUTHZ_PERM_MANAGE] = 1},
         .manage_any = 1},
        {.claim_path = path_roles, .claim_path_len = 2,
         .patterns = {[AUTHZ_PERM_VIEWER] = team}, .pattern_counts = {[AUTHZ_PERM_VIEWER] = 1}},
    };
    struct jwtv_issuer is = {.name = "idp", .issuer = ISS_A, .hs256_secret = secret_a,
                             .hs256_secret_len = SECRET_A_LEN, .grants_claim = "",
                             .rules = rules, .rule_count = 2};
    struct jwtv *v = verifier_of(&is, 1);
    struct auth_principal p;
    char *pl = payload(ISS_A, "alice",
                       "\"cognito:groups\":[\"viewers\",\"operators\"],"
                       "\"realm_access\":{\"roles\":[\"red\",\"a.b\",\"x*\",7]}");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pl), &p), "ok");
    T_INTEQ(p.grants.counts[AUTHZ_PERM_MANAGE], 1);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_MANAGE][0], "*");
    T_CHECK(p.grants.manage_any);
    /* each string value becomes an id: "red" itself; "a.b" and "x*" hashed, so a
     * value can never close the pattern early or widen it */
    T_INTEQ(p.grants.counts[AUTHZ_PERM_VIEWER], 3);
    T_STREQ(p.grants.patterns[AUTHZ_PERM_VIEWER][0], "team-red.*");
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_VIEWER, "team-a.b.cam"));
    T_CHECK(!authz_allows(&p, AUTHZ_PERM_VIEWER, "team-x.cam"));
    T_CHECK(authz_allows(&p, AUTHZ_PERM_VIEWER, "team-red.cam"));
    auth_principal_cleanup(&p);
    free(pl);
    /* the kvs claim is off (grantsClaim ""), so it grants nothing here */
    pl = payload(ISS_A, "alice", "\"kvs\":{\"master\":[\"*\"]}");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pl), NULL), "no grants claim");
    free(pl);
    /* a rule's claim of another type never matches */
    pl = payload(ISS_A, "alice", "\"cognito:groups\":{\"operators\":true}");
    T_STREQ(check(v, hs(secret_a, SECRET_A_LEN, pl), NULL), "no grants claim");
    free(pl);
    jwtv_free(v);
}

static void test_a_reload_swaps_generations_and_forgets_old_verdicts(void)
{
    struct jwtv_issuer a = {.name = "a", .issuer = ISS_A, .hs256_secret = secret_a,
                            .hs256_secret_len = SECRET_A_LEN};
    struct jwtv_options o = {.issuers = &a, .issuer_count = 1, .leeway_s = 60};
    struct jwtv *v = NULL;
    char why[256];
    T_INTEQ(jwtv_new(&o, &v, why, sizeof why), KG_OK);
    T_INTEQ((int)jwtv_generation(v), 1);
    char *pl = payload(ISS_A, "alice", grants_kvs);
    char *tok = hs(secret_a, SECRET_A_LEN, pl);
    char *copy = kg_strdup(tok);
    T_STREQ(check(v, tok, NULL), "ok"); /* now in the verified-token cache */

    /* the secret rotated: the cached verdict must not survive */
    struct jwtv_issuer rotated = a;
    rotated.hs256_secret = secret_b;
    rotated.hs256_secret_len = SECRET_B_LEN;
    struct jwtv_options o2 = {.issuers = &rotated, .issuer_count = 1, .leeway_s = 60};
    uint64_t gen = 0;
    T_INTEQ(jwtv_reload(v, &o2, &gen, why, sizeof why), KG_OK);
    T_INTEQ((int)gen, 2);
    T_STREQ(check(v, kg_strdup(copy), NULL), "bad signature");
    T_STREQ(check(v, hs(secret_b, SECRET_B_LEN, pl), NULL), "ok");

    /* a broken generation is refused and the running one serves on */
    struct jwtv_issuer broken = rotated;
    broken.hs256_secret_len = 8;
    struct jwtv_options o3 = {.issuers = &broken, .issuer_count = 1, .leeway_s = 60};
    T_INTEQ(jwtv_reload(v, &o3, &gen, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "issuer a") && strstr(why, "32 bytes"));
    T_INTEQ((int)jwtv_generation(v), 2);
    T_STREQ(check(v, hs(secret_b, SECRET_B_LEN, pl), NULL), "ok");
    free(copy);
    free(pl);
    jwtv_free(v);
}

static void test_configuration_errors_of_several_issuers_name_the_issuer(void)
{
    struct jwtv_issuer is[2];
    two_issuers(is);
    char why[256];
    struct jwtv *v = NULL;
    struct jwtv_options o = {.issuers = is, .issuer_count = 2, .leeway_s = 60};
    is[1].issuer = NULL;
    T_INTEQ(jwtv_new(&o, &v, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_STREQ(why, "issuer b: needs its iss when there are several issuers");
    is[1].issuer = ISS_A;
    T_INTEQ(jwtv_new(&o, &v, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_STREQ(why, "issuer b: the same name or iss as another issuer");
    two_issuers(is);
    is[1].public_key_file_count = 0;
    T_INTEQ(jwtv_new(&o, &v, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_STREQ(why, "issuer b: no keys (a secret, PEM files, a JWKS URL or discovery)");
    T_CHECK(v == NULL);
}

/* Verifiers in threads while the main thread reloads back and forth between
 * two generations that both accept the token: not one verification fails. */
struct hammer {
    struct jwtv *v;
    const char *tok;
    int stop;
    long ok, failed;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        struct auth_principal p;
        const char *reason = NULL;
        if (jwtv_verify(h->v, h->tok, strlen(h->tok), NOW, &p, &reason) == KG_OK) {
            auth_principal_cleanup(&p);
            __atomic_add_fetch(&h->ok, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_add_fetch(&h->failed, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void test_reloads_under_load_never_fail_a_request(void)
{
    struct jwtv_issuer is[2];
    two_issuers(is);
    struct jwtv_options one = {.issuers = is, .issuer_count = 1, .leeway_s = 60};
    struct jwtv_options both = {.issuers = is, .issuer_count = 2, .leeway_s = 60};
    struct jwtv *v = NULL;
    T_INTEQ(jwtv_new(&one, &v, NULL, 0), KG_OK);
    char *pl = payload(ISS_A, "alice", grants_kvs);
    char *tok = hs(secret_a, SECRET_A_LEN, pl);
    struct hammer h = {.v = v, .tok = tok};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&threads[i], NULL, hammer_run, &h);
    for (int i = 0; i < 200; i++)
        T_INTEQ(jwtv_reload(v, i % 2 ? &one : &both, NULL, NULL, 0), KG_OK);
    __atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    T_INTEQ((int)jwtv_generation(v), 201);
    T_INTEQ(h.failed, 0);
    T_CHECK(h.ok > 0);
    free(tok);
    free(pl);
    jwtv_free(v);
}

static const struct t_case cases[] = {
    T_CASE(test_the_issuer_is_picked_by_iss_and_only_its_keys_verify),
    T_CASE(test_a_secondary_issuers_subjects_are_qualified_by_iss),
    T_CASE(test_client_id_azp_and_token_use_are_enforced),
    T_CASE(test_scopes_need_the_prefix_and_come_from_the_configured_claims),
    T_CASE(test_rules_grant_by_equal_value_and_by_each_value),
    T_CASE(test_a_reload_swaps_generations_and_forgets_old_verdicts),
    T_CASE(test_configuration_errors_of_several_issuers_name_the_issuer),
    T_CASE(test_reloads_under_load_never_fail_a_request),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    int rc = t_main(cases, T_COUNT(cases), argc, argv);
    if (rsa_file)
        unlink(rsa_file);
    free(rsa_file);
    EVP_PKEY_free(rsa);
    return rc;
}
