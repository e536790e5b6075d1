/* aws/credentials*: each source's requests and parsing (env, STS XML, web
 * identity, container, IMDSv2, AssumeRole on top), the chain's order,
 * snapshots under threads, the refresh thread on an injected clock, and that
 * secrets are wiped (free is wrapped: -Wl,--wrap=free) and never logged.
 * HTTP is the fake client: no network. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "aws/credentials_impl.h"
#include "aws/kvs.h"
#include "aws/kvs_impl.h"
#include "aws/xml.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "fake_http.h"
#include "testlib.h"

/* ---- free() watch: was the memory zero when it was freed? ------------------ */

void __real_free(void *p);
void __wrap_free(void *p);

#define WATCH_MAX 8
static struct {
    void *p;
    size_t len;
    int freed;
    int wiped;
} watches[WATCH_MAX];
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int watch_count;

void __wrap_free(void *p)
{
    if (p && atomic_load(&watch_count)) {
        pthread_mutex_lock(&watch_lock);
        for (int i = 0; i < WATCH_MAX; i++) {
            if (watches[i].p == p && !watches[i].freed) {
                const unsigned char *b = p;
                int zero = 1;
                for (size_t k = 0; k < watches[i].len; k++)
                    if (b[k])
                        zero = 0;
                watches[i].freed = 1;
                watches[i].wiped = zero;
            }
        }
        pthread_mutex_unlock(&watch_lock);
    }
    __real_free(p);
}

static void watch(void *p, size_t len)
{
    pthread_mutex_lock(&watch_lock);
    for (int i = 0; i < WATCH_MAX; i++)
        if (!watches[i].p) {
            watches[i].p = p;
            watches[i].len = len;
            watches[i].freed = watches[i].wiped = 0;
            atomic_fetch_add(&watch_count, 1);
            break;
        }
    pthread_mutex_unlock(&watch_lock);
}

/* 1 freed and wiped, 0 freed not wiped, -1 not freed. Forgets the watch. */
static int watch_result(void *p)
{
    int r = -1;
    pthread_mutex_lock(&watch_lock);
    for (int i = 0; i < WATCH_MAX; i++)
        if (watches[i].p == p) {
            r = watches[i].freed ? watches[i].wiped : -1;
            memset(&watches[i], 0, sizeof watches[i]);
            atomic_fetch_sub(&watch_count, 1);
        }
    pthread_mutex_unlock(&watch_lock);
    return r;
}

/* ---- environment and clock ---------------------------------------------------- */

#define ENV_MAX 24
static struct {
    char name[64];
    char value[512];
} env_vars[ENV_MAX];
static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;

static void env_clear(void)
{
    pthread_mutex_lock(&env_lock);
    memset(env_vars, 0, sizeof env_vars);
    pthread_mutex_unlock(&env_lock);
}

static void env_set(const char *name, const char *value)
{
    pthread_mutex_lock(&env_lock);
    int slot = -1;
    for (int i = 0; i < ENV_MAX && slot < 0; i++)
        if (strcmp(env_vars[i].name, name) == 0)
            slot = i;
    for (int i = 0; i < ENV_MAX && slot < 0; i++)
        if (!env_vars[i].name[0])
            slot = i;
    if (slot >= 0) {
        snprintf(env_vars[slot].name, sizeof env_vars[slot].name, "%s", name);
        snprintf(env_vars[slot].value, sizeof env_vars[slot].value, "%s", value ? value : "");
    }
    pthread_mutex_unlock(&env_lock);
}

/* Returns a pointer into static storage; tests only change the environment
 * while no provider reads it, except test_snapshots_stay_whole_under_threads,
 * which uses its own getenv. */
static const char *test_getenv(const char *name)
{
    const char *v = NULL;
    pthread_mutex_lock(&env_lock);
    for (int i = 0; i < ENV_MAX; i++)
        if (env_vars[i].name[0] && strcmp(env_vars[i].name, name) == 0)
            v = env_vars[i].value;
    pthread_mutex_unlock(&env_lock);
    return v;
}

static _Atomic int64_t clock_now = 1700000000;
static int64_t test_now(void) { return atomic_load(&clock_now); }

static struct fake_http *http;

static struct creds_provider *provider(const char *assume_role_arn, int64_t refresh_before_s)
{
    struct creds_options o = {
        .http = &http->client,
        .getenv_fn = test_getenv,
        .now_fn = test_now,
        .region = "us-west-2",
        .assume_role_arn = assume_role_arn,
        .assume_role_external_id = assume_role_arn ? "ext-1" : NULL,
        .refresh_before_s = refresh_before_s,
        .http_timeout_ms = 1000,
    };
    struct creds_provider *p = NULL;
    T_INTEQ(creds_provider_new(&o, &p), KG_OK);
    return p;
}

static void setup(void)
{
    env_clear();
    env_set("AWS_EC2_METADATA_DISABLED", "true");
    atomic_store(&clock_now, 1700000000);
    http = fake_http_new();
}

static void teardown(void)
{
    fake_http_free(http);
    http = NULL;
    env_clear();
}

static char *iso(int64_t t)
{
    static char buf[4][KG_ISO8601_LEN + 1];
    static int n;
    char *b = buf[n++ % 4];
    kg_time_format_iso8601(t, b);
    return b;
}

static char *container_json(const char *akid, int64_t expires)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"ctr-secret-%s\",\"Token\":\"ctr-token-%s"
             "\",\"Expiration\":\"%s\"}",
             akid, akid, akid, iso(expires));
    return buf;
}

