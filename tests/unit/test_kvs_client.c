/* aws/kvs: request building (checked against tests/vectors/kvs-headers.json),
 * the AWS error table row by row, retries under a deadline, strict response
 * parsing, the validation helpers, and that no secret reaches the log.
 * HTTP is the fake client (tests/unit/fake_http.h): no network. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/channels.h"
#include "aws/credentials.h"
#include "aws/credentials_impl.h"
#include "aws/kvs.h"
#include "aws/kvs_impl.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "fake_http.h"
#include "testlib.h"

/* ---- fixtures ------------------------------------------------------------- */

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "IQoJb3JpZ2luX2VjEXAMPLEtokenSECRETVALUE+/="
#define TURN_PASSWORD "TURNPASSWORDsecret+/AAA="
#define ARN "arn:aws:kinesisvideo:us-west-2:123456789012:channel/demo-channel/1234567890123"

static const char *env_akid = "AKIDEXAMPLE";
static const char *env_secret = SECRET;
static const char *env_token = NULL;
static int64_t fixed_now = 1440938160; /* 20150830T123600Z */

static const char *test_getenv(const char *name)
{
    if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
        return env_akid;
    if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
        return env_secret;
    if (strcmp(name, "AWS_SESSION_TOKEN") == 0)
        return env_token;
    if (strcmp(name, "AWS_EC2_METADATA_DISABLED") == 0)
        return "true";
    return NULL;
}

static int64_t test_now(void) { return fixed_now; }

struct fixture {
    struct fake_http *http;
    struct creds_provider *creds;
    struct kvs_client *kvs;
};

static void fixture_open(struct fixture *fx, const char *region, const char *endpoint,
                         int max_attempts)
{
    fx->http = fake_http_new();
    struct creds_options co = {.http = &fx->http->client, .getenv_fn = test_getenv,
                               .now_fn = test_now};
    T_INTEQ(creds_provider_new(&co, &fx->creds), KG_OK);
    T_INTEQ(creds_provider_load(fx->creds), KG_OK);
    struct kvs_client_options ko = {
        .http = &fx->http->client,
        .creds = fx->creds,
        .region = region,
        .endpoint = endpoint,
        .call_timeout_ms = 1000,
        .retry = {.max_attempts = max_attempts, .base_delay_ms = 1, .max_delay_ms = 5},
        .now_fn = test_now,
    };
    T_INTEQ(kvs_client_new(&ko, &fx->kvs), KG_OK);
}

static void fixture_close(struct fixture *fx)
{
    kvs_client_free(fx->kvs);
    creds_provider_free(fx->creds);
    fake_http_free(fx->http);
    env_akid = "AKIDEXAMPLE";
    env_secret = SECRET;
    env_token = NULL;
    fixed_now = 1440938160;
}

static const char *describe_ok =
    "{\"ChannelInfo\":{\"ChannelName\":\"demo-channel\",\"ChannelARN\":\"" ARN "\","
    "\"ChannelType\":\"SINGLE_MASTER\",\"ChannelStatus\":\"ACTIVE\",\"CreationTime\":1.7e9,"
    "\"SingleMasterConfiguration\":{\"MessageTtlSeconds\":60},\"Version\":\"abc123\"}}";

/* ---- request building against the vectors ---------------------------------- */

static json_t *load_vectors(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file(KVSGATE_VECTORS_DIR "/kvs-headers.json", 0, &jerr);
    if (!doc)
        t_fail(__FILE__, __LINE__, "cannot read kvs-headers.json: %s", jerr.text);
    return doc;
}

static const char *vin(json_t *c, const char *k)
{
    return json_string_value(json_object_get(json_object_get(c, "inputs"), k));
}

static void test_requests_are_signed_exactly_like_the_header_vectors(void)
{
    json_t *doc = load_vectors();
    if (!doc)
        return;
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(json_object_get(doc, "cases"), i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        struct fixture fx;
        env_akid = vin(c, "accessKeyId");
        env_secret = vin(c, "secretAccessKey");
        env_token = vin(c, "sessionToken");
        T_INTEQ(kg_time_parse_amz(vin(c, "datetime"), &fixed_now), KG_OK);
        fixture_open(&fx, vin(c, "region"), NULL, 1);
        json_error_t jerr;
        json_t *body = json_loads(vin(c, "body"), 0, &jerr);
        const char *path = vin(c, "path");
        struct kvs_call call = {0};
        enum kg_err err = KG_ERR_INTERNAL;
        if (strcmp(path, "/describeSignalingChannel") == 0) {
            fake_http_push(fx.http, 200, NULL, describe_ok);
            struct kvs_channel ch;
            const char *name = json_string_value(json_object_get(body, "ChannelName"));
            const char *arn = json_string_value(json_object_get(body, "ChannelARN"));
            err = kvs_describe_channel(fx.kvs, &call, name, arn, &ch);
        } else if (strcmp(path, "/getSignalingChannelEndpoint") == 0) {
            fake_http_push(fx.http, 200, NULL,
                           "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\",\"ResourceEndpoint\":"
                           "\"wss://m-1.example\"},{\"Protocol\":\"HTTPS\",\"ResourceEndpoint\":"
                           "\"https://r-1.example\"}]}");
            struct kvs_endpoints ep;
            const char *role = json_string_value(json_object_get(
                json_object_get(body, "SingleMasterChannelEndpointConfiguration"), "Role"));
            err = kvs_get_endpoints(fx.kvs, &call,
                                    json_string_value(json_object_get(body, "ChannelARN")),
                                    strcmp(role, "MASTER") == 0 ? KVS_ROLE_MASTER
                                                                : KVS_ROLE_VIEWER,
                                    &ep);
        } else {
            t_fail(__FILE__, __LINE__, "vector %s: no operation for %s", id, path);
        }
        json_decref(body);
        T_INTEQ(err, KG_OK);
        const struct fake_request *r = fake_http_request(fx.http, 0);
        T_CHECK(r != NULL);
        if (r) {
            char url[512];
            snprintf(url, sizeof url, "https://%s%s", vin(c, "host"), path);
            T_STREQ(r->method, "POST");
            T_STREQ(r->url, url);
            T_STREQ(r->body, vin(c, "body"));
            T_STREQ(fake_request_header(r, "host"), vin(c, "host"));
            T_STREQ(fake_request_header(r, "content-type"), "application/json");
            T_STREQ(fake_request_header(r, "x-amz-date"), vin(c, "datetime"));
            const char *want = json_string_value(
                json_object_get(json_object_get(c, "expected"), "authorization"));
            T_STREQ(fake_request_header(r, "authorization"), want);
            if (env_token) {
                T_STREQ(fake_request_header(r, "x-amz-security-token"), env_token);
                T_CHECK(strstr(fake_request_header(r, "authorization"),
                               "x-amz-security-token") != NULL);
            } else {
                T_CHECK(fake_request_header(r, "x-amz-security-token") == NULL);
            }
        }
        checked++;
        fixture_close(&fx);
    }
    T_CHECK(checked >= 4);
    json_decref(doc);
}

static void test_create_sends_name_type_ttl_and_tags(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    fake_http_push(fx.http, 200, NULL, "{\"ChannelARN\":\"" ARN "\"}");
    struct kvs_tag tags[] = {{"owner", "alice"}, {"kvsgate:creator", "sub-1"}};
    char arn[KVS_ARN_MAX + 1];
    struct kvs_call call = {0};
    T_INTEQ(kvs_create_channel(fx.kvs, &call, "cam-1", 30, tags, 2, arn), KG_OK);
    T_STREQ(arn, ARN);
    const struct fake_request *r = fake_http_request(fx.http, 0);
    T_STREQ(r->url, "https://kinesisvideo.us-west-2.amazonaws.com/createSignalingChannel");
    T_STREQ(r->body, "{\"ChannelName\":\"cam-1\",\"ChannelType\":\"SINGLE_MASTER\","
                     "\"SingleMasterConfiguration\":{\"MessageTtlSeconds\":30},"
                     "\"Tags\":[{\"Key\":\"owner\",\"Value\":\"alice\"},"
                     "{\"Key\":\"kvsgate:creator\",\"Value\":\"sub-1\"}]}");
    T_INTEQ(call.upstream_calls, 1);

    /* No TTL and no tags: neither member is sent. */
    fake_http_push(fx.http, 200, NULL, "{\"ChannelARN\":\"" ARN "\"}");
    T_INTEQ(kvs_create_channel(fx.kvs, &call, "cam-2", 0, NULL, 0, arn), KG_OK);
    T_STREQ(fake_http_request(fx.http, 1)->body,
            "{\"ChannelName\":\"cam-2\",\"ChannelType\":\"SINGLE_MASTER\"}");
    fixture_close(&fx);
}

