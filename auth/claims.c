/* Registered claims (RFC 7519 §4.1) and kvsgate's grants, read from a payload
 * whose signature has already been checked.
 *
 * Types are checked before values: jansson (like libjwt's jwt_get_grant_int)
 * reads 0 from a real or a string, so an "exp": 1.7e9 or "exp": "..." would
 * otherwise mean "expired in 1970" to one reader and "valid" to another. All
 * times are compared without overflow for any int64 claim.
 *
 * Grant patterns that do not make a channel name or prefix (after {sub} is
 * replaced) are dropped: a pattern can only ever grant less than it says,
 * never more, and one bad scope from another application does not lock the
 * caller out. More than CLAIMS_MAX_PATTERNS per permission refuses the token. */
#include <stdlib.h>
#include <string.h>

#include "auth/authz.h"
#include "auth/internal.h"
#include "core/mem.h"

static const char *const perm_names[AUTHZ_PERM_COUNT] = {"master", "viewer", "manage"};

enum add_result { ADD_OK, ADD_DROPPED, ADD_TOO_MANY };

static enum add_result add_pattern(struct authz_grants *g, enum authz_perm perm, const char *raw,
                                   const char *client_id)
{
    char *expanded = NULL;
    if (strlen(raw) > CLAIMS_MAX_PATTERN_LEN ||
        authz_pattern_expand(raw, client_id, &expanded) != KG_OK)
        return ADD_DROPPED;
    if (g->counts[perm] >= CLAIMS_MAX_PATTERNS) {
        free(expanded);
        return ADD_TOO_MANY;
    }
    g->patterns[perm] = kg_realloc(g->patterns[perm], (g->counts[perm] + 1) * sizeof(char *));
    g->patterns[perm][g->counts[perm]++] = expanded;
    return ADD_OK;
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

/* One space-separated scope token; "kvs:<perm>:<pattern>" grants, "kvs:admin"
 * is manageAny, any other token is someone else's and is ignored. *kvs is set
 * when it starts "kvs:". */
static const char *grants_from_scope(const char *tok, size_t n, struct auth_principal *out,
                                     int *kvs)
{
    if (n < 4 || memcmp(tok, "kvs:", 4) != 0)
        return NULL;
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

static const char *grants_from_scope_string(const char *s, struct auth_principal *out, int *kvs)
{
    while (*s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        if (n) {
            const char *r = grants_from_scope(s, n, out, kvs);
            if (r)
                return r;
        }
        s += n;
    }
    return NULL;
}

/* scope: a space-separated string (RFC 8693 §4.2); scp: an array of strings
 * (Okta, Keycloak) or a space-separated string (Microsoft Entra). */
static const char *grants_from_scopes(json_t *payload, struct auth_principal *out, int *kvs)
{
    json_t *scope = json_object_get(payload, "scope");
    if (scope) {
        if (!json_is_string(scope))
            return "bad claim type";
        const char *r = grants_from_scope_string(json_string_value(scope), out, kvs);
        if (r)
            return r;
    }
    json_t *scp = json_object_get(payload, "scp");
    if (!scp)
        return NULL;
    if (json_is_string(scp))
        return grants_from_scope_string(json_string_value(scp), out, kvs);
    if (!json_is_array(scp))
        return "bad claim type";
    size_t i;
    json_t *item;
    json_array_foreach(scp, i, item)
    {
        if (!json_is_string(item))
            return "bad claim type";
        const char *r = grants_from_scope(json_string_value(item), json_string_length(item), out, kvs);
        if (r)
            return r;
    }
    return NULL;
}

static int string_is(json_t *v, const char *want)
{
    size_t n = strlen(want);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), want, n) == 0;
}

static const char *check_audience(json_t *aud, const char *want)
{
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
            if (want && string_is(item, want))
                found = 1;
        }
    } else if (want && aud) {
        found = string_is(aud, want);
    }
    return want && !found ? "wrong audience" : NULL;
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
    const char *r = check_audience(json_object_get(payload, "aud"), pol->audience);
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
    auth_derive_client_id(out->sub, out->client_id);
    out->expires_at_s = exp;

    json_t *claim = json_object_get(payload, pol->grants_claim);
    int kvs_scope = 0;
    if (claim && (r = grants_from_claim(claim, out)) != NULL)
        return r;
    if ((r = grants_from_scopes(payload, out, &kvs_scope)) != NULL)
        return r;
    if (!claim && !kvs_scope)
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
