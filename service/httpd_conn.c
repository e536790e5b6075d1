/* The connection registry and the sweeper (see httpd.c's design note): MHD
 * measures only inactivity, so a client that drips a byte a second keeps a
 * connection forever. Each connection carries its fd and when it began
 * receiving the current request; the sweeper shuts down the socket of any that
 * has been receiving one request for longer than connection_timeout_s (MHD
 * then sees the socket fail and closes it itself). The registry lock is held
 * both when MHD reports the connection closed (before it closes the fd) and
 * when the sweeper calls shutdown(), so the sweeper never touches a reused
 * descriptor. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "service/httpd_impl.h"

static struct kg_metric *metric_slow_clients;

void httpd_peer_address(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, n, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
}

struct conn_state *httpd_conn_state(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void httpd_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe)
{
    struct httpd *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_state *cs = kg_calloc(1, sizeof *cs);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        cs->fd = ci ? ci->connect_fd : -1;
        httpd_peer_address(conn, cs->client_ip, sizeof cs->client_ip);
        atomic_store(&cs->phase_start_ms, kg_mono_ms());
        pthread_mutex_lock(&h->conns_lock);
        cs->next = h->conns;
        if (h->conns)
            h->conns->prev = cs;
        h->conns = cs;
        pthread_mutex_unlock(&h->conns_lock);
        *socket_context = cs;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_state *cs = *socket_context;
        if (!cs)
            return;
        pthread_mutex_lock(&h->conns_lock);
        if (cs->prev)
            cs->prev->next = cs->next;
        else
            h->conns = cs->next;
        if (cs->next)
            cs->next->prev = cs->prev;
        pthread_mutex_unlock(&h->conns_lock);
        free(cs);
        *socket_context = NULL;
    }
}

static void *sweeper_main(void *arg)
{
    struct httpd *h = arg;
    const int64_t limit_ms = (int64_t)h->opts.connection_timeout_s * 1000;
    pthread_mutex_lock(&h->sweeper_lock);
    while (!h->sweeper_stop) {
        kg_cond_wait_until(&h->sweeper_cond, &h->sweeper_lock, kg_mono_ms() + 250);
        if (h->sweeper_stop)
            break;
        int64_t now = kg_mono_ms();
        int draining = atomic_load(&h->draining);
        unsigned closed = 0;
        pthread_mutex_lock(&h->conns_lock);
        for (struct conn_state *cs = h->conns; cs; cs = cs->next) {
            if (cs->shut || cs->fd < 0 || atomic_load(&cs->busy))
                continue;
            int64_t age = now - atomic_load(&cs->phase_start_ms);
            /* While draining, idle keep-alive connections are closed at once. */
            if (age > limit_ms || (draining && age > 100)) {
                shutdown(cs->fd, SHUT_RDWR);
                cs->shut = 1;
                if (!draining)
                    closed++;
            }
        }
        pthread_mutex_unlock(&h->conns_lock);
        if (closed) {
            kg_metric_add(metric_slow_clients, NULL, closed);
            struct kg_log_line l;
            if (kg_log_begin(&l, KG_LOG_WARN, "slow_clients_closed")) {
                kg_log_int(&l, "connections", closed);
                kg_log_int(&l, "limit_s", h->opts.connection_timeout_s);
                kg_log_end(&l);
            }
        }
    }
    pthread_mutex_unlock(&h->sweeper_lock);
    return NULL;
}

void httpd_sweeper_start(struct httpd *h)
{
    metric_slow_clients = kg_metric_counter(
        "kvsgate_http_slow_clients_closed_total",
        "Connections shut down for taking longer than the connection timeout to send a request.",
        "");
    pthread_mutex_init(&h->sweeper_lock, NULL);
    kg_cond_init_mono(&h->sweeper_cond);
    if (pthread_create(&h->sweeper, NULL, sweeper_main, h) == 0)
        h->sweeper_started = 1;
}

void httpd_sweeper_stop(struct httpd *h)
{
    if (h->sweeper_started) {
        pthread_mutex_lock(&h->sweeper_lock);
        h->sweeper_stop = 1;
        pthread_cond_signal(&h->sweeper_cond);
        pthread_mutex_unlock(&h->sweeper_lock);
        pthread_join(h->sweeper, NULL);
        h->sweeper_started = 0;
    }
    pthread_mutex_destroy(&h->sweeper_lock);
    pthread_cond_destroy(&h->sweeper_cond);
}
