/* kvsgate: what the httpd_ files share (not a contract for other layers: they
 * use httpd.h).
 *
 *   httpd.c       libmicrohttpd glue: requests, responses, start and stop
 *   httpd_conn.c  the connection registry and the slow-client sweeper
 *   httpd_head.c  the request-head checks, pure functions
 */
#ifndef KG_SERVICE_HTTPD_IMPL_H
#define KG_SERVICE_HTTPD_IMPL_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "service/httpd.h"

/* One connection's state, in the registry from MHD's "started" to its
 * "closed" notification. */
struct conn_state {
    int fd;
    char client_ip[INET6_ADDRSTRLEN]; /* formatted once per connection */
    _Atomic int64_t phase_start_ms; /* when receiving the current request began */
    _Atomic int busy;               /* a request is being handled or answered */
    int shut;
    struct conn_state *prev, *next;
};

struct httpd {
    struct MHD_Daemon *d;
    struct httpd_app app;
    struct httpd_options opts;
    unsigned port;
    _Atomic int draining;
    int listen_fd;
    pthread_mutex_t conns_lock;
    struct conn_state *conns;
    pthread_t sweeper;
    pthread_mutex_t sweeper_lock;
    pthread_cond_t sweeper_cond;
    int sweeper_stop;
    int sweeper_started;
    char *tls_cert;
    char *tls_key;
};

/* MHD_OPTION_NOTIFY_CONNECTION: registers and unregisters connections. */
void httpd_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);
/* The registered state of conn, or NULL. */
struct conn_state *httpd_conn_state(struct MHD_Connection *conn);
/* The peer's address as text ("unknown" when MHD has none). */
void httpd_peer_address(struct MHD_Connection *conn, char *out, size_t n);
/* The sweeper thread: shuts down connections that take longer than
 * connection_timeout_s to send one request (or, draining, sit idle). */
void httpd_sweeper_start(struct httpd *h);
void httpd_sweeper_stop(struct httpd *h);

#endif
