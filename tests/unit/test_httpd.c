/* service/httpd against raw sockets: strict decoding, body and header limits,
 * suspend/resume from other threads, the slow-client sweeper, graceful stop. */
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

#include "core/mem.h"
#include "core/timeutil.h"
#include "service/httpd.h"
#include "testlib.h"

static _Atomic int completed;

static void *resume_later(void *arg)
{
    struct httpd_request *r = arg;
    usleep(50 * 1000);
    httpd_respond(r, 200, "text/plain", "late", 4);
    httpd_resume(r);
    return NULL;
}

static enum httpd_action app_request(struct httpd_request *r, void *app)
{
    (void)app;
    enum kg_err err = httpd_path_error(r);
    char buf[4096];
    if (err != KG_OK) {
        int n = snprintf(buf, sizeof buf, "error %s", kg_err_code(err));
        httpd_respond(r, kg_err_http_status(err), "text/plain", buf, (size_t)n);
        return HTTPD_RESPOND;
    }
    if (strcmp(httpd_path(r), "/slow") == 0) {
        httpd_suspend(r);
        pthread_t t;
        pthread_create(&t, NULL, resume_later, r);
        pthread_detach(t);
        return HTTPD_SUSPENDED;
    }
    enum kg_err qerr = KG_OK;
    const char *q = httpd_query(r, "q", &qerr);
    size_t body_len;
    const char *body = httpd_body(r, &body_len);
    int n = snprintf(buf, sizeof buf, "%s %s q=%s qerr=%d body=%.*s", httpd_method(r),
                     httpd_path(r), q ? q : "-", qerr != KG_OK, (int)body_len, body);
    httpd_respond(r, 200, "text/plain", buf, (size_t)n);
    httpd_add_header(r, "X-Test", "yes");
    return HTTPD_RESPOND;
}

static void app_complete(struct httpd_request *r, int ok, void *app)
{
    (void)r;
    (void)ok;
    (void)app;
    atomic_fetch_add(&completed, 1);
}

static struct httpd *start(unsigned timeout_s)
{
    struct httpd_options o = {.listen = "127.0.0.1:0",
                              .threads = 2,
                              .connection_timeout_s = timeout_s,
                              .max_body_bytes = 64,
                              .max_header_bytes = 8192};
    struct httpd_app app = {app_request, app_complete, NULL};
    struct httpd *h = NULL;
    char why[256];
    if (httpd_start(&o, &app, &h, why, sizeof why) != KG_OK) {
        t_fail(__FILE__, __LINE__, "httpd_start: %s", why);
        exit(1);
    }
    return h;
}

