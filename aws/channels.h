/* kvsgate: what the handlers ask of KVS, through caches (`channels_`).
 *
 *   channel   name -> DescribeSignalingChannel result      (channel_ttl_s; ACTIVE only, others 1 s)
 *   endpoint  (ARN, role) -> WSS and HTTPS endpoints       (endpoint_ttl_s; KVS publishes no
 *                                                            validity, its C SDK keeps them 10 h)
 *   ice       (ARN, role[, client id]) -> TURN servers     (until Ttl - ice_margin_s, never stale)
 *   storage   ARN -> media storage configuration           (channel_ttl_s)
 *   webrtc    (ARN, role) -> the storage session endpoint  (endpoint_ttl_s)
 *   list      (prefix, limit, page token) -> one ListSignalingChannels page
 *                                                           (list_ttl_ms; 0: not cached)
 *   describe  name -> DescribeSignalingChannel, for GET /v1/channels/{name}
 *                                                           (list_ttl_ms; 0: not cached)
 *
 * A list page is AWS's, the same for every caller: callers filter it by their
 * own grants, so sharing it widens nothing. Creating or deleting a channel
 * through kvsgate drops every cached page. The describe cache serves reads of
 * a channel's current state: briefly, unlike the channel cache, which serves
 * connection info for an hour.
 *
 * With a refresher, entries in use are reloaded in the background before
 * their TTL ends (aws/cache.h), so a channel in steady use never waits for AWS;
 * a refresh that finds the channel gone forgets it as a caller's load would.
 *
 * Channel and endpoint entries may be served stale_s past their TTL when AWS
 * throttles or fails (degraded mode); TURN credentials never are. Concurrent
 * misses for one key make one AWS call (single-flight). A 404 from AWS, or a
 * delete through kvsgate, drops the channel's entries. Presigned URLs are not
 * cached: the caller mints one per request.
 *
 * With can_block = 0 a call only looks in the cache and answers
 * KG_ERR_WOULD_BLOCK on a miss (HTTP threads); with can_block = 1 it loads.
 * Thread-safe.
 *
 * Cached values are compact copies of what kvs_ returns: one allocation each,
 * strings sized to fit and packed after the struct. The kvs_ structs carry
 * fixed arrays (a channel 1.4 KB, endpoints 2 KB, TURN servers 0.8 KB plus a
 * malloc per string): 10,000 cached channels cost 63 MB of RSS that way and
 * 27 MB now (bench/README.md). Values are immutable and shared: read them
 * through the reference.
 */
#ifndef KG_AWS_CHANNELS_H
#define KG_AWS_CHANNELS_H

#include <stdint.h>

#include "aws/cache.h"
#include "aws/kvs.h"
#include "aws/shared.h"
#include "core/err.h"

struct channels_options {
    struct kvs_client *kvs;
    size_t max_entries;      /* per cache; 0: 20000 */
    int64_t channel_ttl_s;   /* 0: 3600 */
    int64_t endpoint_ttl_s;  /* 0: 36000 */
    int64_t stale_s;         /* 0: none */
    int64_t ice_margin_s;    /* 0: 30 */
    int ice_per_viewer;      /* one TURN fetch per viewer instead of per (channel, role) */
    int64_t list_ttl_ms;     /* 0: list pages are not cached (nor shared) */
    int64_t (*now_ms)(void); /* cache clock; NULL: kg_mono_ms */
    struct refresher *refresher; /* NULL: no refresh-ahead; else outlives the channels */
    struct shared *shared;   /* NULL: nothing shared with other replicas (aws/shared.h) */
};

/* A DescribeSignalingChannel result, as cached. */
struct channels_channel {
    const char *name;
    const char *arn;
    const char *type;    /* SINGLE_MASTER */
    const char *status;  /* CREATING | ACTIVE | UPDATING | DELETING */
    const char *version;
    int64_t creation_time_s;
    int message_ttl_s;   /* 0 when absent */
};

/* One ListSignalingChannels page, as cached. */
struct channels_list {
    size_t count;
    const char *next_token; /* "" at the end */
    struct channels_channel channels[];
};

/* A kvs_channel seen as a channels_channel (pointing into c). */
void channels_channel_view(const struct kvs_channel *c, struct channels_channel *out);

/* A channel's signaling endpoints for one role, as cached. */
struct channels_endpoints {
    const char *wss;
    const char *https;
};

