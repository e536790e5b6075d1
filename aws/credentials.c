/* The credential chain, snapshots and the refresh thread.
 *
 * Snapshots: a snapshot is immutable once published; readers take a reference
 * under the provider's mutex (a pointer copy and an atomic increment) and the
 * last release wipes and frees it. Publishing swaps the pointer under the same
 * mutex, so a reader sees the old set or the new one, never a mix.
 *
 * The chain: env, web identity, container, IMDS; the first source that is
 * configured and yields wins (a configured source that fails is logged and the
 * chain goes on, as the SDKs do). Refreshes then ask the source that yielded
 * (its name is in the snapshot), so a failing refresh keeps the identity it
 * had rather than falling through to another one; only when nothing is loaded
 * is the whole chain walked again.
 *
 * The refresh thread: it sleeps until `refresh_before_s` (at most half the
 * lifetime) before expiry, measured on the injected wall clock, in steps of at
 * most CREDS_POLL_S seconds so a clock jump is noticed; a failure is retried
 * after 1, 2, 4 ... 60 s while the old snapshot stays until it expires.
 * creds_provider_refresh_soon (ExpiredToken from AWS) forces a refresh, at
 * most once per CREDS_FORCED_MIN_INTERVAL_S.
 */
#include "aws/credentials.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials_impl.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define CREDS_POLL_S 60
#define CREDS_BACKOFF_MAX_S 60
#define CREDS_FORCED_MIN_INTERVAL_S 10

struct creds_snap {
    struct creds_snapshot pub; /* first: creds_snapshot * <-> creds_snap * */
    atomic_int refs;
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
};

typedef enum kg_err (*creds_fetch_fn)(const struct creds_ctx *ctx, struct creds_snapshot **out);

static const struct {
    const char *name;
    creds_fetch_fn fetch;
} creds_chain[] = {
    {"environment", creds_env_fetch},
    {"web_identity", creds_web_identity_fetch},
    {"container", creds_container_fetch},
    {"imds", creds_imds_fetch},
};
#define CREDS_CHAIN_COUNT (sizeof creds_chain / sizeof creds_chain[0])

/* Source names with the AssumeRole suffix, in chain order. */
static const char *const creds_assumed_names[CREDS_CHAIN_COUNT] = {
    "environment+assume_role", "web_identity+assume_role", "container+assume_role",
    "imds+assume_role"};

struct creds_provider {
    struct creds_ctx ctx;
    int64_t refresh_before_s;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    struct creds_snap *current;
    int64_t obtained_at_s;
    int source_index; /* chain index of the source that yielded, -1 */
    int failures;
    int64_t next_attempt_at_s;
    int64_t last_forced_at_s;
    int refresh_requested;
    int stop;
    int expired_logged;
    int attempts;
    int thread_started;
    pthread_t thread;

    pthread_mutex_t fetch_lock; /* one chain resolution at a time */
};

/* ---- fields and snapshots ------------------------------------------------- */

void creds_fields_cleanup(struct creds_fields *f)
{
    kg_free_secret(f->access_key_id);
    kg_free_secret(f->secret_access_key);
    kg_free_secret(f->session_token);
    f->access_key_id = f->secret_access_key = f->session_token = NULL;
    f->expires_at_s = 0;
}

static int creds_printable(const char *s, size_t max, int alnum_only)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max)
            return 0;
        if (alnum_only) {
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
                return 0;
        } else if (c <= 0x20 || c >= 0x7f) {
            return 0;
        }
    }
    return n > 0;
}

enum kg_err creds_fields_validate(const struct creds_fields *f)
{
    if (!f->access_key_id || !creds_printable(f->access_key_id, CREDS_ACCESS_KEY_ID_MAX, 1))
        return KG_ERR_UPSTREAM_REFUSED;
    if (!f->secret_access_key || !creds_printable(f->secret_access_key, CREDS_SECRET_MAX, 0))
        return KG_ERR_UPSTREAM_REFUSED;
    if (f->session_token && !creds_printable(f->session_token, CREDS_TOKEN_MAX, 0))
        return KG_ERR_UPSTREAM_REFUSED;
    if (f->expires_at_s < 0)
        return KG_ERR_UPSTREAM_REFUSED;
    return KG_OK;
}

