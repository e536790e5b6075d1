#include "aws/channels.h"
#include "aws/channels_impl.h"

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
                              .free_value = channels_free_plain, .now_ms = opts->now_ms};
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
    o.free_value = channels_free_ice;
    ch->ice = cache_new(&o);
    if (opts->list_ttl_ms > 0) {
        struct cache_options lo = {.name = "list", .max_entries = 1000, .free_value = channels_free_plain,
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
    int refreshing; /* on a refresher thread: a shared value must outlive the refresh lead */
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

static const char *opt_pack(struct packer *p, const char *s) { return s ? channels_pack(p, s) : NULL; }

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

/* DescribeSignalingChannel of l->name into out->value; *active: ACTIVE. */
static enum kg_err describe_into(struct load_ctx *l, struct cache_loaded *out, int *active)
{
    struct kvs_channel c;
    enum kg_err err = kvs_describe_channel(l->ch->opts.kvs, l->call, l->name, NULL, &c);
    if (err != KG_OK)
        return err;
    *active = strcmp(c.status, "ACTIVE") == 0;
    out->value = channels_channel_compact(&c);
    return KG_OK;
}

static enum kg_err load_channel(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    struct load_ctx *l = arg;
    int active;
    enum kg_err err = describe_into(l, out, &active);
    if (err != KG_OK)
        return err;
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
    out->value = channels_endpoints_compact(&e);
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
    struct channels_ice *v = channels_ice_compact(&cfg);
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
    out->value = channels_storage_compact(&m);
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
    out->value = channels_webrtc_compact(url);
    out->ttl_ms = l->ch->opts.endpoint_ttl_s * 1000;
    out->stale_ms = l->ch->opts.stale_s * 1000;
    return KG_OK;
}

/* A management read: any status, kept list_ttl_ms. */
static enum kg_err load_described(void *arg, const char *key, struct cache_loaded *out)
{
    (void)key;
    int active;
    enum kg_err err = describe_into(arg, out, &active);
    if (err == KG_OK)
        out->ttl_ms = ((struct load_ctx *)arg)->ch->opts.list_ttl_ms;
    return err;
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
    out->value = channels_list_compact(&page);
    kvs_channel_page_cleanup(&page);
    out->ttl_ms = l->ch->opts.list_ttl_ms;
    /* Under throttling a page a minute old beats none. */
    int64_t stale_ms = l->ch->opts.stale_s * 1000;
    out->stale_ms = stale_ms < 60000 ? stale_ms : 60000;
    return KG_OK;
}

/* ---- the replicas' shared cache ------------------------------------------------------ */

/* What l loads, as the shared cache knows it; -1: not shared (lists, the
 * describe of a management read, TURN credentials per viewer). */
static int share_kind(const struct load_ctx *l)
{
    if (l->load == load_channel)
        return SHARED_CHANNEL;
    if (l->load == load_endpoint)
        return SHARED_ENDPOINT;
    if (l->load == load_ice)
        return l->ch->opts.ice_per_viewer && l->client_id ? -1 : SHARED_ICE;
    if (l->load == load_storage)
        return SHARED_STORAGE;
    if (l->load == load_webrtc)
        return SHARED_WEBRTC;
    return -1;
}

/* How long a refresh wants a shared value to live still: past the refresh
 * lead (at most a fifth of the TTL), or it would refresh again at once. */
static int64_t refresh_min_ttl_ms(const struct channels *ch, enum shared_kind kind)
{
    int64_t ttl_s = kind == SHARED_ENDPOINT || kind == SHARED_WEBRTC ? ch->opts.endpoint_ttl_s
                    : kind == SHARED_ICE ? 300 - ch->opts.ice_margin_s
                                         : ch->opts.channel_ttl_s;
    return ttl_s * 1000 * 3 / 10;
}

/* A channel loaded from AWS whose ARN is not the one this replica holds (it
 * was deleted and created again elsewhere): every replica forgets the old
 * ARN and the name, so none hands the old one out until its TTL. */
static void note_arn_change(struct channels *ch, const char *name, const struct channels_channel *now)
{
    struct cache_ref *ref;
    if (cache_peek_any(ch->channel, name, &ref) != KG_OK)
        return;
    const struct channels_channel *before = cache_ref_value(ref);
    if (strcmp(before->arn, now->arn) != 0)
        shared_invalidate(ch->opts.shared, name, before->arn);
    cache_ref_release(ref);
}

/* A shared value lives what it has left, but never longer than this replica
 * would keep it (another replica's clock may run fast), and TURN servers never
 * past their own expiry by this replica's clock. */
static int64_t shared_ttl_clamp(const struct channels *ch, enum shared_kind kind, const void *v,
                                int64_t ttl_ms)
{
    int64_t max_ms = kind == SHARED_ENDPOINT || kind == SHARED_WEBRTC ? ch->opts.endpoint_ttl_s * 1000
                                                                      : ch->opts.channel_ttl_s * 1000;
    if (kind == SHARED_ICE)
        max_ms = (((const struct channels_ice *)v)->expires_at_s - kg_aws_now_s()) * 1000;
    return ttl_ms < max_ms ? ttl_ms : max_ms;
}

/* l->load through the shared cache: another replica's value when there is
 * one, else this replica loads (holding the key's flight) and shares it. */
static enum kg_err load_shared(struct load_ctx *l, enum shared_kind kind, const char *key,
                               struct cache_loaded *out)
{
    struct channels *ch = l->ch;
    int64_t deadline =
        l->call->deadline_ms ? l->call->deadline_ms : kg_mono_ms() + CHANNELS_LOAD_DEADLINE_MS;
    int64_t min_ttl = l->refreshing ? refresh_min_ttl_ms(ch, kind) : 1000;
    struct shared_slot slot;
    char *text = NULL;
    size_t len = 0;
    int64_t ttl_ms = 0;
    if (shared_fetch(ch->opts.shared, kind, key, deadline, min_ttl, &slot, &text, &len,
                     &ttl_ms) == SHARED_FOUND) {
        void *v = channels_value_decode(kind, text, len);
        kg_wipe(text, len);
        free(text);
        if (v) {
            out->value = v;
            out->ttl_ms = shared_ttl_clamp(ch, kind, v, ttl_ms);
            out->stale_ms = kind == SHARED_ICE ? 0 : ch->opts.stale_s * 1000;
            if (kind == SHARED_CHANNEL &&
                strcmp(((const struct channels_channel *)v)->status, "ACTIVE") != 0)
                out->stale_ms = 0; /* as load_channel: only ACTIVE channels serve stale */
            if (out->ttl_ms > 0)
                return KG_OK;
            channels_value_free(kind, v);
            out->value = NULL;
        }
    }
    enum kg_err err = l->load(l, key, out);
    if (err != KG_OK) {
        shared_abandon(ch->opts.shared, &slot);
        return err;
    }
    if (kind == SHARED_CHANNEL)
        note_arn_change(ch, key, out->value);
    text = channels_value_encode(kind, out->value, &len);
    if (text) {
        shared_store(ch->opts.shared, &slot, text, len, out->ttl_ms);
        kg_wipe(text, len);
        free(text);
    } else {
        shared_abandon(ch->opts.shared, &slot);
    }
    return KG_OK;
}

/* The cache's loader for callers: l->load (through the shared cache when
 * there is one), leaving a recipe when refreshing ahead. */
static enum kg_err load_remembering(void *arg, const char *key, struct cache_loaded *out)
{
    struct load_ctx *l = arg;
    int kind = l->ch->opts.shared ? share_kind(l) : -1;
    enum kg_err err = kind >= 0 ? load_shared(l, (enum shared_kind)kind, key, out)
                                : l->load(l, key, out);
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
    struct load_ctx l = {.ch = r->ch, .call = &call, .load = r->load, .refreshing = 1, .name = r->name,
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
    *out = cache_ref_private(loaded.value, channels_free_plain);
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

static void forget_storage_local(struct channels *ch, const char *arn)
{
    char prefix[KVS_ARN_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s|", arn);
    cache_invalidate(ch->storage, arn);
    cache_invalidate_prefix(ch->webrtc, prefix);
}

void channels_forget_storage(struct channels *ch, const char *arn)
{
    forget_storage_local(ch, arn);
    /* The shared entries of the ARN go too, and every replica drops it. */
    shared_invalidate(ch->opts.shared, NULL, arn);
}

/* Drops the channel's entries here only. */
static void forget_local(struct channels *ch, const char *name, const char *arn)
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
        forget_storage_local(ch, arn);
    }
    channels_forget_lists(ch);
}

void channels_forget(struct channels *ch, const char *name, const char *arn)
{
    forget_local(ch, name, arn);
    shared_invalidate(ch->opts.shared, name, arn);
}

void channels_forget_known(struct channels *ch, const char *name)
{
    struct cache_ref *ref;
    if (cache_peek_any(ch->channel, name, &ref) == KG_OK) {
        const struct channels_channel *c = cache_ref_value(ref);
        channels_forget(ch, name, c->arn);
        cache_ref_release(ref);
    } else if (ch->describe && cache_peek_any(ch->describe, name, &ref) == KG_OK) {
        cache_ref_release(ref);
        channels_forget(ch, name, NULL);
    } else {
        forget_local(ch, name, NULL); /* nothing here: nobody else is told */
    }
}

void channels_forget_remote(struct channels *ch, const char *name, const char *arn)
{
    forget_local(ch, name, arn);
}

void channels_forget_all(struct channels *ch)
{
    /* What names and storage lead to: endpoints, TURN servers and storage
     * endpoints are reached through a channel's ARN, so they are dropped with
     * it without a scan, and stay for the channels that did not change. */
    struct cache *all[] = {ch->channel, ch->storage, ch->list, ch->describe};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i])
            cache_invalidate_prefix(all[i], "");
}
