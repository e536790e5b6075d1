/* Design note. libmicrohttpd (MHD) calls on_access several times per request:
 * once when the headers are in (we allocate the request context there), once
 * per body chunk, and once more when the body is complete (we dispatch to the
 * app there). A suspended request is resumed by another thread; MHD then calls
 * on_access again and we queue the response the app prepared. The context is
 * freed in MHD's completion callback, the one place a request ends, whatever
 * happened to it.
 *
 * MHD's own URI unescaping is replaced by a no-op so that this file decodes the
 * path and query strictly (%00, bad escapes and, in the path, an encoded '/'
 * refused) instead of MHD silently truncating at a decoded NUL.
 *
 * The request head is checked by httpd_head.c (pure functions) on the first
 * call, from what MHD parsed. MHD measures only inactivity, so connections are
 * kept in a registry and a sweeper closes slow ones (httpd_conn.c).
 */
#include "service/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/encode.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "service/httpd_head.h"
#include "service/httpd_impl.h"

#define RESPONSE_HEADERS_MAX 24
#define RESPONSE_HEADER_BYTES_MAX (16 * 1024)
#define QUERY_ARGS_MAX 16
#define METHOD_MAX 16
#define PATH_MAX_BYTES 8192 /* the path (the query comes apart, from libmicrohttpd) */


struct query_arg {
    char *name;
    char *value;
    int repeated;
};

struct httpd_request {
    struct httpd *h;
    struct MHD_Connection *conn;
    struct conn_state *cs;
    int64_t started_us;
    char method[METHOD_MAX];
    char *path;
    enum kg_err path_err;
    const char *path_detail; /* static phrase for path_err */
    enum kg_err limit_err;
    const char *limit_detail; /* static phrase for limit_err, or NULL */
    struct kg_buf body;
    int dispatched;
    int suspended;
    int early; /* answered on the first call, before the body */
    struct query_arg query[QUERY_ARGS_MAX];
    size_t query_count;
    enum kg_err query_err;
    char client_ip[INET6_ADDRSTRLEN];
    /* response */
    int status;
    char *content_type;
    char *resp_body;
    size_t resp_len;
    int resp_secret; /* wipe the body before its memory is freed */
    /* Response headers: name and value, NUL-terminated, one after the other
     * in header_text (one allocation for all), found by their offsets. */
    struct {
        size_t name_off, value_off;
    } headers[RESPONSE_HEADERS_MAX];
    size_t header_count;
    struct kg_buf header_text;
    void *app_data;
    void (*app_free)(void *);
};



/* ---- strict decoding -------------------------------------------------------------- */

static size_t unescape_noop(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}


static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct httpd_request *r = cls;
    if (r->query_count == QUERY_ARGS_MAX) {
        r->query_err = KG_ERR_BAD_REQUEST;
        return MHD_NO;
    }
    char *name = httpd_decode_strict(key, 1024);
    char *val = httpd_decode_strict(value ? value : "", 4096);
    if (!name || !val) {
        free(name);
        free(val);
        r->query_err = KG_ERR_BAD_REQUEST;
        return MHD_YES;
    }
    for (size_t i = 0; i < r->query_count; i++) {
        if (strcmp(r->query[i].name, name) == 0) {
            r->query[i].repeated = 1;
            free(name);
            free(val);
            return MHD_YES;
        }
    }
    r->query[r->query_count].name = name;
    r->query[r->query_count].value = val;
    r->query[r->query_count].repeated = 0;
    r->query_count++;
    return MHD_YES;
}

/* ---- responses -------------------------------------------------------------------- */

static void body_free(struct httpd_request *r)
{
    if (r->resp_body && r->resp_secret)
        kg_wipe(r->resp_body, r->resp_len);
    free(r->resp_body);
    r->resp_body = NULL;
    r->resp_len = 0;
}

void httpd_respond_take(struct httpd_request *r, int status, const char *content_type,
                        char *body, size_t body_len, int secret)
{
    body_free(r);
    free(r->content_type);
    r->status = status;
    r->content_type = content_type ? kg_strdup(content_type) : NULL;
    r->resp_body = body;
    r->resp_len = body ? body_len : 0;
    r->resp_secret = secret;
}

void httpd_respond(struct httpd_request *r, int status, const char *content_type,
                   const char *body, size_t body_len)
{
    char *copy = NULL;
    if (body && body_len) {
        copy = kg_malloc(body_len);
        memcpy(copy, body, body_len);
    }
    httpd_respond_take(r, status, content_type, copy, copy ? body_len : 0, 0);
}

