/* libFuzzer target: the JSON body of PUT /v1/channels/{name}/media-storage
 * (api_storage_parse_body).
 *
 * Input: the body, as bytes (at most 16 KiB, as in the service).
 *
 * Invariants, on success: the body is a JSON object of exactly the members
 * read; enabled names exactly one of streamArn (starting "arn:", at most 1024
 * bytes) and streamName (a KVS name), disabled names neither; the strings are
 * NUL-free. On failure a detail is set. Never a crash or a leak.
 */
#include "tests/fuzz/fuzz.h"

#include <jansson.h>

#include "api/api.h"
#include "api/internal.h"
#include "core/log.h"

#define BODY_MAX (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        kg_log_set_level(KG_LOG_OFF);
        init = 1;
    }
    struct api_request req;
    api_request_init(&req, NULL);
    req.body = fuzz_body_copy(data, size, BODY_MAX, &req.body_len);
    struct api_storage_body b;
    enum kg_err err = api_storage_parse_body(&req, &b);
    if (err == KG_OK) {
        FUZZ_CHECK(json_is_object(b.root));
        size_t members = 1 + (b.stream_arn != NULL) + (b.stream_name != NULL);
        FUZZ_CHECK(json_object_size(b.root) == members);
        FUZZ_CHECK(b.enabled ? (b.stream_arn != NULL) != (b.stream_name != NULL)
                             : !b.stream_arn && !b.stream_name);
        if (b.stream_arn)
            FUZZ_CHECK(strncmp(b.stream_arn, "arn:", 4) == 0 && strlen(b.stream_arn) <= 1024);
        if (b.stream_name)
            FUZZ_CHECK(api_channel_name_ok(b.stream_name));
    } else {
        FUZZ_CHECK(err == KG_ERR_BAD_REQUEST && req.detail[0]);
    }
    json_decref(b.root);
    api_request_cleanup(&req);
    return 0;
}
