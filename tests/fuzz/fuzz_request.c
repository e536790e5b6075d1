/* libFuzzer target: what a request line turns into before a handler runs.
 *
 * Input: selector byte (the method), then fields separated by 0x1F:
 *   raw path \x1f raw query
 * The path goes through httpd_decode_strict (the decoder service/httpd.c
 * applies to every request path) and then api_route_match; the query is split
 * as libmicrohttpd splits it ('&', the first '=', '+' to ' ') and each name and
 * value goes through httpd_decode_strict, then through the validators the
 * handlers apply (channel names, client ids).
 *
 * Invariants: the strict decoder agrees with an independent reference decoder;
 * decode(encode(x)) == x; a matched route's {name} is one segment of the path,
 * at most KVS_NAME_MAX bytes; 405 comes with an Allow list ending in OPTIONS;
 * a name or client id the validators accept is within KVS's character set;
 * and the path, escaped for a log line (kg_json_escape, whole or cut short),
 * is always one valid JSON string (the access log stays parseable).
 */
#include "tests/fuzz/fuzz.h"

#include <jansson.h>

#include "api/api.h"
#include "api/internal.h"
#include "aws/kvs.h"
#include "core/buf.h"
#include "core/encode.h"
#include "core/log.h"
#include "service/httpd_head.h"

static const char *const methods[] = {"GET", "PUT", "DELETE", "HEAD", "OPTIONS", "POST", "PATCH", "get"};

static int ref_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reference: 1 when s decodes strictly (no bad escape, no NUL, at most max bytes). */
static int ref_decode(const char *s, size_t max, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (!s[i + 1] || !s[i + 2] || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0)
                return 0;
            c = (unsigned char)(ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]));
            i += 2;
        }
        if (c == 0 || o == max)
            return 0;
        out[o++] = (char)c;
    }
    *out_len = o;
    return 1;
}

static void check_decode(const char *raw, size_t max)
{
    char *got = httpd_decode_strict(raw, max);
    char *ref = malloc(strlen(raw) + 1);
    size_t ref_len = 0;
    int ok = ref_decode(raw, max, ref, &ref_len);
    FUZZ_CHECK(!got == !ok);
    if (got) {
        FUZZ_CHECK(strlen(got) == ref_len && memcmp(got, ref, ref_len) == 0);
        /* Round trip through the encoder the signer uses. */
        struct kg_buf enc;
        kg_buf_init(&enc, 3 * ref_len + 1);
        FUZZ_CHECK(kg_uri_encode(&enc, got, ref_len, 1) == KG_OK);
        char *back = httpd_decode_strict(enc.data, max);
        FUZZ_CHECK(back && strcmp(back, got) == 0);
        free(back);
        kg_buf_free(&enc);
    }
    free(ref);
    free(got);
}

/* What a log line does with a request's bytes: escaped into a JSON string. */
static void check_log_escape(const char *s, size_t n, size_t cap)
{
    char *out = malloc(cap + 3);
    size_t used = 0;
    out[0] = '"';
    size_t w = kg_json_escape(out + 1, cap, s, n, &used);
    FUZZ_CHECK(w <= cap && used <= n);
    out[1 + w] = '"';
    out[2 + w] = '\0';
    json_error_t e;
    json_t *v = json_loads(out, JSON_DECODE_ANY, &e);
    if (!v)
        fprintf(stderr, "not JSON: %s (%s)\n", out, e.text);
    FUZZ_CHECK(v && json_is_string(v));
    json_decref(v);
    free(out);
}

