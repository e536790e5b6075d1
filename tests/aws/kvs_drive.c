/* kvs_drive: a small driver of aws/ (transport, credentials, KVS client,
 * presigner) for the Node integration tests in tests/aws/.
 *
 *   kvs_drive [options] COMMAND [ARGS...]
 *
 * Credentials come from the real chain (the process environment), the KVS
 * endpoint from --endpoint or KVSGATE_KVS_ENDPOINT. Each command prints one
 * JSON line on stdout ({"ok":bool,"err":"KG_...","errorType":..,
 * "upstreamCalls":n,"retries":n,...}); `watch` prints one line per event.
 * Logs (JSON lines) go to stderr. Nothing secret is printed: an access key id
 * and whether a session token is present, TURN passwords only as a short
 * SHA-256 prefix; `presign` prints the presigned URL because the test opens
 * it (it carries the session token, like every URL kvsgate hands out).
 *
 * Options: --endpoint URL --region R --attempts N --call-timeout-ms N
 *          --deadline-ms N (relative) --refresh-before-s N --log-level L
 * Commands:
 *   creds
 *   create NAME [TTL|0] [KEY=VALUE...]     describe NAME     describe-arn ARN
 *   list PREFIX|- MAX TOKEN|-              list-all PREFIX|- MAX
 *   delete ARN                              endpoints ARN MASTER|VIEWER
 *   ice HTTPS_ENDPOINT ARN [CLIENT_ID]      tag ARN KEY=VALUE...    tags ARN
 *   presign NAME MASTER|VIEWER [CLIENT_ID] [EXPIRES_S]
 *   repeat N describe NAME                  (counts outcomes)
 *   watch SECONDS [NAME]                    (refresh thread on; a describe per
 *                                            tick when NAME is given)
 *   bench N NAME                            (reused vs new connection latency)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/credentials.h"
#include "aws/kvs.h"
#include "aws/presign.h"
#include "aws/transport.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/timeutil.h"

struct drive {
    struct kg_http_client *http;
    struct creds_provider *creds;
    struct kvs_client *kvs;
    const char *region;
    const char *endpoint;
    int attempts;
    int64_t call_timeout_ms;
    int64_t deadline_ms;
    int64_t refresh_before_s;
};

static void emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    }
    json_decref(o);
}

static json_t *result(enum kg_err err, const struct kvs_call *call)
{
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_boolean(err == KG_OK));
    json_object_set_new(o, "err", json_string(kg_err_name(err)));
    if (call) {
        json_object_set_new(o, "errorType", json_string(call->error_type));
        json_object_set_new(o, "upstreamCalls", json_integer(call->upstream_calls));
        json_object_set_new(o, "retries", json_integer(call->retries));
        json_object_set_new(o, "retryAfter", json_integer(call->retry_after_s));
    }
    return o;
}

static void call_init(struct drive *d, struct kvs_call *call)
{
    memset(call, 0, sizeof *call);
    if (d->deadline_ms)
        call->deadline_ms = kg_mono_ms() + d->deadline_ms;
    call->request_id = "kvs-drive";
}

static json_t *channel_json(const struct kvs_channel *ch)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i}", "name", ch->name, "arn", ch->arn,
                     "type", ch->type, "status", ch->status, "version", ch->version,
                     "creationTime", (json_int_t)ch->creation_time_s, "messageTtl",
                     ch->message_ttl_s);
}

/* KEY=VALUE arguments into tags (pointing into argv). */
static size_t parse_tags(int argc, char **argv, struct kvs_tag *tags, size_t max)
{
    size_t n = 0;
    for (int i = 0; i < argc && n < max; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            continue;
        *eq = '\0';
        tags[n].key = argv[i];
        tags[n].value = eq + 1;
        n++;
    }
    return n;
}

static const char *dash(const char *s) { return strcmp(s, "-") == 0 ? NULL : s; }

static int cmd_creds(struct drive *d)
{
    struct creds_snapshot *s = creds_acquire(d->creds);
    json_t *o = result(s ? KG_OK : KG_ERR_UPSTREAM_REFUSED, NULL);
    if (s) {
        json_object_set_new(o, "source", json_string(s->source));
        json_object_set_new(o, "accessKeyId", json_string(s->sigv4.access_key_id));
        json_object_set_new(o, "hasToken", json_boolean(s->sigv4.session_token &&
                                                        s->sigv4.session_token[0]));
        json_object_set_new(o, "expiresAt", json_integer(s->expires_at_s));
    }
    creds_release(s);
    emit(o);
    return s ? 0 : 1;
}

