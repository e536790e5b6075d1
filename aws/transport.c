/* The libcurl transport: the one file that includes curl.
 *
 * Design: each client keeps one easy handle per calling thread in a pthread key
 * (libcurl forbids sharing a handle between threads; sharing a connection
 * cache between concurrent threads is unsupported in 7.88, LIBRARIES.md §3.2).
 * The handle is curl_easy_reset before every transfer, which clears options but
 * keeps its live connections, DNS cache and TLS session cache, so a thread
 * that calls KVS again reuses its connection. The handles of a client are also
 * linked in a list so transport_free can clean up those of threads that are
 * still alive; a thread that exits first cleans its own through the key's
 * destructor.
 *
 * The request headers (Authorization, x-amz-security-token, a container
 * authorization token) are wiped from our header list after the transfer.
 */
#include "aws/transport.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "core/version.h"

/* Longest response header name and value we keep; longer ones are dropped. */
#define TP_HEADER_NAME_MAX 128
#define TP_HEADER_VALUE_MAX 4096
/* Longest request header line we build: room for the longest session token a
 * credential source may hand us (CREDS_TOKEN_MAX, 16 KiB) and its name. */
#define TP_REQUEST_HEADER_MAX (16384 + 256)

struct tp_handle {
    CURL *easy;
    struct transport *owner;
    struct tp_handle *prev, *next;
};

struct transport {
    struct kg_http_client client; /* first: the public face */
    char *user_agent;
    char *ca_file;
    char *https_proxy, *http_proxy, *no_proxy; /* NULL: none */
    long max_idle;
    pthread_key_t key;
    pthread_mutex_t lock; /* guards handles */
    struct tp_handle *handles;
};

struct tp_xfer {
    struct kg_http_response *resp;
    int too_large;
};

static pthread_once_t tp_global_once = PTHREAD_ONCE_INIT;
static CURLcode tp_global_rc = CURLE_FAILED_INIT;

static void tp_global_init_once(void)
{
    /* With CURLOPT_NOSIGNAL the application handles SIGPIPE (libcurl-thread(3)). */
    signal(SIGPIPE, SIG_IGN);
    tp_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum kg_err transport_global_init(void)
{
    pthread_once(&tp_global_once, tp_global_init_once);
    if (tp_global_rc != CURLE_OK) {
        kg_log_msg(KG_LOG_ERROR, "transport_init_failed", "curl_global_init: %s",
                   curl_easy_strerror(tp_global_rc));
        return KG_ERR_INTERNAL;
    }
    return KG_OK;
}

void transport_global_cleanup(void)
{
    if (tp_global_rc == CURLE_OK)
        curl_global_cleanup();
}

/* ---- per-thread handles --------------------------------------------------- */

static void tp_handle_unlink(struct transport *t, struct tp_handle *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        t->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

/* The key's destructor: runs in a thread that exits while the client lives. */
static void tp_handle_destroy(void *p)
{
    struct tp_handle *h = p;
    pthread_mutex_lock(&h->owner->lock);
    tp_handle_unlink(h->owner, h);
    pthread_mutex_unlock(&h->owner->lock);
    curl_easy_cleanup(h->easy);
    free(h);
}

static CURL *tp_thread_easy(struct transport *t)
{
    struct tp_handle *h = pthread_getspecific(t->key);
    if (h)
        return h->easy;
    CURL *easy = curl_easy_init();
    if (!easy)
        return NULL;
    h = kg_calloc(1, sizeof *h);
    h->easy = easy;
    h->owner = t;
    pthread_mutex_lock(&t->lock);
    h->next = t->handles;
    if (t->handles)
        t->handles->prev = h;
    t->handles = h;
    pthread_mutex_unlock(&t->lock);
    if (pthread_setspecific(t->key, h) != 0) {
        pthread_mutex_lock(&t->lock);
        tp_handle_unlink(t, h);
        pthread_mutex_unlock(&t->lock);
        curl_easy_cleanup(easy);
        free(h);
        return NULL;
    }
    return easy;
}

/* ---- callbacks ------------------------------------------------------------ */

static size_t tp_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct tp_xfer *x = userp;
    size_t n = size * nmemb;
    if (kg_buf_append(&x->resp->body, data, n) != KG_OK) {
        x->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static void tp_headers_clear(struct kg_http_response *r)
{
    for (size_t i = 0; i < r->header_count; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
        r->headers[i].name = r->headers[i].value = NULL;
    }
    r->header_count = 0;
}

static int tp_is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static size_t tp_header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct tp_xfer *x = userp;
    struct kg_http_response *r = x->resp;
    size_t n = size * nmemb;
    /* A new status line (after 100 Continue or a proxy's CONNECT answer)
     * starts a new header block: keep only the final response's headers. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        tp_headers_clear(r);
        return n;
    }
    if (n == 0 || data[0] == ' ' || data[0] == '\t') /* obsolete folding: dropped */
        return n;
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - name_len - 1;
    while (vlen && tp_is_space(*v)) {
        v++;
        vlen--;
    }
    while (vlen && tp_is_space(v[vlen - 1]))
        vlen--;
    if (name_len == 0 || name_len > TP_HEADER_NAME_MAX || vlen > TP_HEADER_VALUE_MAX ||
        r->header_count >= KG_HTTP_MAX_RESPONSE_HEADERS)
        return n;
    char *name = kg_strndup(data, name_len);
    for (size_t i = 0; i < name_len; i++)
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] - 'A' + 'a');
    r->headers[r->header_count].name = name;
    r->headers[r->header_count].value = kg_strndup(v, vlen);
    r->header_count++;
    return n;
}

