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

/* Proxies, as the AWS SDKs take them (the settings HTTPS_PROXY, HTTP_PROXY,
 * NO_PROXY): https URLs through https_proxy, http URLs through http_proxy,
 * hosts matching no_proxy (curl's list: names, domains, addresses) direct.
 * Requests marked direct (credential endpoints: IMDS, ECS/EKS container
 * endpoints), loopback and link-local hosts never use a proxy. libcurl's own
 * reading of http_proxy / ALL_PROXY is switched off: only these apply. */
struct transport_options {
    const char *user_agent; /* NULL: "kvsgate/<version>" */
    const char *ca_file;    /* NULL: the system store */
    long max_idle_connections_per_thread; /* 0: 8 */
    const char *https_proxy; /* NULL: none (may hold user:password@: never logged) */
    const char *http_proxy;  /* NULL: none */
    const char *no_proxy;    /* NULL: none */
};

/* Once, before any thread starts (curl_global_init). It also ignores SIGPIPE:
 * with CURLOPT_NOSIGNAL the application must (libcurl-thread(3)). */
KG_WARN_UNUSED enum kg_err transport_global_init(void);
void transport_global_cleanup(void);

/* A client (thread-safe). Free with transport_free after every user stopped. */
struct kg_http_client *transport_new(const struct transport_options *opts);
void transport_free(struct kg_http_client *client);

#endif
