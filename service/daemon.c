/* `kvsgate serve`: settings, the dependencies in order, the HTTP server, and a
 * graceful stop on SIGTERM/SIGINT.
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts) and taken synchronously by the main thread with sigwait, so no
 * handler runs in the middle of library code. On a signal: readiness fails at
 * once, the service keeps answering for KVSGATE_SHUTDOWN_DELAY_S (load
 * balancers deregister), then stops accepting and lets in-flight requests finish
 * within KVSGATE_DRAIN_TIMEOUT_S, then everything is freed in reverse order.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/jwt.h"
#include "aws/budget.h"
#include "aws/shared.h"
#include "core/redis.h"
#include "service/ratesync.h"
#include "aws/channels.h"
#include "aws/refresh.h"
#include "aws/credentials.h"
#include "aws/kvs.h"
#include "aws/transport.h"
#include "core/crypto.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/version.h"
#include "service/authcfg.h"
#include "service/cli.h"
#include "service/config.h"
#include "service/daemon.h"
#include "service/httpd.h"
#include "service/server.h"
#include "service/workers.h"

extern const char kvsgate_openapi_yaml[];
extern const size_t kvsgate_openapi_yaml_len;

/* Largest TLS certificate chain or key file read. */
#define TLS_FILE_MAX (1 << 20)

static struct creds_provider *metrics_creds;

static double creds_expiry_metric(void *arg)
{
    (void)arg;
    return metrics_creds ? (double)creds_provider_expires_at(metrics_creds) : 0;
}

static void log_startup_error(const char *event, const char *why)
{
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_ERROR, event)) {
        kg_log_str(&l, "why", why);
        kg_log_end(&l);
    }
}

/* Everything `kvsgate serve` builds, in the order it is built; freed in
 * reverse by serve_cleanup, whatever step failed. */
struct serve {
    struct kg_config cfg;
    char stun_url[KVS_URL_MAX + 1]; /* the STUN host handed out (region, FIPS, dual-stack) */
    struct kg_http_client *http;
    struct authcfg *auth; /* until the watcher takes it */
    struct jwtv *jwt;
    struct authwatch *authwatch;
    struct creds_provider *creds;
    struct kvs_client *kvs;
    struct budget *budget; /* NULL: none */
    struct workers *workers;
    struct channels *channels;
    struct refresher *refresher; /* NULL: KVSGATE_REFRESH_AHEAD=false */
    struct kg_redis *redis;      /* NULL: KVSGATE_REDIS_URL unset */
    struct shared *shared;
    struct ratesync *ratesync;
    _Atomic(struct channels *) live_channels; /* for the subscriber, once built */
    struct ratelimit *ratelimit, *auth_failures, *storage_joins;
    struct clientaddr_trust trusted_proxies;
    struct api_deps deps;
    struct server *server;
    struct kg_buf tls_cert, tls_key;
    struct httpd *httpd;
};

/* The warnings about what the verifier does not check. */
static void serve_auth_warnings(const struct kg_config *cfg, const struct jwtv_options *o)
{
    for (size_t i = 0; i < o->issuer_count; i++) {
        const struct jwtv_issuer *is = &o->issuers[i];
        struct kg_log_line l;
        if (!is->aud_count && !is->client_id_count && !is->azp_count &&
            kg_log_begin(&l, KG_LOG_WARN, "jwt_audience_unchecked")) {
            kg_log_str(&l, "issuer", is->name);
            kg_log_str(&l, "msg", "audience: any: tokens the keys sign for any audience (other "
                                  "applications of the same IdP) are accepted");
            kg_log_end(&l);
        }
        if (!is->issuer && kg_log_begin(&l, KG_LOG_WARN, "jwt_issuer_unchecked")) {
            kg_log_str(&l, "issuer", is->name);
            kg_log_str(&l, "msg", "anyIssuer: tokens of any issuer its keys sign for are accepted");
            kg_log_end(&l);
        }
    }
    if (cfg->policy_file)
        return;
    if (!cfg->jwt_audience)
        kg_log_msg(KG_LOG_WARN, "jwt_audience_unchecked",
                   "KVSGATE_JWT_AUDIENCE is not set: tokens the keys sign for any audience "
                   "(other applications of the same IdP) are accepted");
    if (cfg->jwks_url && !cfg->jwt_issuer)
        kg_log_msg(KG_LOG_WARN, "jwt_issuer_unchecked",
                   "KVSGATE_JWT_ANY_ISSUER is set: tokens of any issuer the JWKS keys sign for "
                   "are accepted");
}

