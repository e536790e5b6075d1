/* libFuzzer target: the problem+json writer (api_problem_write), which every
 * error answer goes through with the request's path (instance), its request
 * id and a detail.
 *
 * Input: selector byte (the error), then detail, request id and instance
 * separated by 0x1F; a missing request id or instance is passed as NULL.
 *
 * Invariants: the writer never fails and never writes more than
 * API_PROBLEM_MAX bytes; the body is one JSON object holding type, title,
 * status (the error's), code, requestId, as openapi.yaml's Problem requires;
 * instance is there exactly when the path was given as valid UTF-8; a member
 * that was not cut ("..." at its end) reads back as given. */
#include <jansson.h>

#include "tests/fuzz/fuzz.h"

#include "api/internal.h"
#include "core/encode.h"
#include "core/err.h"

/* s reads back from v: whole, or cut with the marker. */
static void check_member(json_t *v, const char *s)
{
    FUZZ_CHECK(json_is_string(v));
    size_t n = strlen(s), got = json_string_length(v);
    const char *g = json_string_value(v);
    if (got == n && memcmp(g, s, n) == 0)
        return;
    FUZZ_CHECK(got >= 3 && memcmp(g + got - 3, "...", 3) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel = fuzz_selector(&data, &size);
    enum kg_err err = (enum kg_err)(1 + sel % (KG_ERR__COUNT - 1));
    struct fuzz_in in = {(const char *)data, size};
    char *detail = fuzz_field_str(&in, NULL);
    const char *s;
    size_t n;
    char *request_id = fuzz_field(&in, &s, &n) ? strndup(s, n) : NULL;
    char *instance = fuzz_field(&in, &s, &n) ? strndup(s, n) : NULL;

    struct kg_buf b;
    kg_buf_init(&b, API_PROBLEM_MAX);
    FUZZ_CHECK(api_problem_write(&b, err, detail, request_id, instance) == KG_OK);
    FUZZ_CHECK(b.len <= API_PROBLEM_MAX);
    json_error_t e;
    json_t *o = json_loadb(b.data, b.len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (!o)
        fprintf(stderr, "not JSON (%s): %s\n", e.text, b.data);
    FUZZ_CHECK(o && json_is_object(o));
    FUZZ_CHECK(json_is_string(json_object_get(o, "type")));
    FUZZ_CHECK(json_is_string(json_object_get(o, "title")));
    FUZZ_CHECK(json_integer_value(json_object_get(o, "status")) == kg_err_http_status(err));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(o, "code")), kg_err_code(err)) == 0);
    json_t *rid = json_object_get(o, "requestId");
    FUZZ_CHECK(rid != NULL);
    json_t *d = json_object_get(o, "detail");
    FUZZ_CHECK((d != NULL) == (detail[0] != '\0'));
    if (d && kg_utf8_valid(detail, strlen(detail)))
        check_member(d, detail);
    if (request_id && kg_utf8_valid(request_id, strlen(request_id)))
        check_member(rid, request_id);
    json_t *inst = json_object_get(o, "instance");
    int want_instance = instance && kg_utf8_valid(instance, strlen(instance));
    FUZZ_CHECK((inst != NULL) == want_instance);
    if (inst)
        check_member(inst, instance);
    json_decref(o);
    kg_buf_free(&b);
    free(detail);
    free(request_id);
    free(instance);
    return 0;
}
