#include "core/kvsname.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

int kg_kvs_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

int kg_kvs_aws_prefixed(const char *s) { return strncasecmp(s, "AWS_", 4) == 0; }

/* 1..max bytes, each passing ok. */
static int all_of(const char *s, size_t max, int (*ok)(unsigned char))
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || !ok((unsigned char)s[n]))
            return 0;
    return n > 0;
}

int kg_kvs_channel_name_valid(const char *name)
{
    return all_of(name, KG_KVS_NAME_MAX, kg_kvs_name_char);
}

int kg_kvs_client_id_valid(const char *client_id)
{
    return all_of(client_id, KG_KVS_CLIENT_ID_MAX, kg_kvs_name_char) &&
           !kg_kvs_aws_prefixed(client_id);
}

static int region_char(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

int kg_kvs_region_valid(const char *region) { return all_of(region, KG_KVS_REGION_MAX, region_char); }

int kg_kvs_tag_ascii_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(" _.:/=+-@", c) != NULL);
}

int kg_kvs_token_valid(const char *s, unsigned max)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
            return 0;
    }
    return 1;
}
