/* kvsgate: what the replicas share through Redis (`shared_`): a second-level
 * cache behind each replica's own, one AWS call per key across replicas, and
 * invalidation that reaches every replica.
 *
 * Values. A value is stored under {prefix}v1:{kind}:{key} with Redis's own
 * expiry (PX) set to its TTL and, inside, the wall-clock time it expires, so
 * a replica that takes it keeps it only as long as it has left. Channels are
 * stored under a generation ({prefix}v1:channel:{gen}:{name}): invalidating
 * a name increments {prefix}v1:gen:{name}, so a load that began before the
 * invalidation stores its value where nobody looks any more, and the old
 * ARN cannot come back through Redis.
 *
 * Integrity and secrecy. Every value and message is sealed with AES-256-GCM
 * under a key derived from KVSGATE_REDIS_KEY, with the full Redis key (or the
 * pub/sub channel) as additional data: a value written by anyone without the
 * key, or moved to another key, is refused and loaded from AWS instead
 * (kvsgate_shared_requests_total{result="rejected"}). TURN passwords are
 * stored sealed too.
 *
 * One flight per key. A replica that misses takes {key}:lock (SET NX PX with
 * a random token; released only by its holder), looks again, and loads; the
 * others look for the value every poll_ms until it lands, the lock lapses
 * (they take it and load themselves), or 2 s pass or less than 1.5 s of their
 * deadline is left (they load without it). A lock without an expiry, or
 * with a longer one than ours, is not ours: loaded without it at once. Values
 * living under 2 s (a channel still CREATING) are not shared. Reads are
 * bounded (a value past 256 KiB reads as absent).
 *
 * Invalidation. shared_invalidate increments the name's generation, deletes
 * the ARN's entries and publishes {name, arn} on {prefix}v1:invalidate; every
 * other replica's subscriber calls the forget callback within milliseconds.
 * After the subscription had a gap (Redis restarted or unreachable), forget_all
 * runs: messages may have been missed.
 *
 * Redis down, slow or refusing: every call answers as if nothing were shared
 * (SHARED_LOAD without the lock, stores and invalidations dropped) within the
 * client's timeout, and at once during its pause (core/redis.h).
 *
 * Metrics: kvsgate_shared_requests_total{cache,result}, result hit, waited
 * (found after another replica loaded it), load (this replica loads, holding
 * the flight), alone (loads without Redis or past the wait), rejected (a value
 * that does not open with our key).
 *
 * Thread-safe.
 */
#ifndef KG_AWS_SHARED_H
#define KG_AWS_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "core/redis.h"

enum shared_kind {
    SHARED_CHANNEL = 0, /* key: the channel name (generational) */
    SHARED_ENDPOINT,    /* key: "ARN|MASTER" or "ARN|VIEWER" */
    SHARED_ICE,         /* key: "ARN|MASTER" or "ARN|VIEWER" (per viewer: not shared) */
    SHARED_STORAGE,     /* key: the ARN */
    SHARED_WEBRTC,      /* key: "ARN|MASTER" or "ARN|VIEWER" */
    SHARED_KIND_COUNT
};

#define SHARED_KEY_MAX 1536
#define SHARED_SECRET_MIN 32

struct shared_options {
    struct kg_redis *redis; /* required; outlives the shared state */
    const char *prefix;     /* NULL: "kvsgate:" */
    const void *secret;     /* at least SHARED_SECRET_MIN bytes, the same on every replica */
    size_t secret_len;
    int64_t lock_ms;        /* how long a flight's lock lives at most; 0: 10000 */
    int64_t poll_ms;        /* how often waiters look; 0: 20 */
    int64_t generation_ttl_ms; /* a name's generation lives this long after its last
                                  change: past every value of the old ones; 0: 2 days */
    const char *scope;      /* bound into the keys' derivation (the region): NULL: none */
    /* From the subscriber's thread: another replica invalidated (name or arn
     * may be NULL), or messages may have been missed. */
    void (*forget)(void *arg, const char *name, const char *arn);
    void (*forget_all)(void *arg);
    void *arg;
};

struct shared;

/* NULL when the secret is too short. Starts the subscriber. */
struct shared *shared_new(const struct shared_options *opts);
/* Stops the subscriber; call before what the callbacks touch goes away. */
void shared_free(struct shared *s);

/* A key's place in Redis, from shared_fetch to shared_store / shared_abandon. */
struct shared_slot {
    enum shared_kind kind;
    char key[SHARED_KEY_MAX];  /* "" when not shared (too long, Redis down) */
    char token[33];            /* the lock's token when leader */
    int leader;
};

enum shared_found { SHARED_FOUND, SHARED_LOAD };

/* Looks for (kind, key): SHARED_FOUND with *value (malloc'ed, *len bytes,
 * NUL-terminated) living *ttl_ms more (at least min_ttl_ms), or SHARED_LOAD:
 * the caller loads it, then shared_store (or shared_abandon on failure).
 * Waits while another replica loads it, at most until deadline_ms (kg_mono_ms). */
enum shared_found shared_fetch(struct shared *s, enum shared_kind kind, const char *key,
                               int64_t deadline_ms, int64_t min_ttl_ms, struct shared_slot *slot,
                               char **value, size_t *len, int64_t *ttl_ms);
/* Stores what was loaded for ttl_ms and ends the flight. */
void shared_store(struct shared *s, struct shared_slot *slot, const char *value, size_t len,
                  int64_t ttl_ms);
/* Ends the flight without a value. */
void shared_abandon(struct shared *s, struct shared_slot *slot);

/* The channel (name and/or arn) changed: every replica forgets it. */
void shared_invalidate(struct shared *s, const char *name, const char *arn);

/* For tests: opens a sealed value (len bytes) stored under the Redis key aad
 * into a malloc'ed *plain (*plain_len; the 8-byte expiry first). 0 when it
 * does not open. */
int shared_open(struct shared *s, const char *aad, const unsigned char *sealed, size_t len,
                char **plain, size_t *plain_len);

/* An invalidation message, opened. */
struct shared_message {
    char id[17];    /* the sending replica */
    char nonce[17];
    int64_t at_ms;  /* wall clock when sent */
    char name[257]; /* "" for none */
    char arn[1025]; /* "" for none */
};

/* Reads an opened message: 16 hex digits each of replica id, nonce and send
 * time (ms), then name, "\n", arn. 0 unless the name is a valid channel name
 * (or empty) and the ARN printable ASCII, both within their bounds. Messages
 * older (or newer) than 30 s, or with a nonce seen among the last 64, are
 * dropped by the subscriber: a captured message published again does nothing. */
int shared_message_parse(const char *plain, size_t len, struct shared_message *out);

#endif
