/* libFuzzer target: the JSON body of PUT /v1/channels/{name}
 * (api_channels_parse_body), the one request body kvsgate reads.
 *
 * Input: the body, as bytes (at most 16 KiB reach it in the service; longer
 * inputs are cut there too).
 *
 * Invariants, on success: the TTL is 0 or 5..120; at most 49 tags; every tag
 * key is 1..128 and every value 0..256 bytes of the allowed set, none with a
 * reserved prefix; and the accepted body, serialized again from what was
 * parsed, parses to the same result (nothing is read that was not checked).
 * On failure a detail is set (it becomes the problem+json detail).
 */
#include "tests/fuzz/fuzz.h"

#include <jansson.h>

#include "api/api.h"
#include "api/internal.h"
#include "core/log.h"

#define BODY_MAX (16 * 1024)

static void check_parsed(const struct api_create_body *b)
{
    FUZZ_CHECK(b->message_ttl_s == 0 || (b->message_ttl_s >= 5 && b->message_ttl_s <= 120));
    FUZZ_CHECK(b->tag_count <= API_USER_TAGS_MAX);
    for (size_t i = 0; i < b->tag_count; i++) {
        FUZZ_CHECK(api_tag_text_ok(b->tags[i].key, 1, 128));
        FUZZ_CHECK(api_tag_text_ok(b->tags[i].value, 0, 256));
        FUZZ_CHECK(strncmp(b->tags[i].key, "kvsgate:", 8) != 0);
        FUZZ_CHECK(strncmp(b->tags[i].key, "aws:", 4) != 0);
    }
}

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

    struct api_create_body b;
    enum kg_err err = api_channels_parse_body(&req, &b);
    if (err == KG_OK) {
        check_parsed(&b);
        /* Serialize what was accepted and parse it again. */
        json_t *o = json_object();
        if (b.message_ttl_s)
            json_object_set_new(o, "messageTtlSeconds", json_integer(b.message_ttl_s));
        if (b.tag_count) {
            json_t *t = json_object();
            for (size_t i = 0; i < b.tag_count; i++)
                json_object_set_new(t, b.tags[i].key, json_string(b.tags[i].value));
            json_object_set_new(o, "tags", t);
        }
        char *again = json_dumps(o, JSON_COMPACT);
        FUZZ_CHECK(again);
        json_decref(o);
        struct api_request req2;
        api_request_init(&req2, NULL);
        req2.body = again;
        req2.body_len = strlen(again);
        struct api_create_body b2;
        FUZZ_CHECK(api_channels_parse_body(&req2, &b2) == KG_OK);
        FUZZ_CHECK(b2.message_ttl_s == b.message_ttl_s && b2.tag_count == b.tag_count);
        for (size_t i = 0; i < b.tag_count; i++) {
            int found = 0;
            for (size_t k = 0; k < b2.tag_count && !found; k++)
                found = strcmp(b.tags[i].key, b2.tags[k].key) == 0 &&
                        strcmp(b.tags[i].value, b2.tags[k].value) == 0;
            FUZZ_CHECK(found);
        }
        json_decref(b2.root);
        api_request_cleanup(&req2); /* frees `again` */
    } else {
        FUZZ_CHECK(err == KG_ERR_BAD_REQUEST);
        FUZZ_CHECK(req.detail[0] != '\0');
    }
    json_decref(b.root);
    api_request_cleanup(&req);
    return 0;
}