/* ---- perform -------------------------------------------------------------- */

static enum kg_err tp_map_curl(CURLcode rc, int too_large)
{
    switch (rc) {
    case CURLE_OK:
        return KG_OK;
    case CURLE_WRITE_ERROR:
        return too_large ? KG_ERR_UPSTREAM_REFUSED : KG_ERR_UPSTREAM_UNAVAILABLE;
    case CURLE_FILESIZE_EXCEEDED:
        return KG_ERR_UPSTREAM_REFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return KG_ERR_UPSTREAM_TIMEOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return KG_ERR_BAD_REQUEST;
    case CURLE_OUT_OF_MEMORY:
        return KG_ERR_INTERNAL;
    default:
        /* refused, reset, DNS, TLS handshake or verification, partial bodies,
         * HTTP/2 stream errors, nothing received. */
        return KG_ERR_UPSTREAM_UNAVAILABLE;
    }
}

static int tp_header_value_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == '\0')
            return 0;
    return 1;
}

static int tp_header_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == ':')
            return 0;
    }
    return 1;
}

static void tp_slist_wipe_free(struct curl_slist *list)
{
    for (struct curl_slist *i = list; i; i = i->next)
        if (i->data)
            kg_wipe(i->data, strlen(i->data));
    curl_slist_free_all(list);
}

/* Builds the header list. KG_ERR_BAD_REQUEST for an unsafe header. */
static enum kg_err tp_build_headers(const struct kg_http_request *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    int has_content_type = 0;
    enum kg_err result = KG_ERR_BAD_REQUEST;
    char *line = kg_malloc(TP_REQUEST_HEADER_MAX);
    for (size_t i = 0; i < req->header_count; i++) {
        const struct kg_http_header *h = &req->headers[i];
        if (!h->name || !h->value || !tp_header_name_ok(h->name) || !tp_header_value_ok(h->value))
            goto cleanup;
        if (strcasecmp(h->name, "content-type") == 0)
            has_content_type = 1;
        size_t nl = strlen(h->name), vl = strlen(h->value);
        if (nl + vl + 3 > TP_REQUEST_HEADER_MAX)
            goto cleanup;
        memcpy(line, h->name, nl);
        /* "Name;" is curl's way to send a header with an empty value. */
        if (vl == 0) {
            line[nl] = ';';
            line[nl + 1] = '\0';
        } else {
            line[nl] = ':';
            line[nl + 1] = ' ';
            memcpy(line + nl + 2, h->value, vl + 1);
        }
        struct curl_slist *next = curl_slist_append(list, line);
        kg_wipe(line, nl + vl + 3);
        if (!next) {
            result = KG_ERR_INTERNAL;
            goto cleanup;
        }
        list = next;
    }
    /* No "Expect: 100-continue" round trip; no form content type we did not
     * ask for (it would not be signed). */
    struct curl_slist *next = curl_slist_append(list, "Expect:");
    if (next)
        list = next;
    if (next && !has_content_type) {
        next = curl_slist_append(list, "Content-Type:");
        if (next)
            list = next;
    }
    if (!next) {
        result = KG_ERR_INTERNAL;
        goto cleanup;
    }
    *out = list;
    list = NULL;
    result = KG_OK;
cleanup:
    free(line);
    tp_slist_wipe_free(list);
    return result;
}

