#include "aws/channels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timeutil.h"

struct channels {
    struct channels_options opts;
    struct cache *channel;
    struct cache *endpoint;
    struct cache *ice;
    struct cache *storage;
    struct cache *webrtc;
    struct cache *list;     /* NULL when lists are not cached */
    struct cache *describe; /* the same */
};

/* How long a load may take when the caller set no deadline (refreshes too). */
#define CHANNELS_LOAD_DEADLINE_MS 10000

static void free_plain(void *v) { free(v); }

static void free_ice(void *v)
{
    struct channels_ice *ice = v;
    kg_wipe(ice, ice->bytes); /* TURN passwords */
    free(ice);
}

/* ---- compact copies ----------------------------------------------------------------- */

/* Strings copied one after the other into the tail of a value's allocation. */
struct packer {
    char *next;
};

static const char *pack(struct packer *p, const char *s)
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
    v->name = pack(p, c->name);
    v->arn = pack(p, c->arn);
    v->type = pack(p, c->type);
    v->status = pack(p, c->status);
    v->version = pack(p, c->version);
    v->creation_time_s = c->creation_time_s;
    v->message_ttl_s = c->message_ttl_s;
}

static struct channels_channel *channel_compact(const struct kvs_channel *c)
{
    struct channels_channel *v = kg_malloc(sizeof *v + channel_strings(c));
    struct packer p = {(char *)(v + 1)};
    channel_pack(&p, c, v);
    return v;
}

/* Every string of a kvs_channel is a bounded array, and a page holds at most
 * what its parser accepted: the sum cannot wrap. */
static struct channels_list *list_compact(const struct kvs_channel_page *page)
{
    size_t strings = strlen(page->next_token) + 1;
    for (size_t i = 0; i < page->count; i++)
        strings += channel_strings(&page->channels[i]);
    size_t head = sizeof(struct channels_list) + page->count * sizeof(struct channels_channel);
    struct channels_list *v = kg_malloc(head + strings);
    struct packer p = {(char *)v + head};
    v->count = page->count;
    v->next_token = pack(&p, page->next_token);
    for (size_t i = 0; i < page->count; i++)
        channel_pack(&p, &page->channels[i], &v->channels[i]);
    return v;
}

static struct channels_endpoints *endpoints_compact(const struct kvs_endpoints *e)
{
    struct channels_endpoints *v = kg_malloc(sizeof *v + strlen(e->wss) + strlen(e->https) + 2);
    struct packer p = {(char *)(v + 1)};
    v->wss = pack(&p, e->wss);
    v->https = pack(&p, e->https);
    return v;
}

static struct channels_storage *storage_compact(const struct kvs_media_storage *m)
{
    struct channels_storage *v = kg_malloc(sizeof *v + strlen(m->stream_arn) + 1);
    struct packer p = {(char *)(v + 1)};
    v->enabled = m->enabled;
    v->stream_arn = pack(&p, m->stream_arn);
    return v;
}

static struct channels_webrtc *webrtc_compact(const char *url)
{
    struct channels_webrtc *v = kg_malloc(sizeof *v + strlen(url) + 1);
    struct packer p = {(char *)(v + 1)};
    v->url = pack(&p, url);
    return v;
}

/* Layout: the struct and its servers, then every server's uri pointers, then
 * the strings. */
static struct channels_ice *ice_compact(const struct kvs_ice_config *cfg)
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
            uri_slots[k] = pack(&p, s->uris[k]);
        d->uris = uri_slots;
        d->uri_count = s->uri_count;
        uri_slots += s->uri_count;
        d->username = pack(&p, s->username ? s->username : "");
        d->password = pack(&p, s->password ? s->password : "");
        d->ttl_s = s->ttl_s;
    }
    return v;
}

static enum kg_err load_refresh(void *arg, const char *key, struct cache_loaded *out);
static void recipe_free(void *r);