static void test_create_validates_before_sending(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    char arn[KVS_ARN_MAX + 1];
    struct kvs_call call = {0};
    T_INTEQ(kvs_create_channel(fx.kvs, &call, "bad name", 0, NULL, 0, arn),
            KG_ERR_INVALID_CHANNEL_NAME);
    T_INTEQ(kvs_create_channel(fx.kvs, &call, "ok", 4, NULL, 0, arn), KG_ERR_BAD_REQUEST);
    T_INTEQ(kvs_create_channel(fx.kvs, &call, "ok", 121, NULL, 0, arn), KG_ERR_BAD_REQUEST);
    struct kvs_tag bad[] = {{"", "v"}};
    T_INTEQ(kvs_create_channel(fx.kvs, &call, "ok", 0, bad, 1, arn), KG_ERR_BAD_REQUEST);
    struct kvs_channel ch;
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "x", ARN, &ch), KG_ERR_BAD_REQUEST);
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, NULL, NULL, &ch), KG_ERR_BAD_REQUEST);
    struct kvs_ice_config ice;
    T_INTEQ(kvs_get_ice_config(fx.kvs, &call, "https://r-1.example", ARN, "AWS_x", &ice),
            KG_ERR_INVALID_CLIENT_ID);
    struct kvs_channel_page page;
    T_INTEQ(kvs_list_channels(fx.kvs, &call, NULL, 0, NULL, &page), KG_ERR_BAD_REQUEST);
    T_INTEQ(kvs_list_channels(fx.kvs, &call, NULL, 10, "bad token!", &page), KG_ERR_BAD_REQUEST);
    T_INTEQ(kvs_delete_channel(fx.kvs, &call, "not-an-arn", NULL), KG_ERR_BAD_REQUEST);
    T_INTEQ((long long)fake_http_request_count(fx.http), 0);
    T_INTEQ(call.upstream_calls, 0);
    fixture_close(&fx);
}

static void test_list_sends_prefix_and_token_and_reads_the_page(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    fake_http_push(fx.http, 200, NULL,
                   "{\"ChannelInfoList\":[{\"ChannelName\":\"cam-1\",\"ChannelARN\":\"arn:aws:"
                   "kinesisvideo:us-west-2:1:channel/cam-1/1\"},{\"ChannelName\":\"cam-2\","
                   "\"ChannelARN\":\"arn:aws:kinesisvideo:us-west-2:1:channel/cam-2/2\","
                   "\"ChannelStatus\":\"CREATING\"}],\"NextToken\":\"abc+/=\"}");
    struct kvs_channel_page page;
    struct kvs_call call = {0};
    T_INTEQ(kvs_list_channels(fx.kvs, &call, "cam", 2, "tok+/=", &page), KG_OK);
    T_STREQ(fake_http_request(fx.http, 0)->body,
            "{\"MaxResults\":2,\"NextToken\":\"tok+/=\",\"ChannelNameCondition\":"
            "{\"ComparisonOperator\":\"BEGINS_WITH\",\"ComparisonValue\":\"cam\"}}");
    T_STREQ(fake_http_request(fx.http, 0)->url,
            "https://kinesisvideo.us-west-2.amazonaws.com/listSignalingChannels");
    T_INTEQ((long long)page.count, 2);
    T_STREQ(page.channels[1].name, "cam-2");
    T_STREQ(page.channels[1].status, "CREATING");
    T_STREQ(page.next_token, "abc+/=");
    kvs_channel_page_cleanup(&page);

    /* No prefix, no token: only MaxResults; the last page has no NextToken. */
    fake_http_push(fx.http, 200, NULL, "{\"ChannelInfoList\":[]}");
    T_INTEQ(kvs_list_channels(fx.kvs, &call, "", 500, NULL, &page), KG_OK);
    T_STREQ(fake_http_request(fx.http, 1)->body, "{\"MaxResults\":500}");
    T_INTEQ((long long)page.count, 0);
    T_STREQ(page.next_token, "");
    kvs_channel_page_cleanup(&page);
    fixture_close(&fx);
}

static void test_delete_sends_arn_and_optional_version(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    fake_http_push(fx.http, 200, NULL, "{}");
    fake_http_push(fx.http, 200, NULL, "");
    struct kvs_call call = {0};
    T_INTEQ(kvs_delete_channel(fx.kvs, &call, ARN, NULL), KG_OK);
    T_INTEQ(kvs_delete_channel(fx.kvs, &call, ARN, "v123"), KG_OK);
    T_STREQ(fake_http_request(fx.http, 0)->body, "{\"ChannelARN\":\"" ARN "\"}");
    T_STREQ(fake_http_request(fx.http, 1)->body,
            "{\"ChannelARN\":\"" ARN "\",\"CurrentVersion\":\"v123\"}");
    T_STREQ(fake_http_request(fx.http, 1)->url,
            "https://kinesisvideo.us-west-2.amazonaws.com/deleteSignalingChannel");
    fixture_close(&fx);
}

static const char *ice_ok =
    "{\"IceServerList\":[{\"Uris\":[\"turn:1.2.3.4:443?transport=udp\",\"turns:a.example:443?"
    "transport=tcp\"],\"Username\":\"1700000300:djE6YXJu\",\"Password\":\"" TURN_PASSWORD "\","
    "\"Ttl\":300},{\"Uris\":[\"turns:b.example:443?transport=udp\"],\"Username\":\"u2\","
    "\"Password\":\"p2+/=\",\"Ttl\":120}]}";

static void test_ice_goes_to_the_channel_endpoint_signed_with_the_client_region(void)
{
    struct fixture fx;
    env_token = TOKEN;
    fixture_open(&fx, "us-west-2", NULL, 1);
    fake_http_push(fx.http, 200, NULL, ice_ok);
    struct kvs_ice_config ice;
    struct kvs_call call = {0};
    /* The host names another region: the scope must still be the client's. */
    T_INTEQ(kvs_get_ice_config(fx.kvs, &call, "https://r-1a2b.kinesisvideo.eu-west-1.amazonaws.com/",
                               ARN, "viewer-1", &ice),
            KG_OK);
    const struct fake_request *r = fake_http_request(fx.http, 0);
    T_STREQ(r->url, "https://r-1a2b.kinesisvideo.eu-west-1.amazonaws.com/v1/get-ice-server-config");
    T_STREQ(fake_request_header(r, "host"), "r-1a2b.kinesisvideo.eu-west-1.amazonaws.com");
    T_CHECK(strstr(fake_request_header(r, "authorization"),
                   "Credential=AKIDEXAMPLE/20150830/us-west-2/kinesisvideo/aws4_request") != NULL);
    T_CHECK(strstr(fake_request_header(r, "authorization"),
                   "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token") != NULL);
    T_STREQ(fake_request_header(r, "x-amz-security-token"), TOKEN);
    T_STREQ(r->body, "{\"ChannelARN\":\"" ARN "\",\"ClientId\":\"viewer-1\",\"Service\":\"TURN\"}");
    T_INTEQ((long long)ice.count, 2);
    T_INTEQ((long long)ice.servers[0].uri_count, 2);
    T_STREQ(ice.servers[0].uris[1], "turns:a.example:443?transport=tcp");
    T_STREQ(ice.servers[0].password, TURN_PASSWORD);
    T_INTEQ(ice.min_ttl_s, 120);
    T_INTEQ(ice.fetched_at_s, fixed_now);

    T_STREQ(ice.servers[1].username, "u2");
    kvs_ice_config_cleanup(&ice);
    T_INTEQ((long long)ice.count, 0);

    /* A master sends no ClientId. */
    fake_http_push(fx.http, 200, NULL, ice_ok);
    T_INTEQ(kvs_get_ice_config(fx.kvs, &call, "https://r-1a2b.example", ARN, NULL, &ice), KG_OK);
    T_STREQ(fake_http_request(fx.http, 1)->body, "{\"ChannelARN\":\"" ARN "\",\"Service\":\"TURN\"}");
    kvs_ice_config_cleanup(&ice);
    fixture_close(&fx);
}