/* The proxy for a request, "" for none (transport.h's rule), or NULL when the
 * URL cannot be judged (the request is then refused, never sent direct). */
static const char *tp_proxy_for(const struct transport *t, const struct kg_http_request *req)
{
    struct url_parts u;
    if (url_parse(req->url, URL_ALLOW_QUERY, &u) != KG_OK)
        return NULL;
    if (req->direct || url_host_is_loopback(u.host) || url_host_is_link_local(u.host))
        return "";
    const char *p = strcmp(u.scheme, "https") == 0 ? t->https_proxy : t->http_proxy;
    return p ? p : "";
}

#define TP_SETOPT(easy, opt, val)                                                               \
    do {                                                                                        \
        if (curl_easy_setopt((easy), (opt), (val)) != CURLE_OK) {                               \
            result = KG_ERR_INTERNAL;                                                           \
            goto cleanup;                                                                       \
        }                                                                                       \
    } while (0)

enum tp_method { TP_GET, TP_POST, TP_PUT, TP_DELETE };

/* The request's method, or -1 when the request is malformed (no URL, no
 * timeouts, a body on GET or DELETE, a scheme other than http(s)). */
static int tp_method_of(const struct kg_http_request *req)
{
    if (!req->method || !req->url || req->timeout_ms <= 0 || req->connect_timeout_ms <= 0 ||
        (req->body_len && !req->body) ||
        (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0))
        return -1;
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE"};
    for (int m = TP_GET; m <= TP_DELETE; m++)
        if (strcmp(req->method, names[m]) == 0)
            return (m == TP_GET || m == TP_DELETE) && req->body_len ? -1 : m;
    return -1;
}

