/* The Redis client: hiredis's synchronous API on a pool of connections, an
 * outage state shared by all of them, and a subscriber thread.
 *
 * The outage state is what keeps Redis from ever slowing a request twice: the
 * first command that fails pays the timeout, and the pause after it answers
 * every command at once. One probe at a time ends the pause. A subscriber
 * blocks in poll(2) on its socket, not in hiredis, so that it can stop, ping
 * (a silent network path is noticed within a few seconds) and reconnect.
 */
#include "core/redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timeutil.h"

#define REDIS_PAUSE_FIRST_MS 500
#define REDIS_PAUSE_MAX_MS 5000
#define REDIS_SUB_POLL_MS 200
#define REDIS_SUB_PING_MS 1000
#define REDIS_SUB_SILENCE_MS 3000

static struct kg_metric *up_metric, *outages_metric, *commands_metric;

static void redis_metrics_register(void)
{
    up_metric = kg_metric_gauge("kvsgate_redis_up",
                                "1 while the shared Redis answers, 0 during an outage (kvsgate "
                                "goes on with local caches and limits).",
                                "");
    outages_metric = kg_metric_counter("kvsgate_redis_outages_total",
                                       "Times Redis stopped answering.", "");
    commands_metric = kg_metric_counter("kvsgate_redis_commands_total",
                                        "Redis commands by outcome (ok, error: an error reply, "
                                        "unavailable: not sent or not answered in time).",
                                        "outcome");
}

/* ---- the URL --------------------------------------------------------------------- */

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-';
}

static int ipv6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

/* Digits only, value in lo..hi; *end after them. */
static int parse_number(const char *s, long lo, long hi, long *out, const char **end)
{
    long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && p - s < 6; p++)
        v = v * 10 + (*p - '0');
    if (p == s || (*p >= '0' && *p <= '9') || v < lo || v > hi)
        return 0;
    *out = v;
    *end = p;
    return 1;
}

int kg_redis_url_parse(const char *text, struct kg_redis_url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    *why = "must be redis://host[:port][/db]";
    if (strncmp(text, "rediss://", 9) == 0) {
        *why = "rediss:// (TLS) is not available: Debian's hiredis 0.14 has no TLS; use a TLS "
               "proxy next to kvsgate (docs/redis.md)";
        return 0;
    }
    if (strncmp(text, "redis://", 8) != 0)
        return 0;
    const char *p = text + 8, *host = p;
    size_t host_len;
    if (strchr(p, '@')) {
        *why = "must not carry credentials: use KVSGATE_REDIS_USERNAME and "
               "KVSGATE_REDIS_PASSWORD_FILE";
        return 0;
    }
    if (*p == '[') {
        host = ++p;
        while (ipv6_char(*p))
            p++;
        if (*p != ']')
            return 0;
        host_len = (size_t)(p - host);
        p++;
    } else {
        while (host_char(*p))
            p++;
        host_len = (size_t)(p - host);
    }
    if (host_len == 0 || host_len > KG_REDIS_HOST_MAX)
        return 0;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    long v;
    if (*p == ':') {
        if (!parse_number(p + 1, 1, 65535, &v, &p))
            return 0;
        out->port = (int)v;
    }
    if (*p == '/' && p[1]) {
        if (!parse_number(p + 1, 0, 999, &v, &p))
            return 0;
        out->db = (int)v;
    } else if (*p == '/') {
        p++;
    }
    return *p == '\0';
}

/* ---- connections ----------------------------------------------------------------- */

struct kg_redis {
    struct kg_redis_options opts;
    char *username, *password;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    redisContext **idle;
    size_t idle_count, open;
    int in_outage, probing;
    int64_t pause_until_ms, pause_ms, outage_started_ms;
    atomic_int up;
};

static struct timeval timeval_of(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

struct kg_redis *kg_redis_new(const struct kg_redis_options *opts)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, redis_metrics_register);
    struct kg_redis *r = kg_calloc(1, sizeof *r);
    r->opts = *opts;
    if (r->opts.timeout_ms <= 0)
        r->opts.timeout_ms = 100;
    if (!r->opts.connections)
        r->opts.connections = 8;
    r->username = opts->username && opts->username[0] ? kg_strdup(opts->username) : NULL;
    r->password = opts->password && opts->password[0] ? kg_strdup(opts->password) : NULL;
    r->opts.username = r->opts.password = NULL;
    r->idle = kg_calloc(r->opts.connections, sizeof *r->idle);
    pthread_mutex_init(&r->lock, NULL);
    kg_cond_init_mono(&r->freed);
    atomic_init(&r->up, 1);
    kg_metric_set(up_metric, NULL, 1);
    return r;
}

