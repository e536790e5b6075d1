/* The compact values the channel caches hold (one allocation each), and
 * their JSON for the replicas' shared cache. Decoding is strict: a value from
 * Redis opened with our key is still read as if it came from anywhere
 * (every member typed and bounded, nothing extra), so a bug or an old format
 * costs an AWS call, never a wrong answer.
 */
#include "aws/channels_impl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/kvsname.h"
#include "core/mem.h"

void channels_free_plain(void *v) { free(v); }

void channels_free_ice(void *v)
{
    struct channels_ice *ice = v;
    kg_wipe(ice, ice->bytes); /* TURN passwords */
    free(ice);
}

/* ---- compact copies ----------------------------------------------------------------- */

const char *channels_pack(struct packer *p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *at = p->next;
    memcpy(at, s, n);
    p->next += n;
    return at;
}

void channels_channel_view(const struct kvs_channel *c, struct channels_channel *out)
{
    *out = (struct channels_channel){.name = c->name, .arn = c->arn, .type = c->type,
                                     .status = c->status, .version = c->version,
                                     .creation_time_s = c->creation_time_s,
                                     .message_ttl_s = c->message_ttl_s};
}

static size_t channel_strings(const struct kvs_channel *c)
{
    return strlen(c->name) + strlen(c->arn) + strlen(c->type) + strlen(c->status) +
           strlen(c->version) + 5;
}

static void channel_pack(struct packer *p, const struct kvs_channel *c, struct channels_channel *v)
{
    v->name = channels_pack(p, c->name);
    v->arn = channels_pack(p, c->arn);
    v->type = channels_pack(p, c->type);
    v->status = channels_pack(p, c->status);
    v->version = channels_pack(p, c->version);
    v->creation_time_s = c->creation_time_s;
    v->message_ttl_s = c->message_ttl_s;
}

struct channels_channel *channels_channel_compact(const struct kvs_channel *c)
{
    struct channels_channel *v = kg_malloc(sizeof *v + channel_strings(c));
    struct packer p = {(char *)(v + 1)};
    channel_pack(&p, c, v);
    return v;
}

/* Every string of a kvs_channel is a bounded array, and a page holds at most
 * what its parser accepted: the sum cannot wrap. */
struct channels_list *channels_list_compact(const struct kvs_channel_page *page)
{
    size_t strings = strlen(page->next_token) + 1;
    for (size_t i = 0; i < page->count; i++)
        strings += channel_strings(&page->channels[i]);
    size_t head = sizeof(struct channels_list) + page->count * sizeof(struct channels_channel);
    struct channels_list *v = kg_malloc(head + strings);
    struct packer p = {(char *)v + head};
    v->count = page->count;
    v->next_token = channels_pack(&p, page->next_token);
    for (size_t i = 0; i < page->count; i++)
        channel_pack(&p, &page->channels[i], &v->channels[i]);
    return v;
}

struct channels_endpoints *channels_endpoints_compact(const struct kvs_endpoints *e)
{
    struct channels_endpoints *v = kg_malloc(sizeof *v + strlen(e->wss) + strlen(e->https) + 2);
    struct packer p = {(char *)(v + 1)};
    v->wss = channels_pack(&p, e->wss);
    v->https = channels_pack(&p, e->https);
    return v;
}

struct channels_storage *channels_storage_compact(const struct kvs_media_storage *m)
{
    struct channels_storage *v = kg_malloc(sizeof *v + strlen(m->stream_arn) + 1);
    struct packer p = {(char *)(v + 1)};
    v->enabled = m->enabled;
    v->stream_arn = channels_pack(&p, m->stream_arn);
    return v;
}

struct channels_webrtc *channels_webrtc_compact(const char *url)
{
    struct channels_webrtc *v = kg_malloc(sizeof *v + strlen(url) + 1);
    struct packer p = {(char *)(v + 1)};
    v->url = channels_pack(&p, url);
    return v;
}

/* Layout: the struct and its servers, then every server's uri pointers, then
 * the strings. */
