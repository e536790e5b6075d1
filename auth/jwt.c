/* The JWT verifier (jwtv_): shape, header, key, signature, claims, in that
 * order, each step refusing before the next sees the input.
 *
 * Design note (the measured reasons are in docs/auth.md):
 * 1. The length is capped before anything (libjwt sizes an alloca by it).
 * 2. Exactly three segments of the base64url alphabet, decoded strictly, so a
 *    signature has one spelling (libjwt's decoder skips junk).
 * 3. The header is parsed by us (duplicates refused): alg must be in the
 *    allow-list by exact match ("hs256" and "none" are not), crit is refused,
 *    typ is JWT or at+jwt (HS256: JWT only, which is all libjwt takes).
 * 4. The key decides: kid selects a JWKS key whose algorithm set must hold
 *    alg; otherwise (no kid, or a kid we do not know) the configured static
 *    keys whose set holds alg are tried. HS256 is only in a secret's set, so
 *    an HMAC token never meets a public key (algorithm confusion).
 * 5. The payload is parsed by us before the signature check, its nesting
 *    bounded first (libjwt parses the payload of HS256 tokens itself, and a
 *    payload it cannot read must not pass for a bad signature); its claims
 *    are believed only once the signature holds.
 * 6. Claims and grants (claims.c).
 * 7. A token that passed all of it is remembered by the SHA-256 of its exact
 *    bytes (token_cache.c); the same bytes again skip steps 1-6 until the
 *    token's exp or the cache's short TTL, whichever comes first. */
#include "auth/jwt.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/internal.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "core/url.h"

#define JWTV_HEADER_MAX_DEPTH 4
#define JWTV_PAYLOAD_MAX_DEPTH 32
#define JWTV_MAX_TOKEN_LEN_LIMIT 65536
#define JWTV_MAX_LEEWAY_S 300
#define JWTV_MAX_CLAIM_NAME_LEN 256

/* A JWKS fetcher of the verifier, shared by every generation that names the
 * same URL (or discovery issuer): a reload does not refetch what it keeps. */
struct jwks_slot {
    char *key; /* "u <url>" or "d <issuer>" */
    struct jwks *jwks;
    size_t refs; /* issuers of live generations using it; 0: freed by the next sweep */
};
#define JWTV_MAX_JWKS 32

struct jwtv {
    pthread_mutex_t lock; /* guards current, slots and started */
    struct auth_policy *current;
    uint64_t generation;
    struct jwks_slot slots[JWTV_MAX_JWKS];
    size_t slot_count;
    int started;
    /* what every generation shares */
    struct kg_http_client *http;
    int64_t refresh_s, refetch_s, timeout_ms;
    int64_t (*now_fn)(void);
    int64_t leeway_s, max_lifetime_s;
    size_t max_token_len;
    struct tokcache *cache; /* NULL: every token is verified in full */
};

static enum kg_err config_error(char *why, size_t why_len, const char *msg)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", msg);
    return KG_ERR_BAD_REQUEST;
}

static char **copy_list(const char *const *list, size_t n)
{
    char **out = n ? kg_calloc(n, sizeof *out) : NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = kg_strdup(list[i]);
    return out;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void issuer_cleanup(struct auth_issuer *is)
{
    free(is->name);
    free(is->issuer);
    free(is->token_use);
    free(is->grants_claim);
    free(is->scope_prefix);
    free_list(is->aud, is->aud_count);
    free_list(is->client_id, is->client_id_count);
    free_list(is->azp, is->azp_count);
    free_list(is->scope_claims, is->scope_claim_count);
    for (size_t r = 0; r < is->rule_count; r++) {
        struct claims_rule *rule = &is->rules[r];
        free_list(rule->path, rule->path_len);
        free(rule->equals);
        for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++)
            free_list(rule->patterns[perm], rule->counts[perm]);
    }
    free(is->rules);
    for (size_t i = 0; i < is->static_count; i++)
        auth_key_free(is->static_keys[i]);
    memset(is, 0, sizeof *is);
}

/* The slot of fetcher j. v->lock held. */
static struct jwks_slot *slot_of(struct jwtv *v, const struct jwks *j)
{
    for (size_t i = 0; i < v->slot_count; i++)
        if (v->slots[i].jwks == j)
            return &v->slots[i];
    return NULL;
}

