/* aws/endpoints: partitions, and the KVS, STS and STUN endpoints with FIPS
 * and dual-stack, against the AWS endpoint rules.
 *
 * Sources (read at these commits):
 * - partitions: boto/botocore botocore/data/partitions.json (e3ae2081);
 * - KVS: botocore/data/kinesisvideo/2017-09-30/endpoint-rule-set-1.json and
 *   tests/functional/endpoint-rules/kinesisvideo/endpoint-tests-1.json
 *   (a2ab4a87): us-east-1, cn-north-1, us-gov-east-1 in all four modes,
 *   us-iso-east-1 and us-isob-east-1 plain and FIPS;
 * - STS: botocore/data/sts/2011-06-15/endpoint-rule-set-1.json and
 *   tests/functional/endpoint-rules/sts/endpoint-tests-1.json (3b27a77a):
 *   GovCloud's FIPS host is its regional one;
 * - STUN: awslabs/amazon-kinesis-video-streams-webrtc-sdk-js src/FipsUtils.ts
 *   and src/fips.spec.ts (28afc5da); China from the KVS WebRTC C SDK's
 *   KINESIS_VIDEO_STUN_URL_POSTFIX_CN;
 * - KVS FIPS regions: the KVS WebRTC C SDK's FIPS_ENDPOINT_MAPPINGS
 *   (src/source/Signaling/ChannelInfo.h). */
#include <string.h>

#include "aws/endpoints.h"
#include "testlib.h"

#define PLAIN ((struct aws_endpoint_mode){0, 0})
#define FIPS ((struct aws_endpoint_mode){1, 0})
#define DS ((struct aws_endpoint_mode){0, 1})
#define BOTH ((struct aws_endpoint_mode){1, 1})

