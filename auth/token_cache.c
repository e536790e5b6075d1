/* The verified-token cache (tokcache_): tokens the verifier accepted, so a
 * caller who sends the same bearer token again skips the signature check and
 * both JSON parses.
 *
 * Design note.
 * - Key: SHA-256 of the exact token bytes. libjwt's lenient base64 decoder
 *   gives one token many spellings; here a spelling that differs in one byte
 *   is another key, and only a spelling our strict verifier accepted is ever
 *   stored (jwt.c puts after a full verification, never before).
 * - Lifetime: an entry answers from the time it was stored until the earlier
 *   of the token's exp (without leeway: the cache never stretches a token;
 *   the verifier still accepts it within the leeway, the slow way) and
 *   stored + ttl_s. The short TTL bounds how long a key removed from the JWKS
 *   (or a token whose key rotated) keeps being honoured. A clock that steps
 *   back before the store time misses too (nbf and iat were checked then).
 * - Bounded: a set-associative table of TOKCACHE_WAYS entries per set, fixed
 *   at creation. A put into a full set takes the place of an expired entry,
 *   else of the least recently used one (counted as an eviction).
 * - Thread-safe: one mutex per set; the principal is deep-copied in and out
 *   under that lock, so callers never share memory with the cache.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/metrics.h"

#define TOKCACHE_WAYS 8

struct tok_entry {
    unsigned char digest[KG_SHA256_LEN];
    int64_t stored_s;
    int64_t until_s;            /* answers while stored_s <= now < until_s */
    uint64_t last_use;
    struct auth_principal *p;   /* NULL: the way is empty */
};

struct tok_set {
    pthread_mutex_t lock;
    uint64_t tick;
    struct tok_entry ways[TOKCACHE_WAYS];
};

struct tokcache {
    int64_t ttl_s;
    size_t set_count; /* a power of two */
    struct tok_set *sets;
    _Atomic uint64_t hits, misses, evictions;
    _Atomic int64_t entries;
    struct kg_metric *m_requests, *m_evictions, *m_entries;
    _Atomic(struct kg_series *) m_requests_kept[2]; /* miss, hit */
};

struct tokcache *tokcache_new(size_t max_entries, int64_t ttl_s)
{
    struct tokcache *c = kg_calloc(1, sizeof *c);
    c->ttl_s = ttl_s > 0 ? ttl_s : TOKCACHE_DEFAULT_TTL_S;
    if (max_entries == 0)
        max_entries = TOKCACHE_DEFAULT_ENTRIES;
    c->set_count = 1;
    while (c->set_count * TOKCACHE_WAYS < max_entries && c->set_count < (1u << 20))
        c->set_count *= 2;
    c->sets = kg_calloc(c->set_count, sizeof *c->sets);
    for (size_t i = 0; i < c->set_count; i++)
        pthread_mutex_init(&c->sets[i].lock, NULL);
    c->m_requests = kg_metric_counter("kvsgate_jwt_cache_requests_total",
                                      "Bearer tokens looked up in the verified-token cache, by "
                                      "result (hit: the signature check was skipped).",
                                      "result");
    c->m_evictions = kg_metric_counter("kvsgate_jwt_cache_evictions_total",
                                       "Live verified tokens dropped to stay within the bound.", "");
    c->m_entries = kg_metric_gauge("kvsgate_jwt_cache_entries", "Verified tokens held now.", "");
    return c;
}

static void entry_clear(struct tokcache *c, struct tok_entry *e)
{
    if (!e->p)
        return;
    auth_principal_cleanup(e->p);
    free(e->p);
    kg_wipe(e, sizeof *e);
    atomic_fetch_sub(&c->entries, 1);
}

void tokcache_free(struct tokcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->set_count; i++) {
        for (int w = 0; w < TOKCACHE_WAYS; w++)
            entry_clear(c, &c->sets[i].ways[w]);
        pthread_mutex_destroy(&c->sets[i].lock);
    }
    kg_metric_add(c->m_entries, NULL, -(double)atomic_load(&c->entries));
    free(c->sets);
    free(c);
}