/* Frees a generation nobody holds. v->lock held (the slots' counts). */
static void policy_free_locked(struct jwtv *v, struct auth_policy *p)
{
    for (size_t i = 0; i < p->count; i++) {
        struct jwks_slot *slot = p->issuers[i].jwks ? slot_of(v, p->issuers[i].jwks) : NULL;
        if (slot)
            slot->refs--;
        issuer_cleanup(&p->issuers[i]);
    }
    free(p);
}

static void policy_release(struct jwtv *v, struct auth_policy *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pthread_mutex_lock(&v->lock);
    policy_free_locked(v, p);
    pthread_mutex_unlock(&v->lock);
}

/* Frees the fetchers no live generation uses (their issuers were removed, or
 * a reload that made them was refused). Joins their threads, so it runs in
 * the reloading thread, never in a request's. */
static void slots_sweep(struct jwtv *v)
{
    struct jwks *unused[JWTV_MAX_JWKS];
    size_t n = 0;
    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < v->slot_count;) {
        if (v->slots[i].refs == 0) {
            unused[n++] = v->slots[i].jwks;
            free(v->slots[i].key);
            v->slots[i] = v->slots[--v->slot_count];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&v->lock);
    for (size_t i = 0; i < n; i++)
        jwks_free(unused[i]);
}

static struct auth_policy *policy_acquire(struct jwtv *v)
{
    pthread_mutex_lock(&v->lock);
    struct auth_policy *p = v->current;
    __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&v->lock);
    return p;
}

/* The verifier's fetcher for this issuer's JWKS, made (and, once the
 * verifier runs, fetched and started) when no generation had it yet. v->lock
 * held. */
static struct jwks *jwks_for(struct jwtv *v, const struct jwtv_issuer *in, int *fresh)
{
    char key[JWKS_URL_MAX + 8];
    snprintf(key, sizeof key, "%s %s", in->discovery ? "d" : "u",
             in->discovery ? in->issuer : in->jwks_url);
    for (size_t i = 0; i < v->slot_count; i++)
        if (strcmp(v->slots[i].key, key) == 0) {
            v->slots[i].refs++;
            return v->slots[i].jwks;
        }
    if (v->slot_count == JWTV_MAX_JWKS)
        return NULL;
    struct jwks_options jo = {
        .url = in->discovery ? NULL : in->jwks_url,
        .discovery_issuer = in->discovery ? in->issuer : NULL,
        .name = in->name,
        .http = v->http,
        .refresh_s = v->refresh_s,
        .min_refetch_s = v->refetch_s,
        .timeout_ms = v->timeout_ms,
        .now_fn = v->now_fn,
    };
    struct jwks *j = jwks_new(&jo);
    v->slots[v->slot_count].key = kg_strdup(key);
    v->slots[v->slot_count].refs = 1;
    v->slots[v->slot_count++].jwks = j;
    *fresh = 1;
    return j;
}

/* "KVSGATE_X: msg" for the environment's lone issuer, "issuer NAME: msg" for
 * a policy file's. */
static enum kg_err issuer_error(const struct jwtv_issuer *in, int from_env, const char *env_var,
                                const char *msg, char *why, size_t why_len)
{
    if (why && why_len) {
        if (from_env)
            snprintf(why, why_len, "%s: %s", env_var ? env_var : "KVSGATE_JWT", msg);
        else
            snprintf(why, why_len, "issuer %s: %s", in->name ? in->name : "?", msg);
    }
    return KG_ERR_BAD_REQUEST;
}

static void rules_copy(struct auth_issuer *is, const struct jwtv_issuer *in)
{
    is->rule_count = in->rule_count;
    is->rules = in->rule_count ? kg_calloc(in->rule_count, sizeof *is->rules) : NULL;
    for (size_t r = 0; r < in->rule_count; r++) {
        const struct jwtv_rule *src = &in->rules[r];
        struct claims_rule *dst = &is->rules[r];
        dst->path = copy_list(src->claim_path, src->claim_path_len);
        dst->path_len = src->claim_path_len;
        dst->equals = src->equals ? kg_strdup(src->equals) : NULL;
        for (int perm = 0; perm < AUTHZ_PERM_COUNT; perm++) {
            dst->patterns[perm] = copy_list(src->patterns[perm], src->pattern_counts[perm]);
            dst->counts[perm] = src->pattern_counts[perm];
        }
        dst->any_client_id = src->any_client_id;
        dst->manage_any = src->manage_any;
    }
}

