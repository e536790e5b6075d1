/* Design note: every thread runs the same loop. Under the refresher's lock it
 * takes a token (the rate bound), asks the caches in turn for one due job
 * (round robin, so one busy cache does not starve the others), and runs the job
 * unlocked; with nothing due (or no token) it sleeps one tick. A thread
 * records which cache it is working for, so a cache being freed can wait for
 * its jobs to finish. */
#include "aws/refresh.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "aws/cache_impl.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define REFRESHER_CACHES_MAX 16

struct refresher {
    struct refresher_options opts;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* wakes sleepers: stop, a cache leaving, a job done */
    struct cache *caches[REFRESHER_CACHES_MAX];
    size_t cache_count;
    size_t next_cache; /* round robin */
    struct cache **working_for; /* per thread: the cache whose job it runs, or NULL */
    pthread_t *threads;
    unsigned started;
    int stopping;
    double tokens;
    double burst; /* one second's worth, at least 1 */
    int64_t tokens_at_ms;
};

struct worker_arg {
    struct refresher *r;
    unsigned index;
};

/* One token from the bucket (lock held): 1, or 0 when empty. */
static int token_take(struct refresher *r, int64_t now_ms)
{
    r->tokens += (double)(now_ms - r->tokens_at_ms) * r->opts.rps / 1000.0;
    r->tokens_at_ms = now_ms;
    if (r->tokens > r->burst)
        r->tokens = r->burst;
    if (r->tokens < 1)
        return 0;
    r->tokens -= 1;
    return 1;
}

/* A due job from any cache (lock held), the cache it came from in *from;
 * *more_due when a cache had due entries left over. */
static struct cache_job *job_find(struct refresher *r, struct cache **from, int *more_due)
{
    *more_due = 0;
    for (size_t i = 0; i < r->cache_count; i++) {
        size_t k = (r->next_cache + i) % r->cache_count;
        int more = 0;
        struct cache_job *job = cache_refresh_take(r->caches[k], &more);
        *more_due |= more;
        if (job) {
            r->next_cache = (k + 1) % r->cache_count;
            *from = r->caches[k];
            return job;
        }
    }
    return NULL;
}

static void *worker_main(void *p)
{
    struct worker_arg *a = p;
    struct refresher *r = a->r;
    unsigned me = a->index;
    free(a);
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        struct cache_job *job = NULL;
        struct cache *from = NULL;
        int more_due = 0;
        if (r->cache_count && token_take(r, kg_mono_ms())) {
            job = job_find(r, &from, &more_due);
            if (!job)
                r->tokens += 1; /* nothing was taken: give it back */
        }
        if (!job) {
            if (more_due) { /* let callers have the cache locks, then go on */
                pthread_mutex_unlock(&r->lock);
                sched_yield();
                pthread_mutex_lock(&r->lock);
            } else {
                kg_cond_wait_until(&r->cond, &r->lock, kg_mono_ms() + r->opts.tick_ms);
            }
            continue;
        }
        r->working_for[me] = from;
        pthread_mutex_unlock(&r->lock);
        cache_refresh_run(job);
        pthread_mutex_lock(&r->lock);
        r->working_for[me] = NULL;
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

struct refresher *refresher_new(const struct refresher_options *opts)
{
    struct refresher *r = kg_calloc(1, sizeof *r);
    r->opts = *opts;
    if (r->opts.threads < 1)
        r->opts.threads = 1;
    if (r->opts.threads > 64)
        r->opts.threads = 64;
    if (!(r->opts.rps > 0))
        r->opts.rps = 1;
    if (r->opts.tick_ms <= 0)
        r->opts.tick_ms = 100;
    pthread_mutex_init(&r->lock, NULL);
    kg_cond_init_mono(&r->cond);
    r->burst = r->opts.rps < 1 ? 1 : r->opts.rps;
    r->tokens = r->burst;
    r->tokens_at_ms = kg_mono_ms();
    r->working_for = kg_calloc(r->opts.threads, sizeof *r->working_for);
    r->threads = kg_calloc(r->opts.threads, sizeof *r->threads);
    for (unsigned i = 0; i < r->opts.threads; i++) {
        struct worker_arg *a = kg_malloc(sizeof *a);
        a->r = r;
        a->index = i;
        if (pthread_create(&r->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
        r->started++;
    }
    return r;
}

void refresher_stop(struct refresher *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->started; i++)
        pthread_join(r->threads[i], NULL);
    r->started = 0;
}

void refresher_free(struct refresher *r)
{
    if (!r)
        return;
    refresher_stop(r);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->threads);
    free(r->working_for);
    free(r);
}

void refresher_join(struct refresher *r, struct cache *c)
{
    pthread_mutex_lock(&r->lock);
    if (r->cache_count < REFRESHER_CACHES_MAX)
        r->caches[r->cache_count++] = c;
    pthread_mutex_unlock(&r->lock);
}

static int working_for(const struct refresher *r, const struct cache *c)
{
    for (unsigned i = 0; i < r->opts.threads; i++)
        if (r->working_for[i] == c)
            return 1;
    return 0;
}

void refresher_leave(struct refresher *r, struct cache *c)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->cache_count; i++) {
        if (r->caches[i] == c) {
            memmove(&r->caches[i], &r->caches[i + 1],
                    (r->cache_count - i - 1) * sizeof r->caches[0]);
            r->cache_count--;
            break;
        }
    }
    r->next_cache = 0;
    while (working_for(r, c))
        kg_cond_wait_until(&r->cond, &r->lock, kg_mono_ms() + 1000);
    pthread_mutex_unlock(&r->lock);
}
