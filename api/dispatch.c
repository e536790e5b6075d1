/* The dispatcher: what every route shares, done once from its row of the
 * table (routes.c): the query parameters it reads, its body, its {name}, the
 * access it needs, and whether it runs on the HTTP thread. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "auth/authz.h"
#include "core/mem.h"

enum kg_err api_request_prepare(struct api_request *req, api_query_fn query_fn, void *query_ctx,
                                const char *content_type, const char *body, size_t body_len)
{
    const struct api_route *route = req->route;
    enum kg_err qerr = KG_OK;
    for (size_t i = 0; i < API_QUERY_MAX && route->query[i]; i++) {
        const char *v = query_fn(query_ctx, route->query[i], &qerr);
        req->query[i] = v ? kg_strdup(v) : NULL;
    }
    if (qerr != KG_OK) {
        api_set_detail(req, "a query parameter is repeated or malformed");
        return KG_ERR_BAD_REQUEST;
    }
    if (!body_len)
        return KG_OK;
    const char *ct = content_type;
    if (!ct || strncmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        api_set_detail(req, "a request body must be application/json");
        return KG_ERR_BAD_REQUEST;
    }
    if (route->takes_body) {
        req->body = kg_strndup(body, body_len);
        req->body_len = body_len;
    }
    return KG_OK;
}

const char *api_query(const struct api_request *req, const char *name)
{
    for (size_t i = 0; i < API_QUERY_MAX && req->route->query[i]; i++)
        if (strcmp(req->route->query[i], name) == 0)
            return req->query[i];
    return NULL;
}

/* The grant the route needs on req->channel; KG_ERR_FORBIDDEN with the
 * detail when the token does not hold it. */
static enum kg_err check_access(struct api_request *req)
{
    const struct auth_principal *p = &req->principal;
    const char *ch = req->channel;
    switch (req->route->access) {
    case API_ACCESS_NONE:
        return KG_OK;
    case API_ACCESS_MANAGE:
        if (authz_allows(p, AUTHZ_PERM_MANAGE, ch))
            return KG_OK;
        api_set_detail(req, "the token does not grant manage on this channel");
        return KG_ERR_FORBIDDEN;
    case API_ACCESS_DESCRIBE:
        if (authz_can_describe(p, ch))
            return KG_OK;
        api_set_detail(req, "the token grants no role on this channel");
        return KG_ERR_FORBIDDEN;
    case API_ACCESS_MASTER:
        req->role = "MASTER";
        if (authz_allows(p, AUTHZ_PERM_MASTER, ch))
            return KG_OK;
        api_set_detail(req, "the token does not grant master on this channel");
        return KG_ERR_FORBIDDEN;
    case API_ACCESS_VIEWER:
        req->role = "VIEWER";
        if (authz_allows(p, AUTHZ_PERM_VIEWER, ch))
            return KG_OK;
        api_set_detail(req, "the token does not grant viewer on this channel");
        return KG_ERR_FORBIDDEN;
    }
    return KG_ERR_FORBIDDEN;
}

enum kg_err api_dispatch(struct api_request *req, int can_block)
{
    const struct api_route *route = req->route;
    if (!req->admitted) {
        if (route->takes_name) {
            enum kg_err err = api_check_channel_name(req);
            if (err != KG_OK)
                return err;
        }
        enum kg_err err = check_access(req);
        if (err != KG_OK)
            return err;
        req->admitted = 1;
    }
    if (!can_block && route->blocking == API_ALWAYS_BLOCKS)
        return KG_ERR_WOULD_BLOCK;
    return route->handler(req, can_block);
}