static void test_every_region_finds_its_partition_and_others_none(void)
{
    const char *cases[][2] = {
        {"us-east-1", "aws"},          {"us-west-2", "aws"},         {"ap-southeast-5", "aws"},
        {"mx-central-1", "aws"},       {"il-central-1", "aws"},      {"cn-north-1", "aws-cn"},
        {"cn-northwest-1", "aws-cn"},  {"us-gov-west-1", "aws-us-gov"},
        {"us-gov-east-1", "aws-us-gov"}, {"us-iso-east-1", "aws-iso"}, {"us-isob-east-1", "aws-iso-b"},
        {"eu-isoe-west-1", "aws-iso-e"}, {"us-isof-south-1", "aws-iso-f"},
        {"eusc-de-east-1", "aws-eusc"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct aws_partition *p = aws_partition_of(cases[i][0]);
        if (!p || strcmp(p->id, cases[i][1]) != 0)
            t_fail(__FILE__, __LINE__, "%s: got %s, want %s", cases[i][0], p ? p->id : "none",
                   cases[i][1]);
    }
    const char *none[] = {"", "xx-foo-1", "us-west", "us-east-1a", "us-east-", "US-EAST-1",
                          "us--1", "cn-north", "us-gov-west", "eusc-fr-east-1", "us-east-1 "};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        if (aws_partition_of(none[i]))
            t_fail(__FILE__, __LINE__, "%s found a partition", none[i]);
    T_CHECK(aws_partition_of(NULL) == NULL);
}

static void check_url(int (*fn)(const char *, struct aws_endpoint_mode, char *, size_t),
                      const char *region, struct aws_endpoint_mode m, const char *want, int line)
{
    char out[256];
    if (!fn(region, m, out, sizeof out) || strcmp(out, want) != 0)
        t_fail(__FILE__, line, "%s fips=%d ds=%d: got %s, want %s", region, m.fips, m.dualstack,
               out, want);
}

#define KVS(r, m, w) check_url(aws_kvs_url, r, m, w, __LINE__)
#define STS(r, m, w) check_url(aws_sts_url, r, m, w, __LINE__)
#define STUN(r, m, w) check_url(aws_stun_url, r, m, w, __LINE__)

static void test_kvs_endpoints_follow_the_rules_in_every_mode(void)
{
    KVS("us-east-1", PLAIN, "https://kinesisvideo.us-east-1.amazonaws.com");
    KVS("us-east-1", FIPS, "https://kinesisvideo-fips.us-east-1.amazonaws.com");
    KVS("us-east-1", DS, "https://kinesisvideo.us-east-1.api.aws");
    KVS("us-east-1", BOTH, "https://kinesisvideo-fips.us-east-1.api.aws");
    KVS("cn-north-1", PLAIN, "https://kinesisvideo.cn-north-1.amazonaws.com.cn");
    KVS("cn-north-1", FIPS, "https://kinesisvideo-fips.cn-north-1.amazonaws.com.cn");
    KVS("cn-north-1", DS, "https://kinesisvideo.cn-north-1.api.amazonwebservices.com.cn");
    KVS("cn-north-1", BOTH, "https://kinesisvideo-fips.cn-north-1.api.amazonwebservices.com.cn");
    KVS("us-gov-east-1", PLAIN, "https://kinesisvideo.us-gov-east-1.amazonaws.com");
    KVS("us-gov-east-1", FIPS, "https://kinesisvideo-fips.us-gov-east-1.amazonaws.com");
    KVS("us-gov-east-1", DS, "https://kinesisvideo.us-gov-east-1.api.aws");
    KVS("us-gov-east-1", BOTH, "https://kinesisvideo-fips.us-gov-east-1.api.aws");
    KVS("us-iso-east-1", PLAIN, "https://kinesisvideo.us-iso-east-1.c2s.ic.gov");
    KVS("us-iso-east-1", FIPS, "https://kinesisvideo-fips.us-iso-east-1.c2s.ic.gov");
    KVS("us-isob-east-1", PLAIN, "https://kinesisvideo.us-isob-east-1.sc2s.sgov.gov");
    KVS("us-isob-east-1", FIPS, "https://kinesisvideo-fips.us-isob-east-1.sc2s.sgov.gov");
    char out[256];
    T_CHECK(!aws_kvs_url("xx-foo-1", PLAIN, out, sizeof out));
    T_CHECK(!aws_kvs_url("us-east-1", PLAIN, out, 20)); /* does not fit */
}

static void test_sts_endpoints_keep_govclouds_regional_host_for_fips(void)
{
    STS("us-east-1", PLAIN, "https://sts.us-east-1.amazonaws.com");
    STS("us-east-1", FIPS, "https://sts-fips.us-east-1.amazonaws.com");
    STS("us-east-1", DS, "https://sts.us-east-1.api.aws");
    STS("us-east-1", BOTH, "https://sts-fips.us-east-1.api.aws");
    STS("us-gov-east-1", FIPS, "https://sts.us-gov-east-1.amazonaws.com");
    STS("us-gov-east-1", BOTH, "https://sts-fips.us-gov-east-1.api.aws");
    STS("cn-northwest-1", PLAIN, "https://sts.cn-northwest-1.amazonaws.com.cn");
    STS("us-iso-east-1", PLAIN, "https://sts.us-iso-east-1.c2s.ic.gov");
}

static void test_stun_hosts_are_the_kvs_sdks(void)
{
    STUN("us-west-2", PLAIN, "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443");
    STUN("us-west-2", DS, "stun:stun.kinesisvideo.us-west-2.api.aws:443");
    STUN("us-gov-east-1", FIPS, "stuns:stun.kinesisvideo-fips.us-gov-east-1.amazonaws.com:443");
    STUN("us-gov-east-1", BOTH, "stuns:stun.kinesisvideo-fips.us-gov-east-1.api.aws:443");
    STUN("cn-north-1", PLAIN, "stun:stun.kinesisvideo.cn-north-1.amazonaws.com.cn:443");
}

static void test_fips_is_refused_where_kvs_has_none(void)
{
    const char *why = NULL;
    T_CHECK(aws_endpoint_mode_check("us-west-2", PLAIN, &why));
    T_CHECK(aws_endpoint_mode_check("us-west-2", DS, &why));
    T_CHECK(!aws_endpoint_mode_check("us-west-2", FIPS, &why));
    T_CHECK(why && strstr(why, "FIPS"));
    T_CHECK(!aws_endpoint_mode_check("cn-north-1", BOTH, &why));
    const char *fips[] = {"us-gov-east-1", "us-gov-west-1", "us-iso-east-1", "us-iso-west-1",
                          "us-isob-east-1"};
    for (size_t i = 0; i < sizeof fips / sizeof fips[0]; i++) {
        T_CHECK(aws_endpoint_mode_check(fips[i], FIPS, &why));
        T_CHECK(aws_endpoint_mode_check(fips[i], BOTH, &why));
    }
    why = NULL;
    T_CHECK(!aws_endpoint_mode_check("xx-foo-1", PLAIN, &why));
    T_CHECK(why && strstr(why, "partition"));
}

static const struct t_case cases[] = {
    T_CASE(test_every_region_finds_its_partition_and_others_none),
    T_CASE(test_kvs_endpoints_follow_the_rules_in_every_mode),
    T_CASE(test_sts_endpoints_keep_govclouds_regional_host_for_fips),
    T_CASE(test_stun_hosts_are_the_kvs_sdks),
    T_CASE(test_fips_is_refused_where_kvs_has_none),
};

int main(int argc, char **argv) { return t_main(cases, T_COUNT(cases), argc, argv); }