struct channels_ice *channels_ice_compact(const struct kvs_ice_config *cfg)
{
    size_t count = cfg->count < KVS_ICE_SERVERS_MAX ? cfg->count : KVS_ICE_SERVERS_MAX;
    size_t uris = 0, strings = 0;
    for (size_t i = 0; i < count; i++) {
        const struct kvs_ice_server *s = &cfg->servers[i];
        uris += s->uri_count;
        for (size_t k = 0; k < s->uri_count; k++)
            strings += strlen(s->uris[k]) + 1;
        strings += strlen(s->username ? s->username : "") + strlen(s->password ? s->password : "") + 2;
    }
    size_t head = sizeof(struct channels_ice) + count * sizeof(struct channels_ice_server);
    size_t bytes = head + uris * sizeof(const char *) + strings;
    struct channels_ice *v = kg_malloc(bytes);
    v->bytes = bytes;
    v->count = count;
    v->fetched_at_s = cfg->fetched_at_s;
    v->min_ttl_s = cfg->min_ttl_s;
    const char **uri_slots = (const char **)(void *)((char *)v + head);
    struct packer p = {(char *)(uri_slots + uris)};
    for (size_t i = 0; i < count; i++) {
        const struct kvs_ice_server *s = &cfg->servers[i];
        struct channels_ice_server *d = &v->servers[i];
        for (size_t k = 0; k < s->uri_count; k++)
            uri_slots[k] = channels_pack(&p, s->uris[k]);
        d->uris = uri_slots;
        d->uri_count = s->uri_count;
        uri_slots += s->uri_count;
        d->username = channels_pack(&p, s->username ? s->username : "");
        d->password = channels_pack(&p, s->password ? s->password : "");
        d->ttl_s = s->ttl_s;
    }
    return v;
}

/* ---- the shared cache's JSON ---------------------------------------------------------- */

static json_t *ice_json(const struct channels_ice *v)
{
    json_t *servers = json_array();
    for (size_t i = 0; i < v->count; i++) {
        const struct channels_ice_server *s = &v->servers[i];
        json_t *uris = json_array();
        for (size_t k = 0; k < s->uri_count; k++)
            json_array_append_new(uris, json_string(s->uris[k]));
        json_array_append_new(servers, json_pack("{s:o, s:s, s:s, s:i}", "u", uris, "n",
                                                 s->username, "p", s->password, "t", s->ttl_s));
    }
    return json_pack("{s:I, s:i, s:I, s:o}", "f", (json_int_t)v->fetched_at_s, "m", v->min_ttl_s,
                     "x", (json_int_t)v->expires_at_s, "s", servers);
}

char *channels_value_encode(enum shared_kind kind, const void *value, size_t *len)
{
    json_t *o = NULL;
    switch (kind) {
    case SHARED_CHANNEL: {
        const struct channels_channel *c = value;
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i}", "n", c->name, "a", c->arn, "t",
                      c->type, "s", c->status, "v", c->version, "c", (json_int_t)c->creation_time_s,
                      "m", c->message_ttl_s);
        break;
    }
    case SHARED_ENDPOINT: {
        const struct channels_endpoints *e = value;
        o = json_pack("{s:s, s:s}", "w", e->wss, "h", e->https);
        break;
    }
    case SHARED_ICE:
        o = ice_json(value);
        break;
    case SHARED_STORAGE: {
        const struct channels_storage *m = value;
        o = json_pack("{s:b, s:s}", "e", m->enabled, "a", m->stream_arn);
        break;
    }
    case SHARED_WEBRTC:
        o = json_pack("{s:s}", "u", ((const struct channels_webrtc *)value)->url);
        break;
    default:
        break;
    }
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        *len = strlen(text);
    return text;
}

/* A string member of at most max bytes copied into out; 0 when absent, not
 * a string, too long or holding a NUL. */
static int take_str(json_t *o, const char *key, char *out, size_t max)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return 0;
    size_t n = json_string_length(v);
    if (n > max || memchr(json_string_value(v), '\0', n))
        return 0;
    memcpy(out, json_string_value(v), n + 1);
    return 1;
}

static int take_int(json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return 0;
    *out = json_integer_value(v);
    return 1;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            return 0;
    return 1;
}

static void *decode_channel(json_t *o)
{
    struct kvs_channel c;
    memset(&c, 0, sizeof c);
    json_int_t created, ttl;
    if (json_object_size(o) != 7 || !take_str(o, "n", c.name, KVS_NAME_MAX) ||
        !take_str(o, "a", c.arn, KVS_ARN_MAX) || !take_str(o, "t", c.type, sizeof c.type - 1) ||
        !take_str(o, "s", c.status, sizeof c.status - 1) ||
        !take_str(o, "v", c.version, sizeof c.version - 1) ||
        !take_int(o, "c", 0, INT64_MAX / 2, &created) || !take_int(o, "m", 0, 3600, &ttl) ||
        !kg_kvs_channel_name_valid(c.name) || !printable(c.arn))
        return NULL;
    c.creation_time_s = created;
    c.message_ttl_s = (int)ttl;
    return channels_channel_compact(&c);
}

