/* The JWKS fetcher: keys from a URL, kept fresh by one background thread.
 *
 * Design note:
 * - Fetches go through the injected kg_http_client (timeouts, a size cap), so
 *   tests drive rotation and failures with a fake and no network.
 * - The current keys are an immutable auth_keyset swapped under a mutex;
 *   a request takes a reference for the length of one verification, so a swap
 *   never frees a key in use and requests never wait for a fetch.
 * - Rotation: a successful fetch replaces the whole set (keys gone from the
 *   document are dropped); a failed one (transport, HTTP status, not a JWKS,
 *   no usable key) keeps the previous set and retries after min_refetch_s.
 * - An unknown kid asks the thread for an early fetch, at most once per
 *   min_refetch_s whatever the kids, so random kids cannot make us hammer the
 *   identity provider; the request that saw it fails at once.
 * - Kids are interned for the verifier's lifetime so that a principal's
 *   key_id stays valid after its key rotates out.
 * - Timers read opts.now_fn (tests pin it); waits use CLOCK_MONOTONIC. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/internal.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/url.h"

#define JWKS_MAX_DEPTH 16
#define JWKS_MAX_INTERNED 1024
#define JWKS_CONNECT_TIMEOUT_MS 3000

struct jwks {
    char *url;              /* guarded by fetch_lock once discovery may change it */
    char *discovery_issuer; /* NULL: url is fixed */
    char *name;
    struct kg_http_client *http;
    int64_t refresh_s, min_refetch_s, timeout_ms;
    int64_t (*now_fn)(void);
    int64_t tick_ms; /* longest wait between looks at the clock */

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    struct auth_keyset *current;
    int64_t last_attempt_s;
    int64_t next_fetch_s;
    int have_attempted;
    int refetch_requested;
    int stop;
    int started;
    pthread_t thread;
    uint64_t fetch_ok, fetch_failed;

    pthread_mutex_t fetch_lock; /* one fetch at a time; guards interned */
    char **interned;
    size_t interned_count;
};

static struct kg_metric *metric_refreshes, *metric_keys;

struct jwks *jwks_new(const struct jwks_options *opts)
{
    struct jwks *j = kg_calloc(1, sizeof *j);
    j->url = kg_strdup(opts->url ? opts->url : "");
    j->discovery_issuer = opts->discovery_issuer ? kg_strdup(opts->discovery_issuer) : NULL;
    j->name = kg_strdup(opts->name ? opts->name : "default");
    j->http = opts->http;
    j->refresh_s = opts->refresh_s;
    j->min_refetch_s = opts->min_refetch_s;
    j->timeout_ms = opts->timeout_ms;
    j->now_fn = opts->now_fn ? opts->now_fn : kg_now_s;
    j->tick_ms = opts->now_fn ? 20 : 1000;
    pthread_mutex_init(&j->lock, NULL);
    pthread_mutex_init(&j->fetch_lock, NULL);
    kg_cond_init_mono(&j->cond);
    j->interned = kg_calloc(JWKS_MAX_INTERNED, sizeof(char *));
    metric_refreshes = kg_metric_counter("kvsgate_jwks_refreshes_total",
                                         "JWKS fetches by issuer and outcome (ok, network_error, "
                                         "http_error, invalid, discovery_error).",
                                         "issuer,outcome");
    metric_keys = kg_metric_gauge("kvsgate_jwks_keys_loaded",
                                  "Keys from an issuer's JWKS usable for verification now.",
                                  "issuer");
    return j;
}

static const char *jwks_intern(void *arg, const char *kid)
{
    struct jwks *j = arg;
    for (size_t i = 0; i < j->interned_count; i++)
        if (strcmp(j->interned[i], kid) == 0)
            return j->interned[i];
    if (j->interned_count >= JWKS_MAX_INTERNED)
        return NULL;
    j->interned[j->interned_count] = kg_strdup(kid);
    return j->interned[j->interned_count++];
}

static void log_skipped(json_t *jwk, const char *why)
{
    struct kg_log_line l;
    if (!kg_log_begin(&l, KG_LOG_WARN, "jwks_key_skipped"))
        return;
    json_t *kid = json_object_get(jwk, "kid");
    if (json_is_string(kid))
        kg_log_strn(&l, "kid", json_string_value(kid), json_string_length(kid) > 128 ? 128 : json_string_length(kid));
    kg_log_str(&l, "why", why);
    kg_log_end(&l);
}