static void test_endpoint_override_and_china_partition(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", "http://127.0.0.1:4566/", 1);
    fake_http_push(fx.http, 200, NULL, describe_ok);
    struct kvs_channel ch;
    struct kvs_call call = {0};
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch), KG_OK);
    const struct fake_request *r = fake_http_request(fx.http, 0);
    T_STREQ(r->url, "http://127.0.0.1:4566/describeSignalingChannel");
    T_STREQ(fake_request_header(r, "host"), "127.0.0.1:4566");
    T_STREQ(ch.name, "demo-channel");
    T_STREQ(ch.arn, ARN);
    T_STREQ(ch.type, "SINGLE_MASTER");
    T_STREQ(ch.status, "ACTIVE");
    T_STREQ(ch.version, "abc123");
    T_INTEQ(ch.creation_time_s, 1700000000);
    T_INTEQ(ch.message_ttl_s, 60);
    fixture_close(&fx);

    fixture_open(&fx, "cn-north-1", NULL, 1);
    fake_http_push(fx.http, 200, NULL, describe_ok);
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch), KG_OK);
    T_STREQ(fake_http_request(fx.http, 0)->url,
            "https://kinesisvideo.cn-north-1.amazonaws.com.cn/describeSignalingChannel");
    fixture_close(&fx);

    /* A region or endpoint that is not one is refused up front. */
    struct kvs_client *k = NULL;
    struct kvs_client_options bad = {.http = (struct kg_http_client *)1,
                                     .creds = (struct creds_provider *)1,
                                     .region = "us west"};
    T_INTEQ(kvs_client_new(&bad, &k), KG_ERR_BAD_REQUEST);
    bad.region = "us-west-2";
    bad.endpoint = "ftp://x";
    T_INTEQ(kvs_client_new(&bad, &k), KG_ERR_BAD_REQUEST);
}

static void test_tag_resource_and_list_tags_across_pages(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    fake_http_push(fx.http, 200, NULL, "{}");
    struct kvs_tag tags[] = {{"team", "video"}};
    struct kvs_call call = {0};
    T_INTEQ(kvs_tag_resource(fx.kvs, &call, ARN, tags, 1), KG_OK);
    T_STREQ(fake_http_request(fx.http, 0)->url,
            "https://kinesisvideo.us-west-2.amazonaws.com/TagResource");
    T_STREQ(fake_http_request(fx.http, 0)->body,
            "{\"ResourceARN\":\"" ARN "\",\"Tags\":[{\"Key\":\"team\",\"Value\":\"video\"}]}");
    T_INTEQ(kvs_tag_resource(fx.kvs, &call, ARN, tags, 0), KG_ERR_BAD_REQUEST);

    fake_http_push(fx.http, 200, NULL, "{\"Tags\":{\"a\":\"1\",\"b\":\"\"},\"NextToken\":\"p2\"}");
    fake_http_push(fx.http, 200, NULL, "{\"Tags\":{\"c\":\"3\"}}");
    struct kvs_tag_list list;
    T_INTEQ(kvs_list_tags(fx.kvs, &call, ARN, &list), KG_OK);
    T_INTEQ((long long)list.count, 3);
    T_STREQ(list.tags[0].key, "a");
    T_STREQ(list.tags[1].value, "");
    T_STREQ(list.tags[2].key, "c");
    T_STREQ(fake_http_request(fx.http, 1)->url,
            "https://kinesisvideo.us-west-2.amazonaws.com/ListTagsForResource");
    T_STREQ(fake_http_request(fx.http, 1)->body, "{\"ResourceARN\":\"" ARN "\"}");
    T_STREQ(fake_http_request(fx.http, 2)->body,
            "{\"ResourceARN\":\"" ARN "\",\"NextToken\":\"p2\"}");
    T_INTEQ(call.upstream_calls, 3); /* the tag call refused up front sent nothing */
    kvs_tag_list_cleanup(&list);
    fixture_close(&fx);
}

/* ---- the error table ----------------------------------------------------------- */

struct error_row {
    const char *what;
    long status;
    const char *headers;
    const char *body;
    enum kg_err want;
    const char *want_type;
};

static const struct error_row error_rows[] = {
    {"json __type not found", 404, NULL,
     "{\"__type\":\"ResourceNotFoundException\",\"message\":\"The requested channel is not found\"}",
     KG_ERR_CHANNEL_NOT_FOUND, "ResourceNotFoundException"},
    {"json namespaced __type", 404, NULL,
     "{\"__type\":\"com.amazonaws.kinesisvideo#ResourceNotFoundException\"}",
     KG_ERR_CHANNEL_NOT_FOUND, "ResourceNotFoundException"},
    {"json lower-case code", 404, NULL, "{\"code\":\"ResourceNotFoundException\"}",
     KG_ERR_CHANNEL_NOT_FOUND, "ResourceNotFoundException"},
    {"header only in use", 400,
     "x-amzn-ErrorType: ResourceInUseException:http://internal.amazon.com/coral/"
     "com.amazonaws.kinesisvideo/\n",
     "", KG_ERR_CHANNEL_NOT_ACTIVE, "ResourceInUseException"},
    {"header wins over body", 400, "X-Amzn-ErrorType: VersionMismatchException\n",
     "{\"__type\":\"InvalidArgumentException\"}", KG_ERR_CHANNEL_NOT_ACTIVE,
     "VersionMismatchException"},
    {"invalid argument", 400, NULL, "{\"__type\":\"InvalidArgumentException\"}",
     KG_ERR_BAD_REQUEST, "InvalidArgumentException"},
    {"validation", 400, NULL, "{\"__type\":\"ValidationException\"}", KG_ERR_BAD_REQUEST,
     "ValidationException"},
    {"tags per resource", 400, NULL, "{\"__type\":\"TagsPerResourceExceededLimitException\"}",
     KG_ERR_BAD_REQUEST, "TagsPerResourceExceededLimitException"},
    {"invalid client", 400, NULL, "{\"__type\":\"InvalidClientException\"}", KG_ERR_BAD_REQUEST,
     "InvalidClientException"},
    {"client limit", 400, NULL, "{\"__type\":\"ClientLimitExceededException\"}",
     KG_ERR_UPSTREAM_THROTTLED, "ClientLimitExceededException"},
    {"throttling", 400, NULL, "{\"__type\":\"ThrottlingException\"}", KG_ERR_UPSTREAM_THROTTLED,
     "ThrottlingException"},
    {"429 without a type", 429, NULL, "", KG_ERR_UPSTREAM_THROTTLED, KVS_ETYPE_UNREADABLE},
    {"access denied 401", 401, NULL, "{\"__type\":\"AccessDeniedException\"}",
     KG_ERR_UPSTREAM_REFUSED, "AccessDeniedException"},
    {"access denied xml (wrong host)", 403, NULL,
     "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be "
     "authorized</Message>\n</AccessDeniedException>\n",
     KG_ERR_UPSTREAM_REFUSED, "AccessDeniedException"},
    {"not authorized", 401, NULL, "{\"__type\":\"NotAuthorizedException\"}",
     KG_ERR_UPSTREAM_REFUSED, "NotAuthorizedException"},
    {"unrecognized client", 403, "x-amzn-ErrorType: UnrecognizedClientException\n",
     "{\"message\":\"The security token included in the request is invalid.\"}",
     KG_ERR_UPSTREAM_REFUSED, "UnrecognizedClientException"},
    {"invalid signature", 403, NULL, "{\"__type\":\"InvalidSignatureException\"}",
     KG_ERR_UPSTREAM_REFUSED, "InvalidSignatureException"},
    {"signature does not match xml", 403, NULL,
     "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch"
     "</Code><Message>x</Message></Error></ErrorResponse>",
     KG_ERR_UPSTREAM_REFUSED, "SignatureDoesNotMatch"},
    {"account channel limit", 400, NULL, "{\"__type\":\"AccountChannelLimitExceededException\"}",
     KG_ERR_UPSTREAM_REFUSED, "AccountChannelLimitExceededException"},
    {"unknown 4xx type", 400, NULL, "{\"__type\":\"SomethingNewException\"}",
     KG_ERR_UPSTREAM_REFUSED, "SomethingNewException"},
    {"409 no type", 409, NULL, "", KG_ERR_UPSTREAM_REFUSED, KVS_ETYPE_UNREADABLE},
    {"redirect", 301, "location: https://elsewhere\n", "", KG_ERR_UPSTREAM_REFUSED,
     KVS_ETYPE_UNREADABLE},
    {"500 internal failure", 500, "x-amzn-ErrorType: InternalFailure\n", "",
     KG_ERR_UPSTREAM_UNAVAILABLE, "InternalFailure"},
    {"503 xml", 503, NULL,
     "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>",
     KG_ERR_UPSTREAM_UNAVAILABLE, "ServiceUnavailable"},
    {"502 garbage", 502, NULL, "<html>bad gateway", KG_ERR_UPSTREAM_UNAVAILABLE,
     KVS_ETYPE_UNREADABLE},
    {"200 garbage", 200, NULL, "\x01\x02 this is not json", KG_ERR_UPSTREAM_REFUSED,
     KVS_ETYPE_UNREADABLE},
    {"200 truncated json", 200, NULL, "{\"ChannelInfo\":{\"ChannelName\":\"de",
     KG_ERR_UPSTREAM_REFUSED, KVS_ETYPE_UNREADABLE},
};