static char *sts_xml(const char *action, const char *akid, int64_t expires)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
             "  <%sResult>\n    <SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>\n"
             "    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn>"
             "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
             "    <Credentials>\n      <SessionToken>sts-token-%s+/=</SessionToken>\n"
             "      <SecretAccessKey>sts-secret-%s</SecretAccessKey>\n"
             "      <Expiration>%s</Expiration>\n      <AccessKeyId>%s</AccessKeyId>\n"
             "    </Credentials>\n  </%sResult>\n"
             "  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>\n</%sResponse>\n",
             action, action, akid, akid, iso(expires), akid, action, action);
    return buf;
}

static char *write_temp(const char *content)
{
    static char paths[4][64];
    static int n;
    char *path = paths[n++ % 4];
    snprintf(path, 64, "/tmp/kvsgate-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0) {
        if (write(fd, content, strlen(content)) < 0)
            t_fail(__FILE__, __LINE__, "write");
        close(fd);
    }
    return path;
}

static void rewrite(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

/* ---- env ------------------------------------------------------------------------- */

static void test_env_source_reads_keys_and_optional_token(void)
{
    setup();
    env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
    env_set("AWS_SECRET_ACCESS_KEY", "env/secret+key");
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    struct creds_snapshot *s = creds_acquire(p);
    T_CHECK(s != NULL);
    if (s) {
        T_STREQ(s->sigv4.access_key_id, "AKIDENV");
        T_STREQ(s->sigv4.secret_access_key, "env/secret+key");
        T_CHECK(s->sigv4.session_token == NULL);
        T_INTEQ(s->expires_at_s, 0);
        T_STREQ(s->source, "environment");
    }
    creds_release(s);
    T_INTEQ(creds_provider_expires_at(p), 0);
    /* A token is carried when set. */
    env_set("AWS_SESSION_TOKEN", "tok+/=");
    T_INTEQ(creds_provider_load(p), KG_OK);
    s = creds_acquire(p);
    T_STREQ(s ? s->sigv4.session_token : "", "tok+/=");
    creds_release(s);
    T_INTEQ((long long)fake_http_request_count(http), 0);
    creds_provider_free(p);
    teardown();
}

static void test_env_source_refuses_half_or_malformed_keys(void)
{
    setup();
    env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    T_CHECK(creds_acquire(p) == NULL);
    env_set("AWS_SECRET_ACCESS_KEY", "has space");
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    env_set("AWS_SECRET_ACCESS_KEY", "ok");
    env_set("AWS_ACCESS_KEY_ID", "AKID-WITH-DASH");
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    creds_provider_free(p);
    teardown();
}

/* ---- STS XML ---------------------------------------------------------------------- */

static void test_sts_success_document_is_read(void)
{
    struct creds_fields f = {0};
    char code[65];
    const char *doc = sts_xml("AssumeRoleWithWebIdentity", "ASIASTS1", 1700003600);
    T_INTEQ(creds_sts_parse("AssumeRoleWithWebIdentity", 200, doc, strlen(doc), &f, code,
                            sizeof code),
            KG_OK);
    T_STREQ(f.access_key_id, "ASIASTS1");
    T_STREQ(f.secret_access_key, "sts-secret-ASIASTS1");
    T_STREQ(f.session_token, "sts-token-ASIASTS1+/=");
    T_INTEQ(f.expires_at_s, 1700003600);
    creds_fields_cleanup(&f);

    /* With an XML declaration, entities and fractional seconds. */
    const char *doc2 =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AssumeRoleResponse><AssumeRoleResult>"
        "<Credentials><AccessKeyId>ASIA2</AccessKeyId><SecretAccessKey>a&amp;b&#43;c</SecretAccessKey>"
        "<SessionToken>t&#x2F;1</SessionToken><Expiration>2023-11-14T23:13:20.123Z</Expiration>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>";
    T_INTEQ(creds_sts_parse("AssumeRole", 200, doc2, strlen(doc2), &f, code, sizeof code), KG_OK);
    T_STREQ(f.secret_access_key, "a&b+c");
    T_STREQ(f.session_token, "t/1");
    T_INTEQ(f.expires_at_s, 1700003600);
    creds_fields_cleanup(&f);
}

static void test_sts_error_documents_map_by_code(void)
{
    struct {
        long status;
        const char *code;
        enum kg_err want;
    } rows[] = {
        {400, "InvalidIdentityToken", KG_ERR_UPSTREAM_REFUSED},
        {403, "AccessDenied", KG_ERR_UPSTREAM_REFUSED},
        {400, "ExpiredTokenException", KG_ERR_UPSTREAM_REFUSED},
        {400, "Throttling", KG_ERR_UPSTREAM_THROTTLED},
        {400, "IDPCommunicationError", KG_ERR_UPSTREAM_UNAVAILABLE},
        {500, "InternalFailure", KG_ERR_UPSTREAM_UNAVAILABLE},
        {503, "SomethingElse", KG_ERR_UPSTREAM_UNAVAILABLE},
    };
    for (size_t i = 0; i < T_COUNT(rows); i++) {
        char doc[512], code[65];
        snprintf(doc, sizeof doc,
                 "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
                 "<Type>Sender</Type><Code>%s</Code><Message>m</Message></Error><RequestId>1"
                 "</RequestId></ErrorResponse>",
                 rows[i].code);
        struct creds_fields f = {0};
        T_INTEQ(creds_sts_parse("AssumeRole", rows[i].status, doc, strlen(doc), &f, code,
                                sizeof code),
                rows[i].want);
        T_STREQ(code, rows[i].code);
        T_CHECK(f.access_key_id == NULL);
    }
    struct creds_fields f = {0};
    char code[65];
    T_INTEQ(creds_sts_parse("AssumeRole", 500, "", 0, &f, code, sizeof code),
            KG_ERR_UPSTREAM_UNAVAILABLE);
    T_INTEQ(creds_sts_parse("AssumeRole", 429, "busy", 4, &f, code, sizeof code),
            KG_ERR_UPSTREAM_THROTTLED);
    /* An error document with a 200 is not acted on. */
    const char *err200 = "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>";
    T_INTEQ(creds_sts_parse("AssumeRole", 200, err200, strlen(err200), &f, code, sizeof code),
            KG_ERR_UPSTREAM_REFUSED);
}

static void test_sts_parsing_refuses_malformed_documents(void)
{
    const char *ok_creds = "<Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s"
                           "</SecretAccessKey><SessionToken>t</SessionToken><Expiration>"
                           "2030-01-01T00:00:00Z</Expiration></Credentials>";
    char docs[12][1024];
    int n = 0;
    /* wrong root */
    snprintf(docs[n++], 1024, "<AssumeRoleResponse><AssumeRoleResult>%s</AssumeRoleResult></AssumeRoleResponse>", ok_creds);
    /* missing token */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>s</SecretAccessKey><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    /* two key ids */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId><AccessKeyId>B</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    /* a comment */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><!-- x --><AssumeRoleWithWebIdentityResult>%s</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>", ok_creds);
    /* CDATA */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId><![CDATA[A]]></AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    /* unknown entity */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>&nbsp;</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    /* bad expiration */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>tomorrow</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    /* nested markup in a leaf */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId><b>A</b></AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    /* unterminated */
    snprintf(docs[n++], 1024, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>%s", ok_creds);
    /* not XML */
    snprintf(docs[n++], 1024, "{\"Credentials\":{}}");
    for (int i = 0; i < n; i++) {
        struct creds_fields f = {0};
        char code[65];
        if (creds_sts_parse("AssumeRoleWithWebIdentity", 200, docs[i], strlen(docs[i]), &f, code,
                            sizeof code) != KG_ERR_UPSTREAM_REFUSED)
            t_fail(__FILE__, __LINE__, "accepted malformed STS document #%d", i);
        T_CHECK(f.access_key_id == NULL && f.secret_access_key == NULL);
    }
    /* An oversized token does not fit. */
    struct kg_buf big;
    kg_buf_init(&big, 1 << 20);
    T_INTEQ(kg_buf_append_str(&big, "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
                                    "<AccessKeyId>A</AccessKeyId><SecretAccessKey>s"
                                    "</SecretAccessKey><SessionToken>"),
            KG_OK);
    for (int i = 0; i < CREDS_TOKEN_MAX + 1; i++)
        T_INTEQ(kg_buf_append_char(&big, 'x'), KG_OK);
    T_INTEQ(kg_buf_append_str(&big, "</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>"
                                    "</Credentials></AssumeRoleResult></AssumeRoleResponse>"),
            KG_OK);
    struct creds_fields f = {0};
    char code[65];
    T_INTEQ(creds_sts_parse("AssumeRole", 200, big.data, big.len, &f, code, sizeof code),
            KG_ERR_UPSTREAM_REFUSED);
    kg_buf_free(&big);
}

static void test_sts_url_is_override_regional_or_global(void)
{
    struct creds_ctx ctx = {.getenv_fn = test_getenv};
    char url[256];
    const char *region;
    env_clear();
    ctx.region = "eu-central-1";
    creds_sts_url(&ctx, url, sizeof url, &region);
    T_STREQ(url, "https://sts.eu-central-1.amazonaws.com/");
    T_STREQ(region, "eu-central-1");
    ctx.region = "cn-north-1";
    creds_sts_url(&ctx, url, sizeof url, &region);
    T_STREQ(url, "https://sts.cn-north-1.amazonaws.com.cn/");
    ctx.region = NULL;
    creds_sts_url(&ctx, url, sizeof url, &region);
    T_STREQ(url, "https://sts.amazonaws.com/");
    T_STREQ(region, "us-east-1");
    env_set("AWS_REGION", "ap-south-1");
    creds_sts_url(&ctx, url, sizeof url, &region);
    T_STREQ(url, "https://sts.ap-south-1.amazonaws.com/");
    env_set("KVSGATE_STS_ENDPOINT", "http://127.0.0.1:9/");
    creds_sts_url(&ctx, url, sizeof url, &region);
    T_STREQ(url, "http://127.0.0.1:9/");
    T_STREQ(region, "ap-south-1");
    env_clear();
}

/* ---- web identity ------------------------------------------------------------------ */

static void test_web_identity_posts_unsigned_form_and_rereads_the_token_file(void)
{
    setup();
    char *path = write_temp("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.sig-ONE\n");
    env_set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kvs role");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", path);
    env_set("AWS_ROLE_SESSION_NAME", "pod-1");
    env_set("KVSGATE_STS_ENDPOINT", "http://127.0.0.1:9/");
    fake_http_route(http, "POST", "127.0.0.1:9",
                    200, NULL, sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB1", 1700003600));
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "web_identity");
    T_STREQ(s ? s->sigv4.access_key_id : "", "ASIAWEB1");
    T_STREQ(s ? s->sigv4.session_token : "", "sts-token-ASIAWEB1+/=");
    T_INTEQ(s ? s->expires_at_s : 0, 1700003600);
    creds_release(s);
    const struct fake_request *r = fake_http_request(http, 0);
    T_STREQ(r->method, "POST");
    T_STREQ(r->url, "http://127.0.0.1:9/");
    T_STREQ(r->body, "Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012"
                     "%3Arole%2Fkvs%20role&RoleSessionName=pod-1&Version=2011-06-15"
                     "&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.sig-ONE");
    T_STREQ(fake_request_header(r, "content-type"),
            "application/x-www-form-urlencoded; charset=utf-8");
    T_CHECK(fake_request_header(r, "authorization") == NULL);
    T_CHECK(fake_request_header(r, "x-amz-security-token") == NULL);

    /* The kubelet rotates the file: the next refresh sends the new token. */
    rewrite(path, "eyJ.eyJ.sig-TWO");
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_CHECK(strstr(fake_http_request(http, 1)->body, "WebIdentityToken=eyJ.eyJ.sig-TWO") != NULL);

    /* A missing token file fails without a call. */
    unlink(path);
    size_t before = fake_http_request_count(http);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ((long long)fake_http_request_count(http), (long long)before);
    creds_provider_free(p);
    teardown();
}

/* ---- container --------------------------------------------------------------------- */

static void test_container_relative_uri_goes_to_the_ecs_address(void)
{
    setup();
    env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc-123");
    fake_http_route(http, "GET", "/v2/credentials/", 200, NULL,
                    container_json("ASIACTR1", 1700001000));
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    const struct fake_request *r = fake_http_request(http, 0);
    T_STREQ(r->url, "http://169.254.170.2/v2/credentials/abc-123");
    T_CHECK(fake_request_header(r, "authorization") == NULL);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "container");
    T_STREQ(s ? s->sigv4.session_token : "", "ctr-token-ASIACTR1");
    T_INTEQ(s ? s->expires_at_s : 0, 1700001000);
    creds_release(s);
    creds_provider_free(p);
    teardown();
}

