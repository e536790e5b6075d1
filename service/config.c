/* The settings table. One row per setting; config_load walks it. */
#include "service/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"
#include "aws/kvs.h"
#include "core/redis.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/num.h"
#include "core/url.h"
#include "service/clientaddr.h"

enum setting_type { SET_STRING, SET_INT, SET_BOOL, SET_LIST };

struct setting {
    const char *name;
    enum setting_type type;
    const char *default_value; /* NULL: unset */
    int64_t min, max;          /* SET_INT bounds */
    int secret;                /* may come from NAME_FILE; never printed */
    /* Extra check on a set value; writes why and returns 0 when bad. */
    int (*check)(const char *value, char *why, size_t why_len);
    size_t offset;
    size_t count_offset; /* SET_LIST: where the count goes */
    const char *help;
};

static int check_url(const char *v, char *why, size_t n)
{
    struct url_parts u;
    if (url_parse(v, URL_ALLOW_QUERY, &u) == KG_OK)
        return 1;
    snprintf(why, n, "must be an http:// or https:// URL (host[:port], no userinfo)");
    return 0;
}

static int check_redis_url(const char *v, char *why, size_t n)
{
    struct kg_redis_url u;
    const char *reason = NULL;
    if (kg_redis_url_parse(v, &u, &reason))
        return 1;
    snprintf(why, n, "%s", reason);
    return 0;
}

/* Printable ASCII without spaces, at most 64 bytes. */
static int check_redis_prefix(const char *v, char *why, size_t n)
{
    size_t len = 0;
    for (; v[len]; len++)
        if (len >= 64 || v[len] <= ' ' || v[len] > '~') {
            snprintf(why, n, "must be at most 64 printable ASCII characters without spaces");
            return 0;
        }
    return 1;
}

/* A proxy URL: http:// or https://, then printable ASCII without spaces
 * (user:password@ allowed; libcurl parses it). */
