/* Partitions and endpoint templates. The region patterns are partitions.json's
 * regionRegex written as code: a prefix, then "-word-digits" (aws: one of its
 * listed prefixes and exactly three dash-separated parts). */
#include "aws/endpoints.h"

#include <stdio.h>
#include <string.h>

/* botocore/data/partitions.json (boto/botocore e3ae2081, 2026-01-15). A new
 * partition also goes into docs/endpoints.md and tests/unit/test_endpoints.c. */
static const struct {
    struct aws_partition p;
    const char *prefix; /* the region starts with it, then "-" (aws: see aws_shape) */
} partitions[] = {
    {{"aws-cn", "amazonaws.com.cn", "api.amazonwebservices.com.cn"}, "cn"},
    {{"aws-us-gov", "amazonaws.com", "api.aws"}, "us-gov"},
    {{"aws-iso", "c2s.ic.gov", "api.aws.ic.gov"}, "us-iso"},
    {{"aws-iso-b", "sc2s.sgov.gov", "api.aws.scloud"}, "us-isob"},
    {{"aws-iso-e", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"}, "eu-isoe"},
    {{"aws-iso-f", "csp.hci.ic.gov", "api.aws.hci.ic.gov"}, "us-isof"},
    {{"aws-eusc", "amazonaws.eu", "api.amazonwebservices.eu"}, "eusc-de"},
    {{"aws", "amazonaws.com", "api.aws"}, NULL},
};

/* The regions with KVS FIPS endpoints: the KVS WebRTC C SDK's
 * FIPS_ENDPOINT_MAPPINGS (src/source/Signaling/ChannelInfo.h). */
static const char *const fips_regions[] = {"us-gov-east-1", "us-gov-west-1", "us-iso-east-1",
                                           "us-iso-west-1", "us-isob-east-1"};

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* rest is "-\w+-\d+" and nothing else. */
static int word_then_digits(const char *rest)
{
    if (*rest++ != '-' || !word_char(*rest))
        return 0;
    while (word_char(*rest)) /* '-' is not a word character */
        rest++;
    if (*rest++ != '-' || !(*rest >= '0' && *rest <= '9'))
        return 0;
    while (*rest >= '0' && *rest <= '9')
        rest++;
    return *rest == '\0';
}

/* The aws partition's ^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$ */
static int aws_shape(const char *region)
{
    static const char *const starts[] = {"us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++)
        if (strncmp(region, starts[i], 2) == 0 && word_then_digits(region + 2))
            return 1;
    return 0;
}

const struct aws_partition *aws_partition_of(const char *region)
{
    if (!region || strlen(region) > 64)
        return NULL;
    for (size_t i = 0; i < sizeof partitions / sizeof partitions[0]; i++) {
        const char *prefix = partitions[i].prefix;
        if (prefix ? strncmp(region, prefix, strlen(prefix)) == 0 &&
                         word_then_digits(region + strlen(prefix))
                   : aws_shape(region))
            return &partitions[i].p;
    }
    return NULL;
}

int aws_endpoint_mode_check(const char *region, struct aws_endpoint_mode mode, const char **why)
{
    if (!aws_partition_of(region)) {
        *why = "the region belongs to no known AWS partition";
        return 0;
    }
    if (mode.fips) {
        for (size_t i = 0; i < sizeof fips_regions / sizeof fips_regions[0]; i++)
            if (strcmp(region, fips_regions[i]) == 0)
                return 1;
        *why = "Kinesis Video Streams has no FIPS endpoint in this region (FIPS: us-gov-east-1, "
               "us-gov-west-1, us-iso-east-1, us-iso-west-1, us-isob-east-1)";
        return 0;
    }
    return 1;
}

/* snprintf wrote n bytes into a buffer of cap: 1 when all of them fit. */
static int fits(size_t cap, int n) { return n > 0 && (size_t)n < cap; }

int aws_kvs_url(const char *region, struct aws_endpoint_mode mode, char *out, size_t cap)
{
    const struct aws_partition *p = aws_partition_of(region);
    return p && fits(cap,
                    snprintf(out, cap, "https://kinesisvideo%s.%s.%s", mode.fips ? "-fips" : "",
                             region, mode.dualstack ? p->dual_dns : p->dns));
}

int aws_sts_url(const char *region, struct aws_endpoint_mode mode, char *out, size_t cap)
{
    const struct aws_partition *p = aws_partition_of(region);
    if (!p)
        return 0;
    /* GovCloud's regional STS host is its FIPS one: the rule set keeps it. */
    int fips_host = mode.fips && !(strcmp(p->id, "aws-us-gov") == 0 && !mode.dualstack);
    return fits(cap,
               snprintf(out, cap, "https://sts%s.%s.%s", fips_host ? "-fips" : "", region,
                        mode.dualstack ? p->dual_dns : p->dns));
}

int aws_stun_url(const char *region, struct aws_endpoint_mode mode, char *out, size_t cap)
{
    const struct aws_partition *p = aws_partition_of(region);
    return p && fits(cap,
                    snprintf(out, cap, "%s:stun.kinesisvideo%s.%s.%s:443",
                             mode.fips ? "stuns" : "stun", mode.fips ? "-fips" : "", region,
                             mode.dualstack ? p->dual_dns : p->dns));
}
