/* The route table: every path of openapi.yaml, in one place. */
#include <string.h>

#include "api/api.h"

static const struct api_route routes[] = {
    {"GET", "/v1/channels", api_channels_list, 1, "channels"},
    {"PUT", "/v1/channels/{name}", api_channels_put, 1, "channels"},
    {"GET", "/v1/channels/{name}", api_channels_get, 1, "channels"},
    {"DELETE", "/v1/channels/{name}", api_channels_delete, 1, "channels"},
    {"GET", "/v1/channels/{name}/master", api_connection_master, 1, "connection"},
    {"GET", "/v1/channels/{name}/viewer", api_connection_viewer, 1, "connection"},
    {"GET", "/healthz", api_operations_healthz, 0, "operations"},
    {"GET", "/readyz", api_operations_readyz, 0, "operations"},
    {"GET", "/metrics", api_operations_metrics, 0, "operations"},
    {"GET", "/openapi.yaml", api_operations_openapi, 0, "operations"},
};

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