size_t tokcache_capacity(const struct tokcache *c) { return c->set_count * TOKCACHE_WAYS; }

void tokcache_digest(uint64_t generation, const char *token, size_t len,
                     unsigned char out[KG_SHA256_LEN])
{
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char)(generation >> (56 - 8 * i));
    kg_sha256_prefixed(prefix, sizeof prefix, token, len, out);
}

static struct tok_set *set_of(struct tokcache *c, const unsigned char *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h); /* a SHA-256 prefix is already uniform */
    return &c->sets[h & (c->set_count - 1)];
}

int tokcache_get(struct tokcache *c, const unsigned char digest[KG_SHA256_LEN], int64_t now_s,
                 struct auth_principal *out)
{
    struct tok_set *s = set_of(c, digest);
    int hit = 0, dropped = 0;
    pthread_mutex_lock(&s->lock);
    for (int w = 0; w < TOKCACHE_WAYS; w++) {
        struct tok_entry *e = &s->ways[w];
        if (!e->p || !kg_ct_equal(e->digest, digest, KG_SHA256_LEN))
            continue;
        if (now_s >= e->stored_s && now_s < e->until_s) {
            e->last_use = ++s->tick;
            auth_principal_copy(out, e->p);
            hit = 1;
        } else if (now_s >= e->until_s) {
            entry_clear(c, e); /* expired for good */
            dropped = 1;
        }
        break;
    }
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
    kg_metric_add_kept(c->m_requests, (const char *[]){hit ? "hit" : "miss"},
                       &c->m_requests_kept[hit], 1);
    if (dropped)
        kg_metric_add(c->m_entries, NULL, -1);
    return hit;
}

void tokcache_put(struct tokcache *c, const unsigned char digest[KG_SHA256_LEN], int64_t now_s,
                  const struct auth_principal *p)
{
    int64_t until = now_s + c->ttl_s;
    if (p->expires_at_s < until)
        until = p->expires_at_s;
    if (until <= now_s)
        return; /* nothing left to answer for */
    struct tok_set *s = set_of(c, digest);
    int evicted = 0;
    int64_t delta = 0;
    pthread_mutex_lock(&s->lock);
    struct tok_entry *slot = NULL;
    for (int w = 0; w < TOKCACHE_WAYS && !slot; w++) {
        struct tok_entry *e = &s->ways[w];
        if (e->p && kg_ct_equal(e->digest, digest, KG_SHA256_LEN))
            slot = e; /* another thread stored it meanwhile: refresh */
    }
    for (int w = 0; w < TOKCACHE_WAYS && !slot; w++)
        if (!s->ways[w].p || now_s >= s->ways[w].until_s)
            slot = &s->ways[w];
    if (!slot) {
        slot = &s->ways[0];
        for (int w = 1; w < TOKCACHE_WAYS; w++)
            if (s->ways[w].last_use < slot->last_use)
                slot = &s->ways[w];
        evicted = 1;
    }
    if (slot->p)
        delta--;
    entry_clear(c, slot);
    memcpy(slot->digest, digest, KG_SHA256_LEN);
    slot->stored_s = now_s;
    slot->until_s = until;
    slot->last_use = ++s->tick;
    slot->p = kg_malloc(sizeof *slot->p);
    auth_principal_copy(slot->p, p);
    atomic_fetch_add(&c->entries, 1);
    delta++;
    pthread_mutex_unlock(&s->lock);
    if (evicted) {
        atomic_fetch_add(&c->evictions, 1);
        kg_metric_inc(c->m_evictions, NULL);
    }
    if (delta)
        kg_metric_add(c->m_entries, NULL, (double)delta);
}

void tokcache_stats(struct tokcache *c, struct tokcache_stats *out)
{
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->evictions = atomic_load(&c->evictions);
    int64_t n = atomic_load(&c->entries);
    out->entries = n > 0 ? (size_t)n : 0;
}
