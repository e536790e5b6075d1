/* The route table: every path of openapi.yaml, in one place.
 *
 * Checklist: a new route also goes into openapi.yaml (and its contract test
 * follows), README's API table, and, when it reads a query parameter, the
 * `query` list here (api_dispatch hands the handler only those). */
#include <string.h>

#include "api/api.h"

#define V1 .tag = "channels", .needs_auth = 1
#define CONNECTION .tag = "connection", .needs_auth = 1, .takes_name = 1, .blocking = API_MAY_BLOCK
#define STORAGE .tag = "storage", .needs_auth = 1, .takes_name = 1
#define OPERATION .tag = "operations", .blocking = API_NEVER_BLOCKS

static const struct api_route routes[] = {
    {"GET", "/v1/channels", api_channels_list, V1, .query = {"prefix", "limit", "nextToken"},
     .blocking = API_ALWAYS_BLOCKS},
    {"PUT", "/v1/channels/{name}", api_channels_put, V1, .takes_name = 1,
     .access = API_ACCESS_MANAGE, .takes_body = 1, .blocking = API_ALWAYS_BLOCKS},
    {"GET", "/v1/channels/{name}", api_channels_get, V1, .takes_name = 1,
     .access = API_ACCESS_DESCRIBE, .blocking = API_ALWAYS_BLOCKS},
    {"DELETE", "/v1/channels/{name}", api_channels_delete, V1, .takes_name = 1,
     .access = API_ACCESS_MANAGE, .blocking = API_ALWAYS_BLOCKS},
    {"GET", "/v1/channels/{name}/master", api_connection_master, CONNECTION,
     .access = API_ACCESS_MASTER},
    {"GET", "/v1/channels/{name}/viewer", api_connection_viewer, CONNECTION,
     .access = API_ACCESS_VIEWER, .query = {"clientId"}},
    {"GET", "/v1/channels/{name}/media-storage", api_storage_get, STORAGE,
     .access = API_ACCESS_MANAGE, .blocking = API_ALWAYS_BLOCKS},
    {"PUT", "/v1/channels/{name}/media-storage", api_storage_put, STORAGE,
     .access = API_ACCESS_MANAGE, .takes_body = 1, .blocking = API_ALWAYS_BLOCKS},
    {"POST", "/v1/channels/{name}/master/storage-session", api_storage_join_master, STORAGE,
     .access = API_ACCESS_MASTER, .blocking = API_MAY_BLOCK},
    {"POST", "/v1/channels/{name}/viewer/storage-session", api_storage_join_viewer, STORAGE,
     .access = API_ACCESS_VIEWER, .query = {"clientId"}, .blocking = API_MAY_BLOCK},
    {"GET", "/healthz", api_operations_healthz, OPERATION},
    {"GET", "/readyz", api_operations_readyz, OPERATION},
    {"GET", "/metrics", api_operations_metrics, OPERATION},
    {"GET", "/openapi.yaml", api_operations_openapi, OPERATION},
};

#undef V1
#undef CONNECTION
#undef STORAGE
#undef OPERATION

#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

/* Matches path against pattern segment by segment; {name} takes one non-empty
 * segment. */
static int path_matches(const char *pattern, const char *path, char channel[KVS_NAME_MAX + 1])
{
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        size_t plen = strcspn(p, "/");
        size_t slen = strcspn(s, "/");
        if (plen == 6 && strncmp(p, "{name}", 6) == 0) {
            if (slen == 0)
                return 0;
            size_t n = slen > KVS_NAME_MAX ? KVS_NAME_MAX + 0 : slen;
            if (channel) {
                memcpy(channel, s, n);
                channel[n] = '\0';
                if (slen > KVS_NAME_MAX)
                    channel[0] = '\0'; /* too long: fails validation as empty */
            }
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

const struct api_route *api_route_match(const char *method, const char *path,
                                        char channel[KVS_NAME_MAX + 1], char *allow,
                                        size_t allow_len, const char **path_pattern,
                                        enum kg_err *err)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int path_found = 0;
    size_t used = 0;
    if (allow && allow_len)
        allow[0] = '\0';
    if (path_pattern)
        *path_pattern = NULL;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        if (!path_matches(routes[i].pattern, path, channel))
            continue;
        path_found = 1;
        if (path_pattern)
            *path_pattern = routes[i].pattern;
        if (strcmp(routes[i].method, m) == 0) {
            *err = KG_OK;
            return &routes[i];
        }
        if (allow && used + 16 < allow_len) {
            size_t n = strlen(routes[i].method);
            if (used) {
                memcpy(allow + used, ", ", 2);
                used += 2;
            }
            memcpy(allow + used, routes[i].method, n);
            used += n;
            allow[used] = '\0';
        }
    }
    if (path_found && allow && used + 16 < allow_len) {
        /* Every path answers CORS preflights; GET paths answer HEAD. */
        if (strstr(allow, "GET")) {
            memcpy(allow + used, ", HEAD", 6);
            used += 6;
        }
        memcpy(allow + used, ", OPTIONS", 9);
        used += 9;
        allow[used] = '\0';
    }
    *err = path_found ? KG_ERR_METHOD_NOT_ALLOWED : KG_ERR_NOT_FOUND;
    return NULL;
}
