/* libFuzzer target: the request-head checks (service/httpd_head.c), which
 * stand between libmicrohttpd's lenient parser and everything that reads a
 * header (smuggling and injection shapes), and the Content-Length and listen
 * address parsers.
 *
 * Input: selector byte (bit 0: HTTP/1.1 else 1.0; bits 1-3: the header budget,
 * 64 B to 8 KiB), then fields separated by 0x1F: method, URL, then header
 * name and value pairs (a missing value is NULL), the last field also as a
 * Content-Length and as a listen address.
 *
 * Invariants: accepted heads fit the budget and hold only token names, values
 * without control bytes but HTAB, the right number of Host headers (none with
 * userinfo), at most one Authorization and Content-Type, Content-Lengths that
 * agree, and Transfer-Encoding only as a lone "chunked" without a
 * Content-Length; refused heads come with a detail, and 431 exactly when the
 * budget was passed. A parsed length is the decimal value of an all-digit
 * string; a parsed listen address has a port in 0..65535. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include "tests/fuzz/fuzz.h"

#include "service/httpd_head.h"

#define HEADERS_MAX 24

static int tok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel = fuzz_selector(&data, &size);
    const char *version = (sel & 1) ? "HTTP/1.1" : "HTTP/1.0";
    size_t budget = (size_t)64 << ((sel >> 1) & 7);
    struct fuzz_in in = {(const char *)data, size};
    char *method = fuzz_field_str(&in, NULL);
    char *url = fuzz_field_str(&in, NULL);
    char *names[HEADERS_MAX], *values[HEADERS_MAX];
    size_t count = 0;
    const char *s;
    size_t n;
    while (count < HEADERS_MAX && fuzz_field(&in, &s, &n)) {
        names[count] = strndup(s, n);
        values[count] = fuzz_field(&in, &s, &n) ? strndup(s, n) : NULL;
        count++;
    }
    struct httpd_head hd;
    httpd_head_init(&hd, method, url, version);
    size_t bytes = strlen(method) + strlen(url) + strlen(version) + 4;
    for (size_t i = 0; i < count; i++) {
        size_t vl = values[i] ? strlen(values[i]) : 0;
        httpd_head_add(&hd, names[i], strlen(names[i]), values[i], vl);
        bytes += strlen(names[i]) + vl + 4;
    }
    const char *detail = NULL;
    enum kg_err err = httpd_head_check(&hd, method, version, budget, &detail);
    if (err != KG_OK) {
        FUZZ_CHECK(detail && *detail);
        FUZZ_CHECK((err == KG_ERR_HEADERS_TOO_LARGE) == (bytes > budget));
        FUZZ_CHECK(err == KG_ERR_HEADERS_TOO_LARGE || err == KG_ERR_BAD_REQUEST);
    } else {
        FUZZ_CHECK(bytes <= budget);
        for (const char *m = method; *m; m++)
            FUZZ_CHECK(tok((unsigned char)*m));
        unsigned hosts = 0, auths = 0, ctypes = 0, lengths = 0, tes = 0;
        const char *length = NULL, *te = NULL;
        for (size_t i = 0; i < count; i++) {
            FUZZ_CHECK(names[i][0]);
            for (const char *c = names[i]; *c; c++)
                FUZZ_CHECK(tok((unsigned char)*c));
            for (const char *c = values[i] ? values[i] : ""; *c; c++)
                FUZZ_CHECK(((unsigned char)*c >= 0x20 || *c == '\t') && *c != 0x7f);
            if (strcasecmp(names[i], "Host") == 0) {
                hosts++;
                FUZZ_CHECK(!values[i] || !strchr(values[i], '@'));
            }
            auths += strcasecmp(names[i], "Authorization") == 0;
            ctypes += strcasecmp(names[i], "Content-Type") == 0;
            if (strcasecmp(names[i], "Content-Length") == 0) {
                if (lengths++ && length && values[i])
                    FUZZ_CHECK(strcmp(length, values[i]) == 0);
                length = values[i];
            }
            if (strcasecmp(names[i], "Transfer-Encoding") == 0) {
                tes++;
                te = values[i];
            }
        }
        FUZZ_CHECK((sel & 1) ? hosts == 1 : hosts <= 1);
        FUZZ_CHECK(auths <= 1 && ctypes <= 1);
        if (tes)
            FUZZ_CHECK(tes == 1 && !lengths && te && strcasecmp(te, "chunked") == 0);
    }

    const char *last = count ? (values[count - 1] ? values[count - 1] : names[count - 1]) : url;
    long long len = httpd_parse_length(last);
    if (len >= 0) {
        FUZZ_CHECK(*last && strspn(last, "0123456789") == strlen(last));
        FUZZ_CHECK(len <= (1LL << 40));
    } else {
        FUZZ_CHECK(len == -1);
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    int v6 = -1;
    if (httpd_parse_listen(last, &ss, &sl, &v6) == KG_OK) {
        FUZZ_CHECK(v6 == 0 || v6 == 1);
        FUZZ_CHECK(ss.ss_family == (v6 ? AF_INET6 : AF_INET));
        FUZZ_CHECK(sl == (v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)));
    }

    for (size_t i = 0; i < count; i++) {
        free(names[i]);
        free(values[i]);
    }
    free(method);
    free(url);
    return 0;
}