void httpd_add_header(struct httpd_request *r, const char *name, const char *value)
{
    if (r->header_count == RESPONSE_HEADERS_MAX)
        return;
    struct kg_buf *t = &r->header_text;
    size_t start = t->len, name_len = strlen(name), value_len = strlen(value);
    if (!t->cap)
        kg_buf_presize(t, 512); /* the usual headers of an answer: one allocation */
    if (kg_buf_append(t, name, name_len + 1) != KG_OK ||
        kg_buf_append(t, value, value_len + 1) != KG_OK) {
        kg_buf_truncate(t, start);
        return; /* past the header budget of a response: never one of ours */
    }
    r->headers[r->header_count].name_off = start;
    r->headers[r->header_count].value_off = start + name_len + 1;
    r->header_count++;
}

int httpd_status(const struct httpd_request *r) { return r->status; }
size_t httpd_response_bytes(const struct httpd_request *r) { return r->resp_len; }

/* A secret body handed to libmicrohttpd: wiped by its free callback. */
struct secret_body {
    char *data;
    size_t len;
};

static void secret_body_free(void *cls)
{
    struct secret_body *b = cls;
    kg_wipe(b->data, b->len);
    free(b->data);
    free(b);
}

static enum MHD_Result queue_response(struct httpd_request *r)
{
    struct MHD_Response *resp;
    if (r->resp_len && r->resp_secret) {
        struct secret_body *b = kg_malloc(sizeof *b);
        b->data = r->resp_body;
        b->len = r->resp_len;
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r->resp_len, r->resp_body,
                                                                       secret_body_free, b);
        if (resp)
            r->resp_body = NULL; /* MHD calls secret_body_free */
        else
            free(b);
    } else if (r->resp_len) {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp_body, MHD_RESPMEM_MUST_FREE);
        if (resp)
            r->resp_body = NULL; /* MHD frees it */
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    if (r->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (size_t i = 0; i < r->header_count; i++)
        MHD_add_response_header(resp, r->header_text.data + r->headers[i].name_off,
                                r->header_text.data + r->headers[i].value_off);
    /* A request refused on its head may have a body we never read: close. */
    if (atomic_load(&r->h->draining) || r->early)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)(r->status ? r->status : 500), resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- request lifecycle ------------------------------------------------------------- */

static void request_free(struct httpd_request *r)
{
    if (r->app_free && r->app_data)
        r->app_free(r->app_data);
    free(r->path);
    kg_buf_free(&r->body);
    for (size_t i = 0; i < r->query_count; i++) {
        free(r->query[i].name);
        free(r->query[i].value);
    }
    free(r->content_type);
    body_free(r);
    kg_buf_free(&r->header_text);
    free(r);
}








static enum MHD_Result head_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_len, const char *value, size_t value_len)
{
    (void)kind;
    httpd_head_add(cls, key, key_len, value, value_len);
    return MHD_YES;
}

/* KG_OK, or the error to answer with (and *detail, a static phrase). */
static enum kg_err check_head(struct httpd *h, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char **detail)
{
    struct httpd_head hd;
    httpd_head_init(&hd, method, url, version);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, head_header, &hd);
    return httpd_head_check(&hd, method, version, h->opts.max_header_bytes, detail);
}

static struct httpd_request *request_new(struct httpd *h, struct MHD_Connection *conn,
                                         const char *url, const char *method)
{
    struct httpd_request *r = kg_calloc(1, sizeof *r);
    r->h = h;
    r->conn = conn;
    r->cs = httpd_conn_state(conn);
    r->started_us = kg_mono_us();
    size_t mlen = strlen(method);
    if (mlen >= sizeof r->method) {
        mlen = sizeof r->method - 1; /* cut, and refused below */
        r->limit_err = KG_ERR_BAD_REQUEST;
        r->limit_detail = "the method is too long";
    }
    memcpy(r->method, method, mlen);
    r->method[mlen] = '\0';
    /* An encoded slash would be a segment separator to us and part of a name
     * to a proxy that routes on the raw path: refused, as no name holds one. */
    int encoded_slash = strstr(url, "%2F") || strstr(url, "%2f");
    int too_long = strlen(url) > PATH_MAX_BYTES;
    r->path = too_long || encoded_slash ? NULL : httpd_decode_strict(url, PATH_MAX_BYTES);
    if (!r->path) {
        r->path = kg_strdup("");
        r->path_err = KG_ERR_BAD_REQUEST;
        r->path_detail = encoded_slash ? "an encoded slash (%2F) in the path"
                                       : "malformed path (a bad percent escape or an encoded NUL)";
        if (too_long && r->limit_err == KG_OK) {
            r->limit_err = KG_ERR_BAD_REQUEST;
            r->limit_detail = "the path and query are too long";
        }
    }
    kg_buf_init(&r->body, h->opts.max_body_bytes);
    kg_buf_init(&r->header_text, RESPONSE_HEADER_BYTES_MAX);
    if (r->cs)
        memcpy(r->client_ip, r->cs->client_ip, sizeof r->client_ip);
    else
        httpd_peer_address(conn, r->client_ip, sizeof r->client_ip);
    return r;
}