/* The auth settings read (the policy file or the KVSGATE_JWT_* settings) and
 * the JWT verifier built from them. */
static int serve_start_auth(struct serve *sv)
{
    const struct kg_config *cfg = &sv->cfg;
    char why[512] = "";
    if (authcfg_load(cfg, sv->http, &sv->auth, why, sizeof why) != KG_OK ||
        jwtv_new(authcfg_options(sv->auth), &sv->jwt, why, sizeof why) != KG_OK) {
        fprintf(stderr, "%s%s\n", cfg->policy_file ? "KVSGATE_POLICY_FILE: " : "", why);
        return KG_EXIT_USAGE;
    }
    serve_auth_warnings(cfg, authcfg_options(sv->auth));
    return KG_EXIT_OK;
}

/* The credential chain (and its refresher), the KVS client, the AWS workers
 * and the caches in front of KVS. */

static double clock_offset_metric(void *arg)
{
    (void)arg;
    return (double)kg_aws_clock_offset_s();
}

/* Another replica invalidated a channel (the subscriber's thread). */
static void serve_forget_remote(void *arg, const char *name, const char *arn)
{
    struct serve *sv = arg;
    struct channels *ch = atomic_load(&sv->live_channels);
    if (ch)
        channels_forget_remote(ch, name, arn);
}

static void serve_forget_all(void *arg)
{
    struct serve *sv = arg;
    struct channels *ch = atomic_load(&sv->live_channels);
    if (ch)
        channels_forget_all(ch);
}

/* The shared Redis (KVSGATE_REDIS_URL): its client and the shared cache. */
static int serve_build_redis(struct serve *sv)
{
    const struct kg_config *cfg = &sv->cfg;
    struct kg_redis_options ro = {.username = cfg->redis_username,
                                  .password = cfg->redis_password,
                                  .timeout_ms = cfg->redis_timeout_ms,
                                  /* every AWS worker and refresher may need one at once */
                                  .connections = (size_t)(cfg->upstream_workers +
                                                          cfg->refresh_threads + 2)};
    const char *why = NULL;
    if (!kg_redis_url_parse(cfg->redis_url, &ro.url, &why)) {
        log_startup_error("config_invalid", why);
        return KG_EXIT_FAILURE;
    }
    if (cfg->redis_timeout_ms * 4 > cfg->request_deadline_ms) {
        log_startup_error("config_invalid",
                          "KVSGATE_REDIS_TIMEOUT_MS must be at most a quarter of "
                          "KVSGATE_REQUEST_DEADLINE_MS: a Redis that stops answering must leave "
                          "the request time for AWS");
        return KG_EXIT_FAILURE;
    }
    if (!cfg->redis_key || strlen(cfg->redis_key) < SHARED_SECRET_MIN) {
        log_startup_error("config_invalid",
                          "KVSGATE_REDIS_URL needs KVSGATE_REDIS_KEY (or _FILE) of at least 32 "
                          "bytes, the same on every replica");
        return KG_EXIT_FAILURE;
    }
    sv->redis = kg_redis_new(&ro);
    struct shared_options so = {.redis = sv->redis,
                                .prefix = cfg->redis_prefix,
                                .secret = cfg->redis_key,
                                .secret_len = strlen(cfg->redis_key),
                                .lock_ms = cfg->request_deadline_ms * 2,
                                .generation_ttl_ms =
                                    (cfg->cache_channel_ttl_s + cfg->cache_stale_s + 60) * 1000,
                                .scope = cfg->region,
                                .forget = serve_forget_remote,
                                .forget_all = serve_forget_all,
                                .arg = sv};
    sv->shared = shared_new(&so);
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_INFO, "redis_configured")) {
        kg_log_str(&l, "host", ro.url.host);
        kg_log_int(&l, "port", ro.url.port);
        kg_log_int(&l, "db", ro.url.db);
        kg_log_str(&l, "prefix", cfg->redis_prefix);
        kg_log_str(&l, "auth", cfg->redis_password ? "password" : "none");
        kg_log_end(&l);
    }
    return KG_EXIT_OK;
}