/* Checks one issuer's options and builds it: keys loaded, JWKS fetcher found
 * or made. v->lock held (the fetcher registry). */
static enum kg_err issuer_build(struct jwtv *v, const struct jwtv_issuer *in, size_t index,
                                int from_env, struct auth_issuer *is, int *fresh_jwks, char *why,
                                size_t why_len)
{
    if (in->hs256_secret && in->hs256_secret_len < JWTV_HS256_SECRET_MIN_LEN)
        return issuer_error(in, from_env, "KVSGATE_JWT_HS256_SECRET",
                            "must be at least 32 bytes", why, why_len);
    if (!in->hs256_secret && !in->public_key_file_count && !in->jwks_url && !in->discovery)
        return from_env ? config_error(why, why_len,
                                       "no JWT key: set KVSGATE_JWT_HS256_SECRET(_FILE), "
                                       "KVSGATE_JWT_PUBLIC_KEY_FILE or KVSGATE_JWKS_URL")
                        : issuer_error(in, 0, NULL, "no keys (a secret, PEM files, a JWKS URL "
                                                    "or discovery)", why, why_len);
    if (in->jwks_url && in->discovery)
        return issuer_error(in, from_env, NULL, "a JWKS URL or discovery, not both", why, why_len);
    if (in->jwks_url && !jwks_url_ok(in->jwks_url))
        return issuer_error(in, from_env, "KVSGATE_JWKS_URL",
                            "must be an https:// URL (http:// only to localhost)", why, why_len);
    if (in->discovery && (!in->issuer || !jwks_url_ok(in->issuer)))
        return issuer_error(in, from_env, NULL,
                            "discovery needs an https:// issuer (http:// only to localhost)", why,
                            why_len);
    if ((in->jwks_url || in->discovery) && !v->http)
        return issuer_error(in, from_env, "KVSGATE_JWKS_URL", "no HTTP client", why, why_len);
    if (in->issuer && !*in->issuer)
        return issuer_error(in, from_env, "KVSGATE_JWT_ISSUER", "must not be empty", why, why_len);
    if (in->grants_claim && (strlen(in->grants_claim) > JWTV_MAX_CLAIM_NAME_LEN ||
                             (from_env && !*in->grants_claim)))
        return issuer_error(in, from_env, "KVSGATE_JWT_GRANTS_CLAIM", "must be 1..256 bytes", why,
                            why_len);
    is->name = kg_strdup(in->name ? in->name : "default");
    if (in->hs256_secret)
        is->static_keys[is->static_count++] =
            auth_key_new_hmac(in->hs256_secret, in->hs256_secret_len);
    for (size_t i = 0; i < in->public_key_file_count; i++)
        if (auth_keys_load_pem_file(in->public_key_files[i], is->static_keys, &is->static_count,
                                    AUTH_ISSUER_MAX_STATIC_KEYS, why, why_len) != KG_OK)
            return KG_ERR_BAD_REQUEST;
    if ((in->jwks_url || in->discovery) && !(is->jwks = jwks_for(v, in, fresh_jwks)))
        return issuer_error(in, from_env, NULL, "too many JWKS URLs", why, why_len);
    is->issuer = in->issuer ? kg_strdup(in->issuer) : NULL;
    is->token_use = in->token_use ? kg_strdup(in->token_use) : NULL;
    is->grants_claim = kg_strdup(in->grants_claim ? in->grants_claim : "kvs");
    is->scope_prefix = kg_strdup(in->scope_prefix ? in->scope_prefix : "");
    is->aud = copy_list(in->aud, in->aud_count);
    is->aud_count = in->aud_count;
    is->client_id = copy_list(in->client_id, in->client_id_count);
    is->client_id_count = in->client_id_count;
    is->azp = copy_list(in->azp, in->azp_count);
    is->azp_count = in->azp_count;
    is->scope_claims = copy_list(in->scope_claims, in->scope_claim_count);
    is->scope_claim_count = in->scope_claim_count;
    rules_copy(is, in);
    is->claims = (struct claims_policy){
        .issuer = is->issuer,
        .aud = (const char *const *)is->aud,
        .aud_count = is->aud_count,
        .client_id = (const char *const *)is->client_id,
        .client_id_count = is->client_id_count,
        .azp = (const char *const *)is->azp,
        .azp_count = is->azp_count,
        .token_use = is->token_use,
        .grants_claim = is->grants_claim[0] ? is->grants_claim : NULL,
        .scope_prefix = is->scope_prefix,
        .scope_claims = (const char *const *)is->scope_claims,
        .scope_claim_count = is->scope_claim_count,
        .rules = is->rules,
        .rule_count = is->rule_count,
        .secondary = index > 0,
        .issuer_name = is->name,
        .leeway_s = v->leeway_s,
        .max_lifetime_s = v->max_lifetime_s,
    };
    return KG_OK;
}

