/* Registered claims (RFC 7519 §4.1) and kvsgate's grants, read from a payload
 * whose signature has already been checked.
 *
 * Types are checked before values: jansson (like libjwt's jwt_get_grant_int)
 * reads 0 from a real or a string, so an "exp": 1.7e9 or "exp": "..." would
 * otherwise mean "expired in 1970" to one reader and "valid" to another. All
 * times are compared without overflow for any int64 claim.
 *
 * Each issuer has its policy (struct claims_policy): its iss, how its tokens
 * name their audience (aud, client_id, azp, token_use), and where its grants
 * come from: the grants claim, kvs:<perm>:<pattern> scopes (after a prefix),
 * and rules that map claim values (groups, roles) to patterns.
 *
 * Grant patterns that do not make a channel name or prefix (after {sub} and
 * {value} are replaced) are dropped: a pattern can only ever grant less than
 * it says, never more, and one bad scope from another application does not
 * lock the caller out. More than CLAIMS_MAX_PATTERNS per permission refuses
 * the token. */
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/internal.h"
#include "core/mem.h"

static const char *const perm_names[AUTHZ_PERM_COUNT] = {"master", "viewer", "manage"};

enum add_result { ADD_OK, ADD_DROPPED, ADD_TOO_MANY };

static enum add_result add_pattern_with(struct authz_grants *g, enum authz_perm perm,
                                        const char *raw, const char *client_id,
                                        const char *value_id)
{
    char *expanded = NULL;
    if (strlen(raw) > CLAIMS_MAX_PATTERN_LEN ||
        authz_pattern_expand_with(raw, client_id, value_id, &expanded) != KG_OK)
        return ADD_DROPPED;
    if (g->counts[perm] >= CLAIMS_MAX_PATTERNS) {
        free(expanded);
        return ADD_TOO_MANY;
    }
    g->patterns[perm] = kg_realloc(g->patterns[perm], (g->counts[perm] + 1) * sizeof(char *));
    g->patterns[perm][g->counts[perm]++] = expanded;
    return ADD_OK;
}

static enum add_result add_pattern(struct authz_grants *g, enum authz_perm perm, const char *raw,
                                   const char *client_id)
{
    return add_pattern_with(g, perm, raw, client_id, NULL);
}

/* {"master": [...], "viewer": [...], "manage": [...], "anyClientId": bool,
 * "manageAny": bool}; other members are ignored (room to grow). */
static const char *grants_from_claim(json_t *claim, struct auth_principal *out)
{
    if (!json_is_object(claim))
        return "bad claim type";
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        json_t *list = json_object_get(claim, perm_names[perm]);
        if (!list)
            continue;
        if (!json_is_array(list))
            return "bad claim type";
        if (json_array_size(list) > CLAIMS_MAX_PATTERNS)
            return "too many grants";
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item)
        {
            if (!json_is_string(item))
                return "bad claim type";
            if (add_pattern(&out->grants, (enum authz_perm)perm, json_string_value(item),
                            out->client_id) == ADD_TOO_MANY)
                return "too many grants";
        }
    }
    json_t *any = json_object_get(claim, "anyClientId");
    json_t *manage_any = json_object_get(claim, "manageAny");
    if ((any && !json_is_boolean(any)) || (manage_any && !json_is_boolean(manage_any)))
        return "bad claim type";
    out->grants.any_client_id = json_is_true(any);
    if (json_is_true(manage_any))
        out->grants.manage_any = 1;
    return NULL;
}

/* One scope token; "<prefix>kvs:<perm>:<pattern>" grants, "<prefix>kvs:admin"
 * is manageAny, any other token is someone else's and is ignored. *kvs is set
 * when it starts "<prefix>kvs:". */
static const char *grants_from_scope(const char *tok, size_t n, const char *prefix,
                                     struct auth_principal *out, int *kvs)
{
    size_t pl = strlen(prefix);
    if (n < pl + 4 || memcmp(tok, prefix, pl) != 0 || memcmp(tok + pl, "kvs:", 4) != 0)
        return NULL;
    tok += pl;
    n -= pl;
    *kvs = 1;
    if (n == 9 && memcmp(tok, "kvs:admin", 9) == 0) {
        out->grants.manage_any = 1;
        return NULL;
    }
    if (n > 4 + 7 + CLAIMS_MAX_PATTERN_LEN)
        return NULL;
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
        size_t pn = strlen(perm_names[perm]);
        if (n > 4 + pn + 1 && memcmp(tok + 4, perm_names[perm], pn) == 0 && tok[4 + pn] == ':') {
            char *pattern = kg_strndup(tok + 5 + pn, n - 5 - pn);
            enum add_result r =
                add_pattern(&out->grants, (enum authz_perm)perm, pattern, out->client_id);
            free(pattern);
            return r == ADD_TOO_MANY ? "too many grants" : NULL;
        }
    }
    return NULL;
}

