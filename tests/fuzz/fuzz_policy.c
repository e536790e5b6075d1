/* libFuzzer target: the policy file parser (service/policy.c policy_parse),
 * JSON or YAML through libyaml, which an operator's file (or a ConfigMap
 * someone else edits) feeds.
 *
 * Input: the file's text.
 *
 * Invariants: the parser never crashes, hangs or leaks (aliases bounded); it
 * reads no file; on success there are 1..JWTV_MAX_ISSUERS issuers, each with
 * a name of [a-z0-9-]{1,32}, unique names and iss values, some key source, an
 * iss unless it is the lone issuer, every list item a non-empty string, and
 * rules with claim paths of 1..8 names; on failure *out is NULL and why is one
 * line starting with the file's name. */
#include "tests/fuzz/fuzz.h"

#include "core/log.h"
#include "service/policy.h"

static void check_list(const char *const *items, size_t n)
{
    FUZZ_CHECK(n == 0 || items);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(items[i] && items[i][0]);
}

static void check_issuer(const struct jwtv_issuer *is, size_t total)
{
    size_t len = strlen(is->name);
    FUZZ_CHECK(len >= 1 && len <= 32);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((is->name[i] >= 'a' && is->name[i] <= 'z') ||
                   (is->name[i] >= '0' && is->name[i] <= '9') || is->name[i] == '-');
    FUZZ_CHECK(is->issuer ? is->issuer[0] != '\0' : total == 1);
    FUZZ_CHECK(!is->hs256_secret); /* parse reads no file */
    FUZZ_CHECK(!(is->jwks_url && is->discovery));
    check_list(is->aud, is->aud_count);
    check_list(is->client_id, is->client_id_count);
    check_list(is->azp, is->azp_count);
    check_list(is->public_key_files, is->public_key_file_count);
    check_list(is->scope_claims, is->scope_claim_count);
    for (size_t r = 0; r < is->rule_count; r++) {
        FUZZ_CHECK(is->rules[r].claim_path_len >= 1 && is->rules[r].claim_path_len <= 8);
        check_list(is->rules[r].claim_path, is->rules[r].claim_path_len);
        for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++)
            check_list(is->rules[r].patterns[perm], is->rules[r].pattern_counts[perm]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet++)
        kg_log_set_level(KG_LOG_OFF);
    struct policy_file *p = (struct policy_file *)&quiet;
    char why[512] = "";
    enum kg_err err = policy_parse((const char *)data, size, "f.yaml", &p, why, sizeof why);
    if (err != KG_OK) {
        FUZZ_CHECK(err == KG_ERR_BAD_REQUEST && p == NULL);
        FUZZ_CHECK(strncmp(why, "f.yaml: ", 8) == 0 && !strchr(why, '\n'));
        return 0;
    }
    size_t n = 0;
    const struct jwtv_issuer *is = policy_issuers(p, &n);
    FUZZ_CHECK(n >= 1 && n <= JWTV_MAX_ISSUERS);
    for (size_t i = 0; i < n; i++) {
        check_issuer(&is[i], n);
        for (size_t k = 0; k < i; k++) {
            FUZZ_CHECK(strcmp(is[i].name, is[k].name) != 0);
            FUZZ_CHECK(!is[i].issuer || !is[k].issuer || strcmp(is[i].issuer, is[k].issuer) != 0);
        }
    }
    policy_file_free(p);
    return 0;
}
