#include "core/url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/num.h"

static int url_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

/* Path and query bytes: printable ASCII without space, '#', and (for a path)
 * '?'. Percent signs are kept as they are. */
static int url_path_char(unsigned char c) { return c > 0x20 && c < 0x7f && c != '#'; }

/* Longer than a screen on purpose: one pass over the URL, part by part
 * (scheme, host, port, authority, path, query), each refusing before the next. */
enum kg_err url_parse(const char *url, unsigned flags, struct url_parts *out)
{
    memset(out, 0, sizeof *out);
    if (!url)
        return KG_ERR_BAD_REQUEST;
    const char *p;
    if (strncmp(url, "https://", 8) == 0) {
        memcpy(out->scheme, "https", 6);
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        memcpy(out->scheme, "http", 5);
        p = url + 7;
    } else {
        return KG_ERR_BAD_REQUEST;
    }

    /* Host. */
    size_t hlen;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close)
            return KG_ERR_BAD_REQUEST;
        hlen = (size_t)(close - p - 1);
        if (hlen == 0 || hlen > URL_HOST_MAX)
            return KG_ERR_BAD_REQUEST;
        memcpy(out->host, p + 1, hlen);
        out->host[hlen] = '\0';
        unsigned char addr[16];
        if (inet_pton(AF_INET6, out->host, addr) != 1)
            return KG_ERR_BAD_REQUEST;
        out->is_ipv6 = 1;
        p = close + 1;
    } else {
        hlen = 0;
        while (url_host_char(p[hlen]))
            hlen++;
        if (hlen == 0 || hlen > URL_HOST_MAX)
            return KG_ERR_BAD_REQUEST;
        memcpy(out->host, p, hlen);
        out->host[hlen] = '\0';
        p += hlen;
    }

    /* Port. */
    if (*p == ':') {
        p++;
        size_t digits = strspn(p, "0123456789");
        int64_t port;
        if (digits > 6 || !kg_parse_int64n(p, digits, 1, 65535, &port))
            return KG_ERR_BAD_REQUEST;
        out->port = (int)port;
        p += digits;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return KG_ERR_BAD_REQUEST;

    int default_port = strcmp(out->scheme, "https") == 0 ? 443 : 80;
    int n;
    const char *lb = out->is_ipv6 ? "[" : "", *rb = out->is_ipv6 ? "]" : "";
    if (out->port && out->port != default_port)
        n = snprintf(out->authority, sizeof out->authority, "%s%s%s:%d", lb, out->host, rb,
                     out->port);
    else
        n = snprintf(out->authority, sizeof out->authority, "%s%s%s", lb, out->host, rb);
    if (n < 0 || (size_t)n >= sizeof out->authority)
        return KG_ERR_BAD_REQUEST;

    /* Path. */
    size_t plen = 0;
    while (p[plen] && p[plen] != '?') {
        if (!url_path_char((unsigned char)p[plen]))
            return KG_ERR_BAD_REQUEST;
        plen++;
    }
    if (plen > URL_PATH_MAX)
        return KG_ERR_BAD_REQUEST;
    memcpy(out->path, p, plen);
    out->path[plen] = '\0';
    p += plen;

    /* Query. */
    if (*p == '?') {
        if (!(flags & URL_ALLOW_QUERY))
            return KG_ERR_BAD_REQUEST;
        p++;
        size_t qlen = strlen(p);
        if (qlen > URL_PATH_MAX)
            return KG_ERR_BAD_REQUEST;
        for (size_t i = 0; i < qlen; i++)
            if (!url_path_char((unsigned char)p[i]))
                return KG_ERR_BAD_REQUEST;
        memcpy(out->query, p, qlen + 1);
    }
    return KG_OK;
}

int url_host_is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(a, one, 16) == 0;
    }
    return 0;
}

int url_host_is_link_local(const char *host)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 169 && a[1] == 254;
    if (inet_pton(AF_INET6, host, a) != 1)
        return 0;
    static const unsigned char ec2[14] = {0xfd, 0x00, 0x0e, 0xc2};
    return (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
           (memcmp(a, ec2, 14) == 0 && ((a[14] == 0x02 && a[15] == 0x54) || /* ::254 */
                                        (a[14] == 0x00 && a[15] == 0x23)));  /* ::23 */
}