static void test_every_aws_error_maps_to_its_row(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    for (size_t i = 0; i < T_COUNT(error_rows); i++) {
        const struct error_row *row = &error_rows[i];
        fake_http_push(fx.http, row->status, row->headers, row->body);
        struct kvs_channel ch;
        struct kvs_call call = {0};
        enum kg_err err = kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch);
        if (err != row->want || strcmp(call.error_type, row->want_type) != 0)
            t_fail(__FILE__, __LINE__, "%s: got %s/%s, want %s/%s", row->what, kg_err_name(err),
                   call.error_type, kg_err_name(row->want), row->want_type);
        T_INTEQ(call.upstream_calls, 1);
    }
    fixture_close(&fx);
}

static void test_transport_failures_map_to_timeout_unavailable_refused(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    struct {
        enum kg_err transport, want;
        const char *type;
    } rows[] = {
        {KG_ERR_UPSTREAM_TIMEOUT, KG_ERR_UPSTREAM_TIMEOUT, KVS_ETYPE_TIMEOUT},
        {KG_ERR_UPSTREAM_UNAVAILABLE, KG_ERR_UPSTREAM_UNAVAILABLE, KVS_ETYPE_CONNECTION},
        {KG_ERR_UPSTREAM_REFUSED, KG_ERR_UPSTREAM_REFUSED, KVS_ETYPE_TOO_LARGE},
    };
    for (size_t i = 0; i < T_COUNT(rows); i++) {
        fake_http_push_err(fx.http, rows[i].transport);
        struct kvs_channel ch;
        struct kvs_call call = {0};
        T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch), rows[i].want);
        T_STREQ(call.error_type, rows[i].type);
    }
    fixture_close(&fx);
}

static void test_error_type_reader_edge_cases(void)
{
    struct kg_http_response r;
    char type[KVS_ERROR_TYPE_MAX + 1];
    kg_http_response_init(&r);
    r.body.max_len = 4096;
    /* An XML error document with a DOCTYPE is not read. */
    T_INTEQ(kg_buf_append_str(&r.body, "<!DOCTYPE x><Error><Code>AccessDenied</Code></Error>"),
            KG_OK);
    kvs_error_type(&r, type, sizeof type);
    T_STREQ(type, "");
    /* Characters outside [A-Za-z0-9_.] end the type (no log injection). */
    kg_buf_reset(&r.body);
    T_INTEQ(kg_buf_append_str(&r.body, "{\"__type\":\"Bad\\\"Type\\n\"}"), KG_OK);
    kvs_error_type(&r, type, sizeof type);
    T_STREQ(type, "Bad");
    /* Body "message"/"Message" alone gives no type. */
    kg_buf_reset(&r.body);
    T_INTEQ(kg_buf_append_str(&r.body, "{\"Message\":\"nope\"}"), KG_OK);
    kvs_error_type(&r, type, sizeof type);
    T_STREQ(type, "");
    kg_http_response_cleanup(&r);
    T_INTEQ(kvs_error_map("ExpiredTokenException", 403), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ(kvs_error_map("", 504), KG_ERR_UPSTREAM_UNAVAILABLE);
    T_INTEQ(kvs_error_map(NULL, 418), KG_ERR_UPSTREAM_REFUSED);
    T_CHECK(kvs_error_is_expired_token("ExpiredTokenException"));
    T_CHECK(kvs_error_is_expired_token("ExpiredToken"));
    T_CHECK(!kvs_error_is_expired_token("AccessDeniedException"));
}

/* ---- retries --------------------------------------------------------------------- */

static void test_throttling_5xx_reset_and_timeout_are_retried_until_success(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 5);
    fake_http_push(fx.http, 400, NULL, "{\"__type\":\"ClientLimitExceededException\"}");
    fake_http_push(fx.http, 500, "x-amzn-ErrorType: InternalFailure\n", "");
    fake_http_push_err(fx.http, KG_ERR_UPSTREAM_UNAVAILABLE);
    fake_http_push_err(fx.http, KG_ERR_UPSTREAM_TIMEOUT);
    fake_http_push(fx.http, 200, NULL, describe_ok);
    struct kvs_channel ch;
    struct kvs_call call = {0};
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch), KG_OK);
    T_INTEQ(call.upstream_calls, 5);
    T_INTEQ(call.retries, 4);
    T_STREQ(ch.name, "demo-channel");
    /* Every attempt is signed again (same body, fresh signature input). */
    for (size_t i = 0; i < 5; i++)
        T_CHECK(fake_request_header(fake_http_request(fx.http, i), "authorization") != NULL);

    /* Counters accumulate over calls made with the same kvs_call. */
    fake_http_push(fx.http, 400, NULL, "{\"__type\":\"ClientLimitExceededException\"}");
    fake_http_push(fx.http, 200, NULL, describe_ok);
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch), KG_OK);
    T_INTEQ(call.upstream_calls, 7);
    T_INTEQ(call.retries, 5);
    fixture_close(&fx);
}

static void test_not_found_and_invalid_argument_are_not_retried(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 5);
    const char *bodies[] = {"{\"__type\":\"ResourceNotFoundException\"}",
                            "{\"__type\":\"InvalidArgumentException\"}",
                            "{\"__type\":\"AccessDeniedException\"}"};
    long statuses[] = {404, 400, 401};
    enum kg_err want[] = {KG_ERR_CHANNEL_NOT_FOUND, KG_ERR_BAD_REQUEST, KG_ERR_UPSTREAM_REFUSED};
    for (size_t i = 0; i < 3; i++) {
        fake_http_reset(fx.http);
        fake_http_route(fx.http, "POST", "/describeSignalingChannel", statuses[i], NULL,
                        bodies[i]);
        struct kvs_channel ch;
        struct kvs_call call = {0};
        T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch), want[i]);
        T_INTEQ(call.upstream_calls, 1);
        T_INTEQ(call.retries, 0);
        T_INTEQ(call.retry_after_s, 0);
        T_INTEQ((long long)fake_http_request_count(fx.http), 1);
    }
    fixture_close(&fx);
}

/* WebRTC ingestion: the joins go to the WEBRTC endpoint, once even when
 * throttled (each makes KVS send an offer); the storage readers are strict. */