static const char *grants_from_scope_string(const char *s, const char *prefix,
                                            struct auth_principal *out, int *kvs)
{
    while (*s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        if (n) {
            const char *r = grants_from_scope(s, n, prefix, out, kvs);
            if (r)
                return r;
        }
        s += n;
    }
    return NULL;
}

/* Each scope claim: a space-separated string (scope, RFC 8693 §4.2: a string
 * only), or an array of strings (Okta's scp, Auth0's permissions). */
static const char *grants_from_scopes(json_t *payload, const struct claims_policy *pol,
                                      struct auth_principal *out, int *kvs)
{
    static const char *const defaults[] = {"scope", "scp"};
    const char *const *names = pol->scope_claim_count ? pol->scope_claims : defaults;
    size_t count = pol->scope_claim_count ? pol->scope_claim_count : 2;
    const char *prefix = pol->scope_prefix ? pol->scope_prefix : "";
    for (size_t c = 0; c < count; c++) {
        json_t *v = json_object_get(payload, names[c]);
        if (!v)
            continue;
        const char *r = NULL;
        if (json_is_string(v)) {
            r = grants_from_scope_string(json_string_value(v), prefix, out, kvs);
        } else if (json_is_array(v) && strcmp(names[c], "scope") != 0) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                if (!json_is_string(item))
                    return "bad claim type";
                r = grants_from_scope(json_string_value(item), json_string_length(item), prefix,
                                      out, kvs);
                if (r)
                    break;
            }
        } else {
            return "bad claim type";
        }
        if (r)
            return r;
    }
    return NULL;
}

/* The value at path in payload (nested objects), or NULL. */
static json_t *claim_at(json_t *payload, const struct claims_rule *rule)
{
    json_t *v = payload;
    for (size_t i = 0; i < rule->path_len && v; i++)
        v = json_is_object(v) ? json_object_get(v, rule->path[i]) : NULL;
    return v;
}

/* A rule's patterns for one value (value_id NULL when the rule names its
 * value: then {value} is refused). */
static const char *rule_grant(const struct claims_rule *rule, const char *value_id,
                              struct auth_principal *out)
{
    for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++)
        for (size_t k = 0; k < rule->counts[perm]; k++)
            if (add_pattern_with(&out->grants, (enum authz_perm)perm, rule->patterns[perm][k],
                                 out->client_id, value_id) == ADD_TOO_MANY)
                return "too many grants";
    if (rule->any_client_id)
        out->grants.any_client_id = 1;
    if (rule->manage_any)
        out->grants.manage_any = 1;
    return NULL;
}

/* The rules: a claim (a string or an array of strings; any other type never
 * matches) whose value is `equals`, or, without `equals`, each of its values
 * as {value}. *matched is set when a rule applied. */
static const char *grants_from_rules(json_t *payload, const struct claims_policy *pol,
                                     struct auth_principal *out, int *matched)
{
    for (size_t r = 0; r < pol->rule_count; r++) {
        const struct claims_rule *rule = &pol->rules[r];
        json_t *v = claim_at(payload, rule);
        json_t *one[1] = {v};
        size_t n = json_is_array(v) ? json_array_size(v) : json_is_string(v) ? 1 : 0;
        for (size_t i = 0; i < n && i < CLAIMS_MAX_PATTERNS; i++) {
            json_t *item = json_is_array(v) ? json_array_get(v, i) : one[0];
            if (!json_is_string(item) || json_string_length(item) > CLAIMS_MAX_PATTERN_LEN)
                continue;
            const char *text = json_string_value(item);
            const char *why = NULL;
            if (rule->equals) {
                if (strcmp(text, rule->equals) != 0)
                    continue;
                why = rule_grant(rule, NULL, out);
            } else {
                char value_id[AUTH_CLIENT_ID_MAX + 1];
                auth_derive_client_id(text, value_id);
                why = rule_grant(rule, value_id, out);
            }
            *matched = 1;
            if (why)
                return why;
        }
    }
    return NULL;
}

static int string_is(json_t *v, const char *want)
{
    size_t n = strlen(want);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), want, n) == 0;
}

/* 1 when s is one of list[0..n). */
static int one_of(json_t *v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (string_is(v, list[i]))
            return 1;
    return 0;
}

/* aud (a string or an array of strings) holds one of the policy's; client_id
 * and azp are one of theirs; token_use is the policy's. Each check applies
 * when the policy names values for it; types are checked always. */
