#include "service/workers.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/mem.h"

struct job {
    void (*fn)(void *);
    void *arg;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *ring;
    size_t cap, head, count;
    int stopping;
    pthread_t *threads;
    unsigned thread_count;
};

static void *worker_main(void *arg)
{
    struct workers *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->count && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (!w->count)
            break; /* stopping and drained */
        struct job j = w->ring[w->head];
        w->head = (w->head + 1) % w->cap;
        w->count--;
        pthread_mutex_unlock(&w->lock);
        j.fn(j.arg);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum kg_err workers_new(unsigned threads, size_t queue_max, struct workers **out)
{
    struct workers *w = kg_calloc(1, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->cap = queue_max ? queue_max : 1;
    w->ring = kg_calloc(w->cap, sizeof *w->ring);
    w->threads = kg_calloc(threads ? threads : 1, sizeof *w->threads);
    for (unsigned i = 0; i < (threads ? threads : 1); i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            workers_free(w);
            return KG_ERR_INTERNAL;
        }
        w->thread_count++;
    }
    *out = w;
    return KG_OK;
}

enum kg_err workers_submit(struct workers *w, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->count == w->cap) {
        pthread_mutex_unlock(&w->lock);
        return KG_ERR_UNAVAILABLE;
    }
    w->ring[(w->head + w->count) % w->cap] = (struct job){fn, arg};
    w->count++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return KG_OK;
}

size_t workers_queued(struct workers *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->count;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void workers_free(struct workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->thread_count; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w->threads);
    free(w->ring);
    free(w);
}