static int check_proxy(const char *v, char *why, size_t n)
{
    const char *rest = strncmp(v, "http://", 7) == 0 ? v + 7 : strncmp(v, "https://", 8) == 0 ? v + 8 : NULL;
    int ok = rest && *rest;
    for (const char *p = rest; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f;
    if (ok)
        return 1;
    snprintf(why, n, "must be an http:// or https:// proxy URL");
    return 0;
}

static int check_cidr(const char *v, char *why, size_t n)
{
    struct clientaddr_range r;
    if (clientaddr_range_parse(v, &r) == KG_OK)
        return 1;
    snprintf(why, n, "each must be an IPv4 or IPv6 address or CIDR range (10.0.0.0/8, fd00::/8)");
    return 0;
}

static int check_owner_policy(const char *v, char *why, size_t n)
{
    if (strcmp(v, "owner") == 0 || strcmp(v, "any") == 0)
        return 1;
    snprintf(why, n, "must be owner or any");
    return 0;
}

static int check_log_level(const char *v, char *why, size_t n)
{
    if (kg_log_level_parse(v) >= 0)
        return 1;
    snprintf(why, n, "must be one of debug, info, warn, error, off");
    return 0;
}

static int check_region(const char *v, char *why, size_t n)
{
    if (kg_kvs_region_valid(v))
        return 1;
    snprintf(why, n, "must be an AWS region name such as us-west-2");
    return 0;
}

static int check_fallback(const char *v, char *why, size_t n)
{
    if (strcmp(v, "stun-only") == 0 || strcmp(v, "fail") == 0)
        return 1;
    snprintf(why, n, "must be stun-only or fail");
    return 0;
}

static int check_claim(const char *v, char *why, size_t n)
{
    if (*v && strlen(v) <= 256)
        return 1;
    snprintf(why, n, "must be a claim name of 1..256 bytes");
    return 0;
}

static int check_origin(const char *v, char *why, size_t n)
{
    if (strcmp(v, "*") == 0)
        return 1;
    if ((strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0) &&
        !strchr(strchr(v, ':') + 3, '/') && strlen(v) < 256)
        return 1;
    snprintf(why, n, "each origin must be scheme://host[:port] with no path, or *");
    return 0;
}

#define OFF(field) offsetof(struct kg_config, field)

/* Checklist: a new row also goes into README.md, helm/kvsgate/values.yaml,
 * helm/kvsgate/values.schema.json and the chart's ConfigMap/Secret. */
static const struct setting settings[] = {
    /* HTTP */
    {"KVSGATE_LISTEN", SET_STRING, "0.0.0.0:8080", 0, 0, 0, NULL, OFF(listen), 0,
     "address and port to listen on (HOST:PORT, [V6]:PORT)"},
    {"KVSGATE_HTTP_THREADS", SET_INT, "0", 0, 256, 0, NULL, OFF(http_threads), 0,
     "HTTP threads (epoll pool); 0 = number of CPUs"},
    {"KVSGATE_MAX_CONNECTIONS", SET_INT, "1024", 1, 100000, 0, NULL, OFF(max_connections), 0,
     "open connections at most"},
    {"KVSGATE_MAX_CONNECTIONS_PER_IP", SET_INT, "0", 0, 100000, 0, NULL,
     OFF(max_connections_per_ip), 0, "connections per client IP; 0 = no limit (behind a load balancer)"},
    {"KVSGATE_CONNECTION_TIMEOUT_S", SET_INT, "15", 1, 3600, 0, NULL, OFF(connection_timeout_s), 0,
     "idle keep-alive limit and the time a client has to send a whole request"},
    {"KVSGATE_MAX_BODY_BYTES", SET_INT, "16384", 256, 1048576, 0, NULL, OFF(max_body_bytes), 0,
     "largest request body (413 above)"},
    {"KVSGATE_MAX_HEADER_BYTES", SET_INT, "32768", 8192, 1048576, 0, NULL, OFF(max_header_bytes), 0,
     "request line and headers at most (431 problem+json above)"},
    {"KVSGATE_TLS_CERT_FILE", SET_STRING, NULL, 0, 0, 0, NULL, OFF(tls_cert_file), 0,
     "PEM certificate chain: serve HTTPS (with KVSGATE_TLS_KEY_FILE)"},
    {"KVSGATE_TLS_KEY_FILE", SET_STRING, NULL, 0, 0, 0, NULL, OFF(tls_key_file), 0,
     "PEM private key for KVSGATE_TLS_CERT_FILE"},
    {"KVSGATE_TRUSTED_PROXIES", SET_LIST, NULL, 0, 0, 0, check_cidr, OFF(trusted_proxies),
     OFF(trusted_proxy_count),
     "comma-separated CIDRs of load balancers and ingresses whose X-Forwarded-For names the "
     "client (for the access log and the failed-token budget); unset = the peer is the client"},
    {"KVSGATE_CORS_ORIGINS", SET_LIST, NULL, 0, 0, 0, check_origin, OFF(cors_origins),
     OFF(cors_origin_count), "comma-separated origins allowed by CORS (or *); unset = none"},
    {"KVSGATE_DRAIN_TIMEOUT_S", SET_INT, "20", 0, 600, 0, NULL, OFF(drain_timeout_s), 0,
     "on SIGTERM, how long in-flight requests may take to finish"},
    {"KVSGATE_SHUTDOWN_DELAY_S", SET_INT, "0", 0, 600, 0, NULL, OFF(shutdown_delay_s), 0,
     "on SIGTERM, keep serving (unready) this long before draining, so load balancers deregister"},
    {"KVSGATE_REQUEST_DEADLINE_MS", SET_INT, "5000", 100, 60000, 0, NULL, OFF(request_deadline_ms),
     0, "total time a request may spend on AWS calls, retries included"},
    {"KVSGATE_UPSTREAM_WORKERS", SET_INT, "32", 1, 1024, 0, NULL, OFF(upstream_workers), 0,
     "threads that make AWS calls"},
    {"KVSGATE_UPSTREAM_QUEUE", SET_INT, "4096", 1, 1000000, 0, NULL, OFF(upstream_queue), 0,
     "requests waiting for an AWS worker at most (503 above)"},
    {"KVSGATE_LOG_LEVEL", SET_STRING, "info", 0, 0, 0, check_log_level, OFF(log_level), 0,
     "debug, info, warn, error or off"},
    {"KVSGATE_ACCESS_LOG", SET_BOOL, "true", 0, 0, 0, NULL, OFF(access_log), 0,
     "one JSON line per request"},
    {"KVSGATE_LOG_FLUSH_MS", SET_INT, "100", 0, 1000, 0, NULL, OFF(log_flush_ms), 0,
     "access and info lines are gathered and written this often (or when 64 KiB are "
     "gathered); warn and error lines are written at once, after what is gathered; 0: one "
     "write per line"},
    /* signing */
    {"KVSGATE_PRESIGN_EXPIRES_S", SET_INT, "299", 1, 299, 0, NULL, OFF(presign_expires_s), 0,
     "X-Amz-Expires of signed URLs (KVS honours at most 299; never past the credentials' expiry)"},
    {"KVSGATE_CACHE_MAX_ENTRIES", SET_INT, "20000", 100, 10000000, 0, NULL, OFF(cache_max_entries),
     0, "entries per cache (channels, endpoints, ICE servers) before the least recently used goes"},
    {"KVSGATE_CACHE_CHANNEL_TTL_S", SET_INT, "3600", 1, 604800, 0, NULL, OFF(cache_channel_ttl_s), 0,
     "how long a channel name's ARN and status are reused"},
    {"KVSGATE_CACHE_ENDPOINT_TTL_S", SET_INT, "36000", 1, 604800, 0, NULL,
     OFF(cache_endpoint_ttl_s), 0, "how long a channel's signaling endpoints are reused"},
    {"KVSGATE_CACHE_LIST_TTL_S", SET_INT, "2", 0, 60, 0, NULL, OFF(cache_list_ttl_s), 0,
     "how long a page of GET /v1/channels (AWS's, filtered per caller) is reused; concurrent "
     "identical lists share one AWS call; creating or deleting a channel here drops them; 0: "
     "every list goes to AWS"},
    {"KVSGATE_CACHE_STALE_S", SET_INT, "3600", 0, 604800, 0, NULL, OFF(cache_stale_s), 0,
     "how long past their TTL channels and endpoints are still served when AWS fails"},
    {"KVSGATE_ICE_REFRESH_MARGIN_S", SET_INT, "30", 5, 250, 0, NULL, OFF(ice_refresh_margin_s), 0,
     "TURN credentials are handed out only while they live at least this long"},
    {"KVSGATE_REFRESH_AHEAD", SET_BOOL, "true", 0, 0, 0, NULL, OFF(refresh_ahead), 0,
     "reload channels, endpoints and TURN credentials in use in the background before they "
     "expire, so no request waits for AWS on a channel in steady use"},
    {"KVSGATE_REFRESH_RPS", SET_INT, "20", 1, 1000, 0, NULL, OFF(refresh_rps), 0,
     "background reloads started per second at most (all caches, this replica); entries "
     "beyond it expire and are loaded by the next request"},
    {"KVSGATE_REFRESH_THREADS", SET_INT, "4", 1, 64, 0, NULL, OFF(refresh_threads), 0,
     "background reloads running at once at most"},
    {"KVSGATE_ICE_PER_VIEWER", SET_BOOL, "false", 0, 0, 0, NULL, OFF(ice_per_viewer), 0,
     "fetch TURN credentials per viewer instead of per channel and role"},
    {"KVSGATE_ICE_FALLBACK", SET_STRING, "stun-only", 0, 0, 0, check_fallback, OFF(ice_fallback), 0,
     "when TURN cannot be fetched and none is cached: stun-only (header X-Kvsgate-Ice) or fail (503)"},
    {"KVSGATE_RATE_LIMIT_RPS", SET_INT, "20", 0, 1000000, 0, NULL, OFF(rate_limit_rps), 0,
     "requests per second per subject (token bucket); 0 = no limit"},
    {"KVSGATE_RATE_LIMIT_BURST", SET_INT, "40", 1, 1000000, 0, NULL, OFF(rate_limit_burst), 0,
     "requests a subject may make at once before the rate applies"},
    {"KVSGATE_AUTH_FAILURE_RPS", SET_INT, "10", 0, 1000000, 0, NULL, OFF(auth_failure_rps), 0,
     "refused tokens per second per client address (IPv6: per /64); past it only tokens already "
     "verified pass, others get 429 unverified; 0 = no limit"},
    {"KVSGATE_AUTH_FAILURE_BURST", SET_INT, "50", 1, 1000000, 0, NULL, OFF(auth_failure_burst), 0,
     "refused tokens a client address may have at once before the rate applies"},
    {"KVSGATE_STORAGE_JOIN_RPS", SET_INT, "1", 0, 2, 0, NULL, OFF(storage_join_rps), 0,
     "storage-session joins per second per channel and role (burst 2), within AWS's 2 per "
     "second per channel (per replica: divide among replicas); 0 = no limit of kvsgate's"},
    {"KVSGATE_OWNER_POLICY", SET_STRING, "owner", 0, 0, 0, check_owner_policy, OFF(owner_policy),
     0, "owner: deleting or re-creating a channel another subject created needs manageAny or "
        "the kvs:admin scope; any: a manage grant is enough"},
    /* Redis: replicas sharing caches, flights, invalidation and rate limits */
    {"KVSGATE_REDIS_URL", SET_STRING, NULL, 0, 0, 0, check_redis_url, OFF(redis_url), 0,
     "redis://host[:port][/db] of a Redis the replicas share: a second-level cache, one AWS "
     "call per key across replicas, invalidation within a second, shared rate limits "
     "(docs/redis.md); no TLS (rediss://) with Debian's hiredis; unset: each replica on its own"},
    {"KVSGATE_REDIS_USERNAME", SET_STRING, NULL, 0, 0, 0, NULL, OFF(redis_username), 0,
     "ACL user for AUTH (Redis 6+); unset: AUTH with the password only"},
    {"KVSGATE_REDIS_PASSWORD", SET_STRING, NULL, 0, 0, 1, NULL, OFF(redis_password), 0,
     "AUTH password; or KVSGATE_REDIS_PASSWORD_FILE"},
    {"KVSGATE_REDIS_KEY", SET_STRING, NULL, 0, 0, 1, NULL, OFF(redis_key), 0,
     "at least 32 bytes, the same on every replica: what kvsgate stores in Redis is "
     "encrypted and authenticated with keys derived from it (AES-256-GCM); required with "
     "KVSGATE_REDIS_URL; or KVSGATE_REDIS_KEY_FILE"},
    {"KVSGATE_REDIS_PREFIX", SET_STRING, "kvsgate:", 0, 0, 0, check_redis_prefix,
     OFF(redis_prefix), 0, "prefix of every key and pub/sub channel kvsgate uses (several "
                           "deployments on one Redis)"},
    {"KVSGATE_REDIS_TIMEOUT_MS", SET_INT, "100", 10, 5000, 0, NULL, OFF(redis_timeout_ms), 0,
     "connect and command timeout; past it the request goes on without Redis (local caches "
     "and limits), and Redis is tried again after a pause"},
    {"KVSGATE_RATE_LIMIT_SYNC_MS", SET_INT, "250", 50, 10000, 0, NULL, OFF(rate_limit_sync_ms),
     0, "with Redis: how often each replica adds its per-subject request counts to the shared "
        "ones and takes back the total"},
    /* JWT */
    {"KVSGATE_POLICY_FILE", SET_STRING, NULL, 0, 0, 0, NULL, OFF(policy_file), 0,
     "policy file (YAML or JSON) of one or more issuers, their keys, audiences and claim "
     "rules (docs/identity-providers.md); replaces the issuer, audience, grants-claim and key "
     "settings below"},
    {"KVSGATE_AUTH_WATCH_MS", SET_INT, "1000", 0, 60000, 0, NULL, OFF(auth_watch_ms), 0,
     "how often the policy file and the key and secret files it or the settings below name "
     "are checked for changes (reloaded without a restart; SIGHUP reloads at once); 0: only "
     "on SIGHUP"},
    {"KVSGATE_JWT_HS256_SECRET", SET_STRING, NULL, 0, 0, 1, NULL, OFF(jwt_hs256_secret), 0,
     "HS256 secret (at least 32 bytes); or KVSGATE_JWT_HS256_SECRET_FILE"},
    {"KVSGATE_JWT_PUBLIC_KEY_FILE", SET_LIST, NULL, 0, 0, 0, NULL, OFF(jwt_public_key_files),
     OFF(jwt_public_key_file_count),
     "comma-separated PEM files of public keys (RS256/384/512, PS256/384/512, ES256/384/512, "
     "EdDSA)"},
    {"KVSGATE_JWKS_URL", SET_STRING, NULL, 0, 0, 0, check_url, OFF(jwks_url), 0,
     "JWKS URL (Cognito, Auth0, Keycloak, ...)"},
    {"KVSGATE_JWKS_REFRESH_S", SET_INT, "600", 10, 86400, 0, NULL, OFF(jwks_refresh_s), 0,
     "JWKS refresh period"},
    {"KVSGATE_JWKS_MIN_REFETCH_S", SET_INT, "30", 1, 3600, 0, NULL, OFF(jwks_min_refetch_s), 0,
     "at most one JWKS fetch per this many seconds on unknown key ids"},
    {"KVSGATE_JWT_ISSUER", SET_STRING, NULL, 0, 0, 0, NULL, OFF(jwt_issuer), 0,
     "required iss; required with KVSGATE_JWKS_URL (unless KVSGATE_JWT_ANY_ISSUER)"},
    {"KVSGATE_JWT_ANY_ISSUER", SET_BOOL, "false", 0, 0, 0, NULL, OFF(jwt_any_issuer), 0,
     "with KVSGATE_JWKS_URL, accept tokens of any issuer the keys sign for (unsafe where an "
     "IdP shares keys across tenants, as Microsoft Entra does)"},
    {"KVSGATE_JWT_AUDIENCE", SET_STRING, NULL, 0, 0, 0, NULL, OFF(jwt_audience), 0,
     "required aud (unset: not checked)"},
    {"KVSGATE_JWT_LEEWAY_S", SET_INT, "60", 0, 300, 0, NULL, OFF(jwt_leeway_s), 0,
     "clock leeway for exp, nbf, iat"},
    {"KVSGATE_JWT_MAX_LIFETIME_S", SET_INT, "0", 0, 31536000, 0, NULL, OFF(jwt_max_lifetime_s), 0,
     "refuse tokens whose exp is further than this from now; 0 = no limit"},
    {"KVSGATE_JWT_GRANTS_CLAIM", SET_STRING, "kvs", 0, 0, 0, check_claim, OFF(jwt_grants_claim), 0,
     "claim holding the grants object (may be a namespaced URL)"},
    {"KVSGATE_JWT_MAX_BYTES", SET_INT, "8192", 512, 65536, 0, NULL, OFF(jwt_max_bytes), 0,
     "longest accepted token"},
    /* AWS */
    {"AWS_REGION", SET_STRING, NULL, 0, 0, 0, check_region, OFF(region), 0,
     "AWS region (or AWS_DEFAULT_REGION); required"},
    {"AWS_USE_FIPS_ENDPOINT", SET_BOOL, "false", 0, 0, 0, NULL, OFF(aws_use_fips), 0,
     "FIPS endpoints for KVS and STS and the stuns: FIPS STUN host handed to browsers (the "
     "AWS SDKs' setting); refused at start-up where KVS has none (docs/endpoints.md)"},
    {"AWS_USE_DUALSTACK_ENDPOINT", SET_BOOL, "false", 0, 0, 0, NULL, OFF(aws_use_dualstack), 0,
     "dual-stack (IPv4 and IPv6) endpoints for KVS and STS and the dual-stack STUN host (the "
     "AWS SDKs' setting)"},
    {"KVSGATE_KVS_ENDPOINT", SET_STRING, NULL, 0, 0, 0, check_url, OFF(kvs_endpoint), 0,
     "KVS control-plane base URL (default: the region's, docs/endpoints.md), as given: "
     "FIPS and dual-stack still pick STS and the STUN host"},
    {"KVSGATE_STS_ENDPOINT", SET_STRING, NULL, 0, 0, 0, check_url, OFF(sts_endpoint), 0,
     "STS base URL (default: the region's, docs/endpoints.md)"},
    {"KVSGATE_ASSUME_ROLE_ARN", SET_STRING, NULL, 0, 0, 0, NULL, OFF(assume_role_arn), 0,
     "role to assume on top of the credential chain"},
    {"KVSGATE_ASSUME_ROLE_EXTERNAL_ID", SET_STRING, NULL, 0, 0, 1, NULL,
     OFF(assume_role_external_id), 0, "external id for KVSGATE_ASSUME_ROLE_ARN"},
    {"KVSGATE_AWS_CONNECT_TIMEOUT_MS", SET_INT, "2000", 50, 60000, 0, NULL,
     OFF(aws_connect_timeout_ms), 0, "connect timeout of AWS calls"},
    {"KVSGATE_AWS_CALL_TIMEOUT_MS", SET_INT, "3000", 100, 60000, 0, NULL, OFF(aws_call_timeout_ms),
     0, "time limit of one AWS call attempt"},
    {"KVSGATE_AWS_MAX_ATTEMPTS", SET_INT, "3", 1, 10, 0, NULL, OFF(aws_max_attempts), 0,
     "attempts per AWS call (throttling, 5xx, resets, timeouts), within the request deadline"},
    {"KVSGATE_MAX_CLOCK_SKEW_S", SET_INT, "900", 0, 86400, 0, NULL, OFF(max_clock_skew_s), 0,
     "kvsgate corrects its AWS clock from AWS's Date when AWS refuses a signature as too far "
     "off (metric kvsgate_aws_clock_offset_seconds); an offset past this makes /readyz fail; "
     "0: never"},
    {"KVSGATE_AWS_QUOTA_PERCENT", SET_INT, "50", 0, 100, 0, NULL, OFF(aws_quota_percent), 0,
     "share of each documented KVS quota (per account and per channel) this replica sends at "
     "most, retries included; the account's other applications share the rest "
     "(docs/upstream-budgets.md); 0 = no budgets"},
    {"KVSGATE_AWS_CHANNEL_QUOTA_PERCENT", SET_INT, "80", 1, 100, 0, NULL,
     OFF(aws_channel_quota_percent), 0,
     "share of each documented per-channel KVS quota (5 per second for Describe, Delete, "
     "tags) this replica sends at most"},
    {"KVSGATE_AWS_BUDGET_WAIT_MS", SET_INT, "1000", 0, 5000, 0, NULL, OFF(aws_budget_wait_ms), 0,
     "a call over budget waits this long at most for its turn, then is answered 429 with "
     "Retry-After (upstream_budget_exceeded) without reaching AWS"},
    {"KVSGATE_AWS_CA_FILE", SET_STRING, NULL, 0, 0, 0, NULL, OFF(aws_ca_file), 0,
     "CA bundle for AWS endpoints (default: the system store)"},
    /* Proxies, as the AWS SDKs read them (lower-case names too). */
    {"HTTPS_PROXY", SET_STRING, NULL, 0, 0, 0, check_proxy, OFF(https_proxy), 0,
     "proxy for https:// calls: AWS endpoints and the JWKS URL (or https_proxy); credential "
     "endpoints (IMDS, ECS/EKS), loopback and link-local hosts never use one"},
    {"HTTP_PROXY", SET_STRING, NULL, 0, 0, 0, check_proxy, OFF(http_proxy), 0,
     "proxy for http:// calls to hosts that are not loopback or link-local (or http_proxy)"},
    {"NO_PROXY", SET_STRING, NULL, 0, 0, 0, NULL, OFF(no_proxy), 0,
     "comma-separated hosts and domains reached without the proxy (or no_proxy); ALL_PROXY is "
     "not read"},
};

#define SETTING_COUNT (sizeof settings / sizeof settings[0])

/* Read when the setting itself is unset, as the AWS SDKs do. */
static const struct {
    const char *name, *fallback;
} fallbacks[] = {
    {"AWS_REGION", "AWS_DEFAULT_REGION"},
    {"HTTPS_PROXY", "https_proxy"},
    {"HTTP_PROXY", "http_proxy"},
    {"NO_PROXY", "no_proxy"},
};

/* Case does not matter (the AWS SDKs read AWS_USE_FIPS_ENDPOINT=TRUE as true). */
static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") ||
             !strcasecmp(v, "off"))
        *out = 0;
    else
        return 0;
    return 1;
}

