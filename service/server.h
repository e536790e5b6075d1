/* kvsgate: the HTTP application (`server_`): turns httpd requests into api
 * requests and back.
 *
 * Per request: an id (the caller's X-Request-Id when sane, else a random one),
 * CORS (allow-list, preflights answered here), routing (404, 405 with Allow),
 * bearer authentication for /v1, the handler on the HTTP thread and, when it
 * needs AWS, again on a worker under the request's deadline; errors rendered as
 * problem+json; common headers (X-Request-Id, Cache-Control: no-store on /v1,
 * Retry-After, WWW-Authenticate). When the request ends: one access-log line and
 * the request metrics. Never logs a token, a signed URL or a credential.
 */
#ifndef KG_SERVICE_SERVER_H
#define KG_SERVICE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "service/httpd.h"
#include "service/clientaddr.h"
#include "service/ratelimit.h"
#include "service/workers.h"

struct server_options {
    const struct api_deps *deps;
    struct workers *workers;
    char *const *cors_origins; /* exact origins, or "*" */
    size_t cors_origin_count;
    int64_t request_deadline_ms;
    int access_log;
    struct ratelimit *ratelimit; /* NULL: no per-subject limit */
    struct ratelimit *auth_failures; /* refused tokens per client address; NULL: none */
    const struct clientaddr_trust *trusted_proxies; /* NULL: the peer is the client */
};

struct server;

struct server *server_new(const struct server_options *opts);
void server_free(struct server *s);
/* The callbacks to give httpd_start. */
struct httpd_app server_httpd_app(struct server *s);
void server_set_draining(struct server *s);
int server_draining(void *server);

#endif
