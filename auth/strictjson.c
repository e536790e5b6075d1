/* Strict JSON input for everything auth/ reads from outside (token headers and
 * payloads, JWKS documents).
 *
 * jansson's own limit is 2048 levels, which a ~5 KB token reaches and which
 * takes up to ~192 KiB of stack to parse (measured on jansson 2.14).
 * Tokens and JWKS documents are shallow, so we bound the depth first with a
 * linear scan, then parse with JSON_REJECT_DUPLICATES so that
 * {"sub":"admin","sub":"u1"} cannot mean different things to different
 * readers. */
#include "auth/internal.h"

int strictjson_shape_ok(const char *s, size_t n, int max_depth)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') {
                /* \u0000: jansson refuses it (no JSON_ALLOW_NUL), and so does
                 * libjwt's parse of an HS256 payload, which would then read
                 * as a bad signature. Refused here, before any key is tried. */
                if (n - i > 5 && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' &&
                    s[i + 4] == '0' && s[i + 5] == '0')
                    return 0;
                i++; /* the escaped byte cannot end the string */
            } else if (c == '"') {
                in_string = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '{':
        case '[':
            if (++depth > max_depth)
                return 0;
            break;
        case '}':
        case ']':
            depth--;
            break;
        default:
            break;
        }
    }
    return 1;
}

json_t *strictjson_object(const char *s, size_t n, int max_depth)
{
    if (!strictjson_shape_ok(s, n, max_depth))
        return NULL;
    json_error_t error;
    json_t *root = json_loadb(s, n, JSON_REJECT_DUPLICATES, &error);
    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}
