#include "aws/presign.h"

#include <string.h>

#include "core/encode.h"

enum kg_err kvs_endpoint_split(const char *endpoint, const char *scheme, char host[256],
                               char path[1024])
{
    size_t slen = strlen(scheme);
    if (!endpoint || strncmp(endpoint, scheme, slen) != 0 || strncmp(endpoint + slen, "://", 3))
        return KG_ERR_BAD_REQUEST;
    const char *h = endpoint + slen + 3;
    size_t hlen = strcspn(h, "/");
    if (hlen == 0 || hlen >= 256)
        return KG_ERR_BAD_REQUEST;
    for (size_t i = 0; i < hlen; i++) {
        char c = h[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
        if (!ok)
            return KG_ERR_BAD_REQUEST;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    const char *p = h + hlen;
    if (*p == '\0')
        p = "/";
    size_t plen = strlen(p);
    if (plen >= 1024)
        return KG_ERR_BAD_REQUEST;
    for (size_t i = 0; i < plen; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return KG_ERR_BAD_REQUEST;
    }
    memcpy(path, p, plen + 1);
    return KG_OK;
}

enum kg_err kvs_presign_url(const struct kvs_presign_input *in, struct kg_buf *url_out)
{
    char host[256], path[1024];
    /* ws:// only ever comes from a local emulator (the service allows it only
     * with an http:// KVS endpoint override); it is signed the same way. */
    const char *scheme = strncmp(in->endpoint ? in->endpoint : "", "ws://", 5) == 0 ? "ws" : "wss";
    enum kg_err err = kvs_endpoint_split(in->endpoint, scheme, host, path);
    if (err != KG_OK)
        return err;
    if (!in->channel_arn || !in->channel_arn[0] || (in->client_id && !in->client_id[0]))
        return KG_ERR_BAD_REQUEST;

    struct sigv4_param params[2] = {
        {"X-Amz-ChannelARN", 16, in->channel_arn, strlen(in->channel_arn)},
        {"X-Amz-ClientId", 14, in->client_id, in->client_id ? strlen(in->client_id) : 0},
    };
    struct sigv4_header headers[1] = {{"host", 4, host, strlen(host)}};
    struct sigv4_request req = {
        .method = "GET",
        .path = path,
        .path_len = strlen(path),
        .params = params,
        .param_count = in->client_id ? 2 : 1,
        .headers = headers,
        .header_count = 1,
    };
    struct sigv4_context ctx = {
        .creds = in->creds,
        .region = in->region,
        .service = KVS_SIGNING_SERVICE,
        .now_epoch_s = in->now_epoch_s,
        .flags = 0,
    };
    /* The URL carries the path exactly as it was signed: percent-encoded;
     * the signed query is appended straight after it. */
    size_t start = url_out->len;
    err = kg_buf_reserve(url_out, strlen(scheme) + 3 + strlen(host) + 3 * strlen(path) + 1);
    if (err == KG_OK)
        err = kg_buf_append_str(url_out, scheme);
    if (err == KG_OK)
        err = kg_buf_append(url_out, "://", 3);
    if (err == KG_OK)
        err = kg_buf_append_str(url_out, host);
    if (err == KG_OK)
        err = kg_uri_encode(url_out, path, strlen(path), 1);
    if (err == KG_OK)
        err = kg_buf_append_char(url_out, '?');
    if (err == KG_OK)
        err = sigv4_presign_query(&ctx, &req, in->expires_s, url_out);
    if (err != KG_OK)
        kg_buf_truncate(url_out, start);
    return err;
}