struct creds_snapshot *creds_snapshot_take(struct creds_fields *f, const char *source)
{
    struct creds_snap *s = kg_calloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->access_key_id = f->access_key_id;
    s->secret_access_key = f->secret_access_key;
    s->session_token = f->session_token;
    f->access_key_id = f->secret_access_key = f->session_token = NULL;
    s->pub.sigv4.access_key_id = s->access_key_id;
    s->pub.sigv4.secret_access_key = s->secret_access_key;
    s->pub.sigv4.session_token = s->session_token;
    s->pub.expires_at_s = f->expires_at_s;
    s->pub.source = source;
    f->expires_at_s = 0;
    return &s->pub;
}

struct creds_snapshot *creds_snapshot_ref(struct creds_snapshot *pub)
{
    struct creds_snap *s = (struct creds_snap *)pub;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return pub;
}

void creds_release(struct creds_snapshot *pub)
{
    if (!pub)
        return;
    struct creds_snap *s = (struct creds_snap *)pub;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    kg_free_secret(s->access_key_id);
    kg_free_secret(s->secret_access_key);
    kg_free_secret(s->session_token);
    kg_wipe(s, sizeof *s);
    free(s);
}

/* ---- helpers for the sources ---------------------------------------------- */

const char *creds_getenv(const struct creds_ctx *ctx, const char *name)
{
    const char *v = ctx->getenv_fn ? ctx->getenv_fn(name) : getenv(name);
    return v && v[0] ? v : NULL;
}

enum kg_err creds_read_token_file(const char *path, struct kg_buf *out)
{
    kg_buf_init_secret(out, CREDS_TOKEN_FILE_MAX);
    if (kg_file_read(path, out) == KG_OK) {
        while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r' ||
                            out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
            kg_buf_truncate(out, out->len - 1);
        if (out->len && !memchr(out->data, '\0', out->len))
            return KG_OK;
    }
    kg_buf_free(out);
    return KG_ERR_UPSTREAM_REFUSED;
}

enum kg_err creds_status_err(long status)
{
    if (status >= 200 && status < 300)
        return KG_OK;
    if (status == 429)
        return KG_ERR_UPSTREAM_THROTTLED;
    if (status >= 500)
        return KG_ERR_UPSTREAM_UNAVAILABLE;
    return KG_ERR_UPSTREAM_REFUSED;
}

/* Copies a JSON string member into *out when it is a string of 1..max bytes. */
static int creds_json_str(json_t *obj, const char *key, size_t max, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return 0;
    size_t n = json_string_length(v);
    if (n == 0 || n > max || memchr(json_string_value(v), '\0', n))
        return 0;
    *out = kg_strndup(json_string_value(v), n);
    return 1;
}

enum kg_err creds_parse_json(const char *body, size_t len, int require_success,
                             struct creds_fields *out)
{
    enum kg_err result = KG_ERR_UPSTREAM_REFUSED;
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr); /* new reference */
    if (!json_is_object(doc))
        goto cleanup;
    json_t *code = json_object_get(doc, "Code"); /* borrowed */
    if (require_success && code &&
        (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0))
        goto cleanup;
    char *expiration = NULL;
    if (!creds_json_str(doc, "AccessKeyId", CREDS_ACCESS_KEY_ID_MAX, &out->access_key_id) ||
        !creds_json_str(doc, "SecretAccessKey", CREDS_SECRET_MAX, &out->secret_access_key) ||
        !creds_json_str(doc, "Token", CREDS_TOKEN_MAX, &out->session_token) ||
        !creds_json_str(doc, "Expiration", 64, &expiration))
        goto cleanup;
    enum kg_err terr = kg_time_parse_iso8601(expiration, &out->expires_at_s);
    free(expiration);
    if (terr != KG_OK || out->expires_at_s <= 0)
        goto cleanup;
    result = creds_fields_validate(out);
cleanup:
    /* The document held the secret: jansson does not wipe, so wipe the values. */
    if (doc) {
        const char *k;
        json_t *v;
        json_object_foreach(doc, k, v)
        {
            if (json_is_string(v))
                kg_wipe((void *)json_string_value(v), json_string_length(v));
        }
        json_decref(doc);
    }
    if (result != KG_OK)
        creds_fields_cleanup(out);
    return result;
}

