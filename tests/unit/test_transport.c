/* aws/transport: the libcurl client against a small HTTP/1.1 server on
 * loopback run by this test (a thread with poll): requests as sent, response
 * headers lower-cased and bounded, connection reuse per thread, the body
 * bound, and each failure mapped as core/http.h says. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws/transport.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "testlib.h"

enum srv_mode {
    SRV_OK,        /* 200 with a JSON body and a few headers */
    SRV_BIG,       /* 200 with a 100 KiB body */
    SRV_STALL,     /* read the request, never answer */
    SRV_CLOSE,     /* read the request, close without answering */
    SRV_TRUNCATE,  /* Content-Length 100, 10 bytes, close */
    SRV_HEADERS,   /* 40 headers */
    SRV_CONTINUE,  /* 100 Continue, then 404 with its own headers */
};

#define SRV_MAX_CONN 16

static struct {
    int listen_fd;
    int port;
    pthread_t thread;
    atomic_int mode;
    atomic_int accepts;
    atomic_int stop;
    pthread_mutex_t lock;
    char last_request[16384];
} srv;

static void srv_respond(int fd)
{
    char buf[2048];
    int mode = atomic_load(&srv.mode);
    const char *body = "{\"ok\":true}";
    int n = 0;
    switch (mode) {
    case SRV_OK:
        n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "X-Amzn-ErrorType: Foo:http://internal/\r\nX-Spaced:   padded value  \r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        break;
    case SRV_BIG: {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 100 * 1024);
        if (write(fd, buf, (size_t)n) < 0)
            return;
        char chunk[1024];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 100; i++)
            if (write(fd, chunk, sizeof chunk) < 0)
                return;
        return;
    }
    case SRV_TRUNCATE:
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        break;
    case SRV_HEADERS: {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < 40; i++)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "X-H%02d: v%d\r\n", i, i);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "Content-Length: 2\r\n\r\n{}");
        break;
    }
    case SRV_CONTINUE:
        n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                     "HTTP/1.1 404 Not Found\r\nX-Final: yes\r\nContent-Length: 0\r\n\r\n");
        break;
    default:
        return;
    }
    if (write(fd, buf, (size_t)n) < 0)
        return;
}

/* Reads one request (headers and Content-Length body). 0 on EOF/error. */
static int srv_read_request(int fd)
{
    char req[16384];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, req + len, sizeof req - 1 - len);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        req[len] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        if (!end)
            continue;
        size_t clen = 0;
        const char *cl = strcasestr(req, "\r\ncontent-length:");
        if (cl && cl < end)
            clen = (size_t)strtoul(cl + 17, NULL, 10);
        if (len >= (size_t)(end + 4 - req) + clen)
            break;
    }
    pthread_mutex_lock(&srv.lock);
    memcpy(srv.last_request, req, len + 1);
    pthread_mutex_unlock(&srv.lock);
    return 1;
}

static void *srv_main(void *arg)
{
    (void)arg;
    struct pollfd fds[SRV_MAX_CONN + 1];
    int nfds = 1;
    fds[0] = (struct pollfd){.fd = srv.listen_fd, .events = POLLIN};
    while (!atomic_load(&srv.stop)) {
        if (poll(fds, (nfds_t)nfds, 50) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int c = accept(srv.listen_fd, NULL, NULL);
            if (c >= 0 && nfds <= SRV_MAX_CONN) {
                atomic_fetch_add(&srv.accepts, 1);
                fds[nfds++] = (struct pollfd){.fd = c, .events = POLLIN};
            } else if (c >= 0) {
                close(c);
            }
        }
        for (int i = 1; i < nfds; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int mode = atomic_load(&srv.mode);
            int keep = srv_read_request(fds[i].fd);
            if (keep && mode == SRV_STALL) {
                fds[i].events = 0; /* never read or answer again */
                continue;
            }
            if (keep)
                srv_respond(fds[i].fd);
            if (!keep || mode == SRV_CLOSE || mode == SRV_TRUNCATE || mode == SRV_BIG) {
                close(fds[i].fd);
                fds[i] = fds[--nfds];
                i--;
            }
        }
    }
    for (int i = 1; i < nfds; i++)
        close(fds[i].fd);
    return NULL;
}