static void test_storage_joins_are_made_once_and_storage_answers_are_strict(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 5);
    fake_http_route(fx.http, "POST", "/joinStorageSession", 400, NULL,
                    "{\"__type\":\"ClientLimitExceededException\"}");
    struct kvs_call call = {0};
    const char *arn = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/rec/1700000000000";
    T_INTEQ(kvs_join_storage_session(fx.kvs, &call, "https://w-1.webrtc.example/", arn, NULL),
            KG_ERR_UPSTREAM_THROTTLED);
    T_INTEQ(call.upstream_calls, 1);
    T_INTEQ(call.retries, 0);
    fake_http_reset(fx.http);
    fake_http_route(fx.http, "POST", "/joinStorageSessionAsViewer", 200, NULL, "");
    T_INTEQ(kvs_join_storage_session(fx.kvs, &call, "https://w-1.webrtc.example", arn, "v-1.tab"),
            KG_OK);
    T_INTEQ(kvs_join_storage_session(fx.kvs, &call, "https://w-1", arn, "AWS_x"),
            KG_ERR_INVALID_CLIENT_ID);
    fake_http_route(fx.http, "POST", "/describeStream", 404, NULL,
                    "{\"__type\":\"ResourceNotFoundException\"}");
    struct kvs_stream st;
    T_INTEQ(kvs_describe_stream(fx.kvs, &call, "missing", NULL, &st), KG_ERR_STREAM_NOT_FOUND);
    fake_http_route(fx.http, "POST", "/updateMediaStorageConfiguration", 400, NULL,
                    "{\"__type\":\"NoDataRetentionException\"}");
    T_INTEQ(kvs_update_media_storage(fx.kvs, &call, arn, 1, arn), KG_ERR_NO_DATA_RETENTION);
    T_INTEQ(kvs_region_has_storage("cn-north-1"), 0);
    T_INTEQ(kvs_region_has_storage("us-west-2"), 1);
    fixture_close(&fx);

    struct kvs_media_storage m;
    const char *bad_storage[] = {
        "{}", "{\"MediaStorageConfiguration\":{}}",
        "{\"MediaStorageConfiguration\":{\"Status\":\"ENABLED\"}}",
        "{\"MediaStorageConfiguration\":{\"Status\":\"ON\"}}",
        "{\"MediaStorageConfiguration\":{\"Status\":\"DISABLED\",\"StreamARN\":7}}",
    };
    for (size_t i = 0; i < T_COUNT(bad_storage); i++)
        if (kvs_parse_media_storage(bad_storage[i], strlen(bad_storage[i]), &m) != KG_ERR_UPSTREAM_REFUSED)
            t_fail(__FILE__, __LINE__, "accepted bad media storage #%zu", i);
    const char *off = "{\"MediaStorageConfiguration\":{\"Status\":\"DISABLED\",\"StreamARN\":null}}";
    T_INTEQ(kvs_parse_media_storage(off, strlen(off), &m), KG_OK);
    T_CHECK(!m.enabled && !m.stream_arn[0]);
    const char *on = "{\"MediaStorageConfiguration\":{\"Status\":\"ENABLED\",\"StreamARN\":\"arn:s\"}}";
    T_INTEQ(kvs_parse_media_storage(on, strlen(on), &m), KG_OK);
    T_CHECK(m.enabled);
    T_STREQ(m.stream_arn, "arn:s");
    const char *stream = "{\"StreamInfo\":{\"StreamName\":\"s\",\"StreamARN\":\"arn:s\","
                         "\"DataRetentionInHours\":-1}}";
    T_INTEQ(kvs_parse_stream(stream, strlen(stream), &st), KG_ERR_UPSTREAM_REFUSED);
    char url[KVS_URL_MAX + 1];
    const char *no_webrtc = "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\",\"ResourceEndpoint\":\"wss://a\"}]}";
    T_INTEQ(kvs_parse_webrtc_endpoint(no_webrtc, strlen(no_webrtc), url), KG_ERR_UPSTREAM_REFUSED);
}

static void test_attempts_stop_at_max_attempts_with_the_last_error(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 3);
    fake_http_route(fx.http, "POST", "/describe", 503, "retry-after: 7\n",
                    "{\"__type\":\"ServiceUnavailable\"}");
    struct kvs_channel ch;
    struct kvs_call call = {0};
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch),
            KG_ERR_UPSTREAM_UNAVAILABLE);
    T_INTEQ(call.upstream_calls, 3);
    T_INTEQ(call.retries, 2);
    T_INTEQ(call.retry_after_s, 7);
    T_STREQ(call.error_type, "ServiceUnavailable");

    fake_http_reset(fx.http);
    fake_http_route(fx.http, "POST", "/describe", 400, NULL,
                    "{\"__type\":\"ClientLimitExceededException\"}");
    struct kvs_call c2 = {0};
    T_INTEQ(kvs_describe_channel(fx.kvs, &c2, "demo-channel", NULL, &ch),
            KG_ERR_UPSTREAM_THROTTLED);
    T_INTEQ(c2.retry_after_s, 1);
    fixture_close(&fx);
}

static void test_backoff_never_sleeps_past_the_deadline(void)
{
    struct fixture fx;
    fx.http = fake_http_new();
    struct creds_options co = {.http = &fx.http->client, .getenv_fn = test_getenv,
                               .now_fn = test_now};
    T_INTEQ(creds_provider_new(&co, &fx.creds), KG_OK);
    T_INTEQ(creds_provider_load(fx.creds), KG_OK);
    struct kvs_client_options ko = {
        .http = &fx.http->client, .creds = fx.creds, .region = "us-west-2",
        .call_timeout_ms = 1000,
        .retry = {.max_attempts = 100, .base_delay_ms = 40, .max_delay_ms = 80},
        .now_fn = test_now,
    };
    T_INTEQ(kvs_client_new(&ko, &fx.kvs), KG_OK);
    fake_http_route(fx.http, "POST", "/describe", 500, NULL, "{\"__type\":\"InternalFailure\"}");
    struct kvs_channel ch;
    int64_t t0 = kg_mono_ms();
    struct kvs_call call = {.deadline_ms = t0 + 300};
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch),
            KG_ERR_UPSTREAM_UNAVAILABLE);
    int64_t elapsed = kg_mono_ms() - t0;
    T_CHECK(elapsed <= 300 + 250); /* near the deadline, far from 100 attempts; slack for a loaded machine */
    T_CHECK(call.upstream_calls >= 3);     /* it did retry */
    T_CHECK(call.upstream_calls < 100);    /* the deadline, not max_attempts, stopped it */
    /* Each attempt's timeout was cut to what was left of the deadline. */
    for (size_t i = 0; i < fake_http_request_count(fx.http); i++) {
        const struct fake_request *r = fake_http_request(fx.http, i);
        T_CHECK(r->timeout_ms <= t0 + 300 - r->at_mono_ms + 50); /* cut to the deadline (1000 otherwise) */
        T_CHECK(r->connect_timeout_ms <= r->timeout_ms);
    }

    /* A deadline already passed: no call at all. */
    struct kvs_call late = {.deadline_ms = kg_mono_ms() - 1};
    size_t before = fake_http_request_count(fx.http);
    T_INTEQ(kvs_describe_channel(fx.kvs, &late, "demo-channel", NULL, &ch),
            KG_ERR_UPSTREAM_TIMEOUT);
    T_INTEQ((long long)fake_http_request_count(fx.http), (long long)before);
    T_STREQ(late.error_type, KVS_ETYPE_DEADLINE);
    kvs_client_free(fx.kvs);
    creds_provider_free(fx.creds);
    fake_http_free(fx.http);
}

static void test_a_stalled_answer_times_out_at_the_deadline(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 3);
    fake_http_push_delay(fx.http, 10000, 200, describe_ok);
    struct kvs_channel ch;
    int64_t t0 = kg_mono_ms();
    struct kvs_call call = {.deadline_ms = t0 + 250};
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch),
            KG_ERR_UPSTREAM_TIMEOUT);
    int64_t elapsed = kg_mono_ms() - t0;
    T_CHECK(elapsed >= 240 && elapsed <= 250 + 250); /* cut at the deadline, not after the 10 s stall */
    T_INTEQ(call.upstream_calls, 1);
    T_STREQ(call.error_type, KVS_ETYPE_TIMEOUT);
    fixture_close(&fx);
}