static int kvs_charset(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

static void check_route(const char *method, const char *path)
{
    char channel[KVS_NAME_MAX + 1];
    char allow[96];
    const char *pattern = NULL;
    enum kg_err err = KG_ERR_INTERNAL;
    memset(channel, 0x5a, sizeof channel);
    channel[0] = '\0';
    const struct api_route *r =
        api_route_match(method, path, channel, allow, sizeof allow, &pattern, &err);
    FUZZ_CHECK(memchr(allow, '\0', sizeof allow));
    if (r) {
        FUZZ_CHECK(err == KG_OK && pattern == r->pattern);
        FUZZ_CHECK(strcmp(r->method, method) == 0 ||
                   (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0));
    } else {
        FUZZ_CHECK(err == KG_ERR_NOT_FOUND || err == KG_ERR_METHOD_NOT_ALLOWED);
        FUZZ_CHECK((err == KG_ERR_NOT_FOUND) == (pattern == NULL));
        if (err == KG_ERR_METHOD_NOT_ALLOWED) {
            size_t n = strlen(allow);
            FUZZ_CHECK(n >= 7 && strcmp(allow + n - 7, "OPTIONS") == 0);
        }
    }
    if (pattern && strstr(pattern, "{name}")) {
        size_t cn = strnlen(channel, sizeof channel);
        FUZZ_CHECK(cn <= KVS_NAME_MAX);
        FUZZ_CHECK(!strchr(channel, '/'));
        if (cn) {
            /* "/v1/channels/" + channel, then "/" or the end. */
            FUZZ_CHECK(strncmp(path, "/v1/channels/", 13) == 0);
            FUZZ_CHECK(strncmp(path + 13, channel, cn) == 0);
            FUZZ_CHECK(path[13 + cn] == '\0' || path[13 + cn] == '/');
        }
        if (api_channel_name_ok(channel)) {
            FUZZ_CHECK(cn >= 1 && kvs_charset(channel));
            FUZZ_CHECK(strcmp(channel, ".") != 0 && strcmp(channel, "..") != 0);
        }
    }
}

/* One name=value of the query, split and '+'-unescaped as libmicrohttpd does. */
static void check_query_arg(const char *arg, size_t n)
{
    char *copy = malloc(n + 1);
    memcpy(copy, arg, n);
    copy[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (copy[i] == '+')
            copy[i] = ' ';
    char *eq = strchr(copy, '=');
    const char *value = "";
    if (eq) {
        *eq = '\0';
        value = eq + 1;
    }
    check_decode(copy, 1024);
    check_decode(value, 4096);
    char *v = httpd_decode_strict(value, 4096);
    if (v) {
        if (kg_kvs_client_id_valid(v)) {
            size_t vn = strlen(v);
            FUZZ_CHECK(vn >= 1 && vn <= KVS_CLIENT_ID_MAX && kvs_charset(v));
            FUZZ_CHECK(!(vn >= 4 && (v[0] | 0x20) == 'a' && (v[1] | 0x20) == 'w' &&
                         (v[2] | 0x20) == 's' && v[3] == '_'));
        }
        if (kg_kvs_channel_name_valid(v))
            FUZZ_CHECK(strlen(v) >= 1 && strlen(v) <= KVS_NAME_MAX && kvs_charset(v));
        free(v);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        kg_log_set_level(KG_LOG_OFF);
        init = 1;
    }
    unsigned sel = fuzz_selector(&data, &size);
    const char *method = methods[sel % (sizeof methods / sizeof methods[0])];
    struct fuzz_in in = {(const char *)data, size};
    char *raw_path = fuzz_field_str(&in, NULL);
    size_t qlen;
    char *raw_query = fuzz_field_str(&in, &qlen);

    check_decode(raw_path, 8192);
    char *path = httpd_decode_strict(raw_path, 8192);
    check_log_escape(raw_path, strlen(raw_path), 3 * strlen(raw_path) + 8);
    if (path) {
        size_t pn = strlen(path);
        check_log_escape(path, pn, 6 * pn + 8);
        check_log_escape(path, pn, pn / 2 + 1); /* cut short, as a full log line is */
        check_route(method, path);
        free(path);
    }
    /* Raw paths too: a proxy in front might not decode. */
    check_route(method, raw_path);

    const char *q = raw_query;
    size_t left = qlen;
    for (int args = 0; args < 32 && left; args++) {
        const char *amp = memchr(q, '&', left);
        size_t n = amp ? (size_t)(amp - q) : left;
        check_query_arg(q, n);
        if (!amp)
            break;
        left -= n + 1;
        q = amp + 1;
    }
    free(raw_path);
    free(raw_query);
    return 0;
}