enum kg_err jwks_parse(const char *body, size_t len,
                       const char *(*intern_fn)(void *arg, const char *kid), void *intern_arg,
                       struct auth_keyset **out, const char **why)
{
    enum kg_err result = KG_ERR_BAD_REQUEST;
    struct auth_key *keys[JWKS_MAX_KEYS];
    size_t count = 0;
    *out = NULL;
    json_t *root = strictjson_object(body, len, JWKS_MAX_DEPTH);
    json_t *list = root ? json_object_get(root, "keys") : NULL;
    if (!json_is_array(list)) {
        *why = "not a JWKS document";
        goto cleanup;
    }
    size_t i;
    json_t *jwk;
    json_array_foreach(list, i, jwk)
    {
        if (count >= JWKS_MAX_KEYS) {
            log_skipped(jwk, "more than 64 usable keys");
            continue;
        }
        struct auth_key *k = NULL;
        char *kid = NULL;
        const char *skip = NULL;
        if (auth_key_from_jwk(jwk, &k, &kid, &skip) != KG_OK) {
            log_skipped(jwk, skip);
            continue;
        }
        if (!kid)
            skip = "no kid (JWKS keys are selected by kid only)";
        else if (auth_keyset_find(&(struct auth_keyset){0, count, keys}, kid, strlen(kid)))
            skip = "duplicate kid";
        else if (!(k->kid = intern_fn(intern_arg, kid)))
            skip = "too many distinct kids over the process lifetime";
        free(kid);
        if (skip) {
            log_skipped(jwk, skip);
            auth_key_free(k);
            continue;
        }
        keys[count++] = k;
    }
    if (count == 0) {
        *why = "no usable key";
        goto cleanup;
    }
    *out = auth_keyset_new(keys, count);
    count = 0;
    result = KG_OK;

cleanup:
    for (size_t k = 0; k < count; k++)
        auth_key_free(keys[k]);
    json_decref(root);
    return result;
}

/* Appends the kids of a that are not in b, comma-separated; returns how many. */
static size_t kid_diff(const struct auth_keyset *a, const struct auth_keyset *b, struct kg_buf *out)
{
    size_t n = 0;
    for (size_t i = 0; a && i < a->count; i++) {
        const char *kid = a->keys[i]->kid;
        if (auth_keyset_find(b, kid, strlen(kid)))
            continue;
        size_t before = out->len;
        if ((out->len && kg_buf_append_char(out, ',') != KG_OK) ||
            kg_buf_append_str(out, kid) != KG_OK)
            kg_buf_truncate(out, before); /* full: the count still tells */
        n++;
    }
    return n;
}

static void log_rotation(const struct auth_keyset *old, const struct auth_keyset *new_set)
{
    struct kg_buf added, removed;
    kg_buf_init(&added, 1024);
    kg_buf_init(&removed, 1024);
    size_t n_added = kid_diff(new_set, old, &added);
    size_t n_removed = kid_diff(old, new_set, &removed);
    struct kg_log_line l;
    if (old && (n_added || n_removed) && kg_log_begin(&l, KG_LOG_INFO, "jwks_keys_rotated")) {
        kg_log_int(&l, "added", (int64_t)n_added);
        kg_log_int(&l, "removed", (int64_t)n_removed);
        kg_log_str(&l, "added_kids", added.data);
        kg_log_str(&l, "removed_kids", removed.data);
        kg_log_end(&l);
    }
    kg_buf_free(&added);
    kg_buf_free(&removed);
}

static void log_url(struct kg_log_line *l, const char *url)
{
    /* The query may carry a credential; the path never needs to. */
    kg_log_strn(l, "url", url, strcspn(url, "?#"));
}

int jwks_url_ok(const char *url)
{
    struct url_parts u;
    if (!url || strlen(url) > JWKS_URL_MAX || url_parse(url, URL_ALLOW_QUERY, &u) != KG_OK)
        return 0;
    return strcmp(u.scheme, "https") == 0 || url_host_is_loopback(u.host);
}

enum kg_err jwks_discovery_parse(const char *body, size_t len, const char *issuer,
                                 char jwks_uri[JWKS_URL_MAX + 1], const char **why)
{
    json_t *doc = strictjson_object(body, len, JWKS_MAX_DEPTH);
    enum kg_err err = KG_ERR_BAD_REQUEST;
    if (!doc) {
        *why = "the discovery document is not a JSON object";
        return err;
    }
    json_t *iss = json_object_get(doc, "issuer"), *uri = json_object_get(doc, "jwks_uri");
    if (!json_is_string(iss) || json_string_length(iss) != strlen(issuer) ||
        memcmp(json_string_value(iss), issuer, strlen(issuer)) != 0)
        *why = "the discovery document names another issuer";
    else if (!json_is_string(uri) || json_string_length(uri) > JWKS_URL_MAX ||
             strlen(json_string_value(uri)) != json_string_length(uri) ||
             !jwks_url_ok(json_string_value(uri)))
        *why = "the discovery document's jwks_uri is not an https:// URL";
    else {
        memcpy(jwks_uri, json_string_value(uri), json_string_length(uri) + 1);
        err = KG_OK;
    }
    json_decref(doc);
    return err;
}