/* The region has the endpoints the mode asks for (FIPS only where KVS has
 * it). A custom KVSGATE_KVS_ENDPOINT (a VPC endpoint, the emulator) replaces
 * the control plane only: the mode still picks STS and the STUN host. */
static int serve_check_endpoints(const struct kg_config *cfg, struct aws_endpoint_mode mode)
{
    const char *why = NULL;
    int builds_endpoints = !cfg->kvs_endpoint || mode.fips || mode.dualstack;
    if (!builds_endpoints || aws_endpoint_mode_check(cfg->region, mode, &why))
        return KG_EXIT_OK;
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_ERROR, "config_invalid")) {
        kg_log_str(&l, "region", cfg->region);
        kg_log_str(&l, "fips", mode.fips ? "true" : "false");
        kg_log_str(&l, "dualstack", mode.dualstack ? "true" : "false");
        kg_log_str(&l, "why", why);
        kg_log_end(&l);
    }
    return KG_EXIT_FAILURE;
}

static int serve_start_aws(struct serve *sv)
{
    const struct kg_config *cfg = &sv->cfg;
    struct aws_endpoint_mode mode = {.fips = cfg->aws_use_fips, .dualstack = cfg->aws_use_dualstack};
    if (serve_check_endpoints(cfg, mode) != KG_EXIT_OK)
        return KG_EXIT_FAILURE;
    struct creds_options copts = {
        .http = sv->http,
        .region = cfg->region,
        .mode = mode,
        .sts_endpoint = cfg->sts_endpoint,
        .assume_role_arn = cfg->assume_role_arn,
        .assume_role_external_id = cfg->assume_role_external_id,
    };
    if (!aws_stun_url(cfg->region, mode, sv->stun_url, sizeof sv->stun_url))
        kvs_stun_url(cfg->region, sv->stun_url);
    if (creds_provider_new(&copts, &sv->creds) != KG_OK) {
        log_startup_error("startup_failed", "cannot set up the AWS credential chain");
        return KG_EXIT_FAILURE;
    }
    if (creds_provider_load(sv->creds) != KG_OK)
        kg_log_msg(KG_LOG_WARN, "credentials_unavailable",
                   "no AWS credentials yet; not ready until the refresher finds some");
    if (creds_provider_start(sv->creds) != KG_OK) {
        log_startup_error("startup_failed", "cannot start the credential refresher");
        return KG_EXIT_FAILURE;
    }
    metrics_creds = sv->creds;
    kg_metric_gauge_fn("kvsgate_aws_clock_offset_seconds",
                       "AWS's clock minus this host's, learnt from AWS's Date when it refused a "
                       "signature as too far off (0: none seen); signing uses AWS's time.",
                       clock_offset_metric, NULL);
    kg_metric_gauge_fn("kvsgate_credentials_expiry_timestamp_seconds",
                       "When the current AWS credentials expire (0: long-term or none).",
                       creds_expiry_metric, NULL);
    if (cfg->redis_url && serve_build_redis(sv) != KG_EXIT_OK)
        return KG_EXIT_FAILURE;
    struct budget_options bopts = {.percent = (int)cfg->aws_quota_percent,
                                   .channel_percent = (int)cfg->aws_channel_quota_percent,
                                   .max_wait_ms = cfg->aws_budget_wait_ms};
    sv->budget = budget_new(&bopts);
    struct kvs_client_options kopts = {
        .http = sv->http,
        .creds = sv->creds,
        .region = cfg->region,
        .endpoint = cfg->kvs_endpoint,
        .mode = mode,
        .connect_timeout_ms = cfg->aws_connect_timeout_ms,
        .call_timeout_ms = cfg->aws_call_timeout_ms,
        .retry = {.max_attempts = (int)cfg->aws_max_attempts},
        .budget = sv->budget,
    };
    if (kvs_client_new(&kopts, &sv->kvs) != KG_OK) {
        log_startup_error("startup_failed", "cannot set up the KVS client");
        return KG_EXIT_FAILURE;
    }
    if (jwtv_start(sv->jwt) != KG_OK) {
        log_startup_error("startup_failed", "cannot start the JWKS refresher");
        return KG_EXIT_FAILURE;
    }
    sv->authwatch = authwatch_start(cfg, sv->http, sv->jwt, sv->auth);
    sv->auth = NULL;
    if (workers_new((unsigned)cfg->upstream_workers, (size_t)cfg->upstream_queue, &sv->workers) !=
        KG_OK) {
        log_startup_error("startup_failed", "cannot start the AWS workers");
        return KG_EXIT_FAILURE;
    }
    if (cfg->refresh_ahead) {
        struct refresher_options ro = {.threads = (unsigned)cfg->refresh_threads,
                                       .rps = (double)cfg->refresh_rps};
        sv->refresher = refresher_new(&ro);
    }
    struct channels_options chopts = {
        .kvs = sv->kvs,
        .max_entries = (size_t)cfg->cache_max_entries,
        .channel_ttl_s = cfg->cache_channel_ttl_s,
        .endpoint_ttl_s = cfg->cache_endpoint_ttl_s,
        .stale_s = cfg->cache_stale_s,
        .ice_margin_s = cfg->ice_refresh_margin_s,
        .ice_per_viewer = cfg->ice_per_viewer,
        .list_ttl_ms = cfg->cache_list_ttl_s * 1000,
        .refresher = sv->refresher,
        .shared = sv->shared,
    };
    sv->channels = channels_new(&chopts);
    atomic_store(&sv->live_channels, sv->channels);
    return KG_EXIT_OK;
}