/* The lone issuer the environment's settings describe. */
static struct jwtv_issuer env_issuer(const struct jwtv_options *o, const char *const *aud)
{
    return (struct jwtv_issuer){
        .name = "default",
        .issuer = o->issuer,
        .hs256_secret = o->hs256_secret,
        .hs256_secret_len = o->hs256_secret_len,
        .public_key_files = o->public_key_files,
        .public_key_file_count = o->public_key_file_count,
        .jwks_url = o->jwks_url,
        .aud = aud,
        .aud_count = o->audience ? 1 : 0,
        .grants_claim = o->grants_claim,
    };
}

/* A new generation from opts. v->lock held. The fetchers it made are listed
 * in fresh[] for the caller to fetch and start. */
static enum kg_err policy_build(struct jwtv *v, const struct jwtv_options *opts,
                                struct auth_policy **out, struct jwks **fresh, size_t *fresh_count,
                                char *why, size_t why_len)
{
    const char *aud[1] = {opts->audience};
    struct jwtv_issuer single = env_issuer(opts, aud);
    const struct jwtv_issuer *list = opts->issuer_count ? opts->issuers : &single;
    size_t n = opts->issuer_count ? opts->issuer_count : 1;
    if (n > JWTV_MAX_ISSUERS)
        return config_error(why, why_len, "at most 16 issuers");
    if (opts->audience && !*opts->audience)
        return config_error(why, why_len, "KVSGATE_JWT_AUDIENCE: must not be empty");
    struct auth_policy *p = kg_calloc(1, sizeof *p);
    p->refs = 1;
    *fresh_count = 0;
    enum kg_err err = KG_OK;
    for (size_t i = 0; i < n && err == KG_OK; i++) {
        if (n > 1 && !list[i].issuer)
            err = issuer_error(&list[i], 0, NULL, "needs its iss when there are several issuers",
                               why, why_len);
        for (size_t k = 0; k < i && err == KG_OK; k++)
            if (strcmp(list[k].name, list[i].name) == 0 ||
                (list[k].issuer && list[i].issuer && strcmp(list[k].issuer, list[i].issuer) == 0))
                err = issuer_error(&list[i], 0, NULL, "the same name or iss as another issuer",
                                   why, why_len);
        int fresh_jwks = 0;
        if (err == KG_OK)
            err = issuer_build(v, &list[i], i, !opts->issuer_count, &p->issuers[i], &fresh_jwks,
                               why, why_len);
        if (fresh_jwks)
            fresh[(*fresh_count)++] = p->issuers[i].jwks;
        p->count = i + 1;
    }
    if (err != KG_OK) {
        policy_free_locked(v, p);
        return err;
    }
    *out = p;
    return KG_OK;
}