static void test_container_full_uri_sends_the_token_from_file_or_env(void)
{
    setup();
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds?x=1");
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token");
    fake_http_route(http, "GET", "127.0.0.1:8099", 200, NULL,
                    container_json("ASIACTR2", 1700001000));
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_STREQ(fake_http_request(http, 0)->url, "http://127.0.0.1:8099/creds?x=1");
    T_STREQ(fake_request_header(fake_http_request(http, 0), "authorization"), "env-token");
    /* The file wins over the variable and is read again on each refresh. */
    char *path = write_temp("file-token-1\n");
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_STREQ(fake_request_header(fake_http_request(http, 1), "authorization"), "file-token-1");
    rewrite(path, "file-token-2");
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_STREQ(fake_request_header(fake_http_request(http, 2), "authorization"), "file-token-2");
    /* A token with a line break would inject a header: refused, no call. */
    rewrite(path, "a\r\nX-Evil: 1");
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ((long long)fake_http_request_count(http), 3);
    unlink(path);
    creds_provider_free(p);
    teardown();
}

static void test_container_full_uri_must_be_https_or_a_local_address(void)
{
    struct {
        const char *uri;
        int allowed;
    } rows[] = {
        {"https://creds.example.com/x", 1},       {"http://127.0.0.1:80/x", 1},
        {"http://127.1.2.3/x", 1},                 {"http://localhost:9911/x", 1},
        {"http://[::1]:9911/x", 1},                {"http://169.254.170.2/v2/x", 1},
        {"http://169.254.170.23/v1/credentials", 1}, {"http://[fd00:ec2::23]/v1/credentials", 1},
        {"http://creds.example.com/x", 0},         {"http://10.0.0.1/x", 0},
        {"http://169.254.169.254/x", 0},           {"ftp://127.0.0.1/x", 0},
        {"http://user@127.0.0.1/x", 0},            {"http://127.0.0.1.evil.com/x", 0},
    };
    for (size_t i = 0; i < T_COUNT(rows); i++)
        if (creds_container_uri_allowed(rows[i].uri) != rows[i].allowed)
            t_fail(__FILE__, __LINE__, "%s: allowed=%d", rows[i].uri, !rows[i].allowed);

    setup();
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://creds.example.com/x");
    env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-token");
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ((long long)fake_http_request_count(http), 0);
    creds_provider_free(p);
    teardown();
}