static const char *check_audience(json_t *payload, const struct claims_policy *pol)
{
    json_t *aud = json_object_get(payload, "aud");
    if (aud && !json_is_string(aud) && !json_is_array(aud))
        return "bad claim type";
    int found = 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *item;
        json_array_foreach(aud, i, item)
        {
            if (!json_is_string(item))
                return "bad claim type";
            found |= one_of(item, pol->aud, pol->aud_count);
        }
    } else if (aud) {
        found = one_of(aud, pol->aud, pol->aud_count);
    }
    if (pol->aud_count && !found)
        return "wrong audience";
    static const char *const names[] = {"client_id", "azp", "token_use"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(payload, names[k]);
        if (v && !json_is_string(v))
            return "bad claim type";
    }
    if (pol->client_id_count &&
        !one_of(json_object_get(payload, "client_id"), pol->client_id, pol->client_id_count))
        return "wrong audience";
    if (pol->azp_count && !one_of(json_object_get(payload, "azp"), pol->azp, pol->azp_count))
        return "wrong audience";
    if (pol->token_use && !string_is(json_object_get(payload, "token_use"), pol->token_use))
        return "wrong token use";
    return NULL;
}

/* An optional NumericDate claim: absent, or a JSON integer. */
static int optional_int(json_t *payload, const char *name, int *present, int64_t *v)
{
    json_t *j = json_object_get(payload, name);
    *present = j != NULL;
    if (!j)
        return 1;
    if (!json_is_integer(j))
        return 0;
    *v = (int64_t)json_integer_value(j);
    return 1;
}

static const char *check_claims(json_t *payload, const struct claims_policy *pol, int64_t now_s,
                                struct auth_principal *out)
{
    int64_t leeway = pol->leeway_s, exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat;
    if (!optional_int(payload, "exp", &has_exp, &exp) ||
        !optional_int(payload, "nbf", &has_nbf, &nbf) ||
        !optional_int(payload, "iat", &has_iat, &iat))
        return "bad claim type";
    if (!has_exp)
        return "missing exp";
    /* now_s and leeway are sane; the claims may be anything in int64. */
    if (exp <= now_s - leeway)
        return "token expired";
    if (has_nbf && nbf > now_s + leeway)
        return "token not yet valid";
    if (has_iat && iat > now_s + leeway)
        return "token issued in the future";
    /* exp > now_s - leeway > 0 here, so exp - max cannot wrap. */
    if (pol->max_lifetime_s > 0 && ((exp > now_s && exp - now_s > pol->max_lifetime_s) ||
                                    (has_iat && iat < exp - pol->max_lifetime_s)))
        return "token lifetime too long";

    json_t *iss = json_object_get(payload, "iss");
    if (iss && !json_is_string(iss))
        return "bad claim type";
    if (pol->issuer && !string_is(iss, pol->issuer))
        return "wrong issuer";
    const char *r = check_audience(payload, pol);
    if (r)
        return r;

    json_t *sub = json_object_get(payload, "sub");
    if (!sub)
        return "missing sub";
    if (!json_is_string(sub))
        return "bad claim type";
    if (!auth_sub_acceptable(json_string_value(sub), json_string_length(sub)))
        return "bad subject";
    out->sub = kg_strdup(json_string_value(sub));
    out->issuer = kg_strdup(pol->issuer_name ? pol->issuer_name : "default");
    if (pol->secondary) {
        auth_qualified_id(pol->issuer ? pol->issuer : json_string_value(iss), out->sub,
                          out->client_id);
        memcpy(out->owner_id, out->client_id, sizeof out->owner_id);
    } else {
        auth_derive_client_id(out->sub, out->client_id);
        auth_owner_id(out->sub, out->owner_id);
    }
    out->expires_at_s = exp;

    json_t *claim = pol->grants_claim ? json_object_get(payload, pol->grants_claim) : NULL;
    int kvs_scope = 0, ruled = 0;
    if (claim && (r = grants_from_claim(claim, out)) != NULL)
        return r;
    if ((r = grants_from_scopes(payload, pol, out, &kvs_scope)) != NULL)
        return r;
    if ((r = grants_from_rules(payload, pol, out, &ruled)) != NULL)
        return r;
    if (!claim && !kvs_scope && !ruled)
        return "no grants claim";
    return NULL;
}

enum kg_err claims_check(json_t *payload, const struct claims_policy *pol, int64_t now_s,
                         struct auth_principal *out, const char **reason)
{
    const char *r = check_claims(payload, pol, now_s, out);
    if (r) {
        auth_principal_cleanup(out);
        *reason = r;
        return KG_ERR_UNAUTHENTICATED;
    }
    return KG_OK;
}