void creds_log_failure(const char *source, const char *step, enum kg_err err, long status,
                       const char *detail)
{
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_WARN, "creds_source_failed")) {
        kg_log_str(&l, "source", source);
        kg_log_str(&l, "step", step);
        kg_log_str(&l, "error", kg_err_name(err));
        if (status)
            kg_log_int(&l, "status", status);
        if (detail && detail[0])
            kg_log_str(&l, "detail", detail);
        kg_log_end(&l);
    }
}

/* ---- metrics -------------------------------------------------------------- */

static struct kg_metric *creds_refreshes_metric;
static pthread_once_t creds_metric_once = PTHREAD_ONCE_INIT;

static void creds_metric_init(void)
{
    creds_refreshes_metric = kg_metric_counter(
        "kvsgate_credentials_refreshes_total",
        "Credential loads and refreshes by source and outcome", "source,outcome");
}

static struct kg_metric *creds_metric_refreshes(void)
{
    pthread_once(&creds_metric_once, creds_metric_init);
    return creds_refreshes_metric;
}

static void creds_count(const char *source, const char *outcome)
{
    kg_metric_inc(creds_metric_refreshes(), (const char *[]){source, outcome});
}

/* ---- the chain ------------------------------------------------------------ */

/* Runs one source (plus AssumeRole on top when configured). *base_yielded
 * tells whether the source itself gave credentials. */
static enum kg_err creds_fetch_from(const struct creds_ctx *ctx, size_t i,
                                    struct creds_snapshot **out, int *base_yielded)
{
    struct creds_snapshot *base = NULL;
    *base_yielded = 0;
    enum kg_err err = creds_chain[i].fetch(ctx, &base);
    if (err == CREDS_NOT_CONFIGURED)
        return err;
    creds_count(creds_chain[i].name, err == KG_OK ? "ok" : "error");
    if (err != KG_OK)
        return err;
    *base_yielded = 1;
    if (!ctx->assume_role_arn) {
        *out = base;
        return KG_OK;
    }
    struct creds_fields f = {0};
    err = creds_sts_assume_role(ctx, &base->sigv4, &f);
    creds_release(base);
    creds_count("assume_role", err == KG_OK ? "ok" : "error");
    if (err != KG_OK)
        return err;
    *out = creds_snapshot_take(&f, creds_assumed_names[i]);
    return KG_OK;
}

/* Walks the chain (only = -1) or asks one source. */
static enum kg_err creds_resolve(struct creds_provider *p, int only, struct creds_snapshot **out,
                                 int *index_out)
{
    enum kg_err last = KG_ERR_UPSTREAM_REFUSED;
    int configured = 0;
    for (size_t i = 0; i < CREDS_CHAIN_COUNT; i++) {
        if (only >= 0 && (size_t)only != i)
            continue;
        int base_yielded = 0;
        enum kg_err err = creds_fetch_from(&p->ctx, i, out, &base_yielded);
        if (err == CREDS_NOT_CONFIGURED)
            continue;
        configured = 1;
        if (err == KG_OK) {
            *index_out = (int)i;
            return KG_OK;
        }
        last = err;
        creds_log_failure(base_yielded ? "assume_role" : creds_chain[i].name, "fetch", err, 0,
                          NULL);
        /* The source yielded but AssumeRole on top failed: stop here, another
         * source would mean another identity. Plain failures go on. */
        if (base_yielded)
            break;
    }
    if (!configured)
        kg_log_msg(KG_LOG_WARN, "creds_none_configured", "no credential source is configured");
    return last;
}

static void creds_log_published(const struct creds_snapshot *s)
{
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_INFO, "creds_loaded")) {
        kg_log_str(&l, "source", s->source);
        /* At most the first 4 characters of the key id (AKIA/ASIA). */
        kg_log_strn(&l, "access_key_id_prefix", s->sigv4.access_key_id,
                    strnlen(s->sigv4.access_key_id, 4));
        kg_log_bool(&l, "session_token", s->sigv4.session_token != NULL);
        if (s->expires_at_s) {
            char ts[KG_ISO8601_LEN + 1];
            kg_time_format_iso8601(s->expires_at_s, ts);
            kg_log_str(&l, "expires_at", ts);
        } else {
            kg_log_null(&l, "expires_at");
        }
        kg_log_end(&l);
    }
}

