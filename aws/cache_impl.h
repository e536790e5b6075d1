/* kvsgate: what aws/cache.c and aws/refresh.c say to each other (not a public
 * interface). Lock order: the refresher's lock, then a cache's; a cache never
 * takes the refresher's lock while holding its own. */
#ifndef KG_AWS_CACHE_IMPL_H
#define KG_AWS_CACHE_IMPL_H

#include "aws/cache.h"

/* One due reload taken from a cache. */
struct cache_job;

/* Called by a cache when it is made and when it is freed. leave waits until
 * no refresher thread is running a job of c. */
void refresher_join(struct refresher *r, struct cache *c);
void refresher_leave(struct refresher *r, struct cache *c);

/* Takes the earliest due entry of c (on c's clock) when it was hit since it was
 * stored, registering its reload as c's load in flight for the key; entries due
 * but unused are dropped from the schedule on the way, at most a batch per
 * call (the lock is the callers' too). NULL when none was taken; *more_due
 * then says whether due entries remain (call again soon). */
struct cache_job *cache_refresh_take(struct cache *c, int *more_due);
/* Runs the job's load without any lock, stores what it brought, frees the job. */
void cache_refresh_run(struct cache_job *job);

#endif