/* Every option of one transfer on the reset handle. */
static enum kg_err tp_configure(const struct transport *t, CURL *easy,
                                const struct kg_http_request *req, enum tp_method method,
                                struct curl_slist *headers, struct tp_xfer *x)
{
    enum kg_err result = KG_ERR_INTERNAL; /* for TP_SETOPT */
    /* Always set: "" also stops libcurl from reading proxies from the environment. */
    const char *proxy = tp_proxy_for(t, req);
    if (!proxy)
        return KG_ERR_BAD_REQUEST;
    TP_SETOPT(easy, CURLOPT_URL, req->url);
    TP_SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    TP_SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
    TP_SETOPT(easy, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    TP_SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS,
              (long)(req->connect_timeout_ms < req->timeout_ms ? req->connect_timeout_ms
                                                               : req->timeout_ms));
    TP_SETOPT(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    TP_SETOPT(easy, CURLOPT_MAXCONNECTS, t->max_idle);
    TP_SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
    TP_SETOPT(easy, CURLOPT_USERAGENT, t->user_agent);
    if (t->ca_file)
        TP_SETOPT(easy, CURLOPT_CAINFO, t->ca_file);
    TP_SETOPT(easy, CURLOPT_PROXY, proxy);
    if (*proxy && t->no_proxy)
        TP_SETOPT(easy, CURLOPT_NOPROXY, t->no_proxy);
    TP_SETOPT(easy, CURLOPT_HTTPHEADER, headers);
    TP_SETOPT(easy, CURLOPT_WRITEFUNCTION, tp_write_cb);
    TP_SETOPT(easy, CURLOPT_WRITEDATA, x);
    TP_SETOPT(easy, CURLOPT_HEADERFUNCTION, tp_header_cb);
    TP_SETOPT(easy, CURLOPT_HEADERDATA, x);
    if (method == TP_GET) {
        TP_SETOPT(easy, CURLOPT_HTTPGET, 1L);
    } else if (method == TP_DELETE) {
        TP_SETOPT(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        TP_SETOPT(easy, CURLOPT_POST, 1L);
        TP_SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        TP_SETOPT(easy, CURLOPT_POSTFIELDS, req->body_len ? (const char *)req->body : "");
        if (method == TP_PUT)
            TP_SETOPT(easy, CURLOPT_CUSTOMREQUEST, "PUT");
    }
    return KG_OK;
cleanup:
    return result;
}

/* Runs the configured transfer and maps its outcome (core/http.h). */
static enum kg_err tp_run(CURL *easy, const struct tp_xfer *x, struct kg_http_response *resp)
{
    CURLcode rc = curl_easy_perform(easy);
    enum kg_err result = tp_map_curl(rc, x->too_large);
    if (result == KG_OK) {
        long status = 0;
        if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 100)
            result = KG_ERR_UPSTREAM_UNAVAILABLE;
        else
            resp->status = status;
    } else if (kg_log_enabled(KG_LOG_DEBUG)) {
        struct kg_log_line l;
        if (kg_log_begin(&l, KG_LOG_DEBUG, "http_transfer_failed")) {
            kg_log_str(&l, "curl_error", curl_easy_strerror(rc));
            kg_log_int(&l, "curl_code", (int64_t)rc);
            kg_log_end(&l);
        }
    }
    return result;
}

static enum kg_err tp_perform(struct kg_http_client *self, const struct kg_http_request *req,
                              struct kg_http_response *resp)
{
    struct transport *t = self->impl;
    struct curl_slist *headers = NULL;
    struct tp_xfer x = {.resp = resp, .too_large = 0};
    int method = tp_method_of(req);
    enum kg_err result = method < 0 ? KG_ERR_BAD_REQUEST : tp_build_headers(req, &headers);
    CURL *easy = result == KG_OK ? tp_thread_easy(t) : NULL;
    if (result == KG_OK && !easy)
        result = KG_ERR_INTERNAL;
    if (result == KG_OK) {
        curl_easy_reset(easy);
        result = tp_configure(t, easy, req, (enum tp_method)method, headers, &x);
    }
    if (result == KG_OK) {
        resp->body.max_len = req->max_response_len;
        /* Bodies may carry credentials (STS, IMDS, TURN): wipe what growth lets go. */
        resp->body.flags |= KG_BUF_SECRET;
        result = tp_run(easy, &x, resp);
    }
    if (easy) {
        /* The handle keeps pointers to our header list and the body: drop them. */
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (char *)NULL);
    }
    tp_slist_wipe_free(headers);
    if (result != KG_OK) {
        /* No half responses: a failed call leaves an empty response. */
        size_t max = resp->body.max_len;
        kg_http_response_cleanup(resp);
        kg_http_response_init(resp);
        resp->body.max_len = max;
    }
    return result;
}

/* ---- lifecycle ------------------------------------------------------------ */

struct kg_http_client *transport_new(const struct transport_options *opts)
{
    struct transport *t = kg_calloc(1, sizeof *t);
    if (pthread_key_create(&t->key, tp_handle_destroy) != 0) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    const char *ua = opts && opts->user_agent ? opts->user_agent : "kvsgate/" KVSGATE_VERSION;
    t->user_agent = kg_strdup(ua);
    t->ca_file = opts && opts->ca_file ? kg_strdup(opts->ca_file) : NULL;
    t->https_proxy = opts && opts->https_proxy ? kg_strdup(opts->https_proxy) : NULL;
    t->http_proxy = opts && opts->http_proxy ? kg_strdup(opts->http_proxy) : NULL;
    t->no_proxy = opts && opts->no_proxy ? kg_strdup(opts->no_proxy) : NULL;
    t->max_idle = opts && opts->max_idle_connections_per_thread > 0
                      ? opts->max_idle_connections_per_thread
                      : 8;
    t->client.perform = tp_perform;
    t->client.impl = t;
    return &t->client;
}

void transport_free(struct kg_http_client *client)
{
    if (!client)
        return;
    struct transport *t = client->impl;
    /* No destructor runs for this key after this: clean up every handle here. */
    pthread_key_delete(t->key);
    pthread_mutex_lock(&t->lock);
    struct tp_handle *h = t->handles;
    t->handles = NULL;
    pthread_mutex_unlock(&t->lock);
    while (h) {
        struct tp_handle *next = h->next;
        curl_easy_cleanup(h->easy);
        free(h);
        h = next;
    }
    pthread_mutex_destroy(&t->lock);
    free(t->user_agent);
    free(t->ca_file);
    kg_free_secret(t->https_proxy);
    kg_free_secret(t->http_proxy);
    free(t->no_proxy);
    free(t);
}
