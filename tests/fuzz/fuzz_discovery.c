/* libFuzzer target: the OpenID discovery document reader
 * (auth/jwks.c jwks_discovery_parse), which reads what an identity
 * provider's (or a network attacker's, over plain http to localhost)
 * <issuer>/.well-known/openid-configuration returns.
 *
 * Input: the issuer configured, 0x1F, the document.
 *
 * Invariants: never crashes or leaks; on success the document is a JSON
 * object whose "issuer" is exactly the configured issuer (same bytes, same
 * length) and jwks_uri holds its "jwks_uri", at most JWKS_URL_MAX bytes,
 * NUL-terminated, which jwks_url_ok accepts (https://, or http:// to a
 * loopback host); on failure why is one of the static phrases. */
#include <jansson.h>

#include "tests/fuzz/fuzz.h"

#include "auth/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {(const char *)data, size};
    char *issuer = fuzz_field_str(&in, NULL);
    const char *body = in.p ? in.p : "";
    size_t body_len = in.n;
    char uri[JWKS_URL_MAX + 1];
    memset(uri, 'x', sizeof uri);
    const char *why = NULL;
    enum kg_err err = jwks_discovery_parse(body, body_len, issuer, uri, &why);
    if (err == KG_OK) {
        FUZZ_CHECK(memchr(uri, '\0', sizeof uri) != NULL);
        FUZZ_CHECK(jwks_url_ok(uri));
        json_t *doc = json_loadb(body, body_len, 0, NULL);
        FUZZ_CHECK(json_is_object(doc));
        json_t *iss = json_object_get(doc, "issuer"), *u = json_object_get(doc, "jwks_uri");
        FUZZ_CHECK(json_is_string(iss) && json_string_length(iss) == strlen(issuer) &&
                   memcmp(json_string_value(iss), issuer, strlen(issuer)) == 0);
        FUZZ_CHECK(json_is_string(u) && strcmp(json_string_value(u), uri) == 0);
        json_decref(doc);
    } else {
        FUZZ_CHECK(err == KG_ERR_BAD_REQUEST && why && why[0]);
    }
    free(issuer);
    return 0;
}