/* Resolves and, on success, publishes. Caller holds no lock. */
static enum kg_err creds_refresh_now(struct creds_provider *p, int whole_chain)
{
    pthread_mutex_lock(&p->fetch_lock);
    pthread_mutex_lock(&p->lock);
    int only = whole_chain ? -1 : p->source_index;
    p->attempts++;
    pthread_mutex_unlock(&p->lock);

    struct creds_snapshot *fresh = NULL;
    int index = -1;
    enum kg_err err = creds_resolve(p, only, &fresh, &index);
    int64_t now = p->ctx.now_fn();

    struct creds_snap *old = NULL;
    pthread_mutex_lock(&p->lock);
    if (err == KG_OK) {
        old = p->current;
        p->current = (struct creds_snap *)fresh;
        p->obtained_at_s = now;
        p->source_index = index;
        p->failures = 0;
        p->next_attempt_at_s = 0;
        p->expired_logged = 0;
    } else {
        p->failures++;
        int shift = p->failures - 1 < 6 ? p->failures - 1 : 6;
        int64_t backoff = (int64_t)1 << shift;
        if (backoff > CREDS_BACKOFF_MAX_S)
            backoff = CREDS_BACKOFF_MAX_S;
        p->next_attempt_at_s = now + backoff;
    }
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->fetch_lock);

    if (err == KG_OK) {
        creds_log_published(fresh);
        creds_release(old ? &old->pub : NULL);
    }
    return err;
}

/* ---- provider ------------------------------------------------------------- */

static char *creds_dup_opt(const char *s) { return s && s[0] ? kg_strdup(s) : NULL; }

enum kg_err creds_provider_new(const struct creds_options *opts, struct creds_provider **out)
{
    if (!opts || !out)
        return KG_ERR_BAD_REQUEST;
    struct creds_provider *p = kg_calloc(1, sizeof *p);
    p->ctx.http = opts->http;
    p->ctx.getenv_fn = opts->getenv_fn;
    /* Expiry and refresh are judged on the host's clock: a learnt AWS
     * offset must never make the credentials look expired (kvsgate would then
     * send nothing AWS could correct it with). Signing adds the offset. */
    p->ctx.now_fn = opts->now_fn ? opts->now_fn : kg_now_s;
    p->ctx.region = creds_dup_opt(opts->region);
    p->ctx.sts_endpoint = creds_dup_opt(opts->sts_endpoint);
    p->ctx.mode = opts->mode;
    p->ctx.imds_endpoint = creds_dup_opt(opts->imds_endpoint);
    p->ctx.assume_role_arn = creds_dup_opt(opts->assume_role_arn);
    p->ctx.assume_role_external_id = creds_dup_opt(opts->assume_role_external_id);
    p->ctx.assume_role_session_name = kg_strdup(
        opts->assume_role_session_name && opts->assume_role_session_name[0]
            ? opts->assume_role_session_name
            : "kvsgate");
    p->ctx.assume_role_duration_s =
        opts->assume_role_duration_s > 0 ? opts->assume_role_duration_s : 3600;
    p->ctx.http_timeout_ms = opts->http_timeout_ms > 0 ? opts->http_timeout_ms : 5000;
    p->refresh_before_s = opts->refresh_before_s > 0 ? opts->refresh_before_s : 300;
    p->source_index = -1;

    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->fetch_lock, NULL);
    kg_cond_init_mono(&p->cond);
    creds_metric_refreshes();
    *out = p;
    return KG_OK;
}

enum kg_err creds_provider_load(struct creds_provider *p)
{
    return creds_refresh_now(p, 1);
}

/* When the thread should next try, on the injected wall clock (INT64_MAX:
 * never on its own). Caller holds p->lock. */
static int64_t creds_due_at(const struct creds_provider *p)
{
    if (!p->current)
        return p->next_attempt_at_s;
    int64_t expires = p->current->pub.expires_at_s;
    if (expires == 0)
        return INT64_MAX;
    int64_t lifetime = expires - p->obtained_at_s;
    int64_t before = p->refresh_before_s;
    if (lifetime > 0 && before > lifetime / 2)
        before = lifetime / 2;
    int64_t due = expires - before;
    if (p->failures && p->next_attempt_at_s > due)
        due = p->next_attempt_at_s;
    /* Credentials that are about to expire when issued: not more than one
     * attempt a second. */
    if (due <= p->obtained_at_s)
        due = p->obtained_at_s + 1;
    return due;
}

