/* The auth settings read into verifier options, and the watcher that reloads
 * them.
 *
 * Design note:
 * - A file's identity is taken before it is read, so a change that lands
 *   between the two is seen at the next check (one extra, harmless reload)
 *   rather than missed. Kubernetes updates a mounted ConfigMap or Secret by
 *   swapping a symlink; stat follows it, so the inode changes.
 * - Both modes take the same road at start and at reload: the environment's
 *   HS256 secret is read again (its _FILE may have been rotated), PEM files
 *   are read again by jwtv_reload.
 * - One thread does every reload; SIGHUP only wakes it. */
#include "service/authcfg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "service/policy.h"

#define AUTHCFG_FILES_MAX (POLICY_FILES_MAX + 1)

struct file_stamp {
    char *path;
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct authcfg {
    struct jwtv_options opts;
    struct policy_file *policy; /* with KVSGATE_POLICY_FILE */
    struct kg_buf secret;       /* without: KVSGATE_JWT_HS256_SECRET(_FILE) */
    struct file_stamp files[AUTHCFG_FILES_MAX];
    size_t file_count;
};

/* ---- file identities ------------------------------------------------------------ */

static void stamp_take(struct file_stamp *f)
{
    struct stat st;
    char *path = f->path;
    memset(f, 0, sizeof *f);
    f->path = path;
    if (stat(path, &st) != 0)
        return;
    f->exists = 1;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    f->ctime = st.st_ctim;
}

static int stamp_same(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static enum kg_err watch_file(struct authcfg *a, const char *path, char *why, size_t why_len)
{
    if (a->file_count == AUTHCFG_FILES_MAX) {
        snprintf(why, why_len, "more than %d key, secret and policy files", AUTHCFG_FILES_MAX);
        return KG_ERR_BAD_REQUEST;
    }
    struct file_stamp *f = &a->files[a->file_count++];
    f->path = kg_strdup(path);
    stamp_take(f);
    return KG_OK;
}

/* ---- the two sources ------------------------------------------------------------- */

/* The issuers of the policy file. */
static enum kg_err load_policy(struct authcfg *a, const char *path, char *why, size_t why_len)
{
    enum kg_err err = watch_file(a, path, why, why_len);
    if (err == KG_OK)
        err = policy_file_load(path, &a->policy, why, why_len);
    size_t named_count = 0;
    const char *const *named = err == KG_OK ? policy_named_files(a->policy, &named_count) : NULL;
    for (size_t i = 0; i < named_count && err == KG_OK; i++)
        err = watch_file(a, named[i], why, why_len);
    if (err == KG_OK)
        a->opts.issuers = policy_issuers(a->policy, &a->opts.issuer_count);
    return err;
}

/* The lone issuer of the KVSGATE_JWT_* settings. */
static enum kg_err load_env(struct authcfg *a, const struct kg_config *cfg, char *why,
                            size_t why_len)
{
    const char *secret_file = config_secret_file("KVSGATE_JWT_HS256_SECRET", NULL);
    enum kg_err err = KG_OK;
    if (secret_file)
        err = watch_file(a, secret_file, why, why_len);
    for (size_t i = 0; i < cfg->jwt_public_key_file_count && err == KG_OK; i++)
        err = watch_file(a, cfg->jwt_public_key_files[i], why, why_len);
    if (err != KG_OK)
        return err;
    err = config_secret_read("KVSGATE_JWT_HS256_SECRET", NULL, &a->secret, why, why_len);
    if (err == KG_ERR_NOT_FOUND)
        err = KG_OK;
    else if (err == KG_OK) {
        a->opts.hs256_secret = (const unsigned char *)a->secret.data;
        a->opts.hs256_secret_len = a->secret.len;
    }
    a->opts.public_key_files = (const char *const *)cfg->jwt_public_key_files;
    a->opts.public_key_file_count = cfg->jwt_public_key_file_count;
    a->opts.jwks_url = cfg->jwks_url;
    a->opts.issuer = cfg->jwt_issuer;
    a->opts.audience = cfg->jwt_audience;
    a->opts.grants_claim = cfg->jwt_grants_claim;
    return err;
}

enum kg_err authcfg_load(const struct kg_config *cfg, struct kg_http_client *http,
                         struct authcfg **out, char *why, size_t why_len)
{
    struct authcfg *a = kg_calloc(1, sizeof *a);
    kg_buf_init_secret(&a->secret, CONFIG_SECRET_MAX_LEN);
    a->opts = (struct jwtv_options){
        .http = http,
        .jwks_refresh_s = cfg->jwks_refresh_s,
        .jwks_min_refetch_s = cfg->jwks_min_refetch_s,
        .leeway_s = cfg->jwt_leeway_s,
        .max_lifetime_s = cfg->jwt_max_lifetime_s,
        .max_token_len = (size_t)cfg->jwt_max_bytes,
    };
    enum kg_err err = cfg->policy_file ? load_policy(a, cfg->policy_file, why, why_len)
                                       : load_env(a, cfg, why, why_len);
    if (err != KG_OK) {
        authcfg_free(a);
        *out = NULL;
        return err;
    }
    *out = a;
    return KG_OK;
}

const struct jwtv_options *authcfg_options(const struct authcfg *a) { return &a->opts; }

size_t authcfg_file_count(const struct authcfg *a) { return a->file_count; }

void authcfg_free(struct authcfg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->file_count; i++)
        free(a->files[i].path);
    policy_file_free(a->policy);
    kg_buf_free(&a->secret);
    free(a);
}

/* ---- the watcher ------------------------------------------------------------------- */

struct authwatch {
    const struct kg_config *cfg;
    struct kg_http_client *http;
    struct jwtv *v;
    struct authcfg *current;
    /* what the last attempt saw: current's files after a success, the
     * refused reading's after a refusal */
    struct file_stamp seen[AUTHCFG_FILES_MAX];
    size_t seen_count;
    pthread_mutex_t lock; /* guards stop and kick */
    pthread_cond_t cond;
    int stop, kick;
    pthread_t thread;
    struct kg_metric *reloads, *generation;
};

static void seen_clear(struct authwatch *w)
{
    for (size_t i = 0; i < w->seen_count; i++)
        free(w->seen[i].path);
    w->seen_count = 0;
}

static void seen_from(struct authwatch *w, const struct authcfg *a)
{
    seen_clear(w);
    for (size_t i = 0; i < a->file_count; i++) {
        w->seen[i] = a->files[i];
        w->seen[i].path = kg_strdup(a->files[i].path);
    }
    w->seen_count = a->file_count;
}

/* After a reading that failed before it named its files: what was watched,
 * as it is now. */
static void seen_retake(struct authwatch *w)
{
    for (size_t i = 0; i < w->seen_count; i++)
        stamp_take(&w->seen[i]);
}

static int seen_changed(struct authwatch *w)
{
    for (size_t i = 0; i < w->seen_count; i++) {
        struct file_stamp now = {.path = w->seen[i].path};
        stamp_take(&now);
        if (!stamp_same(&now, &w->seen[i]))
            return 1;
    }
    return 0;
}

static void log_reload(const char *trigger, enum kg_err err, uint64_t generation,
                       const struct authcfg *a, const char *why)
{
    struct kg_log_line l;
    if (!kg_log_begin(&l, err == KG_OK ? KG_LOG_INFO : KG_LOG_ERROR,
                      err == KG_OK ? "auth_reloaded" : "auth_reload_refused"))
        return;
    kg_log_str(&l, "trigger", trigger);
    if (err == KG_OK) {
        kg_log_int(&l, "generation", (int64_t)generation);
        kg_log_int(&l, "issuers", (int64_t)(a->opts.issuer_count ? a->opts.issuer_count : 1));
        kg_log_int(&l, "files", (int64_t)a->file_count);
    } else {
        kg_log_str(&l, "why", why);
        kg_log_str(&l, "serving", "the previous generation");
    }
    kg_log_end(&l);
}

/* One attempt: a new reading, then the verifier's swap; the metrics are set
 * before the line is logged, so whoever sees the line sees them. */
static void reload_once(struct authwatch *w, const char *trigger)
{
    char why[512] = "";
    struct authcfg *next = NULL;
    uint64_t generation = 0;
    enum kg_err err = authcfg_load(w->cfg, w->http, &next, why, sizeof why);
    if (err == KG_OK)
        err = jwtv_reload(w->v, authcfg_options(next), &generation, why, sizeof why);
    if (next)
        seen_from(w, next);
    else
        seen_retake(w);
    kg_metric_inc(w->reloads, (const char *[]){err == KG_OK ? "ok" : "refused"});
    if (err == KG_OK)
        kg_metric_set(w->generation, NULL, (double)generation);
    log_reload(trigger, err, generation, next, why);
    if (err != KG_OK) {
        authcfg_free(next);
        return;
    }
    authcfg_free(w->current);
    w->current = next;
}

static void *watch_run(void *arg)
{
    struct authwatch *w = arg;
    int64_t period_ms = w->cfg->auth_watch_ms;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int64_t deadline = kg_mono_ms() + (period_ms > 0 ? period_ms : 3600 * 1000);
        while (!w->stop && !w->kick && !kg_cond_wait_until(&w->cond, &w->lock, deadline))
            ;
        if (w->stop)
            break;
        int kicked = w->kick;
        w->kick = 0;
        pthread_mutex_unlock(&w->lock);
        if (kicked)
            reload_once(w, "signal");
        else if (period_ms > 0 && seen_changed(w))
            reload_once(w, "file");
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct authwatch *authwatch_start(const struct kg_config *cfg, struct kg_http_client *http,
                                  struct jwtv *v, struct authcfg *initial)
{
    struct authwatch *w = kg_calloc(1, sizeof *w);
    w->cfg = cfg;
    w->http = http;
    w->v = v;
    w->current = initial;
    seen_from(w, initial);
    pthread_mutex_init(&w->lock, NULL);
    kg_cond_init_mono(&w->cond);
    w->reloads = kg_metric_counter("kvsgate_auth_reloads_total",
                                   "Reloads of the issuers (policy file, keys, secrets), by "
                                   "outcome: ok, or refused (the previous generation serves on).",
                                   "outcome");
    w->generation = kg_metric_gauge("kvsgate_auth_policy_generation",
                                    "The generation of the issuers in use (1 at start, +1 per "
                                    "reload that took).",
                                    "");
    kg_metric_set(w->generation, NULL, (double)jwtv_generation(v));
    if (pthread_create(&w->thread, NULL, watch_run, w) != 0)
        abort();
    return w;
}

void authwatch_reload_now(struct authwatch *w)
{
    pthread_mutex_lock(&w->lock);
    w->kick = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void authwatch_stop(struct authwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    seen_clear(w);
    authcfg_free(w->current);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