/* GET url for JSON within the fetcher's time and size limits; resp is
 * initialized here and cleaned up by the caller. */
static enum kg_err jwks_get(const struct jwks *j, const char *url, struct kg_http_response *resp)
{
    const struct kg_http_header headers[] = {{"Accept", "application/json"}};
    struct kg_http_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .header_count = 1,
        .timeout_ms = j->timeout_ms,
        .connect_timeout_ms = j->timeout_ms < JWKS_CONNECT_TIMEOUT_MS ? j->timeout_ms
                                                                      : JWKS_CONNECT_TIMEOUT_MS,
        .max_response_len = JWKS_MAX_RESPONSE_LEN,
    };
    kg_http_response_init(resp);
    return kg_http_perform(j->http, &req, resp);
}

/* <issuer>/.well-known/openid-configuration (a trailing '/' of the issuer
 * dropped first, §4.1), then j->url from its jwks_uri. fetch_lock held. */
static enum kg_err jwks_discover(struct jwks *j, const char **why)
{
    char url[JWKS_URL_MAX + 64];
    size_t n = strlen(j->discovery_issuer);
    while (n && j->discovery_issuer[n - 1] == '/')
        n--;
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)n, j->discovery_issuer);
    struct kg_http_response resp;
    enum kg_err err = jwks_get(j, url, &resp);
    char found[JWKS_URL_MAX + 1];
    if (err != KG_OK || resp.status != 200) {
        *why = err != KG_OK ? "the discovery document did not come"
                            : "discovery: HTTP status other than 200";
        err = KG_ERR_UPSTREAM_UNAVAILABLE;
    } else if ((err = jwks_discovery_parse(resp.body.data, resp.body.len, j->discovery_issuer,
                                           found, why)) == KG_OK && strcmp(found, j->url) != 0) {
        free(j->url);
        j->url = kg_strdup(found);
    }
    kg_http_response_cleanup(&resp);
    return err;
}

/* The next attempt after a failure. j->lock held. */
static void schedule_retry(struct jwks *j, int64_t now)
{
    j->fetch_failed++;
    j->next_fetch_s = now + (j->min_refetch_s < j->refresh_s ? j->min_refetch_s : j->refresh_s);
}

/* Nothing discovered yet: no JWKS to fetch. */
static enum kg_err discovery_failed(struct jwks *j, int64_t now, const char *why)
{
    kg_metric_inc(metric_refreshes, (const char *[]){j->name, "discovery_error"});
    pthread_mutex_lock(&j->lock);
    schedule_retry(j, now);
    pthread_mutex_unlock(&j->lock);
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_WARN, "jwks_discovery_failed")) {
        kg_log_str(&l, "issuer", j->name);
        kg_log_str(&l, "why", why);
        kg_log_end(&l);
    }
    return KG_ERR_UPSTREAM_UNAVAILABLE;
}

/* Fetches and parses j->url: the new set, or NULL with *outcome (the
 * metric's label) and *why. */
static struct auth_keyset *fetch_set(struct jwks *j, struct kg_http_response *resp,
                                     const char **outcome, const char **why)
{
    struct auth_keyset *set = NULL;
    *outcome = "ok";
    *why = NULL;
    enum kg_err err = jwks_get(j, j->url, resp);
    if (err == KG_ERR_UPSTREAM_REFUSED) {
        *outcome = "invalid";
        *why = "response larger than 512 KiB";
    } else if (err != KG_OK) {
        *outcome = "network_error";
        *why = kg_err_name(err);
    } else if (resp->status != 200) {
        *outcome = "http_error";
        *why = "HTTP status other than 200";
    } else if (jwks_parse(resp->body.data, resp->body.len, jwks_intern, j, &set, why) != KG_OK) {
        *outcome = "invalid";
    }
    return set;
}

static void log_fetch(const struct jwks *j, const struct auth_keyset *set, size_t key_count,
                      const char *outcome, const char *why, int status)
{
    struct kg_log_line l;
    if (!kg_log_begin(&l, set ? KG_LOG_INFO : KG_LOG_WARN,
                      set ? "jwks_refresh_ok" : "jwks_refresh_failed"))
        return;
    kg_log_str(&l, "issuer", j->name);
    log_url(&l, j->url);
    if (set) {
        kg_log_int(&l, "keys", (int64_t)key_count);
    } else {
        kg_log_str(&l, "outcome", outcome);
        kg_log_str(&l, "why", why);
        if (status)
            kg_log_int(&l, "status", status);
        kg_log_int(&l, "keys_kept", (int64_t)key_count);
    }
    kg_log_end(&l);
}