static void *creds_thread_main(void *arg)
{
    struct creds_provider *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        int64_t now = p->ctx.now_fn();
        int64_t due = creds_due_at(p);
        if (!p->refresh_requested && now < due) {
            int64_t wait = due - now;
            if (wait > CREDS_POLL_S)
                wait = CREDS_POLL_S;
            kg_cond_wait_until(&p->cond, &p->lock, kg_mono_ms() + wait * 1000);
            continue;
        }
        int whole_chain = p->current == NULL && p->source_index < 0;
        p->refresh_requested = 0;
        pthread_mutex_unlock(&p->lock);

        enum kg_err err = creds_refresh_now(p, whole_chain);

        pthread_mutex_lock(&p->lock);
        if (err != KG_OK) {
            int64_t t = p->ctx.now_fn();
            int expired = !p->current || (p->current->pub.expires_at_s &&
                                          t >= p->current->pub.expires_at_s);
            struct kg_log_line l;
            enum kg_log_level level = expired ? KG_LOG_ERROR : KG_LOG_WARN;
            if (kg_log_begin(&l, level, "creds_refresh_failed")) {
                kg_log_str(&l, "error", kg_err_name(err));
                kg_log_int(&l, "failures", p->failures);
                kg_log_int(&l, "retry_in_s", p->next_attempt_at_s - t);
                kg_log_bool(&l, "credentials_expired", expired);
                kg_log_end(&l);
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

enum kg_err creds_provider_start(struct creds_provider *p)
{
    pthread_mutex_lock(&p->lock);
    enum kg_err result = KG_OK;
    if (!p->thread_started) {
        p->stop = 0;
        if (pthread_create(&p->thread, NULL, creds_thread_main, p) != 0)
            result = KG_ERR_INTERNAL;
        else
            p->thread_started = 1;
    }
    pthread_mutex_unlock(&p->lock);
    return result;
}

void creds_provider_free(struct creds_provider *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    int started = p->thread_started;
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (started)
        pthread_join(p->thread, NULL);
    creds_release(p->current ? &p->current->pub : NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->fetch_lock);
    free(p->ctx.region);
    free(p->ctx.sts_endpoint);
    free(p->ctx.imds_endpoint);
    free(p->ctx.assume_role_arn);
    free(p->ctx.assume_role_external_id);
    free(p->ctx.assume_role_session_name);
    free(p);
}

struct creds_snapshot *creds_acquire(struct creds_provider *p)
{
    struct creds_snapshot *out = NULL;
    int64_t now = p->ctx.now_fn();
    pthread_mutex_lock(&p->lock);
    struct creds_snap *s = p->current;
    if (s && (s->pub.expires_at_s == 0 || now < s->pub.expires_at_s))
        out = creds_snapshot_ref(&s->pub);
    else if (s && !p->expired_logged) {
        p->expired_logged = 1;
        kg_log_msg(KG_LOG_ERROR, "creds_expired", "the credentials expired and were not refreshed");
    }
    pthread_mutex_unlock(&p->lock);
    return out;
}

void creds_provider_refresh_soon(struct creds_provider *p)
{
    int64_t now = p->ctx.now_fn();
    pthread_mutex_lock(&p->lock);
    if (p->last_forced_at_s == 0 || now - p->last_forced_at_s >= CREDS_FORCED_MIN_INTERVAL_S) {
        p->last_forced_at_s = now;
        p->refresh_requested = 1;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
}

int64_t creds_provider_expires_at(struct creds_provider *p)
{
    pthread_mutex_lock(&p->lock);
    int64_t e = p->current ? p->current->pub.expires_at_s : 0;
    pthread_mutex_unlock(&p->lock);
    return e;
}

void creds_provider_wake(struct creds_provider *p)
{
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

int creds_provider_attempts(struct creds_provider *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->attempts;
    pthread_mutex_unlock(&p->lock);
    return n;
}