/* Splits a comma-separated list, trimming spaces and dropping empty items. */
static char **split_list(const char *v, size_t *count)
{
    size_t cap = 1;
    for (const char *p = v; *p; p++)
        cap += *p == ',';
    char **items = kg_calloc(cap, sizeof *items);
    size_t n = 0;
    const char *p = v;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > s)
            items[n++] = kg_strndup(s, (size_t)(e - s));
        p += len;
        if (*p == ',')
            p++;
    }
    *count = n;
    return items;
}

static const char *env_getenv(const char *name) { return getenv(name); }

enum kg_err config_secret_read(const char *name, const char *(*getenv_fn)(const char *name),
                               struct kg_buf *out, char *why, size_t why_len)
{
    const char *(*get)(const char *) = getenv_fn ? getenv_fn : env_getenv;
    char file_var[128];
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *direct = get(name), *path = get(file_var);
    if (direct && !*direct)
        direct = NULL;
    if (path && !*path)
        path = NULL;
    kg_buf_reset(out);
    if (direct && path) {
        snprintf(why, why_len, "%s: set only one of it and %s", name, file_var);
        return KG_ERR_BAD_REQUEST;
    }
    if (!path) {
        if (direct && kg_buf_append_str(out, direct) != KG_OK) {
            snprintf(why, why_len, "%s: longer than %zu bytes", name, out->max_len);
            return KG_ERR_BAD_REQUEST;
        }
        return direct ? KG_OK : KG_ERR_NOT_FOUND;
    }
    enum kg_err err = kg_file_read(path, out);
    if (err == KG_ERR_PAYLOAD_TOO_LARGE) {
        snprintf(why, why_len, "%s: %s is longer than %zu bytes", file_var, path, out->max_len);
        return KG_ERR_BAD_REQUEST;
    }
    if (err != KG_OK) {
        snprintf(why, why_len, "%s: cannot read %s: %s", file_var, path, strerror(errno));
        return KG_ERR_BAD_REQUEST;
    }
    /* One trailing "\n" or "\r\n" is not part of the secret (editors and
     * `echo` add one; Kubernetes Secrets created from files often keep it). */
    if (out->len && out->data[out->len - 1] == '\n') {
        kg_buf_truncate(out, out->len - 1);
        if (out->len && out->data[out->len - 1] == '\r')
            kg_buf_truncate(out, out->len - 1);
    }
    return KG_OK;
}