static void test_backoff_is_full_jitter_within_the_cap(void)
{
    struct kvs_retry_policy p = {.max_attempts = 5, .base_delay_ms = 50, .max_delay_ms = 1000};
    int64_t caps[] = {50, 100, 200, 400, 800, 1000, 1000};
    for (int retry = 0; retry < 7; retry++) {
        int64_t lo = caps[retry], hi = 0;
        for (int i = 0; i < 400; i++) {
            int64_t d = kvs_backoff_ms(&p, retry);
            T_CHECK(d >= 0 && d <= caps[retry]);
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        /* Spread over the whole range (full jitter, not equal jitter). */
        T_CHECK(lo < caps[retry] / 4);
        T_CHECK(hi > caps[retry] * 3 / 4);
    }
}

/* The _count sample of the duration histogram for one operation (-1: none). */
static long duration_count(const char *operation)
{
    struct kg_buf out;
    kg_buf_init(&out, 1 << 20);
    long n = -1;
    if (kg_metrics_render(&out) == KG_OK) {
        char key[160];
        snprintf(key, sizeof key, "kvsgate_upstream_duration_seconds_count{operation=\"%s\"} ",
                 operation);
        const char *p = strstr(out.data, key);
        if (p)
            n = strtol(p + strlen(key), NULL, 10);
    }
    kg_buf_free(&out);
    return n;
}

static void test_metrics_count_each_attempt_by_outcome(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 3);
    struct kg_metric *calls =
        kg_metric_counter("kvsgate_upstream_calls_total", "", "operation,outcome");
    const char *throttled[] = {"DeleteSignalingChannel", "throttled"};
    const char *ok[] = {"DeleteSignalingChannel", "ok"};
    double thr0 = kg_metric_value(calls, throttled), ok0 = kg_metric_value(calls, ok);
    long d0 = duration_count("DeleteSignalingChannel");
    fake_http_push(fx.http, 400, NULL, "{\"__type\":\"ClientLimitExceededException\"}");
    fake_http_push(fx.http, 200, NULL, "{}");
    struct kvs_call call = {0};
    T_INTEQ(kvs_delete_channel(fx.kvs, &call, ARN, NULL), KG_OK);
    T_CHECK(kg_metric_value(calls, throttled) == thr0 + 1);
    T_CHECK(kg_metric_value(calls, ok) == ok0 + 1);
    T_INTEQ(duration_count("DeleteSignalingChannel"), (d0 < 0 ? 0 : d0) + 2);
    fixture_close(&fx);
}

static int refresh_env_reads;
static const char *counting_getenv(const char *name)
{
    if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
        __atomic_add_fetch(&refresh_env_reads, 1, __ATOMIC_SEQ_CST);
    return test_getenv(name);
}

