#include "service/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/mem.h"

#define STRIPES 16 /* the top 4 bits of a key's hash pick one */

struct bucket {
    char *subject;
    uint64_t hash;
    double tokens;
    int64_t last_ms;
    int64_t taken;      /* requests let through since the last collect */
    long long seen;     /* the shared total at the last reconcile; -1: none yet */
    int64_t seen_ms;    /* when (the caller's clock) */
    struct bucket *chain;
    struct bucket *prev, *next; /* LRU within the stripe */
};

struct stripe {
    pthread_mutex_t lock;
    struct bucket **table;
    size_t slots;
    size_t count;
    size_t max;
    struct bucket *head, *tail;
};

struct ratelimit {
    uint64_t seed; /* of the key hash (core/hash.h) */
    double rate;
    double burst;
    unsigned collect_from; /* the stripe the next collect starts at */
    struct stripe stripes[STRIPES];
};

struct ratelimit *ratelimit_new(double rate_per_s, double burst, size_t max_subjects)
{
    if (rate_per_s <= 0)
        return NULL;
    struct ratelimit *rl = kg_calloc(1, sizeof *rl);
    rl->rate = rate_per_s;
    rl->seed = kg_hash_seed();
    rl->burst = burst >= 1 ? burst : 1;
    size_t per = max_subjects / STRIPES + 1;
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &rl->stripes[i];
        pthread_mutex_init(&s->lock, NULL);
        s->slots = 16;
        while (s->slots < per * 2)
            s->slots *= 2;
        s->table = kg_calloc(s->slots, sizeof *s->table);
        s->max = per;
    }
    return rl;
}

static void unlink_lru(struct stripe *s, struct bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        s->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        s->tail = b->prev;
    b->prev = b->next = NULL;
}

static void push_front(struct stripe *s, struct bucket *b)
{
    b->next = s->head;
    if (s->head)
        s->head->prev = b;
    s->head = b;
    if (!s->tail)
        s->tail = b;
}

static void drop(struct stripe *s, struct bucket *b)
{
    struct bucket **pp = &s->table[b->hash & (s->slots - 1)];
    while (*pp != b)
        pp = &(*pp)->chain;
    *pp = b->chain;
    unlink_lru(s, b);
    s->count--;
    free(b->subject);
    free(b);
}

/* The bucket of key, refilled to now_ms; with take, one token taken when there
 * is one. 1 when a token was there. Called with nothing locked. */
static int bucket_use(struct ratelimit *rl, const char *key, int64_t now_ms, int take,
                      int64_t *retry_after_s)
{
    if (!rl)
        return 1;
    uint64_t h = kg_hash_str(rl->seed, key);
    /* The stripe from the top bits, the slot from the low ones: every slot of
     * a stripe's table is used. */
    struct stripe *s = &rl->stripes[h >> 60];
    pthread_mutex_lock(&s->lock);
    struct bucket *b = s->table[h & (s->slots - 1)];
    while (b && !(b->hash == h && strcmp(b->subject, key) == 0))
        b = b->chain;
    if (!b && !take) {
        /* Nothing taken yet: a full bucket, and no entry made for a look. */
        pthread_mutex_unlock(&s->lock);
        return 1;
    }
    if (!b) {
        if (s->count >= s->max && s->tail)
            drop(s, s->tail);
        b = kg_calloc(1, sizeof *b);
        b->subject = kg_strdup(key);
        b->hash = h;
        b->tokens = rl->burst;
        b->last_ms = now_ms;
        b->seen = -1;
        size_t slot = h & (s->slots - 1);
        b->chain = s->table[slot];
        s->table[slot] = b;
        s->count++;
    } else {
        unlink_lru(s, b);
    }
    push_front(s, b);
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->rate / 1000.0;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
    int ok = b->tokens >= 1.0;
    if (ok && take) {
        b->tokens -= 1.0;
        b->taken++;
    } else if (!ok && retry_after_s) {
        double wait_s = (1.0 - b->tokens) / rl->rate;
        *retry_after_s = (int64_t)ceil(wait_s);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

int ratelimit_take(struct ratelimit *rl, const char *subject, int64_t now_ms,
                   int64_t *retry_after_s)
{
    return bucket_use(rl, subject, now_ms, 1, retry_after_s);
}

int ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_s)
{
    return bucket_use(rl, key, now_ms, 0, retry_after_s);
}

/* ---- reconciling with other replicas --------------------------------------------- */

size_t ratelimit_collect(struct ratelimit *rl, int64_t now_ms, int64_t active_ms,
                         struct ratelimit_usage *out, size_t max)
{
    size_t n = 0;
    if (!rl)
        return 0;
    /* Starting one stripe further each time: past max keys, every stripe
     * still gets its turn. (Only the sync thread collects.) */
    unsigned first = rl->collect_from++ % STRIPES;
    for (unsigned k = 0; k < STRIPES && n < max; k++) {
        struct stripe *s = &rl->stripes[(first + k) % STRIPES];
        pthread_mutex_lock(&s->lock);
        /* Most recent first (LRU order): stop at the first one idle too long. */
        for (struct bucket *b = s->head; b && n < max && now_ms - b->last_ms <= active_ms;
             b = b->next) {
            out[n].key = kg_strdup(b->subject);
            out[n].taken = b->taken;
            out[n].seen = b->seen;
            out[n].seen_ms = b->seen_ms;
            b->taken = 0;
            n++;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return n;
}

void ratelimit_reconcile(struct ratelimit *rl, const struct ratelimit_usage *u, long long total,
                         int64_t now_ms, int64_t max_gap_ms)
{
    if (!rl)
        return;
    uint64_t h = kg_hash_str(rl->seed, u->key);
    struct stripe *s = &rl->stripes[h >> 60];
    pthread_mutex_lock(&s->lock);
    struct bucket *b = s->table[h & (s->slots - 1)];
    while (b && !(b->hash == h && strcmp(b->subject, u->key) == 0))
        b = b->chain;
    if (b) {
        /* Only a recent reconcile is a base: after a gap the total holds what
         * other replicas let through meanwhile, which this bucket never owed. */
        long long others = 0;
        int recent = u->seen >= 0 && b->seen == u->seen && now_ms - u->seen_ms <= max_gap_ms;
        if (recent && !__builtin_sub_overflow(total, u->seen, &others) &&
            !__builtin_sub_overflow(others, (long long)u->taken, &others)) {
            if (others > 0) {
                b->tokens -= (double)others;
                if (b->tokens < -rl->burst)
                    b->tokens = -rl->burst; /* a debt of at most one burst */
            }
        }
        b->seen = total;
        b->seen_ms = now_ms;
    }
    pthread_mutex_unlock(&s->lock);
}

void ratelimit_usage_cleanup(struct ratelimit_usage *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(u[i].key);
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &rl->stripes[i];
        while (s->head)
            drop(s, s->head);
        free(s->table);
        pthread_mutex_destroy(&s->lock);
    }
    free(rl);
}
