#include "fake_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/mem.h"
#include "core/timeutil.h"

static void fake_response_free(struct fake_response *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static void fake_response_set(struct fake_response *r, long status, const char *headers,
                              const char *body)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->headers = kg_strdup(headers ? headers : "");
    r->body = kg_strdup(body ? body : "");
    r->body_len = strlen(r->body);
}

static void fake_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Copies r into resp like the transport would (headers lower-cased). */
static enum kg_err fake_answer(const struct fake_response *r, const struct kg_http_request *req,
                               struct kg_http_response *resp)
{
    if (r->delay_ms) {
        if (r->delay_ms >= req->timeout_ms) {
            fake_sleep_ms(req->timeout_ms);
            return KG_ERR_UPSTREAM_TIMEOUT;
        }
        fake_sleep_ms(r->delay_ms);
    }
    if (r->err != KG_OK)
        return r->err;
    resp->status = r->status;
    resp->body.max_len = req->max_response_len;
    if (kg_buf_append(&resp->body, r->body, r->body_len) != KG_OK) {
        kg_buf_reset(&resp->body);
        return KG_ERR_UPSTREAM_REFUSED;
    }
    const char *p = r->headers;
    while (p && *p && resp->header_count < KG_HTTP_MAX_RESPONSE_HEADERS) {
        size_t line = strcspn(p, "\n");
        const char *colon = memchr(p, ':', line);
        if (colon) {
            size_t nl = (size_t)(colon - p);
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            char *name = kg_strndup(p, nl);
            for (char *c = name; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            resp->headers[resp->header_count].name = name;
            resp->headers[resp->header_count].value = kg_strndup(v, (size_t)(p + line - v));
            resp->header_count++;
        }
        p += line;
        if (*p == '\n')
            p++;
    }
    return KG_OK;
}

static enum kg_err fake_perform(struct kg_http_client *self, const struct kg_http_request *req,
                                struct kg_http_response *resp)
{
    struct fake_http *f = self->impl;
    struct fake_response chosen = {.status = 599};
    int found = 0;
    pthread_mutex_lock(&f->lock);
    if (f->request_count < FAKE_MAX_REQUESTS) {
        struct fake_request *rec = &f->requests[f->request_count++];
        rec->method = kg_strdup(req->method);
        rec->url = kg_strdup(req->url);
        rec->body = kg_strndup(req->body ? req->body : "", req->body_len);
        rec->body_len = req->body_len;
        for (size_t i = 0; i < req->header_count && i < FAKE_MAX_HEADERS; i++) {
            rec->headers[i].name = kg_strdup(req->headers[i].name);
            rec->headers[i].value = kg_strdup(req->headers[i].value);
            rec->header_count++;
        }
        rec->timeout_ms = req->timeout_ms;
        rec->connect_timeout_ms = req->connect_timeout_ms;
        rec->max_response_len = req->max_response_len;
        rec->at_mono_ms = kg_mono_ms();
    }
    if (f->queue_next < f->queue_count) {
        chosen = f->queue[f->queue_next++];
        found = 1;
    } else {
        for (size_t i = 0; i < f->route_count; i++) {
            struct fake_route *rt = &f->routes[i];
            if (strcmp(rt->method, req->method) == 0 && strstr(req->url, rt->url_contains)) {
                rt->hits++;
                chosen = rt->resp;
                found = 1;
                break;
            }
        }
    }
    /* Copy what we need while locked: queue entries stay owned by f. */
    struct fake_response copy = chosen;
    if (found) {
        copy.headers = kg_strdup(chosen.headers ? chosen.headers : "");
        copy.body = kg_strndup(chosen.body ? chosen.body : "", chosen.body_len);
    } else {
        copy.headers = kg_strdup("");
        copy.body = kg_strdup("{\"message\":\"no fake response\"}");
        copy.body_len = strlen(copy.body);
    }
    pthread_mutex_unlock(&f->lock);
    enum kg_err err = fake_answer(&copy, req, resp);
    fake_response_free(&copy);
    return err;
}

struct fake_http *fake_http_new(void)
{
    struct fake_http *f = kg_calloc(1, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->client.perform = fake_perform;
    f->client.impl = f;
    return f;
}

void fake_http_reset(struct fake_http *f)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->queue_count; i++)
        fake_response_free(&f->queue[i]);
    f->queue_count = f->queue_next = 0;
    for (size_t i = 0; i < f->route_count; i++) {
        free(f->routes[i].method);
        free(f->routes[i].url_contains);
        fake_response_free(&f->routes[i].resp);
    }
    f->route_count = 0;
    for (size_t i = 0; i < f->request_count; i++) {
        struct fake_request *r = &f->requests[i];
        free(r->method);
        free(r->url);
        kg_free_secret(r->body);
        for (size_t k = 0; k < r->header_count; k++) {
            free(r->headers[k].name);
            kg_free_secret(r->headers[k].value);
        }
        memset(r, 0, sizeof *r);
    }
    f->request_count = 0;
    pthread_mutex_unlock(&f->lock);
}