const char *config_secret_file(const char *name, const char *(*getenv_fn)(const char *name))
{
    const char *(*get)(const char *) = getenv_fn ? getenv_fn : env_getenv;
    char file_var[128];
    snprintf(file_var, sizeof file_var, "%s_FILE", name);
    const char *path = get(file_var);
    return path && *path ? path : NULL;
}

enum kg_err config_hs256_secret(const char *(*getenv_fn)(const char *name), struct kg_buf *out,
                                char *why, size_t why_len)
{
    const char *(*get)(const char *) = getenv_fn ? getenv_fn : env_getenv;
    const char *name = "KVSGATE_JWT_HS256_SECRET";
    enum kg_err err = config_secret_read(name, get, out, why, why_len);
    if (err == KG_ERR_NOT_FOUND) {
        snprintf(why, why_len, "%s: not set (nor %s_FILE)", name, name);
        return KG_ERR_BAD_REQUEST;
    }
    if (err == KG_OK && out->len < JWTV_HS256_SECRET_MIN_LEN) {
        const char *file = get("KVSGATE_JWT_HS256_SECRET_FILE");
        snprintf(why, why_len, "%s%s: must be at least %d bytes", name,
                 file && *file ? "_FILE" : "", JWTV_HS256_SECRET_MIN_LEN);
        kg_buf_reset(out);
        return KG_ERR_BAD_REQUEST;
    }
    return err;
}

