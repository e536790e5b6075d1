/* kvsgate: a strict splitter for the few absolute http(s) URLs kvsgate builds
 * requests from (KVS and STS endpoints, channel HTTPS endpoints, the
 * container-credentials URI, the IMDS endpoint, the JWKS URL). In core/ so
 * that aws/, auth/ and the settings share one rule.
 *
 * It is not a general URL parser: it accepts scheme "http" or "https", a host
 * (DNS name, IPv4 literal or bracketed IPv6 literal), an optional decimal
 * port, an optional path and, only when asked, a query. It refuses userinfo,
 * fragments, whitespace, control bytes and anything it does not understand, so
 * the Host header we sign is the one libcurl sends.
 */
#ifndef KG_CORE_URL_H
#define KG_CORE_URL_H

#include "core/err.h"

#define URL_HOST_MAX 255
#define URL_PATH_MAX 1023

struct url_parts {
    char scheme[8];                  /* "http" or "https" */
    char host[URL_HOST_MAX + 1];     /* without brackets for IPv6 literals */
    int port;                        /* 0 when absent */
    char authority[URL_HOST_MAX + 9]; /* Host header: host[:port], brackets kept,
                                        the scheme's default port dropped */
    char path[URL_PATH_MAX + 1];     /* "" when absent; starts with '/' otherwise */
    char query[URL_PATH_MAX + 1];    /* without '?'; "" when absent */
    int is_ipv6;
};

#define URL_ALLOW_QUERY 1u

/* Splits url into parts. KG_ERR_BAD_REQUEST for anything outside the subset
 * described above (or a query without URL_ALLOW_QUERY). */
KG_WARN_UNUSED enum kg_err url_parse(const char *url, unsigned flags, struct url_parts *out);

/* True when host (as url_parse leaves it) is a loopback address: 127.0.0.0/8,
 * ::1 or the name "localhost". */
int url_host_is_loopback(const char *host);

/* True when host is a link-local address (169.254.0.0/16, fe80::/10: the
 * instance metadata and container credential endpoints) or one of the IPv6
 * addresses AWS gives them (fd00:ec2::254 IMDS, fd00:ec2::23 EKS Pod
 * Identity). */
int url_host_is_link_local(const char *host);

#endif
