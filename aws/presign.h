/* kvsgate: presigned WSS URLs for KVS WebRTC signaling (ConnectAsMaster,
 * ConnectAsViewer).
 *
 * GET on the endpoint's path ("/" when it has none), only `host` signed, payload
 * hash of the empty string, service `kinesisvideo`, parameters X-Amz-ChannelARN
 * (+ X-Amz-ClientId for a viewer), a session token signed in as
 * X-Amz-Security-Token. The URL lists every parameter sorted by name with
 * X-Amz-Signature at its sorted place, as the KVS JavaScript SDK emits it.
 * Minted per request: never cache the result.
 */
#ifndef KG_AWS_PRESIGN_H
#define KG_AWS_PRESIGN_H

#include <stdint.h>

#include "aws/sigv4.h"
#include "core/buf.h"
#include "core/err.h"

#define KVS_SIGNING_SERVICE "kinesisvideo"
/* The longest validity the KVS signaling service honours (AWS: "within 5 minutes"). */
#define KVS_PRESIGN_MAX_EXPIRES_S 299

struct kvs_presign_input {
    const struct sigv4_credentials *creds;
    const char *region;
    const char *endpoint;    /* wss://HOST[:PORT][/PATH], no query or fragment
                                (ws:// is accepted for local emulators) */
    const char *channel_arn;
    const char *client_id;   /* NULL for MASTER */
    int64_t expires_s;       /* 1..SIGV4_MAX_EXPIRES_S */
    int64_t now_epoch_s;
};

/* Appends the presigned URL to url_out (which may then carry the session token:
 * treat it as a secret until it is handed to its caller).
 * Errors: KG_ERR_BAD_REQUEST for a malformed endpoint, empty ARN or client id,
 * bad expiry or missing credentials; KG_ERR_PAYLOAD_TOO_LARGE past the bounds. */
KG_WARN_UNUSED enum kg_err kvs_presign_url(const struct kvs_presign_input *in,
                                           struct kg_buf *url_out);

/* Splits "wss://host[:port][/path]" into host and path (path "/" if absent).
 * Returns KG_ERR_BAD_REQUEST for another scheme, an empty or malformed host,
 * a query, a fragment or whitespace. host and path must hold 256 and 1024 bytes. */
KG_WARN_UNUSED enum kg_err kvs_endpoint_split(const char *endpoint, const char *scheme,
                                              char host[256], char path[1024]);

#endif