static void test_expired_token_asks_the_provider_to_refresh(void)
{
    struct fake_http *http = fake_http_new();
    struct creds_provider *creds;
    struct creds_options co = {.http = &http->client, .getenv_fn = counting_getenv,
                               .now_fn = test_now};
    T_INTEQ(creds_provider_new(&co, &creds), KG_OK);
    T_INTEQ(creds_provider_load(creds), KG_OK);
    T_INTEQ(creds_provider_start(creds), KG_OK);
    struct kvs_client *kvs;
    struct kvs_client_options ko = {.http = &http->client, .creds = creds, .region = "us-west-2",
                                    .retry = {.max_attempts = 3}, .now_fn = test_now};
    T_INTEQ(kvs_client_new(&ko, &kvs), KG_OK);
    int reads0 = __atomic_load_n(&refresh_env_reads, __ATOMIC_SEQ_CST);
    fake_http_push(http, 403, "x-amzn-ErrorType: ExpiredTokenException\n",
                   "{\"message\":\"The security token included in the request is expired\"}");
    struct kvs_channel ch;
    struct kvs_call call = {0};
    T_INTEQ(kvs_describe_channel(kvs, &call, "demo-channel", NULL, &ch), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ(call.upstream_calls, 1); /* not retried with the same credentials */
    T_STREQ(call.error_type, "ExpiredTokenException");
    for (int i = 0; i < 200 && __atomic_load_n(&refresh_env_reads, __ATOMIC_SEQ_CST) == reads0;
         i++)
        usleep(10000);
    T_CHECK(__atomic_load_n(&refresh_env_reads, __ATOMIC_SEQ_CST) > reads0);
    kvs_client_free(kvs);
    creds_provider_free(creds);
    fake_http_free(http);
}

static void test_no_credentials_fails_without_a_call(void)
{
    struct fake_http *http = fake_http_new();
    struct creds_provider *creds;
    struct creds_options co = {.http = &http->client, .getenv_fn = test_getenv,
                               .now_fn = test_now};
    T_INTEQ(creds_provider_new(&co, &creds), KG_OK); /* never loaded */
    struct kvs_client *kvs;
    struct kvs_client_options ko = {.http = &http->client, .creds = creds, .region = "us-west-2"};
    T_INTEQ(kvs_client_new(&ko, &kvs), KG_OK);
    struct kvs_channel ch;
    struct kvs_call call = {0};
    T_INTEQ(kvs_describe_channel(kvs, &call, "demo-channel", NULL, &ch), KG_ERR_UNAVAILABLE);
    T_STREQ(call.error_type, KVS_ETYPE_NO_CREDENTIALS);
    T_INTEQ((long long)fake_http_request_count(http), 0);
    kvs_client_free(kvs);
    creds_provider_free(creds);
    fake_http_free(http);
}

/* ---- strict parsing ----------------------------------------------------------------- */

static void test_describe_parsing_rejects_what_does_not_fit(void)
{
    char long_name[400];
    memset(long_name, 'a', 300);
    long_name[300] = '\0';
    char big[2048];
    snprintf(big, sizeof big, "{\"ChannelInfo\":{\"ChannelName\":\"%s\",\"ChannelARN\":\"a\"}}",
             long_name);
    const char *bad[] = {
        "{}",
        "[]",
        "{\"ChannelInfo\":[]}",
        "{\"ChannelInfo\":{\"ChannelARN\":\"" ARN "\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":5,\"ChannelARN\":\"" ARN "\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"\",\"ChannelARN\":\"" ARN "\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN "\",\"CreationTime\":\"2020\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN "\",\"CreationTime\":-1}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN "\",\"ChannelStatus\":\"ACTIVEACTIVEACTIVE\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN "\",\"Version\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN "\",\"SingleMasterConfiguration\":{\"MessageTtlSeconds\":\"60\"}}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN "\",\"SingleMasterConfiguration\":7}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\\u0000b\",\"ChannelARN\":\"" ARN "\"}}",
        "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelName\":\"b\",\"ChannelARN\":\"" ARN "\"}}",
        big,
    };
    for (size_t i = 0; i < T_COUNT(bad); i++) {
        struct kvs_channel ch;
        if (kvs_parse_describe(bad[i], strlen(bad[i]), &ch) != KG_ERR_UPSTREAM_REFUSED)
            t_fail(__FILE__, __LINE__, "accepted bad describe #%zu: %s", i, bad[i]);
    }
    /* Unknown members and a missing optional member are fine. */
    const char *good = "{\"ChannelInfo\":{\"ChannelName\":\"a\",\"ChannelARN\":\"" ARN
                       "\",\"FullMeshConfiguration\":{},\"CreationTime\":1700000000},\"x\":1}";
    struct kvs_channel ch;
    T_INTEQ(kvs_parse_describe(good, strlen(good), &ch), KG_OK);
    T_INTEQ(ch.message_ttl_s, 0);
    T_STREQ(ch.status, "");
    T_INTEQ(ch.creation_time_s, 1700000000);
}

static void test_create_list_and_endpoint_parsing_reject_what_does_not_fit(void)
{
    char arn[KVS_ARN_MAX + 1];
    char longarn[1200];
    memset(longarn, 'a', 1100);
    longarn[1100] = '\0';
    char doc[1400];
    snprintf(doc, sizeof doc, "{\"ChannelARN\":\"%s\"}", longarn);
    T_INTEQ(kvs_parse_create(doc, strlen(doc), arn), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ(kvs_parse_create("{}", 2, arn), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ(kvs_parse_create("{\"ChannelARN\":null}", 19, arn), KG_ERR_UPSTREAM_REFUSED);

    struct kvs_channel_page page;
    const char *bad_lists[] = {
        "{}",
        "{\"ChannelInfoList\":{}}",
        "{\"ChannelInfoList\":[{\"ChannelName\":\"a\"}]}",
        "{\"ChannelInfoList\":[],\"NextToken\":7}",
        "{\"ChannelInfoList\":[{\"ChannelName\":\"a\",\"ChannelARN\":\"b\"},3]}",
    };
    for (size_t i = 0; i < T_COUNT(bad_lists); i++)
        if (kvs_parse_list(bad_lists[i], strlen(bad_lists[i]), &page) != KG_ERR_UPSTREAM_REFUSED)
            t_fail(__FILE__, __LINE__, "accepted bad list #%zu", i);
    char long_token[514];
    memset(long_token, 'A', 513);
    long_token[513] = '\0';
    char token[700];
    snprintf(token, sizeof token, "{\"ChannelInfoList\":[],\"NextToken\":\"%s\"}", long_token);
    T_INTEQ(kvs_parse_list(token, strlen(token), &page), KG_ERR_UPSTREAM_REFUSED);

    struct kvs_endpoints ep;
    const char *bad_eps[] = {
        "{}",
        "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\",\"ResourceEndpoint\":\"wss://a\"}]}",
        "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\",\"ResourceEndpoint\":\"https://a\"},"
        "{\"Protocol\":\"HTTPS\",\"ResourceEndpoint\":\"https://a\"}]}",
        "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\",\"ResourceEndpoint\":\"wss://a\"},"
        "{\"Protocol\":\"HTTPS\",\"ResourceEndpoint\":\"ftp://a\"}]}",
        "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\"}]}",
    };
    for (size_t i = 0; i < T_COUNT(bad_eps); i++)
        if (kvs_parse_endpoints(bad_eps[i], strlen(bad_eps[i]), &ep) != KG_ERR_UPSTREAM_REFUSED)
            t_fail(__FILE__, __LINE__, "accepted bad endpoints #%zu", i);
    const char *good = "{\"ResourceEndpointList\":[{\"Protocol\":\"WEBRTC\",\"ResourceEndpoint\":"
                       "\"https://w\"},{\"Protocol\":\"HTTPS\",\"ResourceEndpoint\":\"https://r-1\"},"
                       "{\"Protocol\":\"WSS\",\"ResourceEndpoint\":\"wss://v-1\"}]}";
    T_INTEQ(kvs_parse_endpoints(good, strlen(good), &ep), KG_OK);
    T_STREQ(ep.wss, "wss://v-1");
    T_STREQ(ep.https, "https://r-1");
}

static void test_ice_parsing_rejects_what_does_not_fit(void)
{
    struct kvs_ice_config ice;
    const char *bad[] = {
        "{}",
        "{\"IceServerList\":{}}",
        "{\"IceServerList\":[{\"Uris\":[],\"Username\":\"u\",\"Password\":\"p\",\"Ttl\":300}]}",
        "{\"IceServerList\":[{\"Uris\":[\"turn:a\"],\"Password\":\"p\",\"Ttl\":300}]}",
        "{\"IceServerList\":[{\"Uris\":[\"turn:a\"],\"Username\":\"u\",\"Ttl\":300}]}",
        "{\"IceServerList\":[{\"Uris\":[\"turn:a\"],\"Username\":\"u\",\"Password\":\"p\",\"Ttl\":\"300\"}]}",
        "{\"IceServerList\":[{\"Uris\":[\"turn:a\"],\"Username\":\"u\",\"Password\":\"p\",\"Ttl\":0}]}",
        "{\"IceServerList\":[{\"Uris\":[\"http://a\"],\"Username\":\"u\",\"Password\":\"p\",\"Ttl\":300}]}",
        "{\"IceServerList\":[{\"Uris\":[7],\"Username\":\"u\",\"Password\":\"p\",\"Ttl\":300}]}",
        ("{\"IceServerList\":[{\"Uris\":[\"turn:1\",\"turn:2\",\"turn:3\",\"turn:4\",\"turn:5\","
         "\"turn:6\",\"turn:7\",\"turn:8\",\"turn:9\"],\"Username\":\"u\",\"Password\":\"p\",\"Ttl\":300}]}"),
    };
    for (size_t i = 0; i < T_COUNT(bad); i++)
        if (kvs_parse_ice(bad[i], strlen(bad[i]), 1, &ice) != KG_ERR_UPSTREAM_REFUSED)
            t_fail(__FILE__, __LINE__, "accepted bad ICE #%zu", i);
    /* Nine servers do not fit the eight slots. */
    struct kg_buf nine;
    kg_buf_init(&nine, 1 << 16);
    T_INTEQ(kg_buf_append_str(&nine, "{\"IceServerList\":["), KG_OK);
    for (int i = 0; i < 9; i++)
        T_INTEQ(kg_buf_appendf(&nine, "%s{\"Uris\":[\"turn:a\"],\"Username\":\"u\",\"Password\":"
                                      "\"p\",\"Ttl\":300}",
                               i ? "," : ""),
                KG_OK);
    T_INTEQ(kg_buf_append_str(&nine, "]}"), KG_OK);
    T_INTEQ(kvs_parse_ice(nine.data, nine.len, 1, &ice), KG_ERR_UPSTREAM_REFUSED);
    kg_buf_free(&nine);
    const char *empty = "{\"IceServerList\":[]}";
    T_INTEQ(kvs_parse_ice(empty, strlen(empty), 5, &ice), KG_OK);
    T_INTEQ((long long)ice.count, 0);
    kvs_ice_config_cleanup(&ice);
}

static void test_tag_parsing_rejects_what_does_not_fit(void)
{
    struct kvs_tag_list acc = {0};
    char next[513];
    T_INTEQ(kvs_parse_tags("{\"Tags\":{\"a\":1}}", 16, 50, &acc, next), KG_ERR_UPSTREAM_REFUSED);
    kvs_tag_list_cleanup(&acc);
    T_INTEQ(kvs_parse_tags("{\"Tags\":[]}", 11, 50, &acc, next), KG_ERR_UPSTREAM_REFUSED);
    kvs_tag_list_cleanup(&acc);
    T_INTEQ(kvs_parse_tags("{\"Tags\":{\"a\":\"1\",\"b\":\"2\"}}", 25, 1, &acc, next),
            KG_ERR_UPSTREAM_REFUSED);
    kvs_tag_list_cleanup(&acc);
    T_INTEQ(kvs_parse_tags("{}", 2, 50, &acc, next), KG_OK);
    T_INTEQ((long long)acc.count, 0);
    T_STREQ(next, "");
    kvs_tag_list_cleanup(&acc);
}

/* ---- helpers ---------------------------------------------------------------------- */

static void test_validation_helpers_follow_the_kvs_rules(void)
{
    char n256[258], n257[259];
    memset(n256, 'a', 256);
    n256[256] = '\0';
    memset(n257, 'a', 257);
    n257[257] = '\0';
    T_CHECK(kg_kvs_channel_name_valid("cam-1_A.b"));
    T_CHECK(kg_kvs_channel_name_valid(n256));
    T_CHECK(!kg_kvs_channel_name_valid(n257));
    T_CHECK(!kg_kvs_channel_name_valid(""));
    T_CHECK(!kg_kvs_channel_name_valid(NULL));
    T_CHECK(!kg_kvs_channel_name_valid("a b"));
    T_CHECK(!kg_kvs_channel_name_valid("a/b"));
    T_CHECK(!kg_kvs_channel_name_valid("caf\xc3\xa9"));
    T_CHECK(kg_kvs_client_id_valid("viewer-1"));
    T_CHECK(kg_kvs_client_id_valid("AWS"));
    T_CHECK(kg_kvs_client_id_valid("AWSx_1"));
    T_CHECK(!kg_kvs_client_id_valid("AWS_x"));
    T_CHECK(!kg_kvs_client_id_valid("aws_x"));
    T_CHECK(!kg_kvs_client_id_valid("Aws_"));
    T_CHECK(!kg_kvs_client_id_valid(n257));
    T_CHECK(!kg_kvs_client_id_valid("a:b"));
    T_STREQ(kvs_region_domain("us-west-2"), "amazonaws.com");
    T_STREQ(kvs_region_domain("cn-northwest-1"), "amazonaws.com.cn");
    char stun[KVS_URL_MAX + 1];
    kvs_stun_url("us-west-2", stun);
    T_STREQ(stun, "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443");
    kvs_stun_url("cn-north-1", stun);
    T_STREQ(stun, "stun:stun.kinesisvideo.cn-north-1.amazonaws.com.cn:443");
}

/* ---- no secret in the log ----------------------------------------------------------- */

static FILE *log_file;

static void test_no_secret_reaches_the_log(void)
{
    /* Run failing and succeeding calls with a session token and TURN
     * passwords at debug level, then read back everything logged. */
    struct fixture fx;
    env_token = TOKEN;
    fixture_open(&fx, "us-west-2", NULL, 2);
    fake_http_push(fx.http, 403, "x-amzn-ErrorType: InvalidSignatureException\n",
                   "{\"message\":\"The Canonical String for this request should have been "
                   "x-amz-security-token:" TOKEN "\"}");
    fake_http_push(fx.http, 500, NULL, "{\"message\":\"" SECRET "\"}");
    fake_http_push(fx.http, 200, NULL, ice_ok);
    struct kvs_channel ch;
    struct kvs_ice_config ice;
    struct kvs_call call = {.request_id = "req-1"};
    T_INTEQ(kvs_describe_channel(fx.kvs, &call, "demo-channel", NULL, &ch),
            KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ(kvs_get_ice_config(fx.kvs, &call, "https://r-1.example", ARN, "v1", &ice), KG_OK);
    const char *sig = strstr(fake_request_header(fake_http_request(fx.http, 0), "authorization"),
                             "Signature=");
    char signature[80] = "";
    if (sig)
        snprintf(signature, sizeof signature, "%s", sig + 10);
    kvs_ice_config_cleanup(&ice);
    fixture_close(&fx);

    int fd = fileno(log_file);
    off_t size = lseek(fd, 0, SEEK_END);
    T_CHECK(size > 0);
    char *text = calloc(1, (size_t)size + 1);
    T_INTEQ((long long)pread(fd, text, (size_t)size, 0), (long long)size);
    T_CHECK(strstr(text, "kvs_call_failed") != NULL); /* it did log */
    T_CHECK(strstr(text, "req-1") != NULL);
    const char *secrets[] = {SECRET, TOKEN, TURN_PASSWORD, "p2+/=", signature};
    for (size_t i = 0; i < T_COUNT(secrets); i++)
        if (secrets[i][0] && strstr(text, secrets[i]))
            t_fail(__FILE__, __LINE__, "secret #%zu is in the log", i);
    free(text);
}

/* ---- the caches over the client: compact copies -------------------------------- */

static void test_channels_cache_compact_copies_of_what_kvs_returned(void)
{
    struct fixture fx;
    fixture_open(&fx, "us-west-2", NULL, 1);
    fake_http_route(fx.http, "POST", "/describeSignalingChannel", 200, NULL, describe_ok);
    fake_http_route(fx.http, "POST", "/getSignalingChannelEndpoint", 200, NULL,
                    "{\"ResourceEndpointList\":[{\"Protocol\":\"WSS\",\"ResourceEndpoint\":"
                    "\"wss://v-1.example/sig\"},{\"Protocol\":\"HTTPS\",\"ResourceEndpoint\":"
                    "\"https://r-1.example\"}]}");
    /* three servers with 3, 1 and 2 URIs: the packed layout keeps each server's own */
    fake_http_route(fx.http, "POST", "/v1/get-ice-server-config", 200, NULL,
                    "{\"IceServerList\":[{\"Uris\":[\"turn:a:1\",\"turns:a:2\",\"turns:a:3\"],"
                    "\"Username\":\"ua\",\"Password\":\"pa+/=\",\"Ttl\":300},"
                    "{\"Uris\":[\"turn:b:1\"],\"Username\":\"ub\",\"Password\":\"pb\",\"Ttl\":120},"
                    "{\"Uris\":[\"turn:c:1\",\"turn:c:2\"],\"Username\":\"uc-long-username-0123456789\","
                    "\"Password\":\"pc\",\"Ttl\":200}]}");
    struct channels_options co = {.kvs = fx.kvs, .max_entries = 16};
    struct channels *ch = channels_new(&co);
    struct kvs_call call = {0};
    struct cache_ref *r1 = NULL, *r2 = NULL, *r3 = NULL, *again = NULL;
    enum cache_outcome how;
    T_INTEQ(channels_describe(ch, &call, "demo-channel", 1, &r1, &how), KG_OK);
    const struct channels_channel *c = cache_ref_value(r1);
    T_STREQ(c->name, "demo-channel");
    T_STREQ(c->arn, ARN);
    T_STREQ(c->type, "SINGLE_MASTER");
    T_STREQ(c->status, "ACTIVE");
    T_STREQ(c->version, "abc123");
    T_INTEQ(c->creation_time_s, 1700000000);
    T_INTEQ(c->message_ttl_s, 60);
    T_INTEQ(channels_endpoints(ch, &call, "demo-channel", c->arn, KVS_ROLE_VIEWER, 1, &r2, &how),
            KG_OK);
    const struct channels_endpoints *e = cache_ref_value(r2);
    T_STREQ(e->wss, "wss://v-1.example/sig");
    T_STREQ(e->https, "https://r-1.example");
    T_INTEQ(channels_ice(ch, &call, "demo-channel", e->https, c->arn, KVS_ROLE_VIEWER, "v1", 1, &r3,
                         &how),
            KG_OK);
    const struct channels_ice *ice = cache_ref_value(r3);
    T_INTEQ(ice->count, 3);
    T_INTEQ(ice->min_ttl_s, 120);
    T_INTEQ(ice->fetched_at_s, fixed_now);
    static const char *const want_uris[3][3] = {
        {"turn:a:1", "turns:a:2", "turns:a:3"}, {"turn:b:1", NULL, NULL}, {"turn:c:1", "turn:c:2", NULL}};
    static const size_t want_counts[3] = {3, 1, 2};
    static const char *const want_user[3] = {"ua", "ub", "uc-long-username-0123456789"};
    static const char *const want_pass[3] = {"pa+/=", "pb", "pc"};
    static const int want_ttl[3] = {300, 120, 200};
    for (size_t i = 0; i < 3; i++) {
        const struct channels_ice_server *s = &ice->servers[i];
        T_INTEQ(s->uri_count, want_counts[i]);
        for (size_t k = 0; k < s->uri_count && k < 3; k++)
            T_STREQ(s->uris[k], want_uris[i][k]);
        T_STREQ(s->username, want_user[i]);
        T_STREQ(s->password, want_pass[i]);
        T_INTEQ(s->ttl_s, want_ttl[i]);
    }
    /* the HTTP threads' lookup (can_block 0) finds the same value */
    T_INTEQ(channels_describe(ch, &call, "demo-channel", 0, &again, &how), KG_OK);
    T_CHECK(cache_ref_value(again) == c);
    T_INTEQ(how, CACHE_HIT);
    cache_ref_release(again);
    /* values outlive the cache while referenced (and are freed after: ASan) */
    channels_free(ch);
    T_STREQ(c->arn, ARN);
    T_STREQ(ice->servers[2].uris[1], "turn:c:2");
    cache_ref_release(r1);
    cache_ref_release(r2);
    cache_ref_release(r3);
    fixture_close(&fx);
}

static const struct t_case cases[] = {
    T_CASE(test_requests_are_signed_exactly_like_the_header_vectors),
    T_CASE(test_create_sends_name_type_ttl_and_tags),
    T_CASE(test_create_validates_before_sending),
    T_CASE(test_list_sends_prefix_and_token_and_reads_the_page),
    T_CASE(test_delete_sends_arn_and_optional_version),
    T_CASE(test_ice_goes_to_the_channel_endpoint_signed_with_the_client_region),
    T_CASE(test_channels_cache_compact_copies_of_what_kvs_returned),
    T_CASE(test_endpoint_override_and_china_partition),
    T_CASE(test_tag_resource_and_list_tags_across_pages),
    T_CASE(test_every_aws_error_maps_to_its_row),
    T_CASE(test_transport_failures_map_to_timeout_unavailable_refused),
    T_CASE(test_error_type_reader_edge_cases),
    T_CASE(test_throttling_5xx_reset_and_timeout_are_retried_until_success),
    T_CASE(test_not_found_and_invalid_argument_are_not_retried),
    T_CASE(test_storage_joins_are_made_once_and_storage_answers_are_strict),
    T_CASE(test_attempts_stop_at_max_attempts_with_the_last_error),
    T_CASE(test_backoff_never_sleeps_past_the_deadline),
    T_CASE(test_a_stalled_answer_times_out_at_the_deadline),
    T_CASE(test_backoff_is_full_jitter_within_the_cap),
    T_CASE(test_metrics_count_each_attempt_by_outcome),
    T_CASE(test_expired_token_asks_the_provider_to_refresh),
    T_CASE(test_no_credentials_fails_without_a_call),
    T_CASE(test_describe_parsing_rejects_what_does_not_fit),
    T_CASE(test_create_list_and_endpoint_parsing_reject_what_does_not_fit),
    T_CASE(test_ice_parsing_rejects_what_does_not_fit),
    T_CASE(test_tag_parsing_rejects_what_does_not_fit),
    T_CASE(test_validation_helpers_follow_the_kvs_rules),
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