static void test_container_errors_and_bad_documents_fail(void)
{
    setup();
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    struct creds_provider *p = provider(NULL, 0);
    struct kg_metric *refreshes =
        kg_metric_counter("kvsgate_credentials_refreshes_total", "", "source,outcome");
    const char *errors[] = {"container", "error"}, *oks[] = {"container", "ok"};
    double errors0 = kg_metric_value(refreshes, errors), oks0 = kg_metric_value(refreshes, oks);
    const char *bodies[] = {
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":5}",
        "{\"AccessKeyId\":7,\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
        "not json",
    };
    for (size_t i = 0; i < T_COUNT(bodies); i++) {
        fake_http_reset(http);
        fake_http_route(http, "GET", "/creds", 200, NULL, bodies[i]);
        T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    }
    fake_http_reset(http);
    fake_http_route(http, "GET", "/creds", 401, NULL, "unauthorized");
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    fake_http_reset(http);
    fake_http_route(http, "GET", "/creds", 503, NULL, "");
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_UNAVAILABLE);
    fake_http_reset(http);
    fake_http_route_err(http, "GET", "/creds", KG_ERR_UPSTREAM_TIMEOUT);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_TIMEOUT);
    T_CHECK(creds_acquire(p) == NULL);
    /* Every failed load is counted by source; then one that works. */
    T_CHECK(kg_metric_value(refreshes, errors) == errors0 + 7);
    fake_http_reset(http);
    fake_http_route(http, "GET", "/creds", 200, NULL, container_json("ASIAOK", 1700009999));
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_CHECK(kg_metric_value(refreshes, oks) == oks0 + 1);
    creds_provider_free(p);
    teardown();
}

/* ---- IMDSv2 ------------------------------------------------------------------------- */

static void imds_routes(const char *akid, int64_t expires)
{
    fake_http_route(http, "PUT", "/latest/api/token", 200, NULL, "IMDSSESSIONTOKEN==");
    fake_http_route(http, "GET", "/security-credentials/kvs-role", 200, NULL,
                    container_json(akid, expires));
    fake_http_route(http, "GET", "/security-credentials/", 200, NULL, "kvs-role\n");
}