static int cmd_describe(struct drive *d, const char *name, const char *arn)
{
    struct kvs_call call;
    call_init(d, &call);
    struct kvs_channel ch;
    enum kg_err err = kvs_describe_channel(d->kvs, &call, name, arn, &ch);
    json_t *o = result(err, &call);
    if (err == KG_OK)
        json_object_set_new(o, "channel", channel_json(&ch));
    emit(o);
    return err == KG_OK ? 0 : 1;
}

static int cmd_list(struct drive *d, const char *prefix, int max, const char *token, int all)
{
    struct kvs_call call;
    call_init(d, &call);
    json_t *names = json_array();
    char next[513] = "";
    if (token)
        snprintf(next, sizeof next, "%s", token);
    enum kg_err err;
    int pages = 0;
    do {
        struct kvs_channel_page page;
        err = kvs_list_channels(d->kvs, &call, prefix, max, next, &page);
        if (err != KG_OK)
            break;
        pages++;
        for (size_t i = 0; i < page.count; i++)
            json_array_append_new(names, json_string(page.channels[i].name));
        snprintf(next, sizeof next, "%s", page.next_token);
        kvs_channel_page_cleanup(&page);
    } while (all && next[0] && pages < 1000);
    json_t *o = result(err, &call);
    json_object_set_new(o, "channels", names);
    json_object_set_new(o, "nextToken", json_string(next));
    json_object_set_new(o, "pages", json_integer(pages));
    emit(o);
    return err == KG_OK ? 0 : 1;
}

static enum kvs_role role_of(const char *s)
{
    return strcmp(s, "MASTER") == 0 ? KVS_ROLE_MASTER : KVS_ROLE_VIEWER;
}

static int cmd_ice(struct drive *d, const char *https, const char *arn, const char *client_id)
{
    struct kvs_call call;
    call_init(d, &call);
    struct kvs_ice_config ice;
    enum kg_err err = kvs_get_ice_config(d->kvs, &call, https, arn, client_id, &ice);
    json_t *o = result(err, &call);
    if (err == KG_OK) {
        json_t *servers = json_array();
        for (size_t i = 0; i < ice.count; i++) {
            json_t *uris = json_array();
            for (size_t k = 0; k < ice.servers[i].uri_count; k++)
                json_array_append_new(uris, json_string(ice.servers[i].uris[k]));
            char hex[65];
            kg_sha256_hex(ice.servers[i].password, strlen(ice.servers[i].password), hex);
            hex[16] = '\0';
            json_array_append_new(servers,
                                  json_pack("{s:o, s:s, s:s, s:i}", "uris", uris, "username",
                                            ice.servers[i].username, "passwordSha256", hex, "ttl",
                                            ice.servers[i].ttl_s));
        }
        json_object_set_new(o, "servers", servers);
        json_object_set_new(o, "minTtl", json_integer(ice.min_ttl_s));
        json_object_set_new(o, "fetchedAt", json_integer(ice.fetched_at_s));
        char stun[KVS_URL_MAX + 1];
        kvs_stun_url(d->region, stun);
        json_object_set_new(o, "stun", json_string(stun));
        kvs_ice_config_cleanup(&ice);
    }
    emit(o);
    return err == KG_OK ? 0 : 1;
}

