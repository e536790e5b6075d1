/* libFuzzer target: the URL splitter (core/url.c) that every outbound request
 * (KVS, STS, channel endpoints, container credentials, IMDS) goes through.
 *
 * Input: selector byte (bit 0: URL_ALLOW_QUERY), then the URL.
 *
 * Invariants: on success the scheme is http or https, the host is non-empty
 * and made of host characters (or is an IPv6 literal), the port is 0 or
 * 1..65535, path and query hold only printable ASCII without spaces or '#',
 * the authority is host[:port] as the Host header must read; and the URL
 * rebuilt from the parts splits into the same parts (round trip).
 */
#include "tests/fuzz/fuzz.h"

#include "core/url.h"

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static void check_parts(const struct url_parts *u, unsigned flags)
{
    FUZZ_CHECK(strcmp(u->scheme, "http") == 0 || strcmp(u->scheme, "https") == 0);
    FUZZ_CHECK(u->host[0]);
    if (!u->is_ipv6)
        for (const char *p = u->host; *p; p++)
            FUZZ_CHECK(host_char(*p));
    FUZZ_CHECK(u->port >= 0 && u->port <= 65535);
    FUZZ_CHECK(u->path[0] == '\0' || u->path[0] == '/');
    for (const char *p = u->path; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '#' && *p != '?');
    for (const char *p = u->query; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '#');
    if (!(flags & URL_ALLOW_QUERY))
        FUZZ_CHECK(u->query[0] == '\0');
    /* The authority starts with the host (bracketed for IPv6). */
    size_t hl = strlen(u->host);
    if (u->is_ipv6)
        FUZZ_CHECK(u->authority[0] == '[' && strncmp(u->authority + 1, u->host, hl) == 0 &&
                   u->authority[hl + 1] == ']');
    else
        FUZZ_CHECK(strncmp(u->authority, u->host, hl) == 0);
    (void)url_host_is_loopback(u->host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel = fuzz_selector(&data, &size);
    unsigned flags = (sel & 1) ? URL_ALLOW_QUERY : 0;
    char *url = malloc(size + 1);
    memcpy(url, data, size);
    url[size] = '\0';
    struct url_parts u;
    if (url_parse(url, flags, &u) == KG_OK) {
        check_parts(&u, flags);
        /* Rebuild and split again. */
        size_t cap = strlen(u.scheme) + 3 + sizeof u.authority + sizeof u.path + sizeof u.query + 2;
        char *again = malloc(cap);
        snprintf(again, cap, "%s://%s%s%s%s", u.scheme, u.authority, u.path,
                 strchr(url, '?') ? "?" : "", u.query);
        struct url_parts v;
        FUZZ_CHECK(url_parse(again, flags, &v) == KG_OK);
        FUZZ_CHECK(strcmp(u.scheme, v.scheme) == 0 && strcmp(u.host, v.host) == 0);
        FUZZ_CHECK(strcmp(u.authority, v.authority) == 0 && strcmp(u.path, v.path) == 0);
        FUZZ_CHECK(strcmp(u.query, v.query) == 0 && u.is_ipv6 == v.is_ipv6);
        /* The default port is dropped from the authority, so compare what is sent. */
        int default_port = strcmp(u.scheme, "https") == 0 ? 443 : 80;
        FUZZ_CHECK((u.port && u.port != default_port ? u.port : 0) ==
                   (v.port && v.port != default_port ? v.port : 0));
        free(again);
    }
    free(url);
    return 0;
}