static void test_imds_v2_token_then_role_then_credentials(void)
{
    setup();
    env_set("AWS_EC2_METADATA_DISABLED", "false");
    env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/");
    imds_routes("ASIAIMDS", 1700006000);
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_INTEQ((long long)fake_http_request_count(http), 3);
    const struct fake_request *put = fake_http_request(http, 0);
    T_STREQ(put->method, "PUT");
    T_STREQ(put->url, "http://127.0.0.1:1338/latest/api/token");
    T_STREQ(fake_request_header(put, "x-aws-ec2-metadata-token-ttl-seconds"), "21600");
    const struct fake_request *role = fake_http_request(http, 1);
    T_STREQ(role->method, "GET");
    T_STREQ(role->url, "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/");
    T_STREQ(fake_request_header(role, "x-aws-ec2-metadata-token"), "IMDSSESSIONTOKEN==");
    const struct fake_request *cred = fake_http_request(http, 2);
    T_STREQ(cred->url, "http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/kvs-role");
    T_STREQ(fake_request_header(cred, "x-aws-ec2-metadata-token"), "IMDSSESSIONTOKEN==");
    T_CHECK(put->connect_timeout_ms <= 1000);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "imds");
    T_STREQ(s ? s->sigv4.access_key_id : "", "ASIAIMDS");
    creds_release(s);
    creds_provider_free(p);
    teardown();
}

static void test_imds_is_skipped_when_disabled_and_fails_cleanly(void)
{
    setup(); /* AWS_EC2_METADATA_DISABLED=true */
    imds_routes("ASIAIMDS", 1700006000);
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ((long long)fake_http_request_count(http), 0);
    creds_provider_free(p);

    env_set("AWS_EC2_METADATA_DISABLED", "");
    fake_http_reset(http);
    fake_http_route(http, "PUT", "/latest/api/token", 200, NULL, "TOKEN");
    fake_http_route(http, "GET", "/security-credentials/", 404, NULL, "");
    p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    /* The default endpoint is the link-local address. */
    T_STREQ(fake_http_request(http, 0)->url, "http://169.254.169.254/latest/api/token");
    fake_http_reset(http);
    fake_http_route(http, "PUT", "/latest/api/token", 200, NULL, "TOKEN");
    fake_http_route(http, "GET", "/security-credentials/kvs-role", 200, NULL,
                    "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
                    "\"Token\":\"t\",\"Expiration\":\"2030-01-01T00:00:00Z\"}");
    fake_http_route(http, "GET", "/security-credentials/", 200, NULL, "kvs-role");
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    fake_http_reset(http);
    fake_http_route_err(http, "PUT", "/latest/api/token", KG_ERR_UPSTREAM_TIMEOUT);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_TIMEOUT);
    T_INTEQ((long long)fake_http_request_count(http), 1);
    creds_provider_free(p);
    teardown();
}

/* ---- AssumeRole on top --------------------------------------------------------------- */