/* Reads NAME (or, for a secret, NAME_FILE: config_secret_read). Returns 1
 * with *value (owned, NULL when unset), or 0 after printing an error. */
static int setting_raw(const struct setting *s, const char *(*get)(const char *), FILE *err_out,
                       char **value)
{
    *value = NULL;
    if (s->secret) {
        struct kg_buf b;
        kg_buf_init_secret(&b, CONFIG_SECRET_MAX_LEN);
        char why[512];
        enum kg_err err = config_secret_read(s->name, get, &b, why, sizeof why);
        if (err == KG_OK)
            *value = kg_buf_take(&b, NULL);
        kg_buf_free(&b);
        if (err == KG_ERR_BAD_REQUEST) {
            fprintf(err_out, "%s\n", why);
            return 0;
        }
        if (err == KG_OK)
            return 1;
    } else {
        const char *direct = get(s->name);
        if (direct && *direct)
            *value = kg_strdup(direct);
    }
    if (!*value && s->default_value)
        *value = kg_strdup(s->default_value);
    return 1;
}

/* The raw value of s: its variable (or _FILE), else a name the AWS SDKs read
 * for it, else its default. 1 with *value (owned, NULL when unset), or 0 after
 * printing an error. */
static int setting_value(const struct setting *s, const char *(*get)(const char *), FILE *err_out,
                         char **value)
{
    if (!setting_raw(s, get, err_out, value))
        return 0;
    for (size_t k = 0; !*value && k < sizeof fallbacks / sizeof fallbacks[0]; k++) {
        const char *d = strcmp(s->name, fallbacks[k].name) == 0 ? get(fallbacks[k].fallback) : NULL;
        if (d && *d)
            *value = kg_strdup(d);
    }
    return 1;
}