static int storage_join_take(void *arg, const char *key, int64_t *retry_after_s)
{
    return ratelimit_take(arg, key, kg_mono_ms(), retry_after_s);
}

/* The API's dependencies, the request layer and its limits. */
static void serve_build_server(struct serve *sv)
{
    const struct kg_config *cfg = &sv->cfg;
    sv->ratelimit = ratelimit_new((double)cfg->rate_limit_rps, (double)cfg->rate_limit_burst, 100000);
    if (sv->redis)
        sv->ratesync = ratesync_start(sv->ratelimit, sv->budget, sv->redis, cfg->redis_prefix,
                                      cfg->redis_key, strlen(cfg->redis_key),
                                      cfg->rate_limit_sync_ms);
    if (sv->redis) /* every key kvsgate needs is derived from it by now */
        kg_wipe(sv->cfg.redis_key, strlen(sv->cfg.redis_key));
    clientaddr_trust_init(&sv->trusted_proxies, (const char *const *)cfg->trusted_proxies,
                          cfg->trusted_proxy_count);
    sv->auth_failures = ratelimit_new((double)cfg->auth_failure_rps,
                                      (double)cfg->auth_failure_burst, 100000);
    sv->storage_joins = ratelimit_new((double)cfg->storage_join_rps, 2, 100000);
    sv->deps = (struct api_deps){
        .jwt = sv->jwt,
        .creds = sv->creds,
        .kvs = sv->kvs,
        .channels = sv->channels,
        .ice_fallback_stun_only = strcmp(cfg->ice_fallback, "stun-only") == 0,
        .region = cfg->region,
        .presign_expires_s = cfg->presign_expires_s,
        .stun_url = sv->stun_url,
        .max_clock_skew_s = cfg->max_clock_skew_s,
        .allow_plain_endpoints = cfg->kvs_endpoint && strncmp(cfg->kvs_endpoint, "http://", 7) == 0,
        .owner_policy_any = strcmp(cfg->owner_policy, "any") == 0,
        .storage_join_take = sv->storage_joins ? storage_join_take : NULL,
        .storage_join_arg = sv->storage_joins,
        .openapi_yaml = kvsgate_openapi_yaml,
        .openapi_yaml_len = kvsgate_openapi_yaml_len,
    };
    struct server_options sopts = {
        .deps = &sv->deps,
        .workers = sv->workers,
        .cors_origins = cfg->cors_origins,
        .cors_origin_count = cfg->cors_origin_count,
        .request_deadline_ms = cfg->request_deadline_ms,
        .access_log = cfg->access_log,
        .ratelimit = sv->ratelimit,
        .auth_failures = sv->auth_failures,
        .trusted_proxies = cfg->trusted_proxy_count ? &sv->trusted_proxies : NULL,
    };
    sv->server = server_new(&sopts);
    sv->deps.draining = server_draining;
    sv->deps.draining_arg = sv->server;
}