void kg_redis_free(struct kg_redis *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->idle_count; i++)
        redisFree(r->idle[i]);
    free(r->idle);
    if (r->password)
        kg_wipe(r->password, strlen(r->password));
    free(r->password);
    free(r->username);
    pthread_cond_destroy(&r->freed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* AUTH and SELECT on a new connection; 0 with *why when Redis refused. */
static int connection_setup(struct kg_redis *r, redisContext *c, const char **why)
{
    if (r->password) {
        const char *argv[3] = {"AUTH", r->username ? r->username : r->password, r->password};
        redisReply *rep = redisCommandArgv(c, r->username ? 3 : 2, argv, NULL);
        int ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            *why = rep ? "AUTH refused" : "no answer to AUTH";
            return 0;
        }
    }
    if (r->opts.url.db) {
        char db[8];
        snprintf(db, sizeof db, "%d", r->opts.url.db);
        const char *argv[2] = {"SELECT", db};
        redisReply *rep = redisCommandArgv(c, 2, argv, NULL);
        int ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            *why = "SELECT refused";
            return 0;
        }
    }
    return 1;
}

/* A new connection, or NULL with *why (hiredis's text or ours: no secret). */
static redisContext *connection_open(struct kg_redis *r, char *why, size_t cap)
{
    struct timeval tv = timeval_of(r->opts.timeout_ms);
    redisContext *c = redisConnectWithTimeout(r->opts.url.host, r->opts.url.port, tv);
    if (!c || c->err) {
        snprintf(why, cap, "%s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    const char *refused = NULL;
    if (redisSetTimeout(c, tv) != REDIS_OK || redisEnableKeepAlive(c) != REDIS_OK ||
        !connection_setup(r, c, &refused)) {
        snprintf(why, cap, "%s", refused ? refused : c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Under the lock: Redis failed; pause, and say so once per outage. The
 * pause doubles when a probe fails, not for each command that failed with
 * the first (they were all in flight together). */
static void mark_down(struct kg_redis *r, const char *why, int probe)
{
    int64_t now = kg_mono_ms();
    int first = !r->in_outage;
    if (first) {
        r->in_outage = 1;
        r->outage_started_ms = now;
        r->pause_ms = REDIS_PAUSE_FIRST_MS;
        r->pause_until_ms = now + r->pause_ms;
    } else if (probe) {
        r->pause_ms = r->pause_ms * 2 < REDIS_PAUSE_MAX_MS ? r->pause_ms * 2 : REDIS_PAUSE_MAX_MS;
        r->pause_until_ms = now + r->pause_ms;
    }
    /* The others are likely dead too: the probe opens a fresh one. */
    for (size_t i = 0; i < r->idle_count; i++)
        redisFree(r->idle[i]);
    r->open -= r->idle_count;
    r->idle_count = 0;
    atomic_store(&r->up, 0);
    if (first) {
        kg_metric_set(up_metric, NULL, 0);
        kg_metric_inc(outages_metric, NULL);
        struct kg_log_line l;
        if (kg_log_begin(&l, KG_LOG_WARN, "redis_unavailable")) {
            kg_log_str(&l, "host", r->opts.url.host);
            kg_log_int(&l, "port", r->opts.url.port);
            kg_log_str(&l, "reason", why);
            kg_log_str(&l, "fallback", "local caches and limits");
            kg_log_end(&l);
        }
    }
}

static void mark_up(struct kg_redis *r)
{
    if (!r->in_outage)
        return;
    r->in_outage = 0;
    atomic_store(&r->up, 1);
    kg_metric_set(up_metric, NULL, 1);
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_INFO, "redis_recovered")) {
        kg_log_int(&l, "outage_ms", kg_mono_ms() - r->outage_started_ms);
        kg_log_end(&l);
    }
}

/* A connection to use, or NULL (down, pausing, or all busy past the timeout);
 * *probe says this call ends a pause. *fresh: open one (the slot is taken). */
static redisContext *connection_take(struct kg_redis *r, int *probe, int *fresh)
{
    *probe = *fresh = 0;
    pthread_mutex_lock(&r->lock);
    redisContext *c = NULL;
    if (r->in_outage) {
        if (r->probing || kg_mono_ms() < r->pause_until_ms)
            goto out;
        r->probing = *probe = 1;
    }
    int64_t give_up = kg_mono_ms() + r->opts.timeout_ms;
    while (!r->idle_count && r->open >= r->opts.connections) {
        if (kg_cond_wait_until(&r->freed, &r->lock, give_up)) {
            if (*probe)
                r->probing = *probe = 0;
            goto out;
        }
    }
    if (r->idle_count) {
        c = r->idle[--r->idle_count];
    } else {
        r->open++;
        *fresh = 1;
    }
out:
    pthread_mutex_unlock(&r->lock);
    return c;
}

static void translate(const redisReply *rep, struct kg_redis_reply *out)
{
    memset(out, 0, sizeof *out);
    switch (rep->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out->type = rep->type == REDIS_REPLY_ERROR ? KG_REDIS_ERROR : KG_REDIS_STRING;
        out->len = rep->len;
        out->str = kg_malloc(rep->len + 1);
        memcpy(out->str, rep->str, rep->len);
        out->str[rep->len] = '\0';
        break;
    case REDIS_REPLY_INTEGER:
        out->type = KG_REDIS_INTEGER;
        out->integer = rep->integer;
        break;
    case REDIS_REPLY_ARRAY:
        out->type = KG_REDIS_ARRAY;
        out->item_count = rep->elements;
        out->items = kg_calloc(rep->elements ? rep->elements : 1, sizeof *out->items);
        for (size_t i = 0; i < rep->elements; i++)
            if (rep->element[i]->type == REDIS_REPLY_INTEGER)
                out->items[i] = rep->element[i]->integer;
        break;
    default:
        out->type = KG_REDIS_NIL;
    }
}

/* An error reply says Redis is up but refuses us (NOAUTH, NOPERM, WRONGPASS,
 * OOM ...): logged at most once a minute with its first word only. */
static void note_error_reply(const char *text, size_t len)
{
    static _Atomic int64_t logged_ms;
    int64_t now = kg_mono_ms(), last = atomic_load(&logged_ms);
    if ((last && now - last < 60000) || !atomic_compare_exchange_strong(&logged_ms, &last, now))
        return;
    char word[24];
    size_t n = 0;
    while (n < len && n < sizeof word - 1 && text[n] >= 'A' && text[n] <= 'Z') {
        word[n] = text[n];
        n++;
    }
    word[n] = '\0';
    struct kg_log_line l;
    if (kg_log_begin(&l, KG_LOG_WARN, "redis_refused")) {
        kg_log_str(&l, "error", n ? word : "ERR");
        kg_log_str(&l, "msg", "Redis answers with errors (permissions, authentication, memory): "
                              "what is shared is not");
        kg_log_end(&l);
    }
}

/* One try on a connection; NULL reply when it failed (c is then freed). */
static redisReply *command_on(redisContext *c, int argc, const char *const *argv,
                              const size_t *lens, char *why, size_t cap)
{
    redisReply *rep = redisCommandArgv(c, argc, (const char **)argv, lens);
    if (!rep) {
        snprintf(why, cap, "%s", c->err ? c->errstr : "no reply");
        redisFree(c);
    }
    return rep;
}

enum kg_err kg_redis_command(struct kg_redis *r, int argc, const char *const *argv,
                             const size_t *lens, struct kg_redis_reply *out)
{
    memset(out, 0, sizeof *out);
    int probe, fresh;
    redisContext *c = connection_take(r, &probe, &fresh);
    char why[128] = "";
    redisReply *rep = NULL;
    if (c) {
        /* A pooled connection Redis closed while idle (its timeout, a
         * restart) is not an outage: one more try on a new one. */
        rep = command_on(c, argc, argv, lens, why, sizeof why);
        if (!rep) {
            c = NULL;
            fresh = 1;
        }
    }
    if (!rep && fresh) {
        c = connection_open(r, why, sizeof why);
        if (c)
            rep = command_on(c, argc, argv, lens, why, sizeof why);
    }
    pthread_mutex_lock(&r->lock);
    if (rep) {
        r->idle[r->idle_count++] = c;
        mark_up(r);
    } else if (fresh) {
        r->open--;
        mark_down(r, why, probe);
    }
    if (probe)
        r->probing = 0;
    pthread_cond_signal(&r->freed);
    pthread_mutex_unlock(&r->lock);
    if (!rep) {
        kg_metric_inc(commands_metric, (const char *[]){"unavailable"});
        return KG_ERR_UNAVAILABLE;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        note_error_reply(rep->str, rep->len);
    translate(rep, out);
    freeReplyObject(rep);
    kg_metric_inc(commands_metric, (const char *[]){out->type == KG_REDIS_ERROR ? "error" : "ok"});
    return KG_OK;
}

void kg_redis_reply_cleanup(struct kg_redis_reply *reply)
{
    free(reply->str);
    free(reply->items);
    memset(reply, 0, sizeof *reply);
}

int kg_redis_up(struct kg_redis *r) { return atomic_load(&r->up); }

/* ---- the subscriber -------------------------------------------------------------- */

struct kg_redis_sub {
    struct kg_redis *r;
    char *channel;
    void (*on_message)(void *arg, const char *msg, size_t len);
    void (*on_resubscribed)(void *arg);
    void *arg;
    pthread_t thread;
    atomic_int stop;
};

/* Sleeps ms in steps, returning early when asked to stop. */
static void sub_pause(struct kg_redis_sub *s, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&s->stop); slept += 50)
        kg_sleep_ms(50);
}

/* One message, a pong, or the subscription's confirmation. */
static void sub_handle(struct kg_redis_sub *s, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
        return;
    const redisReply *kind = rep->element[0], *payload = rep->element[2];
    if (kind->type == REDIS_REPLY_STRING && kind->len == 7 && memcmp(kind->str, "message", 7) == 0 &&
        payload->type == REDIS_REPLY_STRING)
        s->on_message(s->arg, payload->str, payload->len);
}

/* Reads the subscription until it breaks or the subscriber stops. */
static void sub_listen(struct kg_redis_sub *s, redisContext *c)
{
    int64_t heard = kg_mono_ms(), pinged = heard;
    while (!atomic_load(&s->stop)) {
        void *rep = NULL;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK)
            return;
        if (rep) {
            heard = kg_mono_ms();
            sub_handle(s, rep);
            freeReplyObject(rep);
            continue;
        }
        int64_t now = kg_mono_ms();
        if (now - heard > REDIS_SUB_SILENCE_MS)
            return; /* not even a pong: the path is dead */
        if (now - pinged >= REDIS_SUB_PING_MS) {
            int done = 0;
            if (redisAppendCommand(c, "PING") != REDIS_OK)
                return;
            while (!done)
                if (redisBufferWrite(c, &done) != REDIS_OK)
                    return;
            pinged = now;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int n = poll(&pfd, 1, REDIS_SUB_POLL_MS);
        if (n < 0 && errno != EINTR)
            return;
        if (n > 0 && redisBufferRead(c) != REDIS_OK)
            return;
    }
}

static void *sub_main(void *arg)
{
    struct kg_redis_sub *s = arg;
    int subscribed_before = 0;
    while (!atomic_load(&s->stop)) {
        char why[128];
        redisContext *c = connection_open(s->r, why, sizeof why);
        redisReply *rep = NULL;
        if (c) {
            const char *argv[2] = {"SUBSCRIBE", s->channel};
            rep = redisCommandArgv(c, 2, argv, NULL);
        }
        int subscribed = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
                         rep->element[0]->type == REDIS_REPLY_STRING &&
                         strcmp(rep->element[0]->str, "subscribe") == 0;
        if (rep && !subscribed)
            note_error_reply(rep->type == REDIS_REPLY_ERROR ? rep->str : "",
                             rep->type == REDIS_REPLY_ERROR ? rep->len : 0);
        if (rep)
            freeReplyObject(rep);
        if (!subscribed) {
            if (c)
                redisFree(c);
            sub_pause(s, REDIS_PAUSE_FIRST_MS);
            continue;
        }
        if (subscribed_before && s->on_resubscribed)
            s->on_resubscribed(s->arg);
        subscribed_before = 1;
        sub_listen(s, c);
        redisFree(c);
    }
    return NULL;
}

struct kg_redis_sub *kg_redis_subscribe(struct kg_redis *r, const char *channel,
                                        void (*on_message)(void *arg, const char *msg,
                                                           size_t len),
                                        void (*on_resubscribed)(void *arg), void *arg)
{
    struct kg_redis_sub *s = kg_calloc(1, sizeof *s);
    s->r = r;
    s->channel = kg_strdup(channel);
    s->on_message = on_message;
    s->on_resubscribed = on_resubscribed;
    s->arg = arg;
    atomic_init(&s->stop, 0);
    if (pthread_create(&s->thread, NULL, sub_main, s) != 0) {
        free(s->channel);
        free(s);
        return NULL;
    }
    return s;
}

void kg_redis_sub_free(struct kg_redis_sub *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    free(s->channel);
    free(s);
}