static void test_assume_role_is_signed_with_the_base_credentials(void)
{
    setup();
    env_set("AWS_ACCESS_KEY_ID", "ASIABASE");
    env_set("AWS_SECRET_ACCESS_KEY", "base-secret");
    env_set("AWS_SESSION_TOKEN", "base-token");
    env_set("KVSGATE_STS_ENDPOINT", "http://127.0.0.1:9");
    fake_http_route(http, "POST", "127.0.0.1:9", 200, NULL,
                    sts_xml("AssumeRole", "ASIAASSUMED", 1700003600));
    struct creds_provider *p = provider("arn:aws:iam::1:role/kvsgate", 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "environment+assume_role");
    T_STREQ(s ? s->sigv4.access_key_id : "", "ASIAASSUMED");
    creds_release(s);
    const struct fake_request *r = fake_http_request(http, 0);
    T_STREQ(r->url, "http://127.0.0.1:9");
    T_STREQ(r->body, "Action=AssumeRole&DurationSeconds=3600&ExternalId=ext-1&RoleArn=arn%3Aaws"
                     "%3Aiam%3A%3A1%3Arole%2Fkvsgate&RoleSessionName=kvsgate&Version=2011-06-15");
    T_STREQ(fake_request_header(r, "host"), "127.0.0.1:9");
    T_STREQ(fake_request_header(r, "x-amz-security-token"), "base-token");
    T_STREQ(fake_request_header(r, "x-amz-date"), "20231114T221320Z");
    const char *auth = fake_request_header(r, "authorization");
    const char *want_auth = "AWS4-HMAC-SHA256 Credential=ASIABASE/20231114/us-west-2/sts/"
                            "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                            "x-amz-security-token, Signature=";
    T_CHECK(auth && strncmp(auth, want_auth, strlen(want_auth)) == 0);

    /* AssumeRole failing ends the chain: no other identity is tried. */
    fake_http_reset(http);
    fake_http_route(http, "POST", "127.0.0.1:9", 403, NULL,
                    "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    fake_http_route(http, "GET", "/creds", 200, NULL, container_json("ASIACTR", 1700009999));
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ(fake_http_route_hits(http, "GET", "/creds"), 0);
    creds_provider_free(p);
    teardown();
}

static void test_web_identity_with_assume_role_on_top(void)
{
    setup();
    char *path = write_temp("eyJ.eyJ.sig");
    env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", path);
    env_set("KVSGATE_STS_ENDPOINT", "http://127.0.0.1:9/");
    /* Both STS actions answer from the queue in order. */
    fake_http_push(http, 200, NULL, sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB", 1700003600));
    fake_http_push(http, 200, NULL, sts_xml("AssumeRole", "ASIAONTOP", 1700002000));
    struct creds_provider *p = provider("arn:aws:iam::1:role/kvsgate", 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "web_identity+assume_role");
    T_STREQ(s ? s->sigv4.access_key_id : "", "ASIAONTOP");
    T_INTEQ(s ? s->expires_at_s : 0, 1700002000);
    creds_release(s);
    T_CHECK(strstr(fake_http_request(http, 0)->body, "Action=AssumeRoleWithWebIdentity") != NULL);
    T_CHECK(strstr(fake_request_header(fake_http_request(http, 1), "authorization"),
                   "Credential=ASIAWEB/") != NULL);
    T_STREQ(fake_request_header(fake_http_request(http, 1), "x-amz-security-token"),
            "sts-token-ASIAWEB+/=");
    unlink(path);
    creds_provider_free(p);
    teardown();
}

/* ---- the chain ---------------------------------------------------------------------- */

static void test_chain_order_env_then_web_identity_then_container_then_imds(void)
{
    setup();
    char *path = write_temp("eyJ.eyJ.sig");
    env_set("AWS_EC2_METADATA_DISABLED", "false");
    env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338");
    env_set("AWS_ACCESS_KEY_ID", "AKIAENV");
    env_set("AWS_SECRET_ACCESS_KEY", "s");
    env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", path);
    env_set("KVSGATE_STS_ENDPOINT", "http://127.0.0.1:9/");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    fake_http_route(http, "POST", "127.0.0.1:9", 200, NULL,
                    sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB", 1700003600));
    fake_http_route(http, "GET", "/creds", 200, NULL, container_json("ASIACTR", 1700003600));
    imds_routes("ASIAIMDS", 1700003600);
    struct creds_provider *p = provider(NULL, 0);
    const char *want[] = {"environment", "web_identity", "container", "imds"};
    const char *drop[][2] = {{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
                             {"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"},
                             {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"},
                             {"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_DISABLED"}};
    for (int i = 0; i < 4; i++) {
        T_INTEQ(creds_provider_load(p), KG_OK);
        struct creds_snapshot *s = creds_acquire(p);
        T_STREQ(s ? s->source : "", want[i]);
        creds_release(s);
        env_set(drop[i][0], i == 3 ? "true" : "");
        env_set(drop[i][1], i == 3 ? "true" : "");
    }
    /* Nothing left: the chain fails, the last snapshot stays (it has not expired). */
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_REFUSED);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "imds");
    creds_release(s);
    /* Only the environment source made no call before the first yield. */
    T_INTEQ(fake_http_route_hits(http, "POST", "127.0.0.1:9"), 1);
    T_INTEQ(fake_http_route_hits(http, "GET", "/creds"), 1);
    unlink(path);
    creds_provider_free(p);
    teardown();
}

static void test_a_failing_source_lets_the_chain_go_on(void)
{
    setup();
    char *path = write_temp("eyJ.eyJ.sig");
    env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa");
    env_set("AWS_WEB_IDENTITY_TOKEN_FILE", path);
    env_set("KVSGATE_STS_ENDPOINT", "http://127.0.0.1:9/");
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    fake_http_route(http, "POST", "127.0.0.1:9", 400, NULL,
                    "<ErrorResponse><Error><Code>InvalidIdentityToken</Code></Error></ErrorResponse>");
    fake_http_route(http, "GET", "/creds", 200, NULL, container_json("ASIACTR", 1700003600));
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->source : "", "container");
    creds_release(s);
    unlink(path);
    creds_provider_free(p);
    teardown();
}

/* ---- snapshots under threads --------------------------------------------------------- */

static atomic_int publish_n;
static char thread_akid[32], thread_secret[32];
static const char *thread_getenv(const char *name)
{
    /* Called by the publishing thread only (creds_provider_load). */
    int n = atomic_load(&publish_n);
    if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0) {
        snprintf(thread_akid, sizeof thread_akid, "AKID%d", n);
        return thread_akid;
    }
    if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0) {
        snprintf(thread_secret, sizeof thread_secret, "secret%d", n);
        return thread_secret;
    }
    if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
        return "true";
    return NULL;
}

static struct creds_provider *shared;
static atomic_int stop_readers, torn;

static void *reader(void *arg)
{
    (void)arg;
    long reads = 0;
    while (!atomic_load(&stop_readers)) {
        struct creds_snapshot *s = creds_acquire(shared);
        if (!s)
            continue;
        /* The pair must come from one publication. */
        if (strcmp(s->sigv4.access_key_id + 4, s->sigv4.secret_access_key + 6) != 0)
            atomic_fetch_add(&torn, 1);
        creds_release(s);
        reads++;
    }
    return (void *)reads;
}

static void test_snapshots_stay_whole_under_threads(void)
{
    struct creds_options o = {.getenv_fn = thread_getenv, .now_fn = test_now};
    T_INTEQ(creds_provider_new(&o, &shared), KG_OK);
    T_INTEQ(creds_provider_load(shared), KG_OK);
    pthread_t t[6];
    atomic_store(&stop_readers, 0);
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    /* A snapshot held across many publications stays valid. */
    struct creds_snapshot *held = creds_acquire(shared);
    for (int i = 1; i <= 2000; i++) {
        atomic_store(&publish_n, i);
        T_INTEQ(creds_provider_load(shared), KG_OK);
    }
    atomic_store(&stop_readers, 1);
    long total = 0;
    for (int i = 0; i < 6; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (long)r;
    }
    T_STREQ(held->sigv4.access_key_id, "AKID0");
    T_STREQ(held->sigv4.secret_access_key, "secret0");
    creds_release(held);
    T_INTEQ(atomic_load(&torn), 0);
    T_CHECK(total > 0);
    struct creds_snapshot *last = creds_acquire(shared);
    T_STREQ(last ? last->sigv4.access_key_id : "", "AKID2000");
    creds_release(last);
    creds_provider_free(shared);
}

