/* service/policy: the policy file. A YAML and a JSON file mean the same
 * issuers; every refusal names the file and the line or the JSON path; YAML's
 * traps (alias bombs, yes/no booleans, duplicate keys) are closed; the secret
 * file is read by policy_file_load and never quoted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "service/policy.h"
#include "testlib.h"

static const char yaml_full[] =
    "# two issuers\n"
    "version: 1\n"
    "issuers:\n"
    "  - name: cognito\n"
    "    issuer: https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Example\n"
    "    discovery: true\n"
    "    audience: {clientId: [1example23456789, 2example]}\n"
    "    tokenUse: access\n"
    "    scopePrefix: \"https://kvsgate.example.com/\"\n"
    "    scopeClaims: scope\n"
    "    grantsClaim: \"\"\n"
    "    rules:\n"
    "      - claim: cognito:groups\n"
    "        equals: operators\n"
    "        grant: {manage: [\"*\"], manageAny: true}\n"
    "      - claim: [realm_access, roles]\n"
    "        grant:\n"
    "          viewer: [\"team-{value}.*\"]\n"
    "          anyClientId: false\n"
    "  - name: partner\n"
    "    issuer: https://partner.example/\n"
    "    jwksUrl: https://partner.example/.well-known/jwks.json\n"
    "    publicKeyFiles: [/keys/a.pem, /keys/b.pem]\n"
    "    audience: any\n";

static const char json_full[] =
    "{\"version\": 1, \"issuers\": [\n"
    " {\"name\": \"cognito\",\n"
    "  \"issuer\": \"https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Example\",\n"
    "  \"discovery\": true, \"audience\": {\"clientId\": [\"1example23456789\", \"2example\"]},\n"
    "  \"tokenUse\": \"access\", \"scopePrefix\": \"https://kvsgate.example.com/\",\n"
    "  \"scopeClaims\": \"scope\", \"grantsClaim\": \"\",\n"
    "  \"rules\": [{\"claim\": \"cognito:groups\", \"equals\": \"operators\",\n"
    "              \"grant\": {\"manage\": [\"*\"], \"manageAny\": true}},\n"
    "             {\"claim\": [\"realm_access\", \"roles\"],\n"
    "              \"grant\": {\"viewer\": [\"team-{value}.*\"], \"anyClientId\": false}}]},\n"
    " {\"name\": \"partner\", \"issuer\": \"https://partner.example/\",\n"
    "  \"jwksUrl\": \"https://partner.example/.well-known/jwks.json\",\n"
    "  \"publicKeyFiles\": [\"/keys/a.pem\", \"/keys/b.pem\"], \"audience\": \"any\"}]}\n";

static struct policy_file *parse_ok(const char *text)
{
    struct policy_file *p = NULL;
    char why[512] = "";
    if (policy_parse(text, strlen(text), "p.yaml", &p, why, sizeof why) != KG_OK)
        t_fail(__FILE__, __LINE__, "policy_parse: %s", why);
    return p;
}

static void check_full(const struct policy_file *p)
{
    size_t n = 0;
    const struct jwtv_issuer *is = policy_issuers(p, &n);
    T_INTEQ(n, 2);
    T_STREQ(is[0].name, "cognito");
    T_STREQ(is[0].issuer, "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_Example");
    T_CHECK(is[0].discovery && !is[0].jwks_url);
    T_INTEQ(is[0].client_id_count, 2);
    T_STREQ(is[0].client_id[0], "1example23456789");
    T_STREQ(is[0].client_id[1], "2example");
    T_INTEQ(is[0].aud_count, 0);
    T_STREQ(is[0].token_use, "access");
    T_STREQ(is[0].scope_prefix, "https://kvsgate.example.com/");
    T_INTEQ(is[0].scope_claim_count, 1);
    T_STREQ(is[0].scope_claims[0], "scope");
    T_STREQ(is[0].grants_claim, "");
    T_INTEQ(is[0].rule_count, 2);
    T_INTEQ(is[0].rules[0].claim_path_len, 1);
    T_STREQ(is[0].rules[0].claim_path[0], "cognito:groups");
    T_STREQ(is[0].rules[0].equals, "operators");
    T_INTEQ(is[0].rules[0].pattern_counts[AUTHZ_PERM_MANAGE], 1);
    T_STREQ(is[0].rules[0].patterns[AUTHZ_PERM_MANAGE][0], "*");
    T_CHECK(is[0].rules[0].manage_any && !is[0].rules[0].any_client_id);
    T_INTEQ(is[0].rules[1].claim_path_len, 2);
    T_STREQ(is[0].rules[1].claim_path[1], "roles");
    T_CHECK(is[0].rules[1].equals == NULL);
    T_STREQ(is[0].rules[1].patterns[AUTHZ_PERM_VIEWER][0], "team-{value}.*");
    T_STREQ(is[1].name, "partner");
    T_STREQ(is[1].jwks_url, "https://partner.example/.well-known/jwks.json");
    T_INTEQ(is[1].public_key_file_count, 2);
    T_INTEQ(is[1].aud_count + is[1].client_id_count + is[1].azp_count, 0);
    T_INTEQ(is[1].rule_count, 0);
    size_t files = 0;
    const char *const *named = policy_named_files(p, &files);
    T_INTEQ(files, 2);
    T_STREQ(named[0], "/keys/a.pem");
    T_STREQ(named[1], "/keys/b.pem");
}

static void test_yaml_and_json_files_describe_the_same_issuers(void)
{
    struct policy_file *y = parse_ok(yaml_full), *j = parse_ok(json_full);
    check_full(y);
    check_full(j);
    policy_file_free(y);
    policy_file_free(j);
}

/* Each refusal, with the exact message. */
static void test_every_refusal_names_the_file_and_where(void)
{
    const struct {
        const char *text, *want;
    } cases[] = {
        {"", "p.yaml: empty"},
        {"version: 2\nissuers: []\n", "p.yaml: version: must be 1"},
        {"issuers: []\n", "p.yaml: version: must be 1"},
        {"version: 1\nissuers: []\n", "p.yaml: issuers: must be a list of 1..16 issuers"},
        {"version: 1\nissuers: {}\nextra: 1\n", "p.yaml: unknown member \"extra\""},
        {"- 1\n", "p.yaml: must be an object {version: 1, issuers: [...]}"},
        {"version: 1\nversion: 1\n", "p.yaml: line 2 column 1: a key given twice"},
        {"{\"version\": 1, \"version\": 1}", "p.yaml: line 1 column 24: duplicate object key near '\"version\"'"},
        {"version: [1\n", NULL}, /* libyaml's words, checked below */
        {"version: 1\nissuers:\n  - name: A\n", "p.yaml: issuers[0]: name: 1..32 of a-z 0-9 -"},
        {"version: 1\nissuers:\n  - name: a\n    audience: any\n    discovery: true\n",
         "p.yaml: issuers[0].issuer: required"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    audience: any\n",
         "p.yaml: issuers[0]: no keys: give discovery, jwksUrl, publicKeyFiles or "
         "hs256SecretFile"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: yes\n",
         "p.yaml: issuers[0].discovery: must be true or false"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    jwksUrl: https://a/k\n    audience: any\n",
         "p.yaml: issuers[0]: jwksUrl or discovery, not both"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n",
         "p.yaml: issuers[0].audience: required: {aud, clientId or azp}, or \"any\" to check "
         "none"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: {audiance: x}\n",
         "p.yaml: issuers[0].audience: unknown member \"audiance\""},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: {aud: []}\n",
         "p.yaml: issuers[0].audience.aud: must be a string or a list of 1..256 strings"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: {aud: [x, 5]}\n",
         "p.yaml: issuers[0].audience.aud: item 1 must be a string of 1..1024 bytes"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: any\n    tokenUse: refresh\n",
         "p.yaml: issuers[0]: tokenUse: access or id"},
        {"version: 1\nissuers:\n  - name: a\n    anyIssuer: true\n    discovery: true\n"
         "    audience: any\n  - name: b\n    issuer: https://b\n    discovery: true\n"
         "    audience: any\n",
         "p.yaml: issuers[0]: anyIssuer: only for a lone issuer without \"issuer\" (an IdP's "
         "keys may sign for others too)"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: any\n  - name: a\n    issuer: https://b\n    discovery: true\n"
         "    audience: any\n",
         "p.yaml: issuers[1]: the same name or issuer as issuers[0]"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: any\n    rules:\n      - claim: g\n        grant: {master: [x], "
         "owner: true}\n",
         "p.yaml: issuers[0].rules[0].grant: unknown member \"owner\""},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: any\n    rules:\n      - claim: [a, b, c, d, e, f, g, h, i]\n"
         "        grant: {master: [x]}\n",
         "p.yaml: issuers[0].rules[0]: claim: a claim name, or a path of 1..8 names"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: https://a\n    discovery: true\n"
         "    audience: any\n    rules:\n      - equals: x\n        grant: {master: [x]}\n",
         "p.yaml: issuers[0].rules[0]: claim: a claim name, or a path of 1..8 names"},
        {"version: 1\nissuers:\n  - name: a\n    issuer: \"\"\n    discovery: true\n",
         "p.yaml: issuers[0]: issuer: must not be empty"},
    };
    for (size_t i = 0; i < T_COUNT(cases); i++) {
        struct policy_file *p = (struct policy_file *)1;
        char why[512] = "";
        T_INTEQ(policy_parse(cases[i].text, strlen(cases[i].text), "p.yaml", &p, why, sizeof why),
                KG_ERR_BAD_REQUEST);
        T_CHECK(p == NULL);
        if (cases[i].want && strcmp(why, cases[i].want) != 0)
            t_fail(__FILE__, __LINE__, "case %zu:\n  got:  %s\n  want: %s", i, why, cases[i].want);
        if (!cases[i].want && strcmp(why, "p.yaml: line 2 column 1: did not find expected ',' or ']'") != 0)
            t_fail(__FILE__, __LINE__, "case %zu: %s", i, why);
    }
}

