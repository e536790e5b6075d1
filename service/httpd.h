/* kvsgate: the HTTP server (`httpd_`), a thin layer over libmicrohttpd.
 *
 * libmicrohttpd runs in its fastest mode here (epoll, a pool of N threads,
 * suspend/resume: measured ~160k req/s against ~109k for thread-per-connection,
 * where suspend/resume also proved unreliable). The application sees a
 * complete request (headers and a bounded body) in one call, on an HTTP thread,
 * and either answers at once or takes the request away (httpd_suspend) to
 * answer from another thread later (httpd_resume), so HTTP threads never block
 * on AWS.
 *
 * Lifetimes: a struct httpd_request is allocated when a request's headers
 * arrive and freed, with the app's per-request data, after its response was
 * sent or the connection broke (libmicrohttpd's completion callback). The
 * request accessors (method, path, headers, query, body) are valid only during
 * the on_request call: copy what a deferred job needs.
 *
 * Limits: body size (413 before the body is read when Content-Length says so,
 * after reading otherwise), head size (431 problem+json above max_header_bytes;
 * libmicrohttpd's own plain 431 only past that + 16 KiB), a strict request head
 * (Host, Content-Length, Transfer-Encoding, header bytes: 400 otherwise; see
 * check_head in httpd.c), connections in total and per IP, inactivity timeout,
 * and a hard time to receive each request (a sweeper shuts down connections
 * that dribble a request for longer, which libmicrohttpd's inactivity timer
 * alone does not catch).
 *
 * libmicrohttpd is included in service/httpd.c and nowhere else.
 */
#ifndef KG_SERVICE_HTTPD_H
#define KG_SERVICE_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct httpd;
struct httpd_request;

enum httpd_action {
    HTTPD_RESPOND = 0, /* the response is set: send it */
    HTTPD_SUSPENDED,   /* httpd_suspend was called: the app answers later */
};

struct httpd_app {
    /* A complete request arrived. Set the response (httpd_respond*) and return
     * HTTPD_RESPOND, or call httpd_suspend and return HTTPD_SUSPENDED. */
    enum httpd_action (*on_request)(struct httpd_request *req, void *app);
    /* The request is over (sent, or the connection broke: completed_ok 0).
     * For access logs and metrics; the request is freed right after. */
    void (*on_complete)(struct httpd_request *req, int completed_ok, void *app);
    void *app;
};

struct httpd_options {
    const char *listen;              /* "HOST:PORT", "[V6]:PORT" or ":PORT"; port 0 picks one */
    unsigned threads;                /* 0: number of CPUs */
    unsigned max_connections;        /* 0: 1024 */
    unsigned max_connections_per_ip; /* 0: unlimited */
    unsigned connection_timeout_s;   /* inactivity and per-request receive limit; 0: 15 */
    size_t max_body_bytes;           /* 0: 16 KiB */
    size_t max_header_bytes;         /* request line + headers; 0: 32 KiB (431 above) */
    const char *tls_cert_pem;        /* NULL: plain HTTP */
    const char *tls_key_pem;
};

/* Starts listening. On failure returns KG_ERR_BAD_REQUEST (bad listen address)
 * or KG_ERR_UNAVAILABLE (cannot bind/start) with a reason in why. */
KG_WARN_UNUSED enum kg_err httpd_start(const struct httpd_options *opts,
                                       const struct httpd_app *app, struct httpd **out,
                                       char *why, size_t why_len);
/* The bound port (useful with port 0). */
unsigned httpd_port(const struct httpd *h);
/* Open connections right now. */
unsigned httpd_connection_count(const struct httpd *h);

/* Graceful stop: stop accepting (the listen socket is closed at once so load
 * balancers fail over), answer in-flight requests with Connection: close, wait
 * up to timeout_ms for connections to end, then stop. Suspended requests must
 * have been resumed by then (the app bounds their time). Frees h. */
void httpd_stop(struct httpd *h, int64_t timeout_ms);

/* ---- inside on_request ----------------------------------------------------- */

const char *httpd_method(const struct httpd_request *r);
/* The path, percent-decoded strictly (KG_ERR_BAD_REQUEST from httpd_path_error
 * when it had a bad escape or a NUL; the path is then ""). */
const char *httpd_path(const struct httpd_request *r);
enum kg_err httpd_path_error(const struct httpd_request *r);
/* A short phrase (static, safe to show) saying what httpd_path_error's error
 * was about, or NULL. */
const char *httpd_error_detail(const struct httpd_request *r);
/* A request header (case-insensitive), or NULL. */
const char *httpd_header(const struct httpd_request *r, const char *name);
/* The value of the last header line of that name (case-insensitive), or NULL:
 * for headers proxies append to, as X-Forwarded-For. */
const char *httpd_header_last(const struct httpd_request *r, const char *name);
/* A query argument, percent-decoded strictly ('+' is a space, as in forms:
 * encode a plus as %2B), or NULL when
 * absent. *err (optional) gets KG_ERR_BAD_REQUEST for a bad escape, a NUL,
 * or a repeated argument. */
const char *httpd_query(const struct httpd_request *r, const char *name, enum kg_err *err);
/* The body (NUL-terminated copy; len may hold NULs). */
const char *httpd_body(const struct httpd_request *r, size_t *len);
/* Client address as text. */
const char *httpd_client_ip(const struct httpd_request *r);

/* ---- any time while the request lives ------------------------------------------ */

/* Per-request app data, freed with free_fn when the request ends. */
void httpd_set_app_data(struct httpd_request *r, void *data, void (*free_fn)(void *));
void *httpd_app_data(const struct httpd_request *r);
/* Monotonic microseconds when the request's headers were complete. */
int64_t httpd_started_us(const struct httpd_request *r);

/* Sets the response: status, content type (NULL: none) and body (copied). */
void httpd_respond(struct httpd_request *r, int status, const char *content_type,
                   const char *body, size_t body_len);
/* Same, taking ownership of a malloc'ed body. A secret body (TURN
 * credentials, a URL signed with a session token) is wiped before its memory
 * is freed, by libmicrohttpd's free callback once it is sent. */
void httpd_respond_take(struct httpd_request *r, int status, const char *content_type,
                        char *body, size_t body_len, int secret);
/* Adds a response header (copied). At most 24. */
void httpd_add_header(struct httpd_request *r, const char *name, const char *value);
int httpd_status(const struct httpd_request *r);
size_t httpd_response_bytes(const struct httpd_request *r);

/* Takes the request off the HTTP thread: call inside on_request, then return
 * HTTPD_SUSPENDED. Later, from any thread, set the response and call
 * httpd_resume exactly once. */
void httpd_suspend(struct httpd_request *r);
void httpd_resume(struct httpd_request *r);

/* ---- exposed for the fuzz targets and unit tests ------------------------------- */

/* httpd_decode_strict and the other head checks: service/httpd_head.h. */

#endif
