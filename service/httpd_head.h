/* kvsgate: the request-head checks, as pure functions (`httpd_head_`): no
 * libmicrohttpd, so that the fuzz target and the unit tests drive them
 * directly. service/httpd.c feeds them what libmicrohttpd parsed.
 *
 * libmicrohttpd is lenient where request smuggling and header injection live,
 * so the head is checked here, on the first call, before anything reads it
 * (RFC 9112 §3.2, §5, §6.3; RFC 9110 §5.5): a request that fails is answered
 * at once with a problem+json 400 (or 431) and the connection is closed.
 *   - the method and header names are tokens, header values hold no control
 *     bytes but HTAB;
 *   - HTTP/1.1 requests carry exactly one Host, HTTP/1.0 at most one, and a
 *     Host is host[:port] (authority bytes, no userinfo, no spaces);
 *   - Authorization and Content-Type come at most once (we would read one, a
 *     proxy in front may have read the other);
 *   - Content-Length is digits, and repeated only with the same value;
 *   - Transfer-Encoding is "chunked" alone, and never with Content-Length;
 *   - the head (request line and headers) fits max_header_bytes. libmicrohttpd's
 *     own memory for a connection is set above that budget (httpd_start), so
 *     a head over the budget reaches us and gets our 431; only one past
 *     libmicrohttpd's memory still gets libmicrohttpd's plain-text 431.
 */
#ifndef KG_SERVICE_HTTPD_HEAD_H
#define KG_SERVICE_HTTPD_HEAD_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/err.h"

/* What the headers of one request held, as far as the checks care. */
struct httpd_head {
    size_t bytes; /* request line and headers, as sent */
    unsigned host_count;
    int bad_host;
    unsigned length_count;
    int length_conflict;
    const char *length; /* borrowed from the caller's header */
    unsigned te_count;
    const char *te; /* borrowed */
    unsigned auth_count;
    unsigned ctype_count;
    int bad_name;
    int bad_value;
};

/* Starts a head with its request line. */
void httpd_head_init(struct httpd_head *hd, const char *method, const char *url,
                     const char *version);
/* Adds one header (value may be NULL: a header without one). */
void httpd_head_add(struct httpd_head *hd, const char *key, size_t key_len, const char *value,
                    size_t value_len);
/* KG_OK, or the error to answer with (KG_ERR_HEADERS_TOO_LARGE past
 * max_header_bytes, else KG_ERR_BAD_REQUEST) and *detail, a static phrase. */
KG_WARN_UNUSED enum kg_err httpd_head_check(const struct httpd_head *hd, const char *method,
                                            const char *version, size_t max_header_bytes,
                                            const char **detail);

/* A Content-Length value: digits only, at most 2^40; -1 when malformed. */
long long httpd_parse_length(const char *s);
/* "HOST:PORT" or "[V6]:PORT" (HOST empty: any IPv4 address) into a socket
 * address; *v6 says which family. KG_ERR_BAD_REQUEST when it is not that. */
KG_WARN_UNUSED enum kg_err httpd_parse_listen(const char *listen, struct sockaddr_storage *ss,
                                              socklen_t *len, int *v6);
/* The strict percent-decoding of a path or of one query name or value (after
 * libmicrohttpd split the query and turned '+' into ' '): a new string, or NULL
 * on a bad escape, a decoded NUL or more than max_len decoded bytes. */
char *httpd_decode_strict(const char *s, size_t max_len);

#endif