struct channels *channels_new(const struct channels_options *opts)
{
    struct channels *ch = kg_calloc(1, sizeof *ch);
    ch->opts = *opts;
    if (!ch->opts.max_entries)
        ch->opts.max_entries = 20000;
    if (!ch->opts.channel_ttl_s)
        ch->opts.channel_ttl_s = 3600;
    if (!ch->opts.endpoint_ttl_s)
        ch->opts.endpoint_ttl_s = 36000;
    if (!ch->opts.ice_margin_s)
        ch->opts.ice_margin_s = 30;
    struct cache_options o = {.name = "channel", .max_entries = ch->opts.max_entries,
                              .free_value = free_plain, .now_ms = opts->now_ms};
    if (opts->refresher) {
        o.refresher = opts->refresher;
        o.refresh_load = load_refresh;
        o.free_recipe = recipe_free;
    }
    ch->channel = cache_new(&o);
    o.name = "endpoint";
    ch->endpoint = cache_new(&o);
    o.name = "storage";
    ch->storage = cache_new(&o);
    o.name = "webrtc";
    ch->webrtc = cache_new(&o);
    o.name = "ice";
    o.free_value = free_ice;
    ch->ice = cache_new(&o);
    if (opts->list_ttl_ms > 0) {
        struct cache_options lo = {.name = "list", .max_entries = 1000, .free_value = free_plain,
                                   .now_ms = opts->now_ms};
        ch->list = cache_new(&lo);
        lo.name = "describe";
        lo.max_entries = ch->opts.max_entries;
        ch->describe = cache_new(&lo);
    }
    return ch;
}

void channels_free(struct channels *ch)
{
    if (!ch)
        return;
    cache_free(ch->channel);
    cache_free(ch->endpoint);
    cache_free(ch->ice);
    cache_free(ch->storage);
    cache_free(ch->webrtc);
    if (ch->list) {
        cache_free(ch->list);
        cache_free(ch->describe);
    }
    free(ch);
}

static const char *role_name(enum kvs_role role) { return role == KVS_ROLE_MASTER ? "MASTER" : "VIEWER"; }

/* ---- loaders -------------------------------------------------------------------- */

struct load_ctx {
    struct channels *ch;
    struct kvs_call *call;
    cache_load_fn load; /* one of the load_ functions below, with this as arg */
    const char *name;
    const char *arn;
    const char *https;
    const char *client_id;
    enum kvs_role role;
    int limit;     /* lists */
    int no_recipe; /* never refreshed ahead (lists) */
};

/* How to load a key again on a refresher thread: the load_ctx without the
 * caller's call, its strings copied into one allocation. */
struct recipe {
    struct channels *ch;
    cache_load_fn load;
    enum kvs_role role;
    const char *name, *arn, *https, *client_id; /* NULL when the load had none */
    char text[];
};