static void srv_start(void)
{
    srv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(srv.listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv.listen_fd, 16) != 0)
        t_fail(__FILE__, __LINE__, "cannot listen");
    socklen_t al = sizeof a;
    getsockname(srv.listen_fd, (struct sockaddr *)&a, &al);
    srv.port = ntohs(a.sin_port);
    pthread_mutex_init(&srv.lock, NULL);
    pthread_create(&srv.thread, NULL, srv_main, NULL);
}

static void srv_stop(void)
{
    atomic_store(&srv.stop, 1);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
}

static void srv_last_request(char *out, size_t cap)
{
    pthread_mutex_lock(&srv.lock);
    snprintf(out, cap, "%s", srv.last_request);
    pthread_mutex_unlock(&srv.lock);
}

/* ---- helpers --------------------------------------------------------------- */

static struct kg_http_client *client;

static enum kg_err call(const char *method, const char *path, const char *body,
                        const struct kg_http_header *h, size_t hn, int64_t timeout_ms,
                        size_t max_len, struct kg_http_response *resp)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv.port, path);
    struct kg_http_request req = {
        .method = method,
        .url = url,
        .headers = h,
        .header_count = hn,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms,
        .max_response_len = max_len,
    };
    kg_http_response_init(resp);
    return kg_http_perform(client, &req, resp);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_post_sends_method_headers_and_body_as_given(void)
{
    atomic_store(&srv.mode, SRV_OK);
    struct kg_http_header h[] = {{"content-type", "application/json"},
                                 {"x-amz-date", "20150830T123600Z"},
                                 {"x-empty", ""}};
    struct kg_http_response r;
    T_INTEQ(call("POST", "/describeSignalingChannel", "{\"ChannelName\":\"a\"}", h, 3, 2000, 4096,
                 &r),
            KG_OK);
    T_INTEQ(r.status, 200);
    T_STREQ(r.body.data, "{\"ok\":true}");
    char req[16384];
    srv_last_request(req, sizeof req);
    T_CHECK(strncmp(req, "POST /describeSignalingChannel HTTP/1.1\r\n", 41) == 0);
    T_CHECK(strstr(req, "\r\ncontent-type: application/json\r\n") != NULL);
    T_CHECK(strstr(req, "\r\nx-amz-date: 20150830T123600Z\r\n") != NULL);
    T_CHECK(strstr(req, "\r\nx-empty:\r\n") != NULL);
    T_CHECK(strstr(req, "\r\nUser-Agent: kvsgate/") != NULL);
    T_CHECK(strcasestr(req, "\r\nExpect:") == NULL);
    T_CHECK(strstr(req, "\r\n\r\n{\"ChannelName\":\"a\"}") != NULL);
    kg_http_response_cleanup(&r);

    /* No content type of curl's own when we send none (it would be unsigned). */
    T_INTEQ(call("PUT", "/latest/api/token", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
    srv_last_request(req, sizeof req);
    T_CHECK(strncmp(req, "PUT /latest/api/token HTTP/1.1\r\n", 32) == 0);
    T_CHECK(strcasestr(req, "content-type") == NULL);
    T_CHECK(strcasestr(req, "\r\nContent-Length: 0\r\n") != NULL);
    kg_http_response_cleanup(&r);
    T_INTEQ(call("GET", "/x", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
    srv_last_request(req, sizeof req);
    T_CHECK(strncmp(req, "GET /x HTTP/1.1\r\n", 17) == 0);
    kg_http_response_cleanup(&r);
}

static void test_response_headers_are_lower_cased_trimmed_and_bounded(void)
{
    atomic_store(&srv.mode, SRV_OK);
    struct kg_http_response r;
    T_INTEQ(call("GET", "/", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
    T_STREQ(kg_http_response_header(&r, "x-amzn-errortype"), "Foo:http://internal/");
    T_STREQ(kg_http_response_header(&r, "X-AMZN-ERRORTYPE"), "Foo:http://internal/");
    T_STREQ(kg_http_response_header(&r, "x-spaced"), "padded value");
    int lower = 1;
    for (size_t i = 0; i < r.header_count; i++)
        for (const char *c = r.headers[i].name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                lower = 0;
    T_CHECK(lower);
    kg_http_response_cleanup(&r);

    atomic_store(&srv.mode, SRV_HEADERS);
    T_INTEQ(call("GET", "/", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
    T_INTEQ((long long)r.header_count, KG_HTTP_MAX_RESPONSE_HEADERS);
    T_STREQ(kg_http_response_header(&r, "x-h00"), "v0");
    T_CHECK(kg_http_response_header(&r, "x-h39") == NULL);
    kg_http_response_cleanup(&r);

    /* Only the final response's headers are kept. */
    atomic_store(&srv.mode, SRV_CONTINUE);
    T_INTEQ(call("GET", "/", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
    T_INTEQ(r.status, 404);
    T_STREQ(kg_http_response_header(&r, "x-final"), "yes");
    T_CHECK(kg_http_response_header(&r, "x-interim") == NULL);
    kg_http_response_cleanup(&r);
}

static void test_one_connection_is_reused_by_a_thread(void)
{
    atomic_store(&srv.mode, SRV_OK);
    struct kg_http_response r;
    T_INTEQ(call("GET", "/warm", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
    kg_http_response_cleanup(&r);
    int before = atomic_load(&srv.accepts);
    for (int i = 0; i < 20; i++) {
        T_INTEQ(call("POST", "/again", "{}", NULL, 0, 2000, 4096, &r), KG_OK);
        kg_http_response_cleanup(&r);
    }
    T_INTEQ(atomic_load(&srv.accepts), before);
}

static void *thread_calls(void *arg)
{
    (void)arg;
    struct kg_http_response r;
    enum kg_err err = KG_OK;
    for (int i = 0; i < 10 && err == KG_OK; i++) {
        err = call("GET", "/t", NULL, NULL, 0, 2000, 4096, &r);
        kg_http_response_cleanup(&r);
    }
    return (void *)(long)err;
}

static void test_each_thread_has_its_own_handle_and_connection(void)
{
    atomic_store(&srv.mode, SRV_OK);
    int before = atomic_load(&srv.accepts);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_calls, NULL);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        T_INTEQ((long)rc, KG_OK);
    }
    /* One connection per thread, reused for its 10 calls; the threads exited
     * and their handles were cleaned up by the key destructor (ASan: no leak). */
    T_INTEQ(atomic_load(&srv.accepts) - before, 4);
}

static void test_a_body_past_max_response_len_is_refused(void)
{
    atomic_store(&srv.mode, SRV_BIG);
    struct kg_http_response r;
    T_INTEQ(call("GET", "/big", NULL, NULL, 0, 2000, 1024, &r), KG_ERR_UPSTREAM_REFUSED);
    T_INTEQ((long long)r.body.len, 0);
    T_INTEQ(r.status, 0);
    kg_http_response_cleanup(&r);
    /* The same size fits a larger bound. */
    T_INTEQ(call("GET", "/big", NULL, NULL, 0, 2000, 200 * 1024, &r), KG_OK);
    T_INTEQ((long long)r.body.len, 100 * 1024);
    kg_http_response_cleanup(&r);
}

static void test_a_stalled_server_times_out(void)
{
    atomic_store(&srv.mode, SRV_STALL);
    struct kg_http_response r;
    int64_t t0 = kg_mono_ms();
    T_INTEQ(call("GET", "/stall", NULL, NULL, 0, 200, 4096, &r), KG_ERR_UPSTREAM_TIMEOUT);
    int64_t elapsed = kg_mono_ms() - t0;
    T_CHECK(elapsed >= 190 && elapsed < 1000);
    kg_http_response_cleanup(&r);
}

static void test_reset_truncation_and_refused_connections_are_unavailable(void)
{
    struct kg_http_response r;
    atomic_store(&srv.mode, SRV_CLOSE);
    T_INTEQ(call("GET", "/close", NULL, NULL, 0, 2000, 4096, &r), KG_ERR_UPSTREAM_UNAVAILABLE);
    kg_http_response_cleanup(&r);
    atomic_store(&srv.mode, SRV_TRUNCATE);
    T_INTEQ(call("GET", "/trunc", NULL, NULL, 0, 2000, 4096, &r), KG_ERR_UPSTREAM_UNAVAILABLE);
    T_INTEQ((long long)r.body.len, 0);
    kg_http_response_cleanup(&r);

    /* A port nobody listens on. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct kg_http_request req = {.method = "GET", .url = url, .timeout_ms = 1000,
                                  .connect_timeout_ms = 1000, .max_response_len = 1024};
    kg_http_response_init(&r);
    T_INTEQ(kg_http_perform(client, &req, &r), KG_ERR_UPSTREAM_UNAVAILABLE);
    kg_http_response_cleanup(&r);
    atomic_store(&srv.mode, SRV_OK);
}

static void test_malformed_requests_are_refused_before_sending(void)
{
    atomic_store(&srv.mode, SRV_OK);
    int before = atomic_load(&srv.accepts);
    struct kg_http_response r;
    struct kg_http_header crlf[] = {{"x-a", "v\r\nX-Injected: 1"}};
    T_INTEQ(call("GET", "/", NULL, crlf, 1, 2000, 4096, &r), KG_ERR_BAD_REQUEST);
    kg_http_response_cleanup(&r);
    struct kg_http_header badname[] = {{"x a", "v"}};
    T_INTEQ(call("GET", "/", NULL, badname, 1, 2000, 4096, &r), KG_ERR_BAD_REQUEST);
    kg_http_response_cleanup(&r);
    T_INTEQ(call("GET", "/", NULL, NULL, 0, 0, 4096, &r), KG_ERR_BAD_REQUEST);
    kg_http_response_cleanup(&r);
    T_INTEQ(call("PATCH", "/", NULL, NULL, 0, 2000, 4096, &r), KG_ERR_BAD_REQUEST);
    kg_http_response_cleanup(&r);
    T_INTEQ(call("GET", "/", "body", NULL, 0, 2000, 4096, &r), KG_ERR_BAD_REQUEST);
    kg_http_response_cleanup(&r);
    struct kg_http_request req = {.method = "GET", .url = "ftp://127.0.0.1/", .timeout_ms = 100,
                                  .connect_timeout_ms = 100, .max_response_len = 10};
    kg_http_response_init(&r);
    T_INTEQ(kg_http_perform(client, &req, &r), KG_ERR_BAD_REQUEST);
    kg_http_response_cleanup(&r);
    T_INTEQ(atomic_load(&srv.accepts), before);
}

static enum kg_err call_url(struct kg_http_client *c, const char *url, int direct,
                            int64_t timeout_ms, struct kg_http_response *resp)
{
    struct kg_http_request req = {
        .method = "GET",
        .url = url,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = timeout_ms,
        .max_response_len = 4096,
        .direct = direct,
    };
    kg_http_response_init(resp);
    return kg_http_perform(c, &req, resp);
}

/* The test server stands in for the proxy: a request through it arrives as
 * "GET http://host/path" (or "CONNECT host:443"). */
static void test_proxies_apply_to_public_hosts_only_never_to_credential_endpoints(void)
{
    atomic_store(&srv.mode, SRV_OK);
    char proxy[64], req[16384];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", srv.port);
    /* libcurl's own reading of the environment must not apply. */
    setenv("ALL_PROXY", proxy, 1);
    setenv("http_proxy", proxy, 1);
    setenv("https_proxy", proxy, 1);
    struct transport_options o = {.http_proxy = proxy, .https_proxy = proxy,
                                  .no_proxy = "direct.example,.internal.example"};
    struct kg_http_client *proxied = transport_new(&o);
    struct kg_http_client *plain = transport_new(NULL);
    struct kg_http_response r;

    /* A public host goes through the proxy. */
    int before = atomic_load(&srv.accepts);
    T_INTEQ(call_url(proxied, "http://kinesisvideo.example.invalid/describe", 0, 2000, &r), KG_OK);
    T_INTEQ(r.status, 200);
    srv_last_request(req, sizeof req);
    T_CHECK(strncmp(req, "GET http://kinesisvideo.example.invalid/describe HTTP/1.1\r\n", 59) == 0);
    kg_http_response_cleanup(&r);
    T_CHECK(call_url(proxied, "https://sts.example.invalid/", 0, 2000, &r) != KG_OK);
    srv_last_request(req, sizeof req);
    T_CHECK(strncmp(req, "CONNECT sts.example.invalid:443 HTTP/1.1\r\n", 42) == 0);
    kg_http_response_cleanup(&r);
    T_CHECK(atomic_load(&srv.accepts) > before);

    /* Never through it: a request marked direct, link-local hosts (IMDS,
     * container endpoints), NO_PROXY hosts, and a client without proxies
     * whatever the environment says. */
    static const struct {
        int proxied, direct;
        const char *url;
    } never[] = {
        {1, 1, "http://10.255.255.1:9/creds"},
        {1, 0, "http://169.254.169.254/latest/api/token"},
        {1, 0, "http://169.254.170.2/v2/credentials"},
        {1, 0, "http://[fd00:ec2::254]/latest/api/token"},
        {1, 0, "http://direct.example/x"},
        {1, 0, "http://kvs.internal.example/x"},
        {0, 0, "http://10.255.255.1:9/x"},
        {0, 0, "https://10.255.255.1:9/x"},
    };
    for (size_t i = 0; i < T_COUNT(never); i++) {
        before = atomic_load(&srv.accepts);
        enum kg_err err = call_url(never[i].proxied ? proxied : plain, never[i].url,
                                   never[i].direct, 300, &r);
        /* Whatever else answers (a network may have its own gateway), never
         * the proxy: it saw no connection. */
        (void)err;
        if (atomic_load(&srv.accepts) != before || strcmp(r.body.data, "{\"ok\":true}") == 0)
            t_fail(__FILE__, __LINE__, "%s went through the proxy", never[i].url);
        kg_http_response_cleanup(&r);
    }
    unsetenv("ALL_PROXY");
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    transport_free(proxied);
    transport_free(plain);
}

static void test_latency_of_a_reused_connection_vs_a_new_one(void)
{
    /* Not a pass/fail bound: prints what reuse saves on loopback. */
    atomic_store(&srv.mode, SRV_OK);
    struct kg_http_response r;
    int n = 200;
    int64_t t0 = kg_mono_us();
    for (int i = 0; i < n; i++) {
        T_INTEQ(call("GET", "/", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
        kg_http_response_cleanup(&r);
    }
    int64_t reused = (kg_mono_us() - t0) / n;
    struct kg_http_client *saved = client;
    t0 = kg_mono_us();
    for (int i = 0; i < n; i++) {
        client = transport_new(NULL);
        T_INTEQ(call("GET", "/", NULL, NULL, 0, 2000, 4096, &r), KG_OK);
        kg_http_response_cleanup(&r);
        transport_free(client);
    }
    int64_t fresh = (kg_mono_us() - t0) / n;
    client = saved;
    printf("# loopback GET: %lld us/call reusing the connection, %lld us/call with a new one\n",
           (long long)reused, (long long)fresh);
}

static const struct t_case cases[] = {
    T_CASE(test_post_sends_method_headers_and_body_as_given),
    T_CASE(test_response_headers_are_lower_cased_trimmed_and_bounded),
    T_CASE(test_one_connection_is_reused_by_a_thread),
    T_CASE(test_each_thread_has_its_own_handle_and_connection),
    T_CASE(test_a_body_past_max_response_len_is_refused),
    T_CASE(test_a_stalled_server_times_out),
    T_CASE(test_reset_truncation_and_refused_connections_are_unavailable),
    T_CASE(test_malformed_requests_are_refused_before_sending),
    T_CASE(test_proxies_apply_to_public_hosts_only_never_to_credential_endpoints),
    T_CASE(test_latency_of_a_reused_connection_vs_a_new_one),
};

int main(int argc, char **argv)
{
    kg_log_set_level(KG_LOG_OFF);
    if (transport_global_init() != KG_OK)
        return 1;
    srv_start();
    client = transport_new(NULL);
    int rc = t_main(cases, T_COUNT(cases), argc, argv);
    transport_free(client);
    srv_stop();
    transport_global_cleanup();
    return rc;
}
