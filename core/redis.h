/* kvsgate: a Redis client for the replicas' shared state (`kg_redis_`), the
 * one file that includes hiredis.
 *
 * Commands run on a small pool of synchronous connections, each with the
 * same connect and command timeout. Redis is an optimisation, never a
 * dependency: a command that fails (refused, reset, timed out, an AUTH
 * error) marks Redis down, and for a pause (0.5 s, doubling to 5 s while it
 * stays down) every command answers KG_ERR_UNAVAILABLE at once, without
 * waiting; then one command probes it again. The first failure of an outage
 * is logged (warn, `redis_unavailable`), its end too (info, `redis_recovered`,
 * with how long it lasted). Metrics: kvsgate_redis_up (0 or 1),
 * kvsgate_redis_outages_total, kvsgate_redis_commands_total{outcome} (ok,
 * error: Redis answered an error reply, unavailable: not sent or no answer).
 *
 * A subscriber has a connection of its own and a thread that calls back per
 * message; it reconnects by itself, and tells its caller when it subscribed
 * again after a gap (messages may have been missed).
 *
 * No TLS: Debian bookworm's hiredis (0.14) has none (docs/redis.md). The
 * password is sent with AUTH and never logged. Thread-safe.
 */
#ifndef KG_CORE_REDIS_H
#define KG_CORE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define KG_REDIS_HOST_MAX 255

struct kg_redis_url {
    char host[KG_REDIS_HOST_MAX + 1]; /* a name, an IPv4 address or an IPv6 one (no brackets) */
    int port;                         /* default 6379 */
    int db;                           /* default 0 */
};

/* redis://host[:port][/db], host a DNS name, IPv4 or [IPv6]. Answers 1, or 0
 * with *why (static text): userinfo (credentials go in their own settings),
 * rediss:// (no TLS here), anything else. */
int kg_redis_url_parse(const char *text, struct kg_redis_url *out, const char **why);

struct kg_redis_options {
    struct kg_redis_url url;
    const char *username; /* NULL: AUTH password (or none) */
    const char *password; /* NULL: no AUTH; copied, wiped on free */
    int64_t timeout_ms;   /* connect and each command; 0: 100 */
    size_t connections;   /* pooled at most; 0: 8 */
};

/* A reply, as kvsgate reads them. */
enum kg_redis_reply_type {
    KG_REDIS_NIL = 0,
    KG_REDIS_STRING, /* also status replies ("OK") */
    KG_REDIS_INTEGER,
    KG_REDIS_ARRAY,  /* integer elements kept in items (others read as 0) */
    KG_REDIS_ERROR,
};

struct kg_redis_reply {
    enum kg_redis_reply_type type;
    long long integer;
    char *str; /* owned, NUL-terminated (len bytes before it), STRING and ERROR */
    size_t len;
    long long *items; /* owned, ARRAY: item_count integers */
    size_t item_count;
};

struct kg_redis;

/* Connects lazily: never fails for an unreachable Redis. */
struct kg_redis *kg_redis_new(const struct kg_redis_options *opts);
void kg_redis_free(struct kg_redis *r);

/* One command, binary-safe arguments (lens NULL: strlen). KG_OK with *out
 * set (an error reply is KG_OK with type KG_REDIS_ERROR: Redis is up);
 * KG_ERR_UNAVAILABLE when Redis is down or did not answer in time. */
KG_WARN_UNUSED enum kg_err kg_redis_command(struct kg_redis *r, int argc, const char *const *argv,
                                            const size_t *lens, struct kg_redis_reply *out);
void kg_redis_reply_cleanup(struct kg_redis_reply *reply);

/* 1 while the last command (or probe) reached Redis. */
int kg_redis_up(struct kg_redis *r);

struct kg_redis_sub;

/* Subscribes to channel on a thread of its own: on_message per message (its
 * bytes, valid during the call), on_resubscribed after a reconnection (not
 * after the first subscription). Both run on the subscriber's thread. */
struct kg_redis_sub *kg_redis_subscribe(struct kg_redis *r, const char *channel,
                                        void (*on_message)(void *arg, const char *msg,
                                                           size_t len),
                                        void (*on_resubscribed)(void *arg), void *arg);
/* Stops and joins the thread (within about 200 ms). */
void kg_redis_sub_free(struct kg_redis_sub *s);

#endif