/* The listening socket (with TLS when configured), then the "listening" line
 * the tests and the chart's probes wait for. */
static int serve_start_http(struct serve *sv)
{
    const struct kg_config *cfg = &sv->cfg;
    if (cfg->tls_cert_file) {
        if (kg_file_read(cfg->tls_cert_file, &sv->tls_cert) != KG_OK ||
            kg_file_read(cfg->tls_key_file, &sv->tls_key) != KG_OK) {
            int cert = sv->tls_cert.len == 0;
            fprintf(stderr, "%s: cannot read %s\n",
                    cert ? "KVSGATE_TLS_CERT_FILE" : "KVSGATE_TLS_KEY_FILE",
                    cert ? cfg->tls_cert_file : cfg->tls_key_file);
            return KG_EXIT_USAGE;
        }
    }
    struct httpd_options hopts = {
        .listen = cfg->listen,
        .threads = (unsigned)cfg->http_threads,
        .max_connections = (unsigned)cfg->max_connections,
        .max_connections_per_ip = (unsigned)cfg->max_connections_per_ip,
        .connection_timeout_s = (unsigned)cfg->connection_timeout_s,
        .max_body_bytes = (size_t)cfg->max_body_bytes,
        .max_header_bytes = (size_t)cfg->max_header_bytes,
        .tls_cert_pem = cfg->tls_cert_file ? sv->tls_cert.data : NULL,
        .tls_key_pem = cfg->tls_cert_file ? sv->tls_key.data : NULL,
    };
    struct httpd_app app = server_httpd_app(sv->server);
    char why[512] = "";
    enum kg_err err = httpd_start(&hopts, &app, &sv->httpd, why, sizeof why);
    if (err != KG_OK) {
        fprintf(stderr, "KVSGATE_LISTEN: %s\n", why);
        return err == KG_ERR_BAD_REQUEST ? KG_EXIT_USAGE : KG_EXIT_FAILURE;
    }
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_INFO, "listening")) {
        kg_log_str(&l, "version", KVSGATE_VERSION);
        kg_log_str(&l, "revision", KVSGATE_GIT_REVISION);
        kg_log_str(&l, "listen", cfg->listen);
        kg_log_int(&l, "port", httpd_port(sv->httpd));
        kg_log_bool(&l, "tls", cfg->tls_cert_file != NULL);
        kg_log_str(&l, "region", cfg->region);
        kg_log_end(&l);
    }
    struct kg_metric *info = kg_metric_gauge("kvsgate_build_info",
                                             "kvsgate's version and revision (always 1).",
                                             "version,revision");
    kg_metric_set(info, (const char *[]){KVSGATE_VERSION, KVSGATE_GIT_REVISION}, 1);
    return KG_EXIT_OK;
}

/* Reloads the issuers on SIGHUP; waits for SIGTERM or SIGINT, then stops as
 * the design note says. */
