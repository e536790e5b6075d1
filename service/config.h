/* kvsgate: settings (`config_`).
 *
 * Every setting is an environment variable, declared once in the table in
 * config.c (name, type, default, bounds, whether it is a secret, help). They
 * are validated together at start; every error names its variable. A secret
 * may instead come from the file named by <NAME>_FILE (a trailing newline is
 * dropped); giving both is an error. `kvsgate --help` prints the table.
 *
 * Checklist: a new setting also goes into README.md (settings table),
 * helm/kvsgate/values.yaml, helm/kvsgate/values.schema.json and the chart's
 * ConfigMap or Secret template.
 */
#ifndef KG_SERVICE_CONFIG_H
#define KG_SERVICE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/err.h"

struct kg_config {
    /* HTTP */
    char *listen;
    int64_t http_threads;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t connection_timeout_s;
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    char *tls_cert_file;
    char *tls_key_file;
    char **trusted_proxies;
    size_t trusted_proxy_count;
    char **cors_origins;
    size_t cors_origin_count;
    int64_t drain_timeout_s;
    int64_t shutdown_delay_s;
    int64_t request_deadline_ms;
    int64_t upstream_workers;
    int64_t upstream_queue;
    char *log_level;
    int access_log;
    int64_t log_flush_ms;
    /* signing, caches, limits */
    int64_t presign_expires_s;
    int64_t cache_max_entries;
    int64_t cache_channel_ttl_s;
    int64_t cache_endpoint_ttl_s;
    int64_t cache_list_ttl_s;
    int64_t cache_stale_s;
    int64_t ice_refresh_margin_s;
    int refresh_ahead;
    int64_t refresh_rps;
    int64_t refresh_threads;
    int ice_per_viewer;
    char *ice_fallback;
    int64_t rate_limit_rps;
    int64_t rate_limit_burst;
    int64_t auth_failure_rps;
    int64_t auth_failure_burst;
    char *owner_policy;
    int64_t storage_join_rps;
    /* JWT */
    char *policy_file;      /* the issuers, instead of the KVSGATE_JWT_* key settings */
    int64_t auth_watch_ms;  /* how often the policy and key files are checked; 0: only SIGHUP */
    char *jwt_hs256_secret; /* secret */
    char **jwt_public_key_files;
    size_t jwt_public_key_file_count;
    char *jwks_url;
    int64_t jwks_refresh_s;
    int64_t jwks_min_refetch_s;
    char *jwt_issuer;
    int jwt_any_issuer;
    char *jwt_audience;
    int64_t jwt_leeway_s;
    int64_t jwt_max_lifetime_s;
    char *jwt_grants_claim;
    int64_t jwt_max_bytes;
    /* Redis */
    char *redis_url;
    char *redis_username;
    char *redis_password; /* secret */
    char *redis_key;      /* secret */
    char *redis_prefix;
    int64_t redis_timeout_ms;
    int64_t rate_limit_sync_ms;
    /* AWS */
    char *region;
    int aws_use_fips;
    int aws_use_dualstack;
    char *kvs_endpoint;
    char *sts_endpoint;
    char *assume_role_arn;
    char *assume_role_external_id; /* secret */
    int64_t aws_connect_timeout_ms;
    int64_t aws_call_timeout_ms;
    int64_t aws_max_attempts;
    int64_t max_clock_skew_s;
    int64_t aws_quota_percent;
    int64_t aws_channel_quota_percent;
    int64_t aws_budget_wait_ms;
    char *aws_ca_file;
    char *https_proxy;
    char *http_proxy;
    char *no_proxy;
};

/* Reads and validates every setting through getenv_fn (NULL: getenv). On
 * errors writes one line per error, each starting with the variable's name,
 * to err_out and returns KG_ERR_BAD_REQUEST. */
KG_WARN_UNUSED enum kg_err config_load(struct kg_config *cfg,
                                       const char *(*getenv_fn)(const char *name),
                                       FILE *err_out);
/* The same for the commands that only verify tokens (`kvsgate auth check`):
 * the settings an AWS call needs (AWS_REGION) are not required. */
KG_WARN_UNUSED enum kg_err config_load_auth(struct kg_config *cfg,
                                            const char *(*getenv_fn)(const char *name),
                                            FILE *err_out);
void config_cleanup(struct kg_config *cfg);

/* Prints the settings table (name, default, description) for --help. */
void config_print_help(FILE *out);

/* The longest secret a setting or its _FILE may hold. */
#define CONFIG_SECRET_MAX_LEN 65536

/* Reads the secret setting name: the variable, or the file named by
 * name_FILE (one trailing "\n" or "\r\n" dropped), through getenv_fn (NULL:
 * getenv) into out (a secret buffer). KG_OK; KG_ERR_NOT_FOUND when neither is
 * set; KG_ERR_BAD_REQUEST with a line naming the variable in why (both set,
 * unreadable, longer than out's maximum). config_load reads every secret
 * setting with it; `kvsgate token` reads the HS256 secret with
 * config_hs256_secret, so both read the same bytes. */
KG_WARN_UNUSED enum kg_err config_secret_read(const char *name,
                                              const char *(*getenv_fn)(const char *name),
                                              struct kg_buf *out, char *why, size_t why_len);
/* The file NAME_FILE names (getenv_fn NULL: getenv), or NULL: what the
 * reloader watches. */
const char *config_secret_file(const char *name, const char *(*getenv_fn)(const char *name));
/* KVSGATE_JWT_HS256_SECRET(_FILE), required and at least
 * JWTV_HS256_SECRET_MIN_LEN bytes (else KG_ERR_BAD_REQUEST and why). */
KG_WARN_UNUSED enum kg_err config_hs256_secret(const char *(*getenv_fn)(const char *name),
                                               struct kg_buf *out, char *why, size_t why_len);

#endif