enum kg_err jwks_fetch_now(struct jwks *j)
{
    pthread_mutex_lock(&j->fetch_lock);
    pthread_mutex_lock(&j->lock);
    int64_t now = j->now_fn();
    j->last_attempt_s = now;
    j->have_attempted = 1;
    pthread_mutex_unlock(&j->lock);
    const char *discovery_why = NULL;
    if (j->discovery_issuer && jwks_discover(j, &discovery_why) != KG_OK && !j->url[0]) {
        enum kg_err err = discovery_failed(j, now, discovery_why);
        pthread_mutex_unlock(&j->fetch_lock);
        return err;
    }
    /* A discovery that failed with a URL known from before: that URL is tried on. */
    struct kg_http_response resp;
    const char *outcome, *why;
    struct auth_keyset *set = fetch_set(j, &resp, &outcome, &why);
    kg_metric_inc(metric_refreshes, (const char *[]){j->name, outcome});

    struct auth_keyset *old = NULL;
    size_t key_count = 0;
    pthread_mutex_lock(&j->lock);
    if (set) {
        old = j->current;
        j->current = set;
        key_count = set->count;
        j->fetch_ok++;
        j->next_fetch_s = now + j->refresh_s;
    } else {
        schedule_retry(j, now);
        key_count = j->current ? j->current->count : 0;
    }
    pthread_mutex_unlock(&j->lock);

    if (set) {
        kg_metric_set(metric_keys, (const char *[]){j->name}, (double)key_count);
        log_rotation(old, set);
        auth_keyset_release(old);
    }
    log_fetch(j, set, key_count, outcome, why, resp.status);
    kg_http_response_cleanup(&resp);
    pthread_mutex_unlock(&j->fetch_lock);
    return set ? KG_OK : KG_ERR_UPSTREAM_UNAVAILABLE;
}

static void *jwks_thread(void *arg)
{
    struct jwks *j = arg;
    pthread_mutex_lock(&j->lock);
    while (!j->stop) {
        int64_t now = j->now_fn();
        if (j->refetch_requested || now >= j->next_fetch_s) {
            j->refetch_requested = 0;
            pthread_mutex_unlock(&j->lock);
            if (jwks_fetch_now(j) != KG_OK) {
                /* logged and counted inside; the old keys stay */
            }
            pthread_mutex_lock(&j->lock);
            continue;
        }
        int64_t wait_ms = (j->next_fetch_s - now) * 1000;
        if (wait_ms > j->tick_ms)
            wait_ms = j->tick_ms;
        kg_cond_wait_until(&j->cond, &j->lock, kg_mono_ms() + wait_ms);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

enum kg_err jwks_start(struct jwks *j)
{
    pthread_mutex_lock(&j->lock);
    if (j->started) {
        pthread_mutex_unlock(&j->lock);
        return KG_OK;
    }
    if (!j->have_attempted)
        j->next_fetch_s = j->now_fn(); /* fetch at once */
    int rc = pthread_create(&j->thread, NULL, jwks_thread, j);
    j->started = rc == 0;
    pthread_mutex_unlock(&j->lock);
    return rc == 0 ? KG_OK : KG_ERR_INTERNAL;
}

struct auth_keyset *jwks_acquire(struct jwks *j)
{
    pthread_mutex_lock(&j->lock);
    struct auth_keyset *s = j->current;
    if (s)
        auth_keyset_acquire(s);
    pthread_mutex_unlock(&j->lock);
    return s;
}

void jwks_request_refetch(struct jwks *j)
{
    pthread_mutex_lock(&j->lock);
    int64_t now = j->now_fn();
    if (j->started && !j->stop && !j->refetch_requested &&
        (!j->have_attempted || now - j->last_attempt_s >= j->min_refetch_s)) {
        j->refetch_requested = 1;
        j->last_attempt_s = now; /* closes the window for the other requests at once */
        j->have_attempted = 1;
        pthread_cond_signal(&j->cond);
    }
    pthread_mutex_unlock(&j->lock);
}

void jwks_stats(struct jwks *j, uint64_t *ok, uint64_t *failed, size_t *keys)
{
    pthread_mutex_lock(&j->lock);
    *ok = j->fetch_ok;
    *failed = j->fetch_failed;
    *keys = j->current ? j->current->count : 0;
    pthread_mutex_unlock(&j->lock);
}

void jwks_free(struct jwks *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stop = 1;
    int started = j->started;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    if (started)
        pthread_join(j->thread, NULL);
    auth_keyset_release(j->current);
    for (size_t i = 0; i < j->interned_count; i++)
        free(j->interned[i]);
    free(j->interned);
    free(j->url);
    free(j->discovery_issuer);
    free(j->name);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->fetch_lock);
    pthread_mutex_destroy(&j->lock);
    free(j);
}