static void test_yaml_aliases_cannot_expand_without_bound(void)
{
    /* the "billion laughs": nine levels of nine aliases */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    struct policy_file *p = NULL;
    char why[512];
    T_INTEQ(policy_parse(text, n, "p.yaml", &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "too many nodes or too deep (aliases are expanded)") != NULL);
    /* deep nesting */
    char deep[256] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    T_INTEQ(policy_parse(deep, strlen(deep), "p.yaml", &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(p == NULL);
}

static void test_yaml_scalars_keep_their_text_and_non_utf8_is_refused(void)
{
    /* an audience that looks like a number, a bool or null stays that text when quoted,
     * and an unquoted one is refused as a non-string rather than coerced */
    struct policy_file *p = parse_ok("version: 1\nissuers:\n  - name: a\n    issuer: https://a\n"
                                     "    discovery: true\n    audience: {aud: [\"123\", \"no\", "
                                     "\"null\", off]}\n");
    size_t n;
    const struct jwtv_issuer *is = policy_issuers(p, &n);
    T_INTEQ(is[0].aud_count, 4);
    T_STREQ(is[0].aud[1], "no");
    T_STREQ(is[0].aud[3], "off");
    policy_file_free(p);
    char why[512];
    const char *num = "version: 1\nissuers:\n  - name: a\n    issuer: https://a\n"
                      "    discovery: true\n    audience: {aud: 123}\n";
    T_INTEQ(policy_parse(num, strlen(num), "p.yaml", &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_STREQ(why, "p.yaml: issuers[0].audience.aud: must be a string or a list of 1..256 strings");
    const char bad[] = "version: 1\nissuers:\n  - name: \"\xff\xfe\"\n";
    T_INTEQ(policy_parse(bad, sizeof bad - 1, "p.yaml", &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strncmp(why, "p.yaml: line ", 13) == 0);
    const char nul[] = "version: 1\nissuers:\n  - name: a\0b\n";
    T_INTEQ(policy_parse(nul, sizeof nul - 1, "p.yaml", &p, why, sizeof why), KG_ERR_BAD_REQUEST);
}

static void test_the_secret_file_is_read_by_load_and_never_quoted(void)
{
    char *secret = t_temp_file("0123456789abcdef0123456789abcdef\n");
    char *shorty = t_temp_file("hunter2-short\n");
    char text[1024];
    snprintf(text, sizeof text,
             "version: 1\nissuers:\n  - name: dev\n    issuer: https://dev\n"
             "    hs256SecretFile: %s\n    audience: {aud: kvsgate}\n",
             secret);
    char *policy = t_temp_file(text);
    struct policy_file *p = NULL;
    char why[512] = "";
    T_INTEQ(policy_file_load(policy, &p, why, sizeof why), KG_OK);
    size_t n;
    const struct jwtv_issuer *is = policy_issuers(p, &n);
    T_INTEQ(is[0].hs256_secret_len, 32); /* the newline dropped */
    T_MEMEQ(is[0].hs256_secret, 32, "0123456789abcdef0123456789abcdef", 32);
    size_t files;
    T_STREQ(policy_named_files(p, &files)[0], secret);
    policy_file_free(p);
    /* parse alone reads nothing */
    T_INTEQ(policy_parse(text, strlen(text), "x", &p, why, sizeof why), KG_OK);
    T_CHECK(policy_issuers(p, &n)[0].hs256_secret == NULL);
    policy_file_free(p);

    snprintf(text, sizeof text,
             "version: 1\nissuers:\n  - name: dev\n    issuer: https://dev\n"
             "    hs256SecretFile: %s\n    audience: {aud: kvsgate}\n",
             shorty);
    FILE *f = fopen(policy, "w");
    fputs(text, f);
    fclose(f);
    T_INTEQ(policy_file_load(policy, &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "issuers[0].hs256SecretFile") && strstr(why, "fewer than 32 bytes"));
    T_CHECK(strstr(why, "hunter2") == NULL);
    unlink(shorty);
    T_INTEQ(policy_file_load(policy, &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "cannot read") && strstr(why, "No such file"));
    unlink(policy);
    T_INTEQ(policy_file_load(policy, &p, why, sizeof why), KG_ERR_BAD_REQUEST);
    T_CHECK(strstr(why, "cannot read it"));
    unlink(secret);
    free(secret);
    free(shorty);
    free(policy);
}

static const struct t_case cases[] = {
    T_CASE(test_yaml_and_json_files_describe_the_same_issuers),
    T_CASE(test_every_refusal_names_the_file_and_where),
    T_CASE(test_yaml_aliases_cannot_expand_without_bound),
    T_CASE(test_yaml_scalars_keep_their_text_and_non_utf8_is_refused),
    T_CASE(test_the_secret_file_is_read_by_load_and_never_quoted),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    return t_main(cases, T_COUNT(cases), argc, argv);
}
