/* kvsgate tests: a fake kg_http_client (aws-c-auth's pattern). It answers
 * from a queue of canned responses (in order), then from routes (method + URL
 * substring, reusable), and records every request it saw. Thread-safe.
 *
 *     struct fake_http *f = fake_http_new();
 *     fake_http_push(f, 200, "x-amzn-requestid: 1\n", "{\"ChannelARN\":\"arn:...\"}");
 *     fake_http_push_err(f, KG_ERR_UPSTREAM_TIMEOUT);
 *     ... code under test calls kg_http_perform(&f->client, ...) ...
 *     const struct fake_request *r = fake_http_request(f, 0);
 */
#ifndef KG_TESTS_FAKE_HTTP_H
#define KG_TESTS_FAKE_HTTP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http.h"

#define FAKE_MAX_HEADERS 16
#define FAKE_MAX_QUEUE 64
#define FAKE_MAX_ROUTES 16
#define FAKE_MAX_REQUESTS 256

struct fake_response {
    long status;
    char *headers; /* "name: value\n" lines */
    char *body;
    size_t body_len;
    enum kg_err err; /* != KG_OK: the transport fails with it */
    int64_t delay_ms; /* simulated latency; past the request timeout -> TIMEOUT */
};

struct fake_request {
    char *method;
    char *url;
    char *body;
    size_t body_len;
    struct {
        char *name;
        char *value;
    } headers[FAKE_MAX_HEADERS];
    size_t header_count;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    size_t max_response_len;
    int64_t at_mono_ms;
};

struct fake_route {
    char *method;
    char *url_contains;
    struct fake_response resp;
    int hits;
};

struct fake_http {
    struct kg_http_client client;
    pthread_mutex_t lock;
    struct fake_response queue[FAKE_MAX_QUEUE];
    size_t queue_count, queue_next;
    struct fake_route routes[FAKE_MAX_ROUTES];
    size_t route_count;
    struct fake_request requests[FAKE_MAX_REQUESTS];
    size_t request_count;
};

struct fake_http *fake_http_new(void);
void fake_http_free(struct fake_http *f);
/* Forgets queued responses, routes and recorded requests. */
void fake_http_reset(struct fake_http *f);

void fake_http_push(struct fake_http *f, long status, const char *headers, const char *body);
void fake_http_push_err(struct fake_http *f, enum kg_err err);
void fake_http_push_delay(struct fake_http *f, int64_t delay_ms, long status, const char *body);
void fake_http_route(struct fake_http *f, const char *method, const char *url_contains,
                     long status, const char *headers, const char *body);
void fake_http_route_err(struct fake_http *f, const char *method, const char *url_contains,
                         enum kg_err err);
/* Hits of the route added with that method and URL part (0 when none). */
int fake_http_route_hits(struct fake_http *f, const char *method, const char *url_contains);

size_t fake_http_request_count(struct fake_http *f);
const struct fake_request *fake_http_request(struct fake_http *f, size_t i);
/* Value of a recorded request header (case-insensitive), or NULL. */
const char *fake_request_header(const struct fake_request *r, const char *name);

#endif