static int cmd_presign(struct drive *d, const char *name, const char *role, const char *client_id,
                       int64_t expires_s)
{
    struct kvs_call call;
    call_init(d, &call);
    struct kvs_channel ch;
    struct kvs_endpoints ep;
    enum kg_err err = kvs_describe_channel(d->kvs, &call, name, NULL, &ch);
    if (err == KG_OK)
        err = kvs_get_endpoints(d->kvs, &call, ch.arn, role_of(role), &ep);
    struct creds_snapshot *s = NULL;
    struct kg_buf url;
    kg_buf_init(&url, 8192);
    if (err == KG_OK) {
        s = creds_acquire(d->creds);
        if (!s)
            err = KG_ERR_UPSTREAM_REFUSED;
    }
    if (err == KG_OK) {
        int64_t now = kg_now_s();
        /* Never past the credentials' expiry. */
        if (s->expires_at_s && s->expires_at_s - now < expires_s)
            expires_s = s->expires_at_s - now;
        struct kvs_presign_input in = {
            .creds = &s->sigv4,
            .region = d->region,
            .endpoint = ep.wss,
            .channel_arn = ch.arn,
            .client_id = client_id,
            .expires_s = expires_s,
            .now_epoch_s = now,
        };
        err = kvs_presign_url(&in, &url);
    }
    json_t *o = result(err, &call);
    if (err == KG_OK) {
        json_object_set_new(o, "url", json_string(url.data));
        json_object_set_new(o, "arn", json_string(ch.arn));
        json_object_set_new(o, "wss", json_string(ep.wss));
        json_object_set_new(o, "https", json_string(ep.https));
        json_object_set_new(o, "hasToken", json_boolean(s->sigv4.session_token != NULL));
    }
    creds_release(s);
    url.flags |= KG_BUF_SECRET;
    kg_buf_free(&url);
    emit(o);
    return err == KG_OK ? 0 : 1;
}