void fake_http_free(struct fake_http *f)
{
    if (!f)
        return;
    fake_http_reset(f);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void fake_http_push(struct fake_http *f, long status, const char *headers, const char *body)
{
    pthread_mutex_lock(&f->lock);
    if (f->queue_count < FAKE_MAX_QUEUE)
        fake_response_set(&f->queue[f->queue_count++], status, headers, body);
    pthread_mutex_unlock(&f->lock);
}

void fake_http_push_err(struct fake_http *f, enum kg_err err)
{
    pthread_mutex_lock(&f->lock);
    if (f->queue_count < FAKE_MAX_QUEUE) {
        fake_response_set(&f->queue[f->queue_count], 0, NULL, NULL);
        f->queue[f->queue_count++].err = err;
    }
    pthread_mutex_unlock(&f->lock);
}

void fake_http_push_delay(struct fake_http *f, int64_t delay_ms, long status, const char *body)
{
    pthread_mutex_lock(&f->lock);
    if (f->queue_count < FAKE_MAX_QUEUE) {
        fake_response_set(&f->queue[f->queue_count], status, NULL, body);
        f->queue[f->queue_count++].delay_ms = delay_ms;
    }
    pthread_mutex_unlock(&f->lock);
}

void fake_http_route(struct fake_http *f, const char *method, const char *url_contains,
                     long status, const char *headers, const char *body)
{
    pthread_mutex_lock(&f->lock);
    if (f->route_count < FAKE_MAX_ROUTES) {
        struct fake_route *rt = &f->routes[f->route_count++];
        rt->method = kg_strdup(method);
        rt->url_contains = kg_strdup(url_contains);
        fake_response_set(&rt->resp, status, headers, body);
        rt->hits = 0;
    }
    pthread_mutex_unlock(&f->lock);
}

void fake_http_route_err(struct fake_http *f, const char *method, const char *url_contains,
                         enum kg_err err)
{
    fake_http_route(f, method, url_contains, 0, NULL, NULL);
    pthread_mutex_lock(&f->lock);
    f->routes[f->route_count - 1].resp.err = err;
    pthread_mutex_unlock(&f->lock);
}

int fake_http_route_hits(struct fake_http *f, const char *method, const char *url_contains)
{
    int hits = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->route_count; i++)
        if (strcmp(f->routes[i].method, method) == 0 &&
            strcmp(f->routes[i].url_contains, url_contains) == 0)
            hits = f->routes[i].hits;
    pthread_mutex_unlock(&f->lock);
    return hits;
}

size_t fake_http_request_count(struct fake_http *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->request_count;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const struct fake_request *fake_http_request(struct fake_http *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    const struct fake_request *r = i < f->request_count ? &f->requests[i] : NULL;
    pthread_mutex_unlock(&f->lock);
    return r;
}

const char *fake_request_header(const struct fake_request *r, const char *name)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->header_count; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}