static int connect_to(struct httpd *h)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)httpd_port(h))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one response (headers + Content-Length body) or until close/timeout. */
static size_t read_response(int fd, char *out, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = kg_mono_ms() + timeout_ms;
    while (n + 1 < cap) {
        out[n] = '\0';
        char *hdr_end = strstr(out, "\r\n\r\n");
        if (hdr_end) {
            const char *cl = strcasestr(out, "\r\nContent-Length:");
            size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
            if (n >= (size_t)(hdr_end + 4 - out) + want)
                break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(deadline - kg_mono_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = recv(fd, out + n, cap - n - 1, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    return n;
}

static void request(struct httpd *h, const char *raw, char *out, size_t cap)
{
    int fd = connect_to(h);
    send_all(fd, raw, strlen(raw));
    read_response(fd, out, cap, 3000);
    close(fd);
}

static void test_requests_and_keep_alive(void)
{
    struct httpd *h = start(5);
    int fd = connect_to(h);
    char out[4096];
    const char *req = "GET /hello?q=a%20b+c%2B HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        send_all(fd, req, strlen(req));
        read_response(fd, out, sizeof out, 3000);
        T_CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
        /* form encoding: + is a space, %2B a plus */
        if (!strstr(out, "GET /hello q=a b c+ qerr=0 body="))
            t_fail(__FILE__, __LINE__, "got: %s", out);
        T_CHECK(strstr(out, "X-Test: yes") != NULL);
    }
    close(fd);
    httpd_stop(h, 1000);
}

static void test_paths_and_queries_are_decoded_strictly(void)
{
    struct httpd *h = start(5);
    char out[4096];
    request(h, "GET /a%2Db HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strstr(out, "GET /a-b q=-") != NULL);
    /* An encoded slash is never a separator: refused. */
    request(h, "GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    request(h, "GET /x?q=a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strstr(out, "GET /x q=a/b qerr=0") != NULL);
    request(h, "GET /v1/channels/abc%00def HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    request(h, "GET /bad%zz HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    request(h, "GET /x?q=%00 HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    request(h, "GET /x?q=1&q=2 HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    T_CHECK(strstr(out, "q=- qerr=1") != NULL);
    httpd_stop(h, 1000);
}

static void test_request_heads_are_checked(void)
{
    struct httpd *h = start(5);
    char out[4096];
    static const struct {
        const char *raw;
        const char *want;
    } cases[] = {
        {"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200"},
        {"GET /ok HTTP/1.0\r\n\r\n", "HTTP/1.1 200"},
        {"GET /ok HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: a b\r\n\r\n", "HTTP/1.1 400"},
        {"G\x01T /ok HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", "HTTP/1.1 400"},
        {"PUT /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "HTTP/1.1 400"},
        {"PUT /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         "HTTP/1.1 400"},
        {"PUT /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
         "HTTP/1.1 200"},
        {"PUT /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nContent-Type: a\r\ncontent-type: a\r\n\r\n", "HTTP/1.1 400"},
        {"PUT /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
         "HTTP/1.1 200"},
        /* Host: authority bytes only, any case of the name, no lookalike counted */
        {"GET /ok HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "HTTP/1.1 200"},
        {"GET /ok HTTP/1.1\r\nHost: user@x\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x/y\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: a\r\nhOST: a\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nHosts: a\r\nHos: b\r\n\r\n", "HTTP/1.1 200"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nAuthorizations: a\r\nAuthorization: b\r\n\r\n",
         "HTTP/1.1 200"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nX-\x7f: b\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n", "HTTP/1.1 400"},
        {"GET /ok HTTP/1.1\r\nHost: x\r\nX-A: tab\there\r\n\r\n", "HTTP/1.1 200"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request(h, cases[i].raw, out, sizeof out);
        if (strncmp(out, cases[i].want, strlen(cases[i].want)) != 0)
            t_fail(__FILE__, __LINE__, "case %zu: want %s, got: %.80s", i, cases[i].want, out);
    }
    /* Over the 8 KiB head budget: our 431 (the app renders the error). */
    char big[12000];
    int n = snprintf(big, sizeof big, "GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 9000);
    memcpy(big + n + 9000, "\r\n\r\n", 5);
    request(h, big, out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 431", 12) == 0);
    T_CHECK(strstr(out, "error headers_too_large") != NULL);
    httpd_stop(h, 1000);
}

static void test_bodies_are_bounded(void)
{
    struct httpd *h = start(5);
    char out[4096];
    request(h, "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", out, sizeof out);
    T_CHECK(strstr(out, "body=hello") != NULL);
    /* Declared too large: 413 before the body is read. */
    request(h, "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 413", 12) == 0);
    /* Chunked past the limit: 413 after draining. */
    char chunked[512];
    char big[101];
    memset(big, 'z', 100);
    big[100] = '\0';
    snprintf(chunked, sizeof chunked,
             "PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n%s\r\n0\r\n\r\n",
             big);
    request(h, chunked, out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 413", 12) == 0);
    request(h, "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n", out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    httpd_stop(h, 1000);
}

static void test_huge_headers_get_431(void)
{
    struct httpd *h = start(5);
    size_t n = 20000;
    char *req = kg_malloc(n + 100);
    int k = snprintf(req, n + 100, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + k, 'a', n);
    memcpy(req + k + n, "\r\n\r\n", 5);
    char out[4096];
    request(h, req, out, sizeof out);
    T_CHECK(strncmp(out, "HTTP/1.1 431", 12) == 0);
    free(req);
    httpd_stop(h, 1000);
}

struct slow_job {
    struct httpd *h;
    int ok;
};

static void *slow_client(void *arg)
{
    struct slow_job *j = arg;
    char out[1024];
    request(j->h, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out);
    j->ok = strncmp(out, "HTTP/1.1 200", 12) == 0 && strstr(out, "late") != NULL;
    return NULL;
}

static void test_suspended_requests_are_answered_from_other_threads(void)
{
    struct httpd *h = start(5);
    atomic_store(&completed, 0);
    struct slow_job jobs[20];
    pthread_t t[20];
    for (int i = 0; i < 20; i++) {
        jobs[i] = (struct slow_job){h, 0};
        pthread_create(&t[i], NULL, slow_client, &jobs[i]);
    }
    for (int i = 0; i < 20; i++) {
        pthread_join(t[i], NULL);
        T_CHECK(jobs[i].ok);
    }
    for (int i = 0; i < 100 && atomic_load(&completed) < 20; i++)
        usleep(10 * 1000);
    T_INTEQ(atomic_load(&completed), 20);
    httpd_stop(h, 2000);
}

static void test_a_dripping_client_is_cut_off(void)
{
    struct httpd *h = start(1);
    int fd = connect_to(h);
    send_all(fd, "GET /echo HTTP/1.1\r\n", 20);
    int64_t start_ms = kg_mono_ms();
    int closed = 0;
    /* One header byte every 200 ms never trips an inactivity timer. */
    while (kg_mono_ms() - start_ms < 4000) {
        if (send(fd, "X", 1, MSG_NOSIGNAL) != 1) {
            closed = 1;
            break;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 200) > 0) {
            char c;
            if (recv(fd, &c, 1, 0) <= 0) {
                closed = 1;
                break;
            }
        }
    }
    int64_t took = kg_mono_ms() - start_ms;
    T_CHECK(closed);
    T_CHECK(took < 3000);
    close(fd);
    httpd_stop(h, 1000);
}

static void test_stop_drains_idle_connections_quickly(void)
{
    struct httpd *h = start(15);
    int idle = connect_to(h);
    char out[1024];
    send_all(idle, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 28);
    read_response(idle, out, sizeof out, 3000);
    T_CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
    int64_t t0 = kg_mono_ms();
    httpd_stop(h, 5000); /* the idle keep-alive connection must not hold it for 15 s */
    T_CHECK(kg_mono_ms() - t0 < 2000);
    close(idle);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_requests_and_keep_alive),
        T_CASE(test_paths_and_queries_are_decoded_strictly),
        T_CASE(test_request_heads_are_checked),
        T_CASE(test_bodies_are_bounded),
        T_CASE(test_huge_headers_get_431),
        T_CASE(test_suspended_requests_are_answered_from_other_threads),
        T_CASE(test_a_dripping_client_is_cut_off),
        T_CASE(test_stop_drains_idle_connections_quickly),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