/* The settings every generation shares, checked (defaults applied). */
static enum kg_err options_check(const struct jwtv_options *opts, struct jwtv *shared, char *why,
                                 size_t why_len)
{
    if (opts->max_lifetime_s < 0)
        return config_error(why, why_len, "KVSGATE_JWT_MAX_LIFETIME_S: must not be negative");
    if (opts->leeway_s < 0 || opts->leeway_s > JWTV_MAX_LEEWAY_S)
        return config_error(why, why_len, "KVSGATE_JWT_LEEWAY_S: must be 0..300");
    shared->refresh_s = opts->jwks_refresh_s ? opts->jwks_refresh_s : 600;
    shared->refetch_s = opts->jwks_min_refetch_s ? opts->jwks_min_refetch_s : 30;
    shared->timeout_ms = opts->jwks_timeout_ms ? opts->jwks_timeout_ms : 5000;
    if (shared->refresh_s < JWTV_JWKS_REFRESH_MIN_S || shared->refresh_s > JWTV_JWKS_REFRESH_MAX_S)
        return config_error(why, why_len, "jwks_refresh_s: must be 10..86400");
    if (shared->refetch_s < 1 || shared->refetch_s > 86400)
        return config_error(why, why_len, "jwks_min_refetch_s: must be 1..86400");
    if (shared->timeout_ms < 1 || shared->timeout_ms > 120000)
        return config_error(why, why_len, "jwks_timeout_ms: must be 1..120000");
    if (opts->token_cache_ttl_s > 3600 || opts->token_cache_entries > (1u << 24))
        return config_error(why, why_len,
                            "token cache: ttl at most 3600 s, at most 16777216 entries");
    shared->max_token_len = opts->max_token_len ? opts->max_token_len : JWTV_DEFAULT_MAX_TOKEN_LEN;
    if (shared->max_token_len > JWTV_MAX_TOKEN_LEN_LIMIT)
        return config_error(why, why_len, "max_token_len: at most 65536");
    shared->http = opts->http;
    shared->now_fn = opts->now_fn;
    shared->leeway_s = opts->leeway_s;
    shared->max_lifetime_s = opts->max_lifetime_s;
    return KG_OK;
}

enum kg_err jwtv_new(const struct jwtv_options *opts, struct jwtv **out, char *why, size_t why_len)
{
    *out = NULL;
    if (why && why_len)
        why[0] = '\0';
    if (!opts)
        return config_error(why, why_len, "no JWT options");
    struct jwtv shared = {0};
    enum kg_err err = options_check(opts, &shared, why, why_len);
    if (err != KG_OK)
        return err;

    /* Before any thread of ours parses JSON (jansson's thread-safety notes). */
    json_object_seed(0);

    struct jwtv *v = kg_calloc(1, sizeof *v);
    *v = shared;
    pthread_mutex_init(&v->lock, NULL);
    struct jwks *fresh[JWTV_MAX_ISSUERS];
    size_t fresh_count;
    pthread_mutex_lock(&v->lock);
    err = policy_build(v, opts, &v->current, fresh, &fresh_count, why, why_len);
    pthread_mutex_unlock(&v->lock);
    if (err != KG_OK) {
        jwtv_free(v);
        return err;
    }
    v->generation = v->current->generation = 1;
    if (opts->token_cache_ttl_s >= 0)
        v->cache = tokcache_new(opts->token_cache_entries, opts->token_cache_ttl_s);
    *out = v;
    return KG_OK;
}

/* The first fetch of each fetcher (a failure is logged and retried by its
 * thread), then its thread. */
static void jwks_run(struct jwks *j)
{
    if (jwks_fetch_now(j) != KG_OK) {
        /* logged inside; the thread retries and jwtv_ready tells */
    }
    if (jwks_start(j) != KG_OK)
        kg_log_msg(KG_LOG_ERROR, "jwks_thread_failed", "cannot start a JWKS refresher");
}

enum kg_err jwtv_start(struct jwtv *v)
{
    pthread_mutex_lock(&v->lock);
    v->started = 1;
    size_t n = v->slot_count;
    struct jwks *all[JWTV_MAX_JWKS];
    for (size_t i = 0; i < n; i++)
        all[i] = v->slots[i].jwks;
    pthread_mutex_unlock(&v->lock);
    for (size_t i = 0; i < n; i++)
        jwks_run(all[i]);
    return KG_OK;
}

/* The first fetch of a reload's new fetchers: all must succeed, or the
 * reload is refused (the running generation has keys; the new one would
 * have none for that issuer). */
static enum kg_err fresh_fetch(const struct auth_policy *p, struct jwks *const *fresh,
                               size_t fresh_count, char *why, size_t why_len)
{
    for (size_t i = 0; i < fresh_count; i++) {
        if (jwks_fetch_now(fresh[i]) == KG_OK)
            continue;
        const char *name = "?";
        for (size_t k = 0; k < p->count; k++)
            if (p->issuers[k].jwks == fresh[i])
                name = p->issuers[k].name;
        if (why && why_len)
            snprintf(why, why_len, "issuer %s: its JWKS could not be fetched (see jwks_fetch_failed)",
                     name);
        return KG_ERR_BAD_REQUEST;
    }
    return KG_OK;
}

