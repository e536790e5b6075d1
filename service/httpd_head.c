#include "service/httpd_head.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/encode.h"
#include "core/num.h"

/* Bytes of a Host value: RFC 3986 authority bytes without userinfo (host,
 * [v6], :port), i.e. tchar and :[]()=;, ('@' is refused on its own). */
#define K1(c) [c] = 1
static const unsigned char host_chars[256] = {KG_TCHAR_DESIGNATORS(K1), K1(':'), K1('['),
                                              K1(']'), K1('('), K1(')'), K1('='), K1(';'),
                                              K1(',')};
#undef K1

/* A field value's bytes: no control byte but HTAB, no DEL. */
static int value_byte_ok(unsigned char c) { return (c >= 0x20 || c == '\t') && c != 0x7f; }

/* Whether key (key_len bytes) is name, case-insensitively. */
static int is_header(const char *key, size_t key_len, const char *name, size_t name_len)
{
    return key_len == name_len && strncasecmp(key, name, name_len) == 0;
}
#define IS_HEADER(key, key_len, lit) is_header(key, key_len, lit, sizeof lit - 1)

/* Headers the checks count or read (the rest are only sized and scanned). */
static void head_note_known(struct httpd_head *sc, const char *key, size_t key_len,
                            const char *value, size_t value_len)
{
    if (IS_HEADER(key, key_len, "Host")) {
        sc->host_count++;
        for (size_t i = 0; value && i < value_len; i++)
            if (!host_chars[(unsigned char)value[i]])
                sc->bad_host = 1;
    } else if (IS_HEADER(key, key_len, "Content-Length")) {
        if (sc->length_count++ && value && sc->length && strcmp(value, sc->length) != 0)
            sc->length_conflict = 1;
        sc->length = value;
    } else if (IS_HEADER(key, key_len, "Transfer-Encoding")) {
        sc->te_count++;
        sc->te = value;
    } else if (IS_HEADER(key, key_len, "Authorization")) {
        sc->auth_count++;
    } else if (IS_HEADER(key, key_len, "Content-Type")) {
        sc->ctype_count++;
    }
}

void httpd_head_add(struct httpd_head *sc, const char *key, size_t key_len, const char *value,
                    size_t value_len)
{
    sc->bytes += key_len + value_len + 4; /* ": " and CRLF */
    unsigned name_ok = key_len != 0, value_ok = 1;
    for (size_t i = 0; i < key_len; i++)
        name_ok &= (unsigned)kg_http_token_char((unsigned char)key[i]);
    for (size_t i = 0; value && i < value_len; i++)
        value_ok &= (unsigned)value_byte_ok((unsigned char)value[i]);
    if (!name_ok)
        sc->bad_name = 1;
    if (!value_ok)
        sc->bad_value = 1;
    head_note_known(sc, key, key_len, value, value_len);
}

void httpd_head_init(struct httpd_head *hd, const char *method, const char *url,
                     const char *version)
{
    memset(hd, 0, sizeof *hd);
    hd->bytes = strlen(method) + strlen(url) + strlen(version ? version : "") + 4;
}

enum kg_err httpd_head_check(const struct httpd_head *hd, const char *method,
                             const char *version, size_t max_header_bytes, const char **detail)
{
    const struct httpd_head sc = *hd;
    if (sc.bytes > max_header_bytes) {
        *detail = "the request headers are too large";
        return KG_ERR_HEADERS_TOO_LARGE;
    }
    if (sc.bad_name || sc.bad_value) {
        *detail = "a header name or value holds bytes HTTP does not allow";
        return KG_ERR_BAD_REQUEST;
    }
    for (const char *m = method; *m; m++) {
        if (!kg_http_token_char((unsigned char)*m)) {
            *detail = "the method is not a token";
            return KG_ERR_BAD_REQUEST;
        }
    }
    int http11 = version && strcmp(version, "HTTP/1.1") == 0;
    if ((http11 && sc.host_count != 1) || sc.host_count > 1) {
        *detail = "an HTTP/1.1 request needs exactly one Host header";
        return KG_ERR_BAD_REQUEST;
    }
    if (sc.bad_host) {
        *detail = "the Host header is not a host[:port]";
        return KG_ERR_BAD_REQUEST;
    }
    if (sc.auth_count > 1 || sc.ctype_count > 1) {
        /* We read the first; a proxy in front may have read the last. */
        *detail = "a repeated Authorization or Content-Type header";
        return KG_ERR_BAD_REQUEST;
    }
    if (sc.length_conflict) {
        *detail = "conflicting Content-Length headers";
        return KG_ERR_BAD_REQUEST;
    }
    if (sc.te_count) {
        if (sc.length_count) {
            *detail = "Content-Length and Transfer-Encoding together";
            return KG_ERR_BAD_REQUEST;
        }
        if (sc.te_count > 1 || !sc.te || strcasecmp(sc.te, "chunked") != 0) {
            *detail = "only Transfer-Encoding: chunked is supported";
            return KG_ERR_BAD_REQUEST;
        }
    }
    return KG_OK;
}

long long httpd_parse_length(const char *s)
{
    int64_t v;
    if (*s == '-' || !kg_parse_int64(s, 0, (int64_t)1 << 40, &v))
        return -1;
    return v;
}

enum kg_err httpd_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                               int *v6)
{
    char host[128];
    const char *colon;
    if (!listen || !*listen)
        return KG_ERR_BAD_REQUEST;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
            return KG_ERR_BAD_REQUEST;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            return KG_ERR_BAD_REQUEST;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    int64_t port;
    if (colon[1] == '-' || !kg_parse_int64(colon + 1, 0, 65535, &port))
        return KG_ERR_BAD_REQUEST;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
    if (!host[0] || inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        if (!host[0])
            in4->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof *in4;
        *v6 = 0;
        return KG_OK;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        *v6 = 1;
        return KG_OK;
    }
    return KG_ERR_BAD_REQUEST;
}

char *httpd_decode_strict(const char *s, size_t max_len)
{
    struct kg_buf b;
    kg_buf_init(&b, max_len);
    if (kg_uri_decode(&b, s, strlen(s), 0) != KG_OK || memchr(b.data, '\0', b.len)) {
        kg_buf_free(&b);
        return NULL;
    }
    return kg_buf_take(&b, NULL);
}
