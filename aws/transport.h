/* kvsgate: the libcurl transport, the one implementation of core/http.h.
 *
 * One reused CURL easy handle per calling thread (libcurl forbids sharing a
 * handle across threads, and sharing a connection cache between concurrent
 * threads is unsupported in 7.88), so each thread keeps its connections and
 * TLS sessions alive to KVS. CURLOPT_NOSIGNAL, connect and total timeouts on
 * every transfer, response bodies bounded by the request's max_response_len,
 * response headers bounded by KG_HTTP_MAX_RESPONSE_HEADERS. HTTP only for
 * loopback/emulator URLs is the caller's choice; https verifies peers.
 *
 * libcurl is included in aws/transport.c and nowhere else.
 */
#ifndef KG_AWS_TRANSPORT_H
#define KG_AWS_TRANSPORT_H

#include "core/err.h"
#include "core/http.h"

struct transport_options {
    const char *user_agent; /* NULL: "kvsgate/<version>" */
    const char *ca_file;    /* NULL: the system store */
    long max_idle_connections_per_thread; /* 0: 8 */
};

/* Once, before any thread starts (curl_global_init). It also ignores SIGPIPE:
 * with CURLOPT_NOSIGNAL the application must (libcurl-thread(3)). */
KG_WARN_UNUSED enum kg_err transport_global_init(void);
void transport_global_cleanup(void);

/* A client (thread-safe). Free with transport_free after every user stopped. */
struct kg_http_client *transport_new(const struct transport_options *opts);
void transport_free(struct kg_http_client *client);

#endif
