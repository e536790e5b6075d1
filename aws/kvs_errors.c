/* Reading AWS error answers and mapping them onto the project's enum.
 *
 * KVS is rest-json: the type is in x-amzn-ErrorType ("Type:http://internal...")
 * and/or the body's __type (sometimes "namespace#Type") or code; but a request
 * that reaches the wrong service, or a front door, answers XML
 * (<AccessDeniedException><Message>..., or <ErrorResponse><Error><Code>...).
 * Every place is tried; the message is never read (it may echo the canonical
 * request, which includes the session token).
 */
#include <jansson.h>
#include <string.h>

#include "aws/kvs_impl.h"
#include "aws/xml.h"

/* Copies s[0..n) to out keeping [A-Za-z0-9_.] up to the first other byte. */
static void kvs_type_copy(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.'))
            break;
        out[o++] = c;
    }
    out[o] = '\0';
}

static void kvs_type_from_json(const char *body, size_t len, char *type, size_t cap)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr); /* new reference */
    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    static const char *const keys[] = {"__type", "code", "Code"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !type[0]; i++) {
        json_t *v = json_object_get(doc, keys[i]); /* borrowed */
        if (!json_is_string(v))
            continue;
        const char *s = json_string_value(v);
        const char *hash = strrchr(s, '#');
        if (hash)
            s = hash + 1;
        /* "Type:http://..." is seen in bodies too. */
        kvs_type_copy(s, strcspn(s, ":"), type, cap);
    }
    json_decref(doc);
}

static void kvs_type_from_xml(const char *body, size_t len, char *type, size_t cap)
{
    if (xml_check(body, len) != KG_OK)
        return;
    const char *c;
    size_t cl;
    if (xml_find(body, len, "Code", &c, &cl) >= 1) {
        char storage[KVS_ERROR_TYPE_MAX + 1];
        struct kg_buf b;
        kg_buf_init_fixed(&b, storage, sizeof storage);
        if (xml_text(c, cl, &b) == KG_OK && b.len)
            kvs_type_copy(b.data, b.len, type, cap);
        return;
    }
    char root[KVS_ERROR_TYPE_MAX + 1];
    if (xml_root_name(body, len, root, sizeof root) != KG_OK)
        return;
    /* <AccessDeniedException><Message>...</Message></AccessDeniedException> */
    size_t rl = strlen(root);
    if ((rl > 9 && strcmp(root + rl - 9, "Exception") == 0) ||
        (rl > 5 && strcmp(root + rl - 5, "Fault") == 0))
        kvs_type_copy(root, rl, type, cap);
}

void kvs_error_type(const struct kg_http_response *resp, char *type, size_t cap)
{
    if (!cap)
        return;
    type[0] = '\0';
    const char *h = kg_http_response_header(resp, "x-amzn-errortype");
    if (h) {
        kvs_type_copy(h, strcspn(h, ":"), type, cap);
        if (type[0])
            return;
    }
    const char *body = resp->body.data;
    size_t len = resp->body.len;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i < len && body[i] == '{')
        kvs_type_from_json(body, len, type, cap);
    else if (i < len && body[i] == '<')
        kvs_type_from_xml(body, len, type, cap);
}

struct kvs_error_row {
    const char *type;
    int prefix; /* match "type*" */
    enum kg_err err;
};

static const struct kvs_error_row kvs_error_table[] = {
    {"ResourceNotFoundException", 0, KG_ERR_CHANNEL_NOT_FOUND},
    {"ResourceInUseException", 0, KG_ERR_CHANNEL_NOT_ACTIVE},
    {"VersionMismatchException", 0, KG_ERR_CHANNEL_NOT_ACTIVE},
    {"NoDataRetentionException", 0, KG_ERR_NO_DATA_RETENTION},
    {"InvalidArgumentException", 0, KG_ERR_BAD_REQUEST},
    {"ValidationException", 0, KG_ERR_BAD_REQUEST},
    {"TagsPerResourceExceededLimit", 1, KG_ERR_BAD_REQUEST},
    {"InvalidClientException", 0, KG_ERR_BAD_REQUEST},
    {"ClientLimitExceededException", 0, KG_ERR_UPSTREAM_THROTTLED},
    {"ThrottlingException", 0, KG_ERR_UPSTREAM_THROTTLED},
    {"Throttling", 0, KG_ERR_UPSTREAM_THROTTLED},
    {"TooManyRequestsException", 0, KG_ERR_UPSTREAM_THROTTLED},
    {"AccessDenied", 1, KG_ERR_UPSTREAM_REFUSED},
    {"NotAuthorized", 1, KG_ERR_UPSTREAM_REFUSED},
    {"UnrecognizedClient", 1, KG_ERR_UPSTREAM_REFUSED},
    {"InvalidSignature", 1, KG_ERR_UPSTREAM_REFUSED},
    {"SignatureDoesNotMatch", 0, KG_ERR_UPSTREAM_REFUSED},
    {"ExpiredToken", 1, KG_ERR_UPSTREAM_REFUSED},
    {"AccountChannelLimitExceeded", 1, KG_ERR_UPSTREAM_REFUSED},
};

enum kg_err kvs_error_map(const char *type, long status)
{
    if (type && type[0]) {
        for (size_t i = 0; i < sizeof kvs_error_table / sizeof kvs_error_table[0]; i++) {
            const struct kvs_error_row *r = &kvs_error_table[i];
            size_t n = strlen(r->type);
            if (r->prefix ? strncmp(type, r->type, n) == 0 : strcmp(type, r->type) == 0)
                return r->err;
        }
    }
    if (status == 429)
        return KG_ERR_UPSTREAM_THROTTLED;
    if (status >= 500)
        return KG_ERR_UPSTREAM_UNAVAILABLE;
    return KG_ERR_UPSTREAM_REFUSED;
}

int kvs_error_is_expired_token(const char *type)
{
    return strncmp(type, "ExpiredToken", 12) == 0;
}
