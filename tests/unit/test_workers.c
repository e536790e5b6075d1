/* service/workers: the AWS worker pool under concurrent submitters: every
 * accepted job runs exactly once, a full queue refuses (and the refused job
 * never runs), workers_free runs what is queued. Runs under TSan (label
 * concurrency). */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "service/workers.h"
#include "testlib.h"

#define SUBMITTERS 4
#define PER_SUBMITTER 2000

static atomic_int ran;

static void count_job(void *arg)
{
    atomic_int *slot = arg;
    atomic_fetch_add(slot, 1);
    atomic_fetch_add(&ran, 1);
}

struct submitter {
    struct workers *w;
    atomic_int slots[PER_SUBMITTER];
    int accepted[PER_SUBMITTER];
};

static void *submit_many(void *arg)
{
    struct submitter *s = arg;
    for (int i = 0; i < PER_SUBMITTER; i++) {
        s->accepted[i] = workers_submit(s->w, count_job, &s->slots[i]) == KG_OK;
        if (!s->accepted[i])
            usleep(50); /* let the queue drain a little, as a real client would retry */
    }
    return NULL;
}

static void test_every_accepted_job_runs_exactly_once(void)
{
    struct workers *w = NULL;
    T_CHECK(workers_new(4, 64, &w) == KG_OK);
    atomic_store(&ran, 0);
    static struct submitter subs[SUBMITTERS];
    pthread_t t[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        subs[i].w = w;
        for (int k = 0; k < PER_SUBMITTER; k++)
            atomic_init(&subs[i].slots[k], 0);
        pthread_create(&t[i], NULL, submit_many, &subs[i]);
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(t[i], NULL);
    workers_free(w); /* runs what is still queued */
    int accepted = 0;
    for (int i = 0; i < SUBMITTERS; i++)
        for (int k = 0; k < PER_SUBMITTER; k++) {
            T_INTEQ(atomic_load(&subs[i].slots[k]), subs[i].accepted[k] ? 1 : 0);
            accepted += subs[i].accepted[k];
        }
    T_INTEQ(atomic_load(&ran), accepted);
    T_CHECK(accepted > 0);
}

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;

static void blocked_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&ran, 1);
}

static void test_a_full_queue_refuses_and_free_drains(void)
{
    struct workers *w = NULL;
    T_CHECK(workers_new(1, 3, &w) == KG_OK);
    atomic_store(&ran, 0);
    pthread_mutex_lock(&gate_lock); /* the one worker blocks on its first job */
    T_CHECK(workers_submit(w, blocked_job, NULL) == KG_OK);
    for (int i = 0; i < 5000 && workers_queued(w) > 0; i++)
        usleep(1000); /* until the worker took it (and blocks in it) */
    int accepted = 1, refused = 0;
    for (int i = 0; i < 9; i++) {
        if (workers_submit(w, blocked_job, NULL) == KG_OK)
            accepted++;
        else
            refused++;
    }
    /* One job taken by the worker, three queued: the rest refused. */
    T_INTEQ(accepted, 4);
    T_INTEQ(refused, 6);
    T_INTEQ(workers_queued(w), 3);
    pthread_mutex_unlock(&gate_lock);
    workers_free(w);
    T_INTEQ(atomic_load(&ran), 4);
}

int main(int argc, char **argv)
{
    static const struct t_case cases[] = {
        T_CASE(test_every_accepted_job_runs_exactly_once),
        T_CASE(test_a_full_queue_refuses_and_free_drains),
    };
    return t_main(cases, T_COUNT(cases), argc, argv);
}
