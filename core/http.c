#include "core/http.h"

#include <stdlib.h>
#include <strings.h>

void kg_http_response_init(struct kg_http_response *r)
{
    r->status = 0;
    kg_buf_init(&r->body, 0);
    r->header_count = 0;
}

void kg_http_response_cleanup(struct kg_http_response *r)
{
    /* Bodies may carry credentials (STS, IMDS, TURN): wipe them. */
    r->body.flags |= KG_BUF_SECRET;
    kg_buf_free(&r->body);
    for (size_t i = 0; i < r->header_count; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->header_count = 0;
    r->status = 0;
}

const char *kg_http_response_header(const struct kg_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}