static size_t opt_len(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *opt_pack(struct packer *p, const char *s) { return s ? pack(p, s) : NULL; }

static struct recipe *recipe_new(const struct load_ctx *l)
{
    size_t strings = opt_len(l->name) + opt_len(l->arn) + opt_len(l->https) + opt_len(l->client_id);
    struct recipe *r = kg_malloc(sizeof *r + strings);
    struct packer p = {r->text};
    r->ch = l->ch;
    r->load = l->load;
    r->role = l->role;
    r->name = opt_pack(&p, l->name);
    r->arn = opt_pack(&p, l->arn);
    r->https = opt_pack(&p, l->https);
    r->client_id = opt_pack(&p, l->client_id);
    return r;
}

static void recipe_free(void *r) { free(r); }

static enum kg_err load_channel(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    struct kvs_channel c;
    enum kg_err err = kvs_describe_channel(l->ch->opts.kvs, l->call, l->name, NULL, &c);
    if (err != KG_OK)
        return err;
    int active = strcmp(c.status, "ACTIVE") == 0;
    out->value = channel_compact(&c);
    /* A channel still CREATING (or being deleted) is looked at again soon. */
    out->ttl_ms = active ? l->ch->opts.channel_ttl_s * 1000 : 1000;
    out->stale_ms = active ? l->ch->opts.stale_s * 1000 : 0;
    return KG_OK;
}

static enum kg_err load_endpoint(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    struct kvs_endpoints e;
    enum kg_err err = kvs_get_endpoints(l->ch->opts.kvs, l->call, l->arn, l->role, &e);
    if (err != KG_OK)
        return err;
    out->value = endpoints_compact(&e);
    out->ttl_ms = l->ch->opts.endpoint_ttl_s * 1000;
    out->stale_ms = l->ch->opts.stale_s * 1000;
    return KG_OK;
}

static enum kg_err load_ice(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    struct kvs_ice_config cfg;
    memset(&cfg, 0, sizeof cfg);
    enum kg_err err = kvs_get_ice_config(l->ch->opts.kvs, l->call, l->https, l->arn,
                                         l->client_id, &cfg);
    if (err != KG_OK)
        return err;
    int64_t ttl_s = cfg.count ? cfg.min_ttl_s : 0;
    int64_t fresh_ms = (ttl_s - l->ch->opts.ice_margin_s) * 1000;
    struct channels_ice *v = ice_compact(&cfg);
    v->expires_at_s = cfg.fetched_at_s + (fresh_ms > 0 ? fresh_ms / 1000 : 0);
    out->value = v;
    kvs_ice_config_cleanup(&cfg);
    /* Credentials too short-lived to cache are still handed to this caller once. */
    out->ttl_ms = fresh_ms > 0 ? fresh_ms : 1;
    out->stale_ms = 0; /* never serve expired TURN credentials */
    return KG_OK;
}

static enum kg_err load_storage(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    struct kvs_media_storage m;
    enum kg_err err = kvs_describe_media_storage(l->ch->opts.kvs, l->call, l->arn, &m);
    if (err != KG_OK)
        return err;
    out->value = storage_compact(&m);
    out->ttl_ms = l->ch->opts.channel_ttl_s * 1000;
    out->stale_ms = l->ch->opts.stale_s * 1000;
    return KG_OK;
}

static enum kg_err load_webrtc(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    char url[KVS_URL_MAX + 1];
    enum kg_err err = kvs_get_webrtc_endpoint(l->ch->opts.kvs, l->call, l->arn, l->role, url);
    if (err != KG_OK)
        return err;
    out->value = webrtc_compact(url);
    out->ttl_ms = l->ch->opts.endpoint_ttl_s * 1000;
    out->stale_ms = l->ch->opts.stale_s * 1000;
    return KG_OK;
}

/* A management read: any status, kept list_ttl_ms. */
static enum kg_err load_described(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    struct kvs_channel c;
    enum kg_err err = kvs_describe_channel(l->ch->opts.kvs, l->call, l->name, NULL, &c);
    if (err != KG_OK)
        return err;
    out->value = channel_compact(&c);
    out->ttl_ms = l->ch->opts.list_ttl_ms;
    return KG_OK;
}

/* l->name is the prefix (or NULL), l->https the page token (or NULL). */
static enum kg_err load_list(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    struct kvs_channel_page page;
    enum kg_err err = kvs_list_channels(l->ch->opts.kvs, l->call, l->name, l->limit, l->https, &page);
    if (err != KG_OK)
        return err;
    out->value = list_compact(&page);
    kvs_channel_page_cleanup(&page);
    out->ttl_ms = l->ch->opts.list_ttl_ms;
    /* Under throttling a page a minute old beats none. */
    int64_t stale_ms = l->ch->opts.stale_s * 1000;
    out->stale_ms = stale_ms < 60000 ? stale_ms : 60000;
    return KG_OK;
}

/* The cache's loader for callers: l->load, leaving a recipe when refreshing ahead. */
static enum kg_err load_remembering(void *arg, const char *key, struct cache_loaded *out)
{
    struct load_ctx *l = arg;
    enum kg_err err = l->load(l, key, out);
    if (err == KG_OK && l->ch->opts.refresher && !l->no_recipe)
        out->recipe = recipe_new(l);
    return err;
}

/* The cache's loader for refresher threads (arg: the entry's recipe). A
 * channel gone at AWS is forgotten, as on a caller's load. */
static enum kg_err load_refresh(void *arg, const char *key, struct cache_loaded *out)
{
    const struct recipe *r = arg;
    struct kvs_call call = {.deadline_ms = kg_mono_ms() + CHANNELS_LOAD_DEADLINE_MS,
                            .request_id = "refresh"};
    struct load_ctx l = {.ch = r->ch, .call = &call, .load = r->load, .name = r->name,
                         .arn = r->arn, .https = r->https, .client_id = r->client_id,
                         .role = r->role};
    enum kg_err err = load_remembering(&l, key, out);
    if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget(r->ch, r->name, r->arn);
    return err;
}

/* ---- lookups -------------------------------------------------------------------- */

/* "a|b" or "a|b|c" into key (cap bytes), cut at cap - 1 as snprintf would. */
static void cache_key(char *key, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = 0;
    for (int i = 0; i < 3 && parts[i]; i++) {
        if (i && len + 1 < cap)
            key[len++] = '|';
        size_t n = strlen(parts[i]);
        if (n > cap - 1 - len)
            n = cap - 1 - len;
        memcpy(key + len, parts[i], n);
        len += n;
    }
    key[len] = '\0';
}

static enum kg_err lookup(struct cache *c, const char *key, int can_block, struct kvs_call *call,
                          cache_load_fn load, struct load_ctx *l, struct cache_ref **out,
                          enum cache_outcome *how)
{
    l->load = load;
    if (!can_block) {
        enum kg_err err = cache_peek(c, key, out);
        if (err == KG_OK && how)
            *how = CACHE_HIT;
        return err;
    }
    int64_t deadline =
        call->deadline_ms ? call->deadline_ms : kg_mono_ms() + CHANNELS_LOAD_DEADLINE_MS;
    return cache_get(c, key, deadline, load_remembering, l, out, how);
}

enum kg_err channels_describe(struct channels *ch, struct kvs_call *call, const char *name,
                              int can_block, struct cache_ref **out, enum cache_outcome *how)
{
    struct load_ctx l = {.ch = ch, .call = call, .name = name};
    return lookup(ch->channel, name, can_block, call, load_channel, &l, out, how);
}

enum kg_err channels_endpoints(struct channels *ch, struct kvs_call *call, const char *name,
                               const char *arn, enum kvs_role role, int can_block,
                               struct cache_ref **out, enum cache_outcome *how)
{
    char key[KVS_ARN_MAX + 16];
    cache_key(key, sizeof key, arn, role_name(role), NULL);
    struct load_ctx l = {.ch = ch, .call = call, .arn = arn, .role = role};
    enum kg_err err = lookup(ch->endpoint, key, can_block, call, load_endpoint, &l, out, how);
    if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget(ch, name, arn);
    return err;
}

enum kg_err channels_ice(struct channels *ch, struct kvs_call *call, const char *name,
                         const char *https_endpoint, const char *arn, enum kvs_role role,
                         const char *client_id, int can_block, struct cache_ref **out,
                         enum cache_outcome *how)
{
    char key[KVS_ARN_MAX + KVS_CLIENT_ID_MAX + 16];
    cache_key(key, sizeof key, arn, role_name(role),
              ch->opts.ice_per_viewer && client_id ? client_id : NULL);
    struct load_ctx l = {.ch = ch, .call = call, .arn = arn, .https = https_endpoint,
                         .role = role, .client_id = client_id};
    enum kg_err err = lookup(ch->ice, key, can_block, call, load_ice, &l, out, how);
    if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget(ch, name, arn);
    return err;
}

enum kg_err channels_storage(struct channels *ch, struct kvs_call *call, const char *name,
                             const char *arn, int can_block, struct cache_ref **out,
                             enum cache_outcome *how)
{
    struct load_ctx l = {.ch = ch, .call = call, .arn = arn};
    enum kg_err err = lookup(ch->storage, arn, can_block, call, load_storage, &l, out, how);
    if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget(ch, name, arn);
    return err;
}

enum kg_err channels_webrtc(struct channels *ch, struct kvs_call *call, const char *name,
                            const char *arn, enum kvs_role role, int can_block,
                            struct cache_ref **out, enum cache_outcome *how)
{
    char key[KVS_ARN_MAX + 16];
    cache_key(key, sizeof key, arn, role_name(role), NULL);
    struct load_ctx l = {.ch = ch, .call = call, .arn = arn, .role = role};
    enum kg_err err = lookup(ch->webrtc, key, can_block, call, load_webrtc, &l, out, how);
    if (err == KG_ERR_CHANNEL_NOT_FOUND)
        channels_forget(ch, name, arn);
    return err;
}

/* A brief lookup (lists, management describes): through c when brief
 * values are cached, else a private value behind a reference all the same. */
static enum kg_err brief_lookup(struct cache *c, const char *key, struct kvs_call *call,
                                struct load_ctx *l, struct cache_ref **out,
                                enum cache_outcome *how)
{
    l->no_recipe = 1;
    if (c)
        return lookup(c, key, 1, call, l->load, l, out, how);
    struct cache_loaded loaded = {0};
    enum kg_err err = l->load(l, key, &loaded);
    if (err != KG_OK)
        return err;
    *out = cache_ref_private(loaded.value, free_plain);
    if (how)
        *how = CACHE_MISS;
    return KG_OK;
}

enum kg_err channels_list(struct channels *ch, struct kvs_call *call, const char *prefix,
                          int limit, const char *next_token, struct cache_ref **out,
                          enum cache_outcome *how)
{
    struct load_ctx l = {.ch = ch, .call = call, .name = prefix, .https = next_token,
                         .limit = limit, .load = load_list};
    /* Names and tokens have no '|' (core/kvsname.h): the key is unambiguous. */
    char limit_text[16];
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    char key[KVS_NAME_MAX + KG_KVS_NEXT_TOKEN_MAX + 32];
    cache_key(key, sizeof key, prefix ? prefix : "", limit_text, next_token ? next_token : "");
    return brief_lookup(ch->list, key, call, &l, out, how);
}

enum kg_err channels_describe_now(struct channels *ch, struct kvs_call *call, const char *name,
                                  struct cache_ref **out, enum cache_outcome *how)
{
    struct load_ctx l = {.ch = ch, .call = call, .name = name, .load = load_described};
    return brief_lookup(ch->describe, name, call, &l, out, how);
}

void channels_forget_lists(struct channels *ch)
{
    if (ch->list)
        cache_invalidate_prefix(ch->list, "");
}

static void forget_described(struct channels *ch, const char *name)
{
    if (ch->describe)
        cache_invalidate(ch->describe, name);
}

void channels_forget_storage(struct channels *ch, const char *arn)
{
    char prefix[KVS_ARN_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s|", arn);
    cache_invalidate(ch->storage, arn);
    cache_invalidate_prefix(ch->webrtc, prefix);
}

void channels_forget(struct channels *ch, const char *name, const char *arn)
{
    if (name) {
        cache_invalidate(ch->channel, name);
        forget_described(ch, name);
    }
    if (arn) {
        char prefix[KVS_ARN_MAX + 2];
        snprintf(prefix, sizeof prefix, "%s|", arn);
        cache_invalidate_prefix(ch->endpoint, prefix);
        cache_invalidate_prefix(ch->ice, prefix);
        channels_forget_storage(ch, arn);
    }
    channels_forget_lists(ch);
}
