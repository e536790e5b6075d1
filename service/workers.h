/* kvsgate: the AWS worker pool (`workers_`): a bounded queue and N threads that
 * run the requests that need AWS, so HTTP threads never block.
 * Thread-safe. */
#ifndef KG_SERVICE_WORKERS_H
#define KG_SERVICE_WORKERS_H

#include <stddef.h>

#include "core/err.h"

struct workers;

KG_WARN_UNUSED enum kg_err workers_new(unsigned threads, size_t queue_max, struct workers **out);
/* Queues fn(arg). KG_ERR_UNAVAILABLE when the queue is full or stopping (the
 * caller answers 503 itself; fn is not called). */
KG_WARN_UNUSED enum kg_err workers_submit(struct workers *w, void (*fn)(void *arg), void *arg);
size_t workers_queued(struct workers *w);
/* Runs what is queued, then joins the threads and frees w. */
void workers_free(struct workers *w);

#endif