static void serve_until_stopped(struct serve *sv, const sigset_t *signals)
{
    int sig = 0;
    while (sigwait(signals, &sig) != 0 || sig == SIGHUP)
        if (sig == SIGHUP)
            authwatch_reload_now(sv->authwatch);
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_INFO, "draining")) {
        kg_log_str(&l, "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        kg_log_int(&l, "shutdown_delay_s", sv->cfg.shutdown_delay_s);
        kg_log_int(&l, "drain_timeout_s", sv->cfg.drain_timeout_s);
        kg_log_end(&l);
    }
    server_set_draining(sv->server);
    if (sv->cfg.shutdown_delay_s > 0)
        sleep((unsigned)sv->cfg.shutdown_delay_s);
    httpd_stop(sv->httpd, sv->cfg.drain_timeout_s * 1000);
    sv->httpd = NULL;
    kg_log_msg(KG_LOG_INFO, "stopped", "drained and stopped");
}

static void serve_cleanup(struct serve *sv)
{
    if (sv->httpd)
        httpd_stop(sv->httpd, 0);
    authwatch_stop(sv->authwatch);
    authcfg_free(sv->auth);
    workers_free(sv->workers);
    server_free(sv->server);
    ratesync_stop(sv->ratesync);
    ratelimit_free(sv->ratelimit);
    ratelimit_free(sv->auth_failures);
    ratelimit_free(sv->storage_joins);
    refresher_stop(sv->refresher); /* its jobs touch every cache of sv->channels */
    atomic_store(&sv->live_channels, NULL);
    shared_free(sv->shared); /* stops the subscriber, which touches sv->channels */
    channels_free(sv->channels);
    refresher_free(sv->refresher);
    kvs_client_free(sv->kvs);
    budget_free(sv->budget);
    kg_redis_free(sv->redis);
    metrics_creds = NULL;
    creds_provider_free(sv->creds);
    jwtv_free(sv->jwt);
    if (sv->http)
        transport_free(sv->http);
    transport_global_cleanup();
    kg_buf_free(&sv->tls_cert);
    kg_buf_free(&sv->tls_key);
    config_cleanup(&sv->cfg);
}

int cmd_serve(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: kvsgate serve\n\n");
        config_print_help(stdout);
        return KG_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("serve", NULL, "takes no arguments; settings are environment variables "
                                              "(see kvsgate serve --help)");

    struct serve sv;
    memset(&sv, 0, sizeof sv);
    if (config_load(&sv.cfg, NULL, stderr) != KG_OK)
        return KG_EXIT_USAGE;
    kg_log_set_level((enum kg_log_level)kg_log_level_parse(sv.cfg.log_level));
    kg_log_buffer_start(sv.cfg.log_flush_ms);
    kg_buf_init(&sv.tls_cert, TLS_FILE_MAX);
    kg_buf_init_secret(&sv.tls_key, TLS_FILE_MAX);

    /* Block the stop signals before any thread exists; main takes them with sigwait. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    kg_crypto_init();
    json_object_seed(0);

    int rc = KG_EXIT_FAILURE;
    if (transport_global_init() != KG_OK) {
        log_startup_error("startup_failed", "libcurl did not initialize");
        goto cleanup;
    }
    struct transport_options topts = {
        .ca_file = sv.cfg.aws_ca_file,
        .https_proxy = sv.cfg.https_proxy,
        .http_proxy = sv.cfg.http_proxy,
        .no_proxy = sv.cfg.no_proxy,
    };
    sv.http = transport_new(&topts);
    if ((rc = serve_start_auth(&sv)) != KG_EXIT_OK || (rc = serve_start_aws(&sv)) != KG_EXIT_OK)
        goto cleanup;
    serve_build_server(&sv);
    if ((rc = serve_start_http(&sv)) != KG_EXIT_OK)
        goto cleanup;
    serve_until_stopped(&sv, &stop_signals);
    rc = KG_EXIT_OK;

cleanup:
    serve_cleanup(&sv);
    kg_log_buffer_stop(); /* writes what is gathered */
    return rc;
}