/* Checks value (NULL: unset) against s and stores it in cfg; takes value.
 * Returns the number of errors printed. */
static int setting_store(const struct setting *s, char *value, struct kg_config *cfg,
                         FILE *err_out)
{
    char *field = (char *)cfg + s->offset;
    char why[160] = "";
    int errors = 0;
    if (value && s->check && s->type != SET_LIST && !s->check(value, why, sizeof why)) {
        fprintf(err_out, "%s: %s\n", s->name, why);
        kg_free_secret(value);
        return 1;
    }
    switch (s->type) {
    case SET_STRING:
        *(char **)(void *)field = value;
        return 0;
    case SET_INT: {
        int64_t v = 0;
        if (value && !kg_parse_int64(value, s->min, s->max, &v)) {
            fprintf(err_out, "%s: must be an integer from %lld to %lld\n", s->name,
                    (long long)s->min, (long long)s->max);
            errors++;
        }
        *(int64_t *)(void *)field = v;
        break;
    }
    case SET_BOOL: {
        int b = 0;
        if (value && !parse_bool(value, &b)) {
            fprintf(err_out, "%s: must be true or false\n", s->name);
            errors++;
        }
        *(int *)(void *)field = b;
        break;
    }
    case SET_LIST: {
        size_t n = 0;
        char **items = value ? split_list(value, &n) : NULL;
        for (size_t k = 0; k < n && s->check; k++) {
            if (!s->check(items[k], why, sizeof why)) {
                fprintf(err_out, "%s: '%s': %s\n", s->name, items[k], why);
                errors++;
            }
        }
        *(char ***)(void *)field = items;
        *(size_t *)(void *)((char *)cfg + s->count_offset) = n;
        break;
    }
    }
    kg_free_secret(value);
    return errors;
}