static void *decode_endpoints(json_t *o)
{
    struct kvs_endpoints e;
    if (json_object_size(o) != 2 || !take_str(o, "w", e.wss, KVS_URL_MAX) ||
        !take_str(o, "h", e.https, KVS_URL_MAX))
        return NULL;
    return channels_endpoints_compact(&e);
}

static int decode_ice_server(json_t *s, struct kvs_ice_server *d)
{
    json_t *uris = json_object_get(s, "u");
    json_int_t ttl;
    if (!json_is_object(s) || json_object_size(s) != 4 || !json_is_array(uris) ||
        json_array_size(uris) > KVS_ICE_URIS_MAX || !take_int(s, "t", 0, 86400, &ttl))
        return 0;
    d->ttl_s = (int)ttl;
    char text[KVS_URL_MAX + 1];
    for (size_t k = 0; k < json_array_size(uris); k++) {
        json_t *u = json_array_get(uris, k);
        if (!json_is_string(u) || json_string_length(u) > KVS_URL_MAX ||
            memchr(json_string_value(u), '\0', json_string_length(u)))
            return 0;
        d->uris[d->uri_count++] = kg_strdup(json_string_value(u));
    }
    if (!take_str(s, "n", text, KVS_URL_MAX))
        return 0;
    d->username = kg_strdup(text);
    int ok = take_str(s, "p", text, KVS_URL_MAX);
    if (ok)
        d->password = kg_strdup(text);
    kg_wipe(text, sizeof text);
    return ok;
}

static void *decode_ice(json_t *o)
{
    json_t *servers = json_object_get(o, "s");
    json_int_t fetched, min_ttl, expires;
    if (json_object_size(o) != 4 || !json_is_array(servers) ||
        json_array_size(servers) > KVS_ICE_SERVERS_MAX ||
        !take_int(o, "f", 0, INT64_MAX / 2, &fetched) || !take_int(o, "m", 0, 86400, &min_ttl) ||
        !take_int(o, "x", 0, INT64_MAX / 2, &expires))
        return NULL;
    struct kvs_ice_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.fetched_at_s = fetched;
    cfg.min_ttl_s = (int)min_ttl;
    int ok = 1;
    for (size_t i = 0; ok && i < json_array_size(servers); i++)
        ok = decode_ice_server(json_array_get(servers, i), &cfg.servers[cfg.count++]);
    struct channels_ice *v = ok ? channels_ice_compact(&cfg) : NULL;
    if (v)
        v->expires_at_s = expires;
    kvs_ice_config_cleanup(&cfg);
    return v;
}

static void *decode_storage(json_t *o)
{
    struct kvs_media_storage m;
    json_t *e = json_object_get(o, "e");
    if (json_object_size(o) != 2 || !json_is_boolean(e) ||
        !take_str(o, "a", m.stream_arn, KVS_ARN_MAX))
        return NULL;
    m.enabled = json_is_true(e);
    return channels_storage_compact(&m);
}

static void *decode_webrtc(json_t *o)
{
    char url[KVS_URL_MAX + 1];
    if (json_object_size(o) != 1 || !take_str(o, "u", url, KVS_URL_MAX))
        return NULL;
    return channels_webrtc_compact(url);
}

void *channels_value_decode(enum shared_kind kind, const char *json, size_t len)
{
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    void *v = NULL;
    switch (kind) {
    case SHARED_CHANNEL:
        v = decode_channel(o);
        break;
    case SHARED_ENDPOINT:
        v = decode_endpoints(o);
        break;
    case SHARED_ICE:
        v = decode_ice(o);
        break;
    case SHARED_STORAGE:
        v = decode_storage(o);
        break;
    case SHARED_WEBRTC:
        v = decode_webrtc(o);
        break;
    default:
        break;
    }
    json_decref(o);
    return v;
}

void channels_value_free(enum shared_kind kind, void *value)
{
    if (kind == SHARED_ICE)
        channels_free_ice(value);
    else
        free(value);
}
