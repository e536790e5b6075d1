/* kvsgate: AWS partitions and the endpoints kvsgate talks to or hands out
 * (`aws_`): the KVS control plane, STS, and the STUN host browsers use, with
 * the AWS SDKs' standard FIPS and dual-stack settings (AWS_USE_FIPS_ENDPOINT,
 * AWS_USE_DUALSTACK_ENDPOINT).
 *
 * The partitions are botocore's partitions.json (id, region pattern, DNS
 * suffix, dual-stack DNS suffix); the URL templates are the endpoint rule sets
 * of kinesisvideo and sts (docs/endpoints.md has the tables and the sources):
 *
 *   KVS   https://kinesisvideo[-fips].{region}.{dnsSuffix | dualStackDnsSuffix}
 *   STS   https://sts[-fips].{region}.{...}, except FIPS without dual-stack in
 *         aws-us-gov: https://sts.{region}.amazonaws.com (its regional host is FIPS)
 *   STUN  stun:stun.kinesisvideo.{region}.{...}:443, with FIPS
 *         stuns:stun.kinesisvideo-fips.{region}.{...}:443 (the KVS WebRTC SDKs)
 *
 * The rule sets accept FIPS everywhere; KVS has FIPS endpoints only in the
 * regions the KVS WebRTC C SDK lists (AWS GovCloud, us-iso-east-1,
 * us-iso-west-1, us-isob-east-1), so kvsgate refuses FIPS elsewhere at start-up
 * (aws_endpoint_mode_check) rather than fail every call. A region of no known
 * partition is refused too (the SDKs would guess `aws`).
 */
#ifndef KG_AWS_ENDPOINTS_H
#define KG_AWS_ENDPOINTS_H

#include <stddef.h>

struct aws_partition {
    const char *id;        /* also the ARN partition: arn:{id}:kinesisvideo:... */
    const char *dns;       /* amazonaws.com */
    const char *dual_dns;  /* api.aws */
};

struct aws_endpoint_mode {
    int fips;
    int dualstack;
};

/* The partition of region, or NULL when it matches none. */
const struct aws_partition *aws_partition_of(const char *region);

/* 1 when region has KVS endpoints in mode; else 0 with *why (static text). */
int aws_endpoint_mode_check(const char *region, struct aws_endpoint_mode mode, const char **why);

/* Writes the URL (NUL-terminated) into out; 0 when the region has no
 * partition or it does not fit. No trailing '/'. */
int aws_kvs_url(const char *region, struct aws_endpoint_mode mode, char *out, size_t cap);
int aws_sts_url(const char *region, struct aws_endpoint_mode mode, char *out, size_t cap);
int aws_stun_url(const char *region, struct aws_endpoint_mode mode, char *out, size_t cap);

#endif