/* ---- the refresh thread on an injected clock ------------------------------------------- */

static int wait_attempts(struct creds_provider *p, int want, int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 5; i++) {
        if (creds_provider_attempts(p) >= want)
            return 1;
        usleep(5000);
    }
    return creds_provider_attempts(p) >= want;
}

/* Waits until the current snapshot has that access key id. */
static int wait_akid(struct creds_provider *p, const char *akid, int timeout_ms)
{
    for (int i = 0; i <= timeout_ms / 5; i++) {
        struct creds_snapshot *s = creds_acquire(p);
        int same = s && strcmp(s->sigv4.access_key_id, akid) == 0;
        creds_release(s);
        if (same)
            return 1;
        usleep(5000);
    }
    return 0;
}

static void set_container(const char *akid, int64_t expires)
{
    fake_http_reset(http);
    fake_http_route(http, "GET", "/creds", 200, NULL, container_json(akid, expires));
}

static void advance_to(struct creds_provider *p, int64_t t)
{
    atomic_store(&clock_now, t);
    creds_provider_wake(p);
}

static void test_refresh_happens_refresh_before_s_before_expiry(void)
{
    setup();
    int64_t t0 = 1700000000;
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    set_container("ASIAONE", t0 + 1000);
    struct creds_provider *p = provider(NULL, 300);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_INTEQ(creds_provider_expires_at(p), t0 + 1000);
    T_INTEQ(creds_provider_start(p), KG_OK);
    set_container("ASIATWO", t0 + 2000);
    /* 699 s in: not yet (due at expiry - 300 = 700). */
    advance_to(p, t0 + 699);
    usleep(100000);
    T_INTEQ(creds_provider_attempts(p), 1);
    T_INTEQ((long long)fake_http_request_count(http), 0);
    advance_to(p, t0 + 700);
    T_CHECK(wait_akid(p, "ASIATWO", 2000));
    T_INTEQ(creds_provider_attempts(p), 2);
    T_INTEQ(creds_provider_expires_at(p), t0 + 2000);
    creds_provider_free(p);
    teardown();
}

static void test_short_lived_credentials_refresh_at_half_their_lifetime(void)
{
    setup();
    int64_t t0 = 1700000000;
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    set_container("ASIAONE", t0 + 120); /* lifetime 120 < 2 * 300 */
    struct creds_provider *p = provider(NULL, 300);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_INTEQ(creds_provider_start(p), KG_OK);
    set_container("ASIATWO", t0 + 240);
    advance_to(p, t0 + 59);
    usleep(100000);
    T_INTEQ(creds_provider_attempts(p), 1);
    advance_to(p, t0 + 60);
    T_CHECK(wait_attempts(p, 2, 2000));
    creds_provider_free(p);
    teardown();
}

static void test_failed_refresh_keeps_old_credentials_until_they_expire(void)
{
    setup();
    int64_t t0 = 1700000000;
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    set_container("ASIAOLD", t0 + 1000);
    struct creds_provider *p = provider(NULL, 300);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_INTEQ(creds_provider_start(p), KG_OK);
    fake_http_reset(http);
    fake_http_route(http, "GET", "/creds", 500, NULL, "");
    advance_to(p, t0 + 700);
    T_CHECK(wait_attempts(p, 2, 2000));
    struct creds_snapshot *s = creds_acquire(p);
    T_STREQ(s ? s->sigv4.access_key_id : "", "ASIAOLD");
    creds_release(s);
    /* The retry waits its backoff (1 s on the injected clock), then tries again. */
    usleep(50000);
    T_INTEQ(creds_provider_attempts(p), 2);
    advance_to(p, t0 + 701);
    T_CHECK(wait_attempts(p, 3, 2000));
    /* Still failing at expiry: the old credentials are no longer handed out. */
    advance_to(p, t0 + 999);
    s = creds_acquire(p);
    T_CHECK(s != NULL);
    creds_release(s);
    atomic_store(&clock_now, t0 + 1000);
    T_CHECK(creds_acquire(p) == NULL);
    /* The source recovers: the next attempt publishes new credentials. */
    set_container("ASIANEW", t0 + 5000);
    advance_to(p, t0 + 1100);
    T_CHECK(wait_akid(p, "ASIANEW", 3000));
    creds_provider_free(p);
    teardown();
}

static void test_start_retries_a_failed_first_load(void)
{
    setup();
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    fake_http_route(http, "GET", "/creds", 503, NULL, "");
    struct creds_provider *p = provider(NULL, 300);
    T_INTEQ(creds_provider_load(p), KG_ERR_UPSTREAM_UNAVAILABLE);
    T_INTEQ(creds_provider_start(p), KG_OK);
    set_container("ASIALATE", 1700009999);
    advance_to(p, 1700000001); /* past the 1 s backoff */
    T_CHECK(wait_akid(p, "ASIALATE", 3000));
    creds_provider_free(p);
    teardown();
}

static void test_refresh_soon_forces_one_refresh_at_most_every_10_s(void)
{
    setup();
    env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8099/creds");
    set_container("ASIAONE", 1700003600);
    struct creds_provider *p = provider(NULL, 300);
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_INTEQ(creds_provider_start(p), KG_OK);
    set_container("ASIATWO", 1700003600);
    creds_provider_refresh_soon(p);
    T_CHECK(wait_attempts(p, 2, 2000));
    creds_provider_refresh_soon(p); /* same second: ignored */
    usleep(100000);
    T_INTEQ(creds_provider_attempts(p), 2);
    atomic_store(&clock_now, 1700000010);
    creds_provider_refresh_soon(p);
    T_CHECK(wait_attempts(p, 3, 2000));
    creds_provider_free(p);
    teardown();
}