/* With a policy file, the issuer settings belong to it: one place each. */
static int policy_file_cross_checks(const char *(*get)(const char *), FILE *err_out)
{
    static const char *const owned[] = {
        "KVSGATE_JWT_HS256_SECRET", "KVSGATE_JWT_HS256_SECRET_FILE", "KVSGATE_JWT_PUBLIC_KEY_FILE",
        "KVSGATE_JWKS_URL",         "KVSGATE_JWT_ISSUER",            "KVSGATE_JWT_ANY_ISSUER",
        "KVSGATE_JWT_AUDIENCE",     "KVSGATE_JWT_GRANTS_CLAIM"};
    int errors = 0;
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        const char *v = get(owned[i]);
        if (v && *v) {
            fprintf(err_out, "%s: set in the policy file (KVSGATE_POLICY_FILE) instead\n",
                    owned[i]);
            errors++;
        }
    }
    return errors;
}

/* Without one, the settings describe one issuer. */
static int env_issuer_cross_checks(const struct kg_config *cfg, FILE *err_out)
{
    int errors = 0;
    if (!cfg->jwt_hs256_secret && !cfg->jwt_public_key_file_count && !cfg->jwks_url) {
        fprintf(err_out, "KVSGATE_JWT_HS256_SECRET: no JWT key configured; set it, "
                         "KVSGATE_JWT_PUBLIC_KEY_FILE or KVSGATE_JWKS_URL\n");
        errors++;
    }
    if (cfg->jwks_url && !cfg->jwt_issuer && !cfg->jwt_any_issuer) {
        fprintf(err_out, "KVSGATE_JWT_ISSUER: required with KVSGATE_JWKS_URL (an IdP's keys may "
                         "sign for other issuers too); set KVSGATE_JWT_ANY_ISSUER=true to accept "
                         "any\n");
        errors++;
    }
    if (cfg->jwt_hs256_secret && strlen(cfg->jwt_hs256_secret) < JWTV_HS256_SECRET_MIN_LEN) {
        fprintf(err_out, "KVSGATE_JWT_HS256_SECRET: must be at least %d bytes\n",
                JWTV_HS256_SECRET_MIN_LEN);
        errors++;
    }
    return errors;
}