/* A channel's media storage configuration, as cached. */
struct channels_storage {
    int enabled;
    const char *stream_arn; /* "" when none */
};

/* A storage-enabled channel's WEBRTC endpoint for one role, as cached. */
struct channels_webrtc {
    const char *url;
};

struct channels_ice_server {
    const char *const *uris;
    size_t uri_count;
    const char *username;
    const char *password; /* secret: the value is wiped when the cache lets it go */
    int ttl_s;
};

/* GetIceServerConfig's TURN servers, as cached. */
struct channels_ice {
    size_t bytes;         /* of the whole allocation (for the wipe) */
    size_t count;
    int64_t fetched_at_s; /* wall clock when fetched */
    int min_ttl_s;        /* smallest Ttl of the list */
    int64_t expires_at_s; /* wall clock: fetched_at_s + min_ttl_s - ice_margin_s, when the
                             cache stops handing these out (ConnectionInfo's
                             iceServersExpireAt) */
    struct channels_ice_server servers[];
};

struct channels;

struct channels *channels_new(const struct channels_options *opts);
void channels_free(struct channels *ch);

/* The channel named name (value: const struct channels_channel *). */
KG_WARN_UNUSED enum kg_err channels_describe(struct channels *ch, struct kvs_call *call,
                                             const char *name, int can_block,
                                             struct cache_ref **out, enum cache_outcome *how);
/* The endpoints for (arn, role) (value: const struct channels_endpoints *). */
KG_WARN_UNUSED enum kg_err channels_endpoints(struct channels *ch, struct kvs_call *call,
                                              const char *name, const char *arn,
                                              enum kvs_role role, int can_block,
                                              struct cache_ref **out, enum cache_outcome *how);
/* TURN servers (value: const struct channels_ice *), still valid for at
 * least ice_margin_s. client_id NULL for a master. */
KG_WARN_UNUSED enum kg_err channels_ice(struct channels *ch, struct kvs_call *call,
                                        const char *name, const char *https_endpoint,
                                        const char *arn, enum kvs_role role,
                                        const char *client_id, int can_block,
                                        struct cache_ref **out, enum cache_outcome *how);

/* The channel's media storage (value: const struct channels_storage *). */
KG_WARN_UNUSED enum kg_err channels_storage(struct channels *ch, struct kvs_call *call,
                                            const char *name, const char *arn, int can_block,
                                            struct cache_ref **out, enum cache_outcome *how);
/* The storage session endpoint for (arn, role) (value: const struct
 * channels_webrtc *). */
KG_WARN_UNUSED enum kg_err channels_webrtc(struct channels *ch, struct kvs_call *call,
                                           const char *name, const char *arn, enum kvs_role role,
                                           int can_block, struct cache_ref **out,
                                           enum cache_outcome *how);
/* One page of ListSignalingChannels (value: const struct channels_list *):
 * prefix and next_token NULL for none, limit 1..10000. Always loads (lists
 * run on workers). */
KG_WARN_UNUSED enum kg_err channels_list(struct channels *ch, struct kvs_call *call,
                                         const char *prefix, int limit, const char *next_token,
                                         struct cache_ref **out, enum cache_outcome *how);
/* The channel's current state for a management read (value: const struct
 * channels_channel *), shared for list_ttl_ms. Always loads. */
KG_WARN_UNUSED enum kg_err channels_describe_now(struct channels *ch, struct kvs_call *call,
                                                 const char *name, struct cache_ref **out,
                                                 enum cache_outcome *how);
/* Drops every cached list page (a channel was created or deleted). */
void channels_forget_lists(struct channels *ch);

/* Drops the channel's storage entries (after its configuration changed). */
void channels_forget_storage(struct channels *ch, const char *arn);

/* Drops what is cached for the channel (after a delete, or a 404 from AWS),
 * and every list page, here and (with a shared cache) on every replica. */
void channels_forget(struct channels *ch, const char *name, const char *arn);
/* After AWS said there is no such channel: channels_forget with what this
 * replica holds of it, or (holding nothing) a local drop that tells nobody
 * (so unknown names cost other replicas nothing). */
void channels_forget_known(struct channels *ch, const char *name);
/* The same, here only: another replica invalidated it. */
void channels_forget_remote(struct channels *ch, const char *name, const char *arn);
/* Drops every channel, storage, list and describe entry here (invalidations
 * may have been missed); endpoints and TURN servers go with their channel. */
void channels_forget_all(struct channels *ch);

#endif