/* ---- secrets -------------------------------------------------------------------------- */

static void test_secrets_are_wiped_when_the_last_reference_goes(void)
{
    setup();
    env_set("AWS_ACCESS_KEY_ID", "AKIDWIPE");
    env_set("AWS_SECRET_ACCESS_KEY", "wipe-me-secret");
    env_set("AWS_SESSION_TOKEN", "wipe-me-token");
    struct creds_provider *p = provider(NULL, 0);
    T_INTEQ(creds_provider_load(p), KG_OK);
    struct creds_snapshot *s = creds_acquire(p);
    char *secret = (char *)s->sigv4.secret_access_key;
    char *token = (char *)s->sigv4.session_token;
    watch(secret, strlen(secret) + 1);
    watch(token, strlen(token) + 1);
    /* Publishing a new snapshot drops the provider's reference, not ours. */
    T_INTEQ(creds_provider_load(p), KG_OK);
    T_STREQ(s->sigv4.secret_access_key, "wipe-me-secret");
    creds_release(s);
    T_INTEQ(watch_result(secret), 1);
    T_INTEQ(watch_result(token), 1);
    creds_provider_free(p);

    /* TURN passwords. */
    struct kvs_ice_config ice;
    const char *doc = "{\"IceServerList\":[{\"Uris\":[\"turn:a\"],\"Username\":\"u\","
                      "\"Password\":\"turn-secret\",\"Ttl\":300}]}";
    T_INTEQ(kvs_parse_ice(doc, strlen(doc), 1, &ice), KG_OK);
    char *pw = ice.servers[0].password;
    watch(pw, strlen(pw) + 1);
    kvs_ice_config_cleanup(&ice);
    T_INTEQ(watch_result(pw), 1);

    /* Response bodies (they carry STS and IMDS credentials). */
    struct kg_http_response r;
    kg_http_response_init(&r);
    r.body.max_len = 1024;
    T_INTEQ(kg_buf_append_str(&r.body, "<SecretAccessKey>x</SecretAccessKey>"), KG_OK);
    char *body = r.body.data;
    watch(body, r.body.len);
    kg_http_response_cleanup(&r);
    T_INTEQ(watch_result(body), 1);
    teardown();
}

static FILE *log_file;

static void test_no_secret_reaches_the_log(void)
{
    int fd = fileno(log_file);
    off_t size = lseek(fd, 0, SEEK_END);
    T_CHECK(size > 0);
    char *text = calloc(1, (size_t)size + 1);
    T_INTEQ((long long)pread(fd, text, (size_t)size, 0), (long long)size);
    T_CHECK(strstr(text, "creds_source_failed") != NULL);
    T_CHECK(strstr(text, "creds_loaded") != NULL);
    const char *secrets[] = {"sts-secret-", "sts-token-", "ctr-secret-", "ctr-token-",
                             "env/secret+key", "tok+/=", "base-secret", "base-token",
                             "IMDSSESSIONTOKEN", "file-token", "env-token", "secret-token",
                             "sig-ONE", "sig-TWO", "wipe-me", "AKIDENV", "ASIAWEB1"};
    for (size_t i = 0; i < T_COUNT(secrets); i++)
        if (strstr(text, secrets[i]))
            t_fail(__FILE__, __LINE__, "\"%s\" is in the log", secrets[i]);
    free(text);
}

static const struct t_case cases[] = {
    T_CASE(test_env_source_reads_keys_and_optional_token),
    T_CASE(test_env_source_refuses_half_or_malformed_keys),
    T_CASE(test_sts_success_document_is_read),
    T_CASE(test_sts_error_documents_map_by_code),
    T_CASE(test_sts_parsing_refuses_malformed_documents),
    T_CASE(test_sts_url_is_override_regional_or_global),
    T_CASE(test_web_identity_posts_unsigned_form_and_rereads_the_token_file),
    T_CASE(test_container_relative_uri_goes_to_the_ecs_address),
    T_CASE(test_container_full_uri_sends_the_token_from_file_or_env),
    T_CASE(test_container_full_uri_must_be_https_or_a_local_address),
    T_CASE(test_container_errors_and_bad_documents_fail),
    T_CASE(test_imds_v2_token_then_role_then_credentials),
    T_CASE(test_imds_is_skipped_when_disabled_and_fails_cleanly),
    T_CASE(test_assume_role_is_signed_with_the_base_credentials),
    T_CASE(test_web_identity_with_assume_role_on_top),
    T_CASE(test_chain_order_env_then_web_identity_then_container_then_imds),
    T_CASE(test_a_failing_source_lets_the_chain_go_on),
    T_CASE(test_snapshots_stay_whole_under_threads),
    T_CASE(test_refresh_happens_refresh_before_s_before_expiry),
    T_CASE(test_short_lived_credentials_refresh_at_half_their_lifetime),
    T_CASE(test_failed_refresh_keeps_old_credentials_until_they_expire),
    T_CASE(test_start_retries_a_failed_first_load),
    T_CASE(test_refresh_soon_forces_one_refresh_at_most_every_10_s),
    T_CASE(test_secrets_are_wiped_when_the_last_reference_goes),
    T_CASE(test_no_secret_reaches_the_log),
};

int main(int argc, char **argv)
{
    log_file = tmpfile();
    kg_log_set_fd(fileno(log_file));
    kg_log_set_level(KG_LOG_DEBUG);
    int rc = t_main(cases, T_COUNT(cases), argc, argv);
    fclose(log_file);
    return rc;
}
