/* libFuzzer target: the presigned URL builder (kvs_presign_url), which
 * writes KVS's endpoint, the channel ARN, the viewer's client id and the
 * credentials into the URL handed to the browser.
 *
 * Input: selector byte (bit 0: viewer, bit 1: a session token, bits 2-3: the
 * buffer's maximum, from 128 bytes to 64 KiB), then fields separated by 0x1F:
 * endpoint, ARN, client id, region, access key id, secret key, session token,
 * expiry (decimal).
 *
 * Invariants: on success the URL sits after what the buffer held, within its
 * maximum; it starts with the endpoint's scheme and host; every byte of it is
 * printable ASCII without space, quote, '<', '>', '\\', '#' or '"' (safe in
 * JSON, HTML attributes and logs); its query holds X-Amz-ChannelARN and (for a
 * viewer) X-Amz-ClientId as the percent-encoding of the inputs, and a 64-hex
 * X-Amz-Signature; a secret key never appears in it. On failure the buffer is
 * exactly as it was. */
#include "tests/fuzz/fuzz.h"

#include "aws/presign.h"
#include "core/buf.h"
#include "core/encode.h"

static int url_byte_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\'' && c != '<' && c != '>' && c != '\\' &&
           c != '#';
}

/* "&name=" + the encoding of value, or "?name=" at the query's start. */
static int has_param(const char *query, const char *name, const char *value)
{
    struct kg_buf want;
    kg_buf_init(&want, 1 << 20);
    int found = 0;
    if (kg_buf_append_str(&want, name) == KG_OK && kg_buf_append_char(&want, '=') == KG_OK &&
        kg_uri_encode(&want, value, strlen(value), 0) == KG_OK) {
        for (const char *p = query; p && !found; p = strchr(p, '&')) {
            p++;
            size_t n = strcspn(p, "&");
            found = n == want.len && memcmp(p, want.data, n) == 0;
        }
    }
    kg_buf_free(&want);
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel = fuzz_selector(&data, &size);
    static const size_t maxes[] = {128, 1024, 4096, 65536};
    struct fuzz_in in = {(const char *)data, size};
    char *f[8];
    for (int i = 0; i < 8; i++)
        f[i] = fuzz_field_str(&in, NULL);
    int viewer = sel & 1;
    struct sigv4_credentials creds = {f[4], f[5], (sel & 2) ? f[6] : NULL};
    int64_t expires = 0;
    for (const char *p = f[7]; *p >= '0' && *p <= '9' && expires < 1000000; p++)
        expires = expires * 10 + (*p - '0');
    struct kvs_presign_input pin = {
        .creds = &creds,
        .region = f[3],
        .endpoint = f[0],
        .channel_arn = f[1],
        .client_id = viewer ? f[2] : NULL,
        .expires_s = expires,
        .now_epoch_s = 1700000000,
    };
    struct kg_buf url;
    kg_buf_init_secret(&url, maxes[(sel >> 2) & 3]);
    FUZZ_CHECK(kg_buf_append_str(&url, "[") == KG_OK);
    enum kg_err err = kvs_presign_url(&pin, &url);
    if (err != KG_OK) {
        FUZZ_CHECK(url.len == 1 && url.data[0] == '[' && url.data[1] == '\0');
    } else {
        const char *u = url.data + 1;
        const char *scheme = strncmp(f[0], "ws://", 5) == 0 ? "ws://" : "wss://";
        FUZZ_CHECK(strncmp(u, scheme, strlen(scheme)) == 0);
        size_t hlen = strcspn(f[0] + strlen(scheme), "/");
        FUZZ_CHECK(strncmp(u + strlen(scheme), f[0] + strlen(scheme), hlen) == 0);
        for (const char *p = u; *p; p++)
            FUZZ_CHECK(url_byte_ok((unsigned char)*p));
        const char *query = strchr(u, '?');
        FUZZ_CHECK(query != NULL);
        const char *q = query + 1;
        /* every parameter, the first one included, preceded by '?' or '&' */
        char *qcopy = malloc(strlen(query) + 2);
        qcopy[0] = '&';
        memcpy(qcopy + 1, q, strlen(q) + 1);
        FUZZ_CHECK(has_param(qcopy, "X-Amz-ChannelARN", f[1]));
        if (viewer)
            FUZZ_CHECK(has_param(qcopy, "X-Amz-ClientId", f[2]));
        const char *sig = strstr(qcopy, "&X-Amz-Signature=");
        FUZZ_CHECK(sig != NULL);
        sig += strlen("&X-Amz-Signature=");
        size_t sl = strcspn(sig, "&");
        FUZZ_CHECK(sl == 64);
        for (size_t i = 0; i < sl; i++)
            FUZZ_CHECK((sig[i] >= '0' && sig[i] <= '9') || (sig[i] >= 'a' && sig[i] <= 'f'));
        /* A '+' is percent-encoded wherever an input reaches the URL, so a
         * secret key holding one (as real ones do) can only appear raw if it
         * leaked. */
        if (strchr(f[5], '+'))
            FUZZ_CHECK(strstr(u, f[5]) == NULL);
        free(qcopy);
    }
    kg_buf_free(&url);
    for (int i = 0; i < 8; i++)
        free(f[i]);
    return 0;
}
