/* bench_presign: the cost of one presigned viewer URL, kvs_presign_url alone
 * (the SigV4 signer, its encoding and SHA-256/HMAC), in a loop on one thread:
 * the warm path's largest piece of kvsgate's own work, measured without the
 * HTTP server, wrk and the kernel around it.
 *
 *   bench_presign [ROUNDS [URLS_PER_ROUND]]     (defaults 7 and 200000)
 *
 * Static credentials (no session token) and a KVS-shaped endpoint, channel
 * ARN and client id; the signing time moves by one second every 50,000 URLs.
 * Prints one line per round and a JSON summary last:
 * {"rounds":R,"urls":N,"url_bytes":B,"ns_per_url_min":X,"ns_per_url_median":Y}.
 * Compare builds by running both in turn, several rounds each (the machine is
 * shared: take the minimum and the median, not one run). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aws/presign.h"
#include "core/buf.h"

#define ROUNDS_MAX 99

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns per URL over n presigns; url_len gets the last URL's length, 0 on a failure. */
static double round_ns(long n, size_t *url_len)
{
    static const struct sigv4_credentials creds = {"AKIDBENCHEXAMPLE", "bench-secret-key", NULL};
    struct kvs_presign_input in = {
        .creds = &creds,
        .region = "us-west-2",
        .endpoint = "wss://v-1a2b3c4d.kinesisvideo.us-west-2.amazonaws.com",
        .channel_arn = "arn:aws:kinesisvideo:us-west-2:123456789012:channel/bench-w-3/1700000000000",
        .client_id = "u-3f2a9c1e5b7d4a60",
        .expires_s = 299,
    };
    struct kg_buf url;
    kg_buf_init_secret(&url, 8192);
    double t0 = mono_s();
    for (long i = 0; i < n; i++) {
        kg_buf_reset(&url);
        in.now_epoch_s = 1764680000 + i / 50000;
        if (kvs_presign_url(&in, &url) != KG_OK) {
            *url_len = 0;
            kg_buf_free(&url);
            return 0;
        }
    }
    double t = mono_s() - t0;
    *url_len = url.len;
    kg_buf_free(&url);
    return t / (double)n * 1e9;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 7;
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
    if (rounds < 1 || rounds > ROUNDS_MAX || n < 1) {
        fprintf(stderr, "usage: bench_presign [ROUNDS (1-%d) [URLS_PER_ROUND]]\n", ROUNDS_MAX);
        return 2;
    }
    double ns[ROUNDS_MAX];
    size_t len = 0;
    for (long r = 0; r < rounds; r++) {
        ns[r] = round_ns(n, &len);
        if (!len) {
            fprintf(stderr, "bench_presign: kvs_presign_url failed\n");
            return 1;
        }
        fprintf(stderr, "round %ld  %.0f ns/url\n", r + 1, ns[r]);
    }
    qsort(ns, (size_t)rounds, sizeof ns[0], cmp_double);
    printf("{\"rounds\":%ld,\"urls\":%ld,\"url_bytes\":%zu,\"ns_per_url_min\":%.0f,"
           "\"ns_per_url_median\":%.0f}\n",
           rounds, n, len, ns[0], ns[(rounds - 1) / 2]);
    return 0;
}