enum kg_err jwtv_reload(struct jwtv *v, const struct jwtv_options *opts, uint64_t *generation,
                        char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    struct auth_policy *p = NULL;
    struct jwks *fresh[JWTV_MAX_ISSUERS];
    size_t fresh_count = 0;
    pthread_mutex_lock(&v->lock);
    enum kg_err err = policy_build(v, opts, &p, fresh, &fresh_count, why, why_len);
    int started = v->started;
    pthread_mutex_unlock(&v->lock);
    /* New issuers' keys first, so that the swap never makes a gap. */
    if (err == KG_OK && started)
        err = fresh_fetch(p, fresh, fresh_count, why, why_len);
    if (err != KG_OK) {
        policy_release(v, p);
        slots_sweep(v);
        return err;
    }
    for (size_t i = 0; started && i < fresh_count; i++)
        if (jwks_start(fresh[i]) != KG_OK)
            kg_log_msg(KG_LOG_ERROR, "jwks_thread_failed", "cannot start a JWKS refresher");
    pthread_mutex_lock(&v->lock);
    struct auth_policy *old = v->current;
    p->generation = ++v->generation;
    v->current = p;
    if (generation)
        *generation = p->generation;
    pthread_mutex_unlock(&v->lock);
    policy_release(v, old);
    slots_sweep(v);
    return KG_OK;
}

uint64_t jwtv_generation(struct jwtv *v)
{
    pthread_mutex_lock(&v->lock);
    uint64_t g = v->generation;
    pthread_mutex_unlock(&v->lock);
    return g;
}

int jwtv_ready(struct jwtv *v)
{
    struct auth_policy *p = policy_acquire(v);
    int ready = p->count > 0;
    for (size_t i = 0; i < p->count && ready; i++) {
        const struct auth_issuer *is = &p->issuers[i];
        size_t keys = 0;
        if (is->jwks) {
            uint64_t ok, failed;
            jwks_stats(is->jwks, &ok, &failed, &keys);
        }
        ready = is->static_count + keys > 0;
    }
    policy_release(v, p);
    return ready;
}

void jwtv_get_stats(struct jwtv *v, struct jwtv_stats *out)
{
    memset(out, 0, sizeof *out);
    struct auth_policy *p = policy_acquire(v);
    for (size_t i = 0; i < p->count; i++)
        out->keys_loaded += p->issuers[i].static_count;
    policy_release(v, p);
    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < v->slot_count; i++) {
        uint64_t ok, failed;
        size_t keys;
        jwks_stats(v->slots[i].jwks, &ok, &failed, &keys);
        out->jwks_fetch_ok += ok;
        out->jwks_fetch_failed += failed;
        out->keys_loaded += keys;
    }
    pthread_mutex_unlock(&v->lock);
    if (v->cache) {
        struct tokcache_stats ts;
        tokcache_stats(v->cache, &ts);
        out->token_cache_hits = ts.hits;
        out->token_cache_misses = ts.misses;
        out->token_cache_evictions = ts.evictions;
        out->token_cache_entries = ts.entries;
    }
}