static int cmd_repeat(struct drive *d, int n, const char *name)
{
    struct kvs_call total;
    memset(&total, 0, sizeof total);
    int ok = 0, failed = 0;
    json_t *errors = json_object();
    for (int i = 0; i < n; i++) {
        struct kvs_call call;
        call_init(d, &call);
        struct kvs_channel ch;
        enum kg_err err = kvs_describe_channel(d->kvs, &call, name, NULL, &ch);
        total.upstream_calls += call.upstream_calls;
        total.retries += call.retries;
        if (err == KG_OK) {
            ok++;
        } else {
            failed++;
            const char *k = kg_err_name(err);
            json_t *c = json_object_get(errors, k);
            json_object_set_new(errors, k, json_integer(c ? json_integer_value(c) + 1 : 1));
        }
    }
    json_t *o = json_pack("{s:b, s:i, s:i, s:o, s:i, s:i}", "ok", failed == 0, "succeeded", ok,
                          "failed", failed, "errors", errors, "upstreamCalls",
                          total.upstream_calls, "retries", total.retries);
    emit(o);
    return failed == 0 ? 0 : 1;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int cmd_watch(struct drive *d, int seconds, const char *name)
{
    if (creds_provider_start(d->creds) != KG_OK)
        return 1;
    char last[129] = "";
    int failures = 0;
    int64_t end = kg_mono_ms() + (int64_t)seconds * 1000;
    while (kg_mono_ms() < end) {
        struct creds_snapshot *s = creds_acquire(d->creds);
        if (s && strcmp(s->sigv4.access_key_id, last) != 0) {
            snprintf(last, sizeof last, "%s", s->sigv4.access_key_id);
            emit(json_pack("{s:s, s:s, s:s, s:I, s:I}", "event", "creds", "accessKeyId",
                           s->sigv4.access_key_id, "source", s->source, "expiresAt",
                           (json_int_t)s->expires_at_s, "at", (json_int_t)kg_now_s()));
        }
        creds_release(s);
        if (name) {
            struct kvs_call call;
            call_init(d, &call);
            struct kvs_channel ch;
            enum kg_err err = kvs_describe_channel(d->kvs, &call, name, NULL, &ch);
            if (err != KG_OK) {
                failures++;
                json_t *o = result(err, &call);
                json_object_set_new(o, "event", json_string("call_failed"));
                emit(o);
            }
        }
        sleep_ms(250);
    }
    emit(json_pack("{s:s, s:b, s:i}", "event", "done", "ok", failures == 0, "failures", failures));
    return failures == 0 ? 0 : 1;
}

static int cmd_bench(struct drive *d, int n, const char *name)
{
    /* The same DescribeSignalingChannel, first on this thread's reused
     * connection, then with a new transport (a new connection) per call. */
    struct kvs_channel ch;
    struct kvs_call call;
    call_init(d, &call);
    enum kg_err err = kvs_describe_channel(d->kvs, &call, name, NULL, &ch); /* warm */
    int64_t t0 = kg_mono_us();
    for (int i = 0; i < n && err == KG_OK; i++) {
        call_init(d, &call);
        err = kvs_describe_channel(d->kvs, &call, name, NULL, &ch);
    }
    int64_t reused = (kg_mono_us() - t0) / (n ? n : 1);
    int64_t fresh = 0;
    if (err == KG_OK) {
        t0 = kg_mono_us();
        for (int i = 0; i < n && err == KG_OK; i++) {
            struct kg_http_client *http = transport_new(NULL);
            struct kvs_client *kvs = NULL;
            struct kvs_client_options ko = {.http = http, .creds = d->creds, .region = d->region,
                                            .endpoint = d->endpoint};
            err = kvs_client_new(&ko, &kvs);
            if (err == KG_OK) {
                call_init(d, &call);
                err = kvs_describe_channel(kvs, &call, name, NULL, &ch);
            }
            kvs_client_free(kvs);
            transport_free(http);
        }
        fresh = (kg_mono_us() - t0) / (n ? n : 1);
    }
    json_t *o = result(err, NULL);
    json_object_set_new(o, "calls", json_integer(n));
    json_object_set_new(o, "reusedUs", json_integer(reused));
    json_object_set_new(o, "newConnectionUs", json_integer(fresh));
    emit(o);
    return err == KG_OK ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: kvs_drive [options] COMMAND [ARGS...] (see tests/aws/kvs_drive.c)\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct drive d = {
        .region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-west-2",
        .endpoint = getenv("KVSGATE_KVS_ENDPOINT"),
        .attempts = 3,
        .call_timeout_ms = 2000,
    };
    kg_log_set_level(KG_LOG_INFO);
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--endpoint") == 0)
            d.endpoint = v;
        else if (strcmp(argv[i], "--region") == 0)
            d.region = v;
        else if (strcmp(argv[i], "--attempts") == 0)
            d.attempts = (int)strtol(v, NULL, 10);
        else if (strcmp(argv[i], "--call-timeout-ms") == 0)
            d.call_timeout_ms = strtoll(v, NULL, 10);
        else if (strcmp(argv[i], "--deadline-ms") == 0)
            d.deadline_ms = strtoll(v, NULL, 10);
        else if (strcmp(argv[i], "--refresh-before-s") == 0)
            d.refresh_before_s = strtoll(v, NULL, 10);
        else if (strcmp(argv[i], "--log-level") == 0)
            kg_log_set_level((enum kg_log_level)kg_log_level_parse(v));
        else
            return usage();
    }
    if (i >= argc)
        return usage();
    const char *cmd = argv[i];
    char **args = argv + i + 1;
    int nargs = argc - i - 1;

    if (transport_global_init() != KG_OK)
        return 1;
    kg_crypto_init();
    d.http = transport_new(NULL);
    struct creds_options co = {
        .http = d.http,
        .region = d.region,
        .sts_endpoint = getenv("KVSGATE_STS_ENDPOINT"),
        .imds_endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        .assume_role_arn = getenv("KVSGATE_ASSUME_ROLE_ARN"),
        .assume_role_external_id = getenv("KVSGATE_ASSUME_ROLE_EXTERNAL_ID"),
        .refresh_before_s = d.refresh_before_s,
        .http_timeout_ms = 3000,
    };
    int rc = 1;
    if (creds_provider_new(&co, &d.creds) != KG_OK)
        goto done;
    enum kg_err load = creds_provider_load(d.creds);
    struct kvs_client_options ko = {
        .http = d.http,
        .creds = d.creds,
        .region = d.region,
        .endpoint = d.endpoint,
        .call_timeout_ms = d.call_timeout_ms,
        .retry = {.max_attempts = d.attempts, .base_delay_ms = 20, .max_delay_ms = 200},
    };
    if (kvs_client_new(&ko, &d.kvs) != KG_OK)
        goto done;
    if (load != KG_OK && strcmp(cmd, "watch") != 0 && strcmp(cmd, "creds") != 0) {
        emit(result(load, NULL));
        goto done;
    }

    struct kvs_call call;
    call_init(&d, &call);
    enum kg_err err = KG_OK;
    if (strcmp(cmd, "creds") == 0) {
        rc = cmd_creds(&d);
    } else if (strcmp(cmd, "create") == 0 && nargs >= 1) {
        struct kvs_tag tags[50];
        size_t n = nargs > 2 ? parse_tags(nargs - 2, args + 2, tags, 50) : 0;
        char arn[KVS_ARN_MAX + 1];
        err = kvs_create_channel(d.kvs, &call, args[0],
                                 nargs > 1 ? (int)strtol(args[1], NULL, 10) : 0, tags, n, arn);
        json_t *o = result(err, &call);
        if (err == KG_OK)
            json_object_set_new(o, "arn", json_string(arn));
        emit(o);
        rc = err == KG_OK ? 0 : 1;
    } else if (strcmp(cmd, "describe") == 0 && nargs == 1) {
        rc = cmd_describe(&d, args[0], NULL);
    } else if (strcmp(cmd, "describe-arn") == 0 && nargs == 1) {
        rc = cmd_describe(&d, NULL, args[0]);
    } else if (strcmp(cmd, "list") == 0 && nargs == 3) {
        rc = cmd_list(&d, dash(args[0]), (int)strtol(args[1], NULL, 10), dash(args[2]), 0);
    } else if (strcmp(cmd, "list-all") == 0 && nargs == 2) {
        rc = cmd_list(&d, dash(args[0]), (int)strtol(args[1], NULL, 10), NULL, 1);
    } else if (strcmp(cmd, "delete") == 0 && nargs == 1) {
        err = kvs_delete_channel(d.kvs, &call, args[0], NULL);
        emit(result(err, &call));
        rc = err == KG_OK ? 0 : 1;
    } else if (strcmp(cmd, "endpoints") == 0 && nargs == 2) {
        struct kvs_endpoints ep;
        err = kvs_get_endpoints(d.kvs, &call, args[0], role_of(args[1]), &ep);
        json_t *o = result(err, &call);
        if (err == KG_OK) {
            json_object_set_new(o, "wss", json_string(ep.wss));
            json_object_set_new(o, "https", json_string(ep.https));
        }
        emit(o);
        rc = err == KG_OK ? 0 : 1;
    } else if (strcmp(cmd, "ice") == 0 && nargs >= 2) {
        rc = cmd_ice(&d, args[0], args[1], nargs > 2 ? args[2] : NULL);
    } else if (strcmp(cmd, "tag") == 0 && nargs >= 2) {
        struct kvs_tag tags[50];
        size_t n = parse_tags(nargs - 1, args + 1, tags, 50);
        err = kvs_tag_resource(d.kvs, &call, args[0], tags, n);
        emit(result(err, &call));
        rc = err == KG_OK ? 0 : 1;
    } else if (strcmp(cmd, "tags") == 0 && nargs == 1) {
        struct kvs_tag_list list;
        err = kvs_list_tags(d.kvs, &call, args[0], &list);
        json_t *o = result(err, &call);
        if (err == KG_OK) {
            json_t *tags = json_object();
            for (size_t k = 0; k < list.count; k++)
                json_object_set_new(tags, list.tags[k].key, json_string(list.tags[k].value));
            json_object_set_new(o, "tags", tags);
            kvs_tag_list_cleanup(&list);
        }
        emit(o);
        rc = err == KG_OK ? 0 : 1;
    } else if (strcmp(cmd, "presign") == 0 && nargs >= 2) {
        rc = cmd_presign(&d, args[0], args[1], nargs > 2 ? dash(args[2]) : NULL,
                         nargs > 3 ? strtoll(args[3], NULL, 10) : KVS_PRESIGN_MAX_EXPIRES_S);
    } else if (strcmp(cmd, "repeat") == 0 && nargs == 3 && strcmp(args[1], "describe") == 0) {
        rc = cmd_repeat(&d, (int)strtol(args[0], NULL, 10), args[2]);
    } else if (strcmp(cmd, "watch") == 0 && nargs >= 1) {
        rc = cmd_watch(&d, (int)strtol(args[0], NULL, 10), nargs > 1 ? args[1] : NULL);
    } else if (strcmp(cmd, "bench") == 0 && nargs == 2) {
        rc = cmd_bench(&d, (int)strtol(args[0], NULL, 10), args[1]);
    } else {
        rc = usage();
    }
done:
    kvs_client_free(d.kvs);
    creds_provider_free(d.creds);
    transport_free(d.http);
    transport_global_cleanup();
    return rc;
}
