/* kvsgate: the outbound HTTP interface.
 *
 * Modules that talk to the network (credentials, the KVS client, the JWKS
 * fetcher) receive a `struct kg_http_client *` and never include libcurl: the
 * transport (aws/transport.c) is the one implementation that does, and unit
 * tests inject a fake that answers from a table (aws-c-auth's pattern), so they
 * need no network.
 *
 * perform() is thread-safe for the libcurl implementation (one reused easy
 * handle per calling thread, so connections and TLS sessions are reused).
 */
#ifndef KG_CORE_HTTP_H
#define KG_CORE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct kg_http_header {
    const char *name;
    const char *value;
};

struct kg_http_request {
    const char *method; /* "GET", "POST", "PUT" */
    const char *url;    /* absolute http:// or https:// URL */
    const struct kg_http_header *headers;
    size_t header_count;
    const void *body;
    size_t body_len;
    int64_t timeout_ms;         /* whole transfer; > 0 */
    int64_t connect_timeout_ms; /* > 0 */
    size_t max_response_len;    /* bytes of body kept; more fails the call */
    int direct;                 /* never through a proxy (credential endpoints) */
};

#define KG_HTTP_MAX_RESPONSE_HEADERS 32

struct kg_http_response {
    long status;
    struct kg_buf body;
    /* Response headers, names lower-cased, values trimmed. Owned. */
    struct {
        char *name;
        char *value;
    } headers[KG_HTTP_MAX_RESPONSE_HEADERS];
    size_t header_count;
};

void kg_http_response_init(struct kg_http_response *r);
void kg_http_response_cleanup(struct kg_http_response *r);
/* Value of a response header (case-insensitive name), or NULL. Borrowed. */
const char *kg_http_response_header(const struct kg_http_response *r, const char *name);

struct kg_http_client {
    /* Sends req and fills resp (initialized by the caller).
     * Returns KG_OK whenever an HTTP response arrived, whatever its status;
     * KG_ERR_UPSTREAM_TIMEOUT when a timeout passed; KG_ERR_UPSTREAM_UNAVAILABLE
     * when the connection failed or broke (refused, reset, DNS, TLS);
     * KG_ERR_UPSTREAM_REFUSED when the body passed max_response_len;
     * KG_ERR_BAD_REQUEST for a malformed request. */
    enum kg_err (*perform)(struct kg_http_client *self, const struct kg_http_request *req,
                           struct kg_http_response *resp);
    void *impl;
};

static inline enum kg_err kg_http_perform(struct kg_http_client *c,
                                          const struct kg_http_request *req,
                                          struct kg_http_response *resp)
{
    return c->perform(c, req, resp);
}

#endif