static enum MHD_Result dispatch(struct httpd *h, struct httpd_request *r)
{
    r->dispatched = 1;
    if (r->cs)
        atomic_store(&r->cs->busy, 1);
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_query, r);
    enum httpd_action a = h->app.on_request(r, h->app.app);
    if (a == HTTPD_SUSPENDED)
        return MHD_YES;
    return queue_response(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    struct httpd *h = cls;
    struct httpd_request *r = *req_cls;
    if (!r) {
        r = request_new(h, conn, url, method);
        *req_cls = r;
        const char *detail = NULL;
        enum kg_err head_err = check_head(h, conn, url, method, version, &detail);
        if (head_err != KG_OK) {
            r->limit_err = head_err;
            r->limit_detail = detail;
            r->early = 1;
            return dispatch(h, r);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        long long len = cl ? httpd_parse_length(cl) : 0;
        if (len < 0 || (size_t)len > h->opts.max_body_bytes) {
            /* Answer before reading the body: MHD then skips it and closes. */
            r->limit_err = len < 0 ? KG_ERR_BAD_REQUEST : KG_ERR_PAYLOAD_TOO_LARGE;
            r->limit_detail = len < 0 ? "malformed Content-Length" : "the request body is too large";
            r->early = 1;
            return dispatch(h, r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->early || r->dispatched) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (kg_buf_append(&r->body, upload_data, *upload_data_size) != KG_OK) {
            r->limit_err = KG_ERR_PAYLOAD_TOO_LARGE; /* keep draining; answer 413 at the end */
            r->limit_detail = "the request body is too large";
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->suspended) {
        /* Resumed: the app set the response from another thread. */
        r->suspended = 0;
        return queue_response(r);
    }
    if (r->dispatched)
        return MHD_YES;
    return dispatch(h, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct httpd *h = cls;
    struct httpd_request *r = *req_cls;
    struct conn_state *cs = httpd_conn_state(conn);
    if (cs) {
        atomic_store(&cs->phase_start_ms, kg_mono_ms());
        atomic_store(&cs->busy, 0);
    }
    if (!r)
        return;
    *req_cls = NULL;
    if (h->app.on_complete && r->dispatched)
        h->app.on_complete(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, h->app.app);
    request_free(r);
}


/* ---- daemon ------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt,
                                                              va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    kg_log_msg(KG_LOG_DEBUG, "httpd", "%s", msg);
}


/* libmicrohttpd's memory per connection: the header budget plus 8 KiB, room
 * for the parsed header records and the response head, so every head within
 * the budget is served (up to about 200 headers: their parsed records share
 * the pool) and one a little past it (up to about 6 KiB more, fewer
 * with many small headers) gets our problem+json 431 rather than
 * libmicrohttpd's own. Not more: libmicrohttpd 0.9.75 zeroes the whole pool
 * before every request on a connection (MHD_pool_reset) and zeroes again the
 * unused half it first gave the read buffer once the head is in
 * (MHD_pool_reallocate), so every KiB here costs 1.5 KiB of memset per
 * request; at the budget + 16 KiB that was a third of the instructions of a
 * warm request (bench/README.md, "The warm path"). */
static size_t httpd_mhd_memory(size_t max_header_bytes) { return max_header_bytes + 8 * 1024; }

/* Longer than a screen on purpose: most of it is the one MHD_start_daemon
 * call with its options, which reads best whole. */
enum kg_err httpd_start(const struct httpd_options *opts, const struct httpd_app *app,
                        struct httpd **out, char *why, size_t why_len)
{
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int v6 = 0;
    if (httpd_parse_listen(opts->listen, &ss, &ss_len, &v6) != KG_OK) {
        snprintf(why, why_len, "'%s' is not HOST:PORT (an IP address and a port)",
                 opts->listen ? opts->listen : "");
        return KG_ERR_BAD_REQUEST;
    }
    struct httpd *h = kg_calloc(1, sizeof *h);
    h->app = *app;
    h->opts = *opts;
    if (!h->opts.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        h->opts.threads = n > 0 ? (unsigned)n : 1;
    }
    if (!h->opts.max_connections)
        h->opts.max_connections = 1024;
    if (!h->opts.connection_timeout_s)
        h->opts.connection_timeout_s = 15;
    if (!h->opts.max_body_bytes)
        h->opts.max_body_bytes = 16 * 1024;
    if (!h->opts.max_header_bytes)
        h->opts.max_header_bytes = 32 * 1024;
    h->listen_fd = -1;
    pthread_mutex_init(&h->conns_lock, NULL);

    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (opts->tls_cert_pem && opts->tls_key_pem) {
        flags |= MHD_USE_TLS;
        h->tls_cert = kg_strdup(opts->tls_cert_pem);
        h->tls_key = kg_strdup(opts->tls_key_pem);
    }
    struct MHD_OptionItem tls_opts[3] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!h->tls_cert)
        tls_opts[0].option = MHD_OPTION_END;
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)h->opts.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)h->opts.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)h->opts.max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->opts.connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, httpd_mhd_memory(h->opts.max_header_bytes),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, httpd_conn_notify, h,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_noop, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!h->d) {
        snprintf(why, why_len, "cannot listen on %s (%s)", opts->listen,
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        free(h->tls_cert);
        kg_free_secret(h->tls_key);
        pthread_mutex_destroy(&h->conns_lock);
        free(h);
        return KG_ERR_UNAVAILABLE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    const union MHD_DaemonInfo *li = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
    h->listen_fd = li ? li->listen_fd : -1;
    httpd_sweeper_start(h);
    *out = h;
    return KG_OK;
}

unsigned httpd_port(const struct httpd *h) { return h->port; }

unsigned httpd_connection_count(const struct httpd *h)
{
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di ? di->num_connections : 0;
}

void httpd_stop(struct httpd *h, int64_t timeout_ms)
{
    if (!h)
        return;
    atomic_store(&h->draining, 1);
    MHD_socket lfd = MHD_quiesce_daemon(h->d);
    /* Refuse new connections at once instead of leaving them in the backlog;
     * the descriptor itself may only be closed after MHD_stop_daemon. */
    if (lfd != MHD_INVALID_SOCKET)
        shutdown(lfd, SHUT_RDWR);
    int64_t deadline = kg_mono_ms() + timeout_ms;
    while (httpd_connection_count(h) > 0 && kg_mono_ms() < deadline)
        usleep(20 * 1000);
    unsigned left = httpd_connection_count(h);
    if (left) {
        struct kg_log_line l;
        if (kg_log_begin(&l, KG_LOG_WARN, "drain_timeout")) {
            kg_log_int(&l, "connections_left", left);
            kg_log_end(&l);
        }
    }
    httpd_sweeper_stop(h);
    MHD_stop_daemon(h->d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    pthread_mutex_destroy(&h->conns_lock);
    if (h->tls_key)
        kg_wipe(h->tls_key, strlen(h->tls_key));
    free(h->tls_key);
    free(h->tls_cert);
    free(h);
}

/* ---- accessors ---------------------------------------------------------------------- */

const char *httpd_method(const struct httpd_request *r) { return r->method; }
const char *httpd_path(const struct httpd_request *r) { return r->path; }

const char *httpd_error_detail(const struct httpd_request *r)
{
    if (r->limit_err != KG_OK)
        return r->limit_detail;
    if (r->path_err != KG_OK)
        return r->path_detail;
    if (r->query_err != KG_OK)
        return "malformed query (a bad percent escape, an encoded NUL or too many parameters)";
    return NULL;
}

enum kg_err httpd_path_error(const struct httpd_request *r)
{
    if (r->limit_err != KG_OK)
        return r->limit_err;
    if (r->path_err != KG_OK)
        return r->path_err;
    return r->query_err;
}

const char *httpd_header(const struct httpd_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct last_header {
    const char *name;
    const char *value;
};

static enum MHD_Result last_header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct last_header *l = cls;
    if (key && strcasecmp(key, l->name) == 0)
        l->value = value;
    return MHD_YES;
}

const char *httpd_header_last(const struct httpd_request *r, const char *name)
{
    struct last_header l = {name, NULL};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, last_header_cb, &l);
    return l.value;
}

const char *httpd_query(const struct httpd_request *r, const char *name, enum kg_err *err)
{
    for (size_t i = 0; i < r->query_count; i++) {
        if (strcmp(r->query[i].name, name) == 0) {
            if (r->query[i].repeated) {
                if (err)
                    *err = KG_ERR_BAD_REQUEST;
                return NULL;
            }
            return r->query[i].value;
        }
    }
    return NULL;
}


const char *httpd_body(const struct httpd_request *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data;
}

const char *httpd_client_ip(const struct httpd_request *r) { return r->client_ip; }

void httpd_set_app_data(struct httpd_request *r, void *data, void (*free_fn)(void *))
{
    r->app_data = data;
    r->app_free = free_fn;
}

void *httpd_app_data(const struct httpd_request *r) { return r->app_data; }
int64_t httpd_started_us(const struct httpd_request *r) { return r->started_us; }

void httpd_suspend(struct httpd_request *r)
{
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
}

void httpd_resume(struct httpd_request *r) { MHD_resume_connection(r->conn); }