/* The rules across settings. Returns the number of errors printed. */
static int config_cross_checks(const struct kg_config *cfg, const char *(*get)(const char *),
                               int auth_only, FILE *err_out)
{
    int errors = 0;
    if (!cfg->region && !auth_only) {
        fprintf(err_out, "AWS_REGION: required (the region of the signaling channels)\n");
        errors++;
    }
    errors += cfg->policy_file ? policy_file_cross_checks(get, err_out)
                               : env_issuer_cross_checks(cfg, err_out);
    if (!cfg->tls_cert_file != !cfg->tls_key_file) {
        fprintf(err_out, "%s: set KVSGATE_TLS_CERT_FILE and KVSGATE_TLS_KEY_FILE together\n",
                cfg->tls_cert_file ? "KVSGATE_TLS_KEY_FILE" : "KVSGATE_TLS_CERT_FILE");
        errors++;
    }
    return errors;
}

static enum kg_err load_scoped(struct kg_config *cfg, const char *(*getenv_fn)(const char *name),
                               int auth_only, FILE *err_out)
{
    const char *(*get)(const char *) = getenv_fn ? getenv_fn : env_getenv;
    memset(cfg, 0, sizeof *cfg);
    int errors = 0;
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        char *value = NULL;
        if (!setting_value(&settings[i], get, err_out, &value))
            errors++;
        else
            errors += setting_store(&settings[i], value, cfg, err_out);
    }
    errors += config_cross_checks(cfg, get, auth_only, err_out);
    if (errors)
        config_cleanup(cfg);
    return errors ? KG_ERR_BAD_REQUEST : KG_OK;
}

enum kg_err config_load(struct kg_config *cfg, const char *(*getenv_fn)(const char *name),
                        FILE *err_out)
{
    return load_scoped(cfg, getenv_fn, 0, err_out);
}

enum kg_err config_load_auth(struct kg_config *cfg, const char *(*getenv_fn)(const char *name),
                             FILE *err_out)
{
    return load_scoped(cfg, getenv_fn, 1, err_out);
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

void config_cleanup(struct kg_config *cfg)
{
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *s = &settings[i];
        char *field = (char *)cfg + s->offset;
        if (s->type == SET_STRING) {
            /* Every string is wiped, not only the secrets: a proxy URL may
             * carry user:password@. */
            char **p = (char **)(void *)field;
            kg_free_secret(*p);
            *p = NULL;
        } else if (s->type == SET_LIST) {
            char ***p = (char ***)(void *)field;
            size_t *n = (size_t *)(void *)((char *)cfg + s->count_offset);
            free_list(*p, *n);
            *p = NULL;
            *n = 0;
        }
    }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Settings (environment variables; secrets may also come from NAME_FILE):\n");
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *s = &settings[i];
        fprintf(out, "  %-34s %s", s->name, s->help);
        if (s->default_value && !s->secret)
            fprintf(out, " [default %s]", s->default_value);
        if (s->secret)
            fprintf(out, " [secret: or %s_FILE]", s->name);
        fputc('\n', out);
    }
    fprintf(out,
            "Also read, as the AWS SDKs do: AWS_DEFAULT_REGION, https_proxy, http_proxy,\n"
            "  no_proxy, AWS_ACCESS_KEY_ID,\n"
            "  AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE,\n"
            "  AWS_ROLE_SESSION_NAME, AWS_CONTAINER_CREDENTIALS_FULL_URI,\n"
            "  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE),\n"
            "  AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_EC2_METADATA_DISABLED.\n");
}