void jwtv_free(struct jwtv *v)
{
    if (!v)
        return;
    if (v->current)
        policy_release(v, v->current);
    for (size_t i = 0; i < v->slot_count; i++) {
        jwks_free(v->slots[i].jwks);
        free(v->slots[i].key);
    }
    tokcache_free(v->cache);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

static int b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* header "typ" (RFC 7515 §4.1.9: compare case-insensitively, "application/"
 * may be left out). */
static int typ_ok(json_t *typ, enum jwa alg)
{
    if (!typ)
        return 1;
    if (!json_is_string(typ))
        return 0;
    const char *t = json_string_value(typ);
    /* libjwt takes "JWT" in any case and nothing else: HMAC tokens are that. */
    if (alg == JWA_HS256)
        return strcasecmp(t, "JWT") == 0;
    if (strncasecmp(t, "application/", 12) == 0)
        t += 12;
    return strcasecmp(t, "JWT") == 0 || strcasecmp(t, "at+jwt") == 0;
}

/* One verification in progress: the token's decoded parts and what each step
 * found. */
struct verify_state {
    const char *token;
    size_t token_len;
    size_t signing_input_len; /* header.payload */
    struct kg_buf header_json, payload_json, sig;
    json_t *header, *payload;
    enum jwa alg;
    const char *kid;
    size_t kid_len;
    struct auth_keyset *set;
    const struct auth_key *verified_by;
};

/* Step 1: exactly three non-empty base64url segments, decoded strictly. */
static const char *split_token(struct verify_state *st)
{
    const char *token = st->token;
    size_t token_len = st->token_len;
    const char *dot1 = memchr(token, '.', token_len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', token_len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2)
        return "malformed token";
    size_t h_len = (size_t)(dot1 - token), p_len = (size_t)(dot2 - dot1 - 1);
    size_t s_len = token_len - (size_t)(dot2 + 1 - token);
    if (!h_len || !p_len || !s_len)
        return "malformed token";
    for (size_t i = 0; i < token_len; i++)
        if (token + i != dot1 && token + i != dot2 && !b64url_char((unsigned char)token[i]))
            return "malformed token"; /* a third dot lands here too */
    if (kg_base64url_decode(&st->header_json, token, h_len) != KG_OK ||
        kg_base64url_decode(&st->payload_json, dot1 + 1, p_len) != KG_OK ||
        kg_base64url_decode(&st->sig, dot2 + 1, s_len) != KG_OK)
        return "malformed token";
    st->signing_input_len = (size_t)(dot2 - token);
    return NULL;
}

/* Step 2: the header (alg, typ, crit, kid) and the payload's nesting. */
static const char *read_header(struct verify_state *st)
{
    st->header = strictjson_object(st->header_json.data, st->header_json.len, JWTV_HEADER_MAX_DEPTH);
    if (!st->header)
        return "malformed token";
    json_t *j_alg = json_object_get(st->header, "alg");
    if (!json_is_string(j_alg) ||
        !jwa_parse(json_string_value(j_alg), json_string_length(j_alg), &st->alg))
        return "unsupported algorithm";
    if (!typ_ok(json_object_get(st->header, "typ"), st->alg))
        return "unsupported token type";
    if (json_object_get(st->header, "crit"))
        return "unsupported critical header";
    json_t *j_kid = json_object_get(st->header, "kid");
    if (j_kid) {
        if (!json_is_string(j_kid) || json_string_length(j_kid) == 0 ||
            json_string_length(j_kid) > AUTH_KID_MAX)
            return "malformed token";
        st->kid = json_string_value(j_kid);
        st->kid_len = json_string_length(j_kid);
    }
    /* The payload is read now (nesting bounded, duplicates refused, text that
     * is not UTF-8 refused), so that one libjwt cannot read never passes for a
     * bad signature; its claims are believed only once the signature holds. */
    st->payload = strictjson_object(st->payload_json.data, st->payload_json.len,
                                 JWTV_PAYLOAD_MAX_DEPTH);
    return st->payload ? NULL : "malformed token";
}

/* Step 3: the key decides (design note 4), then the signature. */
/* Step 3: the issuer the token names (its iss, unverified until step 4),
 * whose keys alone may verify it. NULL when none of the trusted ones. */
static const struct auth_issuer *pick_issuer(const struct auth_policy *p, json_t *payload)
{
    json_t *iss = json_object_get(payload, "iss");
    const char *name = json_is_string(iss) ? json_string_value(iss) : NULL;
    for (size_t i = 0; name && i < p->count; i++)
        if (p->issuers[i].issuer && strcmp(p->issuers[i].issuer, name) == 0)
            return &p->issuers[i];
    /* A lone issuer answers for every token: its claims check says "wrong
     * issuer" when it names one. */
    return p->count == 1 ? &p->issuers[0] : NULL;
}

/* Step 4: the key decides (design note 4), then the signature. */
static const char *check_signature(const struct auth_issuer *is, struct verify_state *st)
{
    const struct auth_key *cands[AUTH_ISSUER_MAX_STATIC_KEYS + 1];
    size_t n_cands = 0;
    int kid_unknown = 0;
    if (st->kid && is->jwks) {
        st->set = jwks_acquire(is->jwks);
        const struct auth_key *k = auth_keyset_find(st->set, st->kid, st->kid_len);
        if (k && !(k->algs & JWA_BIT(st->alg)))
            return "algorithm does not match key";
        if (k)
            cands[n_cands++] = k;
        else
            kid_unknown = 1;
    }
    if (n_cands == 0)
        for (size_t i = 0; i < is->static_count; i++)
            if (is->static_keys[i]->algs & JWA_BIT(st->alg))
                cands[n_cands++] = is->static_keys[i];
    for (size_t i = 0; i < n_cands && !st->verified_by; i++)
        if (jws_verify(cands[i], st->alg, st->token, st->token_len, st->signing_input_len,
                       (const unsigned char *)st->sig.data, st->sig.len))
            st->verified_by = cands[i];
    if (st->verified_by)
        return NULL;
    if (kid_unknown) {
        jwks_request_refetch(is->jwks);
        return "unknown key id";
    }
    if (n_cands)
        return "bad signature";
    return !st->kid && is->jwks ? "missing key id" : "algorithm does not match key";
}

/* Steps 1-5 on a token the cache did not know, under generation p. */
static const char *verify_full(const struct auth_policy *p, const char *token, size_t token_len,
                               int64_t now_s, struct auth_principal *out, enum jwa *alg,
                               const char **key_id)
{
    struct verify_state st = {.token = token, .token_len = token_len};
    kg_buf_init(&st.header_json, token_len);
    kg_buf_init(&st.payload_json, token_len);
    kg_buf_init(&st.sig, token_len);
    const struct auth_issuer *is = NULL;
    const char *why = split_token(&st);
    if (!why)
        why = read_header(&st);
    if (!why && !(is = pick_issuer(p, st.payload)))
        why = "wrong issuer";
    if (!why)
        why = check_signature(is, &st);
    /* 5. Claims, now that they are known to be the issuer's. */
    if (!why && claims_check(st.payload, &is->claims, now_s, out, &why) == KG_OK)
        why = NULL;
    if (!why) {
        *alg = st.alg;
        *key_id = st.verified_by->kid ? st.verified_by->kid : "";
    }
    auth_keyset_release(st.set);
    json_decref(st.header);
    json_decref(st.payload);
    kg_buf_free(&st.header_json);
    st.payload_json.flags |= KG_BUF_SECRET;
    kg_buf_free(&st.payload_json);
    kg_buf_free(&st.sig);
    return why;
}

enum kg_err jwtv_check(struct jwtv *v, const char *token, size_t token_len, int64_t now_s,
                       int cached_only, struct auth_principal *out, const char **reason)
{
    const char *local;
    if (!reason)
        reason = &local;
    *reason = NULL;
    memset(out, 0, sizeof *out);
    if (!v || !token || token_len == 0) {
        *reason = "malformed token";
        return KG_ERR_UNAUTHENTICATED;
    }
    if (token_len > v->max_token_len) {
        *reason = "token too large";
        return KG_ERR_UNAUTHENTICATED;
    }
    struct auth_policy *p = policy_acquire(v);

    /* 0. Seen and accepted shortly before, byte for byte, under this generation. */
    unsigned char digest[32];
    enum kg_err result = KG_ERR_UNAUTHENTICATED;
    if (v->cache) {
        tokcache_digest(p->generation, token, token_len, digest);
        if (tokcache_get(v->cache, digest, now_s, out)) {
            result = KG_OK;
            goto done;
        }
    }
    if (cached_only) {
        *reason = "not verified: too many failed authentications";
        result = KG_ERR_RATE_LIMITED;
        goto done;
    }
    enum jwa alg = JWA_HS256;
    const char *key_id = "";
    *reason = verify_full(p, token, token_len, now_s, out, &alg, &key_id);
    if (!*reason) {
        out->alg = jwa_name(alg);
        out->key_id = key_id;
        if (v->cache)
            tokcache_put(v->cache, digest, now_s, out);
        result = KG_OK;
    }
done:
    policy_release(v, p);
    return result;
}

enum kg_err jwtv_verify(struct jwtv *v, const char *token, size_t token_len, int64_t now_s,
                        struct auth_principal *out, const char **reason)
{
    return jwtv_check(v, token, token_len, now_s, 0, out, reason);
}
